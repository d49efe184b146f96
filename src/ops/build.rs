//! `hit build`: one build spec, or a whole profile.
//!
//! A profile goes plan -> schedule -> assemble -> link:
//!
//! 1. If the plan cache has an entry for this profile and parameters whose files are all
//!    unchanged, and the profile artifact it names is in the store with its whole closure,
//!    nothing is evaluated: the link is switched to it (the no-op path, a few ms).
//! 2. Otherwise the profile is planned (through a [`Recorder`], which notes every file the
//!    plan read), every package is built by the engine's scheduler, and if none failed the
//!    profile artifact is assembled and `./<profile>` switched to it atomically.
//!
//! A failed build is an outcome ([`ProfileBuild::Failed`]), not an error: the link stays
//! as it was. Events go to the caller's [`Reporter`] as they happen.

use super::lock::Lockfile;
use super::{Error, ProfileRequest, Result, load_plan_with, parse_params, profile_file};
use crate::loader::FsLoader;
use crate::plan_cache::{self, Recorder};
use hit_engine::build::{BuildEvent, BuildOutcome, Builder, Reporter};
use hit_engine::cache::Substituter;
use hit_engine::durations::Durations;
use hit_engine::executor::Executor;
use hit_engine::executor::slurm::{Placement, Slurm, SlurmOptions};
use hit_engine::home::ExecutorKind;
use hit_engine::home::Home;
use hit_engine::profile;
use hit_engine::profile::links::ProfileLinks;
use hit_engine::sandbox::{Mode, Sandbox};
use hit_engine::schedule::{self, ScheduleOptions, Task, TaskOutcome};
use hit_engine::source::SourceCache;
use hit_engine::spec::BuildSpec;
use hit_engine::store::Store;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How builds run.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Jobs at once across all builds (one make jobserver); 1 to
    /// [`hit_engine::jobserver::MAX_TOKENS`].
    pub jobs: usize,
    /// Stop starting builds after the first failure.
    pub fail_fast: bool,
    /// Try the binary caches of config.yaml before building (`--no-caches` turns it off).
    pub caches: bool,
    /// Whether commands run in the sandbox: `--sandbox`/`--no-sandbox`, or `None` for
    /// `sandbox` of config.yaml.
    pub sandbox: Option<Mode>,
    /// Where builds run: `--executor`, or `None` for `executor` of config.yaml.
    pub executor: Option<ExecutorKind>,
    /// With Slurm: how many times a build Slurm killed is run again.
    pub retries: u32,
}

impl BuildOptions {
    /// As many jobs as CPUs.
    pub fn default_jobs() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// A profile built and linked.
#[derive(Debug, Clone)]
pub struct Linked {
    pub name: String,
    /// Packages in the profile's tree.
    pub packages: usize,
    /// Built by this run.
    pub built: usize,
    /// Installed from a binary cache by this run.
    pub fetched: usize,
    /// Already in the store.
    pub present: usize,
    /// `./<name>`.
    pub link: PathBuf,
    /// The profile artifact.
    pub path: PathBuf,
    pub generation: u32,
}

/// Some packages failed; the link was not changed.
#[derive(Debug, Clone)]
pub struct Failed {
    pub built: usize,
    pub fetched: usize,
    pub present: usize,
    pub failed: Vec<String>,
    /// Not built because something they need failed.
    pub skipped: Vec<String>,
    /// Not started because of `fail_fast`.
    pub not_started: Vec<String>,
}

/// How a profile build ended.
#[derive(Debug, Clone)]
pub enum ProfileBuild {
    Linked(Linked),
    Failed(Failed),
}

/// Deletes this run's pool of reusable build directories when it ends, however it ends.
struct DrainPool<'a>(&'a Store);

impl Drop for DrainPool<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.drain_pool() {
            tracing::warn!("{}", hit_engine::errors::with_causes(&error));
        }
    }
}

/// The sandbox builds of this home run in. The helper is `hit-sandbox` next to this
/// executable (small, so quick to start), or this executable itself.
pub fn sandbox(home: &Home) -> Result<Sandbox> {
    let hit = std::env::current_exe().map_err(Error::io("cannot find the hit executable"))?;
    let mut helpers = Vec::new();
    if let Some(dir) = hit.parent() {
        let small = dir.join("hit-sandbox");
        if small.is_file() {
            helpers.push(small);
        }
    }
    helpers.push(hit);
    let mut read_only = vec![home.store_dir(), home.source_dir()];
    read_only.extend(home.sandbox_paths());
    Ok(Sandbox::new(helpers, home.sandbox_root(), read_only))
}

pub(crate) fn builder<'a>(
    home: &Home,
    store: &'a Store,
    sources: &'a SourceCache,
    substituter: &'a Substituter,
    sandbox: &'a Sandbox,
    options: &BuildOptions,
) -> Result<Builder<'a>> {
    let jobserver =
        schedule::jobserver(options.jobs).map_err(Error::io("cannot create the make jobserver"))?;
    let builder = Builder::new(store, sources, &home.config().env_whitelist)
        .with_jobserver(jobserver)
        .with_timeout(
            home.config()
                .build_timeout
                .map(std::time::Duration::from_secs),
        )
        .with_sandbox(sandbox, options.sandbox.unwrap_or(home.config().sandbox))
        .with_virtuals(home.config().virtuals.clone());
    Ok(if options.caches {
        builder.with_substituter(substituter)
    } else {
        builder
    })
}

/// The Slurm executor, when `--executor slurm` or `executor: slurm` asks for it: each
/// build runs `hit` (this executable, which the nodes must see at the same path) in a job
/// step or a batch job, with `-j` CPUs.
fn slurm<'a>(home: &Home, store: &'a Store, options: &BuildOptions) -> Result<Option<Slurm<'a>>> {
    if options.executor.unwrap_or(home.config().executor) != ExecutorKind::Slurm {
        return Ok(None);
    }
    let hit = std::env::current_exe().map_err(Error::io("cannot find the hit executable"))?;
    let mut remote_args = Vec::new();
    match options.sandbox {
        Some(Mode::On) => remote_args.push("--sandbox".to_owned()),
        Some(Mode::Off) => remote_args.push("--no-sandbox".to_owned()),
        Some(Mode::Auto) | None => {}
    }
    if !options.caches {
        remote_args.push("--no-caches".to_owned());
    }
    let slurm = Slurm::new(
        store,
        SlurmOptions {
            hit,
            home: home.root().to_owned(),
            config: home.config().slurm.clone(),
            placement: Placement::from_env(),
            cpus: options.jobs,
            retries: options.retries,
            remote_args,
        },
    )?;
    Ok(Some(slurm))
}

/// Builds one spec; the outcome's event has been reported.
pub fn build_spec(
    home: &Home,
    spec: &BuildSpec,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildOutcome> {
    let store = Store::for_home(home);
    store.check_build_dir()?;
    let _session = store.session()?;
    let _pool = DrainPool(&store);
    let sources = super::source_cache(home);
    let substituter = Substituter::for_home(home)?;
    let sandbox = sandbox(home)?;
    let builder = builder(home, &store, &sources, &substituter, &sandbox, options)?;
    let slurm = slurm(home, &store, options)?;
    let executor: &dyn Executor = match &slurm {
        Some(slurm) => slurm,
        None => &builder,
    };
    reporter.event(BuildEvent::Planned { builds: 0 });
    let outcome = executor.build(spec, &Default::default(), reporter)?;
    let (name, id) = (spec.name().as_str(), spec.id());
    reporter.event(match &outcome {
        BuildOutcome::AlreadyBuilt { .. } => BuildEvent::AlreadyBuilt { name, id },
        BuildOutcome::Built { duration, .. } => BuildEvent::Finished {
            name,
            id,
            duration: *duration,
        },
        BuildOutcome::Fetched { fetched, duration } => BuildEvent::Fetched {
            name,
            id,
            duration: *duration,
            fetched,
        },
        BuildOutcome::Failed(failure) => BuildEvent::Failed { name, failure },
    });
    Ok(outcome)
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

fn plan_cache_key(home: &Home, request: &ProfileRequest) -> Result<(PathBuf, String)> {
    let key = plan_cache::key(
        &profile_file(&request.file)?,
        &parse_params(&request.params)?,
        &super::default_package_dirs(),
    );
    Ok((home.plan_cache_dir(plan_cache::FORMAT), key))
}

/// The plan cache's entry for this profile and its built profile artifact, if nothing that
/// went into the plan changed and the artifact is in the store with its whole closure.
fn cached_profile(
    store: &Store,
    cache_dir: &Path,
    cache_key: &str,
) -> Result<Option<(plan_cache::Entry, PathBuf)>> {
    if let Some(entry) = plan_cache::lookup(cache_dir, cache_key, &FsLoader)
        && let Ok(id) = entry.profile_id.parse()
        && let Some(path) = store.resolve(&id)?
        && closure_present(store, &path)?
    {
        return Ok(Some((entry, path)));
    }
    Ok(None)
}

/// The built profile artifact of `request`, if the plan cache knows it and nothing that
/// went into it changed: what a build would link without evaluating anything.
pub fn built_profile_unchanged(home: &Home, request: &ProfileRequest) -> Result<Option<PathBuf>> {
    let (cache_dir, cache_key) = plan_cache_key(home, request)?;
    Ok(cached_profile(&Store::for_home(home), &cache_dir, &cache_key)?.map(|(_, path)| path))
}

/// Builds a profile and links `./<name>` to it (see the module doc).
///
/// With `locked`, the profile must evaluate to exactly the lockfile's ids, or nothing is
/// built and the error lists each package that differs and how.
pub fn build_profile(
    home: &Home,
    request: &ProfileRequest,
    options: &BuildOptions,
    locked: Option<&Lockfile>,
    reporter: &dyn Reporter,
) -> Result<ProfileBuild> {
    let store = Store::for_home(home);
    store.check_build_dir()?;
    // Until the profile is linked, nothing roots its packages: keep gc out meanwhile.
    let _session = store.session()?;
    let _pool = DrainPool(&store);
    let (cache_dir, cache_key) = plan_cache_key(home, request)?;
    if let Some((entry, path)) = cached_profile(&store, &cache_dir, &cache_key)?
        && locked.is_none_or(|lock| lock.profile_id == entry.profile_id)
    {
        // Nothing that went into the profile changed, and it is built: only link it.
        let link = PathBuf::from(&entry.profile_name);
        let switched = ProfileLinks::for_home(home).switch(&link, &path)?;
        return Ok(ProfileBuild::Linked(Linked {
            name: entry.profile_name,
            packages: entry.linked,
            built: 0,
            fetched: 0,
            present: entry.planned,
            link,
            path,
            generation: switched.generation,
        }));
    }
    let recorder = Recorder::new(&FsLoader);
    let plan = load_plan_with(request, Some(options.jobs), &recorder)?;
    if let Some(lock) = locked {
        let now = Lockfile::of_plan(&plan, &parse_params(&request.params)?);
        let differences = super::lock::compare(lock, &now);
        if !differences.is_empty() {
            return Err(Error::Unlocked(differences));
        }
    }
    let sources = super::source_cache(home);
    let substituter = Substituter::for_home(home)?;
    let sandbox = sandbox(home)?;
    let builder = builder(home, &store, &sources, &substituter, &sandbox, options)?;

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
            resources: hit_engine::executor::Resources {
                cpus: package.recipe.cpus,
                time: package.recipe.time.clone(),
            },
        })
        .collect();
    let mut durations = Durations::load(&home.durations_file());
    let schedule_options = ScheduleOptions {
        jobs: options.jobs,
        fail_fast: options.fail_fast,
    };
    let slurm = slurm(home, &store, options)?;
    let executor: &dyn Executor = match &slurm {
        Some(slurm) => slurm,
        None => &builder,
    };
    let outcomes = schedule::run(executor, &tasks, &mut durations, schedule_options, reporter)?;

    let count = |f: fn(&TaskOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let built = count(|o| matches!(o, TaskOutcome::Built(_)));
    let fetched = count(|o| matches!(o, TaskOutcome::Fetched(_)));
    let present = count(|o| matches!(o, TaskOutcome::AlreadyBuilt));
    let names = |f: fn(&TaskOutcome) -> bool| -> Vec<String> {
        tasks
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| f(o))
            .map(|(t, _)| t.name.clone())
            .collect()
    };
    let failed = names(|o| matches!(o, TaskOutcome::Failed(_)));
    if !failed.is_empty() {
        return Ok(ProfileBuild::Failed(Failed {
            built,
            fetched,
            present,
            failed,
            skipped: names(|o| matches!(o, TaskOutcome::Skipped(_))),
            not_started: names(|o| matches!(o, TaskOutcome::NotStarted)),
        }));
    }

    let spec = super::profile_spec(&plan);
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
    Ok(ProfileBuild::Linked(Linked {
        name: plan.profile.name.clone(),
        packages: spec.packages.len(),
        built,
        fetched,
        present,
        link,
        path,
        generation: switched.generation,
    }))
}

/// What `hit build --dry-run` says: for each package of the plan whether it is reused or
/// would be built, and which of its sources would be fetched (not in the source cache).
#[derive(Debug, Clone)]
pub struct DryRun {
    pub profile: String,
    pub packages: Vec<DryRunPackage>,
    /// Whether the profile artifact itself is in the store (then only the link moves).
    pub profile_built: bool,
}

#[derive(Debug, Clone)]
pub struct DryRunPackage {
    pub name: String,
    pub id: hit_engine::spec::ArtifactId,
    pub built: bool,
    /// Sources to fetch (key, URL if any): only for packages that would be built.
    pub fetch: Vec<(String, Option<String>)>,
}

/// Plans a profile and compares it with the store; builds, fetches and links nothing.
pub fn dry_run(home: &Home, request: &ProfileRequest) -> Result<DryRun> {
    let plan = super::load_plan(request, None)?;
    let store = Store::for_home(home);
    let sources = super::source_cache(home);
    let mut packages = Vec::new();
    for package in &plan.packages {
        let built = store.resolve(package.spec.id())?.is_some();
        let fetch = if built {
            Vec::new()
        } else {
            package
                .spec
                .sources()
                .iter()
                .filter(|source| {
                    !matches!(source.key, hit_engine::spec::SourceKey::Files(_))
                        && !sources.contains(&source.key)
                })
                .map(|source| (source.key.to_string(), source.url.clone()))
                .collect()
        };
        packages.push(DryRunPackage {
            name: package.name.clone(),
            id: package.spec.id().clone(),
            built,
            fetch,
        });
    }
    Ok(DryRun {
        profile: plan.profile.name.clone(),
        profile_built: store.resolve(&super::profile_spec(&plan).id())?.is_some(),
        packages,
    })
}
