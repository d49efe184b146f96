//! What hit owns, and so may delete.
//!
//! gc, `verify --repair` and the build clean directories: the store, the build dir, the
//! source cache and the gc roots. Each of those is configurable (`store_dir: /home/me/work`
//! is one typo away), so hit deletes nothing on the strength of *where* it is. Two rules:
//!
//! 1. **Marked directories.** hit uses a directory for one of these roles only if it carries
//!    hit's marker file, `.hit-dir`, naming the role (`hit store 1`). [`claim`] writes the
//!    marker into a directory that is new or empty; a directory that is not empty and has
//!    no marker is refused with an error that names it and what is in it. Directories made
//!    by hit before markers existed are adopted (the marker written) only if every entry in
//!    them has a name hit gives (rule 2) and, in a store, every artifact carries hit's
//!    metadata, so a user's folder is never mistaken for an old store.
//! 2. **Names hit gives.** Inside a marked directory, hit touches only entries whose names
//!    parse as its own ([`is_artifact_name`], [`BuildDirEntry`], [`is_source_entry`],
//!    [`is_record_name`]); anything else is *foreign*, reported and left alone.
//!
//! | role | directory | what hit may delete in it |
//! |------|-----------|---------------------------|
//! | store | `store_dir` | `<name>/<base32 prefix>` artifacts carrying `.hit/artifact.json` that names that place; claims |
//! | builds | `build_dir` | `<name>-<hash>`, `check-<name>-<hash>`, `pool-<pid>`, `gc-*`, `purge-<name>-*` |
//! | sources | `source_dir` | `sha256/<64 hex>`, `b32/<base32>`, `files/<base32>`, `tmp/*` |
//! | roots | `gc_roots_dir` | `<link name>-<16 base32>` records |
//!
//! The store also keeps `.locks/` (its build, commit and gc locks, so every home sharing
//! it shares them) and `.homes/` (one entry per home using it, so that gc in one home marks
//! from the roots of all of them). Package names never start with a dot, so these never
//! collide with artifacts.

use crate::spec::{ArtifactId, PackageName, SourceKey};
use std::io;
use std::path::{Path, PathBuf};

/// The marker file in every directory hit owns.
pub const MARKER: &str = ".hit-dir";

/// The store's own directories (see the module doc).
pub const STORE_LOCKS: &str = ".locks";
pub const STORE_HOMES: &str = ".homes";

/// What a directory hit owns is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirRole {
    Store,
    Builds,
    Sources,
    Roots,
}

impl DirRole {
    /// The marker's contents: the role and its layout's format version.
    fn marker_text(self) -> &'static str {
        match self {
            Self::Store => "hit store 1\n",
            Self::Builds => "hit builds 1\n",
            Self::Sources => "hit sources 1\n",
            Self::Roots => "hit gcroots 1\n",
        }
    }

    /// The config.yaml key that names the directory.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Store => "store_dir",
            Self::Builds => "build_dir",
            Self::Sources => "source_dir",
            Self::Roots => "gc_roots_dir",
        }
    }
}

/// A directory hit will not use.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    #[error(
        "{path} ({setting} in config.yaml) is not empty and was not made by hit: it holds {entry}. \
         hit deletes what it finds in its own directories, so it uses only a new or empty \
         directory (or one with hit's {MARKER} marker); point {setting} at one"
    )]
    NotOurs {
        path: PathBuf,
        setting: &'static str,
        entry: String,
    },
    #[error(
        "{path} ({setting} in config.yaml) is hit's {found:?} directory, not its {role:?} directory: \
         give each setting its own directory"
    )]
    OtherRole {
        path: PathBuf,
        setting: &'static str,
        role: DirRole,
        found: String,
    },
    #[error("cannot prepare {path}")]
    Io { path: PathBuf, source: io::Error },
}

/// Makes sure `dir` is hit's directory for `role`: creates it with its marker, marks it if
/// it is empty or an older hit's, and refuses anything else (see the module doc).
pub fn claim(dir: &Path, role: DirRole) -> Result<(), OwnershipError> {
    let io_error = |source| OwnershipError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let marker = dir.join(MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(text) if text == role.marker_text() => return Ok(()),
        Ok(text) => {
            return Err(OwnershipError::OtherRole {
                path: dir.to_path_buf(),
                setting: role.setting(),
                role,
                found: text.trim().to_owned(),
            });
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(error)),
    }
    std::fs::create_dir_all(dir).map_err(io_error)?;
    if let Some(entry) = first_foreign_entry(dir, role).map_err(io_error)? {
        return Err(OwnershipError::NotOurs {
            path: dir.to_path_buf(),
            setting: role.setting(),
            entry,
        });
    }
    // Atomically, so that two processes opening a new home both see a whole marker.
    let mut temp = tempfile::Builder::new()
        .prefix(".hit-dir-")
        .tempfile_in(dir)
        .map_err(io_error)?;
    io::Write::write_all(&mut temp, role.marker_text().as_bytes()).map_err(io_error)?;
    temp.persist(&marker)
        .map_err(|error| io_error(error.error))?;
    Ok(())
}

/// The first entry of an unmarked `dir` that an older hit would not have made there, as a
/// phrase for the error (`a file "notes.txt"`).
fn first_foreign_entry(dir: &Path, role: DirRole) -> io::Result<Option<String>> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".hit-dir") {
            continue; // our marker being written by another process
        }
        let kind = entry.file_type()?;
        let ours = match role {
            DirRole::Store => {
                kind.is_dir()
                    && (name == STORE_LOCKS
                        || name == STORE_HOMES
                        || (is_package_name(&name) && holds_only_artifacts(&entry.path())?))
            }
            DirRole::Builds => kind.is_dir() && BuildDirEntry::parse(&name).is_some(),
            DirRole::Sources => kind.is_dir() && is_source_subdir(&name),
            DirRole::Roots => is_record_name(&name) || name.starts_with(".gone-"),
        };
        if !ours {
            let what = if kind.is_dir() {
                "a directory"
            } else {
                "a file"
            };
            return Ok(Some(format!("{what} {name:?}")));
        }
    }
    Ok(None)
}

/// Whether every entry of a store's name directory is an artifact (with hit's metadata)
/// or a claim.
fn holds_only_artifacts(name_dir: &Path) -> io::Result<bool> {
    for entry in std::fs::read_dir(name_dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let ours = is_artifact_name(&entry.file_name().to_string_lossy())
            && (kind.is_symlink()
                || (kind.is_dir()
                    && entry
                        .path()
                        .join(crate::store::META_DIR)
                        .join("artifact.json")
                        .is_file()));
        if !ours {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether a store's top-level entry name can be a package's directory.
pub fn is_package_name(name: &str) -> bool {
    PackageName::new(name).is_ok()
}

/// Whether an entry name in a package's store directory is one hit gives artifacts and
/// claims: a prefix of a hash, 12 to 32 lowercase base32 characters.
pub fn is_artifact_name(name: &str) -> bool {
    (crate::store::SHORT_LEN..=crate::spec::HASH_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// Whether `<store>/<name>/<short>` can hold `id`: the place hit would have put it.
pub fn is_place_of(path: &Path, id: &ArtifactId) -> bool {
    let short = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("");
    name == id.name().as_str() && is_artifact_name(short) && id.hash().starts_with(short)
}

/// What hit keeps in its build dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildDirEntry {
    /// `<name>-<hash>`: a build in progress, failed, or interrupted.
    Build(ArtifactId),
    /// `pool-<pid>`: a process's emptied work dirs.
    Pool(u32),
    /// `gc-*`, `purge-<name>-*`: what gc and purge are deleting.
    Trash,
    /// `check-<name>-<hash>`: a rebuild of a built artifact by `hit build --check`, kept
    /// when it differed.
    Check(ArtifactId),
}

impl BuildDirEntry {
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(pid) = name.strip_prefix("pool-") {
            return pid.parse().ok().map(Self::Pool);
        }
        let temp_suffix =
            |rest: &str| rest.len() >= 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric());
        if name.strip_prefix("gc-").is_some_and(temp_suffix) {
            return Some(Self::Trash);
        }
        if let Some(rest) = name.strip_prefix("purge-")
            && let Some((package, suffix)) = rest.rsplit_once('-')
            && is_package_name(package)
            && temp_suffix(suffix)
        {
            return Some(Self::Trash);
        }
        let id = |name: &str| {
            let (package, hash) = name.rsplit_once('-')?;
            ArtifactId::new(PackageName::new(package).ok()?, hash).ok()
        };
        if let Some(rest) = name.strip_prefix("check-")
            && let Some(id) = id(rest)
        {
            return Some(Self::Check(id));
        }
        id(name).map(Self::Build)
    }
}

/// The source cache's subdirectories.
fn is_source_subdir(name: &str) -> bool {
    matches!(name, "sha256" | "b32" | "files" | "git" | "tmp")
}

/// Whether `name` in the source cache's `subdir` is an entry hit made: an archive named by
/// its sha256, a pack by its digest, a HashDist key's link.
pub fn is_source_entry(subdir: &str, name: &str) -> bool {
    let key = match subdir {
        "sha256" => format!("sha256:{name}"),
        "files" => format!("files:{name}"),
        "b32" => format!("tar.gz:{name}"),
        _ => return false,
    };
    key.parse::<SourceKey>().is_ok()
}

/// Whether `name` is a gc roots record's: `<link name>-<16 base32 characters>`.
pub fn is_record_name(name: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(link, digest)| {
        !link.is_empty()
            && digest.len() == 16
            && digest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_empty_directories_are_marked_and_others_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("bld");
        claim(&store, DirRole::Store).unwrap();
        assert_eq!(
            std::fs::read_to_string(store.join(MARKER)).unwrap(),
            "hit store 1\n"
        );
        claim(&store, DirRole::Store).unwrap();
        let error = claim(&store, DirRole::Sources).unwrap_err().to_string();
        assert!(
            error.contains("source_dir") && error.contains("store"),
            "{error}"
        );

        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("release/obj")).unwrap();
        let error = claim(&work, DirRole::Store).unwrap_err().to_string();
        assert!(
            error.contains("not empty")
                && error.contains("\"release\"")
                && error.contains("store_dir"),
            "{error}"
        );
        assert!(!work.join(MARKER).exists());

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        claim(&empty, DirRole::Builds).unwrap();
    }

    #[test]
    fn an_older_hit_store_is_adopted_but_a_look_alike_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("bld");
        let artifact = store.join("zlib/abcdefghijkl");
        std::fs::create_dir_all(artifact.join(".hit")).unwrap();
        std::fs::write(artifact.join(".hit/artifact.json"), "{}").unwrap();
        claim(&store, DirRole::Store).unwrap();

        // Names that look like an artifact's, without hit's metadata.
        let other = dir.path().join("other");
        std::fs::create_dir_all(other.join("zlib/abcdefghijkl/lib")).unwrap();
        assert!(claim(&other, DirRole::Store).is_err());
    }

    #[test]
    fn names_hit_gives() {
        assert!(is_artifact_name("abcdefghijkl"));
        assert!(!is_artifact_name("abcdefghijk") && !is_artifact_name("release-obj-1"));
        assert_eq!(
            BuildDirEntry::parse("pool-12"),
            Some(BuildDirEntry::Pool(12))
        );
        assert_eq!(
            BuildDirEntry::parse("gc-a1B2c3"),
            Some(BuildDirEntry::Trash)
        );
        assert_eq!(
            BuildDirEntry::parse("purge-zlib-a1B2c3"),
            Some(BuildDirEntry::Trash)
        );
        assert!(matches!(
            BuildDirEntry::parse("zlib-abcdefghijklmnopqrstuvwxyz234567"),
            Some(BuildDirEntry::Build(_))
        ));
        assert!(matches!(
            BuildDirEntry::parse("check-zlib-abcdefghijklmnopqrstuvwxyz234567"),
            Some(BuildDirEntry::Check(_))
        ));
        for foreign in ["pool-x", "gc-", "obj", "zlib-1.2", "purge-", "gc-my notes"] {
            assert_eq!(BuildDirEntry::parse(foreign), None, "{foreign}");
        }
        assert!(is_source_entry("sha256", &"a".repeat(64)));
        assert!(!is_source_entry("sha256", "notes.txt"));
        assert!(is_record_name("small-abcdefghijklmnop"));
        assert!(!is_record_name("small") && !is_record_name("-abcdefghijklmnop"));
    }
}
