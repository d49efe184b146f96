//! Building one artifact: the steps between a build spec and a store path.
//!
//! [`Builder::build`] returns quickly when the artifact exists. Otherwise it checks that
//! every import is built, takes the id's lock (reporting when it has to wait for another
//! process), looks again, tries the binary caches if it has a [`Substituter`] (see
//! [`crate::cache`]; a cache that fails is a warning, and the build goes on), claims a
//! path, fetches and unpacks the sources into `$BUILD`, runs the commands (each in the
//! sandbox's namespaces where it is on and works: see [`crate::sandbox`]) and commits (see
//! [`crate::store`] for the protocol). [`Builder::check`] builds a built artifact again
//! and compares (`hit build --check`, check.rs).
//!
//! The build's environment starts empty. It holds only:
//!
//! | variable | value |
//! |----------|-------|
//! | `ARTIFACT` | the artifact's final path (install here) |
//! | `BUILD` | the build directory, where sources are unpacked and commands start |
//! | `HOME` | an empty directory of the build's own |
//! | `<REF>_DIR`, `<REF>_ID` | path and id of each import that has a `ref` |
//! | `PATH` | the whitelisted host `PATH` (if any), after the `bin/` of each import |
//! | `SOURCE_DATE_EPOCH`, `TZ`, `LC_ALL` | `315532800` (1980-01-01), `UTC`, `C`: see [`DETERMINISTIC`] |
//! | `MAKEFLAGS` | with a jobserver ([`Builder::with_jobserver`]): its `--jobserver-auth`, for every command |
//! | whitelisted | host variables named in `env_whitelist` (config) |
//!
//! A build must not change its imports: hit fingerprints each import's files (names,
//! modes, sizes, times and contents) before and after the commands, and a build that changed one fails, and the
//! changed import leaves the store (it no longer matches its id). The sandbox makes such
//! writes fail (the store is read-only there, for root too); without it, read-only bits
//! stop them for ordinary users, and this catches them for root.
//!
//! A build that fails is an outcome ([`BuildOutcome::Failed`]) with the error, the log's
//! last lines and where the log and the build directory are; the build directory is kept.
//! Only a problem with the store itself (or an import that is not built) is an `Err`.

mod check;
mod environment;
mod failure;

pub use check::{CheckOutcome, Difference};
pub use environment::{BuildDirs, BuildEnvironment, DETERMINISTIC};
pub use failure::{BuildFailure, FailureCause};

use crate::cache::Substituter;
use crate::job::{BuildLog, Environment, JobRunner, LogSink, log_tail};
use crate::jobserver::Jobserver;
use crate::sandbox::{Mode, Sandbox, View};
use crate::source::SourceCache;
use crate::spec::{ArtifactId, BuildSpec, pretty_document};
use crate::store::{ArtifactMeta, META_FORMAT, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many log lines a failure carries.
pub const FAILURE_TAIL_LINES: usize = 20;

/// What builds report while they run (the last four come from the scheduler).
#[derive(Debug)]
pub enum BuildEvent<'a> {
    /// A schedule of this many builds is about to run (sent once, before the others).
    Planned { builds: usize },
    /// Another process holds the id's lock; this one waits for it. `holder` is who, as
    /// it recorded itself (`process 1234 on node17, for 42 s`), if it did.
    WaitingForLock {
        id: &'a ArtifactId,
        holder: Option<&'a str>,
    },
    /// The artifact is being downloaded from a binary cache (sent as bytes arrive).
    Downloading {
        id: &'a ArtifactId,
        progress: crate::source::Progress,
    },
    /// A binary cache could not be used for this artifact (unreachable, entry refused):
    /// a warning; the artifact is built (or taken from a later cache) instead.
    CacheProblem {
        id: &'a ArtifactId,
        problem: &'a crate::cache::CacheError,
    },
    /// The sandbox does not work here ([`crate::sandbox::Mode::Auto`]): builds run without
    /// it. Sent once, by the first build that tried it.
    SandboxUnavailable { reason: &'a str },
    /// The build was handed to Slurm as this job or step (see
    /// [`crate::executor::slurm`]); it may wait in Slurm's queue before it starts.
    Submitted { id: &'a ArtifactId, job: &'a str },
    /// The build's batch job changed state in Slurm's queue (`PENDING`, `RUNNING`,
    /// `COMPLETING`).
    SlurmState {
        id: &'a ArtifactId,
        job: &'a str,
        state: &'a str,
    },
    /// Slurm killed the build's job or step (time limit, node failure, preemption); it is
    /// run again, for the `attempt`th time beyond the first.
    Retrying {
        id: &'a ArtifactId,
        attempt: u32,
        reason: &'a str,
    },
    /// The build starts (nothing was in the store).
    Started { id: &'a ArtifactId, log: &'a Path },
    /// Output for the build log.
    Log { id: &'a ArtifactId, bytes: &'a [u8] },
    /// A package of a schedule was in the store already.
    AlreadyBuilt { name: &'a str, id: &'a ArtifactId },
    /// A package of a schedule was built.
    Finished {
        name: &'a str,
        id: &'a ArtifactId,
        duration: Duration,
    },
    /// A package of a schedule was installed from a binary cache instead of built.
    Fetched {
        name: &'a str,
        id: &'a ArtifactId,
        duration: Duration,
        fetched: &'a crate::cache::Fetched,
    },
    /// A package of a schedule failed to build.
    Failed {
        name: &'a str,
        failure: &'a BuildFailure,
    },
    /// A package of a schedule was not built because a dependency failed.
    Skipped {
        name: &'a str,
        id: &'a ArtifactId,
        because: &'a str,
    },
}

/// Receives [`BuildEvent`]s; the `hit` binary prints them.
pub trait Reporter: Sync {
    fn event(&self, event: BuildEvent<'_>);

    /// Whether [`BuildEvent::Log`] is wanted. When it is not, commands write straight into
    /// their build log instead of through hit.
    fn wants_log(&self) -> bool {
        true
    }
}

/// A reporter that ignores everything.
#[derive(Debug, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: BuildEvent<'_>) {}

    fn wants_log(&self) -> bool {
        false
    }
}

/// How a build ended.
#[derive(Debug)]
pub enum BuildOutcome {
    /// It was in the store already (maybe built meanwhile by another process).
    AlreadyBuilt {
        path: PathBuf,
    },
    Built {
        path: PathBuf,
        duration: Duration,
    },
    /// Installed from a binary cache.
    Fetched {
        fetched: crate::cache::Fetched,
        duration: Duration,
    },
    Failed(BuildFailure),
}

/// A build that could not even be attempted.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{id}: import {import} is not built; build it first")]
    ImportNotBuilt { id: ArtifactId, import: ArtifactId },
    #[error(
        "{id} imports {name}: {why} (`virtuals: {{ \"{name}\": NAME/HASH }}` in config.yaml resolves it)"
    )]
    Virtual {
        id: ArtifactId,
        name: String,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Schedule(String),
    #[error(
        "{0} (`sandbox: on` in config.yaml or --sandbox asks for it; --no-sandbox builds without)"
    )]
    Sandbox(crate::sandbox::Unavailable),
    #[error("{id} is not built: nothing to check")]
    NotBuilt { id: ArtifactId },
    #[error("--check needs the build sandbox, to rebuild at the artifact's own path, and {}", .0.reason)]
    CheckNeedsSandbox(crate::sandbox::Unavailable),
    #[error("{path}: {what}")]
    Check {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write the build log")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Builds artifacts into one store.
#[derive(Debug)]
pub struct Builder<'a> {
    store: &'a Store,
    sources: &'a SourceCache,
    host_env: BTreeMap<String, String>,
    jobserver: Option<Arc<Jobserver>>,
    timeout: Option<std::time::Duration>,
    substituter: Option<&'a Substituter>,
    sandbox: Option<(&'a Sandbox, Mode)>,
    /// What `virtual:` imports resolve to (config.yaml's `virtuals:`).
    virtuals: BTreeMap<String, String>,
}

/// The field of an artifact's `build.json` that records what its `virtual:` imports
/// resolved to (`verify` counts them among its imports).
pub const VIRTUALS_FIELD: &str = "nohash_virtuals";

struct Forward<'a> {
    id: &'a ArtifactId,
    reporter: &'a dyn Reporter,
}

impl LogSink for Forward<'_> {
    fn write(&self, bytes: &[u8]) {
        self.reporter.event(BuildEvent::Log { id: self.id, bytes });
    }

    fn is_listening(&self) -> bool {
        self.reporter.wants_log()
    }
}

impl<'a> Builder<'a> {
    /// `env_whitelist` names the host variables builds see (their values are read now).
    pub fn new(store: &'a Store, sources: &'a SourceCache, env_whitelist: &[String]) -> Self {
        let host_env = env_whitelist
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value)))
            .collect();
        Self {
            store,
            sources,
            host_env,
            jobserver: None,
            timeout: None,
            substituter: None,
            sandbox: None,
            virtuals: BTreeMap::new(),
        }
    }

    /// Resolves `virtual:` imports: name -> artifact id (config.yaml's `virtuals:`).
    pub fn with_virtuals(mut self, virtuals: BTreeMap<String, String>) -> Self {
        self.virtuals = virtuals;
        self
    }

    /// Runs every build's commands in `sandbox` ([`Mode::Auto`]: when it works here;
    /// [`Mode::On`]: or fail; [`Mode::Off`]: never).
    pub fn with_sandbox(mut self, sandbox: &'a Sandbox, mode: Mode) -> Self {
        if mode != Mode::Off {
            self.sandbox = Some((sandbox, mode));
        }
        self
    }

    /// Tries the substituter's binary caches for each artifact before building it.
    pub fn with_substituter(mut self, substituter: &'a Substituter) -> Self {
        if !substituter.is_empty() {
            self.substituter = Some(substituter);
        }
        self
    }

    /// Gives every build's commands this jobserver (see [`JobRunner::with_jobserver`]).
    /// Stops a build that runs longer than `timeout` (`build_timeout` in config.yaml).
    pub fn with_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_jobserver(mut self, jobserver: Arc<Jobserver>) -> Self {
        self.jobserver = Some(jobserver);
        self
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    pub fn jobserver(&self) -> Option<&Arc<Jobserver>> {
        self.jobserver.as_ref()
    }

    /// Builds `spec` unless it is in the store.
    pub fn build(
        &self,
        spec: &BuildSpec,
        reporter: &dyn Reporter,
    ) -> Result<BuildOutcome, BuildError> {
        let id = spec.id();
        if let Some(path) = self.store.resolve(id)? {
            return Ok(BuildOutcome::AlreadyBuilt { path });
        }
        let imports = self.imports(spec)?;
        let lock = self.lock(id, reporter)?;
        if let Some(path) = self.store.resolve(id)? {
            return Ok(BuildOutcome::AlreadyBuilt { path });
        }
        let started = Instant::now();
        if let Some(substituter) = self.substituter {
            let substitution = substituter.substitute(self.store, id, &lock, &mut |progress| {
                reporter.event(BuildEvent::Downloading { id, progress });
            });
            for problem in &substitution.problems {
                reporter.event(BuildEvent::CacheProblem { id, problem });
            }
            if let Some(fetched) = substitution.fetched {
                return Ok(BuildOutcome::Fetched {
                    fetched,
                    duration: started.elapsed(),
                });
            }
        }
        let sandbox = self.sandbox(reporter)?;
        let staging = self.store.stage(id, &lock)?;
        let view = sandbox.map(|_| self.view(&imports, &staging, Vec::new()));
        reporter.event(BuildEvent::Started {
            id,
            log: &staging.log_path,
        });
        let sink = Forward { id, reporter };
        let log_error = |source| BuildError::Log {
            path: staging.log_path.clone(),
            source,
        };
        let mut log = BuildLog::create(&staging.log_path, &sink).map_err(log_error)?;
        log.line(&format!(
            "hit: building {id} in {}",
            staging.work_dir.display()
        ))
        .map_err(log_error)?;

        let vars = self
            .variables(&staging, &imports, &mut log)
            .map_err(log_error)?;

        let before = imports
            .iter()
            .map(|(_, path)| self.store.fingerprint(path))
            .collect::<Result<Vec<_>, _>>()?;
        let deadline = self.timeout.map(|timeout| started + timeout);
        let sandboxed = sandbox.zip(view.as_ref());
        let mut result = self
            .run(spec, &staging, &mut log, vars, deadline, sandboxed)
            .and_then(|()| self.check_stage(&staging, &mut log));
        for ((import, path), before) in imports.iter().zip(before) {
            if self.store.fingerprint(path).ok() != Some(before) {
                // It no longer is what its id says: out of the store, to be built again.
                self.store.purge(&import.id)?;
                result = Err(FailureCause::ChangedImport {
                    import: import.id.clone(),
                    path: path.clone(),
                });
                break;
            }
        }
        match result {
            Ok(()) => {
                let meta = self.meta(spec, &imports)?;
                log.line(&format!(
                    "hit: built {id} in {:.1} s",
                    started.elapsed().as_secs_f64()
                ))
                .map_err(log_error)?;
                drop(log);
                let path = self
                    .store
                    .commit(&staging, &meta, &self.build_json(spec, &imports))?;
                Ok(BuildOutcome::Built {
                    path,
                    duration: started.elapsed(),
                })
            }
            Err(cause) => {
                // The tail is taken before hit's own last line, which repeats the error.
                let log_tail = log_tail(&staging.log_path, FAILURE_TAIL_LINES);
                log.line(&format!("hit: build of {id} failed: {cause}"))
                    .map_err(log_error)?;
                drop(log);
                self.store.abandon(&staging)?;
                Ok(BuildOutcome::Failed(BuildFailure {
                    id: id.clone(),
                    cause,
                    log_tail,
                    log: staging.log_path,
                    build_dir: staging.work_dir,
                }))
            }
        }
    }

    /// The artifacts `spec` imports, with their paths; each must be built. A `virtual:`
    /// import is the artifact config.yaml's `virtuals:` maps its name to.
    fn imports(&self, spec: &BuildSpec) -> Result<Vec<(crate::spec::Import, PathBuf)>, BuildError> {
        let mut imports: Vec<crate::spec::Import> = spec.imports().to_vec();
        for import in spec.virtual_imports() {
            let fail = |why: String| BuildError::Virtual {
                id: spec.id().clone(),
                name: import.name.clone(),
                why,
            };
            let target = self.virtuals.get(&import.name).ok_or_else(|| {
                fail("config.yaml's `virtuals:` does not map it to an artifact".into())
            })?;
            let id: ArtifactId = target
                .parse()
                .map_err(|error| fail(format!("`virtuals:` maps it to {target:?}: {error}")))?;
            imports.push(crate::spec::Import {
                id,
                reference: import.reference.clone(),
                in_env: import.in_env,
            });
        }
        imports
            .into_iter()
            .map(|import| {
                let path =
                    self.store
                        .resolve(&import.id)?
                        .ok_or_else(|| BuildError::ImportNotBuilt {
                            id: spec.id().clone(),
                            import: import.id.clone(),
                        })?;
                Ok((import, path))
            })
            .collect()
    }

    /// The spec as the artifact keeps it (`.hit/build.json`): with what its `virtual:`
    /// imports resolved to, as `nohash_virtuals` (not hashed: the id stays the spec's).
    fn build_json(&self, spec: &BuildSpec, imports: &[(crate::spec::Import, PathBuf)]) -> String {
        if spec.virtual_imports().is_empty() {
            return pretty_document(spec.document());
        }
        // `imports` lists the spec's own imports, then what each virtual one resolved to.
        let resolved: serde_json::Map<String, serde_json::Value> = spec
            .virtual_imports()
            .iter()
            .zip(&imports[spec.imports().len()..])
            .map(|(virtual_import, (import, _))| {
                (
                    virtual_import.name.clone(),
                    serde_json::Value::String(import.id.to_string()),
                )
            })
            .collect();
        let mut document = spec.document().clone();
        if let serde_json::Value::Object(map) = &mut document {
            map.insert(
                VIRTUALS_FIELD.to_owned(),
                serde_json::Value::Object(resolved),
            );
        }
        pretty_document(&document)
    }

    /// Takes the build lock of `id`, saying whom it waits for when another process holds
    /// it, and records this process as its holder for those that wait next.
    fn lock(
        &self,
        id: &ArtifactId,
        reporter: &dyn Reporter,
    ) -> Result<crate::store::FileLock, BuildError> {
        let lock = match self.store.try_lock(id)? {
            Some(lock) => lock,
            None => {
                let holder = self.store.lock_holder(id);
                reporter.event(BuildEvent::WaitingForLock {
                    id,
                    holder: holder.as_deref(),
                });
                self.store.lock(id)?
            }
        };
        lock.record_holder();
        Ok(lock)
    }

    /// What a build's commands see in the sandbox besides what every build sees: the host
    /// paths of its imported host packages, its work dir, and `binds`.
    fn view(
        &self,
        imports: &[(crate::spec::Import, PathBuf)],
        staging: &crate::store::Staging,
        binds: Vec<(PathBuf, PathBuf)>,
    ) -> View {
        let paths: Vec<PathBuf> = imports.iter().map(|(_, path)| path.clone()).collect();
        View {
            read_only: crate::sandbox::host_paths(&paths, self.store.dir()),
            writable: vec![staging.work_dir.clone()],
            binds,
        }
    }

    /// The variables a build starts with (see the module doc), each written to the log.
    fn variables(
        &self,
        staging: &crate::store::Staging,
        imports: &[(crate::spec::Import, PathBuf)],
        log: &mut BuildLog<'_>,
    ) -> std::io::Result<BTreeMap<String, String>> {
        let environment = BuildEnvironment::new(
            BuildDirs {
                artifact: &staging.artifact_dir,
                build: &staging.build_dir,
                home: &staging.home_dir,
            },
            imports,
        );
        let mut vars: BTreeMap<String, String> = environment::DETERMINISTIC
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        vars.extend(self.host_env.clone());
        if let Some(path) = environment.path(vars.get("PATH").map(String::as_str)) {
            vars.insert("PATH".into(), path);
        }
        vars.extend(environment.vars);
        for (name, value) in &vars {
            log.line(&format!("hit: env {name}={value}"))?;
        }
        Ok(vars)
    }

    /// Fetches and unpacks the sources into `$BUILD`, then runs the commands.
    fn run(
        &self,
        spec: &BuildSpec,
        staging: &crate::store::Staging,
        log: &mut BuildLog<'_>,
        vars: BTreeMap<String, String>,
        deadline: Option<Instant>,
        sandbox: Option<(&Sandbox, &View)>,
    ) -> Result<(), FailureCause> {
        for source in spec.sources() {
            let target = staging.build_dir.join(source.unpack_dir());
            let url = source.url.as_deref().unwrap_or("(cache or mirrors only)");
            log.line(&format!("+ fetch {} {url}", source.key))
                .map_err(FailureCause::Log)?;
            let origin = self
                .sources
                .prepare(source)
                .map_err(|error| FailureCause::Fetch {
                    key: source.key.clone(),
                    error,
                })?;
            log.line(&format!("hit: {} from {origin}", source.key))
                .map_err(FailureCause::Log)?;
            log.line(&format!(
                "+ unpack {} into {}",
                source.key,
                target.display()
            ))
            .map_err(FailureCause::Log)?;
            self.sources
                .unpack(
                    &source.key,
                    source.url.as_deref(),
                    &target,
                    source.strip_rule(),
                )
                .map_err(|error| FailureCause::Unpack {
                    key: source.key.clone(),
                    error,
                })?;
        }
        let mut env = Environment {
            vars,
            cwd: staging.build_dir.clone(),
        };
        JobRunner::new(log, staging.inputs_dir.clone())
            .with_jobserver(self.jobserver.as_deref())
            .with_deadline(deadline)
            .with_sandbox(sandbox)
            .run(spec.commands(), &mut env)
            .map_err(FailureCause::Command)
    }

    /// What a build's commands left that the store refuses: a replaced claim, a file
    /// naming the stage, a device node.
    fn check_stage(
        &self,
        staging: &crate::store::Staging,
        log: &mut BuildLog<'_>,
    ) -> Result<(), FailureCause> {
        if let Some(broken) = self
            .store
            .check_claim(staging)
            .map_err(FailureCause::Store)?
        {
            return Err(FailureCause::ReplacedArtifact {
                artifact: staging.artifact_dir.clone(),
                moved_to: broken.moved_to,
            });
        }
        if let Some(file) = self
            .store
            .stage_reference(staging)
            .map_err(FailureCause::Store)?
        {
            return Err(FailureCause::StagingPath {
                file,
                staging: staging.stage_dir.clone(),
            });
        }
        let stripped = self
            .store
            .strip_special(staging)
            .map_err(FailureCause::Store)?
            .map_err(|(path, kind)| FailureCause::SpecialFile { path, kind })?;
        for file in stripped {
            log.line(&format!(
                "hit: removed the setuid/setgid bits of {} (a store hands out no privileges)",
                file.display()
            ))
            .map_err(FailureCause::Log)?;
        }
        Ok(())
    }

    /// The sandbox to build in, if there is one and it works here.
    fn sandbox(&self, reporter: &dyn Reporter) -> Result<Option<&'a Sandbox>, BuildError> {
        let Some((sandbox, mode)) = self.sandbox else {
            return Ok(None);
        };
        match sandbox.probe() {
            (Ok(_), _) => Ok(Some(sandbox)),
            (Err(unavailable), _) if mode == Mode::On => {
                Err(BuildError::Sandbox(unavailable.clone()))
            }
            (Err(unavailable), tried) => {
                if tried {
                    reporter.event(BuildEvent::SandboxUnavailable {
                        reason: &unavailable.reason,
                    });
                }
                Ok(None)
            }
        }
    }

    fn meta(
        &self,
        spec: &BuildSpec,
        imports: &[(crate::spec::Import, PathBuf)],
    ) -> Result<ArtifactMeta, BuildError> {
        let mut dependencies = BTreeSet::new();
        for (import, path) in imports {
            dependencies.insert(import.id.clone());
            dependencies.extend(self.store.read_meta(path)?.dependencies);
        }
        let mut direct: Vec<ArtifactId> = imports
            .iter()
            .map(|(import, _)| import.id.clone())
            .collect();
        direct.sort();
        direct.dedup();
        Ok(ArtifactMeta {
            format: META_FORMAT,
            id: spec.id().clone(),
            name: spec.name().to_string(),
            version: spec.version().map(str::to_owned),
            imports: direct,
            dependencies: dependencies.into_iter().collect(),
            content_hash: None,
            relocatable: None,
            reproducible: None,
        })
    }
}
