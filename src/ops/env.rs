//! `hit env` and `hit shell`: the variables that put a built profile in use.
//!
//! Each variable gets the profile's directories that exist, prepended: `PATH` (`bin`),
//! `MANPATH` (`share/man`), `PKG_CONFIG_PATH` (`lib/pkgconfig`, `share/pkgconfig`),
//! `ACLOCAL_PATH` (`share/aclocal`), `CMAKE_PREFIX_PATH` (the profile itself), and with
//! `dev`, for compilers outside a build, `CPATH` (`include`) and `LIBRARY_PATH` (`lib`).
//! No `LD_LIBRARY_PATH`: hit's libraries find theirs by rpath.
//!
//! A profile link is used as given (made absolute, not resolved), so an environment made
//! from `./small` follows the link when `hit build` switches it.

use super::{Error, ProfileRequest, Result};
use hit_engine::home::Home;
use hit_engine::store::Store;
use std::path::PathBuf;

/// What a profile puts in the environment, in order: variable -> directories to prepend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEnv {
    /// The profile: a link as given, or the profile artifact of a profile script.
    pub root: PathBuf,
    pub vars: Vec<(String, Vec<PathBuf>)>,
}

/// The variables and the profile directories they take.
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
    let root = if target.file.is_dir() {
        if !target.params.is_empty() {
            return Err(Error::Input(
                "KEY=VALUE parameters are for a profile script, not a built profile".into(),
            ));
        }
        std::path::absolute(&target.file).map_err(Error::io(target.file.display().to_string()))?
    } else {
        built_profile(home, target)?
    };
    let mut vars = Vec::new();
    for (variable, dirs) in LAYOUT.iter().chain(if dev { DEV_LAYOUT } else { &[] }) {
        let found: Vec<PathBuf> = dirs
            .iter()
            .map(|dir| {
                if dir.is_empty() {
                    root.clone()
                } else {
                    root.join(dir)
                }
            })
            .filter(|dir| dir.is_dir())
            .collect();
        if !found.is_empty() {
            vars.push(((*variable).to_owned(), found));
        }
    }
    Ok(ProfileEnv { root, vars })
}

/// The store path of a profile script's profile artifact, which must be built.
fn built_profile(home: &Home, request: &ProfileRequest) -> Result<PathBuf> {
    let plan = super::load_plan(request, None)?;
    let spec = super::profile_spec(&plan);
    Store::for_home(home).resolve(&spec.id())?.ok_or_else(|| {
        Error::Refused(format!(
            "profile {} is not built; `hit build {}` first",
            plan.profile.name,
            request.file.display()
        ))
    })
}

impl ProfileEnv {
    /// The variables' values with the profile in front of what `current` gives.
    pub fn applied(&self, current: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(variable, dirs)| {
                let mut parts: Vec<String> =
                    dirs.iter().map(|dir| dir.display().to_string()).collect();
                parts.extend(current(variable).filter(|value| !value.is_empty()));
                (variable.clone(), parts.join(":"))
            })
            .collect()
    }
}
