//! From a profile file to a [`Plan`]: every package it needs, in build order, each with
//! its build spec. One module per step:
//!
//! 1. `extends`: the profile is evaluated (once) and its `extends` followed.
//! 2. `discover`: each package's recipe is found in the package dirs and evaluated with
//!    its parameters; its `deps` and `build_deps` join the work list. `params` then checks
//!    that every parameter given was declared by something in the plan.
//! 3. `order`: the packages form a DAG (petgraph); its topological order, or the cycle
//!    that prevents one (`a -> b -> a`).
//! 4. `lower`: in that order, each recipe becomes typed spec parts, which hit-spec
//!    writes and hashes: its dependencies' ids are known by then, so a change anywhere
//!    changes exactly the ids downstream of it.
//! 5. `script`: the same build as a shell script, for people.
//!
//! Packages the profile names, and their `deps` (transitively), are *linked* into the
//! profile; `build_deps` are built and used but not linked unless named.

mod discover;
mod extends;
mod lower;
mod order;
mod params;
mod script;
mod threads;

use crate::engine::Evaluator;
use crate::error::LangError;
use crate::profile::Profile;
use crate::recipe::Recipe;
use crate::stages::{Stage, StageEntry, apply};
use discover::ProfileSite;
use hit_spec::{ArtifactId, BuildSpec};
use rayon::prelude::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub use discover::{BUILTIN_TOOLCHAIN, find_import};
pub use lower::reference;

/// How the planner reads files: recipes, profiles, patches, and host paths to fingerprint.
pub trait Loader: Sync {
    fn read(&self, path: &Path) -> Result<String, String>;
    /// Reads `path`, which must stay inside `root` once symlinks are resolved (files beside
    /// a recipe, profiles a profile extends).
    fn read_within(&self, path: &Path, root: &Path) -> Result<String, String>;
    fn is_file(&self, path: &Path) -> bool;
    /// A digest of what a host path holds, so that a host package's id changes with it.
    fn fingerprint(&self, path: &Path) -> Result<String, String>;
    /// The program `name` on the host's `PATH`, its symlinks resolved (`host_programs`);
    /// `None` if there is none. By default there are no host programs.
    fn find_program(&self, _name: &str) -> Option<PathBuf> {
        None
    }
    /// The first line `program --version` prints (`host_programs`).
    fn program_version(&self, program: &Path) -> Result<String, String> {
        Err(format!("cannot run {}", program.display()))
    }
    /// A directory holding the tree of git commit `commit` of the repository at `url`
    /// (a profile's `extends` of a profile kept in git). By default there is none.
    fn git_checkout(&self, url: &str, _commit: &str) -> Result<PathBuf, String> {
        Err(format!("cannot fetch {url} here"))
    }
}

/// Inputs of a plan besides the profile file.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `key=value` parameters from the command line; they override the profile's.
    pub params: serde_json::Map<String, Value>,
    /// The parallelism recipes' `make` gets (`MAKEFLAGS`, not part of any id).
    pub jobs: usize,
    /// Package dirs searched after the profile's own.
    pub default_dirs: Vec<PathBuf>,
}

/// One package of a plan.
#[derive(Debug, Clone)]
pub struct PlannedPackage {
    /// The name the profile and the recipes use for it.
    pub name: String,
    pub recipe_file: PathBuf,
    pub recipe: Recipe,
    pub stages: Vec<Stage>,
    pub spec: BuildSpec,
    /// Whether it goes into the profile's tree.
    pub linked: bool,
    /// Variable-setting lines and stages as a shell script (`hit show script`).
    pub script: String,
}

/// Everything a profile needs, in build order (dependencies first).
#[derive(Debug, Clone)]
pub struct Plan {
    pub profile: Profile,
    pub packages: Vec<PlannedPackage>,
}

impl Plan {
    pub fn get(&self, name: &str) -> Option<&PlannedPackage> {
        self.packages.iter().find(|package| package.name == name)
    }
}

/// Loads a profile and what it extends, with the default package dirs appended, without
/// looking at any recipe (`hit list` needs only its dirs and params).
pub fn load_profile(
    evaluator: &Evaluator,
    loader: &dyn Loader,
    profile_file: &Path,
    options: &PlanOptions,
) -> Result<Profile, LangError> {
    let mut profile = extends::load(
        evaluator,
        loader,
        profile_file,
        &options.params,
        options.default_dirs.clone(),
    )?
    .profile;
    for dir in &options.default_dirs {
        if !profile.package_dirs.contains(dir) {
            profile.package_dirs.push(dir.clone());
        }
    }
    profile.params.extend(options.params.clone());
    Ok(profile)
}

/// Evaluates a profile and everything it needs.
///
/// Recipes are evaluated on hit-lang's own threads and on the calling one (with
/// `evaluator`), so call it from a thread with a large stack, as the `hit` binary does:
/// Rhai recurses over deeply nested values.
pub fn plan(
    evaluator: &Evaluator,
    loader: &dyn Loader,
    profile_file: &Path,
    options: &PlanOptions,
) -> Result<Plan, LangError> {
    let loaded = extends::load(
        evaluator,
        loader,
        profile_file,
        &options.params,
        options.default_dirs.clone(),
    )?;
    let mut profile = loaded.profile;
    for dir in &options.default_dirs {
        if !profile.package_dirs.contains(dir) {
            profile.package_dirs.push(dir.clone());
        }
    }
    let mut params = profile.params.clone();
    params.extend(options.params.clone());

    let requested: Vec<String> = profile
        .packages
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| !profile.skip.contains(name))
        .collect();
    let site = ProfileSite {
        file: profile_file,
        source: &loaded.source,
        position: loaded.position,
    };
    let discovered = discover::discover(evaluator, loader, &profile, &site, &params, &requested)?;
    params::check(&profile, &site, &options.params, &discovered)?;
    let order = order::build_order(&discovered)?;
    let linked = run_closure(&discovered.packages, &requested);
    // Lowered level by level (a package's level is one more than its deepest
    // dependency's): a level's packages need only ids of earlier levels, so each level is
    // lowered on all cores. The first error in build order wins, as one at a time.
    let mut ids: HashMap<String, ArtifactId> = HashMap::new();
    let mut lowered: HashMap<String, PlannedPackage> = HashMap::new();
    for level in levels(&discovered, &order) {
        let plan_one = |name: &&String| {
            plan_package(
                loader,
                &profile,
                &site,
                &discovered.packages,
                &discovered.packages[*name],
                name,
                &ids,
                linked.contains(*name),
                options.jobs,
            )
        };
        // A narrow level (a chain has a thousand of one) is not worth handing over.
        let results: Vec<Result<PlannedPackage, LangError>> = if level.len() < PARALLEL_LEVEL {
            level.iter().map(plan_one).collect()
        } else {
            threads::pool().install(|| level.par_iter().map(plan_one).collect())
        };
        for result in results {
            let package = result?;
            ids.insert(package.name.clone(), package.spec.id().clone());
            lowered.insert(package.name.clone(), package);
        }
    }
    let packages = order
        .iter()
        .map(|name| lowered.remove(name).expect("every package was lowered"))
        .collect();
    Ok(Plan { profile, packages })
}

/// Levels narrower than this are lowered on the caller's thread.
const PARALLEL_LEVEL: usize = 8;

/// The packages of `order` grouped by level (0: no dependencies), each group in build order.
fn levels<'a>(discovered: &discover::Discovered, order: &'a [String]) -> Vec<Vec<&'a String>> {
    let mut level_of: HashMap<&str, usize> = HashMap::new();
    let mut levels: Vec<Vec<&String>> = Vec::new();
    for name in order {
        let level = discovered.packages[name]
            .needs()
            .map(|dep| level_of[dep.as_str()] + 1)
            .max()
            .unwrap_or(0);
        level_of.insert(name, level);
        if levels.len() <= level {
            levels.resize_with(level + 1, Vec::new);
        }
        levels[level].push(name);
    }
    levels
}

/// One package's stages, imports, spec and script; its dependencies' ids are in `ids`.
#[allow(clippy::too_many_arguments)]
fn plan_package(
    loader: &dyn Loader,
    profile: &Profile,
    site: &ProfileSite,
    packages: &std::collections::BTreeMap<String, discover::Evaluated>,
    package: &discover::Evaluated,
    name: &str,
    ids: &HashMap<String, ArtifactId>,
    linked: bool,
    jobs: usize,
) -> Result<PlannedPackage, LangError> {
    // The recipe's own entries first, so that a mistake is blamed on the right file.
    apply(&package.recipe.stages).map_err(|error| package.locate(error))?;
    let mut entries: Vec<StageEntry> = package.recipe.stages.clone();
    entries.extend(package.settings.stages.clone());
    let stages = apply(&entries).map_err(|error| {
        let message = format!("packages.{name}.stages: {}", error.message);
        // The profile's stage edits: pointed at in the profile's own file, if it is there.
        match (
            extends::normalize(site.file) == profile.file,
            error.token.as_deref(),
        ) {
            (true, Some(token)) => LangError::at_token(
                site.file,
                site.source,
                rhai::Position::new(1, 1),
                message,
                Some(token),
            ),
            _ => LangError::in_file(&profile.file, message),
        }
    })?;
    let imports =
        lower::imports_of(package, packages, ids).map_err(|message| package.error(message))?;
    let lowered = lower::lower(loader, package, packages, &stages, imports, jobs)?;
    let spec = BuildSpec::new(&lowered.parts)
        .map_err(|error| package.error(format!("invalid build spec: {error}")))?;
    Ok(PlannedPackage {
        linked,
        name: name.to_owned(),
        recipe_file: package.file.clone(),
        recipe: package.recipe.clone(),
        script: script::render(&lowered),
        stages,
        spec,
    })
}

/// An error at a position in a file.
fn at(file: &Path, source: &str, (line, column): (usize, usize), message: String) -> LangError {
    LangError::at(
        file,
        source,
        rhai::Position::new(line as u16, column as u16),
        message,
    )
}

/// The requested packages and everything they need at run time (`deps`, transitively).
fn run_closure(
    packages: &std::collections::BTreeMap<String, discover::Evaluated>,
    roots: &[String],
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut work: Vec<&String> = roots.iter().collect();
    while let Some(name) = work.pop() {
        if seen.insert(name.clone()) {
            work.extend(packages[name].recipe.deps.iter());
        }
    }
    seen
}
