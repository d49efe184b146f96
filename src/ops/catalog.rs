//! What recipes there are: `hit list` (every recipe in a profile's package dirs, with its
//! version and description) and `hit info` (one package in full: where its recipe is, its
//! sources, dependencies, the parameters the profile gives it, its id and whether it is
//! built).
//!
//! `hit info PKG` without a profile plans a profile of that one package over the default
//! package dirs. That profile exists only in memory: a [`hit_lang::Loader`] that serves it
//! and hands every other read to the file system.

use super::{Error, ProfileRequest, Result};
use crate::loader::FsLoader;
use hit_engine::home::Home;
use hit_engine::spec::BuildSpec;
use hit_engine::store::Store;
use hit_lang::{Evaluator, PlanOptions, Recipe};
use std::path::{Path, PathBuf};

/// A recipe file found in a package dir.
#[derive(Debug, Clone)]
pub struct RecipeEntry {
    pub name: String,
    pub file: PathBuf,
    /// What it evaluated to with the profile's params, or why it did not evaluate.
    pub recipe: Result<Recipe, String>,
    /// A recipe of the same name in an earlier package dir, which is the one used.
    pub shadowed_by: Option<PathBuf>,
}

/// Every recipe in the package dirs of `profile` (or the default dirs), by name; one that
/// fails to evaluate is listed with its error.
pub fn list(profile: Option<&ProfileRequest>) -> Result<Vec<RecipeEntry>> {
    let (dirs, params) = match profile {
        Some(request) => {
            let file = super::profile_file(&request.file)?;
            let loaded = hit_lang::load_profile(
                &Evaluator::new(),
                &FsLoader,
                &file,
                &plan_options(request)?,
            )?;
            (loaded.package_dirs, loaded.params)
        }
        None => (super::default_package_dirs(), serde_json::Map::new()),
    };
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".rhai") {
                    return path.is_file().then(|| (stem.to_owned(), path));
                }
                let inner = path.join(format!("{name}.rhai"));
                inner.is_file().then_some((name, inner))
            })
            .collect();
        here.sort();
        found.extend(here);
    }
    let evaluator = Evaluator::new();
    let mut entries: Vec<RecipeEntry> = found
        .iter()
        .map(|(name, file)| {
            let recipe = hit_lang::Loader::read(&FsLoader, file).and_then(|source| {
                let imports = |path: &str| hit_lang::plan::find_import(&FsLoader, &dirs, path);
                evaluator
                    .recipe(file, &source, name, &params, &imports)
                    .map_err(|error| error.to_string())
            });
            RecipeEntry {
                name: name.clone(),
                file: file.clone(),
                recipe,
                shadowed_by: None,
            }
        })
        .collect();
    for index in 0..entries.len() {
        let first = entries[..index]
            .iter()
            .find(|earlier| earlier.name == entries[index].name && earlier.shadowed_by.is_none())
            .map(|earlier| earlier.file.clone());
        entries[index].shadowed_by = first;
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// One package, in full.
#[derive(Debug, Clone)]
pub struct PackageInfo {
    pub recipe_file: PathBuf,
    pub recipe: Recipe,
    pub spec: BuildSpec,
    /// The profile's parameters, the command line's included.
    pub profile_params: serde_json::Map<String, serde_json::Value>,
    /// The params the recipe declares, each with the value that applies to it.
    pub declared: Vec<(hit_lang::ParamDecl, serde_json::Value)>,
    /// In the profile's tree, or only needed to build others.
    pub linked: bool,
    /// The names of its stages, in order, after the profile's edits.
    pub stages: Vec<String>,
    /// Where it is in the store, if built.
    pub path: Option<PathBuf>,
    /// The profile it was planned in; `None` for the default package dirs.
    pub profile: Option<PathBuf>,
}

/// `name` as the profile plans it (or, without a profile, as a profile of that package
/// alone over the default package dirs would).
pub fn info(home: &Home, name: &str, profile: Option<&ProfileRequest>) -> Result<PackageInfo> {
    let (plan, params, file) = match profile {
        Some(request) => (
            super::load_plan(request, None)?,
            super::parse_params(&request.params)?,
            Some(super::profile_file(&request.file)?),
        ),
        None => {
            hit_engine::spec::PackageName::new(name)
                .map_err(|error| Error::Input(format!("{name:?}: {error}")))?;
            let cwd = std::env::current_dir().map_err(Error::io("the current directory"))?;
            let loader = OnePackage {
                file: cwd.join(format!(".hit-info-{name}.rhai")),
                text: format!("profile(#{{ packages: [{name:?}] }})"),
            };
            let request = ProfileRequest {
                file: loader.file.clone(),
                params: Vec::new(),
            };
            let plan = hit_lang::plan(
                &Evaluator::new(),
                &loader,
                &loader.file,
                &plan_options(&request)?,
            )?;
            (plan, serde_json::Map::new(), None)
        }
    };
    let planned = super::package_of(&plan, name)?;
    let mut profile_params = plan.profile.params.clone();
    profile_params.extend(params);
    let own_params = plan
        .profile
        .packages
        .iter()
        .find(|(package, _)| package == name)
        .map(|(_, settings)| settings.params.clone())
        .unwrap_or_default();
    let declared = planned
        .recipe
        .params
        .iter()
        .map(|param| {
            let given = own_params
                .get(&param.name)
                .or_else(|| profile_params.get(&param.name));
            // The plan evaluated the recipe with this value: it converts.
            let value = param.value(given).unwrap_or_else(|_| param.default.clone());
            (param.clone(), value)
        })
        .collect();
    Ok(PackageInfo {
        recipe_file: planned.recipe_file.clone(),
        recipe: planned.recipe.clone(),
        spec: planned.spec.clone(),
        declared,
        profile_params,
        linked: planned.linked,
        stages: planned
            .stages
            .iter()
            .map(|stage| stage.name.clone())
            .collect(),
        path: Store::for_home(home).resolve(planned.spec.id())?,
        profile: file,
    })
}

fn plan_options(request: &ProfileRequest) -> Result<PlanOptions> {
    Ok(PlanOptions {
        params: super::parse_params(&request.params)?,
        jobs: 1,
        default_dirs: super::default_package_dirs(),
    })
}

/// The file system, plus one profile that exists only in memory.
struct OnePackage {
    file: PathBuf,
    text: String,
}

impl hit_lang::Loader for OnePackage {
    fn read(&self, path: &Path) -> Result<String, String> {
        if path == self.file {
            return Ok(self.text.clone());
        }
        FsLoader.read(path)
    }

    fn read_within(&self, path: &Path, root: &Path) -> Result<String, String> {
        FsLoader.read_within(path, root)
    }

    fn is_file(&self, path: &Path) -> bool {
        path == self.file || FsLoader.is_file(path)
    }

    fn fingerprint(&self, path: &Path) -> Result<String, String> {
        FsLoader.fingerprint(path)
    }

    fn find_program(&self, name: &str) -> Option<PathBuf> {
        FsLoader.find_program(name)
    }

    fn program_version(&self, program: &Path) -> Result<String, String> {
        FsLoader.program_version(program)
    }

    fn git_checkout(&self, url: &str, commit: &str) -> Result<PathBuf, String> {
        FsLoader.git_checkout(url, commit)
    }
}
