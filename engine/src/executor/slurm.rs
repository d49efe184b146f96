//! The Slurm executor: each build runs as a Slurm job step (inside an allocation) or as a
//! batch job of its own (outside one), and what runs there is `hit` itself building one
//! spec into the shared store.
//!
//! ## One build
//!
//! 1. The spec is written to `<home>/slurm/<name>-<hash>.json`, where the node reads it
//!    (the home and the store must be on a file system every node shares).
//! 2. Inside an allocation (`SLURM_JOB_ID` set, e.g. under `salloc`): `srun --exclusive -N1
//!    -n1 -c CPUS -J hit:<name> -- hit --home HOME build SPEC --json -j CPUS`; its output
//!    comes back through srun's pipes as it is written. Outside one: `sbatch --parsable`
//!    with the same command, so a login node never builds; one `squeue` for all jobs
//!    watches their states and ends (see `queue.rs`). Either way the output ends up in
//!    `<name>-<hash>.out` and `.err` beside the spec.
//! 3. The remote `hit` takes the id's lock, builds (sandboxed, where the node allows) and
//!    commits, as a local build would, and prints `--json` events. Its last event says how
//!    it went: `artifact` (built; this process checks that it sees the artifact in the
//!    store too), `present` (another process built it meanwhile), `failed` (the remote
//!    failure with its log's tail, reported like a local one).
//! 4. No such event, and Slurm's own line `*** JOB 12 ... CANCELLED ... DUE TO TIME LIMIT
//!    ***` (node failure, preemption, cancellation likewise): the job was killed, which is
//!    not the build's fault, and `--retries N` runs it again up to N times.
//!
//! ## Tokens and CPUs
//!
//! The scheduler's tokens bound the jobs or steps in flight (`slurm.max_jobs`, default 64):
//! Slurm queues what does not fit. Each build asks for its recipe's `cpus` (else `-j N`)
//! CPUs and hands the same number to its `make` jobserver on the node; its time limit is
//! its recipe's `time`, else `slurm.time`.
//!
//! ## Cancelling
//!
//! Every job and step submitted is recorded until it ends; [`cancel_submitted`] (which
//! the `hit` binary calls on Ctrl-C, SIGTERM or SIGHUP) `scancel`s what is left, so no job
//! of a stopped hit stays queued or running. The store stays consistent: a cancelled build
//! leaves what a killed local build leaves, and the next build clears it.

use super::queue::{Queue, Update};
use super::{Executor, Resources};
use crate::build::{BuildError, BuildEvent, BuildFailure, BuildOutcome, FailureCause, Reporter};
use crate::jobserver::Jobserver;
use crate::spec::{ArtifactId, BuildSpec, pretty_document};
use crate::store::Store;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `slurm:` in config.yaml.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition` of every job or step.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time` of each build's job or step, in Slurm's format (`30`, `2:00:00`, `1-0`).
    pub time: Option<String>,
    /// More arguments for `sbatch` (outside an allocation).
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// More arguments for `srun` (inside an allocation).
    #[serde(default)]
    pub srun_args: Vec<String>,
    /// Jobs or steps in flight at once (default 64).
    pub max_jobs: Option<usize>,
}

/// How builds reach the nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Inside an allocation: one job step per build.
    Steps { allocation: String },
    /// Outside one: one batch job per build.
    Jobs,
}

impl Placement {
    /// Steps when `SLURM_JOB_ID` is set (hit runs inside an allocation), else jobs.
    pub fn from_env() -> Self {
        match std::env::var("SLURM_JOB_ID") {
            Ok(job) if !job.is_empty() => Self::Steps { allocation: job },
            _ => Self::Jobs,
        }
    }
}

/// Builds through Slurm (see the module doc).
#[derive(Debug)]
pub struct Slurm<'a> {
    store: &'a Store,
    hit: PathBuf,
    home: PathBuf,
    dir: PathBuf,
    config: SlurmConfig,
    placement: Placement,
    cpus: usize,
    retries: u32,
    remote_args: Vec<String>,
    tokens: Arc<Jobserver>,
    queue: Arc<Queue>,
}

/// What the batch system was given: everything [`Slurm::new`] needs.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// The `hit` executable the nodes run (it must be on the shared file system).
    pub hit: PathBuf,
    /// The home the nodes use (`--home`), and whose `slurm/` holds specs and outputs.
    pub home: PathBuf,
    pub config: SlurmConfig,
    pub placement: Placement,
    /// CPUs of each build (`-c`, and `-j` of the remote hit).
    pub cpus: usize,
    /// How many times a build Slurm killed is run again.
    pub retries: u32,
    /// More arguments for the remote `hit build` (`--sandbox`, `--no-caches`, ...).
    pub remote_args: Vec<String>,
}

impl<'a> Slurm<'a> {
    pub fn new(store: &'a Store, options: SlurmOptions) -> Result<Self, BuildError> {
        let dir = options.home.join("slurm");
        std::fs::create_dir_all(&dir).map_err(|error| {
            BuildError::Schedule(format!("cannot create {}: {error}", dir.display()))
        })?;
        let tokens = Jobserver::new(options.config.max_jobs.unwrap_or(64))
            .map_err(|error| BuildError::Schedule(format!("slurm.max_jobs: {error}")))?;
        Ok(Self {
            store,
            hit: options.hit,
            home: options.home,
            dir,
            config: options.config,
            placement: options.placement,
            cpus: options.cpus.max(1),
            retries: options.retries,
            remote_args: options.remote_args,
            tokens,
            queue: Arc::new(Queue::default()),
        })
    }

    /// The command that builds `spec_file` on a node.
    fn remote_command(&self, spec_file: &Path, asked: &Asked) -> Vec<String> {
        let mut argv = vec![
            self.hit.display().to_string(),
            "--home".into(),
            self.home.display().to_string(),
            "build".into(),
            spec_file.display().to_string(),
            "--json".into(),
            "-j".into(),
            asked.cpus.to_string(),
        ];
        argv.extend(self.remote_args.iter().cloned());
        argv
    }

    /// Arguments both sbatch and srun take.
    fn common_args(&self, name: &str, asked: &Asked) -> Vec<String> {
        let mut args = vec![
            "-N1".into(),
            "-n1".into(),
            format!("--cpus-per-task={}", asked.cpus),
            format!("--job-name=hit:{name}"),
        ];
        let time = asked.time.cloned();
        let options = [
            ("--partition", &self.config.partition),
            ("--account", &self.config.account),
            ("--qos", &self.config.qos),
            ("--time", &time),
        ];
        for (flag, value) in options {
            if let Some(value) = value {
                args.push(format!("{flag}={value}"));
            }
        }
        args
    }

    /// One run of the build's job or step.
    fn run_once(
        &self,
        id: &ArtifactId,
        spec_file: &Path,
        resources: &Resources,
        reporter: &dyn Reporter,
    ) -> Result<Attempt, BuildError> {
        let asked = Asked {
            cpus: resources.cpus.unwrap_or(self.cpus),
            time: resources.time.as_ref().or(self.config.time.as_ref()),
        };
        match &self.placement {
            Placement::Jobs => self.run_job(id, spec_file, &asked, reporter),
            Placement::Steps { allocation } => {
                self.run_step(id, spec_file, &asked, allocation, reporter)
            }
        }
    }

    fn run_job(
        &self,
        id: &ArtifactId,
        spec_file: &Path,
        asked: &Asked,
        reporter: &dyn Reporter,
    ) -> Result<Attempt, BuildError> {
        let stem = spec_file.with_extension("");
        let (out, err) = (stem.with_extension("out"), stem.with_extension("err"));
        // Counted until the job is recorded: a signal meanwhile waits for it (see
        // `cancel_submitted`), so the job is cancelled too.
        let submitting = Submitting::start();
        let output = std::process::Command::new("sbatch")
            .arg("--parsable")
            .args(self.common_args(id.name().as_str(), asked))
            .arg(format!("--output={}", out.display()))
            .arg(format!("--error={}", err.display()))
            .args(&self.config.sbatch_args)
            .arg("--wrap")
            .arg(format!(
                "exec {}",
                crate::shell::quote(&self.remote_command(spec_file, asked))
            ))
            .stdin(Stdio::null())
            .output()
            .map_err(|error| BuildError::Schedule(format!("cannot run sbatch: {error}")))?;
        let said = String::from_utf8_lossy(&output.stdout);
        let job = said.trim().split(';').next().unwrap_or_default().to_owned();
        if !output.status.success() || job.is_empty() {
            return Ok(Attempt::Refused(format!(
                "sbatch {}: {}",
                crate::errors::describe_status(output.status),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        submitted().insert(job.clone());
        drop(submitting);
        reporter.event(BuildEvent::Submitted { id, job: &job });
        for update in self.queue.watch(&job) {
            match update {
                Update::State(state) => reporter.event(BuildEvent::SlurmState {
                    id,
                    job: &job,
                    state: &state,
                }),
                Update::Ended => break,
            }
        }
        submitted().remove(&job);
        let events = std::fs::read_to_string(&out).unwrap_or_default();
        let errors = std::fs::read_to_string(&err).unwrap_or_default();
        let place = format!("Slurm job {job}");
        Ok(attempt(&place, &events, &errors, &err))
    }

    fn run_step(
        &self,
        id: &ArtifactId,
        spec_file: &Path,
        asked: &Asked,
        allocation: &str,
        reporter: &dyn Reporter,
    ) -> Result<Attempt, BuildError> {
        let mut command = std::process::Command::new("srun");
        command
            .args(["--exclusive", "--verbose"])
            .args(self.common_args(id.name().as_str(), asked))
            .args(&self.config.srun_args)
            .arg("--")
            .args(self.remote_command(spec_file, asked))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command
            .spawn()
            .map_err(|error| BuildError::Schedule(format!("cannot run srun: {error}")))?;
        crate::job::groups::register(child.id());
        let (stdout, stderr) = (
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        let step = Mutex::new(None::<String>);
        let (events, errors) = std::thread::scope(|scope| {
            let errors = scope.spawn(|| {
                let mut text = String::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    // `srun: launching StepId=12.3 on host node1, 1 tasks: 0`
                    if let Some(rest) = line.split("StepId=").nth(1)
                        && let Some(found) = rest.split_whitespace().next()
                    {
                        let mut step = step
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        if step.is_none() {
                            submitted().insert(found.to_owned());
                            reporter.event(BuildEvent::Submitted { id, job: found });
                            *step = Some(found.to_owned());
                        }
                    }
                    if !line.starts_with("srun: ") || is_kill_line(&line) || line.contains("error")
                    {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
                text
            });
            let mut events = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<RemoteEvent>(&line)
                    && event.event == "started"
                    && let Some(log) = &event.log
                {
                    reporter.event(BuildEvent::Started { id, log });
                }
                events.push_str(&line);
                events.push('\n');
            }
            (events, errors.join().unwrap_or_default())
        });
        let status = child.wait();
        crate::job::groups::end(child.id());
        let step = step
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(step) = &step {
            submitted().remove(step);
        }
        let status = status.map_err(|error| BuildError::Schedule(format!("srun: {error}")))?;
        let Some(step) = step else {
            return Ok(Attempt::Refused(format!(
                "srun {} in allocation {allocation}: {}",
                crate::errors::describe_status(status),
                errors.trim()
            )));
        };
        // Kept like a batch job's, for a look after the fact.
        let err = spec_file.with_extension("err");
        let _ = std::fs::write(spec_file.with_extension("out"), &events);
        let _ = std::fs::write(&err, &errors);
        let place = format!("Slurm step {step}");
        Ok(attempt(&place, &events, &errors, &err))
    }
}

/// What one build asks Slurm for: its recipe's `cpus` and `time`, else `-j` and
/// `slurm.time`.
#[derive(Debug)]
struct Asked<'a> {
    cpus: usize,
    time: Option<&'a String>,
}

/// How one run of a build's job or step ended.
#[derive(Debug)]
enum Attempt {
    /// The remote hit said how the build went.
    Said(Box<RemoteResult>),
    /// Slurm ended the job or step first.
    Killed {
        place: String,
        reason: String,
        tail: Vec<String>,
    },
    /// sbatch or srun refused to run it.
    Refused(String),
    /// It ended without a word from hit and without Slurm saying why.
    Silent {
        place: String,
        tail: Vec<String>,
        log: PathBuf,
    },
}

#[derive(Debug)]
struct RemoteResult {
    place: String,
    last: RemoteEvent,
    duration: Option<Duration>,
}

/// The fields of the remote `hit build --json` events this executor reads.
#[derive(Debug, Clone, Default, Deserialize)]
struct RemoteEvent {
    event: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    log: Option<PathBuf>,
    #[serde(default)]
    build_dir: Option<PathBuf>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    log_tail: Vec<String>,
    #[serde(default)]
    duration_ms: Option<u64>,
    #[serde(default)]
    cache: Option<String>,
    #[serde(default)]
    bytes: Option<u64>,
}

/// Reads a finished job's or step's output: hit's events on stdout, Slurm's (and hit's)
/// messages on stderr.
fn attempt(place: &str, events: &str, errors: &str, log: &Path) -> Attempt {
    let parsed: Vec<RemoteEvent> = events
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let duration = parsed
        .iter()
        .find_map(|event| event.duration_ms)
        .map(Duration::from_millis);
    let last = parsed.iter().rev().find(|event| {
        matches!(
            event.event.as_str(),
            "artifact" | "present" | "failed" | "fetched"
        )
    });
    let tail: Vec<String> = errors
        .lines()
        .rev()
        .take(crate::build::FAILURE_TAIL_LINES)
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    // A failure hit reported wins over Slurm's line: the build had failed first.
    if let Some(last) = last
        && (last.event != "failed" || kill_reason(errors).is_none())
    {
        return Attempt::Said(Box::new(RemoteResult {
            place: place.to_owned(),
            last: last.clone(),
            duration,
        }));
    }
    if let Some(reason) = kill_reason(errors) {
        return Attempt::Killed {
            place: place.to_owned(),
            reason,
            tail,
        };
    }
    Attempt::Silent {
        place: place.to_owned(),
        tail,
        log: log.to_owned(),
    }
}

fn is_kill_line(line: &str) -> bool {
    line.contains("***") && line.contains("CANCELLED")
}

/// Why Slurm ended a job or step, from its `*** ... CANCELLED AT ... DUE TO ... ***` line.
fn kill_reason(errors: &str) -> Option<String> {
    let line = errors.lines().find(|line| is_kill_line(line))?;
    let reason = match line.split("DUE TO ").nth(1) {
        Some(rest) => rest.trim_end_matches('*').trim().to_lowercase(),
        None => "cancelled".to_owned(),
    };
    Some(reason)
}

impl Executor for Slurm<'_> {
    fn store(&self) -> &Store {
        self.store
    }

    fn tokens(&self) -> Option<&Arc<Jobserver>> {
        Some(&self.tokens)
    }

    fn build(
        &self,
        spec: &BuildSpec,
        resources: &Resources,
        reporter: &dyn Reporter,
    ) -> Result<BuildOutcome, BuildError> {
        let id = spec.id();
        if let Some(path) = self.store.resolve(id)? {
            return Ok(BuildOutcome::AlreadyBuilt { path });
        }
        let spec_file = self.dir.join(format!("{}-{}.json", id.name(), id.hash()));
        write_atomically(&spec_file, pretty_document(spec.document()).as_bytes()).map_err(
            |error| BuildError::Schedule(format!("cannot write {}: {error}", spec_file.display())),
        )?;
        let started = Instant::now();
        let mut retried = 0;
        loop {
            let attempt = self.run_once(id, &spec_file, resources, reporter)?;
            let failed = |cause, tail: Vec<String>, log: PathBuf, build_dir: PathBuf| {
                BuildOutcome::Failed(BuildFailure {
                    id: id.clone(),
                    cause,
                    log,
                    build_dir,
                    log_tail: tail,
                })
            };
            return Ok(match attempt {
                Attempt::Killed { place, reason, .. } if retried < self.retries => {
                    retried += 1;
                    reporter.event(BuildEvent::Retrying {
                        id,
                        attempt: retried,
                        reason: &format!("{place} was killed by Slurm ({reason})"),
                    });
                    continue;
                }
                Attempt::Killed {
                    place,
                    reason,
                    tail,
                } => failed(
                    FailureCause::Killed { place, reason },
                    tail,
                    spec_file.with_extension("err"),
                    self.dir.clone(),
                ),
                Attempt::Refused(error) => failed(
                    FailureCause::Submit(error),
                    Vec::new(),
                    spec_file.clone(),
                    self.dir.clone(),
                ),
                Attempt::Silent { place, tail, log } => failed(
                    FailureCause::Elsewhere {
                        place,
                        error: "the job ended without a word from hit (see its output)".into(),
                    },
                    tail,
                    log,
                    self.dir.clone(),
                ),
                Attempt::Said(result) => self.outcome(id, *result, started)?,
            });
        }
    }
}

impl Slurm<'_> {
    /// The outcome the remote hit reported, checked against this machine's view of the
    /// store.
    fn outcome(
        &self,
        id: &ArtifactId,
        result: RemoteResult,
        started: Instant,
    ) -> Result<BuildOutcome, BuildError> {
        let RemoteResult {
            place,
            last,
            duration,
        } = result;
        if last.event == "failed" {
            return Ok(BuildOutcome::Failed(BuildFailure {
                id: id.clone(),
                cause: FailureCause::Elsewhere {
                    place,
                    error: last.error.unwrap_or_default(),
                },
                log: last.log.unwrap_or_default(),
                build_dir: last.build_dir.unwrap_or_default(),
                log_tail: last.log_tail,
            }));
        }
        let Some(path) = self.store.resolve(id)? else {
            return Ok(BuildOutcome::Failed(BuildFailure {
                id: id.clone(),
                cause: FailureCause::Elsewhere {
                    place,
                    error: format!(
                        "it reports {id} built at {}, which is not in the store here: the store must be on a file system every node shares",
                        last.path.unwrap_or_default().display()
                    ),
                },
                log: PathBuf::new(),
                build_dir: PathBuf::new(),
                log_tail: Vec::new(),
            }));
        };
        let duration = duration.unwrap_or_else(|| started.elapsed());
        Ok(match last.event.as_str() {
            "present" => BuildOutcome::AlreadyBuilt { path },
            "fetched" => BuildOutcome::Fetched {
                fetched: crate::cache::Fetched {
                    path,
                    cache: last.cache.unwrap_or_default(),
                    bytes: last.bytes.unwrap_or_default(),
                },
                duration,
            },
            _ => BuildOutcome::Built { path, duration },
        })
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

/// Jobs and steps submitted and not ended yet (ids as `scancel` takes them).
static SUBMITTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn submitted() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    SUBMITTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `sbatch` calls under way: their jobs exist in Slurm before they are in [`SUBMITTED`].
static SUBMITTING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One `sbatch` call under way, counted in [`SUBMITTING`] until dropped.
struct Submitting;

impl Submitting {
    fn start() -> Self {
        SUBMITTING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self
    }
}

impl Drop for Submitting {
    fn drop(&mut self) {
        SUBMITTING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Cancels (`scancel`) every job and step this process submitted that has not ended:
/// for the binary's signal handling, before it exits. Waits (up to 10 s) for `sbatch`
/// calls under way, whose jobs are not recorded yet. Returns how many.
pub fn cancel_submitted() -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while SUBMITTING.load(std::sync::atomic::Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let ids: Vec<String> = std::mem::take(&mut *submitted()).into_iter().collect();
    if !ids.is_empty() {
        let _ = std::process::Command::new("scancel")
            .args(&ids)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    ids.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurms_kill_lines_are_read() {
        let job = "slurmstepd-vm: error: *** JOB 3 ON vm CANCELLED AT 2026-11-30T23:52:00 DUE TO TIME LIMIT ***";
        assert_eq!(kill_reason(job).as_deref(), Some("time limit"));
        let step = "srun: error: *** STEP 12.0 ON n1 CANCELLED AT 2026-11-30T23:52:00 DUE TO NODE FAILURE ***";
        assert_eq!(kill_reason(step).as_deref(), Some("node failure"));
        let cancelled = "slurmstepd: error: *** JOB 4 ON vm CANCELLED AT 2026-11-30T23:52:00 ***";
        assert_eq!(kill_reason(cancelled).as_deref(), Some("cancelled"));
        assert_eq!(kill_reason("error: something else"), None);
    }

    #[test]
    fn the_last_event_of_the_remote_hit_says_how_it_went() {
        let events = r#"{"event":"started","id":"a/x","log":"/l"}
{"event":"finished","name":"a","id":"a/x","duration_ms":1500}
{"event":"artifact","id":"a/x","path":"/store/a/x"}"#;
        match attempt("Slurm job 1", events, "", Path::new("/e")) {
            Attempt::Said(result) => {
                assert_eq!(result.last.event, "artifact");
                assert_eq!(result.duration, Some(Duration::from_millis(1500)));
            }
            other => panic!("{other:?}"),
        }
        let killed = "slurmstepd: error: *** JOB 9 ON vm CANCELLED AT 2026 DUE TO TIME LIMIT ***";
        assert!(matches!(
            attempt("Slurm job 9", r#"{"event":"started","log":"/l"}"#, killed, Path::new("/e")),
            Attempt::Killed { reason, .. } if reason == "time limit"
        ));
        assert!(matches!(
            attempt("Slurm job 9", "", "", Path::new("/e")),
            Attempt::Silent { .. }
        ));
    }
}
