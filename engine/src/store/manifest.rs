//! Content manifests: every path of an artifact with what it holds, and one hash of the
//! whole tree (the *content hash*, as a NAR hash is for Nix).
//!
//! At commit the store scans the stage and writes `.hit/manifest`; `artifact.json` records
//! `content_hash`, the sha256 of that file. `hit verify` scans the artifact again and
//! compares: a changed byte, a file added or removed, an executable bit or a symlink
//! target that changed, each is found and named. A binary cache will ship the content
//! hash, signed, so that a downloaded artifact is checked before it is committed.
//!
//! The manifest is canonical text, so the same tree always gives the same bytes and hash:
//!
//! ```text
//! hit-manifest 1
//! d 3:bin
//! f 9:bin/hello x 41 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
//! l 16:lib/libz.so.1 14:libz.so.1.2.13
//! ```
//!
//! | line | entry | fields |
//! |------|-------|--------|
//! | `d P` | directory | path |
//! | `f P X SIZE SHA256` | regular file | path, `x` if any execute bit is set else `-`, size in bytes, sha256 of the contents (lowercase hex) |
//! | `l P T` | symlink | path, target (as stored, not followed) |
//!
//! Paths are relative to the artifact, `/`-separated; paths and targets are written as
//! `<byte length>:<bytes>` (so any byte, a space or a newline included, is unambiguous).
//! Entries are sorted by path, bytewise; the artifact's root and its `.hit/` directory
//! (metadata, checked by other means) are left out. Modes other than the execute bit are
//! not recorded: the store makes everything read-only itself, and `hit verify` checks that
//! separately. Owners and times are not recorded either: they are not content.
//!
//! Files are hashed on all cores. sha2 uses the CPU's SHA instructions (about 1.7 GB/s a
//! core here), so a manifest costs about what reading the files costs.

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The manifest file inside an artifact's `.hit/`.
pub const MANIFEST_FILE: &str = "manifest";
const HEADER: &str = "hit-manifest 1\n";

/// What a path of an artifact holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File {
        executable: bool,
        size: u64,
        sha256: [u8; 32],
    },
    Symlink {
        target: Vec<u8>,
    },
}

/// One path of an artifact (relative, raw bytes) and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: EntryKind,
}

/// Every path of an artifact, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub entries: Vec<Entry>,
}

/// How one path differs between a manifest and the tree on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentChange {
    /// On disk, not in the manifest.
    Added(PathBuf),
    /// In the manifest, not on disk.
    Removed(PathBuf),
    /// Both, different: what differs, in words.
    Changed { path: PathBuf, what: String },
}

impl std::fmt::Display for ContentChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Added(path) => write!(f, "{} was added", path.display()),
            Self::Removed(path) => write!(f, "{} was removed", path.display()),
            Self::Changed { path, what } => write!(f, "{}: {what}", path.display()),
        }
    }
}

impl Manifest {
    /// Scans the tree under `root` (its `.hit/` left out), hashing files on all cores.
    /// Anything but directories, regular files and symlinks is an error.
    pub fn scan(root: &Path) -> io::Result<Self> {
        let mut found = Vec::new();
        walk(root, &[], &mut found)?;
        let mut entries = found
            .into_par_iter()
            .map(|(path, kind)| {
                let kind = match kind {
                    Found::File { executable, size } => {
                        let full = root.join(std::ffi::OsStr::from_bytes(&path));
                        EntryKind::File {
                            executable,
                            size,
                            sha256: hash_file(&full)?,
                        }
                    }
                    Found::Done(kind) => kind,
                };
                Ok(Entry { path, kind })
            })
            .collect::<io::Result<Vec<_>>>()?;
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { entries })
    }

    /// The canonical text (see the module doc).
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = HEADER.as_bytes().to_vec();
        for entry in &self.entries {
            let path = &entry.path;
            match &entry.kind {
                EntryKind::Dir => {
                    out.extend_from_slice(b"d ");
                    netstring(&mut out, path);
                }
                EntryKind::File {
                    executable,
                    size,
                    sha256,
                } => {
                    out.extend_from_slice(b"f ");
                    netstring(&mut out, path);
                    let x = if *executable { 'x' } else { '-' };
                    out.extend_from_slice(format!(" {x} {size} {}", hex(sha256)).as_bytes());
                }
                EntryKind::Symlink { target } => {
                    out.extend_from_slice(b"l ");
                    netstring(&mut out, path);
                    out.push(b' ');
                    netstring(&mut out, target);
                }
            }
            out.push(b'\n');
        }
        out
    }

    /// Reads the canonical text back; `None` if it is not a manifest this hit writes.
    pub fn parse(text: &[u8]) -> Option<Self> {
        let mut rest = text.strip_prefix(HEADER.as_bytes())?;
        let mut entries = Vec::new();
        while !rest.is_empty() {
            let (kind, after) = (rest.first()?, rest.get(1..)?);
            let after = after.strip_prefix(b" ")?;
            let (path, after) = read_netstring(after)?;
            let (kind, after) = match kind {
                b'd' => (EntryKind::Dir, after),
                b'l' => {
                    let (target, after) = read_netstring(after.strip_prefix(b" ")?)?;
                    (
                        EntryKind::Symlink {
                            target: target.to_vec(),
                        },
                        after,
                    )
                }
                b'f' => {
                    let end = after.iter().position(|&b| b == b'\n')?;
                    let fields = std::str::from_utf8(&after[..end]).ok()?;
                    let mut fields = fields.split(' ').skip(1);
                    let executable = match fields.next()? {
                        "x" => true,
                        "-" => false,
                        _ => return None,
                    };
                    let size = fields.next()?.parse().ok()?;
                    let sha256 = unhex(fields.next()?)?;
                    if fields.next().is_some() {
                        return None;
                    }
                    (
                        EntryKind::File {
                            executable,
                            size,
                            sha256,
                        },
                        &after[end..],
                    )
                }
                _ => return None,
            };
            rest = after.strip_prefix(b"\n")?;
            entries.push(Entry {
                path: path.to_vec(),
                kind,
            });
        }
        Some(Self { entries })
    }

    /// `sha256:<hex>` of the canonical text: the content hash.
    pub fn content_hash(&self) -> String {
        content_hash_of(&self.to_text())
    }

    /// How `now` (the tree on disk) differs from this manifest, in path order.
    pub fn changes(&self, now: &Manifest) -> Vec<ContentChange> {
        let path = |bytes: &[u8]| PathBuf::from(std::ffi::OsStr::from_bytes(bytes));
        let (mut old, mut new) = (
            self.entries.iter().peekable(),
            now.entries.iter().peekable(),
        );
        let mut changes = Vec::new();
        loop {
            match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(a), Some(b)) if a.path == b.path => {
                    if a.kind != b.kind {
                        changes.push(ContentChange::Changed {
                            path: path(&a.path),
                            what: describe(&a.kind, &b.kind),
                        });
                    }
                    old.next();
                    new.next();
                }
                (Some(a), Some(b)) if a.path < b.path => {
                    changes.push(ContentChange::Removed(path(&a.path)));
                    old.next();
                }
                (Some(a), None) => {
                    changes.push(ContentChange::Removed(path(&a.path)));
                    old.next();
                }
                (_, Some(b)) => {
                    changes.push(ContentChange::Added(path(&b.path)));
                    new.next();
                }
            }
        }
        changes
    }

    /// The number of bytes of file contents it covers.
    pub fn file_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|entry| match entry.kind {
                EntryKind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }
}

/// `sha256:<hex>` of a manifest's text.
pub fn content_hash_of(text: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(text).into()))
}

fn describe(old: &EntryKind, new: &EntryKind) -> String {
    let kind = |kind: &EntryKind| match kind {
        EntryKind::Dir => "a directory",
        EntryKind::File { .. } => "a file",
        EntryKind::Symlink { .. } => "a symlink",
    };
    match (old, new) {
        (
            EntryKind::File {
                executable: x1,
                size: s1,
                sha256: h1,
            },
            EntryKind::File {
                executable: x2,
                size: s2,
                sha256: h2,
            },
        ) => {
            let mut what = Vec::new();
            if h1 != h2 {
                what.push(if s1 == s2 {
                    format!("contents changed (same size, {s1} bytes)")
                } else {
                    format!("contents changed ({s1} -> {s2} bytes)")
                });
            }
            if x1 != x2 {
                what.push(if *x2 {
                    "made executable".to_owned()
                } else {
                    "no longer executable".to_owned()
                });
            }
            what.join(", ")
        }
        (EntryKind::Symlink { target: t1 }, EntryKind::Symlink { target: t2 }) => format!(
            "symlink target changed ({} -> {})",
            String::from_utf8_lossy(t1),
            String::from_utf8_lossy(t2)
        ),
        (a, b) => format!("was {}, is {} now", kind(a), kind(b)),
    }
}

enum Found {
    File { executable: bool, size: u64 },
    Done(EntryKind),
}

/// Depth first, every entry below `root`/`sub` (the root's `.hit` left out).
fn walk(root: &Path, sub: &[u8], found: &mut Vec<(Vec<u8>, Found)>) -> io::Result<()> {
    let dir = root.join(std::ffi::OsStr::from_bytes(sub));
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if sub.is_empty() && name == crate::store::META_DIR {
            continue;
        }
        let mut path = sub.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name.as_bytes());
        let file_type = entry.file_type()?;
        if file_type.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            found.push((
                path,
                Found::Done(EntryKind::Symlink {
                    target: target.as_os_str().as_bytes().to_vec(),
                }),
            ));
        } else if file_type.is_dir() {
            found.push((path.clone(), Found::Done(EntryKind::Dir)));
            walk(root, &path, found)?;
        } else if file_type.is_file() {
            let meta = entry.metadata()?;
            found.push((
                path,
                Found::File {
                    executable: meta.permissions().mode() & 0o111 != 0,
                    size: meta.len(),
                },
            ));
        } else {
            return Err(io::Error::other(format!(
                "{} is neither a file, a directory nor a symlink",
                entry.path().display()
            )));
        }
    }
    Ok(())
}

fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().into())
}

fn netstring(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("{}:", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

fn read_netstring(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = text.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&text[..colon]).ok()?.parse().ok()?;
    let start = colon + 1;
    let bytes = text.get(start..start.checked_add(len)?)?;
    Some((bytes, &text[start + len..]))
}

fn hex(bytes: &[u8; 32]) -> String {
    crate::spec::canonical::hex_lower(bytes)
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::create_dir_all(root.join(".hit")).unwrap();
        std::fs::write(root.join(".hit/build.log"), "not content").unwrap();
        std::fs::write(root.join("bin/hello"), "#!/bin/sh\necho hello\n").unwrap();
        std::fs::set_permissions(
            root.join("bin/hello"),
            std::fs::Permissions::from_mode(0o555),
        )
        .unwrap();
        std::fs::write(root.join("lib/odd name\nwith newline"), "x").unwrap();
        std::os::unix::fs::symlink("libz.so.1.2.13", root.join("lib/libz.so.1")).unwrap();
        dir
    }

    /// The format is pinned: this text and hash change only on purpose (and then every
    /// stored content hash with them).
    #[test]
    fn golden_manifest_and_content_hash() {
        let dir = tree();
        let manifest = Manifest::scan(dir.path()).unwrap();
        let text = String::from_utf8(manifest.to_text()).unwrap();
        assert_eq!(
            text,
            "hit-manifest 1\n\
             d 3:bin\n\
             f 9:bin/hello x 21 bfdeaeb08cffb6a36438bcd12dda25417e3cdd36f1e7e482a2849d539225288b\n\
             d 3:lib\n\
             l 13:lib/libz.so.1 14:libz.so.1.2.13\n\
             f 25:lib/odd name\nwith newline - 1 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n"
        );
        assert_eq!(
            manifest.content_hash(),
            "sha256:a1bb2526b1d2845fe955d0e14930137e465f979a388211b2031161dc50c4b2eb",
            "the content hash is the sha256 of the text"
        );
        assert_eq!(Manifest::parse(text.as_bytes()), Some(manifest));
        assert_eq!(Manifest::parse(b"hit-manifest 1\nf 3:abc x"), None);
        assert_eq!(Manifest::parse(b"hit-manifest 1\nd 99:abc\n"), None);
    }

    #[test]
    fn every_kind_of_change_is_named() {
        let dir = tree();
        let root = dir.path();
        let before = Manifest::scan(root).unwrap();
        std::fs::set_permissions(
            root.join("bin/hello"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::write(root.join("bin/hello"), "#!/bin/sh\necho HELLO\n").unwrap();
        std::fs::remove_file(root.join("lib/libz.so.1")).unwrap();
        std::os::unix::fs::symlink("elsewhere", root.join("lib/libz.so.1")).unwrap();
        std::fs::write(root.join("bin/new"), "").unwrap();
        std::fs::remove_file(root.join("lib/odd name\nwith newline")).unwrap();
        let after = Manifest::scan(root).unwrap();
        let said: Vec<String> = before
            .changes(&after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            said,
            [
                "bin/hello: contents changed (same size, 21 bytes), no longer executable",
                "bin/new was added",
                "lib/libz.so.1: symlink target changed (libz.so.1.2.13 -> elsewhere)",
                "lib/odd name\nwith newline was removed",
            ]
        );
        assert!(before.changes(&before).is_empty());
    }
}
