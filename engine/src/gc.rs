//! Garbage collection: mark from the gc roots, sweep the rest.
//!
//! A root is a symlink in `<gc_roots>/` to a profile link (`./small`), which points at a
//! profile artifact. [`plan`] computes, without deleting anything:
//!
//! - the live roots, and the *stale* ones (the profile link was deleted, moved, or no
//!   longer points into the store); stale roots are dropped;
//! - the kept artifacts: each root's artifact and the dependency closure recorded in its
//!   `artifact.json` (a profile records the closure of all its packages, build tools
//!   included, so that rebuilding stays instant), each with the root that reaches it;
//! - the artifacts to delete: everything else in the store, with its size;
//! - stale claims (a build that was killed): claim symlinks and build directories whose id
//!   no process is building;
//! - unused sources: files in the source cache that no kept artifact's `build.json` names
//!   (git repositories are kept).
//!
//! [`apply`] deletes what the plan says; `hit gc --dry-run` prints the plan instead. gc holds
//! the store's lock exclusively ([`Store::exclusive`]) while builds hold it shared, so it
//! never deletes an artifact a running build uses.

use crate::spec::canonical::base32_lower;
use crate::spec::{ArtifactId, BuildSpec, SourceKey};
use crate::store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// A gc that could not be planned or applied.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> GcError + '_ {
    move |source| GcError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A root and what it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The entry in the gc roots dir.
    pub entry: PathBuf,
    /// The profile link it names.
    pub link: PathBuf,
    /// The artifact the link points at; `None` for a stale root, with the reason.
    pub artifact: Result<ArtifactId, String>,
}

/// What gc would do, and why.
#[derive(Debug, Clone, Default)]
pub struct GcPlan {
    pub roots: Vec<Root>,
    /// Kept artifacts, with the link of a root that reaches each.
    pub keep: BTreeMap<ArtifactId, PathBuf>,
    /// Artifacts to delete (`None` when their metadata is unreadable), with path and size.
    pub delete: Vec<(Option<ArtifactId>, PathBuf, u64)>,
    /// Claims left by killed builds.
    pub stale_claims: Vec<PathBuf>,
    /// Source cache files no kept artifact uses, with their size.
    pub unused_sources: Vec<(PathBuf, u64)>,
}

impl GcPlan {
    pub fn bytes(&self) -> u64 {
        self.delete.iter().map(|(_, _, size)| size).sum::<u64>()
            + self
                .unused_sources
                .iter()
                .map(|(_, size)| size)
                .sum::<u64>()
    }
}

/// Reads the roots: each entry of `gc_roots` that is a symlink to a profile link.
pub fn roots(store: &Store, gc_roots: &Path) -> Result<Vec<Root>, GcError> {
    let mut roots = Vec::new();
    let entries = match std::fs::read_dir(gc_roots) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(roots),
        Err(error) => return Err(io_error(gc_roots)(error)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error(gc_roots))?.path();
        let Ok(link) = std::fs::read_link(&entry) else {
            continue;
        };
        let artifact = match std::fs::read_link(&link) {
            Err(_) if !link.exists() && std::fs::symlink_metadata(&link).is_err() => {
                Err(format!("{} no longer exists", link.display()))
            }
            Err(_) => Err(format!("{} is no longer a symlink", link.display())),
            Ok(target) => match store.read_meta(&target) {
                Ok(meta) if target.starts_with(store.dir()) => Ok(meta.id),
                _ => Err(format!(
                    "{} points at {}, which is not an artifact",
                    link.display(),
                    target.display()
                )),
            },
        };
        roots.push(Root {
            entry,
            link,
            artifact,
        });
    }
    roots.sort_by(|a, b| a.link.cmp(&b.link));
    Ok(roots)
}

/// Computes what gc would do (see the module doc).
pub fn plan(store: &Store, gc_roots: &Path, source_dir: &Path) -> Result<GcPlan, GcError> {
    let roots = roots(store, gc_roots)?;
    let mut keep: BTreeMap<ArtifactId, PathBuf> = BTreeMap::new();
    for root in &roots {
        let Ok(id) = &root.artifact else { continue };
        let path = store.resolve(id)?.ok_or_else(|| StoreError::Meta {
            path: root.link.clone(),
            message: format!("{id} vanished"),
        })?;
        let meta = store.read_meta(&path)?;
        for live in std::iter::once(meta.id).chain(meta.dependencies) {
            keep.entry(live).or_insert_with(|| root.link.clone());
        }
    }
    let mut delete = Vec::new();
    let mut stale_claims = Vec::new();
    let mut used_sources: BTreeSet<PathBuf> = BTreeSet::new();
    for (path, is_dir) in store.entries()? {
        if !is_dir {
            if std::fs::read_link(&path).is_ok() {
                stale_claims.push(path);
            }
            continue;
        }
        match store.read_meta(&path) {
            Ok(meta) if keep.contains_key(&meta.id) => {
                used_sources.extend(sources_of(&path, source_dir));
            }
            Ok(meta) => delete.push((Some(meta.id), path.clone(), tree_size(&path))),
            Err(_) => delete.push((None, path.clone(), tree_size(&path))),
        }
    }
    let mut unused_sources = Vec::new();
    for kind in ["sha256", "files"] {
        let dir = source_dir.join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !used_sources.contains(&path) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                unused_sources.push((path, size));
            }
        }
    }
    delete.sort_by(|a, b| a.1.cmp(&b.1));
    unused_sources.sort();
    Ok(GcPlan {
        roots,
        keep,
        delete,
        stale_claims,
        unused_sources,
    })
}

/// The cache files an artifact's sources came from.
fn sources_of(artifact: &Path, source_dir: &Path) -> Vec<PathBuf> {
    let Ok(text) =
        std::fs::read_to_string(artifact.join(crate::store::META_DIR).join("build.json"))
    else {
        return Vec::new();
    };
    // Profiles have their own document; they use no sources.
    let Ok(spec) = BuildSpec::from_json(&text) else {
        return Vec::new();
    };
    spec.sources()
        .iter()
        .filter_map(|source| match &source.key {
            SourceKey::Sha256(hex) => Some(source_dir.join("sha256").join(hex)),
            SourceKey::Archive { digest, .. } => {
                std::fs::read_link(source_dir.join("b32").join(digest))
                    .ok()
                    .and_then(|target| {
                        target
                            .file_name()
                            .map(|hex| source_dir.join("sha256").join(hex))
                    })
            }
            SourceKey::Files(digest) => Some(source_dir.join("files").join(digest)),
            SourceKey::Git(_) => None,
        })
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

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub artifacts: usize,
    pub sources: usize,
    pub claims: usize,
    pub roots: usize,
    pub bytes: u64,
}

/// Deletes what `plan` says: stale roots, unreachable artifacts, stale claims, unused
/// sources. The caller holds [`Store::exclusive`].
pub fn apply(store: &Store, plan: &GcPlan, source_dir: &Path) -> Result<GcReport, GcError> {
    let mut report = GcReport::default();
    for root in plan.roots.iter().filter(|root| root.artifact.is_err()) {
        std::fs::remove_file(&root.entry).map_err(io_error(&root.entry))?;
        report.roots += 1;
    }
    for (_, path, size) in &plan.delete {
        store.remove_dir(path)?;
        report.artifacts += 1;
        report.bytes += size;
    }
    for claim in &plan.stale_claims {
        if store.remove_stale_claim(claim)? {
            report.claims += 1;
        }
    }
    for (path, size) in &plan.unused_sources {
        if let Some(hex) = path.file_name().and_then(|n| n.to_str())
            && path.parent().is_some_and(|p| p.ends_with("sha256"))
        {
            let bytes: Vec<u8> = (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect();
            if bytes.len() == 32 {
                let _ =
                    std::fs::remove_file(source_dir.join("b32").join(base32_lower(&bytes[..20])));
            }
        }
        std::fs::remove_file(path).map_err(io_error(path))?;
        report.sources += 1;
        report.bytes += size;
    }
    Ok(report)
}
