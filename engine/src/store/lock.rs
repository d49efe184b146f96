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
