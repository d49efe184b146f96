//! Runs a build's commands: scopes, variables, working directory, programs.

use super::log::BuildLog;
use super::substitute::{SubstituteError, substitute};
use crate::sandbox::{Sandbox, View};
use crate::shell::quote;
use crate::spec::{Command, EnvOp, RunCommand};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

/// A step of a build that failed. `step` is where it is in the spec
/// (`build.commands[2].commands[0]`).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{step}")]
    Substitute {
        step: String,
        source: SubstituteError,
    },
    #[error("{step}: command not found: {program:?} (PATH={path})")]
    NotFound {
        step: String,
        program: String,
        path: String,
    },
    #[error("{step}: `{command}` {}", crate::errors::describe_status(*.status))]
    Failed {
        step: String,
        command: String,
        status: ExitStatus,
    },
    #[error(
        "{step}: {what} is {bytes} bytes long, and Linux passes at most {MAX_ARG_BYTES} bytes per variable or argument to a program{hint}"
    )]
    TooLong {
        step: String,
        what: String,
        bytes: usize,
        hint: &'static str,
    },
    #[error(
        "{step}: the program's arguments and environment, {bytes} bytes in all, are more than Linux accepts (the biggest variables, in bytes: {biggest})"
    )]
    TooBig {
        step: String,
        bytes: usize,
        biggest: String,
    },
    #[error("{step}: cannot change directory to {dir}: {reason}")]
    Chdir {
        step: String,
        dir: PathBuf,
        reason: String,
    },
    #[error(
        "{step}: `{command}` was stopped: the build ran longer than build_timeout in config.yaml"
    )]
    TimedOut { step: String, command: String },
    #[error("{step}: {what}")]
    Io {
        step: String,
        what: String,
        source: io::Error,
    },
}

impl JobError {
    /// Where in the spec it failed (`build.commands[2].commands[0]`).
    pub fn step(&self) -> &str {
        match self {
            Self::Substitute { step, .. }
            | Self::NotFound { step, .. }
            | Self::Failed { step, .. }
            | Self::TooLong { step, .. }
            | Self::TooBig { step, .. }
            | Self::Chdir { step, .. }
            | Self::TimedOut { step, .. }
            | Self::Io { step, .. } => step,
        }
    }

    /// A short, stable name of the variant (`failed`, `not_found`, `timed_out`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Substitute { .. } => "substitute",
            Self::NotFound { .. } => "not_found",
            Self::Failed { .. } => "failed",
            Self::TooLong { .. } => "too_long",
            Self::TooBig { .. } => "too_big",
            Self::Chdir { .. } => "chdir",
            Self::TimedOut { .. } => "timed_out",
            Self::Io { .. } => "io",
        }
    }
}

/// The variables and working directory of a scope.
#[derive(Debug, Clone)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

/// Runs commands, writing their output and a trace to the log. `scratch` receives the
/// files of `inputs`.
pub struct JobRunner<'l, 'a> {
    log: &'l mut BuildLog<'a>,
    scratch: PathBuf,
    inputs_written: usize,
    jobserver: Option<&'l crate::jobserver::Jobserver>,
    deadline: Option<std::time::Instant>,
    sandbox: Option<(&'l Sandbox, &'l View)>,
}

impl std::fmt::Debug for JobRunner<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRunner")
            .field("scratch", &self.scratch)
            .finish()
    }
}

impl<'l, 'a> JobRunner<'l, 'a> {
    pub fn new(log: &'l mut BuildLog<'a>, scratch: PathBuf) -> Self {
        Self {
            log,
            scratch,
            inputs_written: 0,
            jobserver: None,
            deadline: None,
            sandbox: None,
        }
    }

    /// Runs every command inside `sandbox`, seeing what every build sees and `view`.
    pub fn with_sandbox(mut self, sandbox: Option<(&'l Sandbox, &'l View)>) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Hands a GNU make jobserver to every command (`MAKEFLAGS` and the pipe), so that the
    /// `make`s of all concurrent builds share its tokens. It replaces any `MAKEFLAGS` the
    /// build set.
    pub fn with_jobserver(mut self, jobserver: Option<&'l crate::jobserver::Jobserver>) -> Self {
        self.jobserver = jobserver;
        self
    }

    /// Stops the commands (their process group) once `deadline` passes; the build then
    /// fails with [`JobError::TimedOut`].
    pub fn with_deadline(mut self, deadline: Option<std::time::Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Runs `commands` in `env`; changes made at this level stay in `env`.
    pub fn run(&mut self, commands: &[Command], env: &mut Environment) -> Result<(), JobError> {
        self.run_scope(commands, env, "build.commands")
    }

    fn run_scope(
        &mut self,
        commands: &[Command],
        env: &mut Environment,
        path: &str,
    ) -> Result<(), JobError> {
        for (index, command) in commands.iter().enumerate() {
            self.run_command(command, env, &format!("{path}[{index}]"))?;
        }
        Ok(())
    }

    fn run_command(
        &mut self,
        command: &Command,
        env: &mut Environment,
        step: &str,
    ) -> Result<(), JobError> {
        let subst = |text: &str, env: &Environment| {
            substitute(text, &env.vars).map_err(|source| JobError::Substitute {
                step: step.to_owned(),
                source,
            })
        };
        match command {
            Command::Run(run) => self.run_program(run, env, step)?,
            Command::Scope(inner) => {
                let mut scope = env.clone();
                self.run_scope(inner, &mut scope, &format!("{step}.commands"))?;
            }
            // A change whose path is missing is skipped silently: a package with a thousand
            // imports would log thousands of flags it did not get.
            Command::Env(change) => {
                if let Some(path) = &change.if_exists
                    && !env.cwd.join(subst(path, env)?).exists()
                {
                    return Ok(());
                }
                let value = subst(&change.value, env)?;
                if change.op == EnvOp::Set {
                    self.trace(step, &format!("set {}={value}", change.variable))?;
                    env.vars.insert(change.variable.clone(), value);
                } else {
                    let (separator, prepend) = (change.op.separator(), change.op.prepends());
                    self.extend(env, &change.variable, value, separator, prepend, step)?;
                }
            }
            Command::Chdir(dir) => {
                let dir = env.cwd.join(subst(dir, env)?);
                self.trace(step, &format!("cd {}", dir.display()))?;
                match std::fs::metadata(&dir) {
                    Ok(meta) if meta.is_dir() => env.cwd = dir,
                    Ok(_) => {
                        return Err(JobError::Chdir {
                            step: step.to_owned(),
                            dir,
                            reason: "not a directory".into(),
                        });
                    }
                    Err(error) => {
                        return Err(JobError::Chdir {
                            step: step.to_owned(),
                            dir,
                            reason: error.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn trace(&mut self, step: &str, text: &str) -> Result<(), JobError> {
        self.log
            .line(&format!("+ {text}"))
            .map_err(|source| JobError::Io {
                step: step.to_owned(),
                what: "writing the log".into(),
                source,
            })
    }

    fn extend(
        &mut self,
        env: &mut Environment,
        variable: &str,
        value: String,
        separator: &str,
        front: bool,
        step: &str,
    ) -> Result<(), JobError> {
        // The trace shows what was added, not the whole value: a package with a thousand
        // dependencies would otherwise log each of its flag lists a thousand times.
        let (joined, trace) = match env.vars.get(variable).filter(|old| !old.is_empty()) {
            None => (value.clone(), format!("set {variable}={value}")),
            Some(old) if front => (
                format!("{value}{separator}{old}"),
                format!("set {variable}={value}{separator}${variable}"),
            ),
            Some(old) => (
                format!("{old}{separator}{value}"),
                format!("set {variable}=${variable}{separator}{value}"),
            ),
        };
        self.trace(step, &trace)?;
        env.vars.insert(variable.to_owned(), joined);
        Ok(())
    }

    fn run_program(
        &mut self,
        run: &RunCommand,
        env: &mut Environment,
        step: &str,
    ) -> Result<(), JobError> {
        let io = |what: &str| {
            let (step, what) = (step.to_owned(), what.to_owned());
            move |source| JobError::Io { step, what, source }
        };
        let mut vars = env.vars.clone();
        for (index, input) in run.inputs.iter().enumerate() {
            std::fs::create_dir_all(&self.scratch).map_err(io("creating the inputs dir"))?;
            let path = self.scratch.join(format!("input-{}", self.inputs_written));
            self.inputs_written += 1;
            std::fs::write(&path, input.contents()).map_err(io("writing an input file"))?;
            vars.insert(format!("in{index}"), path.display().to_string());
        }
        let argv = run
            .argv
            .iter()
            .map(|arg| substitute(arg, &vars))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| JobError::Substitute {
                step: step.to_owned(),
                source,
            })?;
        let command_line = quote(&argv);
        self.trace(step, &command_line)?;
        let search_path = vars.get("PATH").cloned().unwrap_or_default();
        let program =
            find_program(&argv[0], &search_path, &env.cwd).ok_or_else(|| JobError::NotFound {
                step: step.to_owned(),
                program: argv[0].clone(),
                path: search_path.clone(),
            })?;

        check_lengths(step, &argv, &vars)?;
        let mut command = match self.sandbox {
            Some((sandbox, view)) => sandbox.command(view, &program, &argv[1..]),
            None => {
                let mut command = std::process::Command::new(&program);
                command.args(&argv[1..]);
                command
            }
        };
        command
            .env_clear()
            .envs(&vars)
            .current_dir(&env.cwd)
            .stdin(Stdio::null());
        if let Some(jobserver) = self.jobserver {
            command.env("MAKEFLAGS", jobserver.makeflags());
        }
        // Nobody watches the log as it is written: the commands get the log file itself,
        // with no pipe and no thread copying their output into it.
        let (output, log_pipe): (OwnedFd, _) = match self.log.unobserved_file() {
            Some(file) => (file.map_err(io("opening the log"))?.into(), None),
            None => {
                let (reader, writer) = io::pipe().map_err(io("creating a pipe"))?;
                (writer.into(), Some(reader))
            }
        };
        let stdout = match run.to_var {
            Some(_) => Stdio::piped(),
            None => output.try_clone().map_err(io("opening the log"))?.into(),
        };
        command.stdout(stdout).stderr(output);
        // A group of its own, killed when the command ends (see `groups`).
        command.process_group(0);
        let mut child = command.spawn().map_err(|source| {
            if source.raw_os_error() == Some(E2BIG) {
                return too_big(step, &argv, &vars);
            }
            io(&format!("cannot start {}", program.display()))(source)
        })?;
        super::groups::register(child.id());
        // Close our copies of the pipe's write end, or the log copier would never see the
        // end of the output.
        drop(command);
        let mut stdout = child.stdout.take();
        let log = &mut *self.log;
        let build_dir = vars.get("BUILD").map(PathBuf::from);
        if self
            .deadline
            .is_some_and(|deadline| std::time::Instant::now() >= deadline)
        {
            super::groups::end(child.id());
            let _ = child.wait();
            return Err(JobError::TimedOut {
                step: step.to_owned(),
                command: command_line,
            });
        }
        let deadline = self.deadline;
        let leader = child.id();
        let timed_out = std::sync::atomic::AtomicBool::new(false);
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let (status, copied, read) = std::thread::scope(|scope| {
            // Only with a deadline: a thread that kills the command's group when it passes.
            if let Some(deadline) = deadline {
                let timed_out = &timed_out;
                scope.spawn(move || {
                    let wait = deadline.saturating_duration_since(std::time::Instant::now());
                    if finished.recv_timeout(wait)
                        == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    {
                        timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                        super::groups::end(leader);
                    }
                });
            }
            let copier = log_pipe.map(|reader| scope.spawn(move || log.copy_from(reader)));
            let reader = stdout.as_mut().map(|out| {
                scope.spawn(move || {
                    let mut captured = Vec::new();
                    out.read_to_end(&mut captured).map(|_| captured)
                })
            });
            // The command first, then what it left in its group: a process left behind
            // must not hold the pipes open (nor write into the next build).
            let status = child.wait();
            drop(done);
            super::groups::end(child.id());
            let copied = copier.map_or(Ok(()), |copier| {
                join_or_kill_holders(copier, build_dir.as_deref())
            });
            let read = reader.map_or(Ok(Vec::new()), |reader| {
                join_or_kill_holders(reader, build_dir.as_deref())
            });
            (status, copied, read)
        });
        let status = status.map_err(io("waiting for the command"))?;
        if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(JobError::TimedOut {
                step: step.to_owned(),
                command: command_line,
            });
        }
        copied.map_err(io("writing the log"))?;
        let captured = read.map_err(io("reading the command's output"))?;
        if !status.success() {
            return Err(JobError::Failed {
                step: step.to_owned(),
                command: command_line,
                status,
            });
        }
        if let Some(variable) = &run.to_var {
            let value = String::from_utf8_lossy(&captured).trim().to_owned();
            self.trace(step, &format!("set {variable}={value}"))?;
            env.vars.insert(variable.clone(), value);
        }
        Ok(())
    }
}

/// Joins a thread that reads a command's output. If the output is still open a moment
/// after the command and its group are gone, a process that left the group (`setsid`)
/// holds it: those of this build are killed (by their `BUILD=`), so hit does not wait on
/// them forever.
fn join_or_kill_holders<T>(
    thread: std::thread::ScopedJoinHandle<'_, io::Result<T>>,
    build_dir: Option<&Path>,
) -> io::Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while !thread.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    if !thread.is_finished()
        && let Some(build_dir) = build_dir
    {
        let killed = crate::store::kill_build_processes(build_dir);
        tracing::warn!(
            "killed {killed} processes that left their command's process group and held its output"
        );
    }
    thread
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("an output reader panicked")))
}

/// `MAX_ARG_STRLEN` of Linux: the longest one argument or `NAME=value` may be (with its
/// terminating zero byte), whatever the total limit.
const MAX_ARG_BYTES: usize = 32 * 4096;

/// Says which variable or argument is too long for `exec`, where the kernel would only say
/// "Argument list too long".
fn check_lengths(
    step: &str,
    argv: &[String],
    vars: &BTreeMap<String, String>,
) -> Result<(), JobError> {
    let too_long = |what: String, bytes: usize, hint| JobError::TooLong {
        step: step.to_owned(),
        what,
        bytes,
        hint,
    };
    for (name, value) in vars {
        let bytes = name.len() + 1 + value.len() + 1;
        if bytes > MAX_ARG_BYTES {
            let hint = if ["CPPFLAGS", "LDFLAGS", "PKG_CONFIG_PATH"].contains(&name.as_str()) {
                " (it gets flags for every run-time dependency: a shorter store path, or fewer direct dependencies, makes it shorter)"
            } else {
                ""
            };
            return Err(too_long(format!("the variable {name}"), bytes, hint));
        }
    }
    for (index, arg) in argv.iter().enumerate() {
        if arg.len() + 1 > MAX_ARG_BYTES {
            return Err(too_long(format!("argument {index}"), arg.len() + 1, ""));
        }
    }
    Ok(())
}

/// `errno` of an `exec` whose arguments and environment together are too big.
const E2BIG: i32 = 7;

/// What an `exec` that failed with `E2BIG` was given: the total and the biggest variables.
fn too_big(step: &str, argv: &[String], vars: &BTreeMap<String, String>) -> JobError {
    let mut sizes: Vec<(usize, &str)> = vars
        .iter()
        .map(|(name, value)| (name.len() + value.len() + 2, name.as_str()))
        .collect();
    let bytes = sizes.iter().map(|(bytes, _)| bytes).sum::<usize>()
        + argv.iter().map(|arg| arg.len() + 1).sum::<usize>();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let biggest = sizes
        .iter()
        .take(3)
        .map(|(bytes, name)| format!("{name} {bytes}"))
        .collect::<Vec<_>>()
        .join(", ");
    JobError::TooBig {
        step: step.to_owned(),
        bytes,
        biggest,
    }
}

/// Finds a program as `execvp` would, but with the *job's* PATH and working directory.
fn find_program(name: &str, search_path: &str, cwd: &Path) -> Option<PathBuf> {
    let is_executable = |path: &Path| {
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let path = cwd.join(name);
        return is_executable(&path).then_some(path);
    }
    search_path
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| cwd.join(dir).join(name))
        .find(|path| is_executable(path))
}
