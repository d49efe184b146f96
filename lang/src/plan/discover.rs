//! Step 2 of a plan: find and evaluate every recipe the profile needs.
//!
//! Starting from the profile's packages (minus `skip`), each package's recipe is found in
//! the package dirs (`<dir>/<name>.rhai` or `<dir>/<name>/<name>.rhai`, first dir wins;
//! `recipe` picks another recipe) and evaluated with its parameters (the profile's, then
//! the command line's, then the package's own); its `deps` and `build_deps` join the work
//! list. The list is depth first in the order the profile and recipes name things, and that
//! *discovery order* is the tie-break of the build order (see [`super::order`]).

use super::{Loader, at};
use crate::engine::Evaluator;
use crate::error::LangError;
use crate::profile::{PackageSettings, Profile};
use crate::recipe::Recipe;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A package whose recipe has been evaluated.
pub(super) struct Evaluated {
    pub file: PathBuf,
    pub source: String,
    pub recipe: Recipe,
    pub settings: PackageSettings,
}

impl Evaluated {
    /// An error pointing at the package's `recipe(...)` call.
    pub fn error(&self, message: String) -> LangError {
        at(&self.file, &self.source, self.recipe.position, message)
    }

    /// Its dependencies, run-time then build-time.
    pub fn needs(&self) -> impl Iterator<Item = &String> {
        self.recipe.deps.iter().chain(&self.recipe.build_deps)
    }
}

/// Every package the profile needs, and the order they were first named in.
pub(super) struct Discovered {
    pub packages: BTreeMap<String, Evaluated>,
    pub order: Vec<String>,
}

/// Where to report a package nobody provides: the profile file and its `profile(...)`.
pub(super) struct ProfileSite<'a> {
    pub file: &'a Path,
    pub source: &'a str,
    pub position: (usize, usize),
}

pub(super) fn discover(
    evaluator: &Evaluator,
    loader: &dyn Loader,
    profile: &Profile,
    site: &ProfileSite,
    params: &serde_json::Map<String, Value>,
    requested: &[String],
) -> Result<Discovered, LangError> {
    let mut packages: BTreeMap<String, Evaluated> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut work: Vec<(String, Option<String>)> = requested
        .iter()
        .rev()
        .map(|name| (name.clone(), None))
        .collect();
    while let Some((name, needed_by)) = work.pop() {
        if packages.contains_key(&name) {
            continue;
        }
        let settings = profile
            .packages
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let recipe_name = settings.recipe.clone().unwrap_or_else(|| name.clone());
        let Some(file) = find_recipe(loader, &profile.package_dirs, &recipe_name) else {
            let message = unknown_package(&recipe_name, &profile.package_dirs);
            return Err(match needed_by.and_then(|by| packages.get(&by)) {
                Some(by) => by.error(format!("{message} (in the deps of `{}`)", by.recipe.name)),
                None => at(site.file, site.source, site.position, message),
            });
        };
        let source = loader
            .read(&file)
            .map_err(|error| LangError::in_file(&file, error))?;
        let mut package_params = params.clone();
        package_params.extend(settings.params.clone());
        let recipe = evaluator.recipe(&file, &source, &recipe_name, &package_params)?;
        for dep in recipe.deps.iter().chain(&recipe.build_deps).rev() {
            work.push((dep.clone(), Some(name.clone())));
        }
        order.push(name.clone());
        packages.insert(
            name,
            Evaluated {
                file,
                source,
                recipe,
                settings,
            },
        );
    }
    Ok(Discovered { packages, order })
}

fn unknown_package(name: &str, dirs: &[PathBuf]) -> String {
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    format!(
        "unknown package `{name}`: no {name}.rhai or {name}/{name}.rhai in {}",
        if dirs.is_empty() {
            "any package dir (set `package_dirs`)".to_owned()
        } else {
            dirs.join(", ")
        }
    )
}

/// `<dir>/<name>.rhai` or `<dir>/<name>/<name>.rhai` in the first dir that has one.
pub(super) fn find_recipe(loader: &dyn Loader, dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().find_map(|dir| {
        [
            dir.join(format!("{name}.rhai")),
            dir.join(name).join(format!("{name}.rhai")),
        ]
        .into_iter()
        .find(|path| loader.is_file(path))
    })
}
