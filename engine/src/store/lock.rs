//! Inter-process locks: `flock(2)` on files under `locks/`, through `std::fs::File::lock`.
//! The kernel drops a lock when its holder dies, so a lock left by a killed process is
//! simply taken by the next one.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;

/// A held lock; released on drop. `None`: a shared lock on a store nobody can write to
/// (see [`FileLock::acquire_shared`]).
#[derive(Debug)]
pub struct FileLock {
    _file: Option<File>,
}

impl FileLock {
    fn open(path: &Path) -> io::Result<File> {
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
    }

    /// Waits for the lock.
    pub fn acquire(path: &Path) -> io::Result<Self> {
        let file = Self::open(path)?;
        file.lock()?;
        Ok(Self { _file: Some(file) })
    }

    /// Waits for a shared hold of the lock (many holders at once, none exclusive).
    ///
    /// Readers of a store they may not write to (a read-only mount, another user's store)
    /// lock through a read-only descriptor, which `flock` allows; if even the lock file is
    /// missing there, nobody writes to that store, and there is nothing to wait for.
    pub fn acquire_shared(path: &Path) -> io::Result<Self> {
        let file = match Self::open(path) {
            Ok(file) => file,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                match File::open(path) {
                    Ok(file) => file,
                    Err(missing) if missing.kind() == io::ErrorKind::NotFound => {
                        return Ok(Self { _file: None });
                    }
                    Err(_) => return Err(error),
                }
            }
            Err(error) => return Err(error),
        };
        file.lock_shared()?;
        Ok(Self { _file: Some(file) })
    }

    /// The processes that hold a lock on `path` now (from Linux's `/proc/locks`, matched
    /// by inode; empty elsewhere), to say whom a wait is for.
    pub fn holders(path: &Path) -> Vec<u32> {
        use std::os::unix::fs::MetadataExt;
        let Ok(inode) = std::fs::metadata(path).map(|meta| meta.ino()) else {
            return Vec::new();
        };
        let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
            return Vec::new();
        };
        let mut pids: Vec<u32> = locks
            .lines()
            .filter_map(|line| {
                // `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (pid, file) = (fields.get(4)?, fields.get(5)?);
                let file_inode: u64 = file.rsplit(':').next()?.parse().ok()?;
                (file_inode == inode).then(|| pid.parse().ok()).flatten()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Writes who holds the lock into its file (`HOST PID UNIX_SECONDS`), for processes
    /// that wait for it, on this machine or on another node sharing the store, to say whom
    /// they wait for ([`FileLock::holder`]). Best effort: a lock works without it.
    pub fn record_holder(&self) {
        use std::os::unix::fs::FileExt;
        let Some(file) = &self._file else {
            return;
        };
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let text = format!("{host} {} {now}\n", std::process::id());
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all_at(text.as_bytes(), 0));
    }

    /// Who [`FileLock::record_holder`] says holds the lock at `path`: `process 1234 on
    /// node17, for 42 s`. `None` if nobody recorded it.
    pub fn holder(path: &Path) -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut fields = text.split_whitespace();
        let (host, pid, since) = (fields.next()?, fields.next()?, fields.next()?);
        let since: u64 = since.parse().ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |now| now.as_secs());
        Some(format!(
            "process {pid} on {host}, for {} s",
            now.saturating_sub(since)
        ))
    }

    /// Takes the lock if it is free.
    pub fn try_acquire(path: &Path) -> io::Result<Option<Self>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: Some(file) })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(error)) => Err(error),
        }
    }
}
