//! Binary caches: artifacts shared between stores as signed static files.
//!
//! ```text
//! <cache>/                          a directory, or the same tree behind an http(s) URL
//!   hit-cache.json                  {"format": 1}: marks a hit cache
//!   <name>/<hash>.json              the entry of artifact <name>/<hash>, signed
//!   <name>/<hash>-<sha16>.tar.zst   its archive (named in the entry; <sha16> = the first
//!                                   16 hex digits of the archive's sha256)
//! ```
//!
//! Any web server, object store or shared file system can serve a cache: there is no
//! server side, and a lookup is one GET of a small file. [`entry`] says what an entry
//! holds and what its signatures cover; [`key`] how keys are written.
//!
//! ## Push ([`push`])
//!
//! Plan, then apply: the plan is the closure of what was asked for, minus what the cache
//! has; applying archives each artifact (tar of the committed tree, `.hit/` included,
//! owners zeroed, one fixed time, zstd level 3), one artifact per core, and writes its
//! archive, then its entry, each to a temporary name renamed into place. An entry therefore never
//! names an archive that is not there, and two pushes of one id never mix their files (the
//! archive's name holds its hash). An artifact that is not relocatable (it names its
//! store inside a binary) is pushed only with `force`, and then can be installed only in a
//! store at the same path. Push writes to directories only; serve one over HTTP with any
//! web server.
//!
//! ## Install ([`Substituter`]; `hit pull` is [`pull`])
//!
//! Installing is a build whose commands are "download and check". Under the id's lock,
//! with a claimed path as a build has (see [`crate::store`]):
//!
//! 1. the entry is fetched: its id must be the one asked for, a trusted key's signature
//!    must hold, every dependency must be in this store at the path its id gives, and the
//!    artifact must be relocatable unless this store is at the path it was built in;
//! 2. the archive is downloaded into the build's work dir, and its size and sha256 must be
//!    the entry's, before a byte of it is unpacked;
//! 3. it is unpacked into the stage by the safe unpacker (no member outside the stage, no
//!    write through a symlink; [`crate::source::unpack_artifact`]);
//! 4. the tree's content hash must be the entry's, and `.hit/artifact.json` must be about
//!    the same id;
//! 5. the relocation record moves the text files and links to this store
//!    ([`crate::store::relocate::apply`]);
//! 6. the stage is committed like a build: relocation checked again, manifest taken (the
//!    moved text files make its hash this store's own), read-only, renamed into place.
//!
//! Any refusal discards the stage and its work dir: nothing of it stays in the store, and
//! a `kill -9` at any step leaves what a killed build leaves (a claim and a work dir that
//! the next attempt or `hit verify --repair` clears).
//!
//! Relative paths between artifacts (`$ORIGIN/../../../zlib/abc...`, a profile's links)
//! assume each artifact at `<name>/<first 12 characters of its hash>`, which is where every
//! store puts it unless two ids share those 12 characters. Where that is not so (in either
//! store), the install is refused and the package is built instead.

pub mod entry;
mod install;
pub mod key;
pub mod pull;
pub mod push;

pub use entry::{ArchiveInfo, CacheEntry, ENTRY_FORMAT, EntrySignature, SignatureProblem};
pub use key::{KeyError, PublicKey, SecretKey};

use crate::home::Home;
use crate::source::download::{Downloader, Failure, Location};
use crate::source::{Limits, Progress, UnpackError};
use crate::spec::ArtifactId;
use crate::store::{FileLock, Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file that marks a directory (or URL) as a hit cache.
pub const MARKER_FILE: &str = "hit-cache.json";
/// The cache layout's format, in the marker.
pub const CACHE_FORMAT: u32 = 1;
/// The largest entry hit reads (entries are a few KB; a relocation record of a large
/// package some hundred).
const MAX_ENTRY_BYTES: u64 = 16 << 20;

/// Where a cache is: a directory or an http(s) base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    location: Location,
}

impl Cache {
    /// `https://...`, `http://...`, `file:///...` or a path.
    pub fn parse(text: &str) -> Result<Self, CacheError> {
        let location = Location::parse(text).map_err(|reason| CacheError::BadLocation {
            cache: text.to_owned(),
            reason,
        })?;
        Ok(Self { location })
    }

    /// The directory, for a cache on a file system.
    pub fn dir(&self) -> Option<&Path> {
        match &self.location {
            Location::File(path) => Some(path),
            Location::Http(_) => None,
        }
    }

    fn entry_location(&self, id: &ArtifactId) -> Location {
        self.location
            .join(&format!("{}/{}.json", id.name(), id.hash()))
    }

    fn archive_location(&self, id: &ArtifactId, file: &str) -> Location {
        self.location.join(&format!("{}/{file}", id.name()))
    }
}

impl std::fmt::Display for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.location.fmt(f)
    }
}

/// Why an artifact from a cache was not installed. Nothing of it was committed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the entry is for {found}, not for the artifact asked for")]
    WrongId { found: ArtifactId },
    #[error("{0}")]
    Signature(SignatureProblem),
    #[error(
        "the archive has {found_size} bytes with sha256 {found}; the signed entry says {size} bytes with sha256 {expected} (truncated or replaced)"
    )]
    ArchiveMismatch {
        expected: String,
        size: u64,
        found: String,
        found_size: u64,
    },
    #[error("the unpacked files hash to {found}; the signed entry says {expected}")]
    ContentMismatch { expected: String, found: String },
    #[error("the archive cannot be unpacked: {0}")]
    Unpack(#[source] UnpackError),
    #[error("the archive has no readable .hit/{file}: {message}")]
    Metadata { file: &'static str, message: String },
    #[error(
        "it was built in {built_in} and is not relocatable ({}): it can only be installed in a store at that path; build it instead",
        files.join(", ")
    )]
    NotRelocatable {
        built_in: String,
        files: Vec<String>,
    },
    #[error("its relocation record does not fit the files: {0}")]
    Relocation(#[source] crate::store::relocate::ApplyError),
    #[error("dependency {dependency} is not in this store; install or build it first")]
    MissingDependency { dependency: ArtifactId },
    #[error(
        "{path} is not where every store puts {id} (another id shares the first 12 characters of its hash): relative paths between artifacts would break; build it instead"
    )]
    Layout { id: ArtifactId, path: PathBuf },
    #[error("the entry's archive name {0:?} is not a plain file name")]
    ArchiveName(String),
}

/// A cache operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{cache}: not a cache location: {reason}")]
    BadLocation { cache: String, reason: String },
    #[error("{cache}: cannot be reached: {reason}")]
    Unreachable { cache: String, reason: String },
    #[error("{cache}: not a hit binary cache (no {MARKER_FILE}); `hit push` makes one")]
    NotACache { cache: String },
    #[error("{cache}: {what}: {reason}")]
    Read {
        cache: String,
        what: String,
        reason: String,
    },
    #[error("{cache}: {MARKER_FILE} says format {found}; this hit reads format {CACHE_FORMAT}")]
    Format { cache: String, found: String },
    #[error("{cache}: the entry of {id} is not valid: {message}")]
    BadEntry {
        cache: String,
        id: ArtifactId,
        message: String,
    },
    #[error("{cache}: refused {id}: {refusal}")]
    Refused {
        cache: String,
        id: ArtifactId,
        #[source]
        refusal: Box<Refusal>,
    },
    #[error("{id} is in no cache ({caches})")]
    NotCached { id: ArtifactId, caches: String },
    #[error(
        "{cache}: hit pushes to directories only (a shared file system); serve the directory over HTTP with any web server"
    )]
    PushToUrl { cache: String },
    #[error("{id} is not in this store")]
    NotInStore { id: ArtifactId },
    #[error(
        "{id} has no content manifest (committed by an older hit): remove it (`hit purge`) and build it again to push it"
    )]
    NoManifest { id: ArtifactId },
    #[error(
        "{id} is not relocatable: {} name the store in binary data, so it could only be installed in a store at {store}; push it anyway with --force",
        files.join(", ")
    )]
    NotRelocatable {
        id: ArtifactId,
        store: String,
        files: Vec<String>,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_error<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// An artifact installed from a cache.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    /// The cache it came from (as configured).
    pub cache: String,
    /// Bytes downloaded.
    pub bytes: u64,
}

/// What looking for an artifact in the caches came to: installed from one of them or not,
/// and what went wrong on the way (a cache that could not be reached, an entry refused),
/// each worth a warning even when a later cache had it.
#[derive(Debug, Default)]
pub struct Substitution {
    pub fetched: Option<Fetched>,
    pub problems: Vec<CacheError>,
}

/// The caches of a home (`caches:` in config.yaml, tried in order) with the keys it trusts
/// (`trusted_keys:`): installs artifacts from them instead of building.
#[derive(Debug)]
pub struct Substituter {
    caches: Vec<(Cache, OnceLock<Result<(), String>>)>,
    trusted: Vec<PublicKey>,
    downloader: Downloader,
    limits: Limits,
}

impl Substituter {
    pub fn new(caches: Vec<Cache>, trusted: Vec<PublicKey>) -> Self {
        Self {
            caches: caches.into_iter().map(|c| (c, OnceLock::new())).collect(),
            trusted,
            downloader: Downloader::default(),
            limits: Limits::default(),
        }
    }

    /// The caches and keys of `home`'s config.yaml (checked when the config was read).
    pub fn for_home(home: &Home) -> Result<Self, CacheError> {
        let config = home.config();
        let caches = config
            .caches
            .iter()
            .map(|text| Cache::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        let trusted = config
            .trusted_keys
            .iter()
            .map(|text| PublicKey::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut substituter = Self::new(caches, trusted);
        let defaults = Limits::default();
        substituter.limits = Limits {
            members: config.unpack_max_members.unwrap_or(defaults.members),
            bytes: config.unpack_max_bytes.unwrap_or(defaults.bytes),
        };
        let idle = config.download_idle_timeout.map_or(
            crate::source::download::DEFAULT_IDLE_TIMEOUT,
            std::time::Duration::from_secs,
        );
        substituter.downloader = Downloader::new(idle).with_max_bytes(
            config
                .download_max_bytes
                .unwrap_or(crate::source::download::DEFAULT_MAX_BYTES),
        );
        Ok(substituter)
    }

    /// The same keys and limits, with `caches` instead.
    pub fn with_caches(mut self, caches: Vec<Cache>) -> Self {
        self.caches = caches.into_iter().map(|c| (c, OnceLock::new())).collect();
        self
    }

    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    /// The configured caches, as written.
    pub fn caches(&self) -> String {
        self.caches
            .iter()
            .map(|(cache, _)| cache.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks the cache's marker once per process; a cache that fails it is skipped from
    /// then on (its error is returned the first time only).
    fn usable(&self, index: usize) -> Result<bool, CacheError> {
        let (cache, state) = &self.caches[index];
        let mut first = None;
        let state = state.get_or_init(|| {
            let checked = self.check_marker(cache);
            let summary = checked.as_ref().map_err(ToString::to_string).map(|_| ());
            first = checked.err();
            summary
        });
        match first {
            Some(error) => Err(error),
            None => Ok(state.is_ok()),
        }
    }

    fn check_marker(&self, cache: &Cache) -> Result<(), CacheError> {
        let shown = cache.to_string();
        let marker = self
            .downloader
            .read_small(&cache.location.join(MARKER_FILE), MAX_ENTRY_BYTES)
            .map_err(|failure| read_failure(&shown, MARKER_FILE, failure))?
            .ok_or(CacheError::NotACache {
                cache: shown.clone(),
            })?;
        let format = serde_json::from_slice::<serde_json::Value>(&marker)
            .ok()
            .and_then(|value| value.get("format").cloned());
        match format {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(CACHE_FORMAT)) => {
                Ok(())
            }
            other => Err(CacheError::Format {
                cache: shown,
                found: other.map_or("nothing".into(), |v| v.to_string()),
            }),
        }
    }

    /// The first cache that has an entry for `id`, with the entry (not yet checked beyond
    /// parsing), and the problems met on the way.
    pub fn lookup(&self, id: &ArtifactId) -> (Option<(&Cache, CacheEntry)>, Vec<CacheError>) {
        let mut problems = Vec::new();
        for index in 0..self.caches.len() {
            match self.usable(index) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    problems.push(error);
                    continue;
                }
            }
            let cache = &self.caches[index].0;
            match self.read_entry(cache, id) {
                Ok(Some(entry)) => return (Some((cache, entry)), problems),
                Ok(None) => {}
                Err(error) => problems.push(error),
            }
        }
        (None, problems)
    }

    fn read_entry(&self, cache: &Cache, id: &ArtifactId) -> Result<Option<CacheEntry>, CacheError> {
        let shown = cache.to_string();
        let bytes = self
            .downloader
            .read_small(&cache.entry_location(id), MAX_ENTRY_BYTES)
            .map_err(|failure| read_failure(&shown, &format!("the entry of {id}"), failure))?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let entry: CacheEntry =
            serde_json::from_slice(&bytes).map_err(|error| CacheError::BadEntry {
                cache: shown.clone(),
                id: id.clone(),
                message: error.to_string(),
            })?;
        if &entry.id != id {
            return Err(CacheError::Refused {
                cache: shown,
                id: id.clone(),
                refusal: Box::new(Refusal::WrongId { found: entry.id }),
            });
        }
        if entry.format != ENTRY_FORMAT {
            return Err(CacheError::BadEntry {
                cache: shown,
                id: id.clone(),
                message: format!(
                    "format {}, and this hit reads format {ENTRY_FORMAT}",
                    entry.format
                ),
            });
        }
        Ok(Some(entry))
    }

    /// Installs `id` from the first cache that has it (see the module doc). The caller
    /// holds the id's lock and has checked that the store lacks it.
    pub fn substitute(
        &self,
        store: &Store,
        id: &ArtifactId,
        lock: &FileLock,
        progress: &mut dyn FnMut(Progress),
    ) -> Substitution {
        let (found, mut problems) = self.lookup(id);
        let fetched = found.and_then(|(cache, entry)| {
            match self.install(store, cache, id, &entry, lock, progress) {
                Ok(fetched) => Some(fetched),
                Err(error) => {
                    problems.push(error);
                    None
                }
            }
        });
        Substitution { fetched, problems }
    }

    /// Installs `entry` (found in `cache` for `id`): checks, download, unpack, commit.
    pub fn install(
        &self,
        store: &Store,
        cache: &Cache,
        id: &ArtifactId,
        entry: &CacheEntry,
        lock: &FileLock,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Fetched, CacheError> {
        let refused = |refusal| CacheError::Refused {
            cache: cache.to_string(),
            id: id.clone(),
            refusal: Box::new(refusal),
        };
        if &entry.id != id {
            return Err(refused(Refusal::WrongId {
                found: entry.id.clone(),
            }));
        }
        entry
            .check_signatures(&self.trusted)
            .map_err(|problem| refused(Refusal::Signature(problem)))?;
        let path = install::install(
            store,
            install::Source {
                cache,
                entry,
                downloader: &self.downloader,
                limits: self.limits,
            },
            lock,
            progress,
        )?;
        Ok(Fetched {
            path,
            cache: cache.to_string(),
            bytes: entry.archive.size,
        })
    }
}

fn read_failure(cache: &str, what: &str, failure: Failure) -> CacheError {
    if failure.unreachable {
        CacheError::Unreachable {
            cache: cache.to_owned(),
            reason: failure.reason,
        }
    } else {
        CacheError::Read {
            cache: cache.to_owned(),
            what: what.to_owned(),
            reason: failure.reason,
        }
    }
}
