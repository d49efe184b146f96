//! Every command runs in a process group of its own, and nothing of it outlives it.
//!
//! A command may leave processes behind (`server &`, a daemon). Left alone they keep
//! writing: into the build log after the artifact is sealed, into the work directory that
//! the next build reuses, into `$ARTIFACT`. So each command is started as the leader of a
//! new process group (`posix_spawn` sets it, no `fork` needed), and when the command exits
//! hit kills the whole group with SIGKILL. Helpers a build needs for a while (a test
//! server) must be started and stopped within one command, i.e. one stage.
//!
//! A process that leaves the group (`setsid`) escapes this; if it holds the log pipe, the
//! runner finds it by its `BUILD=` variable instead (see `store::orphans`). The sandbox's
//! PID namespace will close that gap.
//!
//! Since commands are not in hit's process group, the terminal's Ctrl-C (SIGINT to the
//! foreground group) no longer reaches them: the binary forwards the signals it gets
//! ([`forward`]) to every group still registered here, then exits.

use rustix::process::{Pid, Signal, kill_process_group};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The signal [`forward`] passed on, 0 before one came.
static SIGNALLED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The signal hit received and passed on to its commands, if one came: the builds that
/// failed since failed because of it, and hit should exit as the signal says.
pub fn signalled() -> Option<i32> {
    match SIGNALLED.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        raw => Some(raw),
    }
}

/// The process groups of commands running now (one per command, named by its leader).
static RUNNING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn running() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    // A panic elsewhere while holding it leaves a set that is still right.
    RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records a started command's group.
pub(crate) fn register(leader: u32) {
    if let Ok(leader) = i32::try_from(leader) {
        running().insert(leader);
    }
}

/// Kills what is left of a command's group once the command has exited, and forgets it.
pub(crate) fn end(leader: u32) {
    let Ok(leader) = i32::try_from(leader) else {
        return;
    };
    running().remove(&leader);
    if let Some(group) = Pid::from_raw(leader) {
        // ESRCH: nothing was left.
        let _ = kill_process_group(group, Signal::KILL);
    }
}

/// Sends the signal numbered `raw` (SIGINT, SIGTERM or SIGHUP; others are sent as SIGTERM)
/// to every running command's group, waits up to `grace` for them to end, then kills what
/// is left. For the binary's signal handling: call it, then exit.
pub fn forward(raw: i32, grace: Duration) {
    SIGNALLED.store(raw, std::sync::atomic::Ordering::SeqCst);
    let signal = [Signal::INT, Signal::HUP]
        .into_iter()
        .find(|signal| signal.as_raw() == raw)
        .unwrap_or(Signal::TERM);
    let groups: Vec<Pid> = running().iter().filter_map(|&g| Pid::from_raw(g)).collect();
    for &group in &groups {
        let _ = kill_process_group(group, signal);
    }
    let deadline = Instant::now() + grace;
    // Signal 0 checks that a group still exists.
    let alive = |group: Pid| rustix::process::test_kill_process_group(group).is_ok();
    while groups.iter().any(|&g| alive(g)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for group in groups {
        let _ = kill_process_group(group, Signal::KILL);
    }
}
