//! `hit build`: one build spec, or a whole profile through the scheduler.

use super::{
    DEFAULT_PROFILE, default_package_dirs, load_plan_with, parse_params, profile_file, read_spec,
};
use crate::cli::BuildOptions;
use crate::loader::FsLoader;
use crate::plan_cache;
use crate::report::{Output, Progress};
use anyhow::{Context, Result};
use hit_engine::build::{BuildOutcome, Builder, Reporter};
use hit_engine::durations::Durations;
use hit_engine::home::Home;
use hit_engine::profile::links::ProfileLinks;
use hit_engine::profile::{self, ProfileSpec};
use hit_engine::schedule::{self, ScheduleOptions, Task, TaskOutcome};
use hit_engine::source::SourceCache;
use hit_engine::store::Store;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn build(
    home: &Home,
    target: Option<PathBuf>,
    params: &[String],
    options: &BuildOptions,
) -> Result<ExitCode> {
    let target = target.unwrap_or_else(|| PathBuf::from(DEFAULT_PROFILE));
    let is_spec = target == Path::new("-") || target.extension().is_some_and(|ext| ext == "json");
    if is_spec {
        if !params.is_empty() {
            anyhow::bail!("KEY=VALUE parameters are for profiles; a build.json has none");
        }
        return build_spec(home, &target, options);
    }
    build_profile(home, &target, params, options)
}

/// Deletes this run's pool of reusable build directories when it ends, however it ends.
struct DrainPool<'a>(&'a Store);

impl Drop for DrainPool<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.drain_pool() {
            tracing::warn!("{error}");
        }
    }
}

fn output(options: &BuildOptions) -> Output {
    if options.json {
        Output::Json
    } else {
        Output::Human {
            verbose: options.verbose,
            quiet: options.quiet,
        }
    }
}

fn jobs(options: &BuildOptions) -> usize {
    options
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, hit_engine::jobserver::MAX_TOKENS)
}

fn builder<'a>(
    home: &Home,
    store: &'a Store,
    sources: &'a SourceCache,
    jobs: usize,
) -> Result<Builder<'a>> {
    let jobserver = schedule::jobserver(jobs).context("cannot create the make jobserver")?;
    Ok(Builder::new(store, sources, &home.config().env_whitelist)
        .with_jobserver(jobserver)
        .with_timeout(
            home.config()
                .build_timeout
                .map(std::time::Duration::from_secs),
        ))
}

/// Whether every artifact a built profile links (its recorded closure) is in the store: a
/// purged or damaged package sends the build down the full path, which rebuilds it.
fn closure_present(store: &Store, profile: &Path) -> Result<bool> {
    let Ok(meta) = store.read_meta(profile) else {
        return Ok(false);
    };
    for id in &meta.dependencies {
        if !store.is_present(id)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn build_spec(home: &Home, spec_path: &Path, options: &BuildOptions) -> Result<ExitCode> {
    let spec = read_spec(spec_path)?;
    let store = Store::for_home(home);
    store.check_build_dir()?;
    let _session = store.session()?;
    let _pool = DrainPool(&store);
    let sources = super::source_cache(home);
    let builder = builder(home, &store, &sources, jobs(options))?;
    let progress = Progress::new(output(options), 0);
    let outcome = builder.build(&spec, &progress)?;
    let (path, code) = match &outcome {
        BuildOutcome::AlreadyBuilt { path } => {
            progress.event(hit_engine::build::BuildEvent::AlreadyBuilt {
                name: spec.name().as_str(),
                id: spec.id(),
            });
            if progress.output() != Output::Json && !options.quiet {
                progress.say(&format!("{} is already built", spec.id()));
            }
            (Some(path), ExitCode::SUCCESS)
        }
        BuildOutcome::Built { path, duration } => {
            let duration = *duration;
            progress.event(hit_engine::build::BuildEvent::Finished {
                name: spec.name().as_str(),
                id: spec.id(),
                duration,
            });
            (Some(path), ExitCode::SUCCESS)
        }
        BuildOutcome::Failed(failure) => {
            progress.event(hit_engine::build::BuildEvent::Failed {
                name: spec.name().as_str(),
                failure,
            });
            (None, ExitCode::FAILURE)
        }
    };
    progress.finish();
    if let Some(path) = path {
        match progress.output() {
            Output::Json => progress
                .json(json!({"event": "artifact", "id": spec.id().to_string(), "path": path})),
            Output::Human { .. } => println!("{}", path.display()),
        }
    }
    Ok(code)
}

fn build_profile(
    home: &Home,
    file: &Path,
    params: &[String],
    options: &BuildOptions,
) -> Result<ExitCode> {
    let jobs = jobs(options);
    let store = Store::for_home(home);
    store.check_build_dir()?;
    // Until the profile is linked, nothing roots its packages: keep gc out meanwhile.
    let _session = store.session()?;
    let _pool = DrainPool(&store);
    let cache_dir = home.root().join("cache");
    let cache_key = plan_cache::key(
        &profile_file(file)?,
        &parse_params(params)?,
        &default_package_dirs(),
    );
    if let Some(entry) = plan_cache::lookup(&cache_dir, &cache_key, &FsLoader)
        && let Ok(id) = entry.profile_id.parse()
        && let Some(path) = store.resolve(&id)?
        && closure_present(&store, &path)?
    {
        // Nothing that went into the profile changed, and it is built: only link it.
        let link = PathBuf::from(&entry.profile_name);
        let switched = ProfileLinks::for_home(home).switch(&link, &path)?;
        let progress = Progress::new(output(options), 0);
        Linked {
            name: &entry.profile_name,
            packages: entry.linked,
            built: 0,
            present: entry.planned,
            link: &link,
            path: &path,
            generation: switched.generation,
        }
        .report(&progress);
        return Ok(ExitCode::SUCCESS);
    }
    let recorder = plan_cache::Recorder::new(&FsLoader);
    let plan = load_plan_with(file, params, Some(jobs), &recorder)?;
    let sources = super::source_cache(home);
    let builder = builder(home, &store, &sources, jobs)?;

    let index: HashMap<&str, usize> = plan
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let tasks: Vec<Task> = plan
        .packages
        .iter()
        .map(|package| Task {
            name: package.name.clone(),
            spec: package.spec.clone(),
            deps: package
                .recipe
                .deps
                .iter()
                .chain(&package.recipe.build_deps)
                .map(|dep| index[dep.as_str()])
                .collect(),
        })
        .collect();
    let progress = Progress::new(output(options), tasks.len());
    let mut durations = Durations::load(home.root());
    let schedule_options = ScheduleOptions {
        jobs,
        fail_fast: options.fail_fast,
    };
    let outcomes = schedule::run(
        &builder,
        &tasks,
        &mut durations,
        schedule_options,
        &progress,
    );
    progress.finish();
    let outcomes = outcomes?;

    let count = |f: fn(&TaskOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let built = count(|o| matches!(o, TaskOutcome::Built(_)));
    let present = count(|o| matches!(o, TaskOutcome::AlreadyBuilt));
    let names = |f: fn(&TaskOutcome) -> bool| -> Vec<&str> {
        tasks
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| f(o))
            .map(|(t, _)| t.name.as_str())
            .collect()
    };
    let failed = names(|o| matches!(o, TaskOutcome::Failed(_)));
    if !failed.is_empty() {
        let skipped = names(|o| matches!(o, TaskOutcome::Skipped(_)));
        let not_started = names(|o| matches!(o, TaskOutcome::NotStarted));
        if progress.output() == Output::Json {
            progress.json(json!({
                "event": "summary", "built": built, "present": present,
                "failed": failed, "skipped": skipped, "not_started": not_started,
            }));
        } else {
            let mut text = format!(
                "error: {} failed: {}",
                if failed.len() == 1 {
                    "1 package"
                } else {
                    "packages"
                },
                failed.join(", ")
            );
            if !skipped.is_empty() {
                text.push_str(&format!(
                    "\nskipped because of that: {}",
                    skipped.join(", ")
                ));
            }
            if !not_started.is_empty() {
                text.push_str(&format!(
                    "\nnot started (--fail-fast): {}",
                    not_started.join(", ")
                ));
            }
            text.push_str(&format!(
                "\n{built} built, {present} already built; the profile link was not changed"
            ));
            eprintln!("{text}");
        }
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
    let switched = ProfileLinks::for_home(home).switch(&link, &path)?;
    let entry = recorder.entry(
        &plan.profile.name,
        &spec.id().to_string(),
        spec.packages.len(),
        tasks.len(),
    );
    plan_cache::save(&cache_dir, &cache_key, &entry);
    Linked {
        name: &plan.profile.name,
        packages: spec.packages.len(),
        built,
        present,
        link: &link,
        path: &path,
        generation: switched.generation,
    }
    .report(&progress);
    Ok(ExitCode::SUCCESS)
}

/// The last words of a successful profile build.
struct Linked<'a> {
    name: &'a str,
    packages: usize,
    built: usize,
    present: usize,
    link: &'a Path,
    path: &'a Path,
    generation: u32,
}

impl Linked<'_> {
    fn report(&self, progress: &Progress) {
        let Linked {
            name,
            packages: linked,
            built,
            present,
            link,
            path,
            generation,
        } = *self;
        match progress.output() {
            Output::Json => progress.json(json!({
                "event": "profile", "name": name, "packages": linked,
                "built": built, "present": present, "link": link, "path": path,
                "generation": generation,
            })),
            Output::Human { quiet, .. } => {
                if !quiet {
                    eprintln!(
                        "profile {name}: {linked} packages ({built} built, {present} already built) -> ./{} (generation {generation})",
                        link.display()
                    );
                }
                println!("{}", path.display());
            }
        }
    }
}
