//! The no-op fast path: a cache of profile evaluations.
//!
//! Evaluating a profile means running every recipe it needs; for a no-op rebuild of a
//! large profile that is most of the time. Evaluation is pure: its result depends only on
//! hit itself (version and stdlib), the profile's path and parameters, and what the
//! evaluation read through the [`Loader`]: the files (by content), the recipe lookups that
//! found or missed a file, the host fingerprints, and where host programs (the
//! toolchain's compilers) were found on `PATH`. So a build records those, together
//! with the profile artifact it produced, in `<home>/cache/plans-v2/<key>.json`, where `key`
//! hashes the first group. The next build with the same key re-reads and re-hashes the
//! recorded inputs; if all are unchanged and the profile artifact is in the store, there is
//! nothing to evaluate and nothing to build: only `./<profile>` is re-pointed.
//!
//! Any change, or a missing, broken or old-format entry, falls back to a full evaluation.

use hit_lang::Loader;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The entry format; it names the cache's directory (`Home::plan_cache_dir`).
pub const FORMAT: u32 = 2;

fn digest(bytes: &[u8]) -> String {
    hit_engine::spec::canonical::hex_lower(&Sha256::digest(bytes))
}

/// What a no-op needs to know about an earlier build of the profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    format: u32,
    files: Vec<(PathBuf, String)>,
    probes: Vec<(PathBuf, bool)>,
    fingerprints: Vec<(PathBuf, String)>,
    /// Host programs looked up on `PATH`, and where each was found.
    programs: Vec<(String, Option<PathBuf>)>,
    pub profile_name: String,
    pub profile_id: String,
    /// Packages linked into the profile, and packages in the plan.
    pub linked: usize,
    pub planned: usize,
}

/// A loader that remembers everything it was asked.
pub struct Recorder<'a> {
    inner: &'a dyn Loader,
    files: Mutex<Vec<(PathBuf, String)>>,
    probes: Mutex<Vec<(PathBuf, bool)>>,
    fingerprints: Mutex<Vec<(PathBuf, String)>>,
    programs: Mutex<Vec<(String, Option<PathBuf>)>>,
}

impl std::fmt::Debug for Recorder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a dyn Loader) -> Self {
        Self {
            inner,
            files: Mutex::default(),
            probes: Mutex::default(),
            fingerprints: Mutex::default(),
            programs: Mutex::default(),
        }
    }

    pub fn entry(
        &self,
        profile_name: &str,
        profile_id: &str,
        linked: usize,
        planned: usize,
    ) -> Entry {
        Entry {
            format: FORMAT,
            files: self.files.lock().expect("not poisoned").clone(),
            probes: self.probes.lock().expect("not poisoned").clone(),
            fingerprints: self.fingerprints.lock().expect("not poisoned").clone(),
            programs: self.programs.lock().expect("not poisoned").clone(),
            profile_name: profile_name.to_owned(),
            profile_id: profile_id.to_owned(),
            linked,
            planned,
        }
    }
}

impl Loader for Recorder<'_> {
    fn read(&self, path: &Path) -> Result<String, String> {
        let text = self.inner.read(path)?;
        self.files
            .lock()
            .expect("not poisoned")
            .push((path.to_path_buf(), digest(text.as_bytes())));
        Ok(text)
    }

    fn read_within(&self, path: &Path, root: &Path) -> Result<String, String> {
        let text = self.inner.read_within(path, root)?;
        self.files
            .lock()
            .expect("not poisoned")
            .push((path.to_path_buf(), digest(text.as_bytes())));
        Ok(text)
    }

    fn is_file(&self, path: &Path) -> bool {
        let found = self.inner.is_file(path);
        self.probes
            .lock()
            .expect("not poisoned")
            .push((path.to_path_buf(), found));
        found
    }

    fn fingerprint(&self, path: &Path) -> Result<String, String> {
        let fingerprint = self.inner.fingerprint(path)?;
        self.fingerprints
            .lock()
            .expect("not poisoned")
            .push((path.to_path_buf(), fingerprint.clone()));
        Ok(fingerprint)
    }

    fn find_program(&self, name: &str) -> Option<PathBuf> {
        let found = self.inner.find_program(name);
        self.programs
            .lock()
            .expect("not poisoned")
            .push((name.to_owned(), found.clone()));
        found
    }

    /// Not recorded: the version comes from the program, whose fingerprint is.
    fn program_version(&self, program: &Path) -> Result<String, String> {
        self.inner.program_version(program)
    }

    /// Not recorded: a commit's tree never changes, and the files read from it are.
    fn git_checkout(&self, url: &str, commit: &str) -> Result<PathBuf, String> {
        self.inner.git_checkout(url, commit)
    }
}

/// The cache key: hit itself, the profile's path, the parameters and the default dirs.
pub fn key(
    profile: &Path,
    params: &serde_json::Map<String, serde_json::Value>,
    default_dirs: &[PathBuf],
) -> String {
    let mut stdlib: Vec<&str> = hit_lang::engine::STDLIB
        .iter()
        .map(|(_, text)| *text)
        .collect();
    stdlib.push(hit_lang::plan::BUILTIN_TOOLCHAIN.1);
    let inputs = serde_json::json!([
        env!("CARGO_PKG_VERSION"),
        stdlib,
        profile,
        params,
        default_dirs
    ]);
    digest(inputs.to_string().as_bytes())
}

fn path_of(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join(format!("{key}.json"))
}

/// The entry for `key` if every input it recorded is unchanged.
pub fn lookup(cache_dir: &Path, key: &str, loader: &dyn Loader) -> Option<Entry> {
    let text = std::fs::read_to_string(path_of(cache_dir, key)).ok()?;
    let entry: Entry = serde_json::from_str(&text).ok()?;
    if entry.format != FORMAT {
        return None;
    }
    let files_same = entry
        .files
        .iter()
        .all(|(path, hash)| std::fs::read(path).is_ok_and(|bytes| digest(&bytes) == *hash));
    let probes_same = entry
        .probes
        .iter()
        .all(|(path, found)| loader.is_file(path) == *found);
    let hosts_same = entry
        .fingerprints
        .iter()
        .all(|(path, fingerprint)| loader.fingerprint(path).as_ref() == Ok(fingerprint));
    let programs_same = entry
        .programs
        .iter()
        .all(|(name, found)| loader.find_program(name) == *found);
    (files_same && probes_same && hosts_same && programs_same).then_some(entry)
}

/// Writes an entry (temp file, then rename). A failure only costs the next no-op time.
pub fn save(cache_dir: &Path, key: &str, entry: &Entry) {
    let path = path_of(cache_dir, key);
    let write = || -> std::io::Result<()> {
        let dir = path.parent().expect("plans dir");
        std::fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(&mut temp, entry)?;
        temp.persist(&path).map_err(|error| error.error)?;
        Ok(())
    };
    if let Err(error) = write() {
        tracing::warn!("cannot write the plan cache {}: {error}", path.display());
    }
}
