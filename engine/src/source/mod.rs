//! The source cache: sources by content hash, fetched once, verified, unpacked safely.
//!
//! ```text
//! <source_dir>/
//!   sha256/<hex>        archives, named by the sha256 of their bytes (read-only)
//!   b32/<base32>        -> ../sha256/<hex>, for HashDist-style keys (`tar.gz:<base32>`)
//!   files/<base32>      `files:` packs
//!   git/<project>.git   bare repositories, one per project; <project>.lock guards fetches
//!   tmp/                downloads in progress
//! ```
//!
//! A download goes to `tmp/` while it is hashed, and is renamed into `sha256/` only when
//! its hash is the expected one, so the cache never holds a wrong or partial file; two
//! processes fetching the same source at once both end with the same whole file.
//!
//! Fetching a source tries, in order: the cache; each configured mirror, by hash
//! (`<mirror>/sha256/<hex>`, the cache's own layout, so any hit source cache is a mirror),
//! by the URL's file name (`<mirror>/<name>`), and, for a local directory, by content
//! (any file in it with that sha256, through an index kept in `src/mirror-index-v1/`);
//! then the source's URL. A miss or a wrong file on a mirror falls through to the next
//! place; only when all fail is it an error, listing every attempt.

pub(crate) mod download;
mod git;
pub mod layout;
mod mirror_index;
mod unpack;

pub use crate::spec::pack::{pack, pack_digest, read_pack};
pub use download::Progress;
pub use git::looks_like_git;
pub use layout::SourceLayout;
pub use unpack::{
    ArchiveFormat, Limits, UnpackError, detect_format, unpack_archive, unpack_artifact,
    unpack_files, unpack_tar,
};

use crate::errors::with_causes;
use crate::home::Home;
use crate::spec::canonical::{base32_lower, hex_lower};
use crate::spec::{SourceKey, SourceSpec, Strip};
use download::{Downloader, Location};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// A source that could not be fetched or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot fetch {key}:{}{}", Attempts(.attempts), if *.offline { OFFLINE_HINT } else { "" })]
    Unavailable {
        key: String,
        attempts: Vec<(String, String)>,
        /// Every host tried could not be reached at all (no network, most likely).
        offline: bool,
    },
    #[error("{url}: {problem}")]
    Location { url: String, problem: String },
    #[error("{key} is not in the source cache and no mirror has it")]
    NotCached { key: String },
    #[error("the files given for {key} hash to files:{actual}; use that key (or fix the files)")]
    FilesMismatch { key: String, actual: String },
    #[error("the source cache file for {key} is corrupt ({path}); delete it and fetch again")]
    Corrupt { key: String, path: PathBuf },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error("git: {0}")]
    Git(String),
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The last line of a fetch that reached no host.
const OFFLINE_HINT: &str = "\nno network? add a mirror: `mirrors:` in the hit home's config.yaml \
     (a directory or URL laid out like the source cache, or of tarballs by name; see \
     docs/store.md)";

/// Where a source came from, for the build log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// It was in the cache already.
    Cache,
    /// Packed from the files in the spec.
    Inline,
    /// Downloaded (or copied) from a mirror, at this location.
    Mirror(String),
    /// Downloaded from its own URL.
    Url(String),
    /// Fetched from a git repository.
    Git(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cache => f.write_str("the source cache"),
            Self::Inline => f.write_str("the files in the spec"),
            Self::Mirror(location) => write!(f, "mirror {location}"),
            Self::Url(url) | Self::Git(url) => f.write_str(url),
        }
    }
}

struct Attempts<'a>(&'a [(String, String)]);

impl fmt::Display for Attempts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f
                .write_str(" it is not cached, no mirror is configured and the source has no url");
        }
        for (location, problem) in self.0 {
            write!(f, "\n  - {location}: {problem}")?;
        }
        Ok(())
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The source cache of one store home.
#[derive(Debug)]
pub struct SourceCache {
    layout: SourceLayout,
    mirrors: Vec<String>,
    downloader: Downloader,
    limits: Limits,
    /// Local mirror directories indexed by content, each at most once.
    mirror_indexes: mirror_index::MirrorIndexes,
}

impl SourceCache {
    pub fn new(root: PathBuf, mirrors: Vec<String>) -> Self {
        Self {
            mirror_indexes: mirror_index::MirrorIndexes::new(root.join(mirror_index::INDEX_DIR)),
            layout: SourceLayout::new(root),
            mirrors,
            downloader: Downloader::default(),
            limits: Limits::default(),
        }
    }

    pub fn for_home(home: &Home) -> Self {
        let config = home.config();
        let defaults = Limits::default();
        let mut cache = Self::new(home.source_dir(), config.mirrors.clone()).with_limits(Limits {
            members: config.unpack_max_members.unwrap_or(defaults.members),
            bytes: config.unpack_max_bytes.unwrap_or(defaults.bytes),
        });
        let idle = config.download_idle_timeout.map_or(
            download::DEFAULT_IDLE_TIMEOUT,
            std::time::Duration::from_secs,
        );
        cache.downloader = Downloader::new(idle).with_max_bytes(
            config
                .download_max_bytes
                .unwrap_or(download::DEFAULT_MAX_BYTES),
        );
        cache
    }

    /// Tries `mirror` after the configured ones (before a source's URL).
    pub fn with_last_mirror(mut self, mirror: String) -> Self {
        self.mirrors.push(mirror);
        self
    }

    /// How much one archive may unpack to.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Where an archive or pack with this key lives in the cache (`None` for git keys).
    pub fn path_of(&self, key: &SourceKey) -> Option<PathBuf> {
        self.layout.path_of(key)
    }

    /// The cache's layout on disk.
    pub fn layout(&self) -> &SourceLayout {
        &self.layout
    }

    fn git_dir(&self) -> PathBuf {
        self.layout.git_dir()
    }

    /// Whether the cache holds this source.
    pub fn contains(&self, key: &SourceKey) -> bool {
        match key {
            SourceKey::Git(commit) => git::find_repo(&self.git_dir(), None, commit).is_some(),
            other => self.path_of(other).is_some_and(|path| path.exists()),
        }
    }

    /// Makes sure a build's source is in the cache (downloading or packing it); says where
    /// it came from.
    pub fn prepare(&self, source: &SourceSpec) -> Result<Origin, SourceError> {
        match (&source.key, &source.files) {
            (SourceKey::Files(digest), Some(files)) => {
                let bytes = pack(files);
                let actual = pack_digest(&bytes);
                if &actual != digest {
                    return Err(SourceError::FilesMismatch {
                        key: source.key.to_string(),
                        actual,
                    });
                }
                let path = self.path_of(&source.key).expect("files keys have a path");
                if path.exists() {
                    return Ok(Origin::Cache);
                }
                self.store_bytes(&path, &bytes)?;
                Ok(Origin::Inline)
            }
            (key, _) => self.fetch(key, source.url.as_deref()),
        }
    }

    fn store_bytes(&self, path: &Path, bytes: &[u8]) -> Result<(), SourceError> {
        let tmp = self.layout.downloads_dir();
        std::fs::create_dir_all(&tmp).map_err(io_error(&tmp))?;
        let parent = path.parent().expect("cache paths have a parent");
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        let mut file = tempfile::NamedTempFile::new_in(&tmp).map_err(io_error(&tmp))?;
        std::io::Write::write_all(&mut file, bytes).map_err(io_error(&tmp))?;
        file.persist(path).map_err(|error| SourceError::Io {
            path: path.to_path_buf(),
            source: error.error,
        })?;
        Ok(())
    }

    /// Makes sure `key` is in the cache, trying mirrors and then `url` (see the module doc).
    pub fn fetch(&self, key: &SourceKey, url: Option<&str>) -> Result<Origin, SourceError> {
        if self.contains(key) {
            return Ok(Origin::Cache);
        }
        match key {
            SourceKey::Git(commit) => {
                let url = url.ok_or_else(|| SourceError::NotCached {
                    key: key.to_string(),
                })?;
                git::fetch_commit(&self.git_dir(), url, commit)?;
                Ok(Origin::Git(url.to_owned()))
            }
            SourceKey::Files(_) => Err(SourceError::NotCached {
                key: key.to_string(),
            }),
            archive => self.fetch_archive(archive, url),
        }
    }

    fn fetch_archive(&self, key: &SourceKey, url: Option<&str>) -> Result<Origin, SourceError> {
        let mut attempts = Vec::new();
        // Hosts tried over the network, and how many of them could not be reached at all.
        let (mut remote, mut unreachable) = (0, 0);
        let mut failed = |location: String, failure: download::Failure, remote_host: bool| {
            if remote_host {
                remote += 1;
                unreachable += usize::from(failure.unreachable);
            }
            attempts.push((location, failure.reason));
        };
        let file_name = url
            .and_then(|url| url.rsplit('/').next())
            .filter(|name| !name.is_empty());
        for mirror in &self.mirrors {
            let base = match Location::parse(mirror) {
                Ok(base) => base,
                Err(problem) => {
                    failed(format!("mirror {mirror}"), problem.into(), false);
                    continue;
                }
            };
            let by_hash = match key {
                SourceKey::Sha256(hex) => base.join(&format!("sha256/{hex}")),
                SourceKey::Archive { digest, .. } => base.join(&format!("b32/{digest}")),
                _ => unreachable!("only archive keys get here"),
            };
            let mut candidates = vec![by_hash];
            candidates.extend(file_name.map(|name| base.join(name)));
            // A local directory: any file with these bytes, whatever its name.
            if let (Location::File(dir), SourceKey::Sha256(hex)) = (&base, key)
                && let Some(found) = self.mirror_indexes.find(dir, hex)
            {
                candidates.push(Location::File(found));
            }
            for location in candidates {
                match self.download_verified(key, &location) {
                    Ok(()) => return Ok(Origin::Mirror(location.to_string())),
                    Err(failure) => {
                        let remote_host = matches!(location, Location::Http(_));
                        failed(format!("mirror {location}"), failure, remote_host);
                    }
                }
            }
        }
        if let Some(url) = url {
            match Location::parse(url) {
                Ok(location) => match self.download_verified(key, &location) {
                    Ok(()) => return Ok(Origin::Url(url.to_owned())),
                    Err(failure) => {
                        let remote_host = matches!(location, Location::Http(_));
                        failed(url.to_owned(), failure, remote_host);
                    }
                },
                Err(problem) => failed(url.to_owned(), problem.into(), false),
            }
        }
        Err(SourceError::Unavailable {
            key: key.to_string(),
            attempts,
            offline: remote > 0 && unreachable == remote,
        })
    }

    /// Downloads from `location` and files it under `key` if the bytes match.
    fn download_verified(
        &self,
        key: &SourceKey,
        location: &Location,
    ) -> Result<(), download::Failure> {
        let download = self.download(location)?;
        let actual = SourceKey::Sha256(hex_lower(&download.sha256));
        if !digest_matches(key, &download.sha256) {
            return Err(
                format!("the bytes there have {actual}, not {key}; nothing was stored").into(),
            );
        }
        self.commit_download(download)
            .map(drop)
            .map_err(|error| with_causes(&error).into())
    }

    fn download(&self, location: &Location) -> Result<download::Download, download::Failure> {
        let tmp = self.layout.downloads_dir();
        std::fs::create_dir_all(&tmp).map_err(|error| format!("{}: {error}", tmp.display()))?;
        tracing::info!("downloading {location}");
        self.downloader.download(location, &tmp)
    }

    /// Files a verified download as `sha256/<hex>` (read-only) plus its `b32/` alias.
    fn commit_download(&self, download: download::Download) -> Result<SourceKey, SourceError> {
        let hex = hex_lower(&download.sha256);
        let dir = self.layout.sha256_dir();
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let path = dir.join(&hex);
        use std::os::unix::fs::PermissionsExt;
        let read_only = std::fs::Permissions::from_mode(0o444);
        std::fs::set_permissions(download.file.path(), read_only).map_err(io_error(&path))?;
        download
            .file
            .persist(&path)
            .map_err(|error| SourceError::Io {
                path: path.clone(),
                source: error.error,
            })?;
        let alias_dir = self.layout.alias_dir();
        std::fs::create_dir_all(&alias_dir).map_err(io_error(&alias_dir))?;
        let alias = self.layout.alias_of(&download.sha256);
        match std::os::unix::fs::symlink(format!("../sha256/{hex}"), &alias) {
            Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(SourceError::Io {
                    path: alias,
                    source: error,
                });
            }
            _ => {}
        }
        Ok(SourceKey::Sha256(hex))
    }

    /// `hit fetch URL [KEY]`: fetches `url` and returns its key. With a key, the bytes
    /// must match it (mirrors are tried first, as for builds). A git URL without a key
    /// fetches the remote's `HEAD`.
    /// Fetches `rev` (a branch, a tag, `HEAD`) of the git repository at `url` into the
    /// cache and returns the key of the commit it names now (`git:<commit>`), which a
    /// recipe then pins.
    pub fn fetch_git_rev(&self, url: &str, rev: &str) -> Result<SourceKey, SourceError> {
        git::fetch_rev(&self.git_dir(), url, rev).map(SourceKey::Git)
    }

    /// The tree of git commit `commit` of `url`, unpacked once into
    /// `checkouts-v1/<commit>/` (fetched first if the cache lacks it) and then only read:
    /// a profile's `extends` of a profile kept in git. Unpacked into a temporary directory
    /// and renamed into place, so a checkout is whole or absent.
    pub fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, SourceError> {
        let key: SourceKey = format!("git:{commit}")
            .parse()
            .map_err(|error| SourceError::Git(format!("{commit:?}: {error}")))?;
        let target = self.layout.checkout_dir(commit);
        if target.is_dir() {
            return Ok(target);
        }
        self.fetch(&key, Some(url))?;
        let parent = target.parent().expect("checkout dirs have a parent");
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".unpacking-")
            .tempdir_in(parent)
            .map_err(io_error(parent))?;
        let repo = git::find_repo(&self.git_dir(), Some(url), commit).ok_or_else(|| {
            SourceError::NotCached {
                key: key.to_string(),
            }
        })?;
        git::unpack_commit(
            &repo,
            commit,
            staging.path(),
            Strip::Components(0),
            self.limits,
        )?;
        match std::fs::rename(staging.path(), &target) {
            Ok(()) => {
                // Renamed away: nothing left for the guard to remove.
                let _ = staging.keep();
                Ok(target)
            }
            // Another process unpacked it first: theirs is the same tree.
            Err(_) if target.is_dir() => Ok(target),
            Err(error) => Err(SourceError::Io {
                path: target,
                source: error,
            }),
        }
    }

    pub fn fetch_url(&self, url: &str, key: Option<&SourceKey>) -> Result<SourceKey, SourceError> {
        match key {
            Some(key) => self.fetch(key, Some(url)).map(|_| key.clone()),
            None if looks_like_git(url) => self.fetch_git_rev(url, "HEAD"),
            None => {
                let location = Location::parse(url).map_err(|problem| SourceError::Location {
                    url: url.to_owned(),
                    problem,
                })?;
                let download =
                    self.download(&location)
                        .map_err(|failure| SourceError::Location {
                            url: url.to_owned(),
                            problem: failure.reason,
                        })?;
                self.commit_download(download)
            }
        }
    }

    /// Unpacks a cached source into `target` (fetching it from a mirror if missing).
    pub fn unpack(
        &self,
        key: &SourceKey,
        url: Option<&str>,
        target: &Path,
        strip: Strip,
    ) -> Result<(), SourceError> {
        if !self.contains(key) {
            self.fetch(key, url)?;
        }
        match key {
            SourceKey::Git(commit) => {
                let repo = git::find_repo(&self.git_dir(), url, commit).ok_or_else(|| {
                    SourceError::NotCached {
                        key: key.to_string(),
                    }
                })?;
                git::unpack_commit(&repo, commit, target, strip, self.limits)
            }
            SourceKey::Files(digest) => {
                let path = self.path_of(key).expect("files keys have a path");
                let bytes = std::fs::read(&path).map_err(io_error(&path))?;
                let files = read_pack(&bytes)
                    .filter(|_| &pack_digest(&bytes) == digest)
                    .ok_or_else(|| SourceError::Corrupt {
                        key: key.to_string(),
                        path: path.clone(),
                    })?;
                unpack_files(&files, target).map_err(SourceError::Unpack)
            }
            archive => {
                let path = self.path_of(archive).expect("archive keys have a path");
                // Re-check the hash: the cache is only as good as its files (HashDist did too).
                // A corrupt file (a disk error, a hand) is thrown away and fetched again.
                if !digest_matches(archive, &hash_file(&path)?) {
                    tracing::warn!(
                        "the cached file of {key} ({}) is corrupt; fetching it again",
                        path.display()
                    );
                    self.evict(&path)?;
                    self.fetch(key, url)?;
                    if !digest_matches(archive, &hash_file(&path)?) {
                        return Err(SourceError::Corrupt {
                            key: key.to_string(),
                            path,
                        });
                    }
                }
                unpack_archive(&path, target, strip, self.limits).map_err(SourceError::Unpack)
            }
        }
    }
}

/// A file of the source cache whose contents do not match its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptSource {
    pub path: PathBuf,
    /// What its contents hash to, as a key.
    pub actual: String,
}

impl SourceCache {
    /// Checks every archive and pack in the cache against the hash in its name, on all
    /// cores (`hit verify --sources`).
    pub fn check(&self) -> Result<Vec<CorruptSource>, SourceError> {
        let mut files = Vec::new();
        for kind in layout::HASHED_DIRS {
            let dir = self.layout.root().join(kind);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(io_error(&dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if crate::ownership::is_source_entry(kind, &name) {
                    files.push((kind, name, entry.path()));
                }
            }
        }
        files.sort();
        let checked: Vec<Result<_, SourceError>> = files
            .par_iter()
            .map(|(kind, name, path)| {
                let actual = match *kind {
                    "sha256" => SourceKey::Sha256(hex_lower(&hash_file(path)?)),
                    _ => {
                        let bytes = std::fs::read(path).map_err(io_error(path))?;
                        SourceKey::Files(pack_digest(&bytes))
                    }
                };
                let expected = format!("{kind}:{name}");
                Ok((actual.to_string() != expected).then(|| CorruptSource {
                    path: path.clone(),
                    actual: actual.to_string(),
                }))
            })
            .collect();
        checked.into_iter().filter_map(Result::transpose).collect()
    }

    /// Removes a file from the cache (what a `b32/` link points at, and the link).
    pub fn evict(&self, path: &Path) -> Result<(), SourceError> {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        for file in [&real, path] {
            match std::fs::remove_file(file) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error(file)(error));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn digest_matches(key: &SourceKey, sha256: &[u8; 32]) -> bool {
    match key {
        SourceKey::Sha256(hex) => *hex == hex_lower(sha256),
        SourceKey::Archive { digest, .. } => *digest == base32_lower(&sha256[..20]),
        _ => false,
    }
}

fn hash_file(path: &Path) -> Result<[u8; 32], SourceError> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        match std::io::Read::read(&mut file, &mut buffer).map_err(io_error(path))? {
            0 => return Ok(hasher.finalize().into()),
            n => hasher.update(&buffer[..n]),
        }
    }
}
