//! What the terminal shows while building.

use hit_engine::build::{BuildEvent, BuildFailure, Reporter};
use std::io::Write;

/// Prints build events to stderr; with `verbose`, streams the build log too.
#[derive(Debug)]
pub struct TerminalReporter {
    pub verbose: bool,
}

impl Reporter for TerminalReporter {
    fn event(&self, event: BuildEvent<'_>) {
        let mut stderr = std::io::stderr().lock();
        let _ = match event {
            BuildEvent::WaitingForLock { id } => {
                writeln!(
                    stderr,
                    "waiting for another hit process to finish building {id}"
                )
            }
            BuildEvent::Started { id, log } => {
                if self.verbose {
                    writeln!(stderr, "building {id} (log: {})", log.display())
                } else {
                    writeln!(stderr, "building {id}")
                }
            }
            BuildEvent::Log { bytes, .. } if self.verbose => stderr.write_all(bytes),
            BuildEvent::Log { .. } => Ok(()),
        };
    }
}

/// The failure report: what failed, the end of its log, where to look.
pub fn failure(failure: &BuildFailure) -> String {
    let mut out = format!("build of {} failed: {}\n", failure.id, failure.error);
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

/// An error and its causes on one line, `a: b: c`, without repeating a cause that the
/// message already includes.
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
