//! A GNU make jobserver: a pipe holding one byte per token, handed to every build.
//!
//! `make` finds it through `MAKEFLAGS=-j --jobserver-auth=R,W` (and the older
//! `--jobserver-fds`) and takes a byte for each job beyond its first, putting it back when
//! the job ends. hit takes a byte ([`Jobserver::acquire`]) before it starts a build, which
//! becomes that build's first ("implicit") job.
//!
//! `make` may switch the pipe to non-blocking mode (it is one open file for everybody), so
//! [`Jobserver::acquire`] waits with `poll` when a read would block.
//!
//! The pipe's descriptors are made inheritable once, when it is created, rather than in
//! each child between `fork` and `exec`: a `pre_exec` hook would force `std` to `fork` the
//! whole multi-threaded process for every command (page tables, TLB shootdowns) instead of
//! using `posix_spawn`, which made a trivial build several times slower.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;

/// The most tokens a pool holds. They are written into the pipe at once, before anybody
/// reads, so they must fit its buffer (64 KiB on Linux; 4096 also fits a 4 KiB one).
pub const MAX_TOKENS: usize = 4096;

/// The token pool; share it with [`Arc`].
#[derive(Debug)]
pub struct Jobserver {
    reader: io::PipeReader,
    writer: io::PipeWriter,
}

/// A held token; given back on drop.
#[derive(Debug)]
pub struct Token {
    server: Arc<Jobserver>,
    byte: u8,
}

impl Jobserver {
    /// A pool of `tokens` tokens (at least one, at most [`MAX_TOKENS`]).
    pub fn new(tokens: usize) -> io::Result<Arc<Self>> {
        if tokens > MAX_TOKENS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{tokens} jobs: a jobserver holds at most {MAX_TOKENS} tokens"),
            ));
        }
        let (reader, mut writer) = io::pipe()?;
        rustix::io::fcntl_setfd(&reader, rustix::io::FdFlags::empty())?;
        rustix::io::fcntl_setfd(&writer, rustix::io::FdFlags::empty())?;
        let tokens = tokens.max(1);
        writer.write_all(&vec![b'+'; tokens])?;
        Ok(Arc::new(Self { reader, writer }))
    }

    /// Waits for a token.
    pub fn acquire(self: &Arc<Self>) -> io::Result<Token> {
        let mut byte = [0u8];
        loop {
            match (&self.reader).read(&mut byte) {
                Ok(1) => {
                    return Ok(Token {
                        server: Arc::clone(self),
                        byte: byte[0],
                    });
                }
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the jobserver pipe was closed",
                    ));
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // make may set the shared pipe non-blocking: wait until a byte is there.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    let mut fds = [rustix::event::PollFd::new(
                        &self.reader,
                        rustix::event::PollFlags::IN,
                    )];
                    match rustix::event::poll(&mut fds, None) {
                        Ok(_) | Err(rustix::io::Errno::INTR) => {}
                        Err(errno) => return Err(errno.into()),
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The `MAKEFLAGS` value that hands this jobserver to `make`.
    pub fn makeflags(&self) -> String {
        let (read, write) = (self.reader.as_raw_fd(), self.writer.as_raw_fd());
        format!("-j --jobserver-fds={read},{write} --jobserver-auth={read},{write}")
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        // A token that cannot be returned is lost; the pool shrinks, nothing breaks.
        let _ = (&self.server.writer).write_all(&[self.byte]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_taken_and_given_back() {
        let server = Jobserver::new(2).unwrap();
        let a = server.acquire().unwrap();
        let b = server.acquire().unwrap();
        drop(a);
        let c = server.acquire().unwrap();
        drop((b, c));
        assert!(server.makeflags().starts_with("-j --jobserver-fds="));
        // All tokens are back: two can be taken again at once.
        let _both = (server.acquire().unwrap(), server.acquire().unwrap());
    }
}
