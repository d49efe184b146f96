//! `hit why` and `hit diff`: why two build specs have different ids, down to the cause.
//!
//! Two specs are compared field by field ([`hit_engine::spec::diff`]); `build.import` is
//! compared apart: imports are matched by their variable (`ref`, else the package name),
//! and an import whose id differs is itself explained, recursively, with the specs found
//! through a lookup (the plan being built, then the store). So "libpng changed" comes with
//! "because zlib changed, because its `version` went from 1.2.13 to 1.3". A pair met twice
//! (two packages that share a changed dependency) is explained once. This is what
//! nix-diff does for Nix derivations.
//!
//! `hit why PKG` compares what the profile evaluates to now with the spec of PKG in the
//! current generation of the profile's link; `hit diff A B` compares two artifacts (ids),
//! two build.json files, or two built profiles (links, or `LINK@N` for generation N),
//! package by package.

use super::contents::profile_contents;
use super::{Error, ProfileRequest, Result};
use hit_engine::home::Home;
use hit_engine::profile::links::ProfileLinks;
use hit_engine::spec::diff::{FieldChange, diff};
use hit_engine::spec::{ArtifactId, BuildSpec};
use hit_engine::store::{META_DIR, Store};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Why `old` and `new` (two specs of one package) differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecDiff {
    pub name: String,
    pub old: ArtifactId,
    pub new: ArtifactId,
    /// Fields that differ, imports left out.
    pub fields: Vec<FieldChange>,
    /// Imports added (`None` -> id) or dropped (id -> `None`), by variable.
    pub imports: Vec<(String, Option<ArtifactId>, Option<ArtifactId>)>,
    /// Imports whose id changed, explained.
    pub deps: Vec<DepChange>,
}

/// An import whose id changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepChange {
    Explained(SpecDiff),
    /// Explained above already.
    Again {
        old: ArtifactId,
        new: ArtifactId,
    },
    /// One of the two specs is neither in the plan nor in the store.
    Unknown {
        old: ArtifactId,
        new: ArtifactId,
    },
}

/// Compares two specs, following changed imports through `lookup`.
pub fn diff_specs(
    old: &BuildSpec,
    new: &BuildSpec,
    lookup: &dyn Fn(&ArtifactId) -> Option<BuildSpec>,
) -> SpecDiff {
    let mut seen = HashSet::new();
    explain(old, new, lookup, &mut seen)
}

fn explain(
    old: &BuildSpec,
    new: &BuildSpec,
    lookup: &dyn Fn(&ArtifactId) -> Option<BuildSpec>,
    seen: &mut HashSet<(ArtifactId, ArtifactId)>,
) -> SpecDiff {
    let fields = diff(old.document(), new.document())
        .into_iter()
        .filter(|change| !change.path.starts_with("$.build.import"))
        .collect();
    let by_variable = |spec: &BuildSpec| -> BTreeMap<String, ArtifactId> {
        spec.imports()
            .iter()
            .map(|import| {
                let key = import
                    .reference
                    .clone()
                    .unwrap_or_else(|| import.id.name().to_string());
                (key, import.id.clone())
            })
            .collect()
    };
    let (old_imports, new_imports) = (by_variable(old), by_variable(new));
    let mut imports = Vec::new();
    let mut deps = Vec::new();
    for (variable, old_id) in &old_imports {
        match new_imports.get(variable) {
            None => imports.push((variable.clone(), Some(old_id.clone()), None)),
            Some(new_id) if new_id == old_id => {}
            Some(new_id) => {
                let pair = (old_id.clone(), new_id.clone());
                let change = if seen.contains(&pair) {
                    DepChange::Again {
                        old: pair.0,
                        new: pair.1,
                    }
                } else {
                    seen.insert(pair.clone());
                    match (lookup(old_id), lookup(new_id)) {
                        (Some(a), Some(b)) => DepChange::Explained(explain(&a, &b, lookup, seen)),
                        _ => DepChange::Unknown {
                            old: pair.0,
                            new: pair.1,
                        },
                    }
                };
                deps.push(change);
            }
        }
    }
    for (variable, new_id) in &new_imports {
        if !old_imports.contains_key(variable) {
            imports.push((variable.clone(), None, Some(new_id.clone())));
        }
    }
    SpecDiff {
        name: new.name().to_string(),
        old: old.id().clone(),
        new: new.id().clone(),
        fields,
        imports,
        deps,
    }
}

impl SpecDiff {
    /// The chains from this package to each change that is not just a changed import:
    /// `["libpng", "zlib"]` with zlib's own fields.
    pub fn causes(&self) -> Vec<(Vec<String>, &SpecDiff)> {
        let mut found = Vec::new();
        self.collect_causes(&mut Vec::new(), &mut found);
        found
    }

    fn collect_causes<'a>(
        &'a self,
        chain: &mut Vec<String>,
        found: &mut Vec<(Vec<String>, &'a SpecDiff)>,
    ) {
        chain.push(self.name.clone());
        if !self.fields.is_empty() || !self.imports.is_empty() {
            found.push((chain.clone(), self));
        }
        for dep in &self.deps {
            if let DepChange::Explained(inner) = dep {
                inner.collect_causes(chain, found);
            }
        }
        chain.pop();
    }
}

/// What `hit why` found for one package.
#[derive(Debug, Clone)]
pub enum Why {
    /// The profile evaluates to the id the link has.
    Unchanged {
        id: ArtifactId,
        link: PathBuf,
    },
    /// The link's profile has no such package: it is new.
    New {
        id: ArtifactId,
        link: PathBuf,
    },
    Changed {
        diff: SpecDiff,
        link: PathBuf,
    },
}

/// Why `package` of the profile evaluates to another id than in the current generation of
/// `link` (default: the profile's link, `./<name>`).
pub fn why(
    home: &Home,
    package: &str,
    request: &ProfileRequest,
    link: Option<&Path>,
) -> Result<Why> {
    let plan = super::load_plan(request, None)?;
    let planned = super::package_of(&plan, package)?;
    let link = link.map_or_else(|| PathBuf::from(&plan.profile.name), Path::to_path_buf);
    if !link.is_dir() {
        return Err(Error::Input(format!(
            "no built profile at {}: `hit why` compares with the link `hit build` made (build \
             the profile once, or name the link with --link)",
            link.display()
        )));
    }
    let contents = profile_contents(
        home,
        &ProfileRequest {
            file: link.clone(),
            params: Vec::new(),
        },
    )?;
    let store = Store::for_home(home);
    // The old spec: the linked package, or else a build tool imported by one.
    let linked = contents.packages.iter().find(|p| p.name == package);
    let old = match linked {
        Some(linked) => stored_spec(&store, &linked.id),
        None => find_import(&store, &contents, package),
    };
    let Some(old) = old else {
        return Ok(Why::New {
            id: planned.spec.id().clone(),
            link,
        });
    };
    if old.id() == planned.spec.id() {
        return Ok(Why::Unchanged {
            id: old.id().clone(),
            link,
        });
    }
    let planned_specs: BTreeMap<&ArtifactId, &BuildSpec> = plan
        .packages
        .iter()
        .map(|p| (p.spec.id(), &p.spec))
        .collect();
    let lookup = |id: &ArtifactId| {
        planned_specs
            .get(id)
            .map(|spec| (*spec).clone())
            .or_else(|| stored_spec(&store, id))
    };
    Ok(Why::Changed {
        diff: diff_specs(&old, &planned.spec, &lookup),
        link,
    })
}

/// A package that a linked package imported (a build tool), by name.
fn find_import(
    store: &Store,
    contents: &super::contents::ProfileContents,
    name: &str,
) -> Option<BuildSpec> {
    contents
        .packages
        .iter()
        .flat_map(|package| &package.spec.imports)
        .find(|id| id.name().as_str() == name)
        .and_then(|id| stored_spec(store, id))
}

/// The spec an artifact in the store was built from.
fn stored_spec(store: &Store, id: &ArtifactId) -> Option<BuildSpec> {
    let path = store.resolve(id).ok()??;
    let text = std::fs::read_to_string(path.join(META_DIR).join("build.json")).ok()?;
    BuildSpec::from_json(&text).ok()
}

/// What `hit diff` compares.
#[derive(Debug, Clone)]
pub enum DiffOutcome {
    /// Two specs.
    Specs(SpecDiff),
    /// Two profiles, package by package.
    Profiles(ProfileDiff),
}

#[derive(Debug, Clone, Default)]
pub struct ProfileDiff {
    pub added: Vec<(String, ArtifactId)>,
    pub removed: Vec<(String, ArtifactId)>,
    pub changed: Vec<SpecDiff>,
}

/// Compares two artifacts (`name/hash`), two build.json files, or two built profiles (a
/// link or tree, or `LINK@N` for generation N of a link).
pub fn diff_targets(home: &Home, a: &str, b: &str) -> Result<DiffOutcome> {
    let store = Store::for_home(home);
    let lookup = |id: &ArtifactId| stored_spec(&store, id);
    match (profile_root(home, a)?, profile_root(home, b)?) {
        (Some(a), Some(b)) => {
            let read = |root: &Path| {
                profile_contents(
                    home,
                    &ProfileRequest {
                        file: root.to_path_buf(),
                        params: Vec::new(),
                    },
                )
            };
            let (old, new) = (read(&a)?, read(&b)?);
            let mut outcome = ProfileDiff::default();
            for package in &old.packages {
                match new.packages.iter().find(|p| p.name == package.name) {
                    None => outcome
                        .removed
                        .push((package.name.clone(), package.id.clone())),
                    Some(other) if other.id != package.id => {
                        let (Some(a), Some(b)) = (lookup(&package.id), lookup(&other.id)) else {
                            return Err(Error::Refused(format!(
                                "the spec of {} or {} cannot be read from the store; run \
                                 `hit verify`",
                                package.id, other.id
                            )));
                        };
                        outcome.changed.push(diff_specs(&a, &b, &lookup));
                    }
                    Some(_) => {}
                }
            }
            for package in &new.packages {
                if !old.packages.iter().any(|p| p.name == package.name) {
                    outcome
                        .added
                        .push((package.name.clone(), package.id.clone()));
                }
            }
            Ok(DiffOutcome::Profiles(outcome))
        }
        (None, None) => {
            let (old, new) = (spec_of(&store, a)?, spec_of(&store, b)?);
            Ok(DiffOutcome::Specs(diff_specs(&old, &new, &lookup)))
        }
        _ => Err(Error::Input(format!(
            "compare like with like: {a} and {b} are not both profiles (links) or both specs \
             (ids or build.json files)"
        ))),
    }
}

/// A profile tree named by a link or directory, or `LINK@N`; `None` for anything else.
fn profile_root(home: &Home, target: &str) -> Result<Option<PathBuf>> {
    if let Some((link, number)) = target.rsplit_once('@')
        && let Ok(number) = number.parse::<u32>()
    {
        let record = ProfileLinks::for_home(home).managed(Path::new(link))?;
        let generation = record.generation(number).ok_or_else(|| {
            Error::Input(format!(
                "{link} has no generation {number} (see `hit generations {link}`)"
            ))
        })?;
        return Ok(Some(generation.target.clone()));
    }
    let path = Path::new(target);
    Ok(path.is_dir().then(|| path.to_path_buf()))
}

/// A spec named by an artifact id (in the store) or a build.json file.
fn spec_of(store: &Store, target: &str) -> Result<BuildSpec> {
    let path = Path::new(target);
    if path.is_file() || target.ends_with(".json") {
        return super::read_spec(path);
    }
    let id: ArtifactId = target.parse().map_err(|error| {
        Error::Input(format!(
            "{target:?} is neither a file, a profile link nor an artifact id: {error}"
        ))
    })?;
    stored_spec(store, &id).ok_or_else(|| Error::Input(format!("{id} is not in the store")))
}
