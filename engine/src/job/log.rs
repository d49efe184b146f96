//! The build log: everything a build's commands print, plus a `+ command` line before
//! each step, in one file; optionally forwarded to a sink as it is written.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Receives the log as it is written (the CLI's `-v` streams it to the terminal).
pub trait LogSink: Sync {
    fn write(&self, bytes: &[u8]);

    /// Whether [`LogSink::write`] does anything. When it does not, commands write straight
    /// into the log file: no pipe, no thread copying their output.
    fn is_listening(&self) -> bool {
        true
    }
}

/// A sink that drops everything.
#[derive(Debug, Clone, Copy)]
pub struct NoSink;

impl LogSink for NoSink {
    fn write(&self, _: &[u8]) {}

    fn is_listening(&self) -> bool {
        false
    }
}

/// An open build log.
pub struct BuildLog<'a> {
    file: File,
    path: PathBuf,
    sink: &'a dyn LogSink,
}

impl std::fmt::Debug for BuildLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildLog")
            .field("path", &self.path)
            .finish()
    }
}

impl<'a> BuildLog<'a> {
    pub fn create(path: &Path, sink: &'a dyn LogSink) -> io::Result<Self> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            sink,
        })
    }

    /// Writes one line of hit's own (not a command's output).
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(b'\n');
        self.write(&bytes)
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.sink.write(bytes);
        Ok(())
    }

    /// The log file itself for a command's output, when nobody listens to the log as it is
    /// written (it is opened for appending, so the command's writes and hit's interleave).
    pub(crate) fn unobserved_file(&self) -> Option<io::Result<File>> {
        (!self.sink.is_listening()).then(|| self.file.try_clone())
    }

    /// Copies a child's output into the log until the pipe closes.
    pub(crate) fn copy_from(&mut self, mut reader: impl io::Read) -> io::Result<()> {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => self.write(&buffer[..n])?,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

/// The last `lines` lines of a log file, for failure reports.
pub fn log_tail(path: &Path, lines: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| shorten(line, TAIL_LINE_CHARS))
        .collect()
}

/// The longest line a log tail shows whole (an environment of thousands of `-I` flags
/// would otherwise bury the error).
const TAIL_LINE_CHARS: usize = 600;

fn shorten(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        None => line.to_owned(),
        Some((cut, _)) => format!(
            "{} [... {} more characters]",
            &line[..cut],
            line.len() - cut
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_and_shortens_long_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let long = "x".repeat(1000);
        std::fs::write(&path, format!("one\n{long}\nthree\n")).unwrap();
        let tail = log_tail(&path, 2);
        assert_eq!(tail.len(), 2);
        assert!(tail[0].starts_with(&"x".repeat(TAIL_LINE_CHARS)));
        assert!(tail[0].ends_with("[... 400 more characters]"));
        assert_eq!(tail[1], "three");
    }
}
