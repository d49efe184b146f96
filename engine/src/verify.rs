//! `hit verify`: checks that the store is what its metadata says, and repairs it.
//!
//! [`check`] reads, changes nothing, and sorts what it finds in two kinds:
//!
//! - **problems**, which no correct run of hit leaves behind (a bug, a disk error, or a hand
//!   in the store), each with its repair:
//!   - an artifact whose `artifact.json` is unreadable, names another id than its place
//!     (`<name>/<prefix of the hash>`), whose `build.json` hashes to another id, that has a
//!     writable file (someone may have changed it), or that depends on an artifact that is
//!     missing or broken: *removed* (the next build makes it again);
//!   - a plain file where only artifacts belong: *removed*;
//!   - a generation whose profile is gone or broken: *dropped*;
//!   - a profile link pointing at a profile that is gone or broken: *switched* to its newest
//!     intact generation (if none, build the profile again);
//! - **leftovers** of interrupted or failed work, which are expected after a crash and never
//!   visible as artifacts: an artifact whose own directory a killed commit had no time to
//!   make read-only (repair does), claims and build directories of builds no process is
//!   running, gc's and purge's trash, pools of reusable build dirs (`pool-<pid>`), records
//!   of profile links deleted by hand. `--repair` deletes them too.
//!
//! An artifact that looks broken while another process holds its build lock (it is being
//! committed right now) is checked again once that lock is free. `--repair` holds the
//! store's lock exclusively (like gc), so no build runs meanwhile.

use crate::profile::ProfileError;
use crate::profile::links::{LinkError, LinkRecord, LinkState, ProfileLinks};
use crate::spec::canonical::hash_document;
use crate::spec::{ArtifactId, BuildSpec, PackageName};
use crate::store::{META_DIR, SHORT_LEN, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A check or repair that could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Link(Box<LinkError>),
}

/// Something wrong in the store (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A broken artifact; `id` when its metadata could be read.
    Artifact {
        path: PathBuf,
        id: Option<ArtifactId>,
        why: String,
    },
    StrayFile(PathBuf),
    Generation {
        record: PathBuf,
        link: PathBuf,
        number: u32,
        target: PathBuf,
    },
    Link {
        link: PathBuf,
        target: PathBuf,
        /// The newest intact generation, which repair switches to.
        fallback: Option<(u32, PathBuf)>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Artifact { path, id, why } => match id {
                Some(id) => write!(f, "{id} at {}: {why}", path.display()),
                None => write!(f, "{}: {why}", path.display()),
            },
            Self::StrayFile(path) => {
                write!(f, "{}: a file where only artifacts belong", path.display())
            }
            Self::Generation {
                link,
                number,
                target,
                ..
            } => write!(
                f,
                "generation {number} of {}: its profile {} is missing or broken",
                link.display(),
                target.display()
            ),
            Self::Link {
                link,
                target,
                fallback,
            } => {
                write!(
                    f,
                    "{} points at {}, which is missing or broken",
                    link.display(),
                    target.display()
                )?;
                match fallback {
                    Some((number, _)) => write!(f, " (repair switches it to generation {number})"),
                    None => write!(f, " (no intact generation: build the profile again)"),
                }
            }
        }
    }
}

/// Leftovers of interrupted or failed work (see the module doc).
#[derive(Debug, Clone)]
pub enum Leftover {
    /// An artifact whose commit was interrupted after the rename, before its own directory
    /// was made read-only.
    Unsealed(PathBuf),
    Claim(PathBuf),
    BuildDir(PathBuf),
    Record(Box<LinkRecord>),
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsealed(path) => write!(
                f,
                "artifact whose commit was interrupted before its directory was made read-only: {}",
                path.display()
            ),
            Self::Claim(path) => write!(f, "claim of an interrupted build: {}", path.display()),
            Self::BuildDir(path) => write!(
                f,
                "directory of a failed or interrupted build: {}",
                path.display()
            ),
            Self::Record(record) => write!(
                f,
                "root of a profile link deleted or moved by hand: {}",
                record.link.display()
            ),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub artifacts: usize,
    pub links: usize,
    pub problems: Vec<Problem>,
    pub leftovers: Vec<Leftover>,
}

/// Checks the store and the profile links (see the module doc).
pub fn check(store: &Store, links: &ProfileLinks) -> Result<Report, VerifyError> {
    let mut report = Report::default();
    let mut present: BTreeMap<ArtifactId, PathBuf> = BTreeMap::new();
    let mut dependencies: Vec<(ArtifactId, PathBuf, Vec<ArtifactId>)> = Vec::new();
    let mut broken: BTreeSet<PathBuf> = BTreeSet::new();
    // Only directories of names belong at the top.
    if let Ok(top) = std::fs::read_dir(store.dir()) {
        for entry in top.flatten() {
            if entry.file_type().is_ok_and(|kind| !kind.is_dir()) {
                report.problems.push(Problem::StrayFile(entry.path()));
            }
        }
    }
    let mut artifacts = Vec::new();
    for (path, is_dir) in store.entries()? {
        if is_dir {
            artifacts.push(path);
        } else if std::fs::read_link(&path).is_ok() {
            if claim_is_stale(store, &path)? {
                report.leftovers.push(Leftover::Claim(path));
            }
        } else {
            report.problems.push(Problem::StrayFile(path));
        }
    }
    let verdicts = crate::par::map(&artifacts, |path| check_artifact(store, path));
    for (path, mut verdict) in artifacts.into_iter().zip(verdicts) {
        report.artifacts += 1;
        if let Err((Some(id), _)) = &verdict
            && store.try_lock(id)?.is_none()
        {
            // Being committed by another process: look again once it is done.
            drop(store.lock(id)?);
            verdict = check_artifact(store, &path);
        }
        match verdict {
            Ok((id, deps)) => {
                if !store.is_sealed(&path) {
                    report.leftovers.push(Leftover::Unsealed(path.clone()));
                }
                present.insert(id.clone(), path.clone());
                dependencies.push((id, path, deps));
            }
            Err((id, why)) => {
                broken.insert(path.clone());
                report.problems.push(Problem::Artifact { path, id, why });
            }
        }
    }
    // An artifact is broken if anything in its dependency closure is missing or broken.
    loop {
        let mut changed = false;
        for (id, path, deps) in &dependencies {
            if broken.contains(path) {
                continue;
            }
            for dep in deps {
                // Committed by another process after the scan passed its directory.
                if !present.contains_key(dep)
                    && let Some(dep_path) = store.resolve(dep)?
                {
                    present.insert(dep.clone(), dep_path);
                }
            }
            let bad = deps.iter().find(|dep| {
                present
                    .get(*dep)
                    .is_none_or(|dep_path| broken.contains(dep_path))
            });
            if let Some(dep) = bad {
                let state = if present.contains_key(dep) {
                    "broken"
                } else {
                    "missing"
                };
                broken.insert(path.clone());
                report.problems.push(Problem::Artifact {
                    path: path.clone(),
                    id: Some(id.clone()),
                    why: format!("it depends on {dep}, which is {state}"),
                });
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let intact = |target: &Path| {
        target.join(META_DIR).is_dir()
            && !broken.contains(target)
            && target.starts_with(store.dir())
    };
    for record in links.records()? {
        report.links += 1;
        if record.stale_reason(store).is_some() {
            report.leftovers.push(Leftover::Record(Box::new(record)));
            continue;
        }
        for generation in &record.generations {
            if !intact(&generation.target) {
                report.problems.push(Problem::Generation {
                    record: record.dir.clone(),
                    link: record.link.clone(),
                    number: generation.number,
                    target: generation.target.clone(),
                });
            }
        }
        if let LinkState::Points(target) = &record.state
            && !intact(target)
        {
            let fallback = record
                .generations
                .iter()
                .rev()
                .find(|g| intact(&g.target))
                .map(|g| (g.number, g.target.clone()));
            report.problems.push(Problem::Link {
                link: record.link.clone(),
                target: target.clone(),
                fallback,
            });
        }
    }
    report
        .leftovers
        .extend(build_leftovers(store)?.into_iter().map(Leftover::BuildDir));
    Ok(report)
}

/// The id and dependency closure of an intact artifact, or why it is broken.
#[allow(clippy::type_complexity)]
fn check_artifact(
    store: &Store,
    path: &Path,
) -> Result<(ArtifactId, Vec<ArtifactId>), (Option<ArtifactId>, String)> {
    let meta = store
        .read_meta(path)
        .map_err(|error| (None, error.to_string()))?;
    let id = meta.id.clone();
    let fail = |why: String| Err((Some(id.clone()), why));
    let place = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name_dir = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if name_dir != id.name().as_str() || place.len() < SHORT_LEN || !id.hash().starts_with(place) {
        return fail(format!(
            "artifact.json names {id}, which does not belong here"
        ));
    }
    match spec_id(path) {
        Ok(actual) if actual == id => {}
        Ok(actual) => return fail(format!("build.json hashes to {actual}")),
        Err(why) => return fail(why),
    }
    match store.writable_entry(path) {
        Ok(None) => {}
        Ok(Some(entry)) => {
            return fail(format!(
                "{} is writable: the artifact may have been changed",
                entry.display()
            ));
        }
        Err(error) => return fail(error.to_string()),
    }
    Ok((id, meta.dependencies))
}

/// The id `build.json` hashes to: a build spec, or a profile's document.
fn spec_id(artifact: &Path) -> Result<ArtifactId, String> {
    let path = artifact.join(META_DIR).join("build.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let unreadable = |error: &dyn fmt::Display| format!("{}: {error}", path.display());
    let document: serde_json::Value = serde_json::from_str(&text).map_err(|e| unreadable(&e))?;
    if document.get("profile").is_some() {
        let name = document
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or_else(|| unreadable(&"a profile document without a name"))?;
        let hash = hash_document("profile", &document).map_err(|e| unreadable(&e))?;
        let name = PackageName::new(name).map_err(|e| unreadable(&e))?;
        return ArtifactId::new(name, &hash).map_err(|e| unreadable(&e));
    }
    let spec = BuildSpec::from_json(&text).map_err(|e| unreadable(&e))?;
    Ok(spec.id().clone())
}

fn claim_is_stale(store: &Store, claim: &Path) -> Result<bool, StoreError> {
    let Some(id) = std::fs::read_link(claim)
        .ok()
        .as_deref()
        .and_then(Path::parent)
        .and_then(build_dir_id)
    else {
        return Ok(true);
    };
    Ok(store.try_lock(&id)?.is_some())
}

/// The id of a build directory `<name>-<hash>`.
fn build_dir_id(dir: &Path) -> Option<ArtifactId> {
    let (name, hash) = dir.file_name()?.to_str()?.rsplit_once('-')?;
    ArtifactId::new(PackageName::new(name).ok()?, hash).ok()
}

/// Directories in the build dir that no running build owns.
fn build_leftovers(store: &Store) -> Result<Vec<PathBuf>, StoreError> {
    let mut leftovers = Vec::new();
    let Ok(entries) = std::fs::read_dir(store.build_dir()) else {
        return Ok(leftovers);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = match build_dir_id(&path) {
            Some(id) => store.try_lock(&id)?.is_some(),
            // gc's and purge's trash, pools of build dirs: no id, nothing to wait for.
            None => true,
        };
        if stale {
            leftovers.push(path);
        }
    }
    leftovers.sort();
    Ok(leftovers)
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repaired {
    pub fixed: usize,
    pub cleaned: usize,
    /// Problems repair cannot fix (a link with no intact generation).
    pub unfixable: usize,
}

/// Repairs what `report` found (see the module doc). The caller holds
/// [`Store::exclusive`].
pub fn repair(
    store: &Store,
    links: &ProfileLinks,
    report: &Report,
) -> Result<Repaired, VerifyError> {
    let mut done = Repaired::default();
    for problem in &report.problems {
        match problem {
            Problem::Artifact { path, .. } => {
                store.remove_broken(path)?;
                done.fixed += 1;
            }
            Problem::StrayFile(path) => {
                store.remove_broken(path)?;
                done.fixed += 1;
            }
            Problem::Generation { record, number, .. } => {
                links.drop_generation(record, *number)?;
                done.fixed += 1;
            }
            Problem::Link { link, fallback, .. } => match fallback {
                Some((number, _)) => {
                    links
                        .rollback(link, Some(*number))
                        .map_err(|error| VerifyError::Link(Box::new(error)))?;
                    done.fixed += 1;
                }
                None => done.unfixable += 1,
            },
        }
    }
    for leftover in &report.leftovers {
        match leftover {
            Leftover::Unsealed(path) => store.seal(path)?,
            Leftover::Claim(path) => {
                store.remove_stale_claim(path)?;
            }
            Leftover::BuildDir(path) => store.remove_leftover(path)?,
            Leftover::Record(record) => links.drop_record(record)?,
        }
        done.cleaned += 1;
    }
    Ok(done)
}
