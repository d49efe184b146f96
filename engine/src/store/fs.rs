//! File-tree helpers for read-only artifacts.

use std::fs;
use std::io;
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
            make_read_only(&entry?.path(), true)?;
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

/// Deletes a tree even if it was made read-only.
pub(crate) fn remove_tree(root: &Path) -> io::Result<()> {
    match fs::symlink_metadata(root) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
        Ok(meta) if !meta.is_dir() => return fs::remove_file(root),
        Ok(_) => {}
    }
    make_writable_dirs(root)?;
    fs::remove_dir_all(root)
}

fn make_writable_dirs(dir: &Path) -> io::Result<()> {
    let mode = fs::symlink_metadata(dir)?.permissions().mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable_dirs(&entry.path())?;
        }
    }
    Ok(())
}
