//! `hit verify`: checks that the store is what its metadata says, and repairs it.
//!
//! [`check`] reads, changes nothing, and sorts what it finds in two kinds:
//!
//! - **problems**, which no correct run of hit leaves behind (a bug, a disk error, or a hand
//!   in the store), each with its repair:
//!   - an artifact whose files are not what its content manifest records (a changed byte,
//!     a file added or removed, an execute bit or a symlink target changed; see
//!     [`crate::store::manifest`]; not with [`Depth::Fast`]), or whose manifest was edited,
//!   - an artifact whose `build.json` hashes to another id than its `artifact.json` names,
//!     whose recorded imports or dependency closure are not what `build.json` implies
//!     (gc trusts that closure), that has a writable file (someone may have changed it), a
//!     profile with a symlink that points at nothing, or that depends on an artifact that
//!     is missing or broken: *removed* (the next build makes it again);
//!   - a directory at an artifact's place (`<name>/<prefix of a hash>`) whose
//!     `artifact.json` is unreadable or names another place: *left alone*, since hit cannot
//!     prove it made it (see [`crate::ownership`]); the user moves or deletes it;
//!   - a generation whose profile is gone or broken: *dropped*;
//!   - a profile link pointing at a profile that is gone or broken: *switched* to its newest
//!     intact generation (if none, build the profile again);
//! - **leftovers** of interrupted or failed work, which are expected after a crash and never
//!   visible as artifacts: an artifact whose own directory a killed commit had no time to
//!   make read-only (repair does), claims and build directories of builds no process is
//!   running, gc's and purge's trash, pools of reusable build dirs (`pool-<pid>`), records
//!   of profile links deleted by hand. `--repair` deletes them too.
//!
//! Entries of the store and the build dir whose names hit never gives are *foreign*:
//! listed, never touched.
//!
//! An artifact that looks broken while another process holds its build lock (it is being
//! committed right now) is checked again once that lock is free. `--repair` holds the
//! store's lock exclusively (like gc), so no build runs meanwhile.

use crate::errors::with_causes;
use crate::ownership::BuildDirEntry;
use crate::profile::ProfileError;
use crate::profile::links::{LinkError, LinkRecord, LinkState, ProfileLinks};
use crate::spec::canonical::hash_document;
use crate::spec::{ArtifactId, BuildSpec, PackageName};
use crate::store::{EntryKind, META_DIR, Store, StoreError};
use rayon::prelude::*;
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
    /// A broken artifact.
    Artifact {
        path: PathBuf,
        id: ArtifactId,
        why: Broken,
    },
    /// A directory at an artifact's place that hit cannot prove it made: left alone.
    Unrecognized { path: PathBuf, why: String },
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
            Self::Artifact { path, id, why } => write!(f, "{id} at {}: {why}", path.display()),
            Self::Unrecognized { path, why } => write!(
                f,
                "{}: {why}; hit cannot tell that it made it, so repair leaves it alone (move it \
                 out of the store if it is yours, or delete it)",
                path.display()
            ),
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

/// Why an artifact is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// Its build.json hashes to another id: the spec was edited.
    SpecHash { actual: ArtifactId },
    /// artifact.json's imports are not the ones build.json names.
    ImportsEdited,
    /// artifact.json's dependencies are not the closure of its imports.
    ClosureEdited,
    /// Something in its dependency closure is missing or broken.
    Dependency { dep: ArtifactId, missing: bool },
    /// A file or directory of it is writable: it may have been changed.
    Writable { entry: PathBuf },
    /// A profile's symlink points at nothing.
    DanglingLink { link: PathBuf },
    /// Its build.json cannot be read or parsed (the reason).
    UnreadableSpec(String),
    /// The store could not look into it (the reason).
    Unscannable(String),
    /// Its files are not what its manifest records: the first differences, and how many
    /// there are in all.
    Contents {
        changes: Vec<crate::store::ContentChange>,
        total: usize,
    },
    /// `.hit/manifest` does not hash to the content hash artifact.json records.
    ManifestEdited,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SpecHash { actual } => write!(f, "build.json hashes to {actual}"),
            Self::ImportsEdited => write!(
                f,
                "artifact.json's imports are not the ones build.json names (edited?)"
            ),
            Self::ClosureEdited => write!(
                f,
                "artifact.json's dependencies are not the closure of its imports (edited?)"
            ),
            Self::Dependency { dep, missing } => write!(
                f,
                "it depends on {dep}, which is {}",
                if *missing { "missing" } else { "broken" }
            ),
            Self::Writable { entry } => write!(
                f,
                "{} is writable: the artifact may have been changed",
                entry.display()
            ),
            Self::DanglingLink { link } => write!(f, "{} points at nothing", link.display()),
            Self::UnreadableSpec(why) | Self::Unscannable(why) => write!(f, "{why}"),
            Self::Contents { changes, total } => {
                let said: Vec<String> = changes.iter().map(ToString::to_string).collect();
                write!(f, "its contents changed: {}", said.join("; "))?;
                if *total > changes.len() {
                    write!(f, "; and {} more", total - changes.len())?;
                }
                Ok(())
            }
            Self::ManifestEdited => write!(
                f,
                ".hit/manifest does not hash to the content hash artifact.json records (edited?)"
            ),
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
            Self::BuildDir(path) => {
                let check = path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with("check-"));
                let what = if check {
                    "a `hit build --check` rebuild that differed, or was interrupted"
                } else {
                    "a failed or interrupted build"
                };
                write!(f, "directory of {what}: {}", path.display())
            }
            Self::Record(record) => write!(
                f,
                "root of a profile link deleted or moved by hand: {}",
                record.link.display()
            ),
        }
    }
}

/// How deep [`check`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Metadata only: ids, imports, closures, read-only, dangling links (`hit verify --fast`).
    Fast,
    /// Also every file's contents against the artifact's manifest, on all cores.
    #[default]
    Contents,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub artifacts: usize,
    /// Artifacts whose contents were checked against their manifests, and the bytes read.
    pub contents_checked: usize,
    pub bytes_checked: u64,
    /// Artifacts committed by a hit without manifests: only their metadata was checked.
    pub without_manifest: usize,
    pub links: usize,
    pub problems: Vec<Problem>,
    pub leftovers: Vec<Leftover>,
    /// Entries of the store and the build dir that hit did not make: never touched.
    pub foreign: Vec<PathBuf>,
}

/// Checks the store and the profile links (see the module doc).
pub fn check(store: &Store, links: &ProfileLinks, depth: Depth) -> Result<Report, VerifyError> {
    let mut report = Report::default();
    let mut present: BTreeMap<ArtifactId, PathBuf> = BTreeMap::new();
    let mut dependencies: Vec<(ArtifactId, PathBuf, Vec<ArtifactId>)> = Vec::new();
    let mut broken: BTreeSet<PathBuf> = BTreeSet::new();
    // Per intact artifact: the imports build.json names and the closure artifact.json records.
    #[allow(clippy::type_complexity)]
    let mut recorded: BTreeMap<ArtifactId, (Vec<ArtifactId>, Vec<ArtifactId>)> = BTreeMap::new();
    let mut artifacts = Vec::new();
    for entry in store.entries()? {
        match entry.kind {
            EntryKind::Artifact => artifacts.push(entry.path),
            EntryKind::Claim => match std::fs::read_link(&entry.path) {
                Ok(_) => {
                    if claim_is_stale(store, &entry.path)? {
                        report.leftovers.push(Leftover::Claim(entry.path));
                    }
                }
                // Committed since the scan saw the claim: an artifact now.
                Err(_) if entry.path.is_dir() => artifacts.push(entry.path),
                Err(_) => {}
            },
            EntryKind::Foreign => report.foreign.push(entry.path),
        }
    }
    let verdicts: Vec<Verdict> = artifacts
        .par_iter()
        .map(|path| check_artifact(store, path, depth))
        .collect();
    for (path, mut verdict) in artifacts.into_iter().zip(verdicts) {
        report.artifacts += 1;
        if let Verdict::Broken(id, _) = &verdict
            && store.try_lock(id)?.is_none()
        {
            // Being committed by another process: look again once it is done.
            drop(store.lock(id)?);
            verdict = check_artifact(store, &path, depth);
        }
        match verdict {
            Verdict::Intact(Intact {
                id,
                imports,
                deps,
                contents,
            }) => {
                match contents {
                    Some(bytes) => {
                        report.contents_checked += 1;
                        report.bytes_checked += bytes;
                    }
                    None if depth == Depth::Contents => report.without_manifest += 1,
                    None => {}
                }
                if !store.is_sealed(&path) {
                    report.leftovers.push(Leftover::Unsealed(path.clone()));
                }
                present.insert(id.clone(), path.clone());
                // What must be present: the recorded closure, and the imports even if the
                // record lost them.
                // (A set: a profile imports every package it links, thousands of them.)
                let recorded_deps: std::collections::HashSet<&ArtifactId> = deps.iter().collect();
                let mut needed = deps.clone();
                needed.extend(
                    imports
                        .iter()
                        .filter(|i| !recorded_deps.contains(i))
                        .cloned(),
                );
                recorded.insert(id.clone(), (imports, deps));
                dependencies.push((id, path, needed));
            }
            Verdict::Broken(id, why) => {
                broken.insert(path.clone());
                report.problems.push(Problem::Artifact { path, id, why });
            }
            Verdict::Unrecognized(why) => {
                broken.insert(path.clone());
                report.problems.push(Problem::Unrecognized { path, why });
            }
        }
    }
    // gc keeps what `dependencies` names, so it must be the closure of the imports: an
    // edited list would let gc delete what the artifact uses.
    for (id, path, _) in &dependencies {
        let (imports, deps) = &recorded[id];
        let mut closure: BTreeSet<&ArtifactId> = BTreeSet::new();
        for import in imports {
            closure.insert(import);
            if let Some((_, theirs)) = recorded.get(import) {
                closure.extend(theirs);
            }
        }
        let complete = imports.iter().all(|import| recorded.contains_key(import));
        if complete && !closure.iter().copied().eq(deps.iter()) {
            broken.insert(path.clone());
            report.problems.push(Problem::Artifact {
                path: path.clone(),
                id: id.clone(),
                why: Broken::ClosureEdited,
            });
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
                broken.insert(path.clone());
                report.problems.push(Problem::Artifact {
                    path: path.clone(),
                    id: id.clone(),
                    why: Broken::Dependency {
                        dep: (*dep).clone(),
                        missing: !present.contains_key(dep),
                    },
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
    let (leftovers, foreign) = build_leftovers(store)?;
    report
        .leftovers
        .extend(leftovers.into_iter().map(Leftover::BuildDir));
    report.foreign.extend(foreign);
    report.foreign.sort();
    Ok(report)
}

/// What [`check_artifact`] found.
enum Verdict {
    Intact(Intact),
    Broken(ArtifactId, Broken),
    /// Not provably hit's (why).
    Unrecognized(String),
}

/// An artifact that passed.
struct Intact {
    id: ArtifactId,
    /// Its direct imports, as build.json names them.
    imports: Vec<ArtifactId>,
    /// Its recorded dependency closure.
    deps: Vec<ArtifactId>,
    /// The bytes of file contents checked against its manifest, if they were.
    contents: Option<u64>,
}

/// How many differences a [`Broken::Contents`] keeps.
const CHANGES_SHOWN: usize = 5;

fn check_artifact(store: &Store, path: &Path, depth: Depth) -> Verdict {
    let meta = match store.read_meta(path) {
        Ok(meta) => meta,
        Err(error) => return Verdict::Unrecognized(with_causes(&error)),
    };
    let id = meta.id.clone();
    if !crate::ownership::is_place_of(path, &id) {
        return Verdict::Unrecognized(format!(
            "its artifact.json names {id}, which does not belong here"
        ));
    }
    let fail = |why: Broken| Verdict::Broken(id.clone(), why);
    match spec_id(path) {
        Ok((actual, _)) if actual != id => return fail(Broken::SpecHash { actual }),
        Ok((_, imports)) if imports != meta.imports => return fail(Broken::ImportsEdited),
        Ok(_) => {}
        Err(why) => return fail(Broken::UnreadableSpec(why)),
    }
    match store.writable_entry(path) {
        Ok(None) => {}
        Ok(Some(entry)) => return fail(Broken::Writable { entry }),
        Err(error) => return fail(Broken::Unscannable(with_causes(&error))),
    }
    // A profile's links point into its packages: with contents read, a file gone from a
    // package breaks that package, and the profile with it, so the walk is not needed.
    if depth == Depth::Fast
        && meta.name.starts_with("profile-")
        && let Some(link) = dangling_link(path)
    {
        return fail(Broken::DanglingLink { link });
    }
    let mut contents = None;
    if depth == Depth::Contents
        && let Some(expected) = &meta.content_hash
    {
        match check_contents(path, expected) {
            Ok(bytes) => contents = Some(bytes),
            Err(why) => return fail(why),
        }
    }
    Verdict::Intact(Intact {
        id,
        imports: meta.imports,
        deps: meta.dependencies,
        contents,
    })
}

/// Scans an artifact and compares it with the content hash its artifact.json records;
/// returns the bytes of file contents read.
fn check_contents(path: &Path, expected: &str) -> Result<u64, Broken> {
    use crate::store::manifest::{Manifest, content_hash_of};
    let now = Manifest::scan(path).map_err(|error| Broken::Unscannable(error.to_string()))?;
    // The manifest written at commit must be the one the content hash covers: caches ship
    // it, and it names what changed.
    let recorded = std::fs::read(path.join(META_DIR).join(crate::store::MANIFEST_FILE))
        .ok()
        .filter(|text| content_hash_of(text) == expected)
        .and_then(|text| Manifest::parse(&text));
    let Some(recorded) = recorded else {
        return Err(Broken::ManifestEdited);
    };
    if now.content_hash() == expected {
        return Ok(now.file_bytes());
    }
    let changes = recorded.changes(&now);
    let total = changes.len();
    Err(Broken::Contents {
        changes: changes.into_iter().take(CHANGES_SHOWN).collect(),
        total,
    })
}

/// The first symlink of a profile tree whose target is gone.
fn dangling_link(profile: &Path) -> Option<PathBuf> {
    let mut stack = vec![profile.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let kind = entry.file_type().ok()?;
            if kind.is_symlink() {
                if std::fs::metadata(entry.path()).is_err() {
                    return Some(entry.path());
                }
            } else if kind.is_dir() && entry.file_name() != META_DIR {
                stack.push(entry.path());
            }
        }
    }
    None
}

/// The id `build.json` hashes to, and the artifacts it imports (sorted): a build spec, or
/// a profile's document (whose packages are its imports).
fn spec_id(artifact: &Path) -> Result<(ArtifactId, Vec<ArtifactId>), String> {
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
        let id = ArtifactId::new(name, &hash).map_err(|e| unreadable(&e))?;
        let packages = document["profile"]["packages"]
            .as_array()
            .ok_or_else(|| unreadable(&"a profile document without packages"))?;
        let mut imports = packages
            .iter()
            .map(|pair| {
                pair.get(1)
                    .and_then(|id| id.as_str())
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(|| unreadable(&format!("a package entry {pair} without an id")))
            })
            .collect::<Result<Vec<ArtifactId>, String>>()?;
        imports.sort();
        imports.dedup();
        return Ok((id, imports));
    }
    let spec = BuildSpec::from_json(&text).map_err(|e| unreadable(&e))?;
    let mut imports: Vec<ArtifactId> = spec.imports().iter().map(|i| i.id.clone()).collect();
    // What its `virtual:` imports resolved to when it was built.
    if let Some(serde_json::Value::Object(resolved)) = document.get(crate::build::VIRTUALS_FIELD) {
        for id in resolved.values() {
            let id = id
                .as_str()
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| unreadable(&format!("a resolved virtual import {id} is no id")))?;
            imports.push(id);
        }
    }
    imports.sort();
    imports.dedup();
    Ok((spec.id().clone(), imports))
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

/// Entries of the build dir that no running build or process owns, and entries hit did
/// not make there.
#[allow(clippy::type_complexity)]
fn build_leftovers(store: &Store) -> Result<(Vec<PathBuf>, Vec<PathBuf>), StoreError> {
    let mut leftovers = Vec::new();
    let mut foreign = Vec::new();
    let Ok(entries) = std::fs::read_dir(store.build_dir()) else {
        return Ok((leftovers, foreign));
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(crate::ownership::MARKER) {
            continue;
        }
        let stale = match BuildDirEntry::parse(&name) {
            Some(BuildDirEntry::Build(id) | BuildDirEntry::Check(id)) => {
                store.try_lock(&id)?.is_some()
            }
            // The pool of a live process is in use (or will be, by that process).
            Some(BuildDirEntry::Pool(pid)) => !Path::new(&format!("/proc/{pid}")).exists(),
            // gc's and purge's trash: nothing to wait for.
            Some(BuildDirEntry::Trash) => true,
            None => {
                foreign.push(path);
                continue;
            }
        };
        if stale {
            leftovers.push(path);
        }
    }
    leftovers.sort();
    Ok((leftovers, foreign))
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repaired {
    pub fixed: usize,
    pub cleaned: usize,
    /// Profile links with no intact generation to switch to.
    pub unfixable: usize,
    /// Directories at artifact places that hit cannot tell it made: left alone.
    pub unrecognized: usize,
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
                store.remove_dir(path)?;
                done.fixed += 1;
            }
            Problem::Unrecognized { .. } => done.unrecognized += 1,
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
