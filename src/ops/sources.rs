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

/// `hit fetch URL --branch REV`: the commit a branch or tag of a git repository names
/// now, fetched into the source cache; its key (`git:<commit>`) is what a recipe pins.
pub fn fetch_branch(home: &Home, url: &str, rev: &str) -> Result<SourceKey> {
    if !hit_engine::source::looks_like_git(url) {
        return Err(Error::Input(format!(
            "--branch is for git repositories, and {url} does not look like one (a URL or path \
             ending in .git, or starting with git:// or git@)"
        )));
    }
    Ok(super::source_cache(home).fetch_git_rev(url, rev)?)
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

/// What `hit mirror create` did.
#[derive(Debug, Default)]
pub struct MirrorOutcome {
    /// Sources put into the mirror (key).
    pub added: Vec<String>,
    /// Sources it already had.
    pub present: usize,
    /// Package, key, and why the source could not be fetched.
    pub failed: Vec<(String, String, hit_engine::source::SourceError)>,
}

/// Lays out (or updates) `dir` as a mirror of every source the targets need: each
/// archive fetched into the source cache (mirrors, then its URL), then copied to
/// `dir/sha256/<hex>`, the layout every hit reads from a mirror. A target is a profile
/// script (planned, with `params`) or a lockfile (`*.lock`). Inline `files:` sources come
/// with the recipes, and git sources stay in the cache (a source cache is a mirror for
/// them too).
pub fn mirror_create(
    home: &Home,
    dir: &Path,
    targets: &[std::path::PathBuf],
    params: &[String],
) -> Result<MirrorOutcome> {
    let mut sources: Vec<(String, SourceSpec)> = Vec::new();
    for target in targets {
        if target.extension().is_some_and(|ext| ext == "lock") {
            sources.extend(super::lock::Lockfile::read(target)?.sources()?);
            continue;
        }
        let plan = super::load_plan(
            &super::ProfileRequest {
                file: target.clone(),
                params: params.to_vec(),
            },
            None,
        )?;
        for package in &plan.packages {
            for source in package.spec.sources() {
                sources.push((package.name.clone(), source.clone()));
            }
        }
    }
    let cache = super::source_cache(home);
    let sha_dir = dir.join("sha256");
    std::fs::create_dir_all(&sha_dir).map_err(Error::io(sha_dir.display().to_string()))?;
    let mut outcome = MirrorOutcome::default();
    let mut done = std::collections::BTreeSet::new();
    for (package, source) in sources {
        let SourceKey::Sha256(hex) = &source.key else {
            continue;
        };
        if !done.insert(hex.clone()) {
            continue;
        }
        let target = sha_dir.join(hex);
        if target.is_file() {
            outcome.present += 1;
            continue;
        }
        if let Err(error) = cache.prepare(&source) {
            outcome
                .failed
                .push((package, source.key.to_string(), error));
            continue;
        }
        let cached = cache
            .path_of(&source.key)
            .expect("archive keys have a path in the cache");
        // Through a temporary name, so a reader never sees half a file.
        let temporary = sha_dir.join(format!(".{hex}.tmp"));
        std::fs::copy(&cached, &temporary)
            .and_then(|_| std::fs::rename(&temporary, &target))
            .map_err(Error::io(format!(
                "cannot copy {} to {}",
                cached.display(),
                target.display()
            )))?;
        outcome.added.push(source.key.to_string());
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
