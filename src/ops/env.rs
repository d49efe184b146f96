//! `hit env` and `hit shell`: the variables that put a built profile in use, and the same
//! for one package (a module file).
//!
//! Each variable gets the tree's directories that exist, prepended: `PATH` (`bin`),
//! `MANPATH` (`share/man`), `PKG_CONFIG_PATH` (`lib/pkgconfig`, `share/pkgconfig`),
//! `ACLOCAL_PATH` (`share/aclocal`), `CMAKE_PREFIX_PATH` (the tree itself), and with
//! `dev`, for compilers outside a build, `CPATH` (`include`) and `LIBRARY_PATH` (`lib`).
//! No `LD_LIBRARY_PATH`: hit's libraries find theirs by rpath. Then what each package's
//! recipe declares in `run_env` (kept in its spec as `nohash_run_env`), with `${ARTIFACT}`
//! standing for the tree: the profile for `hit env`, the package for its module.
//!
//! A profile link is used as given (made absolute, not resolved), so an environment made
//! from `./small` follows the link when `hit build` switches it.

use super::contents::{InstalledPackage, ProfileContents, profile_contents};
use super::{ProfileRequest, Result};
use hit_engine::home::Home;
use hit_engine::spec::EnvOp;
use std::path::{Path, PathBuf};

/// What a profile puts in the environment, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEnv {
    /// The profile: a link as given, or the profile artifact of a profile script.
    pub root: PathBuf,
    pub vars: Vec<EnvVar>,
}

/// One variable and what a tree does to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub variable: String,
    pub change: VarChange,
}

/// What is done to a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarChange {
    /// These entries go in front of a `:` list.
    Prepend(Vec<String>),
    /// These entries go at the end of a `:` list.
    Append(Vec<String>),
    /// The variable is set to this.
    Set(String),
}

/// The variables and the tree's directories they take.
const LAYOUT: &[(&str, &[&str])] = &[
    ("PATH", &["bin"]),
    ("MANPATH", &["share/man"]),
    ("PKG_CONFIG_PATH", &["lib/pkgconfig", "share/pkgconfig"]),
    ("ACLOCAL_PATH", &["share/aclocal"]),
    ("CMAKE_PREFIX_PATH", &[""]),
];

/// With `dev`: what compilers outside a build need to find headers and libraries.
const DEV_LAYOUT: &[(&str, &[&str])] = &[("CPATH", &["include"]), ("LIBRARY_PATH", &["lib"])];

/// The environment of `target`: a profile link or tree (a directory), or a profile script
/// (`*.rhai`, with its parameters), whose profile must be built.
pub fn profile_env(home: &Home, target: &ProfileRequest, dev: bool) -> Result<ProfileEnv> {
    let contents = profile_contents(home, target)?;
    Ok(env_of_profile(&contents, dev))
}

/// The environment of a profile whose contents are read.
pub fn env_of_profile(contents: &ProfileContents, dev: bool) -> ProfileEnv {
    let run_env = contents.packages.iter().flat_map(|p| &p.spec.run_env);
    ProfileEnv {
        root: contents.root.clone(),
        vars: env_of_tree(&contents.root, run_env, dev),
    }
}

/// The environment of one package of a profile, for its module file.
pub fn env_of_package(package: &InstalledPackage) -> Vec<EnvVar> {
    env_of_tree(&package.path, package.spec.run_env.iter(), false)
}

/// The layout's directories of `root` that exist, then the declared run-time changes with
/// `${ARTIFACT}` replaced by `root`. Entries of one variable and kind are merged.
fn env_of_tree<'a>(
    root: &Path,
    run_env: impl Iterator<Item = &'a hit_engine::spec::EnvChange>,
    dev: bool,
) -> Vec<EnvVar> {
    let mut vars: Vec<EnvVar> = Vec::new();
    let mut add = |variable: &str, change: VarChange| {
        let same = vars.iter_mut().find(|var| var.variable == variable);
        match (same.map(|var| &mut var.change), change) {
            (Some(VarChange::Prepend(have)), VarChange::Prepend(more))
            | (Some(VarChange::Append(have)), VarChange::Append(more)) => {
                for entry in more {
                    if !have.contains(&entry) {
                        have.push(entry);
                    }
                }
            }
            (_, change) => vars.push(EnvVar {
                variable: variable.to_owned(),
                change,
            }),
        }
    };
    for (variable, dirs) in LAYOUT.iter().chain(if dev { DEV_LAYOUT } else { &[] }) {
        let found: Vec<String> = dirs
            .iter()
            .map(|dir| {
                if dir.is_empty() {
                    root.to_path_buf()
                } else {
                    root.join(dir)
                }
            })
            .filter(|dir| dir.is_dir())
            .map(|dir| dir.display().to_string())
            .collect();
        if !found.is_empty() {
            add(variable, VarChange::Prepend(found));
        }
    }
    let root_text = root.display().to_string();
    for change in run_env {
        let value = change.value.replace("${ARTIFACT}", &root_text);
        let change_of = match change.op {
            EnvOp::PrependPath => VarChange::Prepend(vec![value]),
            EnvOp::AppendPath => VarChange::Append(vec![value]),
            // Flags are refused in recipes' `run_env`; a hand-written spec's are set.
            EnvOp::Set | EnvOp::PrependFlag | EnvOp::AppendFlag => VarChange::Set(value),
        };
        add(&change.variable, change_of);
    }
    vars
}

impl ProfileEnv {
    /// The variables' values with the profile applied to what `current` gives.
    pub fn applied(&self, current: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|var| {
                let rest = current(&var.variable).filter(|value| !value.is_empty());
                let value = match &var.change {
                    VarChange::Prepend(entries) => {
                        let mut parts = entries.clone();
                        parts.extend(rest);
                        parts.join(":")
                    }
                    VarChange::Append(entries) => {
                        let mut parts: Vec<String> = rest.into_iter().collect();
                        parts.extend(entries.iter().cloned());
                        parts.join(":")
                    }
                    VarChange::Set(value) => value.clone(),
                };
                (var.variable.clone(), value)
            })
            .collect()
    }

    /// The variables' values with the profile taken out of what `current` gives: its
    /// entries removed from lists, what it set unset (`None`), as is an emptied list.
    pub fn removed(
        &self,
        current: impl Fn(&str) -> Option<String>,
    ) -> Vec<(String, Option<String>)> {
        self.vars
            .iter()
            .map(|var| {
                let value = match &var.change {
                    VarChange::Prepend(entries) | VarChange::Append(entries) => {
                        let kept: Vec<String> = current(&var.variable)
                            .unwrap_or_default()
                            .split(':')
                            .filter(|part| !part.is_empty() && !entries.iter().any(|e| e == part))
                            .map(str::to_owned)
                            .collect();
                        (!kept.is_empty()).then(|| kept.join(":"))
                    }
                    VarChange::Set(_) => None,
                };
                (var.variable.clone(), value)
            })
            .collect()
    }
}
