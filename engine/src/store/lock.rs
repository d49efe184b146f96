//! Inter-process locks: `flock(2)` on files under `locks/`, through `std::fs::File::lock`.
//! The kernel drops a lock when its holder dies, so a lock left by a killed process is
//! simply taken by the next one.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;

/// A held lock; released on drop.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
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
        Ok(Self { _file: file })
    }

    /// Waits for a shared hold of the lock (many holders at once, none exclusive).
    pub fn acquire_shared(path: &Path) -> io::Result<Self> {
        let file = Self::open(path)?;
        file.lock_shared()?;
        Ok(Self { _file: file })
    }

    /// Takes the lock if it is free.
    pub fn try_acquire(path: &Path) -> io::Result<Option<Self>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(error)) => Err(error),
        }
    }
}
