//! Local mirror directories, found by content: any directory of tarballs serves every
//! source whose sha256 it holds, whatever the files are called (`v1.6.39.tar.gz`, a
//! distribution's `zlib_1.2.13.dfsg.orig.tar.bz2`, ...).
//!
//! The first lookup in a mirror directory walks it and hashes its files (on all cores);
//! the hashes are kept in `src/mirror-index-v1/<digest of the mirror's path>.json`, with
//! each file's path, size and modification time. A later lookup that the stored index
//! answers, with the file's size and time unchanged, costs reading the index and one
//! `stat`; otherwise the directory is walked again (once per process) and only the files
//! added or changed are hashed (adding a file costs one hash).
//!
//! A source cache used as a mirror already has its files by hash (`sha256/<hex>`), so its
//! hashed directories (`sha256`, `b32`, `files`, `git`, `tmp`) are not walked; neither are
//! hidden entries. What the index says is only a hint: the file found is hashed again when
//! it is copied into the cache, as every download is.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The index file format; it names the indexes' directory.
pub(crate) const INDEX_DIR: &str = "mirror-index-v1";

/// Walking stops after this many files: a mirror is a directory of tarballs, not a disk.
const MAX_FILES: usize = 100_000;

/// Directories of a source cache (or of a mirror laid out like one) that are not walked.
const SKIPPED: [&str; 5] = ["sha256", "b32", "files", "git", "tmp"];

/// One file of a mirror as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    size: u64,
    mtime_ns: i128,
    sha256: String,
}

/// The indexes of the local mirrors one source cache uses.
#[derive(Debug, Default)]
pub(crate) struct MirrorIndexes {
    /// Where the index files go (`src/mirror-index-v1/`).
    dir: PathBuf,
    loaded: Mutex<HashMap<PathBuf, Index>>,
}

/// What is known of one mirror directory.
#[derive(Debug, Default)]
struct Index {
    /// Each file (relative path) as last seen.
    seen: HashMap<String, Seen>,
    by_hash: HashMap<String, String>,
    /// Whether this process has walked the directory (else `seen` is the stored record).
    walked: bool,
}

impl Index {
    fn new(seen: HashMap<String, Seen>, walked: bool) -> Self {
        let by_hash = seen
            .iter()
            .map(|(relative, seen)| (seen.sha256.clone(), relative.clone()))
            .collect();
        Self {
            seen,
            by_hash,
            walked,
        }
    }

    /// The file recorded with this hash, if it is still the file that was hashed (same
    /// size and modification time).
    fn lookup(&self, mirror: &Path, sha256: &str) -> Option<PathBuf> {
        let relative = self.by_hash.get(sha256)?;
        let path = mirror.join(relative);
        let meta = std::fs::metadata(&path).ok()?;
        let seen = self.seen.get(relative)?;
        (seen.size == meta.len() && seen.mtime_ns == mtime_ns(&meta)).then_some(path)
    }
}

impl MirrorIndexes {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            loaded: Mutex::default(),
        }
    }

    /// The file of `mirror` whose contents have this sha256 (lowercase hex), if any: from
    /// the stored index when it names one that is unchanged (one `stat`), else after
    /// walking the directory and hashing what is new or changed (once per process).
    pub(crate) fn find(&self, mirror: &Path, sha256: &str) -> Option<PathBuf> {
        let mut loaded = self.loaded.lock().expect("not poisoned");
        let index = loaded.entry(mirror.to_path_buf()).or_insert_with(|| {
            let stored = std::fs::read(self.record_path(mirror))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default();
            Index::new(stored, false)
        });
        if let Some(found) = index.lookup(mirror, sha256) {
            return Some(found);
        }
        if !index.walked {
            *index = Index::new(self.walk_and_hash(mirror, &index.seen), true);
            return index.lookup(mirror, sha256);
        }
        None
    }

    /// Every file of `mirror` as it is now, reusing the hashes in `before` of files whose
    /// size and modification time are unchanged; the record is rewritten if anything
    /// changed.
    fn walk_and_hash(
        &self,
        mirror: &Path,
        before: &HashMap<String, Seen>,
    ) -> HashMap<String, Seen> {
        let mut files = Vec::new();
        walk(mirror, mirror, &mut files);
        let now: HashMap<String, Seen> = files
            .into_par_iter()
            .filter_map(|(relative, size, mtime_ns)| {
                let known = before
                    .get(&relative)
                    .filter(|seen| seen.size == size && seen.mtime_ns == mtime_ns);
                let sha256 = match known {
                    Some(seen) => seen.sha256.clone(),
                    None => hash_file(&mirror.join(&relative))?,
                };
                Some((
                    relative,
                    Seen {
                        size,
                        mtime_ns,
                        sha256,
                    },
                ))
            })
            .collect();
        if now != *before {
            self.save(&self.record_path(mirror), &now);
        }
        now
    }

    fn record_path(&self, mirror: &Path) -> PathBuf {
        let digest = Sha256::digest(mirror.as_os_str().as_encoded_bytes());
        let name = crate::spec::canonical::base32_lower(&digest[..20]);
        self.dir.join(format!("{name}.json"))
    }

    /// Writes the record through a temporary file; a failure costs only re-hashing later.
    fn save(&self, record: &Path, seen: &HashMap<String, Seen>) {
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
            serde_json::to_writer(&mut temp, seen)?;
            temp.persist(record).map_err(|error| error.error)?;
            Ok(())
        };
        if let Err(error) = write() {
            tracing::warn!(
                "cannot write the mirror index {}: {error}",
                record.display()
            );
        }
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

/// Every regular file below `dir` (symlinks followed), relative to `root`, with its size
/// and modification time; hidden entries and a source cache's hashed directories skipped.
fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, u64, i128)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if files.len() >= MAX_FILES {
            return;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || (dir == root && SKIPPED.contains(&name.as_ref())) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(root, &path, files);
        } else if meta.is_file() {
            // A name that is not UTF-8 is left out (the index is JSON): rare in a mirror.
            if let Some(relative) = path.strip_prefix(root).ok().and_then(Path::to_str) {
                files.push((relative.to_owned(), meta.len(), mtime_ns(&meta)));
            }
        }
    }
}

fn hash_file(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer).ok()?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Some(crate::spec::canonical::hex_lower(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_by_content_and_hashed_once() {
        let mirror = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        std::fs::create_dir(mirror.path().join("sub")).unwrap();
        std::fs::write(mirror.path().join("v1.0.tar.gz"), b"one").unwrap();
        std::fs::write(mirror.path().join("sub/other.tar.xz"), b"two").unwrap();
        std::fs::create_dir(mirror.path().join("sha256")).unwrap();
        std::fs::write(mirror.path().join("sha256/ignored"), b"three").unwrap();
        let sha = |bytes: &[u8]| crate::spec::canonical::hex_lower(&Sha256::digest(bytes));
        let indexes = MirrorIndexes::new(cache.path().to_path_buf());
        assert_eq!(
            indexes.find(mirror.path(), &sha(b"two")),
            Some(mirror.path().join("sub/other.tar.xz"))
        );
        assert_eq!(indexes.find(mirror.path(), &sha(b"three")), None);
        // A new process: the record is reused, a new file is hashed, a changed one too.
        std::fs::write(mirror.path().join("new.zip"), b"four").unwrap();
        std::fs::write(mirror.path().join("v1.0.tar.gz"), b"ONE!").unwrap();
        let again = MirrorIndexes::new(cache.path().to_path_buf());
        assert_eq!(
            again.find(mirror.path(), &sha(b"four")),
            Some(mirror.path().join("new.zip"))
        );
        assert_eq!(again.find(mirror.path(), &sha(b"one")), None);
        assert!(again.find(mirror.path(), &sha(b"ONE!")).is_some());
    }
}
