//! Watching batch jobs: one `squeue` call for all of them, four times a second while any is
//! watched, so each build's thread hears of its job's states and of its end.
//!
//! `sbatch --wait` would do it per job, but it polls Slurm at an interval that grows to
//! several seconds: with it, each trivial package took 1.1 s more than with the local
//! executor, most of it waiting for sbatch to look again (docs/performance.md). One
//! listing of this user's jobs costs the controller the same for one job or a thousand.
//!
//! A job that is no longer listed (as pending, running, completing, ...) has ended; its
//! output files then say how. A failing `squeue` (the controller restarting) ends nothing:
//! the next round asks again.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often `squeue` is asked.
const INTERVAL: Duration = Duration::from_millis(250);

/// What the watcher tells a job's waiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Slurm's state of the job (`PENDING`, `RUNNING`, `COMPLETING`), when it changes.
    State(String),
    /// The job is no longer in the queue.
    Ended,
}

#[derive(Debug, Default)]
struct Watched {
    jobs: HashMap<String, (Sender<Update>, Option<String>)>,
    polling: bool,
}

/// The jobs being watched, and whether a thread polls for them.
#[derive(Debug, Default)]
pub struct Queue {
    watched: Mutex<Watched>,
}

impl Queue {
    /// Starts watching `job`; the updates come through the receiver, [`Update::Ended`] last.
    pub fn watch(self: &Arc<Self>, job: &str) -> Receiver<Update> {
        let (sender, receiver) = channel();
        let mut watched = self.lock();
        watched.jobs.insert(job.to_owned(), (sender, None));
        if !watched.polling {
            watched.polling = true;
            let queue = Arc::clone(self);
            std::thread::spawn(move || queue.poll());
        }
        receiver
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.watched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The polling thread: until nothing is watched.
    fn poll(&self) {
        let user = rustix::process::getuid().as_raw().to_string();
        loop {
            std::thread::sleep(INTERVAL);
            if self.lock().jobs.is_empty() {
                let mut watched = self.lock();
                if watched.jobs.is_empty() {
                    watched.polling = false;
                    return;
                }
                continue;
            }
            let Some(listed) = list(&user) else {
                tracing::warn!("squeue failed; asking again");
                continue;
            };
            let mut watched = self.lock();
            watched
                .jobs
                .retain(|job, (sender, last)| match listed.get(job) {
                    Some(state) => {
                        if last.as_ref() != Some(state) {
                            *last = Some(state.clone());
                            let _ = sender.send(Update::State(state.clone()));
                        }
                        true
                    }
                    None => {
                        let _ = sender.send(Update::Ended);
                        false
                    }
                });
        }
    }
}

/// This user's jobs in the queue and their states; `None` if `squeue` failed.
fn list(user: &str) -> Option<HashMap<String, String>> {
    let output = std::process::Command::new("squeue")
        .args(["-h", "-u", user, "-o", "%i %T"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(parse(&String::from_utf8_lossy(&output.stdout)))
}

fn parse(listing: &str) -> HashMap<String, String> {
    listing
        .lines()
        .filter_map(|line| {
            let (job, state) = line.trim().split_once(' ')?;
            Some((job.to_owned(), state.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeues_listing_is_read() {
        let listed = parse("12 RUNNING\n13 PENDING\n\n 14 COMPLETING \n");
        assert_eq!(listed.get("12").map(String::as_str), Some("RUNNING"));
        assert_eq!(listed.get("13").map(String::as_str), Some("PENDING"));
        assert_eq!(listed.get("14").map(String::as_str), Some("COMPLETING"));
        assert_eq!(listed.len(), 3);
    }
}
