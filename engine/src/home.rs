//! The store home: `$HIT_HOME` (default `~/.hit`) and its `config.yaml`.
//!
//! ```text
//! $HIT_HOME/
//!   config.yaml   where everything else lives, mirrors, build environment whitelist
//!   bld/          the artifact store            (config: store_dir)
//!     .locks/     its build, commit and gc locks (shared by every home using the store)
//!     .homes/     the homes using it, by their gc roots
//!   src/          the source cache              (config: source_dir)
//!   tmp/          build and staging dirs        (config: build_dir; same filesystem as bld/)
//!   gcroots/      links that keep artifacts     (config: gc_roots_dir)
//!   locks/        locks of the profile link records
//!   keys/         signing keys made by `hit key generate` (NAME.secret, NAME.public)
//!   durations.json              last build time per package (the scheduler's order)
//!   cache/plans-v2/<key>.json   evaluations of profiles, for the no-op path
//! ```
//!
//! Every path is a method of [`Home`]; the layout inside the store is
//! [`crate::store`]'s, inside the source cache [`crate::source::layout`]'s.
//!
//! The four configurable directories each carry hit's marker (`.hit-dir`), and a directory
//! that is not empty without one is refused: see [`crate::ownership`].
//!
//! Every command opens the home with [`Home::open`], which creates it on first use, so a
//! new user never has to run `hit init-home`.

use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The configuration file's name inside the home.
pub const CONFIG_FILE: &str = "config.yaml";

/// What `config.yaml` holds. Relative paths are relative to the home.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_store_dir")]
    pub store_dir: PathBuf,
    #[serde(default = "default_source_dir")]
    pub source_dir: PathBuf,
    #[serde(default = "default_build_dir")]
    pub build_dir: PathBuf,
    #[serde(default = "default_gc_roots_dir")]
    pub gc_roots_dir: PathBuf,
    /// Source mirrors, tried by hash before a source's own URL: `https://...`,
    /// `file:///...` or a plain path. A mirror is laid out like the source cache
    /// (`sha256/<hex>`); a flat directory of files named as in their URLs works too.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Host environment variables passed into builds unchanged.
    #[serde(default = "default_env_whitelist")]
    pub env_whitelist: Vec<String>,
    /// The most members one source archive may have (default 1,000,000).
    #[serde(default)]
    pub unpack_max_members: Option<usize>,
    /// The most bytes one source archive may unpack to (default 64 GiB).
    #[serde(default)]
    pub unpack_max_bytes: Option<u64>,
    /// Seconds a download may go without receiving data before it fails and the next
    /// mirror or URL is tried (default 60).
    #[serde(default)]
    pub download_idle_timeout: Option<u64>,
    /// When builds are written out to disk (see the store's "Durability").
    #[serde(default)]
    pub sync: SyncPolicy,
    /// The most bytes one download may have (default 32 GiB).
    #[serde(default)]
    pub download_max_bytes: Option<u64>,
    /// Seconds one build may run before it is stopped and fails (default: no limit).
    #[serde(default)]
    pub build_timeout: Option<u64>,
    /// Binary caches, tried in order for each artifact before it is built: `https://...`,
    /// `file:///...` or a directory (see [`crate::cache`]).
    #[serde(default)]
    pub caches: Vec<String>,
    /// Public keys (`NAME:BASE64`) whose signatures make a cache entry acceptable.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    /// The secret key `hit push` signs with (a `NAME.secret` file).
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// Whether build commands run in the sandbox (see [`crate::sandbox`]).
    #[serde(default)]
    pub sandbox: crate::sandbox::Mode,
    /// Host paths every sandboxed build sees, read-only, besides the host's toolchain
    /// directories (a site's software tree: `/opt/site`, `/cvmfs/...`).
    #[serde(default)]
    pub sandbox_paths: Vec<PathBuf>,
    /// Where builds run: here, or through Slurm (see [`crate::executor`]).
    #[serde(default)]
    pub executor: ExecutorKind,
    /// How jobs and steps are submitted to Slurm.
    #[serde(default)]
    pub slurm: crate::executor::slurm::SlurmConfig,
    /// What HashDist's `virtual:` imports of a spec resolve to when it is built here:
    /// `"virtual:unix": unix/<hash>`, an artifact of this store. The spec's id depends only
    /// on the name.
    #[serde(default)]
    pub virtuals: std::collections::BTreeMap<String, String>,
}

/// `executor:` in config.yaml, `--executor` on the command line.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// Threads of the `hit` process on this machine.
    #[default]
    Local,
    /// Slurm job steps inside an allocation, batch jobs outside one.
    Slurm,
}

/// When hit makes what it built durable against a power loss (`sync` in config.yaml).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SyncPolicy {
    /// Never: a scratch store (CI, tmpfs) that a crash may as well lose.
    None,
    /// The store's file system, once, before a profile link moves to a new profile.
    #[default]
    Link,
    /// Also each artifact as it is committed.
    Artifact,
}

fn default_store_dir() -> PathBuf {
    "bld".into()
}
fn default_source_dir() -> PathBuf {
    "src".into()
}
fn default_build_dir() -> PathBuf {
    "tmp".into()
}
fn default_gc_roots_dir() -> PathBuf {
    "gcroots".into()
}
fn default_env_whitelist() -> Vec<String> {
    vec!["PATH".into()]
}

impl Default for Config {
    fn default() -> Self {
        Self {
            store_dir: default_store_dir(),
            source_dir: default_source_dir(),
            build_dir: default_build_dir(),
            gc_roots_dir: default_gc_roots_dir(),
            mirrors: Vec::new(),
            env_whitelist: default_env_whitelist(),
            unpack_max_members: None,
            unpack_max_bytes: None,
            download_idle_timeout: None,
            sync: SyncPolicy::Link,
            download_max_bytes: None,
            build_timeout: None,
            caches: Vec::new(),
            trusted_keys: Vec::new(),
            signing_key: None,
            sandbox: crate::sandbox::Mode::Auto,
            sandbox_paths: Vec::new(),
            executor: ExecutorKind::Local,
            slurm: crate::executor::slurm::SlurmConfig::default(),
            virtuals: std::collections::BTreeMap::new(),
        }
    }
}

const DEFAULT_CONFIG: &str = "\
# hit configuration (https://github.com/hit-build/hit, docs/store.md).
# Relative paths are relative to this file's directory.

# Finished artifacts, read-only: <store_dir>/<name>/<short hash>/
store_dir: bld
# Downloaded sources, by hash.
source_dir: src
# Build and staging directories; must be on the same filesystem as store_dir.
build_dir: tmp
# Links to profiles that keep their artifacts alive through gc.
gc_roots_dir: gcroots

# Source mirrors, tried by hash before a source's own URL, e.g.
#   - https://mirror.example.org/hit-sources
#   - file:///srv/hit-sources
mirrors: []

# Host environment variables that builds see (the environment starts empty).
env_whitelist:
  - PATH

# Refuse source archives with more members, or more bytes of contents (archive bombs).
# unpack_max_members: 1000000
# unpack_max_bytes: 68719476736

# Seconds a download may go without data before hit tries the next mirror or URL.
# download_idle_timeout: 60
# The most bytes one download may have (32 GiB).
# download_max_bytes: 34359738368

# Seconds one build may run before hit stops it and it fails (no limit unless set).
# build_timeout: 86400

# When builds are written out to disk, against power loss: link (before a profile link
# moves to a new profile, once), artifact (also each artifact as it is committed; slower),
# or none (never; for scratch stores).
# sync: link

# Binary caches, tried in order before building (docs/caches.md), and the public keys
# whose signatures hit accepts from them; `hit key generate NAME` makes a key pair.
caches: []
trusted_keys: []
# The secret key `hit push` signs with.
# signing_key: keys/NAME.secret

# Build commands run in a sandbox (docs/sandbox.md): auto (where user namespaces work,
# else say why and build without), on (or fail), off. Host paths sandboxed builds may
# read besides /usr, /bin, /lib*, /etc, the store and the source cache:
# sandbox: auto
# sandbox_paths: [/opt/site]

# Where builds run (docs/clusters.md): local, or slurm (a job step per build inside an
# allocation, a batch job per build outside one; the store must be on a shared file system).
# executor: local
# slurm:
#   partition: compute
#   account: myproject
#   qos: normal
#   time: \"2:00:00\"
#   max_jobs: 64
#   sbatch_args: []
#   srun_args: []
";

/// A home that cannot be created or read.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot create the hit home {path}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error(transparent)]
    Ownership(#[from] crate::ownership::OwnershipError),
}

/// An opened store home with its configuration.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    config: Config,
}

/// What [`Home::init`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    Created,
    AlreadyThere,
}

impl Home {
    /// Creates the home (config and directories) unless it exists; then opens it.
    pub fn init(root: &Path) -> Result<(Self, InitOutcome), HomeError> {
        let config_path = root.join(CONFIG_FILE);
        let outcome = if config_path.exists() {
            InitOutcome::AlreadyThere
        } else {
            write_default_config(root)?;
            InitOutcome::Created
        };
        let home = Self::read(root)?;
        home.create_dirs()?;
        Ok((home, outcome))
    }

    /// Opens the home, creating it first if it does not exist.
    pub fn open(root: &Path) -> Result<Self, HomeError> {
        Self::init(root).map(|(home, _)| home)
    }

    fn read(root: &Path) -> Result<Self, HomeError> {
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| HomeError::Read {
            path: path.clone(),
            source,
        })?;
        let options = serde_saphyr::options! { strict_booleans: true };
        let config: Config = if text.trim().is_empty()
            || text
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            Config::default()
        } else {
            serde_saphyr::from_str_with_options(&text, options).map_err(|error| {
                HomeError::Config {
                    path: path.clone(),
                    message: yaml_message(&error, &text),
                }
            })?
        };
        for variable in &config.env_whitelist {
            if !crate::job::is_variable_name(variable) {
                return Err(HomeError::Config {
                    path,
                    message: format!("env_whitelist: {variable:?} is not a variable name"),
                });
            }
        }
        for cache in &config.caches {
            if let Err(error) = crate::cache::Cache::parse(cache) {
                return Err(HomeError::Config {
                    path,
                    message: format!("caches: {error}"),
                });
            }
        }
        for key in &config.trusted_keys {
            if let Err(error) = crate::cache::PublicKey::parse(key) {
                return Err(HomeError::Config {
                    path,
                    message: format!("trusted_keys: {error}"),
                });
            }
        }
        if config.build_timeout == Some(0) {
            return Err(HomeError::Config {
                path,
                message: "build_timeout: 0 would fail every build; give seconds (1 or more), \
                          or leave it out for no limit"
                    .into(),
            });
        }
        if config.download_idle_timeout == Some(0) {
            return Err(HomeError::Config {
                path,
                message:
                    "download_idle_timeout: 0 would fail every download; give seconds (1 or more)"
                        .into(),
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            config,
        })
    }

    /// Creates (or checks) the directories hit owns, each with its marker (see
    /// [`crate::ownership`]), and registers this home with its store.
    fn create_dirs(&self) -> Result<(), HomeError> {
        use crate::ownership::{DirRole, claim};
        claim(&self.store_dir(), DirRole::Store)?;
        claim(&self.source_dir(), DirRole::Sources)?;
        claim(&self.build_dir(), DirRole::Builds)?;
        claim(&self.gc_roots_dir(), DirRole::Roots)?;
        for dir in [self.locks_dir(), self.store_locks_dir()] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| HomeError::Create { path: dir, source })?;
        }
        self.register_with_store()
    }

    /// Records this home's gc roots in its store (`<store>/.homes/<digest>` -> the roots
    /// dir), so that gc in any home sharing the store marks from every home's profiles.
    fn register_with_store(&self) -> Result<(), HomeError> {
        let roots =
            std::path::absolute(self.gc_roots_dir()).map_err(|source| HomeError::Create {
                path: self.gc_roots_dir(),
                source,
            })?;
        let entry = self.store_homes_dir().join(registration_name(&roots));
        if std::fs::symlink_metadata(&entry).is_ok() {
            return Ok(());
        }
        let create = |source| HomeError::Create {
            path: entry.clone(),
            source,
        };
        std::fs::create_dir_all(self.store_homes_dir()).map_err(create)?;
        match std::os::unix::fs::symlink(&roots, &entry) {
            Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(create(error)),
            _ => Ok(()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        self.root.join(path)
    }

    pub fn store_dir(&self) -> PathBuf {
        self.resolve(&self.config.store_dir)
    }

    pub fn source_dir(&self) -> PathBuf {
        self.resolve(&self.config.source_dir)
    }

    pub fn build_dir(&self) -> PathBuf {
        self.resolve(&self.config.build_dir)
    }

    pub fn gc_roots_dir(&self) -> PathBuf {
        self.resolve(&self.config.gc_roots_dir)
    }

    /// This home's own locks (profile link records).
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// The store's locks (builds, commits, gc): in the store, so that every home sharing
    /// it shares them.
    pub fn store_locks_dir(&self) -> PathBuf {
        self.store_dir().join(crate::ownership::STORE_LOCKS)
    }

    /// Where the store records the homes that use it.
    pub fn store_homes_dir(&self) -> PathBuf {
        self.store_dir().join(crate::ownership::STORE_HOMES)
    }

    /// The last build time of each package (see [`crate::durations`]).
    /// The secret key `hit push` signs with (`signing_key`, relative to the home).
    pub fn signing_key(&self) -> Option<PathBuf> {
        self.config
            .signing_key
            .as_ref()
            .map(|path| self.resolve(path))
    }

    /// `sandbox_paths` of config.yaml (relative ones relative to the home).
    pub fn sandbox_paths(&self) -> Vec<PathBuf> {
        self.config
            .sandbox_paths
            .iter()
            .map(|path| self.resolve(path))
            .collect()
    }

    /// The empty directory each sandboxed command mounts its new root on (in a mount
    /// namespace of its own, so all of them share it).
    pub fn sandbox_root(&self) -> PathBuf {
        self.root.join("sandbox-root")
    }

    /// Where `hit key generate` puts new keys.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    pub fn durations_file(&self) -> PathBuf {
        self.root.join("durations.json")
    }

    /// The plan cache of the given format (`cache/plans-v<format>/`): a hit that writes
    /// another format uses another directory, so none reads an entry it cannot understand.
    pub fn plan_cache_dir(&self, format: u32) -> PathBuf {
        self.root.join("cache").join(format!("plans-v{format}"))
    }

    /// Where the source cache keeps what (see [`crate::source::layout`]).
    pub fn source_layout(&self) -> crate::source::SourceLayout {
        crate::source::SourceLayout::new(self.source_dir())
    }
}

/// A YAML error as one line, with the line of the file it is about: the parser's own text
/// starts with `error:` and repeats itself in a drawn snippet, which reads badly after
/// `error: <path>:`.
fn yaml_message(error: &serde_saphyr::Error, text: &str) -> String {
    let message = error.without_snippet().to_string();
    let message = message.lines().next().unwrap_or_default().trim();
    let message = message.strip_prefix("error:").unwrap_or(message).trim();
    let line = error
        .location()
        .and_then(|location| text.lines().nth(location.line().checked_sub(1)? as usize))
        .map(str::trim)
        .filter(|line| !line.is_empty());
    match line {
        Some(line) => format!("{message} (`{line}`)"),
        None => message.to_owned(),
    }
}

/// The name of a home's entry in its store's `.homes/`: a digest of its gc roots dir.
pub(crate) fn registration_name(roots: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(roots.as_os_str().as_encoded_bytes());
    crate::spec::canonical::base32_lower(&digest)[..16].to_owned()
}

/// Writes the default config atomically (temp file, then rename), so that two processes
/// creating the home at once both end up with a whole file.
fn write_default_config(root: &Path) -> Result<(), HomeError> {
    let create = |source| HomeError::Create {
        path: root.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(root).map_err(create)?;
    let mut temp = tempfile::NamedTempFile::new_in(root).map_err(create)?;
    temp.write_all(DEFAULT_CONFIG.as_bytes()).map_err(create)?;
    temp.as_file().sync_all().map_err(create)?;
    temp.persist(root.join(CONFIG_FILE))
        .map_err(|error| create(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_file_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let (home, outcome) = Home::init(dir.path()).unwrap();
        assert_eq!(outcome, InitOutcome::Created);
        assert_eq!(home.config(), &Config::default());
        assert!(home.store_dir().is_dir() && home.locks_dir().is_dir());
        assert_eq!(Home::init(dir.path()).unwrap().1, InitOutcome::AlreadyThere);
    }

    #[test]
    fn config_errors_name_the_file_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "store_dirr: x\n").unwrap();
        let error = Home::open(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("config.yaml") && error.contains("store_dirr"),
            "{error}"
        );
        // Said once, on one line, with where: not the parser's `error: ...` and its drawing.
        std::fs::write(dir.path().join(CONFIG_FILE), "sync: maybe\n").unwrap();
        let error = Home::open(dir.path()).unwrap_err().to_string();
        assert!(
            !error.contains("error:") && !error.contains('\n') && error.contains("line 1"),
            "{error}"
        );
        assert_eq!(error.matches("unknown variant").count(), 1, "{error}");
        assert!(error.ends_with("(`sync: maybe`)"), "{error}");
        std::fs::write(dir.path().join(CONFIG_FILE), "env_whitelist: [\"A B\"]\n").unwrap();
        let error = Home::open(dir.path()).unwrap_err().to_string();
        assert!(error.contains("not a variable name"), "{error}");
        std::fs::write(dir.path().join(CONFIG_FILE), "download_idle_timeout: 0\n").unwrap();
        let error = Home::open(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("config.yaml") && error.contains("download_idle_timeout: 0"),
            "{error}"
        );
    }

    #[test]
    fn sync_and_download_settings_parse() {
        let dir = tempfile::tempdir().unwrap();
        let text = "sync: artifact\ndownload_idle_timeout: 5\n";
        std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
        let config = Home::open(dir.path()).unwrap().config().clone();
        assert_eq!(config.sync, SyncPolicy::Artifact);
        assert_eq!(config.download_idle_timeout, Some(5));
    }
}
