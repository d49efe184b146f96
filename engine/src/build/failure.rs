//! Why a build failed, as data: [`BuildFailure`] carries a [`FailureCause`], the end of the
//! log and where to look. Consumers match on the cause (`hit build --json` writes it as an
//! object with a `kind`); people read its `Display`, one line that says what failed and
//! what to do.

use crate::errors::with_causes;
use crate::job::JobError;
use crate::source::SourceError;
use crate::spec::{ArtifactId, SourceKey};
use crate::store::StoreError;
use std::path::PathBuf;

/// A build that failed, with what a user needs to look into it.
#[derive(Debug)]
pub struct BuildFailure {
    pub id: ArtifactId,
    pub cause: FailureCause,
    pub log: PathBuf,
    pub build_dir: PathBuf,
    pub log_tail: Vec<String>,
}

/// Why a build failed. Each message is complete on its own (the inner error is part of
/// it, not a separate cause to print again).
#[derive(Debug, thiserror::Error)]
pub enum FailureCause {
    /// A source could not be fetched, or what came did not match its key.
    #[error("fetching {key}: {}", with_causes(.error))]
    Fetch { key: SourceKey, error: SourceError },
    /// A source could not be unpacked.
    #[error("unpacking {key}: {}", with_causes(.error))]
    Unpack { key: SourceKey, error: SourceError },
    /// A command of `build.commands` failed (see [`JobError`] for how: its status, a
    /// program not found, the build timeout, ...).
    #[error("{}", with_causes(.0))]
    Command(JobError),
    /// The build wrote into an import, which then left the store (it no longer matches its id).
    #[error(
        "the build changed files of {import} (an import, at {}); builds may write only into \
         $ARTIFACT and $BUILD. {} was removed from the store: build again to rebuild it",
        .path.display(),
        .import.name()
    )]
    ChangedImport { import: ArtifactId, path: PathBuf },
    /// A file of the artifact names the staging directory, which will not exist.
    #[error(
        "{} refers to the staging directory {}: the build resolved the symlink at $ARTIFACT \
         (with realpath or similar); use $ARTIFACT as given",
        .file.display(),
        .staging.display()
    )]
    StagingPath { file: PathBuf, staging: PathBuf },
    /// The build removed `$ARTIFACT` (and perhaps made a directory there, moved aside).
    #[error(
        "the build removed $ARTIFACT ({}){}; install into $ARTIFACT, never remove or replace it",
        .artifact.display(),
        .moved_to.as_ref().map(|to| format!(" and made a directory there instead (now in {})", to.display())).unwrap_or_default()
    )]
    ReplacedArtifact {
        artifact: PathBuf,
        moved_to: Option<PathBuf>,
    },
    /// The artifact holds something other than files, directories and symlinks.
    #[error(
        "{} is a {kind}: artifacts hold only files, directories and symlinks",
        .path.display()
    )]
    SpecialFile { path: PathBuf, kind: String },
    /// The build log could not be written.
    #[error("cannot write the build log: {0}")]
    Log(std::io::Error),
    /// The store failed while checking the result.
    #[error("{}", with_causes(.0))]
    Store(StoreError),
    /// The build ran elsewhere (a Slurm job or step) and failed there.
    #[error("on {place}: {error}")]
    Elsewhere { place: String, error: String },
    /// The batch system ended the job or step (time limit, node failure, preemption,
    /// cancellation): not the build's fault; `--retries` runs it again.
    #[error("{place} was killed by Slurm ({reason}); --retries N runs such a build again")]
    Killed { place: String, reason: String },
    /// The build could not be handed to the batch system (sbatch or srun refused it).
    #[error("cannot run the build through Slurm: {0}")]
    Submit(String),
}

impl FailureCause {
    /// A short, stable name of the variant (`command`, `fetch`, ...): the `kind` of
    /// `hit build --json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Fetch { .. } => "fetch",
            Self::Unpack { .. } => "unpack",
            Self::Command(_) => "command",
            Self::ChangedImport { .. } => "changed_import",
            Self::StagingPath { .. } => "staging_path",
            Self::ReplacedArtifact { .. } => "replaced_artifact",
            Self::SpecialFile { .. } => "special_file",
            Self::Log(_) => "log",
            Self::Store(_) => "store",
            Self::Elsewhere { .. } => "elsewhere",
            Self::Killed { .. } => "killed",
            Self::Submit(_) => "submit",
        }
    }
}
