//! What the terminal (or a consuming tool) sees while hit builds.
//!
//! - On a terminal: a live display (indicatif) of the running builds with their elapsed
//!   time and a done/total bar; finished and failed builds scroll above it.
//! - Not on a terminal: one line per event (`building`, `built`, `skipped`, failures).
//! - `-v`: the build logs stream to stderr as they are written (no live display).
//! - `-q`: only failures and the final line.
//! - `--json`: one JSON object per line on stdout for every event (`waiting`, `started`,
//!   `present`, `finished`, `fetched`, `cache_problem`, `failed`, `skipped`), then the
//!   final `profile` or `summary`.

use hit_engine::build::{BuildEvent, BuildFailure, FailureCause, Reporter};
use hit_engine::job::JobError;
use hit_engine::spec::ArtifactId;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// `1 package`, `2 packages`: a count with its noun.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The version of `--json`'s events (docs/cli.md): a field's meaning changes only with it.
pub const JSON_SCHEMA: u32 = 1;

/// How much to say, and in which form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Human { verbose: bool, quiet: bool },
    Json,
}

/// Prints build events; see the module doc.
pub struct Progress {
    output: Output,
    /// The live display, made when a schedule says how many builds it has.
    live: std::sync::OnceLock<Live>,
}

struct Live {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<ArtifactId, ProgressBar>>,
}

impl Live {
    /// A line for a running build: a spinner, `message` and the time it has run.
    fn spinner(&self, id: &ArtifactId, message: String) {
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("a valid template"),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(200));
        self.running
            .lock()
            .expect("not poisoned")
            .insert(id.clone(), bar);
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("output", &self.output)
            .field("live", &self.live.get().is_some())
            .finish()
    }
}

impl Progress {
    pub fn new(output: Output) -> Self {
        Self {
            output,
            live: std::sync::OnceLock::new(),
        }
    }

    /// Starts the live display for `total` builds, if output is a terminal that wants one.
    fn planned(&self, total: usize) {
        let wanted = matches!(
            self.output,
            Output::Human {
                verbose: false,
                quiet: false
            }
        );
        if !wanted || total == 0 || !std::io::stderr().is_terminal() {
            return;
        }
        self.live.get_or_init(|| {
            let multi = MultiProgress::new();
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} packages {msg}")
                    .expect("a valid template"),
            );
            Live {
                multi,
                overall,
                running: Mutex::new(HashMap::new()),
            }
        });
    }

    pub fn output(&self) -> Output {
        self.output
    }

    /// A line for the user (stderr), above the live display if there is one.
    pub fn say(&self, text: &str) {
        match self.live.get() {
            Some(live) => {
                let _ = live.multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn quiet(&self) -> bool {
        matches!(self.output, Output::Human { quiet: true, .. })
    }

    /// One JSON event on stdout, stamped with the [`JSON_SCHEMA`] it follows.
    pub fn json(&self, mut value: serde_json::Value) {
        value["schema"] = json!(JSON_SCHEMA);
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{value}");
        let _ = stdout.flush();
    }

    fn done(&self, id: &ArtifactId) {
        if let Some(live) = self.live.get() {
            if let Some(bar) = live.running.lock().expect("not poisoned").remove(id) {
                bar.finish_and_clear();
                live.multi.remove(&bar);
            }
            live.overall.inc(1);
        }
    }

    /// Clears the live display.
    pub fn finish(&self) {
        if let Some(live) = self.live.get() {
            for (_, bar) in live.running.lock().expect("not poisoned").drain() {
                bar.finish_and_clear();
            }
            live.overall.finish_and_clear();
        }
    }
}

impl Reporter for Progress {
    fn wants_log(&self) -> bool {
        matches!(self.output, Output::Human { verbose: true, .. })
    }

    fn event(&self, event: BuildEvent<'_>) {
        if let BuildEvent::Planned { builds } = event {
            return self.planned(builds);
        }
        if self.output == Output::Json {
            let value = match event {
                BuildEvent::Planned { .. } => return,
                BuildEvent::WaitingForLock { id, holder } => {
                    json!({"event": "waiting", "id": id.to_string(), "holder": holder})
                }
                BuildEvent::Started { id, log } => {
                    json!({"event": "started", "id": id.to_string(), "log": log})
                }
                BuildEvent::Log { .. } => return,
                BuildEvent::AlreadyBuilt { name, id } => {
                    json!({"event": "present", "name": name, "id": id.to_string()})
                }
                BuildEvent::Finished { name, id, duration } => json!({
                    "event": "finished", "name": name, "id": id.to_string(), "duration_ms": duration.as_millis() as u64,
                }),
                BuildEvent::Failed { name, failure } => json!({
                    "event": "failed", "name": name, "id": failure.id.to_string(),
                    "error": failure.cause.to_string(), "cause": cause(&failure.cause),
                    "log": failure.log, "build_dir": failure.build_dir, "log_tail": failure.log_tail,
                }),
                BuildEvent::Skipped { name, id, because } => {
                    json!({"event": "skipped", "name": name, "id": id.to_string(), "because": because})
                }
                BuildEvent::Downloading { .. } => return,
                BuildEvent::Fetched {
                    name,
                    id,
                    duration,
                    fetched,
                } => json!({
                    "event": "fetched", "name": name, "id": id.to_string(),
                    "duration_ms": duration.as_millis() as u64, "cache": fetched.cache,
                    "bytes": fetched.bytes,
                }),
                BuildEvent::CacheProblem { id, problem } => json!({
                    "event": "cache_problem", "id": id.to_string(),
                    "error": hit_engine::errors::with_causes(problem),
                }),
                BuildEvent::SandboxUnavailable { reason } => {
                    json!({"event": "sandbox_unavailable", "reason": reason})
                }
                BuildEvent::Submitted { id, job } => {
                    json!({"event": "submitted", "id": id.to_string(), "job": job})
                }
                BuildEvent::SlurmState { id, job, state } => {
                    json!({"event": "slurm_state", "id": id.to_string(), "job": job, "state": state})
                }
                BuildEvent::Retrying {
                    id,
                    attempt,
                    reason,
                } => {
                    json!({"event": "retrying", "id": id.to_string(), "attempt": attempt, "reason": reason})
                }
            };
            return self.json(value);
        }
        let verbose = matches!(self.output, Output::Human { verbose: true, .. });
        match event {
            BuildEvent::WaitingForLock { id, holder } if !self.quiet() => {
                let who = holder
                    .map(|holder| format!(" ({holder})"))
                    .unwrap_or_default();
                self.say(&format!(
                    "waiting for another hit process to finish building {id}{who}"
                ));
            }
            BuildEvent::Started { id, log } => match self.live.get() {
                // Submitted to Slurm before: its line stays, now running.
                Some(live) if live.running.lock().expect("not poisoned").contains_key(id) => {}
                Some(live) => live.spinner(id, id.to_string()),
                None if verbose => self.say(&format!("building {id} (log: {})", log.display())),
                None if !self.quiet() => self.say(&format!("building {id}")),
                None => {}
            },
            BuildEvent::Log { bytes, .. } if verbose => {
                let _ = std::io::stderr().lock().write_all(bytes);
            }
            BuildEvent::Downloading { id, progress } => {
                if let Some(live) = self.live.get() {
                    let mut running = live.running.lock().expect("not poisoned");
                    let bar = running.entry(id.clone()).or_insert_with(|| {
                        let bar = live.multi.insert_before(&live.overall, ProgressBar::new(0));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{bar:20} {bytes}/{total_bytes} {msg} {binary_bytes_per_sec}",
                            )
                            .expect("a valid template"),
                        );
                        bar.set_message(format!("fetching {id}"));
                        bar
                    });
                    if let Some(total) = progress.total {
                        bar.set_length(total);
                    }
                    bar.set_position(progress.done);
                }
            }
            BuildEvent::Submitted { id, job } => match self.live.get() {
                Some(live) => live.spinner(id, format!("{id} (Slurm {job})")),
                None if !self.quiet() => self.say(&format!("submitted {id} to Slurm ({job})")),
                None => {}
            },
            BuildEvent::SlurmState { id, job, state } => match self.live.get() {
                Some(live) => {
                    if let Some(bar) = live.running.lock().expect("not poisoned").get(id) {
                        bar.set_message(format!("{id} (Slurm {job}: {})", state.to_lowercase()));
                    }
                }
                None if verbose => {
                    self.say(&format!("{id}: Slurm job {job} {}", state.to_lowercase()));
                }
                None => {}
            },
            BuildEvent::Retrying {
                id,
                attempt,
                reason,
            } if !self.quiet() => {
                self.say(&format!("{reason}; building {id} again (retry {attempt})"));
            }
            BuildEvent::SandboxUnavailable { reason } if !self.quiet() => {
                self.say(&format!(
                    "warning: the build sandbox cannot be used here: {reason}; building without it (`sandbox: off` in config.yaml silences this, `--sandbox` makes it an error)"
                ));
            }
            BuildEvent::CacheProblem { problem, .. } if !self.quiet() => {
                self.say(&format!(
                    "warning: {}",
                    hit_engine::errors::with_causes(problem)
                ));
            }
            BuildEvent::Fetched {
                id,
                duration,
                fetched,
                ..
            } => {
                self.done(id);
                if !self.quiet() {
                    self.say(&format!(
                        "fetched {id} from {} ({:.1} MB) in {:.1} s",
                        fetched.cache,
                        fetched.bytes as f64 / 1e6,
                        duration.as_secs_f64()
                    ));
                }
            }
            BuildEvent::AlreadyBuilt { id, .. } => self.done(id),
            BuildEvent::Finished { id, duration, .. } => {
                self.done(id);
                if !self.quiet() {
                    self.say(&format!("built {id} in {:.1} s", duration.as_secs_f64()));
                }
            }
            BuildEvent::Failed { failure, .. } => {
                self.done(&failure.id);
                self.say(&format!("error: {}", self::failure(failure, verbose)));
            }
            BuildEvent::Skipped { name, id, because } => {
                self.done(id);
                if !self.quiet() {
                    self.say(&format!("skipped {name}: it needs {because}, which failed"));
                }
            }
            _ => {}
        }
    }
}

/// Why a build failed, as `--json` writes it: `{"kind": ..., ...}` with the variant's
/// fields (see docs/cli.md).
fn cause(cause: &FailureCause) -> serde_json::Value {
    let mut value = match cause {
        FailureCause::Fetch { key, .. } | FailureCause::Unpack { key, .. } => {
            json!({"key": key.to_string()})
        }
        FailureCause::Command(error) => {
            let mut value = json!({"step": error.step(), "reason": error.kind()});
            match error {
                JobError::Failed {
                    command, status, ..
                } => {
                    use std::os::unix::process::ExitStatusExt;
                    value["command"] = json!(command);
                    value["stage"] = json!(stage_of(command));
                    value["exit_code"] = json!(status.code());
                    value["signal"] = json!(status.signal());
                }
                JobError::TimedOut { command, .. } => value["command"] = json!(command),
                JobError::NotFound { program, .. } => value["program"] = json!(program),
                _ => {}
            }
            value
        }
        FailureCause::ChangedImport { import, path } => {
            json!({"import": import.to_string(), "path": path})
        }
        FailureCause::StagingPath { file, staging } => json!({"file": file, "staging": staging}),
        FailureCause::ReplacedArtifact { artifact, moved_to } => {
            json!({"artifact": artifact, "moved_to": moved_to})
        }
        FailureCause::SpecialFile { path, kind } => json!({"path": path, "file_kind": kind}),
        FailureCause::Elsewhere { place, .. } => json!({"place": place}),
        FailureCause::Killed { place, reason } => json!({"place": place, "reason": reason}),
        FailureCause::Log(_) | FailureCause::Store(_) | FailureCause::Submit(_) => json!({}),
    };
    value["kind"] = json!(cause.kind());
    value["message"] = json!(cause.to_string());
    value
}

/// The failure report: what failed (the recipe's stage, when a stage's command failed;
/// with `-v` also where in the spec and the command), the end of its log, where to look.
pub fn failure(failure: &BuildFailure, verbose: bool) -> String {
    let stage = match &failure.cause {
        FailureCause::Command(JobError::Failed {
            command, status, ..
        }) => stage_of(command).map(|stage| (stage, status)),
        _ => None,
    };
    let mut out = match stage {
        Some((stage, status)) => {
            use std::os::unix::process::ExitStatusExt;
            let how = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                _ => "failed".to_owned(),
            };
            let mut head = format!(
                "build of {} failed: stage {stage} of {} {how}\n",
                failure.id,
                failure.id.name()
            );
            if verbose {
                head.push_str(&format!("  at {}\n", failure.cause));
            }
            head
        }
        None => format!("build of {} failed: {}\n", failure.id, failure.cause),
    };
    if !failure.log_tail.is_empty() {
        out.push_str(&format!(
            "last {} lines of the log:\n",
            failure.log_tail.len()
        ));
        for line in &failure.log_tail {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    out.push_str(&format!("full log:  {}\n", failure.log.display()));
    out.push_str(&format!("build dir: {}", failure.build_dir.display()));
    out
}

/// The stage a command runs, if it is one of a recipe's stages: hit-lang runs each as
/// `sh -exc ': stage NAME\n...'` (see lang/src/plan/lower.rs).
fn stage_of(command: &str) -> Option<&str> {
    let rest = command.split_once(": stage ")?.1;
    let name = rest.split(['\n', '\'']).next()?;
    (!name.is_empty()).then_some(name)
}

/// An error as cargo shows one: `error: <what failed>`, then a `caused by:` line for each
/// cause the message does not already say (some messages include their cause).
pub fn error_report(error: &anyhow::Error) -> String {
    let mut said = String::new();
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if said.contains(&text) {
            continue;
        }
        if out.is_empty() {
            out = format!("error: {text}\n");
        } else {
            out.push_str(&format!("caused by: {text}\n"));
        }
        said.push_str(&text);
    }
    out
}
