//! The source cache by hand: `hit fetch`, `hit unpack`.

use super::{Error, Result};
use hit_engine::home::Home;
use hit_engine::spec::{SourceKey, SourceSpec};
use std::path::Path;

/// Puts `url` in the source cache (refusing bytes that do not match `key`, if given) and
/// returns its key.
pub fn fetch(home: &Home, url: &str, key: Option<&str>) -> Result<SourceKey> {
    let key: Option<SourceKey> = key.map(str::parse).transpose()?;
    Ok(super::source_cache(home).fetch_url(url, key.as_ref())?)
}

/// What `hit fetch --lock` did with each source of a lockfile.
#[derive(Debug, Default)]
pub struct LockedFetch {
    /// Package, key, and where it came from (a URL or mirror, or the cache already).
    pub fetched: Vec<(String, String, hit_engine::source::Origin)>,
    /// Package, key, and why it could not be fetched.
    pub failed: Vec<(String, String, hit_engine::source::SourceError)>,
}

/// Fetches every source a lockfile names into the source cache, carrying on past failures.
pub fn fetch_locked(home: &Home, lockfile: &Path) -> Result<LockedFetch> {
    let lock = super::lock::Lockfile::read(lockfile)?;
    let cache = super::source_cache(home);
    let mut outcome = LockedFetch::default();
    for (package, source) in lock.sources()? {
        let key = source.key.to_string();
        match cache.prepare(&source) {
            Ok(origin) => outcome.fetched.push((package, key, origin)),
            Err(error) => outcome.failed.push((package, key, error)),
        }
    }
    Ok(outcome)
}

/// How `hit unpack` unpacks.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackOptions {
    /// Drop exactly this many leading components (default: the rule of the key's kind).
    pub strip: Option<u32>,
    /// Unpack into a directory that is not empty.
    pub force: bool,
}

/// Unpacks a cached source into `dir`, which must be new or empty unless `force`.
pub fn unpack(home: &Home, key: &str, dir: &Path, options: UnpackOptions) -> Result<()> {
    let key: SourceKey = key.parse()?;
    if !options.force
        && let Ok(mut entries) = std::fs::read_dir(dir)
        && let Some(entry) = entries.next()
    {
        let entry = entry.map(|e| e.file_name().to_string_lossy().into_owned());
        return Err(Error::Refused(format!(
            "{} is not empty (it holds {:?}); unpacking could overwrite your files: choose a new \
             or empty directory, or pass --force",
            dir.display(),
            entry.unwrap_or_default()
        )));
    }
    // The spec's rule, so `hit unpack` lays a source out as a build would.
    let source = SourceSpec {
        key,
        url: None,
        target: None,
        strip: options.strip,
        files: None,
    };
    super::source_cache(home).unpack(&source.key, None, dir, source.strip_rule())?;
    Ok(())
}
