//! Lockfiles: `hit lock` pins what a profile evaluates to, `hit build --locked` refuses to
//! build anything else, and `hit fetch --lock` fetches every source ahead of time (for a
//! cluster without network).
//!
//! A lockfile is JSON, keys sorted and one package per entry in build order, so that a
//! change reads as a small diff:
//!
//! ```json
//! {"format": 1, "hit": "0.1.0", "profile": "small", "profile_id": "profile-small/...",
//!  "params": {...},
//!  "packages": [{"name": "zlib", "version": "1.2.13", "id": "zlib/dzes...", "linked": true,
//!                "params": {...}, "sources": [{"key": "sha256:...", "url": "..."}]}]}
//! ```
//!
//! `params` are the profile's parameters as they applied (its own, its parents', the
//! command line's); a package's `params` are what the profile set for that package alone.
//! The ids already cover everything (a changed parameter that reaches a recipe changes its
//! id); the rest is there so that a person, and [`compare`], can say *what* changed.
//! Inline `files:` sources are listed by key only: they come with the recipes.

use super::{Error, ProfileRequest, Result, load_plan};
use hit_engine::spec::{ArtifactId, SourceSpec};
use hit_lang::Plan;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The lockfile format this hit writes and reads.
pub const FORMAT: u64 = 1;

/// A profile's packages, pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockfile {
    pub hit_version: String,
    pub profile: String,
    pub profile_id: String,
    pub params: Map<String, Value>,
    pub packages: Vec<LockedPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    pub name: String,
    pub version: Option<String>,
    pub id: ArtifactId,
    pub linked: bool,
    /// The packages it is built with (run-time and build-only), by name.
    pub deps: Vec<String>,
    pub params: Map<String, Value>,
    /// Each source's entry as the spec has it, `files` contents left out.
    pub sources: Vec<Value>,
}

/// Where `hit lock` writes a profile's lockfile: beside it, `.rhai` replaced by `.lock`.
pub fn default_path(profile: &Path) -> PathBuf {
    profile.with_extension("lock")
}

/// The lockfile of what `request` evaluates to now.
pub fn lock(request: &ProfileRequest) -> Result<Lockfile> {
    let plan = load_plan(request, None)?;
    Ok(Lockfile::of_plan(
        &plan,
        &super::parse_params(&request.params)?,
    ))
}

impl Lockfile {
    /// The lockfile of a plan made with `command_line` parameters.
    pub fn of_plan(plan: &Plan, command_line: &Map<String, Value>) -> Self {
        let mut params = plan.profile.params.clone();
        params.extend(command_line.clone());
        let packages = plan
            .packages
            .iter()
            .map(|package| LockedPackage {
                name: package.name.clone(),
                version: package.spec.version().map(str::to_owned),
                id: package.spec.id().clone(),
                linked: package.linked,
                deps: package
                    .recipe
                    .deps
                    .iter()
                    .chain(&package.recipe.build_deps)
                    .cloned()
                    .collect(),
                params: plan
                    .profile
                    .packages
                    .iter()
                    .find(|(name, _)| *name == package.name)
                    .map(|(_, settings)| settings.params.clone())
                    .unwrap_or_default(),
                sources: package.spec.sources().iter().map(source_entry).collect(),
            })
            .collect();
        Self {
            hit_version: env!("CARGO_PKG_VERSION").to_owned(),
            profile: plan.profile.name.clone(),
            profile_id: super::profile_spec(plan).id().to_string(),
            params,
            packages,
        }
    }

    /// Sorted, pretty JSON ending in a newline.
    pub fn to_json(&self) -> String {
        let packages: Vec<Value> = self
            .packages
            .iter()
            .map(|package| {
                json!({
                    "name": package.name,
                    "version": package.version,
                    "id": package.id.to_string(),
                    "linked": package.linked,
                    "deps": package.deps,
                    "params": package.params,
                    "sources": package.sources,
                })
            })
            .collect();
        let document = json!({
            "format": FORMAT,
            "hit": self.hit_version,
            "profile": self.profile,
            "profile_id": self.profile_id,
            "params": self.params,
            "packages": packages,
        });
        hit_engine::spec::pretty_document(&document)
    }

    /// Writes the lockfile to `path` (whole or not at all).
    pub fn write(&self, path: &Path) -> Result<()> {
        super::write_atomically(path, &self.to_json())
    }

    /// Reads a lockfile, with errors that say what is wrong with it and where.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        let bad = |what: String| Error::Input(format!("lockfile {}: {what}", path.display()));
        let document: Value =
            serde_json::from_str(&text).map_err(|error| bad(error.to_string()))?;
        let format = document.get("format").and_then(Value::as_u64);
        match format {
            Some(FORMAT) => {}
            Some(newer) if newer > FORMAT => {
                return Err(bad(format!(
                    "written by a newer hit ({}, lockfile format {newer}); this hit reads \
                     format {FORMAT}: update hit, or run `hit lock` again",
                    document
                        .get("hit")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown version")
                )));
            }
            _ => return Err(bad("no lockfile format this hit knows (`format`)".into())),
        }
        let text_of = |value: &Value, key: &str, at: &str| -> Result<String> {
            value
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("{at}: `{key}` must be a string")))
        };
        let map_of = |value: &Value, key: &str, at: &str| -> Result<Map<String, Value>> {
            match value.get(key) {
                None => Ok(Map::new()),
                Some(Value::Object(map)) => Ok(map.clone()),
                Some(_) => Err(bad(format!("{at}: `{key}` must be an object"))),
            }
        };
        let mut packages = Vec::new();
        let listed = document
            .get("packages")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("`packages` must be a list".into()))?;
        for (index, entry) in listed.iter().enumerate() {
            let at = format!("packages[{index}]");
            let id = text_of(entry, "id", &at)?
                .parse()
                .map_err(|error: hit_engine::spec::IdError| bad(format!("{at}.id: {error}")))?;
            let sources = match entry.get("sources") {
                Some(Value::Array(sources)) => sources.clone(),
                _ => return Err(bad(format!("{at}: `sources` must be a list"))),
            };
            packages.push(LockedPackage {
                name: text_of(entry, "name", &at)?,
                version: entry
                    .get("version")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                id,
                linked: entry.get("linked").and_then(Value::as_bool).unwrap_or(true),
                deps: entry
                    .get("deps")
                    .and_then(Value::as_array)
                    .map(|deps| {
                        deps.iter()
                            .filter_map(|d| d.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                params: map_of(entry, "params", &at)?,
                sources,
            });
        }
        Ok(Self {
            hit_version: text_of(&document, "hit", "the lockfile")?,
            profile: text_of(&document, "profile", "the lockfile")?,
            profile_id: text_of(&document, "profile_id", "the lockfile")?,
            params: map_of(&document, "params", "the lockfile")?,
            packages,
        })
    }

    /// The sources to fetch, parsed from the entries (inline `files:` sources left out:
    /// they come with the recipes).
    pub fn sources(&self) -> Result<Vec<(String, SourceSpec)>> {
        let mut sources = Vec::new();
        for package in &self.packages {
            for entry in &package.sources {
                let key = entry.get("key").and_then(Value::as_str).unwrap_or_default();
                if key.starts_with("files:") {
                    continue;
                }
                let spec = SourceSpec::from_document(entry).map_err(|error| {
                    Error::Input(format!("lockfile, package {}: {error}", package.name))
                })?;
                sources.push((package.name.clone(), spec));
            }
        }
        Ok(sources)
    }
}

fn source_entry(source: &SourceSpec) -> Value {
    let mut entry = source.to_document();
    if let Value::Object(map) = &mut entry {
        map.remove("files");
    }
    entry
}

/// One way the current evaluation differs from a lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockDifference {
    /// In the lockfile, not in the profile now.
    Removed { name: String },
    /// In the profile now, not in the lockfile.
    Added { name: String, id: ArtifactId },
    /// Another id; `what` says what changed that a lockfile records (version, sources,
    /// params, dependencies), or is empty when only the recipe's build steps did.
    Changed {
        name: String,
        locked: ArtifactId,
        now: ArtifactId,
        what: Vec<String>,
    },
}

impl std::fmt::Display for LockDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Removed { name } => {
                write!(f, "{name}: in the lockfile, no longer in the profile")
            }
            Self::Added { name, id } => write!(f, "{name}: new in the profile ({id})"),
            Self::Changed {
                name,
                locked,
                now,
                what,
            } => {
                write!(f, "{name}: locked {}, now {}", locked.hash(), now.hash())?;
                if what.is_empty() {
                    write!(f, " (the recipe's build steps or environment changed)")
                } else {
                    write!(f, " ({})", what.join("; "))
                }
            }
        }
    }
}

/// How `now` differs from `locked`, package by package (empty: the same ids).
pub fn compare(locked: &Lockfile, now: &Lockfile) -> Vec<LockDifference> {
    let mut differences = Vec::new();
    for old in &locked.packages {
        match now.packages.iter().find(|new| new.name == old.name) {
            None => differences.push(LockDifference::Removed {
                name: old.name.clone(),
            }),
            Some(new) if new.id != old.id => {
                let mut what = Vec::new();
                if new.version != old.version {
                    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
                    what.push(format!(
                        "version {} -> {}",
                        show(&old.version),
                        show(&new.version)
                    ));
                }
                let keys = |p: &LockedPackage| -> Vec<String> {
                    p.sources
                        .iter()
                        .filter_map(|s| s.get("key").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                };
                let (old_keys, new_keys) = (keys(old), keys(new));
                if old_keys != new_keys {
                    what.push(format!(
                        "sources {} -> {}",
                        old_keys.join(", "),
                        new_keys.join(", ")
                    ));
                }
                if new.params != old.params {
                    what.push(format!(
                        "package params {} -> {}",
                        Value::Object(old.params.clone()),
                        Value::Object(new.params.clone())
                    ));
                }
                // Dependencies come first in a lockfile, so theirs are already compared.
                let deps_changed: Vec<&str> = new
                    .deps
                    .iter()
                    .filter(|dep| {
                        differences.iter().any(|difference| {
                            matches!(difference, LockDifference::Changed { name, .. } if name == *dep)
                        })
                    })
                    .map(String::as_str)
                    .collect();
                if !deps_changed.is_empty() {
                    what.push(format!("dependency changed: {}", deps_changed.join(", ")));
                }
                if what.is_empty() && locked.params != now.params {
                    what.push(format!(
                        "profile params {} -> {}",
                        Value::Object(locked.params.clone()),
                        Value::Object(now.params.clone())
                    ));
                }
                differences.push(LockDifference::Changed {
                    name: old.name.clone(),
                    locked: old.id.clone(),
                    now: new.id.clone(),
                    what,
                });
            }
            Some(_) => {}
        }
    }
    for new in &now.packages {
        if !locked.packages.iter().any(|old| old.name == new.name) {
            differences.push(LockDifference::Added {
                name: new.name.clone(),
                id: new.id.clone(),
            });
        }
    }
    differences
}
