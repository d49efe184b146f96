//! Step 4 of a plan: a recipe, its stages and its dependencies' ids become typed spec
//! parts ([`SpecParts`]); hit-spec writes and hashes them.
//!
//! | part of the spec | from |
//! |------------------|------|
//! | `name`, `version`, `nohash_description`, `nohash_homepage`, `nohash_run_env` (not hashed: what users of the artifact need) | the recipe |
//! | `sources` | the recipe's sources (files beside it packed as `files:`), then its patches under `.hit-patches/` |
//! | `build.import` | the `deps` and the `build_deps` (direct ones), as `<NAME>_DIR` / `<NAME>_ID` |
//! | `build.commands` | `MAKEFLAGS=-jN` (not hashed); `LDFLAGS` with an rpath to `$ARTIFACT/lib`; for each run-time dependency `-I`, `-L`, `-rpath` and `PKG_CONFIG_PATH`, each only if that directory of the dependency exists (`if_exists`), and its prefix on `CMAKE_PREFIX_PATH`; the recipe's `env`; a `patch` stage if there are patches; then each stage as `sh -exc` of its lines |
//!
//! Only direct dependencies are imported: their ids already cover theirs, and each library
//! finds its own dependencies by rpath (the transitive closure made a deep chain quadratic).

use super::Loader;
use super::discover::Evaluated;
use crate::error::LangError;
use crate::recipe::RecipeSource;
use crate::stages::Stage;
use hit_spec::{
    ArtifactId, Command, EnvChange, EnvOp, Import, RunCommand, SourceKey, SourceSpec, SpecParts,
};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A package lowered: the spec's parts, and the environment and stages its commands hold
/// (what [`super::script`] renders as shell).
pub(super) struct Lowered {
    pub parts: SpecParts,
    pub env: Vec<EnvChange>,
    pub stages: Vec<Stage>,
}

/// The imports of `package`, each dependency once (a run-time dependency that is also a
/// build tool counts as run-time), sorted by name, `true` for run-time ones. Then, without a
/// variable (`ref: null`, only their `bin/` on `PATH`), what the build tools need at run
/// time: their `deps`, transitively (`libtoolize` runs `m4`, `automake` runs `autoconf`).
pub(super) fn imports_of(
    package: &Evaluated,
    packages: &BTreeMap<String, Evaluated>,
    ids: &HashMap<String, ArtifactId>,
) -> Result<Vec<(Import, bool)>, String> {
    let recipe = &package.recipe;
    let mut imports: BTreeMap<&str, (Import, bool)> = BTreeMap::new();
    let import = |dep: &str| Import {
        id: ids[dep].clone(),
        reference: Some(reference(dep)),
        in_env: true,
    };
    for dep in &recipe.deps {
        imports.insert(dep, (import(dep), true));
    }
    for tool in &recipe.build_deps {
        imports.entry(tool).or_insert_with(|| (import(tool), false));
    }
    // Two names that give one variable (`a-b` and `a_b`, `Lib` and `lib`) would have the
    // last silently win.
    let mut by_reference: BTreeMap<&str, &str> = BTreeMap::new();
    for (dep, (import, _)) in &imports {
        let variable = import.reference.as_deref().expect("set above");
        if let Some(other) = by_reference.insert(variable, dep) {
            return Err(format!(
                "the dependencies {other:?} and {dep:?} both give the variable {variable}_DIR; \
                 rename one of them",
            ));
        }
    }
    let mut tools_need: BTreeMap<&str, Import> = BTreeMap::new();
    let mut work: Vec<&String> = recipe
        .build_deps
        .iter()
        .flat_map(|tool| packages[tool].recipe.deps.iter())
        .collect();
    while let Some(dep) = work.pop() {
        if imports.contains_key(dep.as_str()) || tools_need.contains_key(dep.as_str()) {
            continue;
        }
        tools_need.insert(
            dep,
            Import {
                id: ids[dep].clone(),
                reference: None,
                in_env: true,
            },
        );
        work.extend(packages[dep].recipe.deps.iter());
    }
    let mut all: Vec<(Import, bool)> = imports.into_values().collect();
    all.extend(tools_need.into_values().map(|import| (import, false)));
    Ok(all)
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

/// The spec parts of a package whose stages are resolved and whose imports are known
/// (`true`: a run-time dependency).
pub(super) fn lower(
    loader: &dyn Loader,
    package: &Evaluated,
    packages: &BTreeMap<String, Evaluated>,
    stages: &[Stage],
    imports: Vec<(Import, bool)>,
    jobs: usize,
) -> Result<Lowered, LangError> {
    let recipe = &package.recipe;
    let fail = |message: String| package.error(message);
    let mut sources = Vec::new();
    for source in &recipe.sources {
        sources.push(match source {
            RecipeSource::Archive {
                url,
                key,
                target,
                strip,
            } => SourceSpec {
                key: key
                    .parse::<SourceKey>()
                    .map_err(|error| fail(format!("source: {error}")))?,
                url: url.clone(),
                target: target.clone(),
                strip: *strip,
                files: None,
            },
            RecipeSource::Git {
                url,
                commit,
                target,
            } => SourceSpec {
                key: format!("git:{commit}")
                    .parse::<SourceKey>()
                    .map_err(|error| fail(format!("source: {error}")))?,
                url: Some(url.clone()),
                target: target.clone(),
                strip: None,
                files: None,
            },
            RecipeSource::Files { files, target } => {
                SourceSpec::files(read_files(loader, package, files, "file")?, target.clone())
            }
        });
    }
    if !recipe.patches.is_empty() {
        sources.push(SourceSpec::files(
            read_files(loader, package, &recipe.patches, "patch")?,
            Some(".hit-patches".into()),
        ));
    }

    let set = |variable: &str, value: String, hashed: bool| EnvChange {
        op: EnvOp::Set,
        variable: variable.into(),
        value,
        hashed,
        if_exists: None,
    };
    let if_exists = |op: EnvOp, variable: &str, value: String, dir: String| EnvChange {
        op,
        variable: variable.into(),
        value,
        hashed: true,
        if_exists: Some(dir),
    };
    let mut env = vec![
        set("MAKEFLAGS", format!("-j{}", jobs.max(1)), false),
        set("LDFLAGS", "-Wl,-rpath,${ARTIFACT}/lib".into(), true),
    ];
    for (import, _) in imports.iter().filter(|(_, run)| *run) {
        let reference = import
            .reference
            .as_deref()
            .expect("run-time imports have a ref");
        let dir = format!("${{{reference}_DIR}}");
        env.push(if_exists(
            EnvOp::AppendFlag,
            "CPPFLAGS",
            format!("-I{dir}/include"),
            format!("{dir}/include"),
        ));
        env.push(if_exists(
            EnvOp::AppendFlag,
            "LDFLAGS",
            format!("-L{dir}/lib -Wl,-rpath,{dir}/lib"),
            format!("{dir}/lib"),
        ));
        env.push(if_exists(
            EnvOp::PrependPath,
            "PKG_CONFIG_PATH",
            format!("{dir}/lib/pkgconfig"),
            format!("{dir}/lib/pkgconfig"),
        ));
        // CMake's find_package/find_library (and meson's cmake lookups) search these
        // prefixes; CMake ignores CPPFLAGS.
        env.push(EnvChange {
            op: EnvOp::PrependPath,
            variable: "CMAKE_PREFIX_PATH".into(),
            value: dir,
            hashed: true,
            if_exists: None,
        });
    }
    // What the direct dependencies provide their dependants, in the order of the recipe's
    // lists (deps, then build_deps), `${ARTIFACT}` being the provider's path.
    let mut providers: Vec<&String> = recipe.deps.iter().collect();
    providers.extend(
        recipe
            .build_deps
            .iter()
            .filter(|tool| !recipe.deps.contains(tool)),
    );
    for provider in providers {
        let dir = format!("${{{}_DIR}}", reference(provider));
        for (variable, provided) in &packages[provider].recipe.provides_env {
            env.push(EnvChange {
                op: provided.op,
                variable: variable.clone(),
                value: provided.value.replace("${ARTIFACT}", &dir),
                hashed: true,
                if_exists: None,
            });
        }
    }
    for (variable, value) in &recipe.env {
        env.push(set(variable, value.clone(), true));
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
    if !recipe.host.is_empty() || !recipe.host_programs.is_empty() {
        let mut run = Vec::new();
        // A program found on PATH: where it resolves to, a hash of it and what it says its
        // version is are the id's (two compilers never share one; one compiler on two
        // machines does); one that is absent is recorded as such.
        for program in &recipe.host_programs {
            let variable = format!("HIT_HOST_PROGRAM_{}", reference(program));
            let Some(path) = loader.find_program(program) else {
                env.push(set(&variable, "absent".into(), true));
                continue;
            };
            let shown = path.display().to_string();
            let fingerprint = loader
                .fingerprint(&path)
                .map_err(|error| fail(format!("host program {program} ({shown}): {error}")))?;
            let version = loader
                .program_version(&path)
                .map_err(|error| fail(format!("host program {program} ({shown}): {error}")))?;
            // `\$`: the value is substituted when it is set, and a version may hold a `$`.
            let value = format!("{shown} {fingerprint} {version}").replace('$', "\\$");
            env.push(set(&variable, value, true));
            if run.is_empty() {
                run.push("mkdir -p \"$ARTIFACT/bin\"".to_owned());
            }
            run.push(format!(
                "ln -s {} \"$ARTIFACT/bin/{program}\"",
                hit_spec::shell::quote(std::slice::from_ref(&shown))
            ));
        }
        for (inside, outside) in &recipe.host {
            let fingerprint = loader
                .fingerprint(Path::new(outside))
                .map_err(|error| fail(format!("host path {outside}: {error}")))?;
            env.push(set(
                &format!("HIT_HOST_{}", reference(inside)),
                fingerprint,
                true,
            ));
            let parent = Path::new(inside)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            run.push(format!("mkdir -p \"$ARTIFACT/{parent}\""));
            run.push(format!(
                "ln -s {} \"$ARTIFACT/{inside}\"",
                hit_spec::shell::quote(std::slice::from_ref(outside))
            ));
        }
        all_stages.push(Stage {
            name: "host-links".into(),
            run,
        });
    }
    all_stages.extend(stages.iter().cloned());

    let mut commands: Vec<Command> = env.iter().cloned().map(Command::Env).collect();
    for stage in &all_stages {
        let mut text = vec![format!(": stage {}", stage.name)];
        text.extend(stage.run.iter().cloned());
        // The script is an argument (no file to write per stage); `\$` keeps every `$` for
        // the shell, as hit's own substitution would otherwise take it.
        let script = text.join("\n").replace('$', "\\$");
        commands.push(Command::Run(RunCommand {
            argv: vec!["sh".into(), "-exc".into(), script],
            inputs: Vec::new(),
            to_var: None,
        }));
    }
    Ok(Lowered {
        parts: SpecParts {
            name: recipe.name.clone(),
            version: recipe.version.clone(),
            description: recipe.description.clone(),
            homepage: recipe.homepage.clone(),
            run_env: recipe
                .run_env
                .iter()
                .map(|(variable, change)| EnvChange {
                    op: change.op,
                    variable: variable.clone(),
                    value: change.value.clone(),
                    hashed: true,
                    if_exists: None,
                })
                .collect(),
            sources,
            imports: imports.into_iter().map(|(import, _)| import).collect(),
            virtual_imports: Vec::new(),
            hashdist: serde_json::Map::new(),
            commands,
        },
        env,
        stages: all_stages,
    })
}

/// The files a recipe names beside it (`files`, `patches`), read through the loader.
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
    let mut files = BTreeMap::new();
    for name in names {
        if name.starts_with('/') || name.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(package.error(format!(
                "{what} {name:?}: name a file beside the recipe (no absolute paths, no `..`)"
            )));
        }
        let contents = loader
            .read_within(&dir.join(name), &dir)
            .map_err(|error| package.error(format!("{what} {name:?}: {error}")))?;
        files.insert(name.clone(), contents);
    }
    Ok(files)
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
}
