//! Step 2 of a plan: find and evaluate every recipe the profile needs.
//!
//! Starting from the profile's packages (minus `skip`), each package's recipe is found in
//! the package dirs (`<dir>/<name>.rhai` or `<dir>/<name>/<name>.rhai`, first dir wins;
//! `recipe` picks another recipe) and evaluated with its parameters (the profile's, then
//! the command line's, then the package's own); its `deps` and `build_deps` join the work
//! list, and so does the toolchain (the profile's `toolchain`, default the recipe
//! `toolchain`: the host's compilers) for every recipe but host packages and those that
//! say `toolchain: false`. The list is depth first in the order the profile and recipes name things, and that
//! *discovery order* is the tie-break of the build order (see `order`).
//!
//! Evaluation is the expensive part (a cold plan of 1,000 recipes), so recipes are
//! evaluated on all cores first, then walked in that sequential order: the order, and the
//! error reported when several recipes fail, are the same as one at a time.

use super::{Loader, at};
use crate::engine::Evaluator;
use crate::error::LangError;
use crate::profile::{PackageSettings, Profile};
use crate::recipe::Recipe;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The recipe `toolchain` (packages/toolchain.rhai), built in: used when no package dir
/// has one, so every profile has a toolchain.
pub const BUILTIN_TOOLCHAIN: (&str, &str) = (
    "toolchain",
    include_str!("../../../packages/toolchain.rhai"),
);

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

    /// `error` located in this recipe: at what it is about (its token) if the recipe
    /// writes it after its `recipe(` call began, else at the call.
    pub fn locate(&self, error: LangError) -> LangError {
        let (line, column) = self.recipe.position;
        LangError::at_token(
            &self.file,
            &self.source,
            rhai::Position::new(line as u16, column as u16),
            error.message,
            error.token.as_deref(),
        )
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
    let results = evaluate_all(evaluator, loader, profile, params, requested);
    // The sequential walk over the results: the discovery order, and the error that a
    // one-at-a-time evaluation would have met first.
    let mut results = results;
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
        let evaluated = match results
            .remove(&name)
            .expect("every name reached was evaluated")
        {
            Ok(evaluated) => evaluated,
            Err(Failure::Evaluation(error)) => return Err(error),
            Err(Failure::NotFound(recipe_name)) => {
                let message = unknown_package(&recipe_name, &profile.package_dirs);
                return Err(match needed_by.and_then(|by| packages.get(&by)) {
                    Some(by) => {
                        by.error(format!("{message} (in the deps of `{}`)", by.recipe.name))
                    }
                    None => at(site.file, site.source, site.position, message),
                });
            }
        };
        for dep in evaluated.needs().collect::<Vec<_>>().into_iter().rev() {
            work.push((dep.clone(), Some(name.clone())));
        }
        order.push(name.clone());
        packages.insert(name, evaluated);
    }
    Ok(Discovered { packages, order })
}

/// Why a package could not be evaluated.
enum Failure {
    /// No recipe of this name in the package dirs.
    NotFound(String),
    Evaluation(LangError),
}

/// Evaluates every package reachable from `requested` on hit-lang's threads (one Rhai
/// engine per thread: a shared one does not scale). Each evaluation starts those of the
/// dependencies it is first to name, so a wide profile spreads over the cores at once and
/// a chain costs no more than one task per package. A package that fails names no
/// dependencies, so the walk stops there, as a sequential one would.
fn evaluate_all(
    evaluator: &Evaluator,
    loader: &dyn Loader,
    profile: &Profile,
    params: &serde_json::Map<String, Value>,
    requested: &[String],
) -> HashMap<String, Result<Evaluated, Failure>> {
    let work = Work {
        loader,
        profile,
        params,
        seen: Mutex::new(HashSet::new()),
        results: Mutex::new(HashMap::new()),
    };
    // The caller's thread takes the first package (and its first dependencies, and so on)
    // with the caller's evaluator; the pool takes what else is named. A chain never leaves
    // the caller's thread.
    super::threads::pool().in_place_scope(|scope| {
        let mut first = None;
        for name in requested {
            if first.is_none() && work.claim(name) {
                first = Some(name.clone());
            } else {
                work.start(scope, name);
            }
        }
        if let Some(name) = first {
            work.run(scope, name, Some(evaluator));
        }
    });
    work.results.into_inner().expect("no evaluation panicked")
}

/// What the evaluation tasks share.
struct Work<'a> {
    loader: &'a dyn Loader,
    profile: &'a Profile,
    params: &'a serde_json::Map<String, Value>,
    /// Packages whose evaluation has started.
    seen: Mutex<HashSet<String>>,
    results: Mutex<HashMap<String, Result<Evaluated, Failure>>>,
}

impl<'a> Work<'a> {
    /// Whether `name` is new (and now taken by the caller).
    fn claim(&self, name: &str) -> bool {
        self.seen
            .lock()
            .expect("not poisoned")
            .insert(name.to_owned())
    }

    /// Starts evaluating `name` unless it has been started already.
    fn start<'scope>(&'scope self, scope: &rayon::Scope<'scope>, name: &str) {
        if self.claim(name) {
            let name = name.to_owned();
            scope.spawn(move |scope| self.run(scope, name, None));
        }
    }

    /// Evaluates `name`, then goes on with the first new dependency it names itself and
    /// hands the others to the pool: a chain stays on one thread (no wake-up per link),
    /// a fan-out spreads.
    fn run<'scope>(
        &'scope self,
        scope: &rayon::Scope<'scope>,
        mut name: String,
        evaluator: Option<&Evaluator>,
    ) {
        loop {
            let evaluate = |evaluator: &Evaluator| {
                evaluate(evaluator, self.loader, self.profile, self.params, &name)
            };
            let result = match evaluator {
                Some(evaluator) => evaluate(evaluator),
                None => super::threads::with_evaluator(evaluate),
            };
            let mut next = None;
            if let Ok(package) = &result {
                for dep in package.needs() {
                    if next.is_none() {
                        if self.claim(dep) {
                            next = Some(dep.clone());
                        }
                    } else {
                        self.start(scope, dep);
                    }
                }
            }
            self.results
                .lock()
                .expect("not poisoned")
                .insert(name, result);
            match next {
                Some(dep) => name = dep,
                None => return,
            }
        }
    }
}

/// Finds and evaluates one package's recipe with its parameters.
fn evaluate(
    evaluator: &Evaluator,
    loader: &dyn Loader,
    profile: &Profile,
    params: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Evaluated, Failure> {
    let settings = profile
        .packages
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.clone())
        .unwrap_or_default();
    let recipe_name = settings.recipe.clone().unwrap_or_else(|| name.to_owned());
    let (file, source) = match find_recipe(loader, &profile.package_dirs, &recipe_name) {
        Some(file) => {
            let source = loader
                .read(&file)
                .map_err(|error| Failure::Evaluation(LangError::in_file(&file, error)))?;
            (file, source)
        }
        // hit's own toolchain recipe, for package dirs without one.
        None if recipe_name == BUILTIN_TOOLCHAIN.0 => (
            PathBuf::from(format!("<built-in>/{}.rhai", BUILTIN_TOOLCHAIN.0)),
            BUILTIN_TOOLCHAIN.1.to_owned(),
        ),
        None => return Err(Failure::NotFound(recipe_name)),
    };
    let mut package_params = params.clone();
    package_params.extend(settings.params.clone());
    let imports = |path: &str| find_import(loader, &profile.package_dirs, path);
    let mut recipe = evaluator
        .recipe(&file, &source, &recipe_name, &package_params, &imports)
        .map_err(Failure::Evaluation)?;
    // Every package that compiles builds with the toolchain: a build dependency like any
    // other, so its id (the compilers' paths, hashes and versions) is in every such id.
    let toolchain = profile.toolchain_package();
    if recipe.toolchain && name != toolchain && !recipe.build_deps.iter().any(|d| d == toolchain) {
        recipe.build_deps.push(toolchain.to_owned());
    }
    Ok(Evaluated {
        file,
        source,
        recipe,
        settings,
    })
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

/// What `import "path"` in a recipe reads: `<dir>/<path>.rhai` in the first package dir
/// that has one, read only if it stays inside that dir with symlinks resolved.
pub fn find_import(
    loader: &dyn Loader,
    dirs: &[PathBuf],
    path: &str,
) -> Result<(PathBuf, String), String> {
    for dir in dirs {
        let file = dir.join(format!("{path}.rhai"));
        if loader.is_file(&file) {
            let text = loader.read_within(&file, dir)?;
            return Ok((file, text));
        }
    }
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "no {path}.rhai in the package dirs ({})",
        dirs.join(", ")
    ))
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
