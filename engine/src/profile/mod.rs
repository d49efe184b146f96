//! Profiles: a prefix tree (`bin/`, `lib/`, ...) of relative symlinks to the files of a set
//! of artifacts, stored as an artifact itself, and the `./<name>` link that points at it.
//!
//! A profile's identity is the hash (kind `profile`) of its document:
//!
//! ```json
//! {"name": "profile-stack",
//!  "profile": {"format": 1, "packages": [["zlib", "zlib/dzes..."], ...], "prefer": ["zlib"]}}
//! ```
//!
//! so the same packages give the same profile, and a rebuild that changes nothing only
//! re-points the link. [`assemble`] builds the tree through the store's staging and commit
//! protocol (locks, whole-or-absent) like any artifact:
//!
//! - directories of all packages merge; every other entry (file or symlink) becomes a
//!   relative symlink to the package's entry, so the store can move as a whole;
//! - two packages providing the same path is an error naming both, unless one of them is
//!   in `prefer` (earlier wins); a directory in one and a file in the other is always one;
//! - `.hit/` of packages is not linked.
//!
//! [`links`] manages the `./<name>` links: the atomic switch, generations, rollback, and
//! the gc roots that keep every generation alive.

pub mod links;

use crate::spec::canonical::hash_document;
use crate::spec::{ArtifactId, PackageName, pretty_document};
use crate::store::{ArtifactMeta, META_DIR, META_FORMAT, Store, StoreError};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};

/// What goes into a profile.
#[derive(Debug, Clone)]
pub struct ProfileSpec {
    pub name: String,
    /// Package name and artifact, in the profile's order.
    pub packages: Vec<(String, ArtifactId)>,
    /// Packages that win conflicts, first wins.
    pub prefer: Vec<String>,
}

/// A profile that could not be assembled or switched to.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(
        "both {first} and {second} provide {path}; name the one that should win in the profile's `prefer`"
    )]
    Conflict {
        path: PathBuf,
        first: String,
        second: String,
    },
    #[error("{package} provides {path} as a {kind} but {other} provides it as a directory")]
    DirectoryConflict {
        path: PathBuf,
        package: String,
        kind: &'static str,
        other: String,
    },
    #[error("{0} is not built")]
    Missing(ArtifactId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{0} exists and is not a symlink; move it away to let hit manage the profile link")]
    NotALink(PathBuf),
}

pub(crate) fn io_error<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ProfileError + 'a {
    move |source| ProfileError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

impl ProfileSpec {
    /// The artifact name of a profile: `profile-<name>`, with characters that are not
    /// allowed in names replaced by `-`, cut to the longest name allowed.
    pub fn artifact_name(&self) -> PackageName {
        let prefix = "profile-";
        let clean: String = self
            .name
            .chars()
            .take(crate::spec::MAX_NAME_LEN - prefix.len())
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        PackageName::new(&format!("{prefix}{clean}"))
            .expect("only allowed characters remain, and few enough")
    }

    pub fn document(&self) -> Value {
        let packages: Vec<Value> = self
            .packages
            .iter()
            .map(|(name, id)| json!([name, id.to_string()]))
            .collect();
        json!({
            "name": self.artifact_name().as_str(),
            "profile": {"format": 1, "packages": packages, "prefer": self.prefer},
        })
    }

    pub fn id(&self) -> ArtifactId {
        let hash =
            hash_document("profile", &self.document()).expect("profile documents hold no floats");
        ArtifactId::new(self.artifact_name(), &hash).expect("hash_document returns a valid hash")
    }
}

/// Builds the profile artifact unless it exists; returns its path and whether it was new.
pub fn assemble(store: &Store, spec: &ProfileSpec) -> Result<(PathBuf, bool), ProfileError> {
    let id = spec.id();
    if let Some(path) = store.resolve(&id)? {
        return Ok((path, false));
    }
    let mut packages = Vec::new();
    for (name, package) in &spec.packages {
        let path = store
            .resolve(package)?
            .ok_or_else(|| ProfileError::Missing(package.clone()))?;
        packages.push((name.clone(), package.clone(), path));
    }
    let lock = store.lock(&id)?;
    if let Some(path) = store.resolve(&id)? {
        return Ok((path, false));
    }
    let staging = store.stage(&id, &lock)?;
    let linked = plan_tree(&packages, &spec.prefer)
        .and_then(|tree| write_tree(&tree, &staging.stage_dir, &staging.artifact_dir));
    if let Err(error) = linked {
        store.abandon(&staging)?;
        return Err(error);
    }
    let mut dependencies = BTreeSet::new();
    for (_, package, path) in &packages {
        dependencies.insert(package.clone());
        dependencies.extend(store.read_meta(path)?.dependencies);
    }
    let meta = ArtifactMeta {
        format: META_FORMAT,
        id: id.clone(),
        name: id.name().to_string(),
        version: None,
        imports: packages
            .iter()
            .map(|(_, package, _)| package.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        dependencies: dependencies.into_iter().collect(),
        content_hash: None,
        relocatable: None,
        reproducible: None,
    };
    std::fs::write(
        &staging.log_path,
        format!(
            "hit: profile {} of {} packages\n",
            spec.name,
            packages.len()
        ),
    )
    .map_err(io_error("cannot write", &staging.log_path))?;
    let path = store.commit_profile(&staging, &meta, &pretty_document(&spec.document()))?;
    Ok((path, true))
}

/// One entry of the planned tree: a directory, or a link to a package's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir { package: String },
    Link { package: String, target: PathBuf },
}

/// One entry of a package's tree, in the order the merge visits them.
struct Found {
    path: PathBuf,
    is_dir: bool,
    target: PathBuf,
}

/// Every entry of a package (`.hit/` left out), depth first, each directory's entries in
/// name order, as [`plan_tree`] merges them.
fn list_package(root: &Path) -> Result<Vec<Found>, ProfileError> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let dir = root.join(&relative);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io_error("cannot read", &dir))?
            .collect::<Result<_, _>>()
            .map_err(io_error("cannot read", &dir))?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            if relative.as_os_str().is_empty() && entry.file_name() == META_DIR {
                continue;
            }
            let path = relative.join(entry.file_name());
            let is_dir = entry
                .file_type()
                .map_err(io_error("cannot read", &entry.path()))?
                .is_dir();
            if is_dir {
                stack.push(path.clone());
            }
            found.push(Found {
                path,
                is_dir,
                target: entry.path(),
            });
        }
    }
    Ok(found)
}

/// The merged tree of the packages (read on all cores, merged in the profile's order).
fn plan_tree(
    packages: &[(String, ArtifactId, PathBuf)],
    prefer: &[String],
) -> Result<BTreeMap<PathBuf, Entry>, ProfileError> {
    let rank = |name: &str| prefer.iter().position(|p| p == name).unwrap_or(usize::MAX);
    let listings: Vec<Vec<Found>> = packages
        .par_iter()
        .map(|(_, _, root)| list_package(root))
        .collect::<Result<_, _>>()?;
    let mut tree: BTreeMap<PathBuf, Entry> = BTreeMap::new();
    for ((name, _, _), listing) in packages.iter().zip(listings) {
        for Found {
            path,
            is_dir,
            target,
        } in listing
        {
            match (tree.get(&path), is_dir) {
                (None, true) => {
                    tree.insert(
                        path,
                        Entry::Dir {
                            package: name.clone(),
                        },
                    );
                }
                (None, false) => {
                    tree.insert(
                        path,
                        Entry::Link {
                            package: name.clone(),
                            target,
                        },
                    );
                }
                (Some(Entry::Dir { .. }), true) => {}
                (Some(Entry::Dir { package }), false) => {
                    return Err(ProfileError::DirectoryConflict {
                        path,
                        package: name.clone(),
                        kind: "file",
                        other: package.clone(),
                    });
                }
                (Some(Entry::Link { package, .. }), true) => {
                    return Err(ProfileError::DirectoryConflict {
                        path,
                        package: package.clone(),
                        kind: "file",
                        other: name.clone(),
                    });
                }
                (Some(Entry::Link { package, .. }), false) => {
                    let (theirs, ours) = (rank(package), rank(name));
                    if theirs == usize::MAX && ours == usize::MAX {
                        return Err(ProfileError::Conflict {
                            path,
                            first: package.clone(),
                            second: name.clone(),
                        });
                    }
                    if ours < theirs {
                        tree.insert(
                            path,
                            Entry::Link {
                                package: name.clone(),
                                target,
                            },
                        );
                    }
                }
            }
        }
    }
    Ok(tree)
}

/// Writes the tree into `stage`; links are relative to where the profile will live
/// (`home`). Directories first, in order; then the links, on all cores (links in different
/// directories are made in parallel by the kernel).
fn write_tree(
    tree: &BTreeMap<PathBuf, Entry>,
    stage: &Path,
    home: &Path,
) -> Result<(), ProfileError> {
    let mut links = Vec::new();
    for (relative, entry) in tree {
        match entry {
            Entry::Dir { .. } => {
                let path = stage.join(relative);
                std::fs::create_dir_all(&path).map_err(io_error("cannot create", &path))?
            }
            Entry::Link { target, .. } => links.push((relative, target)),
        }
    }
    links.par_iter().try_for_each(|(relative, target)| {
        let path = stage.join(relative);
        let from = home.join(relative);
        let link = relative_path(from.parent().expect("entries have a parent"), target);
        std::os::unix::fs::symlink(&link, &path).map_err(io_error("cannot link", &path))
    })
}

/// The path of `to` relative to the directory `from` (both absolute, lexically clean).
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in shared..from.len() {
        out.push("..");
    }
    for part in &to[shared..] {
        out.push(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_shared_prefix() {
        assert_eq!(
            relative_path(
                Path::new("/h/bld/profile-x/abc/lib"),
                Path::new("/h/bld/zlib/def/lib/libz.so")
            ),
            PathBuf::from("../../../zlib/def/lib/libz.so")
        );
        assert_eq!(
            relative_path(Path::new("/a/b"), Path::new("/a/b/c")),
            PathBuf::from("c")
        );
    }
}
