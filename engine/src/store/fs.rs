//! File-tree helpers for read-only artifacts.

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Removes the write bits from everything under `root` (not following symlinks); `root`
/// itself too unless `include_root` is false.
pub(crate) fn make_read_only(root: &Path, include_root: bool) -> io::Result<()> {
    let meta = fs::symlink_metadata(root)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.is_dir() {
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            // A symlink has no mode of its own: skipped without a stat (the directory
            // entry says what it is). A profile is almost all symlinks.
            if !entry.file_type()?.is_symlink() {
                make_read_only(&entry.path(), true)?;
            }
        }
    }
    if include_root {
        let mode = meta.permissions().mode();
        if mode & 0o222 != 0 {
            fs::set_permissions(root, fs::Permissions::from_mode(mode & !0o222))?;
        }
    }
    Ok(())
}

/// Gives one path (not what is under it) its owner's write bit, or takes every write bit
/// away.
pub(crate) fn set_writable(path: &Path, writable: bool) -> io::Result<()> {
    let mode = fs::symlink_metadata(path)?.permissions().mode();
    let mode = if writable {
        mode | 0o200
    } else {
        mode & !0o222
    };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// The first entry under `root` (not `root` itself, symlinks not followed) that has a
/// write bit. Entries are looked at through their directory (`fstatat` on the directory's
/// descriptor, which `DirEntry::metadata` does), not by full path, and symlinks not at all:
/// `hit verify` runs this over every artifact.
pub(crate) fn find_writable(root: &Path) -> io::Result<Option<std::path::PathBuf>> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let file_type = entry.file_type()?;
            if file_type.is_symlink() {
                continue;
            }
            if entry.metadata()?.permissions().mode() & 0o222 != 0 {
                return Ok(Some(entry.path()));
            }
            if file_type.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(None)
}

/// A fingerprint of a tree: every entry's path, kind, mode, size and modification time,
/// and the contents of files (sha256) and symlinks, so any write shows, also one that keeps
/// the size and puts the time back (`touch -r`). Order-independent.
pub(crate) fn tree_fingerprint(root: &Path) -> io::Result<u64> {
    use sha2::Digest;
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        path.strip_prefix(root).unwrap_or(&path).hash(&mut hasher);
        (meta.mode(), meta.size(), meta.mtime(), meta.mtime_nsec()).hash(&mut hasher);
        if meta.is_file() {
            let mut contents = sha2::Sha256::new();
            let mut file = fs::File::open(&path)?;
            let mut buffer = [0u8; 64 * 1024];
            loop {
                match file.read(&mut buffer)? {
                    0 => break,
                    n => contents.update(&buffer[..n]),
                }
            }
            contents.finalize().as_slice().hash(&mut hasher);
        } else if meta.file_type().is_symlink() {
            fs::read_link(&path)?.hash(&mut hasher);
        }
        total = total.wrapping_add(hasher.finish());
        if meta.is_dir() {
            for entry in fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(total)
}

/// What [`strip_special`] found.
#[derive(Debug, Default)]
pub(crate) struct Special {
    /// Files whose setuid or setgid bits were removed.
    pub stripped: Vec<std::path::PathBuf>,
    /// The first entry that is neither a file, a directory nor a symlink, with its kind.
    pub refused: Option<(std::path::PathBuf, &'static str)>,
}

/// Removes setuid and setgid bits under `root` (a shared store must not hand out
/// privileges) and finds device nodes, FIFOs and sockets, which an artifact may not hold.
pub(crate) fn strip_special(root: &Path) -> io::Result<Special> {
    use std::os::unix::fs::FileTypeExt;
    let mut special = Special::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path)?;
        let kind = meta.file_type();
        let refused = if kind.is_block_device() {
            Some("block device")
        } else if kind.is_char_device() {
            Some("character device")
        } else if kind.is_fifo() {
            Some("FIFO")
        } else if kind.is_socket() {
            Some("socket")
        } else {
            None
        };
        if let Some(what) = refused {
            special.refused.get_or_insert((path, what));
            continue;
        }
        if kind.is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o6000 != 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & !0o6000))?;
            special.stripped.push(path.clone());
        }
        if kind.is_dir() {
            for entry in fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    special.stripped.sort();
    Ok(special)
}

/// Deletes everything inside `dir` (which stays, empty).
pub(crate) fn remove_children(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        remove_tree(&entry?.path())?;
    }
    Ok(())
}

/// Deletes a tree even if it was made read-only (a missing one is fine).
pub(crate) fn remove_tree(root: &Path) -> io::Result<()> {
    match fs::symlink_metadata(root) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
        Ok(meta) if !meta.is_dir() => return fs::remove_file(root),
        Ok(_) => {}
    }
    let parent = match root.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = root
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} names no entry", root.display())))?;
    // O_PATH: enough for the `*at` calls, and needs no read permission on the parent.
    let parent = rustix::fs::open(
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    remove_dir_at(parent.as_fd(), name, None)
}

/// Deletes the directory `name` in `parent` with everything in it, read-only or not.
///
/// One pass over file descriptors: each directory is made writable (`chmodat`) and opened
/// once relative to its parent, read once (the entry types come with the names, so no
/// `stat` per entry), and emptied with `unlinkat`; symlinks are never followed. About 20
/// system calls for a small artifact where the path-based way (stat, chmod, read, then
/// `remove_dir_all`) made 70. With `split_above`, a directory with more entries than that
/// has them deleted on all cores (one big artifact spread over the cores).
pub(crate) fn remove_dir_at(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    split_above: Option<usize>,
) -> io::Result<()> {
    // Writable and readable before it is opened: a build may leave a directory of mode
    // 000, which its owner cannot even open. (Another owner's directory cannot be changed
    // but may be usable already: an error shows up at the open or the unlink.) `name` is a
    // directory, never a symlink, so following it changes nothing else.
    let _ = rustix::fs::chmodat(parent, name, Mode::from_raw_mode(0o700), AtFlags::empty());
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut dir = rustix::fs::Dir::new(fd)?;
    let mut entries = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let entry_name = entry.file_name().to_bytes();
        if entry_name != b"." && entry_name != b".." {
            entries.push((OsStr::from_bytes(entry_name).to_owned(), entry.file_type()));
        }
    }
    let fd = dir.fd()?;
    let remove = |(entry, kind): &(std::ffi::OsString, FileType)| -> io::Result<()> {
        let kind = match kind {
            FileType::Unknown => FileType::from_raw_mode(
                rustix::fs::statat(fd, entry, AtFlags::SYMLINK_NOFOLLOW)?.st_mode,
            ),
            known => *known,
        };
        if kind == FileType::Directory {
            remove_dir_at(fd, entry, None)
        } else {
            Ok(rustix::fs::unlinkat(fd, entry, AtFlags::empty())?)
        }
    };
    match split_above {
        Some(limit) if entries.len() > limit => entries.par_iter().try_for_each(remove)?,
        _ => entries.iter().try_for_each(remove)?,
    }
    drop(dir);
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

/// The first file or symlink under `root` (but not in its `.hit/`) whose contents (or link
/// target) contain `needle`. Reads every file once, in chunks.
pub(crate) fn find_reference(root: &Path, needle: &[u8]) -> io::Result<Option<std::path::PathBuf>> {
    let finder = memchr::memmem::Finder::new(needle);
    let mut buffer = vec![0u8; 1 << 20];
    let mut stack = vec![root.to_path_buf()];
    let own_metadata = root.join(crate::store::META_DIR);
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if path == own_metadata {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_symlink() {
                use std::os::unix::ffi::OsStrExt;
                if finder
                    .find(fs::read_link(&path)?.as_os_str().as_bytes())
                    .is_some()
                {
                    return Ok(Some(path));
                }
            } else if kind.is_file() && file_contains(&path, &finder, &mut buffer)? {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

fn file_contains(
    path: &Path,
    finder: &memchr::memmem::Finder<'_>,
    buffer: &mut [u8],
) -> io::Result<bool> {
    let mut file = fs::File::open(path)?;
    let keep = finder.needle().len().saturating_sub(1);
    let mut filled = 0;
    loop {
        let n = file.read(&mut buffer[filled..])?;
        if n == 0 {
            return Ok(finder.find(&buffer[..filled]).is_some());
        }
        filled += n;
        if finder.find(&buffer[..filled]).is_some() {
            return Ok(true);
        }
        // Keep the tail so that a match across two reads is found.
        let start = filled.saturating_sub(keep);
        buffer.copy_within(start..filled, 0);
        filled -= start;
    }
}

/// Writes out everything of the filesystem that holds `path` (`syncfs`): one call for
/// all the files of many builds, where `fsync` would take one per file.
pub(crate) fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = std::fs::File::open(path)?;
    rustix::fs::syncfs(&dir).map_err(io::Error::from)
}
