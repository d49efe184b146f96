//! The job queue: builds a DAG of build specs, independent ones at the same time.
//!
//! ## Shape
//!
//! Only the main thread owns the graph: which tasks wait for how many dependencies, which
//! are ready, which failed. Each build runs on a worker thread of its own (a build is a
//! blocking chain of processes, so threads are cheap next to it) and reports back through a
//! channel; the main thread then releases its dependants. Progress goes to the
//! [`Reporter`] from both the workers (log lines) and the main thread (finished, failed,
//! skipped).
//!
//! Builds do not run on rayon. rayon's pool is for data-parallel CPU and file-system work
//! that finishes (evaluating recipes in hit-lang, gc's and verify's scans, hashing cached
//! sources, assembling profiles): a build blocks for minutes on processes and on jobserver
//! tokens, and would starve those of threads. The two never wait on each other; with `-j N`
//! builds plus rayon's one thread per core, the machine may run up to N + cores threads,
//! of which the build threads mostly sleep.
//!
//! ## Tokens
//!
//! One GNU make jobserver with N tokens (`-j N`) is shared by everything: the main thread
//! takes a token before it starts a build, and the build holds it until it ends, so a
//! build that knows nothing of jobservers still counts as one job. The same jobserver is
//! handed to every build's commands (`MAKEFLAGS`, see [`crate::job::JobRunner`]): the
//! token a build holds is its `make`'s implicit one, and each further `make` job takes a
//! token from the same pool. All concurrent builds together therefore never run more than N
//! jobs, where Nix would give each build its own `-j` and oversubscribe.
//!
//! ## Order
//!
//! When a token is free and several builds are ready, the one with the longest remaining
//! path to the end of the DAG starts first: its expected duration plus the longest
//! remaining path among its dependants. Expected durations are the ones recorded by
//! earlier builds of the same package ([`Durations`]); unknown ones get the median of the
//! known ones. Ties go to the task listed first. The token is taken *before* the choice, so
//! a build that became ready while the main thread waited for the token is considered.
//!
//! ## Failures
//!
//! A failed build marks everything that depends on it, transitively, as skipped (naming
//! the failure); the rest keeps building. With `fail_fast`, nothing new starts after the
//! first failure: the running builds finish and the others are left not started. Another
//! process building the same id is waited for by the build itself (the store's lock), so
//! two `hit` processes never build an artifact twice.

use crate::build::{BuildError, BuildEvent, BuildFailure, BuildOutcome, Reporter};
use crate::durations::Durations;
use crate::executor::Executor;
use crate::spec::BuildSpec;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::mpsc;
use std::time::Duration;

/// One build of a schedule. `deps` are indices of tasks that come earlier in the list.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    pub spec: BuildSpec,
    pub deps: Vec<usize>,
    /// What the build asks of where it runs (CPUs, time limit).
    pub resources: crate::executor::Resources,
}

/// How a task ended.
#[derive(Debug)]
pub enum TaskOutcome {
    AlreadyBuilt,
    Built(Duration),
    /// Installed from a binary cache.
    Fetched(Duration),
    Failed(Box<BuildFailure>),
    /// A dependency failed (the name of the failed task).
    Skipped(String),
    /// `fail_fast` stopped the schedule first.
    NotStarted,
}

/// How to run a schedule.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleOptions {
    /// Tokens of the jobserver: the most jobs at once, across all builds.
    pub jobs: usize,
    pub fail_fast: bool,
}

/// A jobserver with `jobs` tokens, for [`crate::build::Builder::with_jobserver`] and [`run`].
pub fn jobserver(jobs: usize) -> std::io::Result<std::sync::Arc<crate::jobserver::Jobserver>> {
    crate::jobserver::Jobserver::new(jobs)
}

enum State {
    Waiting(usize),
    Ready,
    Running,
    Done(TaskOutcome),
}

/// Runs the tasks (see the module doc) on `executor`, with its tokens, or a new
/// jobserver of `options.jobs` tokens if it has none. Returns one outcome per task, in
/// order.
pub fn run(
    executor: &dyn Executor,
    tasks: &[Task],
    durations: &mut Durations,
    options: ScheduleOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<TaskOutcome>, BuildError> {
    let client = match executor.tokens() {
        Some(client) => std::sync::Arc::clone(client),
        None => jobserver(options.jobs).map_err(|source| {
            BuildError::Schedule(format!("cannot create the jobserver: {source}"))
        })?,
    };
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    for (index, task) in tasks.iter().enumerate() {
        for &dep in &task.deps {
            if dep >= index {
                return Err(BuildError::Schedule(format!(
                    "task {} depends on a later task: list dependencies first",
                    task.name
                )));
            }
            dependants[dep].push(index);
        }
    }

    reporter.event(BuildEvent::Planned {
        builds: tasks.len(),
    });
    let mut states: Vec<State> = tasks
        .iter()
        .map(|task| State::Waiting(task.deps.len()))
        .collect();
    let mut expected = vec![Duration::ZERO; tasks.len()];
    let mut ready_now = Vec::new();
    for (index, task) in tasks.iter().enumerate() {
        if executor.store().resolve(task.spec.id())?.is_some() {
            reporter.event(BuildEvent::AlreadyBuilt {
                name: &task.name,
                id: task.spec.id(),
            });
            states[index] = State::Done(TaskOutcome::AlreadyBuilt);
            ready_now.push(index);
        } else {
            expected[index] = durations.expected(&task.name);
        }
    }
    // Longest remaining path, from the end of the (topologically ordered) list.
    let mut remaining = vec![Duration::ZERO; tasks.len()];
    for index in (0..tasks.len()).rev() {
        let tail = dependants[index]
            .iter()
            .map(|&d| remaining[d])
            .max()
            .unwrap_or_default();
        remaining[index] = expected[index] + tail;
    }

    let mut queue = Queue {
        states,
        dependants: &dependants,
        remaining: &remaining,
        ready: BinaryHeap::new(),
        running: 0,
        stopped: false,
        fail_fast: options.fail_fast,
        first_error: None,
        recorded: BTreeMap::new(),
    };
    for index in 0..tasks.len() {
        if matches!(queue.states[index], State::Waiting(0)) {
            queue.make_ready(index);
        }
    }
    for index in ready_now {
        queue.release(index);
    }

    let (sender, receiver) = mpsc::channel::<Message>();
    std::thread::scope(|scope| {
        loop {
            while let Ok(message) = receiver.try_recv() {
                queue.handle(message, tasks, reporter);
            }
            if queue.stopped || queue.ready.is_empty() {
                if queue.running == 0 {
                    break;
                }
                let message = receiver.recv().expect("a running worker holds a sender");
                queue.handle(message, tasks, reporter);
                continue;
            }
            let token = match client.acquire() {
                Ok(token) => token,
                Err(error) => {
                    queue
                        .first_error
                        .get_or_insert(BuildError::Schedule(format!("jobserver: {error}")));
                    queue.stopped = true;
                    continue;
                }
            };
            // Builds may have finished while we waited: choose among everything ready now.
            while let Ok(message) = receiver.try_recv() {
                queue.handle(message, tasks, reporter);
            }
            if queue.stopped {
                continue;
            }
            let Some((_, Reverse(index))) = queue.ready.pop() else {
                continue;
            };
            queue.states[index] = State::Running;
            queue.running += 1;
            let sender = sender.clone();
            let task = &tasks[index];
            scope.spawn(move || {
                let result = executor.build(&task.spec, &task.resources, reporter);
                // Report first, then give the token back: the main thread, woken by the
                // token, then sees this build as finished.
                let _ = sender.send((index, result));
                drop(token);
            });
        }
    });
    if let Err(error) = durations.record(&queue.recorded) {
        tracing::warn!("cannot record build durations: {error}");
    }
    if let Some(error) = queue.first_error {
        return Err(error);
    }
    Ok(queue
        .states
        .into_iter()
        .map(|state| match state {
            State::Done(outcome) => outcome,
            _ => TaskOutcome::NotStarted,
        })
        .collect())
}

/// A worker's report: which task, and how its build went.
type Message = (usize, Result<BuildOutcome, BuildError>);

/// The main thread's view of the graph.
struct Queue<'a> {
    states: Vec<State>,
    dependants: &'a [Vec<usize>],
    remaining: &'a [Duration],
    ready: BinaryHeap<(Duration, Reverse<usize>)>,
    running: usize,
    /// Nothing new starts (fail-fast after a failure, or an error of the store).
    stopped: bool,
    fail_fast: bool,
    first_error: Option<BuildError>,
    /// Durations of the builds that ran, for [`Durations::record`].
    recorded: BTreeMap<String, Duration>,
}

impl Queue<'_> {
    fn handle(&mut self, (index, result): Message, tasks: &[Task], reporter: &dyn Reporter) {
        self.running -= 1;
        let task = &tasks[index];
        match result {
            Ok(BuildOutcome::AlreadyBuilt { .. }) => {
                reporter.event(BuildEvent::AlreadyBuilt {
                    name: &task.name,
                    id: task.spec.id(),
                });
                self.finish(index, TaskOutcome::AlreadyBuilt);
            }
            Ok(BuildOutcome::Built { duration, .. }) => {
                reporter.event(BuildEvent::Finished {
                    name: &task.name,
                    id: task.spec.id(),
                    duration,
                });
                self.recorded.insert(task.name.clone(), duration);
                self.finish(index, TaskOutcome::Built(duration));
            }
            Ok(BuildOutcome::Fetched { fetched, duration }) => {
                reporter.event(BuildEvent::Fetched {
                    name: &task.name,
                    id: task.spec.id(),
                    duration,
                    fetched: &fetched,
                });
                // Not recorded: a download says nothing of how long the build takes.
                self.finish(index, TaskOutcome::Fetched(duration));
            }
            Ok(BuildOutcome::Failed(failure)) => {
                reporter.event(BuildEvent::Failed {
                    name: &task.name,
                    failure: &failure,
                });
                self.fail(index, tasks, reporter);
                self.states[index] = State::Done(TaskOutcome::Failed(Box::new(failure)));
                self.stopped |= self.fail_fast;
            }
            Err(error) => {
                self.fail(index, tasks, reporter);
                self.states[index] = State::Done(TaskOutcome::NotStarted);
                self.first_error.get_or_insert(error);
                self.stopped = true;
            }
        }
    }

    fn make_ready(&mut self, index: usize) {
        self.states[index] = State::Ready;
        self.ready.push((self.remaining[index], Reverse(index)));
    }

    fn finish(&mut self, index: usize, outcome: TaskOutcome) {
        self.states[index] = State::Done(outcome);
        self.release(index);
    }

    /// One dependency fewer for each dependant of a finished task.
    fn release(&mut self, index: usize) {
        for &next in &self.dependants[index] {
            if let State::Waiting(count) = &mut self.states[next] {
                *count -= 1;
                if *count == 0 {
                    self.make_ready(next);
                }
            }
        }
    }

    /// Marks everything downstream of a failed task as skipped.
    fn fail(&mut self, index: usize, tasks: &[Task], reporter: &dyn Reporter) {
        let cause = &tasks[index].name;
        let mut work: Vec<usize> = self.dependants[index].clone();
        while let Some(next) = work.pop() {
            if matches!(self.states[next], State::Waiting(_) | State::Ready) {
                reporter.event(BuildEvent::Skipped {
                    name: &tasks[next].name,
                    id: tasks[next].spec.id(),
                    because: cause,
                });
                self.states[next] = State::Done(TaskOutcome::Skipped(cause.clone()));
                work.extend(self.dependants[next].iter().copied());
            }
        }
        // Skipped tasks may sit in the ready heap; they are dropped when popped.
        let states = &self.states;
        self.ready
            .retain(|(_, Reverse(i))| matches!(states[*i], State::Ready));
    }
}
