//! The artifact store: finished artifacts by id, read-only, whole or absent.
//!
//! ```text
//! <store_dir>/<name>/<short>/      an artifact; <short> = first 12 characters of the hash,
//!   bin/ lib/ include/ ...         longer when another id already uses that prefix
//!   .hit/build.json                the spec it was built from (pretty, sorted)
//!   .hit/artifact.json             id, name, version, imports, dependency closure
//!   .hit/build.log                 everything the build printed
//! <build_dir>/<name>-<hash>/       a build in progress (kept when it fails)
//!   build/   ($BUILD)  sources and the build's working directory
//!   home/    ($HOME)
//!   stage/             what the build installs; becomes the artifact
//!   stage/.hit/build.log  the log, written in place (so it is the artifact's log)
//!   inputs/            files handed to commands (`inputs`), if any
//! <build_dir>/pool-<pid>/<n>/      emptied work dirs of finished builds, reused by the next
//!                                  build of that process, deleted when it is done
//! <store_dir>/.locks/              the store's locks, shared by every home using the store:
//!   <name>-<hash>.lock             held while an id is built (flock)
//!   commit.lock                    held for the instant of claiming or committing a path
//!   gc.lock                        shared by every build session, exclusive for gc
//! ```
//!
//! Only entries with the names above are hit's; `Store::entries` sorts the rest out as
//! foreign, which nothing deletes (see [`crate::ownership`]).
//!
//! ## The commit protocol
//!
//! A build must see its final path in `$ARTIFACT` (installed files record their prefix),
//! yet a half-built artifact must never appear at that path. So:
//!
//! 1. **Lock** the id (`<name>-<hash>.lock`); if it is now present, another process built
//!    it: done.
//! 2. **Claim** a path (under `commit.lock`): the shortest free `<short>` (12 characters,
//!    then 13, ...) gets a *symlink* to the stage directory. Lookups ignore symlinks, so
//!    the claim is invisible as an artifact, but `$ARTIFACT/lib` works during the build.
//! 3. **Build** into the stage through that path.
//! 4. **Check** that no file names the stage directory itself (a build that resolved the
//!    symlink would leave references that dangle after the commit): such a build fails.
//! 5. **Commit** (under `commit.lock`): write `.hit/`, make everything read-only, then
//!    replace the symlink by the stage directory (unlink, rename).
//!
//! ## Durability
//!
//! `kill -9` at any moment leaves the store consistent (above); a power loss or kernel
//! crash is another matter, because the kernel writes files back when it likes. By default
//! (`sync: link` in config.yaml) hit does not sync each artifact: one `syncfs` before a
//! profile link moves to a new profile (see [`crate::profile::links::ProfileLinks::switch`])
//! writes out everything built so far, so a link that survives a crash names artifacts
//! that did. An artifact committed in the last seconds before a crash that no link names
//! yet may come back with empty files. `sync: artifact` closes that window: each commit
//! syncs the stage's file system before the rename and the rename after it, as Nix's
//! `fsync-store-paths` does, for about two milliseconds per artifact on a journaled ext4
//! (1,000 trivial builds as a chain: 2.9 ms per package without, 5.3 ms with;
//! `bench/synth.py --config 'sync: artifact'`). `sync: none` never syncs.
//!
//! A process killed at any point leaves at most a claim symlink and a build directory,
//! which the next build of the same id reuses and clears, after killing the commands the
//! dead process may have left running in it (see `orphans`). A failed build drops its claim
//! and keeps its build directory for inspection.
//!
//! Lookup ([`Store::resolve`]) reads `<name>/<short>/.hit/artifact.json` and checks the id;
//! if that is not it, it scans `<name>/` for longer prefixes of the hash.

mod artifact;
mod fs;
mod lock;
pub mod manifest;
mod orphans;
pub mod relocate;

pub use artifact::{ArtifactMeta, META_DIR, META_FORMAT};
pub(crate) use fs::sync_filesystem;
pub use manifest::{ContentChange, MANIFEST_FILE, Manifest};

/// Kills the processes of the build whose `$BUILD` is `build_dir` (see `orphans`).
pub(crate) fn kill_build_processes(build_dir: &Path) -> usize {
    orphans::kill(build_dir)
}
pub use lock::FileLock;

use crate::home::{Home, SyncPolicy};
use crate::spec::ArtifactId;
use rayon::prelude::*;
use std::io;
use std::path::{Path, PathBuf};

/// Names of the per-process pools of reusable work directories in the build dir.
const POOL_PREFIX: &str = "pool-";

/// Length of the short hash in artifact paths.
pub const SHORT_LEN: usize = 12;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path}: unreadable artifact metadata: {message}")]
    Meta { path: PathBuf, message: String },
    #[error("the claim on {path} for {id} was lost (removed by hand?); build again")]
    ClaimLost { id: ArtifactId, path: PathBuf },
    #[error(
        "the build dir {build_dir} is on another file system than the store {store}: a build moves into the store by rename, so point build_dir in config.yaml at a directory beside the store"
    )]
    OtherFilesystem { build_dir: PathBuf, store: PathBuf },
    #[error("every path for {id} under {dir} is taken")]
    NoFreePath { id: ArtifactId, dir: PathBuf },
    #[error(
        "cannot move the build of {id} into the store: {source} (the build dir must be on the same filesystem as the store)"
    )]
    Commit { id: ArtifactId, source: io::Error },
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The store of one home.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    build_dir: PathBuf,
    locks_dir: PathBuf,
    sync: SyncPolicy,
}

/// Threads that delete trash. Deleting is bound by the disk, not the CPU: an `unlink` sleeps
/// while ext4 reads the inode and bitmap blocks it changes, so more threads than cores keep
/// more of those reads in flight. Measured on 10,001 small artifacts (2 cores, the root
/// ext4): 2 threads 3.6 s, 4 threads 2.6 s, 8 threads 2.25 s, 16 threads 2.3 s.
const DELETION_THREADS: usize = 8;

/// The pool gc deletes on (made on first use; the global pool if it cannot be made).
fn deletion_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(DELETION_THREADS)
            .thread_name(|index| format!("hit-delete-{index}"))
            .build()
            .unwrap_or_else(|_| {
                rayon::ThreadPoolBuilder::new()
                    .use_current_thread()
                    .num_threads(1)
                    .build()
                    .expect("a pool on the current thread needs no new thread")
            })
    })
}

/// A trash directory of the build dir (see [`Store::trash`]).
#[derive(Debug)]
pub(crate) struct Trash {
    dir: PathBuf,
    taken: usize,
}

impl Trash {
    /// Renames an artifact out of the store into the trash (under the commit lock).
    pub(crate) fn take(&mut self, store: &Store, path: &Path) -> Result<(), StoreError> {
        let _commit = store.commit_lock()?;
        std::fs::rename(path, self.dir.join(self.taken.to_string()))
            .map_err(io_error("cannot move away", path))?;
        self.taken += 1;
        Ok(())
    }

    /// Deletes what the trash holds on [`DELETION_THREADS`] threads (unlinks in different
    /// directories run in parallel in the kernel, and overlap their disk reads), then the
    /// trash itself. A small artifact is one piece of work; a big one (many top-level
    /// entries) is split at those entries, so that one big artifact is spread over the
    /// threads too (rayon steals the pieces).
    pub(crate) fn empty(self) -> Result<(), StoreError> {
        const SPLIT_ABOVE: usize = 16;
        let trash = std::fs::File::open(&self.dir).map_err(io_error("cannot read", &self.dir))?;
        deletion_pool().install(|| {
            (0..self.taken).into_par_iter().try_for_each(|n| {
                let name = n.to_string();
                fs::remove_dir_at(
                    std::os::fd::AsFd::as_fd(&trash),
                    name.as_ref(),
                    Some(SPLIT_ABOVE),
                )
                .map_err(io_error("cannot remove", &self.dir.join(&name)))
            })
        })?;
        drop(trash);
        std::fs::remove_dir(&self.dir).map_err(io_error("cannot remove", &self.dir))
    }
}

/// An entry of the store, by what it is (see [`Store::entries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreEntry {
    pub path: PathBuf,
    pub kind: EntryKind,
}

/// What an entry of the store is, judged by its name and type alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A directory at an artifact's place (`<name>/<hash prefix>`): an artifact if its
    /// metadata says so.
    Artifact,
    /// A symlink at an artifact's place: a build's claim.
    Claim,
    /// Anything else: not made by hit, never touched.
    Foreign,
}

impl StoreEntry {
    fn foreign(path: PathBuf) -> Self {
        Self {
            path,
            kind: EntryKind::Foreign,
        }
    }
}

/// What [`Store::check_claim`] found when a build did not leave `$ARTIFACT` as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenClaim {
    /// Where the directory the build made at `$ARTIFACT` went, if it made one.
    pub moved_to: Option<PathBuf>,
}

/// The directories of one build in progress, with the claimed artifact path.
#[derive(Debug)]
pub struct Staging {
    pub id: ArtifactId,
    /// The claimed final path (`$ARTIFACT`); a symlink to `stage_dir` until commit.
    pub artifact_dir: PathBuf,
    /// Everything of this build: the dirs below and the log.
    pub work_dir: PathBuf,
    pub stage_dir: PathBuf,
    /// `$BUILD`: where sources are unpacked and commands start.
    pub build_dir: PathBuf,
    /// `$HOME` of the build.
    pub home_dir: PathBuf,
    pub inputs_dir: PathBuf,
    pub log_path: PathBuf,
}

/// Who made what a commit stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    /// A build: checked for references to the store (see [`relocate`]).
    ByBuild,
    /// hit itself (a profile tree of relative links): nothing to check.
    ByHit,
}

impl Store {
    pub fn new(dir: PathBuf, build_dir: PathBuf, locks_dir: PathBuf) -> Self {
        Self {
            dir,
            build_dir,
            locks_dir,
            sync: SyncPolicy::Link,
        }
    }

    pub fn for_home(home: &Home) -> Self {
        Self::new(home.store_dir(), home.build_dir(), home.store_locks_dir())
            .with_sync(home.config().sync)
    }

    /// When commits are written out to disk (see "Durability" in the module doc).
    pub fn with_sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where builds happen (`tmp/`).
    pub fn build_dir(&self) -> &Path {
        &self.build_dir
    }

    /// Checks, before anything is built, that the build dir is on the store's file system
    /// (a commit is a rename; otherwise the first build would fail at its very end).
    pub fn check_build_dir(&self) -> Result<(), StoreError> {
        use std::os::unix::fs::MetadataExt;
        let device = |path: &Path| {
            std::fs::metadata(path)
                .map(|meta| meta.dev())
                .map_err(io_error("cannot read", path))
        };
        if device(&self.build_dir)? != device(&self.dir)? {
            return Err(StoreError::OtherFilesystem {
                build_dir: self.build_dir.clone(),
                store: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// The first file or directory inside an artifact that is writable, if any (the
    /// artifact's own directory is [`Store::is_sealed`]'s business).
    pub fn writable_entry(&self, artifact: &Path) -> Result<Option<PathBuf>, StoreError> {
        fs::find_writable(artifact).map_err(io_error("cannot check", artifact))
    }

    /// Whether an artifact's own directory is read-only. A commit makes it read-only last,
    /// after the rename into place, so a process killed in between leaves it writable: an
    /// interrupted commit, not a damaged artifact.
    pub fn is_sealed(&self, artifact: &Path) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(artifact).is_ok_and(|m| m.permissions().mode() & 0o222 == 0)
    }

    /// Makes an artifact's own directory read-only (finishing an interrupted commit).
    pub fn seal(&self, artifact: &Path) -> Result<(), StoreError> {
        fs::make_read_only(artifact, true).map_err(io_error("cannot make read-only", artifact))
    }

    /// A fingerprint of an artifact's files (names, modes, sizes, times, contents): builds compare their
    /// imports' before and after, to catch a build that wrote into another artifact.
    pub fn fingerprint(&self, artifact: &Path) -> Result<u64, StoreError> {
        fs::tree_fingerprint(artifact).map_err(io_error("cannot read", artifact))
    }

    /// Deletes a leftover of the build dir (a failed build's dir, gc's trash).
    pub(crate) fn remove_leftover(&self, path: &Path) -> Result<(), StoreError> {
        fs::remove_tree(path).map_err(io_error("cannot remove", path))
    }

    /// Whether an artifact is in the store, for the no-op path: one `lstat` of the place
    /// an id normally has (a directory there is its artifact unless 60 bits of the hash
    /// collide), and a full [`Store::resolve`] only when that place is empty.
    pub fn is_present(&self, id: &ArtifactId) -> Result<bool, StoreError> {
        Ok(self.locate(id)?.is_some())
    }

    /// The path of an artifact that should be in the store (a package of a built
    /// profile), as cheaply as [`Store::is_present`] finds it: one `lstat`, and a full
    /// [`Store::resolve`] only when the usual place is empty.
    pub fn locate(&self, id: &ArtifactId) -> Result<Option<PathBuf>, StoreError> {
        let first = self
            .dir
            .join(id.name().as_str())
            .join(&id.hash()[..SHORT_LEN]);
        if std::fs::symlink_metadata(&first).is_ok_and(|meta| meta.is_dir()) {
            return Ok(Some(first));
        }
        self.resolve(id)
    }

    /// The path of an artifact if it is in the store.
    pub fn resolve(&self, id: &ArtifactId) -> Result<Option<PathBuf>, StoreError> {
        let name_dir = self.dir.join(id.name().as_str());
        let first = name_dir.join(&id.hash()[..SHORT_LEN]);
        if self.holds(&first, id) {
            return Ok(Some(first));
        }
        let entries = match std::fs::read_dir(&name_dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("cannot read", &name_dir)(error)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error("cannot read", &name_dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() > SHORT_LEN
                && id.hash().starts_with(name)
                && self.holds(&entry.path(), id)
            {
                return Ok(Some(entry.path()));
            }
        }
        Ok(None)
    }

    /// Whether `path` is a real directory holding the artifact `id`.
    ///
    /// This is on every no-op's path, so it reads only the head of `artifact.json`, where
    /// hit writes the id (see [`ArtifactMeta`]): a dependency list can be long.
    fn holds(&self, path: &Path, id: &ArtifactId) -> bool {
        use std::io::Read;
        let Ok(mut file) = std::fs::File::open(path.join(META_DIR).join("artifact.json")) else {
            return false;
        };
        let mut head = [0u8; 512];
        let Ok(len) = file.read(&mut head) else {
            return false;
        };
        let expected = format!("\"id\": \"{id}\",");
        let found = memchr::memmem::find(&head[..len], expected.as_bytes()).is_some();
        // A claim is a symlink to the stage: only a real directory is an artifact.
        found && std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir())
    }

    /// Reads `<artifact>/.hit/artifact.json`.
    pub fn read_meta(&self, artifact: &Path) -> Result<ArtifactMeta, StoreError> {
        read_meta(artifact)
    }

    fn lock_path(&self, id: &ArtifactId) -> PathBuf {
        self.locks_dir
            .join(format!("{}-{}.lock", id.name(), id.hash()))
    }

    /// Takes the build lock of `id`, waiting for it.
    pub fn lock(&self, id: &ArtifactId) -> Result<FileLock, StoreError> {
        let path = self.lock_path(id);
        FileLock::acquire(&path).map_err(io_error("cannot lock", &path))
    }

    /// Takes the build lock of `id` if no other process holds it.
    pub fn try_lock(&self, id: &ArtifactId) -> Result<Option<FileLock>, StoreError> {
        let path = self.lock_path(id);
        FileLock::try_acquire(&path).map_err(io_error("cannot lock", &path))
    }

    /// Who holds the build lock of `id`, as its holder recorded it (see
    /// [`FileLock::holder`]): host, pid and for how long.
    pub fn lock_holder(&self, id: &ArtifactId) -> Option<String> {
        FileLock::holder(&self.lock_path(id))
    }

    /// A build session: held (shared) while a process builds and uses artifacts that no gc
    /// root protects yet, such as a profile's packages before the profile is linked. gc
    /// takes the same lock exclusively, so it never deletes what a running build needs.
    pub fn session(&self) -> Result<FileLock, StoreError> {
        let path = self.locks_dir.join("gc.lock");
        FileLock::acquire_shared(&path).map_err(io_error("cannot lock", &path))
    }

    /// [`Store::exclusive`] if nobody holds [`Store::session`] or it now.
    pub fn try_exclusive(&self) -> Result<Option<FileLock>, StoreError> {
        let path = self.locks_dir.join("gc.lock");
        FileLock::try_acquire(&path).map_err(io_error("cannot lock", &path))
    }

    /// The processes holding the store's session lock (builds, gc, verify): whom
    /// [`Store::exclusive`] waits for.
    pub fn session_holders(&self) -> Vec<u32> {
        FileLock::holders(&self.locks_dir.join("gc.lock"))
    }

    /// The exclusive side of [`Store::session`], for gc.
    pub fn exclusive(&self) -> Result<FileLock, StoreError> {
        let path = self.locks_dir.join("gc.lock");
        FileLock::acquire(&path).map_err(io_error("cannot lock", &path))
    }

    /// Every entry of the store, sorted into what hit made and what it did not (see
    /// [`crate::ownership`]): the store's own files (marker, locks, homes) are left out.
    pub(crate) fn entries(&self) -> Result<Vec<StoreEntry>, StoreError> {
        use crate::ownership::{
            MARKER, STORE_HOMES, STORE_LOCKS, is_artifact_name, is_package_name,
        };
        let mut out = Vec::new();
        let names = match std::fs::read_dir(&self.dir) {
            Ok(names) => names,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(error) => return Err(io_error("cannot read", &self.dir)(error)),
        };
        for name in names {
            let name = name.map_err(io_error("cannot read", &self.dir))?;
            let file_name = name.file_name();
            let file_name = file_name.to_string_lossy();
            if file_name.starts_with(MARKER) || file_name == STORE_LOCKS || file_name == STORE_HOMES
            {
                continue;
            }
            let name = name.path();
            let is_dir = std::fs::symlink_metadata(&name).is_ok_and(|meta| meta.is_dir());
            if !is_dir || !is_package_name(&file_name) {
                out.push(StoreEntry::foreign(name));
                continue;
            }
            for entry in std::fs::read_dir(&name).map_err(io_error("cannot read", &name))? {
                let entry = entry.map_err(io_error("cannot read", &name))?;
                let kind = entry
                    .file_type()
                    .map_err(io_error("cannot read", &entry.path()))?;
                let kind = if !is_artifact_name(&entry.file_name().to_string_lossy()) {
                    EntryKind::Foreign
                } else if kind.is_dir() {
                    EntryKind::Artifact
                } else if kind.is_symlink() {
                    EntryKind::Claim
                } else {
                    EntryKind::Foreign
                };
                out.push(StoreEntry {
                    path: entry.path(),
                    kind,
                });
            }
        }
        Ok(out)
    }

    /// The homes registered as using this store: `(registration entry, gc roots dir)`.
    pub(crate) fn homes(&self) -> Result<Vec<(PathBuf, PathBuf)>, StoreError> {
        let dir = self.dir.join(crate::ownership::STORE_HOMES);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error("cannot read", &dir)(error)),
        };
        let mut homes = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error("cannot read", &dir))?.path();
            if let Ok(target) = std::fs::read_link(&entry)
                && target.is_absolute()
            {
                homes.push((entry, target));
            }
        }
        homes.sort();
        Ok(homes)
    }

    /// Drops the registration of a home that is gone (see [`Store::homes`]).
    pub(crate) fn forget_home(&self, entry: &Path) -> Result<(), StoreError> {
        match std::fs::remove_file(entry) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                Err(io_error("cannot remove", entry)(error))
            }
            _ => Ok(()),
        }
    }

    /// Removes a directory of the store (an artifact) atomically: renamed out, then deleted.
    pub(crate) fn remove_dir(&self, path: &Path) -> Result<(), StoreError> {
        let mut trash = self.trash()?;
        trash.take(self, path)?;
        trash.empty()
    }

    /// A trash directory in the build dir (`gc-*`): artifacts are renamed into it, which
    /// takes them out of the store at once, and deleted there afterwards. A process killed
    /// in between leaves the trash, which gc and `verify --repair` clear.
    pub(crate) fn trash(&self) -> Result<Trash, StoreError> {
        std::fs::create_dir_all(&self.build_dir)
            .map_err(io_error("cannot create", &self.build_dir))?;
        let dir = tempfile::Builder::new()
            .prefix("gc-")
            .tempdir_in(&self.build_dir)
            .map_err(io_error("cannot create a temp dir in", &self.build_dir))?
            .keep();
        Ok(Trash { dir, taken: 0 })
    }

    /// Removes a claim symlink and its build directory if no process is building that id.
    /// Returns whether it was stale (and is now gone).
    pub(crate) fn remove_stale_claim(&self, claim: &Path) -> Result<bool, StoreError> {
        let Ok(stage) = std::fs::read_link(claim) else {
            return Ok(false);
        };
        let work_dir = stage.parent().map(Path::to_path_buf).unwrap_or_default();
        let parsed = work_dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('-'))
            .and_then(|(name, hash)| {
                ArtifactId::new(crate::spec::PackageName::new(name).ok()?, hash).ok()
            });
        let lock = match &parsed {
            Some(id) => self.try_lock(id)?,
            None => None,
        };
        if parsed.is_some() && lock.is_none() {
            return Ok(false);
        }
        // Commands a killed hit left running write through the claim: once it is gone,
        // a `mkdir -p $ARTIFACT/lib` of theirs would make a real directory there.
        orphans::kill(&work_dir.join("build"));
        let _commit = self.commit_lock()?;
        if std::fs::read_link(claim).ok().as_deref() == Some(stage.as_path()) {
            std::fs::remove_file(claim).map_err(io_error("cannot remove the claim", claim))?;
        }
        if work_dir.starts_with(&self.build_dir) {
            fs::remove_tree(&work_dir).map_err(io_error("cannot remove", &work_dir))?;
        }
        Ok(true)
    }

    fn commit_lock(&self) -> Result<FileLock, StoreError> {
        let path = self.locks_dir.join("commit.lock");
        FileLock::acquire(&path).map_err(io_error("cannot lock", &path))
    }

    /// Prepares a build of `id`: a fresh work directory and a claimed artifact path.
    /// The caller holds the id's lock (`_lock` proves it).
    pub fn stage(&self, id: &ArtifactId, _lock: &FileLock) -> Result<Staging, StoreError> {
        let work_dir = self.build_dir.join(format!("{}-{}", id.name(), id.hash()));
        if std::fs::symlink_metadata(&work_dir).is_ok() {
            // A killed earlier build's commands may still be running in there.
            let killed = orphans::kill(&work_dir.join("build"));
            if killed > 0 {
                tracing::warn!(
                    "killed {killed} processes left running by an interrupted build of {id}"
                );
            }
        }
        fs::remove_tree(&work_dir)
            .map_err(io_error("cannot clear the old build dir", &work_dir))?;
        self.reuse_work_dir(&work_dir);
        let staging = Staging {
            id: id.clone(),
            artifact_dir: PathBuf::new(),
            stage_dir: work_dir.join("stage"),
            build_dir: work_dir.join("build"),
            home_dir: work_dir.join("home"),
            inputs_dir: work_dir.join("inputs"),
            log_path: work_dir.join("stage").join(META_DIR).join("build.log"),
            work_dir,
        };
        let meta_dir = staging.stage_dir.join(META_DIR);
        for dir in [&meta_dir, &staging.build_dir, &staging.home_dir] {
            std::fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
        }
        let artifact_dir = self.claim(id, &staging.stage_dir)?;
        Ok(Staging {
            artifact_dir,
            ..staging
        })
    }

    /// A scratch stage to rebuild the built artifact at `path` in (`hit build --check`):
    /// the work dir is `check-<name>-<hash>`, emptied first; `artifact_dir` is `path`
    /// itself, which only the sandbox can show the rebuild in place of the artifact. The
    /// caller holds the id's lock.
    pub fn stage_check(
        &self,
        id: &ArtifactId,
        path: &Path,
        _lock: &FileLock,
    ) -> Result<Staging, StoreError> {
        let work_dir = self
            .build_dir
            .join(format!("check-{}-{}", id.name(), id.hash()));
        fs::remove_tree(&work_dir)
            .map_err(io_error("cannot clear the old check dir", &work_dir))?;
        let staging = Staging {
            id: id.clone(),
            artifact_dir: path.to_owned(),
            stage_dir: work_dir.join("stage"),
            build_dir: work_dir.join("build"),
            home_dir: work_dir.join("home"),
            inputs_dir: work_dir.join("inputs"),
            log_path: work_dir.join("build.log"),
            work_dir,
        };
        for dir in [&staging.stage_dir, &staging.build_dir, &staging.home_dir] {
            std::fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
        }
        Ok(staging)
    }

    /// Deletes a check's work dir (when the rebuild matched: nothing to look at).
    pub fn remove_check(&self, staging: &Staging) -> Result<(), StoreError> {
        fs::remove_tree(&staging.work_dir).map_err(io_error("cannot remove", &staging.work_dir))
    }

    /// Records in the artifact's `artifact.json` whether a rebuild gave the same contents.
    /// The file is replaced atomically, under the commit lock.
    pub fn record_reproducible(&self, path: &Path, reproducible: bool) -> Result<(), StoreError> {
        let _commit = self.commit_lock()?;
        let meta_dir = path.join(META_DIR);
        let mut meta = self.read_meta(path)?;
        meta.reproducible = Some(reproducible);
        let mut json = serde_json::to_string_pretty(&meta).expect("metadata always serializes");
        json.push('\n');
        let temp = meta_dir.join("artifact.json.tmp");
        let result = fs::set_writable(&meta_dir, true)
            .and_then(|()| std::fs::write(&temp, &json))
            .and_then(|()| fs::set_writable(&temp, false))
            .and_then(|()| std::fs::rename(&temp, meta_dir.join("artifact.json")));
        let sealed = fs::set_writable(&meta_dir, false);
        result
            .and(sealed)
            .map_err(io_error("cannot update", &meta_dir.join("artifact.json")))
    }

    /// Picks the artifact path and points it at the stage (see the module doc).
    fn claim(&self, id: &ArtifactId, stage: &Path) -> Result<PathBuf, StoreError> {
        let name_dir = self.dir.join(id.name().as_str());
        std::fs::create_dir_all(&name_dir).map_err(io_error("cannot create", &name_dir))?;
        let _commit = self.commit_lock()?;
        // Claims left by a killed earlier build of this id go first.
        for entry in std::fs::read_dir(&name_dir).map_err(io_error("cannot read", &name_dir))? {
            let path = entry.map_err(io_error("cannot read", &name_dir))?.path();
            if std::fs::read_link(&path).is_ok_and(|target| target == stage) {
                std::fs::remove_file(&path)
                    .map_err(io_error("cannot remove a stale claim", &path))?;
            }
        }
        for len in SHORT_LEN..=id.hash().len() {
            let path = name_dir.join(&id.hash()[..len]);
            match std::os::unix::fs::symlink(stage, &path) {
                Ok(()) => return Ok(path),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(io_error("cannot claim", &path)(error)),
            }
        }
        Err(StoreError::NoFreePath {
            id: id.clone(),
            dir: name_dir,
        })
    }

    /// A file of the stage that names the stage directory itself: the build resolved the
    /// claim symlink (`realpath $ARTIFACT`), and that file would point nowhere once the
    /// stage moves into place.
    pub fn stage_reference(&self, staging: &Staging) -> Result<Option<PathBuf>, StoreError> {
        use std::os::unix::ffi::OsStrExt;
        let needle = staging.stage_dir.as_os_str().as_bytes();
        fs::find_reference(&staging.stage_dir, needle)
            .map_err(io_error("cannot scan", &staging.stage_dir))
    }

    /// Removes setuid/setgid bits from the stage's files (returned, to be logged), or
    /// names an entry an artifact may not hold: a device node, a FIFO or a socket.
    pub fn strip_special(
        &self,
        staging: &Staging,
    ) -> Result<Result<Vec<PathBuf>, (PathBuf, String)>, StoreError> {
        let special = fs::strip_special(&staging.stage_dir)
            .map_err(io_error("cannot scan", &staging.stage_dir))?;
        Ok(match special.refused {
            Some((path, kind)) => Err((path, kind.to_string())),
            None => Ok(special.stripped),
        })
    }

    /// Turns a finished stage into the artifact: relocation check, manifest, metadata,
    /// read-only, atomic swap.
    pub fn commit(
        &self,
        staging: &Staging,
        meta: &ArtifactMeta,
        build_json: &str,
    ) -> Result<PathBuf, StoreError> {
        self.commit_as(staging, meta, build_json, Made::ByBuild)
    }

    /// [`Store::commit`] of a profile tree, which hit makes itself of relative links: there
    /// is nothing to relocate, and reading 20,000 links again cost half the assembly.
    pub fn commit_profile(
        &self,
        staging: &Staging,
        meta: &ArtifactMeta,
        build_json: &str,
    ) -> Result<PathBuf, StoreError> {
        self.commit_as(staging, meta, build_json, Made::ByHit)
    }

    fn commit_as(
        &self,
        staging: &Staging,
        meta: &ArtifactMeta,
        build_json: &str,
        made: Made,
    ) -> Result<PathBuf, StoreError> {
        let meta_dir = staging.stage_dir.join(META_DIR);
        std::fs::create_dir_all(&meta_dir).map_err(io_error("cannot create", &meta_dir))?;
        let write = |name: &str, contents: &[u8]| {
            let path = meta_dir.join(name);
            std::fs::write(&path, contents).map_err(io_error("cannot write", &path))
        };
        write("build.json", build_json.as_bytes())?;
        // Relocation first: it rewrites RUNPATHs, and the manifest takes what is final.
        let relocatable = match made {
            Made::ByHit => true,
            Made::ByBuild => {
                let relocation =
                    relocate::relocate(&staging.stage_dir, &staging.artifact_dir, &self.dir)
                        .map_err(io_error("cannot scan", &staging.stage_dir))?;
                let mut json = serde_json::to_string_pretty(&relocation)
                    .expect("a relocation record serializes");
                json.push('\n');
                write(relocate::RELOCATION_FILE, json.as_bytes())?;
                relocation.relocatable()
            }
        };
        let manifest = Manifest::scan(&staging.stage_dir)
            .map_err(io_error("cannot scan", &staging.stage_dir))?
            .to_text();
        write(MANIFEST_FILE, &manifest)?;
        let meta = ArtifactMeta {
            content_hash: Some(manifest::content_hash_of(&manifest)),
            relocatable: Some(relocatable),
            ..meta.clone()
        };
        let mut meta_json =
            serde_json::to_string_pretty(&meta).expect("metadata always serializes");
        meta_json.push('\n');
        write("artifact.json", meta_json.as_bytes())?;
        // The stage dir itself stays writable until after the rename: moving a directory
        // to a new parent needs write access to it (its `..` changes).
        fs::make_read_only(&staging.stage_dir, false)
            .map_err(io_error("cannot make read-only", &staging.stage_dir))?;
        if self.sync == SyncPolicy::Artifact {
            fs::sync_filesystem(&staging.stage_dir)
                .map_err(io_error("cannot sync", &staging.stage_dir))?;
        }
        {
            let _commit = self.commit_lock()?;
            let path = &staging.artifact_dir;
            if std::fs::read_link(path).ok().as_deref() != Some(staging.stage_dir.as_path()) {
                return Err(StoreError::ClaimLost {
                    id: staging.id.clone(),
                    path: path.clone(),
                });
            }
            std::fs::remove_file(path).map_err(io_error("cannot remove the claim", path))?;
            std::fs::rename(&staging.stage_dir, path).map_err(|source| StoreError::Commit {
                id: staging.id.clone(),
                source,
            })?;
        }
        if self.sync == SyncPolicy::Artifact
            && let Some(parent) = staging.artifact_dir.parent()
        {
            std::fs::File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error("cannot sync", parent))?;
        }
        fs::make_read_only(&staging.artifact_dir, true)
            .map_err(io_error("cannot make read-only", &staging.artifact_dir))?;
        self.recycle_work_dir(staging)?;
        Ok(staging.artifact_dir.clone())
    }

    /// This process's pool of emptied work directories (`build/` and `home/` inside).
    fn pool_dir(&self) -> PathBuf {
        self.build_dir
            .join(format!("{POOL_PREFIX}{}", std::process::id()))
    }

    /// Moves an emptied work directory from the pool to `work_dir`, if there is one. A
    /// trivial build then creates only its stage: creating and deleting three directories
    /// per build was half its time on an ext4 without a journal (whose inode allocator
    /// scans past every inode freed in the last minute).
    fn reuse_work_dir(&self, work_dir: &Path) {
        let Ok(mut entries) = std::fs::read_dir(self.pool_dir()) else {
            return;
        };
        // Another thread may take the same one first; then this build makes its own.
        if let Some(Ok(entry)) = entries.next() {
            let _ = std::fs::rename(entry.path(), work_dir);
        }
    }

    /// Empties a committed build's work directory and puts it in the pool (or deletes it,
    /// if that fails).
    fn recycle_work_dir(&self, staging: &Staging) -> Result<(), StoreError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let emptied = [&staging.build_dir, &staging.home_dir]
            .into_iter()
            .try_for_each(|dir| fs::remove_children(dir))
            .and_then(|()| fs::remove_tree(&staging.inputs_dir));
        let pool = self.pool_dir();
        let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pooled = emptied
            .and_then(|()| std::fs::create_dir_all(&pool))
            .and_then(|()| std::fs::rename(&staging.work_dir, pool.join(number.to_string())));
        if pooled.is_err() {
            fs::remove_tree(&staging.work_dir)
                .map_err(io_error("cannot remove", &staging.work_dir))?;
        }
        Ok(())
    }

    /// Deletes this process's pool; call when its builds are done.
    pub fn drain_pool(&self) -> Result<(), StoreError> {
        let pool = self.pool_dir();
        fs::remove_tree(&pool).map_err(io_error("cannot remove", &pool))
    }

    /// Gives up the claim of a failed build; its work directory stays for inspection.
    pub fn abandon(&self, staging: &Staging) -> Result<(), StoreError> {
        let _commit = self.commit_lock()?;
        let path = &staging.artifact_dir;
        if std::fs::read_link(path).ok().as_deref() == Some(staging.stage_dir.as_path()) {
            std::fs::remove_file(path).map_err(io_error("cannot remove the claim", path))?;
        } else {
            self.take_back_replaced(staging)?;
        }
        Ok(())
    }

    /// Gives up the claim and deletes the work directory: for a stage that was never a
    /// build (an artifact refused on its way in from a binary cache), nothing to inspect.
    pub fn discard(&self, staging: &Staging) -> Result<(), StoreError> {
        self.abandon(staging)?;
        fs::remove_tree(&staging.work_dir).map_err(io_error("cannot remove", &staging.work_dir))
    }

    /// Whether the build left its claim as it was (`None`); if it removed it, or replaced
    /// it by a directory of its own (`rm -rf $ARTIFACT; mkdir $ARTIFACT`), that directory is
    /// moved out of the store into the build's work dir (`replaced-artifact/`).
    pub fn check_claim(&self, staging: &Staging) -> Result<Option<BrokenClaim>, StoreError> {
        let path = &staging.artifact_dir;
        // Only this build (it holds the id's lock) changes its claim: no commit lock needed
        // to see that it is intact, the common case.
        if std::fs::read_link(path).ok().as_deref() == Some(staging.stage_dir.as_path()) {
            return Ok(None);
        }
        let _commit = self.commit_lock()?;
        Ok(Some(BrokenClaim {
            moved_to: self.take_back_replaced(staging)?,
        }))
    }

    /// Moves a real directory at a build's claimed path into its work dir. Only this build
    /// can have made it: the path was its claim, and it holds the id's lock. The caller
    /// holds the commit lock.
    fn take_back_replaced(&self, staging: &Staging) -> Result<Option<PathBuf>, StoreError> {
        let path = &staging.artifact_dir;
        if !std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir()) {
            return Ok(None);
        }
        let to = staging.work_dir.join("replaced-artifact");
        fs::remove_tree(&to).map_err(io_error("cannot remove", &to))?;
        std::fs::rename(path, &to).map_err(io_error("cannot move away", path))?;
        Ok(Some(to))
    }

    /// Removes an artifact; returns where it was, or `None` if it was not there. Waits for
    /// a build of the same id to finish first.
    pub fn purge(&self, id: &ArtifactId) -> Result<Option<PathBuf>, StoreError> {
        let _lock = self.lock(id)?;
        let Some(path) = self.resolve(id)? else {
            return Ok(None);
        };
        std::fs::create_dir_all(&self.build_dir)
            .map_err(io_error("cannot create", &self.build_dir))?;
        let trash = tempfile::Builder::new()
            .prefix(&format!("purge-{}-", id.name()))
            .tempdir_in(&self.build_dir)
            .map_err(io_error("cannot create a temp dir in", &self.build_dir))?
            .keep();
        let target = trash.join("artifact");
        {
            let _commit = self.commit_lock()?;
            std::fs::rename(&path, &target).map_err(io_error("cannot move away", &path))?;
        }
        fs::remove_tree(&trash).map_err(io_error("cannot remove", &trash))?;
        Ok(Some(path))
    }
}

fn read_meta(artifact: &Path) -> Result<ArtifactMeta, StoreError> {
    let path = artifact.join(META_DIR).join("artifact.json");
    let text = std::fs::read_to_string(&path).map_err(io_error("cannot read", &path))?;
    serde_json::from_str(&text).map_err(|error| StoreError::Meta {
        path,
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PackageName;

    fn store(dir: &Path) -> Store {
        let store = Store::new(dir.join("bld"), dir.join("tmp"), dir.join("locks"));
        std::fs::create_dir_all(dir.join("locks")).unwrap();
        store
    }

    fn id(hash: &str) -> ArtifactId {
        ArtifactId::new(PackageName::new("pkg").unwrap(), hash).unwrap()
    }

    fn build(store: &Store, id: &ArtifactId, file: &str) -> PathBuf {
        let lock = store.lock(id).unwrap();
        let staging = store.stage(id, &lock).unwrap();
        std::fs::write(staging.artifact_dir.join(file), "x").unwrap();
        let meta = ArtifactMeta {
            format: META_FORMAT,
            id: id.clone(),
            name: "pkg".into(),
            version: None,
            imports: vec![],
            dependencies: vec![],
            content_hash: None,
            relocatable: None,
            reproducible: None,
        };
        store.commit(&staging, &meta, "{}").unwrap()
    }

    #[test]
    fn ids_sharing_twelve_characters_get_longer_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let a = id("aaaaaaaaaaaabbbbbbbbbbbbbbbbbbbb");
        let b = id("aaaaaaaaaaaacccccccccccccccccccc");
        let path_a = build(&store, &a, "a");
        let path_b = build(&store, &b, "b");
        assert!(path_a.ends_with("pkg/aaaaaaaaaaaa"));
        assert!(path_b.ends_with("pkg/aaaaaaaaaaaac"));
        assert_eq!(store.resolve(&a).unwrap(), Some(path_a.clone()));
        assert_eq!(store.resolve(&b).unwrap(), Some(path_b.clone()));
        // With the first one gone, the second is still found at its longer path.
        store.purge(&a).unwrap();
        assert_eq!(store.resolve(&a).unwrap(), None);
        assert_eq!(store.resolve(&b).unwrap(), Some(path_b));
    }

    #[test]
    fn work_dirs_are_emptied_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let a = id("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
        let lock = store.lock(&a).unwrap();
        let staging = store.stage(&a, &lock).unwrap();
        std::fs::write(staging.build_dir.join("object.o"), "x").unwrap();
        std::fs::write(staging.home_dir.join(".cache"), "x").unwrap();
        std::fs::write(staging.artifact_dir.join("lib"), "x").unwrap();
        let meta = ArtifactMeta {
            format: META_FORMAT,
            id: a.clone(),
            name: "pkg".into(),
            version: None,
            imports: vec![],
            dependencies: vec![],
            content_hash: None,
            relocatable: None,
            reproducible: None,
        };
        store.commit(&staging, &meta, "{}").unwrap();
        assert!(!staging.work_dir.exists());
        let pool = store.pool_dir();
        assert_eq!(std::fs::read_dir(&pool).unwrap().count(), 1);

        let b = id("ffffffffffffffffffffffffffffffff");
        let lock = store.lock(&b).unwrap();
        let staging = store.stage(&b, &lock).unwrap();
        assert_eq!(std::fs::read_dir(&pool).unwrap().count(), 0, "not reused");
        for empty in [&staging.build_dir, &staging.home_dir] {
            assert_eq!(std::fs::read_dir(empty).unwrap().count(), 0);
        }
        store.drain_pool().unwrap();
        assert!(!pool.exists());
    }

    #[test]
    fn a_claim_is_not_an_artifact_and_a_stale_claim_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let a = id("dddddddddddddddddddddddddddddddd");
        let lock = store.lock(&a).unwrap();
        let staging = store.stage(&a, &lock).unwrap();
        std::fs::write(staging.artifact_dir.join("half"), "x").unwrap();
        assert_eq!(store.resolve(&a).unwrap(), None);
        drop(lock); // as if the process had been killed here
        let path = build(&store, &a, "whole");
        assert_eq!(path, staging.artifact_dir);
        assert!(path.join("whole").exists() && !path.join("half").exists());
        assert!(std::fs::symlink_metadata(&path).unwrap().is_dir());
    }
}
