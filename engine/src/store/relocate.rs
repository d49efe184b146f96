//! Relocation: how an artifact depends on where its store is, checked at every commit.
//!
//! A build sees absolute paths (its own `$ARTIFACT`, its imports' `${REF}_DIR`), and what
//! it installs often names them: ELF RUNPATHs, `.pc` and `.la` files, `*-config` scripts,
//! shebangs, CMake files, paths compiled into programs. An artifact that names its store
//! cannot be used from a store somewhere else (a binary cache, a colleague's home). Before
//! the manifest is taken, [`relocate`] goes through the stage:
//!
//! 1. **ELF RUNPATH/RPATH** entries that point into the store become `$ORIGIN`-relative
//!    (`/home/me/.hit/bld/zlib/abc/lib` seen from `bld/libpng/xyz/lib` is
//!    `$ORIGIN/../../../zlib/abc/lib`), as HashDist's `--relative-rpath` did. The new string
//!    is written over the old one in `.dynstr`, padded with NULs; it is never longer (when
//!    it would be, the entry is left and the file counts as binary, below), and no other
//!    dynamic entry (`NEEDED`, `SONAME`) may point into the bytes rewritten (linkers merge
//!    string tails). The ELF headers are read by hand (64-bit little-endian, the dynamic
//!    segment and the load segments that map `.dynstr`): about a hundred lines instead of a
//!    crate, since nothing else is read and nothing is resized; `patchelf` is not needed.
//! 2. **Every other occurrence** of the store's path is found (memmem over each file) and
//!    recorded: in a text file (no NUL byte) with its byte offsets, to be rewritten when the
//!    artifact is installed under another store; in a symlink's target, likewise; in an
//!    ELF file only inside sections that are not loaded (debug info: `DW_AT_comp_dir`,
//!    include directories) it is harmless to what runs and only noted; anywhere else (a
//!    prefix compiled into a program's data) it makes the artifact *not relocatable*, and
//!    the file is named.
//!
//! The findings go to `.hit/relocation.json`; `artifact.json` says `relocatable`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The relocation record inside an artifact's `.hit/`.
pub const RELOCATION_FILE: &str = "relocation.json";

/// What [`relocate`] found and did. Paths are relative to the artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relocation {
    /// The store directory the artifact was built in.
    pub store: String,
    /// ELF files whose RUNPATH or RPATH was made `$ORIGIN`-relative: the new value.
    pub rpaths: BTreeMap<String, String>,
    /// Text files that name the store: the byte offsets of each occurrence.
    pub text: BTreeMap<String, Vec<u64>>,
    /// Symlinks whose target is in the store.
    pub links: Vec<String>,
    /// ELF files that name the store only in sections that are not loaded (debug info,
    /// comments): what runs does not depend on it; a debugger looks in the old place.
    #[serde(default)]
    pub debug: Vec<String>,
    /// Other files that name the store: they make the artifact not relocatable.
    pub binary: Vec<String>,
}

impl Relocation {
    /// Whether the artifact can be installed under another store (by rewriting the text
    /// files and links recorded).
    pub fn relocatable(&self) -> bool {
        self.binary.is_empty()
    }
}

/// Makes the stage's RUNPATHs relative and records every other reference to `store` (see
/// the module doc). `artifact` is where the stage will be committed.
pub fn relocate(stage: &Path, artifact: &Path, store: &Path) -> io::Result<Relocation> {
    let mut found = Relocation {
        store: store.display().to_string(),
        ..Relocation::default()
    };
    let needle = store.as_os_str().as_bytes();
    let finder = memchr::memmem::Finder::new(needle);
    let mut stack = vec![PathBuf::new()];
    while let Some(sub) = stack.pop() {
        for entry in std::fs::read_dir(stage.join(&sub))? {
            let entry = entry?;
            let relative = sub.join(entry.file_name());
            if relative == Path::new(crate::store::META_DIR) {
                continue;
            }
            let name = relative.display().to_string();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(relative);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                if finder.find(target.as_os_str().as_bytes()).is_some() {
                    found.links.push(name);
                }
            } else if kind.is_file() {
                let path = entry.path();
                let mut bytes = std::fs::read(&path)?;
                let mut changed = false;
                if let Some(new) = relative_rpath(&mut bytes, &artifact.join(&relative), store) {
                    found.rpaths.insert(name.clone(), new);
                    changed = true;
                }
                let offsets: Vec<u64> = finder.find_iter(&bytes).map(|at| at as u64).collect();
                if !offsets.is_empty() {
                    if !bytes.contains(&0) {
                        found.text.insert(name, offsets);
                    } else if only_in_unloaded_sections(&bytes, &offsets) {
                        found.debug.push(name);
                    } else {
                        found.binary.push(name);
                    }
                }
                if changed {
                    write_over(&path, &bytes)?;
                }
            }
        }
    }
    found.links.sort();
    found.debug.sort();
    found.binary.sort();
    Ok(found)
}

/// Why a relocation record could not be applied to a tree.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the relocation record names {0:?}, which is not a plain path inside the artifact")]
    BadPath(String),
    #[error(
        "{path}: the relocation record says it names the store at offset {offset}, and it does not"
    )]
    Mismatch { path: String, offset: u64 },
    #[error("{path}: the relocation record names it as a {expected}, and it is not one")]
    WrongKind {
        path: String,
        expected: &'static str,
    },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Moves an artifact to another store: where `record` (made by [`relocate`] in the store
/// `record.store`) found that store's path, in text files and symlink targets, `tree` gets
/// `store` instead. Text files are rewritten whole (the new path may be longer or
/// shorter); RUNPATHs need nothing, being `$ORIGIN`-relative. Binary references cannot
/// be moved: the caller refuses an artifact that is not [`Relocation::relocatable`].
///
/// Every offset is checked to hold the old path before anything is written, and every
/// path must be a plain relative one naming a file (or a link) inside `tree`, never a
/// symlink to elsewhere: a record cannot make hit write outside the artifact.
pub fn apply(tree: &Path, record: &Relocation, store: &Path) -> Result<(), ApplyError> {
    let old = record.store.as_bytes();
    let new = store.as_os_str().as_bytes();
    if old == new {
        return Ok(());
    }
    let io = |path: &str| {
        let path = path.to_owned();
        move |source| ApplyError::Io { path, source }
    };
    for (name, offsets) in &record.text {
        let path = inside(tree, name)?;
        let meta = std::fs::symlink_metadata(&path).map_err(io(name))?;
        if !meta.is_file() {
            return Err(ApplyError::WrongKind {
                path: name.clone(),
                expected: "regular file",
            });
        }
        let bytes = std::fs::read(&path).map_err(io(name))?;
        let mut out = Vec::with_capacity(bytes.len() + offsets.len() * new.len());
        let mut at = 0usize;
        let mut sorted = offsets.clone();
        sorted.sort_unstable();
        for &offset in &sorted {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let matches = start >= at
                && bytes
                    .get(start..start.saturating_add(old.len()))
                    .is_some_and(|found| found == old);
            if !matches {
                return Err(ApplyError::Mismatch {
                    path: name.clone(),
                    offset,
                });
            }
            out.extend_from_slice(&bytes[at..start]);
            out.extend_from_slice(new);
            at = start + old.len();
        }
        out.extend_from_slice(&bytes[at..]);
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | 0o200))
            .map_err(io(name))?;
        std::fs::write(&path, &out).map_err(io(name))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io(name))?;
    }
    for name in &record.links {
        let path = inside(tree, name)?;
        let target = std::fs::read_link(&path).map_err(|_| ApplyError::WrongKind {
            path: name.clone(),
            expected: "symlink",
        })?;
        let target = target.as_os_str().as_bytes();
        let finder = memchr::memmem::Finder::new(old);
        let mut moved = Vec::with_capacity(target.len() + new.len());
        let mut at = 0;
        for found in finder.find_iter(target) {
            moved.extend_from_slice(&target[at..found]);
            moved.extend_from_slice(new);
            at = found + old.len();
        }
        moved.extend_from_slice(&target[at..]);
        std::fs::remove_file(&path).map_err(io(name))?;
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&moved), &path).map_err(io(name))?;
    }
    Ok(())
}

/// `tree/name`, if `name` is a plain relative path whose parents are real directories.
fn inside(tree: &Path, name: &str) -> Result<PathBuf, ApplyError> {
    let relative = Path::new(name);
    let plain = !name.is_empty()
        && relative
            .components()
            .all(|component| matches!(component, Component::Normal(_)));
    if !plain {
        return Err(ApplyError::BadPath(name.to_owned()));
    }
    let mut path = tree.to_path_buf();
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        path.push(component);
        if components.peek().is_some()
            && !std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir())
        {
            return Err(ApplyError::BadPath(name.to_owned()));
        }
    }
    Ok(path)
}

/// Rewrites the file's contents in place (same inode and mode: the stage is writable).
fn write_over(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: i64 = 0;
const DT_NEEDED: i64 = 1;
const DT_STRTAB: i64 = 5;
const DT_SONAME: i64 = 14;
const DT_RPATH: i64 = 15;
const DT_RUNPATH: i64 = 29;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// If `bytes` is a 64-bit little-endian ELF file with a RUNPATH or RPATH naming `store`,
/// rewrites the entries into the store as `$ORIGIN`-relative to `file` (its final path)
/// and returns the new value; `None` if there is nothing to do or it would not fit.
fn relative_rpath(bytes: &mut [u8], file: &Path, store: &Path) -> Option<String> {
    if bytes.get(..6)? != [0x7f, b'E', b'L', b'F', 2, 1] {
        return None;
    }
    let (phoff, phentsize, phnum) = (
        usize::try_from(u64_at(bytes, 0x20)?).ok()?,
        usize::from(u16_at(bytes, 0x36)?),
        usize::from(u16_at(bytes, 0x38)?),
    );
    let headers: Vec<(u32, u64, u64, u64)> = (0..phnum)
        .filter_map(|i| {
            let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
            Some((
                u32_at(bytes, at)?,
                u64_at(bytes, at + 8)?,
                u64_at(bytes, at + 16)?,
                u64_at(bytes, at + 32)?,
            ))
        })
        .collect();
    let &(_, dyn_offset, _, dyn_size) = headers.iter().find(|h| h.0 == PT_DYNAMIC)?;
    let mut entries = Vec::new();
    for i in 0..usize::try_from(dyn_size / 16).ok()? {
        let at = usize::try_from(dyn_offset).ok()?.checked_add(i * 16)?;
        let tag = u64_at(bytes, at)? as i64;
        if tag == DT_NULL {
            break;
        }
        entries.push((tag, u64_at(bytes, at + 8)?));
    }
    let strtab_address = entries.iter().find(|e| e.0 == DT_STRTAB)?.1;
    // The file offset of .dynstr, through the load segment that maps it.
    let strtab = headers.iter().find_map(|&(kind, offset, address, size)| {
        (kind == PT_LOAD && address <= strtab_address && strtab_address < address + size)
            .then(|| strtab_address - address + offset)
    })?;
    let strtab = usize::try_from(strtab).ok()?;
    let string_at = |bytes: &[u8], offset: u64| -> Option<(usize, usize)> {
        let start = strtab.checked_add(usize::try_from(offset).ok()?)?;
        let len = bytes.get(start..)?.iter().position(|&b| b == 0)?;
        Some((start, len))
    };
    let dir = file.parent()?;
    let mut changed = None;
    for &(tag, offset) in entries
        .iter()
        .filter(|e| e.0 == DT_RUNPATH || e.0 == DT_RPATH)
    {
        let (start, len) = string_at(bytes, offset)?;
        let old = std::str::from_utf8(&bytes[start..start + len])
            .ok()?
            .to_owned();
        let new: Vec<String> = old
            .split(':')
            .map(|entry| {
                let path = Path::new(entry);
                if path.starts_with(store) {
                    match relative_to(dir, path) {
                        same if same == Path::new(".") => "$ORIGIN".to_owned(),
                        other => format!("$ORIGIN/{}", other.display()),
                    }
                } else {
                    entry.to_owned()
                }
            })
            .collect();
        let new = new.join(":");
        if new == old || new.len() > len {
            continue;
        }
        // Another dynamic string sharing these bytes (a merged tail) would be corrupted.
        let shared = entries.iter().any(|&(other_tag, other)| {
            matches!(other_tag, DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH)
                && (other_tag, other) != (tag, offset)
                && string_at(bytes, other).is_some_and(|(s, _)| s > start && s <= start + len)
        });
        if shared {
            continue;
        }
        bytes[start..start + len].fill(0);
        bytes[start..start + new.len()].copy_from_slice(new.as_bytes());
        changed = Some(new);
    }
    changed
}

/// Whether every offset of a 64-bit little-endian ELF file lies in a section that is not
/// loaded (no `SHF_ALLOC`: `.debug_*`, `.comment`, ...). An offset in no section, or any
/// other file, is not.
fn only_in_unloaded_sections(bytes: &[u8], offsets: &[u64]) -> bool {
    const SHF_ALLOC: u64 = 0x2;
    let sections = || -> Option<Vec<(u64, u64, u64)>> {
        if bytes.get(..6)? != [0x7f, b'E', b'L', b'F', 2, 1] {
            return None;
        }
        let shoff = usize::try_from(u64_at(bytes, 0x28)?).ok()?;
        let (size, count) = (
            usize::from(u16_at(bytes, 0x3a)?),
            usize::from(u16_at(bytes, 0x3c)?),
        );
        (0..count)
            .map(|i| {
                let at = shoff.checked_add(i.checked_mul(size)?)?;
                Some((
                    u64_at(bytes, at + 8)?,
                    u64_at(bytes, at + 24)?,
                    u64_at(bytes, at + 32)?,
                ))
            })
            .collect()
    };
    let Some(sections) = sections() else {
        return false;
    };
    offsets.iter().all(|&at| {
        sections.iter().any(|&(flags, offset, size)| {
            flags & SHF_ALLOC == 0 && offset <= at && at < offset.saturating_add(size)
        })
    })
}

/// `to` relative to the directory `from`, both absolute: `../../zlib/abc/lib`.
fn relative_to(from: &Path, to: &Path) -> PathBuf {
    fn normal(path: &Path) -> Vec<Component<'_>> {
        path.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect()
    }
    let (from, to) = (normal(from), normal(to));
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_artifacts() {
        assert_eq!(
            relative_to(
                Path::new("/s/bld/libpng/xyz/lib"),
                Path::new("/s/bld/zlib/abc/lib")
            ),
            Path::new("../../../zlib/abc/lib")
        );
        assert_eq!(
            relative_to(Path::new("/s/bld/p/x/bin"), Path::new("/s/bld/p/x/lib")),
            Path::new("../lib")
        );
        assert_eq!(
            relative_to(Path::new("/s/a"), Path::new("/s/a")),
            Path::new(".")
        );
    }

    #[test]
    fn text_links_and_binaries_are_told_apart() {
        let store = tempfile::tempdir().unwrap();
        let stage = store.path().join("stage");
        std::fs::create_dir_all(stage.join("lib/pkgconfig")).unwrap();
        std::fs::create_dir_all(stage.join(".hit")).unwrap();
        let prefix = store.path().join("bld/z/abc");
        let pc = format!("prefix={}\nlibdir=${{prefix}}/lib\n", prefix.display());
        std::fs::write(stage.join("lib/pkgconfig/z.pc"), &pc).unwrap();
        std::fs::write(
            stage.join("lib/data.bin"),
            [b"\0\0".as_slice(), prefix.as_os_str().as_bytes()].concat(),
        )
        .unwrap();
        std::fs::write(stage.join(".hit/build.log"), prefix.as_os_str().as_bytes()).unwrap();
        std::os::unix::fs::symlink(prefix.join("lib/libz.so"), stage.join("lib/libz.so")).unwrap();
        std::fs::write(stage.join("lib/clean.txt"), "nothing here").unwrap();
        let found = relocate(&stage, &prefix, &store.path().join("bld")).unwrap();
        assert_eq!(found.text.get("lib/pkgconfig/z.pc"), Some(&vec![7]));
        assert_eq!(found.links, ["lib/libz.so"]);
        assert_eq!(found.binary, ["lib/data.bin"]);
        assert!(found.rpaths.is_empty() && !found.relocatable());
    }

    #[test]
    fn a_record_moves_text_and_links_to_another_store_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("lib/pkgconfig")).unwrap();
        let old = "/old/store";
        let pc = format!("prefix={old}/z/abc\nexec={old}/z/abc/bin\n");
        std::fs::write(tree.join("lib/pkgconfig/z.pc"), &pc).unwrap();
        std::os::unix::fs::symlink(format!("{old}/y/def/lib/liby.so"), tree.join("lib/liby.so"))
            .unwrap();
        let record = Relocation {
            store: old.into(),
            text: [("lib/pkgconfig/z.pc".to_string(), vec![7, 29])].into(),
            links: vec!["lib/liby.so".into()],
            ..Relocation::default()
        };
        apply(&tree, &record, Path::new("/a/much/longer/new/store")).unwrap();
        assert_eq!(
            std::fs::read_to_string(tree.join("lib/pkgconfig/z.pc")).unwrap(),
            "prefix=/a/much/longer/new/store/z/abc\nexec=/a/much/longer/new/store/z/abc/bin\n"
        );
        assert_eq!(
            std::fs::read_link(tree.join("lib/liby.so")).unwrap(),
            Path::new("/a/much/longer/new/store/y/def/lib/liby.so")
        );
        // Offsets that do not hold the old path, and paths outside the tree, are refused.
        std::fs::write(tree.join("lib/pkgconfig/z.pc"), &pc).unwrap();
        let wrong = Relocation {
            text: [("lib/pkgconfig/z.pc".to_string(), vec![8])].into(),
            links: vec![],
            ..record.clone()
        };
        assert!(matches!(
            apply(&tree, &wrong, Path::new("/n")),
            Err(ApplyError::Mismatch { offset: 8, .. })
        ));
        for name in ["../outside", "/etc/passwd", "lib/liby.so/x", ""] {
            let escaping = Relocation {
                text: [(name.to_string(), vec![0])].into(),
                links: vec![],
                ..record.clone()
            };
            assert!(
                apply(&tree, &escaping, Path::new("/n")).is_err(),
                "{name:?} was accepted"
            );
        }
        // A text entry that is a symlink is never written through.
        let through_link = Relocation {
            text: [("lib/liby.so".to_string(), vec![0])].into(),
            links: vec![],
            ..record
        };
        assert!(matches!(
            apply(&tree, &through_link, Path::new("/n")),
            Err(ApplyError::WrongKind { .. })
        ));
    }
}
