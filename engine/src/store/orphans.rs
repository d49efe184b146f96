//! Processes a killed build left behind.
//!
//! When hit itself is killed (`kill -9` of its pid, the OOM killer) but its build's commands
//! are not, they keep running and keep writing through `$ARTIFACT`, which is the claim
//! symlink: the next build of the same id claims the same path, and their writes would land
//! in *its* stage. So before a build reuses a work directory that is still there, it kills
//! the processes that belong to it: those whose environment says `BUILD=<that dir>/build`
//! (every command of a build gets it; a user's shell inspecting a failed build does not).
//! Linux's `/proc` only; elsewhere, and for processes of other users, nothing is found.

use std::path::Path;
use std::time::{Duration, Instant};

/// Kills the leftover processes of the build in `build_dir` and waits (up to two seconds)
/// until they are gone. Returns how many there were.
pub(crate) fn kill(build_dir: &Path) -> usize {
    let needle = [
        b"BUILD=".as_slice(),
        build_dir.as_os_str().as_encoded_bytes(),
    ]
    .concat();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let me = std::process::id();
    let mut killed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|&b| b == 0)
            .any(|var| var == needle.as_slice())
            && let Some(process) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            && rustix::process::kill_process(process, rustix::process::Signal::KILL).is_ok()
        {
            killed.push(pid);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while killed.iter().any(|pid| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.len()
}

/// Whether a process still runs (a zombie does not: it writes nothing).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name, which is in parentheses and may hold spaces.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}
