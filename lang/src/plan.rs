//! From a profile file to a [`Plan`]: every package it needs, in build order, each with
//! its build spec.
//!
//! 1. The profile is evaluated and its `extends` followed (depth first, each parent folded
//!    under its child; a cycle of `extends` is an error).
//! 2. Starting from the profile's packages (minus `skip`), each package's recipe is found in
//!    the package dirs (`<dir>/<name>.rhai` or `<dir>/<name>/<name>.rhai`, first dir wins;
//!    `recipe` picks another recipe) and evaluated with its parameters; its `deps` and
//!    `build_deps` join the work list.
//! 3. The packages form a DAG (petgraph): an edge from each dependency to its dependant. A
//!    cycle is an error that names it (`a -> b -> a`).
//! 4. In topological order, each recipe becomes a build spec (see [`spec_document`]): its
//!    dependencies' ids are known by then, so a change anywhere changes exactly the ids
//!    downstream of it.
//!
//! Packages the profile names, and their `deps` (transitively), are *linked* into the
//! profile; `build_deps` are built and used but not linked unless named.

use crate::engine::Evaluator;
use crate::error::LangError;
use crate::profile::{PackageSettings, Profile};
use crate::recipe::{Recipe, RecipeSource};
use crate::stages::{Stage, StageEntry, apply};
use hit_engine::spec::{ArtifactId, BuildSpec, SourceKey};
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// How the planner reads files: recipes, profiles, patches, and host paths to fingerprint.
pub trait Loader {
    fn read(&self, path: &Path) -> Result<String, String>;
    /// Reads `path`, which must stay inside `root` once symlinks are resolved (files beside
    /// a recipe, profiles a profile extends).
    fn read_within(&self, path: &Path, root: &Path) -> Result<String, String>;
    fn is_file(&self, path: &Path) -> bool;
    /// A digest of what a host path holds, so that a host package's id changes with it.
    fn fingerprint(&self, path: &Path) -> Result<String, String>;
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

struct Evaluated {
    file: PathBuf,
    source: String,
    recipe: Recipe,
    settings: PackageSettings,
}

/// Evaluates a profile and everything it needs.
pub fn plan(
    evaluator: &Evaluator,
    loader: &dyn Loader,
    profile_file: &Path,
    options: &PlanOptions,
) -> Result<Plan, LangError> {
    let (mut profile, profile_source) = load_profile(
        evaluator,
        loader,
        profile_file,
        &options.params,
        &mut Vec::new(),
        &mut options.default_dirs.clone(),
        None,
    )?;
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
    let profile_position =
        load_decl_position(evaluator, profile_file, &profile_source, &options.params)?;
    let mut evaluated: BTreeMap<String, Evaluated> = BTreeMap::new();
    let mut discovered: Vec<String> = Vec::new();
    let mut work: Vec<(String, Option<String>)> = requested
        .iter()
        .rev()
        .map(|name| (name.clone(), None))
        .collect();
    while let Some((name, needed_by)) = work.pop() {
        if evaluated.contains_key(&name) {
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
            let dirs: Vec<String> = profile
                .package_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            let message = format!(
                "unknown package `{recipe_name}`: no {recipe_name}.rhai or {recipe_name}/{recipe_name}.rhai in {}",
                if dirs.is_empty() {
                    "any package dir (set `package_dirs`)".to_owned()
                } else {
                    dirs.join(", ")
                }
            );
            return Err(match needed_by.and_then(|by| evaluated.get(&by)) {
                Some(by) => at(
                    &by.file,
                    &by.source,
                    by.recipe.position,
                    format!("{message} (in the deps of `{}`)", by.recipe.name),
                ),
                None => at(profile_file, &profile_source, profile_position, message),
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
        discovered.push(name.clone());
        evaluated.insert(
            name,
            Evaluated {
                file,
                source,
                recipe,
                settings,
            },
        );
    }

    let order = build_order(&evaluated, &discovered)?;
    let linked = run_closure(&evaluated, &requested);
    let mut ids: HashMap<String, ArtifactId> = HashMap::new();
    let mut packages = Vec::new();
    for name in order {
        let package = &evaluated[&name];
        // The recipe's own entries first, so that a mistake is blamed on the right file.
        apply(&package.recipe.stages).map_err(|error| {
            at(
                &package.file,
                &package.source,
                package.recipe.position,
                error.message,
            )
        })?;
        let mut entries: Vec<StageEntry> = package.recipe.stages.clone();
        entries.extend(package.settings.stages.clone());
        let stages = apply(&entries).map_err(|error| {
            LangError::in_file(
                &profile.file,
                format!("packages.{name}.stages: {}", error.message),
            )
        })?;
        let imports = imports_of(&evaluated, &name, &ids).map_err(|message| {
            at(
                &package.file,
                &package.source,
                package.recipe.position,
                message,
            )
        })?;
        let (document, script) = spec_document(loader, package, &stages, &imports, options.jobs)?;
        let spec = BuildSpec::from_document(document).map_err(|error| {
            at(
                &package.file,
                &package.source,
                package.recipe.position,
                format!("invalid build spec: {error}"),
            )
        })?;
        ids.insert(name.clone(), spec.id().clone());
        packages.push(PlannedPackage {
            linked: linked.contains(&name),
            name,
            recipe_file: package.file.clone(),
            recipe: package.recipe.clone(),
            stages,
            spec,
            script,
        });
    }
    Ok(Plan { profile, packages })
}

fn at(file: &Path, source: &str, (line, column): (usize, usize), message: String) -> LangError {
    LangError::at(
        file,
        source,
        rhai::Position::new(line as u16, column as u16),
        message,
    )
}

fn load_decl_position(
    evaluator: &Evaluator,
    file: &Path,
    source: &str,
    params: &serde_json::Map<String, Value>,
) -> Result<(usize, usize), LangError> {
    Ok(evaluator.profile(file, source, params)?.position)
}

/// Evaluates a profile file and folds in what it extends.
///
/// A profile may extend only files under the directories the user named: the first
/// profile's directory, the package dirs of the profiles on the way and hit's own
/// (`allowed`, which starts with those), with
/// symlinks resolved (`within`: the one a parent is under). So `extends: ["/etc/shadow"]`
/// reads nothing.
#[allow(clippy::too_many_arguments)]
fn load_profile(
    evaluator: &Evaluator,
    loader: &dyn Loader,
    file: &Path,
    params: &serde_json::Map<String, Value>,
    stack: &mut Vec<PathBuf>,
    allowed: &mut Vec<PathBuf>,
    within: Option<&Path>,
) -> Result<(Profile, String), LangError> {
    let file = normalize(file);
    if stack.contains(&file) {
        let chain: Vec<String> = stack
            .iter()
            .chain([&file])
            .map(|f| f.display().to_string())
            .collect();
        return Err(LangError::in_file(
            &file,
            format!(
                "profiles extend each other in a cycle: {}",
                chain.join(" -> ")
            ),
        ));
    }
    let source = match within {
        Some(root) => loader.read_within(&file, root),
        None => loader.read(&file),
    }
    .map_err(|error| LangError::in_file(&file, error))?;
    let decl = evaluator.profile(&file, &source, params)?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let own = Profile {
        name,
        file: file.clone(),
        package_dirs: decl
            .package_dirs
            .iter()
            .map(|d| normalize(&dir.join(d)))
            .collect(),
        packages: decl.packages.clone(),
        params: decl.params.clone(),
        skip: decl.skip.clone(),
        prefer: decl.prefer.clone(),
    };
    stack.push(file.clone());
    if stack.len() == 1 {
        allowed.push(dir.clone());
    }
    let allowed_before = allowed.len();
    allowed.extend(own.package_dirs.iter().cloned());
    let mut merged: Option<Profile> = None;
    for parent in &decl.extends {
        let parent_file = normalize(&dir.join(parent));
        let Some(root) = allowed
            .iter()
            .find(|root| parent_file.starts_with(root))
            .cloned()
        else {
            let roots: Vec<String> = allowed.iter().map(|r| r.display().to_string()).collect();
            return Err(at(
                &file,
                &source,
                decl.position,
                format!(
                    "extends {parent:?}, which is outside the directories a profile may extend \
                     from ({})",
                    roots.join(", ")
                ),
            ));
        };
        if !loader.is_file(&parent_file) {
            return Err(at(
                &file,
                &source,
                decl.position,
                format!(
                    "extends {parent:?}, which is not a file ({})",
                    parent_file.display()
                ),
            ));
        }
        let (parent, _) = load_profile(
            evaluator,
            loader,
            &parent_file,
            params,
            stack,
            allowed,
            Some(&root),
        )?;
        merged = Some(match merged {
            None => parent,
            Some(base) => base.extend(parent),
        });
    }
    stack.pop();
    allowed.truncate(allowed_before);
    let profile = match merged {
        None => own,
        Some(base) => base.extend(own),
    };
    Ok((profile, source))
}

/// Lexically cleans a path (`a/./b/../c` -> `a/c`), keeping it absolute if it was.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `<dir>/<name>.rhai` or `<dir>/<name>/<name>.rhai` in the first dir that has one.
pub fn find_recipe(loader: &dyn Loader, dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().find_map(|dir| {
        [
            dir.join(format!("{name}.rhai")),
            dir.join(name).join(format!("{name}.rhai")),
        ]
        .into_iter()
        .find(|path| loader.is_file(path))
    })
}

/// Topological order of the packages (Kahn's algorithm; among the ready ones, the one
/// discovered first from the profile's list goes first), or the cycle that prevents one.
fn build_order(
    evaluated: &BTreeMap<String, Evaluated>,
    discovered: &[String],
) -> Result<Vec<String>, LangError> {
    let mut graph: DiGraph<&str, ()> = DiGraph::new();
    let nodes: BTreeMap<&str, NodeIndex> = discovered
        .iter()
        .map(|name| (name.as_str(), graph.add_node(name.as_str())))
        .collect();
    for (name, package) in evaluated {
        for dep in package.recipe.deps.iter().chain(&package.recipe.build_deps) {
            graph.update_edge(nodes[dep.as_str()], nodes[name.as_str()], ());
        }
    }
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|node| {
            graph
                .neighbors_directed(node, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    // Node indices follow discovery order, so the smallest ready index is the one to take.
    let mut ready: BTreeSet<NodeIndex> = graph
        .node_indices()
        .filter(|node| waiting[node.index()] == 0)
        .collect();
    let mut order = Vec::with_capacity(discovered.len());
    while let Some(node) = ready.pop_first() {
        order.push(graph[node].to_owned());
        for next in graph.neighbors_directed(node, petgraph::Direction::Outgoing) {
            waiting[next.index()] -= 1;
            if waiting[next.index()] == 0 {
                ready.insert(next);
            }
        }
    }
    if order.len() == discovered.len() {
        return Ok(order);
    }
    let stuck = discovered
        .iter()
        .find(|name| !order.contains(name))
        .expect("some package is left");
    let path = find_cycle(evaluated, stuck);
    let package = &evaluated[path[0].as_str()];
    Err(at(
        &package.file,
        &package.source,
        package.recipe.position,
        format!("dependency cycle: {}", path.join(" -> ")),
    ))
}

/// A cycle through the dependency graph, as names `a -> b -> ... -> a`.
fn find_cycle(evaluated: &BTreeMap<String, Evaluated>, start: &str) -> Vec<String> {
    fn visit<'a>(
        evaluated: &'a BTreeMap<String, Evaluated>,
        name: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(index) = path.iter().position(|n| *n == name) {
            let mut cycle: Vec<String> = path[index..].iter().map(|n| (*n).to_owned()).collect();
            cycle.push(name.to_owned());
            return Some(cycle);
        }
        if !done.insert(name) {
            return None;
        }
        path.push(name);
        let package = &evaluated[name];
        for dep in package.recipe.deps.iter().chain(&package.recipe.build_deps) {
            if let Some(cycle) = visit(evaluated, dep, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    visit(evaluated, start, &mut Vec::new(), &mut done)
        .or_else(|| {
            evaluated
                .keys()
                .find_map(|name| visit(evaluated, name, &mut Vec::new(), &mut BTreeSet::new()))
        })
        .unwrap_or_else(|| vec![start.to_owned()])
}

/// The requested packages and everything they need at run time (`deps`, transitively).
fn run_closure(evaluated: &BTreeMap<String, Evaluated>, roots: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut work: Vec<&String> = roots.iter().collect();
    while let Some(name) = work.pop() {
        if seen.insert(name.clone()) {
            work.extend(evaluated[name].recipe.deps.iter());
        }
    }
    seen
}

/// One import of a build: the variable prefix, the id, and whether it is a run-time
/// dependency (compiler and linker flags) or a build tool (only `PATH`).
struct ImportOf {
    reference: String,
    id: ArtifactId,
    run: bool,
}

fn imports_of(
    evaluated: &BTreeMap<String, Evaluated>,
    name: &str,
    ids: &HashMap<String, ArtifactId>,
) -> Result<Vec<ImportOf>, String> {
    let recipe = &evaluated[name].recipe;
    let mut imports: BTreeMap<String, ImportOf> = BTreeMap::new();
    // Direct dependencies only: their ids already cover theirs, and each library finds its
    // own dependencies by rpath. (The transitive closure made a deep chain quadratic.)
    for dep in recipe.deps.clone() {
        imports.insert(
            dep.clone(),
            ImportOf {
                reference: reference(&dep),
                id: ids[&dep].clone(),
                run: true,
            },
        );
    }
    for tool in &recipe.build_deps {
        imports.entry(tool.clone()).or_insert_with(|| ImportOf {
            reference: reference(tool),
            id: ids[tool].clone(),
            run: false,
        });
    }
    // Two names that give one variable (`a-b` and `a_b`, `Lib` and `lib`) would have the
    // last silently win.
    let mut by_reference: BTreeMap<&str, &str> = BTreeMap::new();
    for (dep, import) in &imports {
        if let Some(other) = by_reference.insert(&import.reference, dep) {
            return Err(format!(
                "the dependencies {other:?} and {dep:?} both give the variable {}_DIR; \
                 rename one of them",
                import.reference
            ));
        }
    }
    Ok(imports.into_values().collect())
}

/// `libxml2` -> `LIBXML2`, `gcc-12` -> `GCC_12`: the prefix of `${REF}_DIR`.
pub fn reference(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A variable change, rendered both as a spec command and as shell.
enum EnvOp {
    Set {
        variable: String,
        value: String,
        hashed: bool,
    },
    /// Added only if `dir` exists (an import's `include/`, say).
    AppendFlag {
        variable: String,
        value: String,
        dir: String,
    },
    PrependPath {
        variable: String,
        value: String,
        dir: String,
    },
}

impl EnvOp {
    fn command(&self) -> Value {
        match self {
            Self::Set {
                variable,
                value,
                hashed: true,
            } => json!({"set": variable, "value": value}),
            Self::Set {
                variable,
                value,
                hashed: false,
            } => json!({"set": variable, "nohash_value": value}),
            Self::AppendFlag {
                variable,
                value,
                dir,
            } => {
                json!({"append_flag": variable, "value": value, "if_exists": dir})
            }
            Self::PrependPath {
                variable,
                value,
                dir,
            } => {
                json!({"prepend_path": variable, "value": value, "if_exists": dir})
            }
        }
    }

    fn shell(&self) -> String {
        let quoted = |text: &str| {
            text.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('`', "\\`")
        };
        match self {
            Self::Set {
                variable, value, ..
            } => format!("export {variable}=\"{}\"", quoted(value)),
            Self::AppendFlag {
                variable,
                value,
                dir,
            } => {
                format!(
                    "if [ -e \"{}\" ]; then export {variable}=\"${{{variable}:+${variable} }}{}\"; fi",
                    quoted(dir),
                    quoted(value)
                )
            }
            Self::PrependPath {
                variable,
                value,
                dir,
            } => {
                format!(
                    "if [ -e \"{}\" ]; then export {variable}=\"{}${{{variable}:+:${variable}}}\"; fi",
                    quoted(dir),
                    quoted(value)
                )
            }
        }
    }
}

fn read_files(
    loader: &dyn Loader,
    package: &Evaluated,
    names: &[String],
    what: &str,
) -> Result<BTreeMap<String, String>, LangError> {
    let dir = package
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let fail = |message: String| {
        at(
            &package.file,
            &package.source,
            package.recipe.position,
            message,
        )
    };
    let mut files = BTreeMap::new();
    for name in names {
        if name.starts_with('/') || name.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(fail(format!(
                "{what} {name:?}: name a file beside the recipe (no absolute paths, no `..`)"
            )));
        }
        let contents = loader
            .read_within(&dir.join(name), &dir)
            .map_err(|error| fail(format!("{what} {name:?}: {error}")))?;
        files.insert(name.clone(), contents);
    }
    Ok(files)
}

fn files_source(files: BTreeMap<String, String>, target: Option<&str>) -> Value {
    let digest = hit_engine::spec::pack::pack_digest(&hit_engine::spec::pack::pack(&files));
    let mut source = json!({"key": format!("files:{digest}"), "files": files});
    if let Some(target) = target {
        source["target"] = json!(target);
    }
    source
}

/// The build spec of a package, and the same build as a shell script.
///
/// | part of the spec | from |
/// |------------------|------|
/// | `name`, `version` | the recipe |
/// | `sources` | the recipe's sources (files beside it packed as `files:`), then its patches under `.hit-patches/` |
/// | `build.import` | the `deps` and the `build_deps` (direct ones), as `<NAME>_DIR` / `<NAME>_ID` |
/// | `build.commands` | `MAKEFLAGS=-jN` (not hashed); `LDFLAGS` with an rpath to `$ARTIFACT/lib`; for each run-time dependency `-I`, `-L`, `-rpath` and `PKG_CONFIG_PATH`, each only if that directory of the dependency exists (`if_exists`); the recipe's `env`; a `patch` stage if there are patches; then each stage as `sh -exc` of its lines |
fn spec_document(
    loader: &dyn Loader,
    package: &Evaluated,
    stages: &[Stage],
    imports: &[ImportOf],
    jobs: usize,
) -> Result<(Value, String), LangError> {
    let recipe = &package.recipe;
    let fail = |message: String| at(&package.file, &package.source, recipe.position, message);
    let mut sources = Vec::new();
    for source in &recipe.sources {
        sources.push(match source {
            RecipeSource::Archive {
                url,
                key,
                target,
                strip,
            } => {
                key.parse::<SourceKey>()
                    .map_err(|error| fail(format!("source: {error}")))?;
                let mut entry = json!({"key": key});
                if let Some(url) = url {
                    entry["url"] = json!(url);
                }
                if let Some(target) = target {
                    entry["target"] = json!(target);
                }
                if let Some(strip) = strip {
                    entry["strip"] = json!(strip);
                }
                entry
            }
            RecipeSource::Git {
                url,
                commit,
                target,
            } => {
                let key = format!("git:{commit}");
                key.parse::<SourceKey>()
                    .map_err(|error| fail(format!("source: {error}")))?;
                let mut entry = json!({"key": key, "url": url});
                if let Some(target) = target {
                    entry["target"] = json!(target);
                }
                entry
            }
            RecipeSource::Files { files, target } => files_source(
                read_files(loader, package, files, "file")?,
                target.as_deref(),
            ),
        });
    }
    if !recipe.patches.is_empty() {
        sources.push(files_source(
            read_files(loader, package, &recipe.patches, "patch")?,
            Some(".hit-patches"),
        ));
    }

    let mut ops = vec![
        EnvOp::Set {
            variable: "MAKEFLAGS".into(),
            value: format!("-j{}", jobs.max(1)),
            hashed: false,
        },
        EnvOp::Set {
            variable: "LDFLAGS".into(),
            value: "-Wl,-rpath,${ARTIFACT}/lib".into(),
            hashed: true,
        },
    ];
    for import in imports.iter().filter(|import| import.run) {
        let dir = format!("${{{}_DIR}}", import.reference);
        ops.push(EnvOp::AppendFlag {
            variable: "CPPFLAGS".into(),
            value: format!("-I{dir}/include"),
            dir: format!("{dir}/include"),
        });
        ops.push(EnvOp::AppendFlag {
            variable: "LDFLAGS".into(),
            value: format!("-L{dir}/lib -Wl,-rpath,{dir}/lib"),
            dir: format!("{dir}/lib"),
        });
        ops.push(EnvOp::PrependPath {
            variable: "PKG_CONFIG_PATH".into(),
            value: format!("{dir}/lib/pkgconfig"),
            dir: format!("{dir}/lib/pkgconfig"),
        });
    }
    for (variable, value) in &recipe.env {
        ops.push(EnvOp::Set {
            variable: variable.clone(),
            value: value.clone(),
            hashed: true,
        });
    }

    let mut all_stages: Vec<Stage> = Vec::new();
    if !recipe.patches.is_empty() {
        let run = recipe
            .patches
            .iter()
            .map(|p| format!("patch -p1 < \"$BUILD/.hit-patches/{p}\""))
            .collect();
        all_stages.push(Stage {
            name: "patch".into(),
            run,
        });
    }
    if !recipe.host.is_empty() {
        let mut run = Vec::new();
        for (inside, outside) in &recipe.host {
            let fingerprint = loader
                .fingerprint(Path::new(outside))
                .map_err(|error| fail(format!("host path {outside}: {error}")))?;
            ops.push(EnvOp::Set {
                variable: format!("HIT_HOST_{}", reference(inside)),
                value: fingerprint,
                hashed: true,
            });
            let parent = Path::new(inside)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            run.push(format!("mkdir -p \"$ARTIFACT/{parent}\""));
            run.push(format!(
                "ln -s {} \"$ARTIFACT/{inside}\"",
                hit_engine::shell::quote(std::slice::from_ref(outside))
            ));
        }
        all_stages.push(Stage {
            name: "host-links".into(),
            run,
        });
    }
    all_stages.extend(stages.iter().cloned());

    let mut commands: Vec<Value> = ops.iter().map(EnvOp::command).collect();
    for stage in &all_stages {
        let mut text = vec![format!(": stage {}", stage.name)];
        text.extend(stage.run.iter().cloned());
        // The script is an argument (no file to write per stage); `\$` keeps every `$` for
        // the shell, as hit's own substitution would otherwise take it.
        let script = text.join("\n").replace('$', "\\$");
        commands.push(json!({"cmd": ["sh", "-exc", script]}));
    }
    let import_docs: Vec<Value> = imports
        .iter()
        .map(|import| json!({"ref": import.reference, "id": import.id.to_string()}))
        .collect();
    let mut document = json!({
        "name": recipe.name,
        "sources": sources,
        "build": {"import": import_docs, "commands": commands},
    });
    if let Some(version) = &recipe.version {
        document["version"] = json!(version);
    }
    if let Some(description) = &recipe.description {
        document["nohash_description"] = json!(description);
    }

    let mut script = format!(
        "#!/bin/sh\n# {} {}: the build as a shell script. Run it in a build directory (see `hit bdir`)\n# with ARTIFACT, BUILD and HOME set, and each import's <NAME>_DIR.\nset -ex\n",
        recipe.name,
        recipe.version.as_deref().unwrap_or("")
    );
    for op in &ops {
        script.push_str(&op.shell());
        script.push('\n');
    }
    for stage in &all_stages {
        script.push_str(&format!("\n: stage {}\n", stage.name));
        for line in &stage.run {
            script.push_str(line);
            script.push('\n');
        }
    }
    Ok((document, script))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_variable_names() {
        assert_eq!(reference("libxml2"), "LIBXML2");
        assert_eq!(reference("gcc-12"), "GCC_12");
        assert_eq!(reference("c++"), "C__");
        assert_eq!(reference("7zip"), "_7ZIP");
    }

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }
}
