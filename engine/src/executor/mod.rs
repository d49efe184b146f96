//! Executors: *where* a build runs. The scheduler ([`crate::schedule`]) owns the DAG, the
//! order, keep-going and the summary; an executor only takes "build this spec, whose
//! imports are in the store" and reports how it went.
//!
//! | executor | where | tokens (builds at once) |
//! |----------|-------|-------------------------|
//! | [`crate::build::Builder`] (local) | threads of this process, commands as child processes | the make jobserver of `-j N`, shared with every build's `make` |
//! | [`slurm::Slurm`] | one Slurm job step per build inside an allocation (`srun`), or one batch job per build outside one (`sbatch`, watched with `squeue`) | `slurm.max_jobs` jobs or steps in flight; each gets `-j N` CPUs |
//!
//! Every executor writes into the same store with the same protocol: whatever runs the
//! build takes the id's lock, builds in a stage and commits atomically, so two nodes (or a
//! node and this machine) never build one id twice and a killed job leaves what a killed
//! build leaves.

mod queue;
pub mod slurm;

use crate::build::{BuildError, BuildOutcome, Builder, Reporter};
use crate::jobserver::Jobserver;
use crate::spec::BuildSpec;
use crate::store::Store;
use std::sync::Arc;

/// What a build asks of where it runs, besides its spec (not part of its id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPUs (Slurm's `--cpus-per-task` and the build's `make -j`); `None`: `-j`.
    pub cpus: Option<usize>,
    /// Time limit in Slurm's format; `None`: `slurm.time`.
    pub time: Option<String>,
}

/// Runs builds somewhere, for the scheduler.
pub trait Executor: Sync {
    /// The store the builds go into.
    fn store(&self) -> &Store;

    /// The tokens a build takes before it starts (see [`crate::schedule`]); `None`: the
    /// scheduler makes a jobserver of `-j` tokens.
    fn tokens(&self) -> Option<&Arc<Jobserver>>;

    /// Builds `spec` unless it is in the store. A failed build is an outcome; an `Err` is
    /// a problem that stops the schedule (the store, the batch system's configuration).
    fn build(
        &self,
        spec: &BuildSpec,
        resources: &Resources,
        reporter: &dyn Reporter,
    ) -> Result<BuildOutcome, BuildError>;
}

impl Executor for Builder<'_> {
    fn store(&self) -> &Store {
        Builder::store(self)
    }

    fn tokens(&self) -> Option<&Arc<Jobserver>> {
        self.jobserver()
    }

    /// Resources do not apply here: the local jobserver shares `-j` among all builds.
    fn build(
        &self,
        spec: &BuildSpec,
        _resources: &Resources,
        reporter: &dyn Reporter,
    ) -> Result<BuildOutcome, BuildError> {
        Builder::build(self, spec, reporter)
    }
}
