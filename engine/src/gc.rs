//! Garbage collection: mark from the gc roots, sweep the rest.
//!
//! The roots are the profile links hit manages ([`crate::profile::links`]): what each link
//! points at, and each of its generations, in this home and in every other home that uses
//! the same store (the store lists them in `.homes/`; a home whose gc roots dir is gone is
//! dropped from that list). [`plan`] computes, without deleting anything:
//!
//! - the live roots, and the *stale* ones (the profile link was deleted, moved, or no
//!   longer points into the store); stale roots are dropped with their generations;
//! - the kept artifacts: each root's artifacts and the dependency closure recorded in their
//!   `artifact.json` (a profile records the closure of all its packages, build tools
//!   included, so that rebuilding stays instant), each with the root that reaches it;
//! - the artifacts to delete: every other artifact in the store, with its size;
//! - what it leaves alone: entries at an artifact's place whose metadata it cannot read
//!   (kept and reported: gc deletes only what it can prove is an unreachable artifact), and
//!   entries hit did not make ([`crate::ownership`]);
//! - stale claims (a build that was killed): claim symlinks and build directories whose id
//!   no process is building;
//! - unused sources: files in the source cache that no kept artifact's `build.json` names
//!   (git repositories are kept).
//!
//! [`apply`] deletes what the plan says; `hit gc --dry-run` prints the plan instead. gc holds
//! the store's lock exclusively ([`Store::exclusive`]) while builds hold it shared, so it
//! never deletes an artifact a running build uses.

use crate::errors::with_causes;
use crate::profile::ProfileError;
use crate::profile::links::{LinkRecord, LinkState, ProfileLinks};
use crate::source::SourceLayout;
use crate::spec::{ArtifactId, SourceKey};
use crate::store::{EntryKind, Store, StoreError};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// A gc that could not be planned or applied.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("{path}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> GcError + '_ {
    move |source| GcError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A managed profile link and what it keeps alive.
#[derive(Debug, Clone)]
pub struct Root {
    pub record: LinkRecord,
    /// The gc roots dir of the other home sharing the store that manages this link, or
    /// `None` for this home's own (only those are dropped when stale).
    pub home: Option<PathBuf>,
    /// Why the record no longer roots anything (its link was deleted or moved by hand).
    pub stale: Option<String>,
    /// The artifacts it roots directly, each with how (`./small`, `./small generation 2`).
    pub artifacts: Vec<(String, ArtifactId)>,
}

/// What gc would do, and why.
#[derive(Debug, Clone, Default)]
pub struct GcPlan {
    pub roots: Vec<Root>,
    /// Kept artifacts, with the root (and generation) that reaches each.
    pub keep: BTreeMap<ArtifactId, String>,
    /// Artifacts to delete, with path and size, dependents before their dependencies.
    pub delete: Vec<(ArtifactId, PathBuf, u64)>,
    /// Entries at an artifact's place that gc cannot prove are hit's unreachable artifacts
    /// (metadata unreadable, or naming another place), with why: kept.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Entries of the store that hit did not make: left alone.
    pub foreign: Vec<PathBuf>,
    /// Registrations of homes that used the store and whose gc roots dir is gone.
    pub gone_homes: Vec<(PathBuf, PathBuf)>,
    /// Claims left by killed builds.
    pub stale_claims: Vec<PathBuf>,
    /// Source cache files no kept artifact uses, with their size.
    pub unused_sources: Vec<(PathBuf, u64)>,
    /// Leftovers in the build dir, with their size: directories of failed or interrupted
    /// builds (but the newest failure of each package, unless all go), gc's and purge's
    /// trash, pools of processes that are gone; and downloads in the source cache's `tmp/`
    /// untouched for an hour.
    pub leftovers: Vec<(PathBuf, u64)>,
    /// The newest failed build of each package, kept for inspection.
    pub kept_failures: Vec<PathBuf>,
}

impl GcPlan {
    pub fn bytes(&self) -> u64 {
        self.delete.iter().map(|(_, _, size)| size).sum::<u64>()
            + self
                .unused_sources
                .iter()
                .map(|(_, size)| size)
                .sum::<u64>()
            + self.leftovers.iter().map(|(_, size)| size).sum::<u64>()
    }
}

/// What gc deletes besides what no root reaches.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcOptions {
    /// Also the newest failed build of each package (kept by default for inspection).
    pub all_failures: bool,
}

/// Reads the roots: every profile link hit manages, with its generations, in this home
/// and in the other homes registered with the store.
pub fn roots(store: &Store, links: &ProfileLinks) -> Result<Vec<Root>, GcError> {
    Ok(all_roots(store, links)?.0)
}

/// The roots, and the registrations of homes that are gone.
#[allow(clippy::type_complexity)]
fn all_roots(
    store: &Store,
    links: &ProfileLinks,
) -> Result<(Vec<Root>, Vec<(PathBuf, PathBuf)>), GcError> {
    let mut roots = Vec::new();
    let own = std::path::absolute(links.roots_dir()).map_err(io_error(links.roots_dir()))?;
    let mut gone = Vec::new();
    let mut homes = vec![(None, links.clone())];
    for (entry, dir) in store.homes()? {
        if dir == own {
            continue;
        }
        match std::fs::symlink_metadata(&dir) {
            Ok(_) => homes.push((Some(dir.clone()), ProfileLinks::new(dir, PathBuf::new()))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => gone.push((entry, dir)),
            Err(error) => return Err(io_error(&dir)(error)),
        }
    }
    for (home, links) in homes {
        for record in links.records()? {
            roots.push(root(store, record, home.clone()));
        }
    }
    Ok((roots, gone))
}

fn root(store: &Store, record: LinkRecord, home: Option<PathBuf>) -> Root {
    let stale = record.stale_reason(store);
    let mut artifacts = Vec::new();
    if stale.is_none() {
        let link = record.link.display().to_string();
        let id_at = |target: &Path| {
            target
                .starts_with(store.dir())
                .then(|| store.read_meta(target).ok().map(|meta| meta.id))
                .flatten()
        };
        // A link whose profile is gone (`hit verify` reports it) still roots its
        // generations.
        if let LinkState::Points(target) = &record.state
            && let Some(id) = id_at(target)
        {
            artifacts.push((link.clone(), id));
        }
        for generation in &record.generations {
            if Some(generation.number) != record.current
                && let Some(id) = id_at(&generation.target)
            {
                artifacts.push((format!("{link} generation {}", generation.number), id));
            }
        }
    }
    Root {
        record,
        home,
        stale,
        artifacts,
    }
}

/// The roots that keep `id` alive (`/x/small`, `/x/small generation 2`): those whose
/// profile is `id` or depends on it. `hit purge` refuses to remove what one of them uses.
pub fn roots_using(
    store: &Store,
    links: &ProfileLinks,
    id: &ArtifactId,
) -> Result<Vec<String>, GcError> {
    let mut using = Vec::new();
    for root in roots(store, links)? {
        for (how, root_id) in root.artifacts {
            let Some(path) = store.resolve(&root_id)? else {
                continue;
            };
            let meta = store.read_meta(&path)?;
            if meta.id == *id || meta.dependencies.contains(id) {
                using.push(how);
            }
        }
    }
    Ok(using)
}

/// Computes what gc would do (see the module doc).
pub fn plan(
    store: &Store,
    links: &ProfileLinks,
    sources: &SourceLayout,
    options: GcOptions,
) -> Result<GcPlan, GcError> {
    let (roots, gone_homes) = all_roots(store, links)?;
    let mut keep: BTreeMap<ArtifactId, String> = BTreeMap::new();
    for root in &roots {
        for (how, id) in &root.artifacts {
            let path = store.resolve(id)?.ok_or_else(|| StoreError::Meta {
                path: root.record.link.clone(),
                message: format!("{id} vanished"),
            })?;
            let meta = store.read_meta(&path)?;
            for live in std::iter::once(meta.id).chain(meta.dependencies) {
                keep.entry(live).or_insert_with(|| how.clone());
            }
        }
    }
    let mut delete = Vec::new();
    let mut stale_claims = Vec::new();
    let mut foreign = Vec::new();
    let mut unreadable = Vec::new();
    let mut used_sources: BTreeSet<PathBuf> = BTreeSet::new();
    let mut artifacts = Vec::new();
    for entry in store.entries()? {
        match entry.kind {
            EntryKind::Artifact => artifacts.push(entry.path),
            EntryKind::Claim => stale_claims.push(entry.path),
            EntryKind::Foreign => foreign.push(entry.path),
        }
    }
    let seen: Vec<Seen> = artifacts
        .par_iter()
        .map(|path| examine(store, path, &keep, sources))
        .collect();
    for (path, seen) in artifacts.into_iter().zip(seen) {
        match seen {
            Seen::Kept(sources) => used_sources.extend(sources),
            Seen::Unreachable(order, entry) => delete.push((order, entry)),
            Seen::Unreadable(why) => {
                used_sources.extend(sources_of(&path, sources));
                unreadable.push((path, why));
            }
        }
    }
    foreign.sort();
    // Dependents before their dependencies (a closure is larger than any closure in it):
    // a gc killed halfway leaves no artifact whose dependency is gone.
    delete.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.1.cmp(&b.1.1)));
    let delete: Vec<_> = delete.into_iter().map(|(_, entry)| entry).collect();
    let mut unused_sources = Vec::new();
    for kind in crate::source::layout::HASHED_DIRS {
        let dir = sources.root().join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let ours =
                crate::ownership::is_source_entry(kind, &entry.file_name().to_string_lossy())
                    && entry.file_type().is_ok_and(|kind| kind.is_file());
            if ours && !used_sources.contains(&path) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                unused_sources.push((path, size));
            }
        }
    }
    unused_sources.sort();
    let (leftovers, kept_failures) = leftovers(store, sources, options)?;
    Ok(GcPlan {
        leftovers,
        kept_failures,
        roots,
        keep,
        delete,
        unreadable,
        foreign,
        gone_homes,
        stale_claims,
        unused_sources,
    })
}

/// Leftovers of the build dir and the source cache's downloads (see [`GcPlan::leftovers`]).
/// No build runs during gc (it holds the store exclusively), so no build dir is in use;
/// a download by `hit fetch` may be, hence the hour.
#[allow(clippy::type_complexity)]
fn leftovers(
    store: &Store,
    sources: &SourceLayout,
    options: GcOptions,
) -> Result<(Vec<(PathBuf, u64)>, Vec<PathBuf>), GcError> {
    use crate::ownership::BuildDirEntry;
    let mut out = Vec::new();
    let mut failures: BTreeMap<String, Vec<(std::time::SystemTime, PathBuf)>> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(store.build_dir()) {
        for entry in entries.flatten() {
            let path = entry.path();
            match BuildDirEntry::parse(&entry.file_name().to_string_lossy()) {
                Some(BuildDirEntry::Build(id) | BuildDirEntry::Check(id)) => {
                    let modified = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    failures
                        .entry(id.name().to_string())
                        .or_default()
                        .push((modified, path));
                }
                Some(BuildDirEntry::Pool(_) | BuildDirEntry::Trash) => {
                    let size = tree_size(&path);
                    out.push((path, size));
                }
                None => {}
            }
        }
    }
    let mut kept = Vec::new();
    for (_, mut dirs) in failures {
        dirs.sort();
        if !options.all_failures
            && let Some((_, newest)) = dirs.pop()
        {
            kept.push(newest);
        }
        for (_, path) in dirs {
            let size = tree_size(&path);
            out.push((path, size));
        }
    }
    let downloads = sources.downloads_dir();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    if let Ok(entries) = std::fs::read_dir(&downloads) {
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && meta.modified().is_ok_and(|time| time < hour_ago) {
                out.push((entry.path(), meta.len()));
            }
        }
    }
    out.sort();
    kept.sort();
    Ok((out, kept))
}

/// What gc learned about one artifact.
enum Seen {
    /// Kept; the cache files its sources came from.
    Kept(Vec<PathBuf>),
    /// Unreachable: its deletion order (closure size) and `(id, path, size)`.
    Unreachable(usize, (ArtifactId, PathBuf, u64)),
    /// Not provably an artifact of hit's (why): kept.
    Unreadable(String),
}

fn examine(
    store: &Store,
    path: &Path,
    keep: &BTreeMap<ArtifactId, String>,
    sources: &SourceLayout,
) -> Seen {
    match store.read_meta(path) {
        Ok(meta) if !crate::ownership::is_place_of(path, &meta.id) => Seen::Unreadable(format!(
            "its artifact.json names {}, which does not belong here",
            meta.id
        )),
        Ok(meta) if keep.contains_key(&meta.id) => Seen::Kept(sources_of(path, sources)),
        Ok(meta) => Seen::Unreachable(
            meta.dependencies.len(),
            (meta.id, path.to_path_buf(), tree_size(path)),
        ),
        Err(error) => Seen::Unreadable(with_causes(&error)),
    }
}

/// The cache files an artifact's sources came from. Reads only the source keys of its
/// `build.json` (the store checked the whole spec when it built the artifact).
fn sources_of(artifact: &Path, sources: &SourceLayout) -> Vec<PathBuf> {
    let Ok(text) =
        std::fs::read_to_string(artifact.join(crate::store::META_DIR).join("build.json"))
    else {
        return Vec::new();
    };
    #[derive(serde::Deserialize)]
    struct Keys {
        #[serde(default)]
        sources: Vec<Key>,
    }
    #[derive(serde::Deserialize)]
    struct Key {
        key: String,
    }
    // Profiles have their own document, without sources.
    let Ok(keys) = serde_json::from_str::<Keys>(&text) else {
        return Vec::new();
    };
    keys.sources
        .iter()
        .filter_map(|source| sources.file_of(&source.key.parse::<SourceKey>().ok()?))
        .collect()
}

fn tree_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => stack.push(entry.path()),
                Ok(kind) if kind.is_file() => {
                    total += entry.metadata().map(|m| m.len()).unwrap_or(0)
                }
                _ => {}
            }
        }
    }
    total
}

fn build_dir_id(path: &Path) -> Option<ArtifactId> {
    match crate::ownership::BuildDirEntry::parse(&path.file_name()?.to_string_lossy())? {
        crate::ownership::BuildDirEntry::Build(id) | crate::ownership::BuildDirEntry::Check(id) => {
            Some(id)
        }
        _ => None,
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub artifacts: usize,
    /// Registrations of homes that are gone.
    pub homes: usize,
    pub sources: usize,
    pub claims: usize,
    pub roots: usize,
    /// Leftovers of failed or interrupted work cleared.
    pub leftovers: usize,
    pub bytes: u64,
}

/// Deletes what `plan` says: stale roots, unreachable artifacts, stale claims, unused
/// sources. The caller holds [`Store::exclusive`].
pub fn apply(
    store: &Store,
    links: &ProfileLinks,
    plan: &GcPlan,
    sources: &SourceLayout,
) -> Result<GcReport, GcError> {
    let mut report = GcReport::default();
    // Stale records of other homes are theirs to drop.
    for root in plan
        .roots
        .iter()
        .filter(|root| root.stale.is_some() && root.home.is_none())
    {
        links.drop_record(&root.record)?;
        report.roots += 1;
    }
    for (entry, _) in &plan.gone_homes {
        store.forget_home(entry)?;
        report.homes += 1;
    }
    // Out of the store one by one, dependents first (a gc killed halfway leaves no
    // artifact whose dependency is gone), into one trash; then deleted on all cores.
    if !plan.delete.is_empty() {
        let mut trash = store.trash()?;
        for (_, path, size) in &plan.delete {
            trash.take(store, path)?;
            report.artifacts += 1;
            report.bytes += size;
        }
        trash.empty()?;
    }
    for claim in &plan.stale_claims {
        if store.remove_stale_claim(claim)? {
            report.claims += 1;
        }
    }
    for (path, size) in &plan.leftovers {
        if let Some(id) = build_dir_id(path) {
            // A killed hit's commands may still run in there.
            crate::store::kill_build_processes(&path.join("build"));
            // A build of that id started since the plan: not a leftover any more.
            let Some(_lock) = store.try_lock(&id)? else {
                continue;
            };
            store.remove_leftover(path)?;
        } else {
            store.remove_leftover(path)?;
        }
        report.leftovers += 1;
        report.bytes += size;
    }
    for (path, size) in &plan.unused_sources {
        if let Some(alias) = sources.alias_of_file(path) {
            let _ = std::fs::remove_file(alias);
        }
        std::fs::remove_file(path).map_err(io_error(path))?;
        report.sources += 1;
        report.bytes += size;
    }
    Ok(report)
}
