//! The source cache on disk, in one place (the cache itself, gc and `verify --sources` all
//! find files through it):
//!
//! ```text
//! src/
//!   sha256/<64 hex>        archives, by the sha256 of their bytes (read-only)
//!   b32/<32 base32>        HashDist's archive keys (`tar.gz:<b32>`, ...): symlinks to
//!                          ../sha256/<hex>, named by base32 of the first 20 bytes
//!   files/<32 base32>      packs of inline files (`files:` keys)
//!   git/                   bare repositories, one per project
//!   checkouts-v1/<commit>/ the tree of a git commit, unpacked (profiles a profile
//!                          `extends` from a git repository are read from there)
//!   tmp/                   downloads in progress
//!   mirror-index-v1/       hashes of local mirror directories' files (see `mirror_index`)
//! ```

use crate::spec::SourceKey;
use crate::spec::canonical::base32_lower;
use std::path::{Path, PathBuf};

/// The directories of a source cache whose files are named by their hash, and the key kind
/// each name is (`sha256/<hex>` is `sha256:<hex>`, `files/<b32>` is `files:<b32>`).
pub const HASHED_DIRS: [&str; 2] = ["sha256", "files"];

/// Paths in a source cache rooted at `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLayout {
    root: PathBuf,
}

impl SourceLayout {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sha256_dir(&self) -> PathBuf {
        self.root.join("sha256")
    }

    pub fn alias_dir(&self) -> PathBuf {
        self.root.join("b32")
    }

    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }

    pub fn git_dir(&self) -> PathBuf {
        self.root.join("git")
    }

    /// Where the tree of a git commit is unpacked (see `SourceCache::checkout`).
    pub fn checkout_dir(&self, commit: &str) -> PathBuf {
        self.root.join("checkouts-v1").join(commit)
    }

    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where an archive or pack with this key is found (`b32/` for HashDist's keys, a
    /// symlink); `None` for git keys.
    pub fn path_of(&self, key: &SourceKey) -> Option<PathBuf> {
        match key {
            SourceKey::Sha256(hex) => Some(self.sha256_dir().join(hex)),
            SourceKey::Archive { digest, .. } => Some(self.alias_dir().join(digest)),
            SourceKey::Files(digest) => Some(self.files_dir().join(digest)),
            SourceKey::Git(_) => None,
        }
    }

    /// The file that holds a key's bytes: as [`Self::path_of`], with a `b32/` alias
    /// followed to its `sha256/` file (`None` if the alias is missing).
    pub fn file_of(&self, key: &SourceKey) -> Option<PathBuf> {
        match key {
            SourceKey::Archive { digest, .. } => {
                let target = std::fs::read_link(self.alias_dir().join(digest)).ok()?;
                Some(self.sha256_dir().join(target.file_name()?))
            }
            other => self.path_of(other),
        }
    }

    /// The `b32/` alias of an archive with this sha256.
    pub fn alias_of(&self, sha256: &[u8; 32]) -> PathBuf {
        self.alias_dir().join(base32_lower(&sha256[..20]))
    }

    /// The `b32/` alias of a `sha256/<hex>` file, if `path` is one.
    pub fn alias_of_file(&self, path: &Path) -> Option<PathBuf> {
        if path.parent() != Some(self.sha256_dir().as_path()) {
            return None;
        }
        let hex = path.file_name()?.to_str()?;
        if hex.len() != 64 {
            return None;
        }
        let mut sha256 = [0u8; 32];
        for (i, byte) in sha256.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(self.alias_of(&sha256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sha256_file_and_its_alias_agree() {
        let layout = SourceLayout::new(PathBuf::from("/src"));
        let sha256 = [7u8; 32];
        let hex = crate::spec::canonical::hex_lower(&sha256);
        let file = layout.path_of(&SourceKey::Sha256(hex)).unwrap_or_default();
        assert_eq!(layout.alias_of_file(&file), Some(layout.alias_of(&sha256)));
        assert_eq!(layout.alias_of_file(Path::new("/src/files/x")), None);
        assert_eq!(layout.alias_of_file(&layout.sha256_dir().join("zz")), None);
    }
}
