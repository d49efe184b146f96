//! The file system as the recipe language sees it (see `hit_lang::Loader`).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Reads recipes, profiles and patches from disk; fingerprints host paths.
#[derive(Debug, Default)]
pub struct FsLoader;

/// The most entries a host directory's fingerprint looks at.
const MAX_FINGERPRINT_ENTRIES: usize = 100_000;

impl hit_lang::Loader for FsLoader {
    fn read(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    /// A file: the sha256 of its contents. A directory: the sha256 of its listing (paths,
    /// kinds and sizes), recursively.
    fn fingerprint(&self, path: &Path) -> Result<String, String> {
        let meta = std::fs::metadata(path).map_err(|error| error.to_string())?;
        let mut hasher = Sha256::new();
        if meta.is_file() {
            let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
            hasher.update(&bytes);
        } else {
            let mut stack: Vec<PathBuf> = vec![path.to_path_buf()];
            let mut seen = 0;
            while let Some(dir) = stack.pop() {
                let mut entries: Vec<_> = std::fs::read_dir(&dir)
                    .map_err(|error| error.to_string())?
                    .filter_map(Result::ok)
                    .collect();
                entries.sort_by_key(|entry| entry.file_name());
                for entry in entries {
                    seen += 1;
                    if seen > MAX_FINGERPRINT_ENTRIES {
                        return Err(format!(
                            "more than {MAX_FINGERPRINT_ENTRIES} entries; point at something smaller"
                        ));
                    }
                    let kind = entry.file_type().map_err(|error| error.to_string())?;
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    let relative = entry
                        .path()
                        .strip_prefix(path)
                        .unwrap_or(&entry.path())
                        .to_path_buf();
                    hasher.update(format!(
                        "{}\0{}\0{size}\n",
                        relative.display(),
                        if kind.is_dir() { "d" } else { "f" }
                    ));
                    if kind.is_dir() {
                        stack.push(entry.path());
                    }
                }
            }
        }
        Ok(hit_engine::spec::canonical::hex_lower(&hasher.finalize()))
    }
}
