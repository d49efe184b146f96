//! `hit build`: one build spec, or a whole profile.

use super::{DEFAULT_PROFILE, load_plan, read_spec};
use crate::report::{self, TerminalReporter};
use anyhow::Result;
use hit_engine::build::{BuildOutcome, Builder};
use hit_engine::home::Home;
use hit_engine::profile::{self, ProfileSpec};
use hit_engine::source::SourceCache;
use hit_engine::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn build(
    home: &Home,
    target: Option<PathBuf>,
    params: &[String],
    jobs: Option<usize>,
    verbose: bool,
) -> Result<ExitCode> {
    let target = target.unwrap_or_else(|| PathBuf::from(DEFAULT_PROFILE));
    let is_spec = target == Path::new("-") || target.extension().is_some_and(|ext| ext == "json");
    if is_spec {
        if !params.is_empty() {
            anyhow::bail!("KEY=VALUE parameters are for profiles; a build.json has none");
        }
        return build_spec(home, &target, verbose);
    }
    build_profile(home, &target, params, jobs, verbose)
}

fn build_spec(home: &Home, spec_path: &Path, verbose: bool) -> Result<ExitCode> {
    let spec = read_spec(spec_path)?;
    let store = Store::for_home(home);
    let _session = store.session()?;
    let sources = SourceCache::for_home(home);
    let builder = Builder::new(&store, &sources, &home.config().env_whitelist);
    match builder.build(&spec, &TerminalReporter { verbose })? {
        BuildOutcome::AlreadyBuilt { path } => {
            eprintln!("{} is already built", spec.id());
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        BuildOutcome::Built { path, duration } => {
            eprintln!("built {} in {:.1} s", spec.id(), duration.as_secs_f64());
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        BuildOutcome::Failed(failure) => {
            eprintln!("error: {}", report::failure(&failure));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What happened to one package of a profile build.
enum Done {
    Present,
    Built,
    Failed,
    Skipped(String),
}

fn build_profile(
    home: &Home,
    file: &Path,
    params: &[String],
    jobs: Option<usize>,
    verbose: bool,
) -> Result<ExitCode> {
    let plan = load_plan(file, params, jobs)?;
    let store = Store::for_home(home);
    // Until the profile is linked, nothing roots its packages: keep gc out meanwhile.
    let _session = store.session()?;
    let sources = SourceCache::for_home(home);
    let builder = Builder::new(&store, &sources, &home.config().env_whitelist);
    let reporter = TerminalReporter { verbose };
    let mut done: BTreeMap<&str, Done> = BTreeMap::new();
    // One at a time, dependencies first; a failure stops only what depends on it.
    for package in &plan.packages {
        let needs = package.recipe.deps.iter().chain(&package.recipe.build_deps);
        let blocked = needs.filter_map(|dep| match done.get(dep.as_str()) {
            Some(Done::Failed) => Some(dep.clone()),
            Some(Done::Skipped(cause)) => Some(cause.clone()),
            _ => None,
        });
        if let Some(cause) = blocked.into_iter().next() {
            done.insert(&package.name, Done::Skipped(cause));
            continue;
        }
        let outcome = match builder.build(&package.spec, &reporter)? {
            BuildOutcome::AlreadyBuilt { .. } => Done::Present,
            BuildOutcome::Built { duration, .. } => {
                eprintln!(
                    "built {} in {:.1} s",
                    package.spec.id(),
                    duration.as_secs_f64()
                );
                Done::Built
            }
            BuildOutcome::Failed(failure) => {
                eprintln!("error: {}", report::failure(&failure));
                Done::Failed
            }
        };
        done.insert(&package.name, outcome);
    }
    let count = |f: fn(&Done) -> bool| done.values().filter(|d| f(d)).count();
    let (built, present, failed) = (
        count(|d| matches!(d, Done::Built)),
        count(|d| matches!(d, Done::Present)),
        count(|d| matches!(d, Done::Failed)),
    );
    if failed > 0 {
        let failed_names: Vec<&str> = done
            .iter()
            .filter(|(_, d)| matches!(d, Done::Failed))
            .map(|(n, _)| *n)
            .collect();
        eprintln!(
            "error: {} failed: {}",
            if failed == 1 { "1 package" } else { "packages" },
            failed_names.join(", ")
        );
        for (name, outcome) in &done {
            if let Done::Skipped(cause) = outcome {
                eprintln!("  skipped {name}: it needs {cause}");
            }
        }
        eprintln!("{built} built, {present} already built; the profile link was not changed");
        return Ok(ExitCode::FAILURE);
    }

    let spec = ProfileSpec {
        name: plan.profile.name.clone(),
        packages: plan
            .packages
            .iter()
            .filter(|p| p.linked)
            .map(|p| (p.name.clone(), p.spec.id().clone()))
            .collect(),
        prefer: plan.profile.prefer.clone(),
    };
    let (path, _) = profile::assemble(&store, &spec)?;
    let link = PathBuf::from(&plan.profile.name);
    profile::switch(&link, &path, &home.gc_roots_dir())?;
    eprintln!(
        "profile {}: {} packages ({built} built, {present} already built) -> ./{}",
        plan.profile.name,
        spec.packages.len(),
        link.display()
    );
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
