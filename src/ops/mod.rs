//! The use cases of hit, one module each; cargo's `ops` is the model.
//!
//! | module | commands |
//! |--------|----------|
//! | [`build`] | `hit build` of a profile (plan, schedule, assemble, link) or of one build.json |
//! | [`check`] | `hit build --check`: rebuild and compare with the store |
//! | [`cache`] | `hit key generate`, `hit push`, `hit pull` |
//! | [`inspect`] | `hit status`, `hit show`, `hit hash`, `hit resolve`, `hit bdir` |
//! | [`sources`] | `hit fetch`, `hit unpack` |
//! | [`gc`] | `hit gc`, `hit purge` |
//! | [`verify`] | `hit verify` |
//! | [`links`] | `hit generations`, `hit rollback`, `hit cp`, `hit mv`, `hit rm` |
//! | [`env`](mod@env) | `hit env`, `hit shell` |
//! | [`modules`] | `hit modules` |
//! | [`develop`] | `hit develop` |
//! | [`catalog`] | `hit list`, `hit info` |
//! | [`why`] | `hit why`, `hit diff` |
//! | [`graph`](mod@graph) | `hit graph` |
//! | [`lock`] | `hit lock`, `hit build --locked`, `hit fetch --lock` |
//! | [`contents`] | what a built profile holds, read from the store (for env, modules, develop) |
//!
//! What every use case shares lives here: how a profile is planned ([`ProfileRequest`],
//! [`load_plan`]), how `KEY=VALUE` words become typed parameters (they change ids), where
//! hit's own package dir and source mirror are, and the [`Error`] type.

pub mod build;
pub mod cache;
pub mod catalog;
pub mod check;
pub mod contents;
pub mod develop;
pub mod env;
pub mod gc;
pub mod graph;
pub mod inspect;
pub mod links;
pub mod lock;
pub mod modules;
pub mod sources;
pub mod verify;
pub mod why;

use crate::loader::FsLoader;
use hit_engine::home::Home;
use hit_engine::source::SourceCache;
use hit_engine::spec::BuildSpec;
use hit_lang::{Evaluator, Plan, PlanOptions, PlannedPackage};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a use case could not do its work.
///
/// [`Error::exit_code`] sorts them: bad input (a usage mistake, a recipe, profile or spec
/// that does not evaluate or parse, an id or key that does not parse) is 2; anything else
/// (the store, the network, the disk) is 1, as is a build or check that ran and failed
/// (which is an outcome, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the user asked for makes no sense (a bad parameter, an unknown package...).
    #[error("{0}")]
    Input(String),
    /// The profile file is not there (the CLI adds how to name one for the command).
    #[error("no profile {} here", .0.display())]
    NoProfile(PathBuf),
    /// What the user asked for cannot be done now (an artifact in use, a non-empty dir).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Lang(#[from] hit_lang::LangError),
    #[error(transparent)]
    Spec(#[from] hit_engine::spec::SpecError),
    #[error(transparent)]
    Id(#[from] hit_engine::spec::IdError),
    #[error(transparent)]
    Key(#[from] hit_engine::spec::KeyError),
    #[error(transparent)]
    Home(#[from] hit_engine::home::HomeError),
    #[error(transparent)]
    Store(#[from] hit_engine::store::StoreError),
    #[error(transparent)]
    Source(#[from] hit_engine::source::SourceError),
    #[error(transparent)]
    Build(#[from] hit_engine::build::BuildError),
    #[error(transparent)]
    Profile(#[from] hit_engine::profile::ProfileError),
    #[error(transparent)]
    Link(#[from] hit_engine::profile::links::LinkError),
    #[error(transparent)]
    Gc(#[from] hit_engine::gc::GcError),
    #[error(transparent)]
    Verify(#[from] hit_engine::verify::VerifyError),
    #[error(transparent)]
    Cache(#[from] hit_engine::cache::CacheError),
    /// `hit build --locked`: the profile evaluates to other ids than its lockfile's.
    #[error(
        "the profile does not evaluate to its lockfile any more:\n{}\n(`hit lock` records \
         the new state; `hit why PKG` follows a change to its cause)",
        .0.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
    )]
    Unlocked(Vec<lock::LockDifference>),
    /// A file the user named cannot be read.
    #[error("cannot read {}", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_)
            | Self::NoProfile(_)
            | Self::Unreadable { .. }
            | Self::Lang(_)
            | Self::Spec(_)
            | Self::Id(_)
            | Self::Key(_) => 2,
            _ => 1,
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The profile `hit build` and `hit status` use when given none.
pub const DEFAULT_PROFILE: &str = "default.rhai";

/// A profile and the `KEY=VALUE` words given with it.
#[derive(Debug, Clone)]
pub struct ProfileRequest {
    pub file: PathBuf,
    pub params: Vec<String>,
}

/// The source cache of `home`, with hit's own small mirror (`packages/sources/`: the sources
/// of the README's first profile, whose zlib has no URL) tried after the configured ones.
pub fn source_cache(home: &Home) -> SourceCache {
    let cache = SourceCache::for_home(home);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages/sources");
    if shipped.is_dir() {
        cache.with_last_mirror(shipped.display().to_string())
    } else {
        cache
    }
}

/// The package directory shipped with hit's sources, searched after a profile's own.
pub fn default_package_dirs() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages");
    if repo.is_dir() {
        vec![repo]
    } else {
        Vec::new()
    }
}

/// `key=value` words as parameters: `true`/`false` are booleans, integers are integers.
/// (The type is part of every id the parameter reaches.)
pub fn parse_params(words: &[String]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut params = serde_json::Map::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(Error::Input(format!(
                "{word:?}: parameters are written KEY=VALUE"
            )));
        };
        if !hit_engine::spec::is_variable_name(key) {
            return Err(Error::Input(format!(
                "{word:?}: {key:?} is not a parameter name (letters, digits, `_`)"
            )));
        }
        let value = match value {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            other => other
                .parse::<i64>()
                .map_or_else(|_| serde_json::Value::String(other.to_owned()), Into::into),
        };
        params.insert(key.to_owned(), value);
    }
    Ok(params)
}

/// The absolute path of a profile file that must exist.
pub fn profile_file(profile: &Path) -> Result<PathBuf> {
    if !profile.is_file() {
        return Err(Error::NoProfile(profile.to_owned()));
    }
    std::path::absolute(profile).map_err(Error::io(profile.display().to_string()))
}

/// Evaluates a profile and what it needs; `jobs` is the `make -j` recipes get (the CPUs
/// when `None`; never part of an id).
pub fn load_plan(request: &ProfileRequest, jobs: Option<usize>) -> Result<Plan> {
    load_plan_with(request, jobs, &FsLoader)
}

pub(crate) fn load_plan_with(
    request: &ProfileRequest,
    jobs: Option<usize>,
    loader: &dyn hit_lang::Loader,
) -> Result<Plan> {
    let file = profile_file(&request.file)?;
    let options = PlanOptions {
        params: parse_params(&request.params)?,
        jobs: jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        default_dirs: default_package_dirs(),
    };
    Ok(hit_lang::plan(&Evaluator::new(), loader, &file, &options)?)
}

/// The profile artifact a plan links: its packages (the linked ones) and `prefer`.
pub fn profile_spec(plan: &Plan) -> hit_engine::profile::ProfileSpec {
    hit_engine::profile::ProfileSpec {
        name: plan.profile.name.clone(),
        packages: plan
            .packages
            .iter()
            .filter(|p| p.linked)
            .map(|p| (p.name.clone(), p.spec.id().clone()))
            .collect(),
        prefer: plan.profile.prefer.clone(),
    }
}

/// The package `name` of a plan, or an error listing those it has.
pub fn package_of<'a>(plan: &'a Plan, name: &str) -> Result<&'a PlannedPackage> {
    plan.get(name).ok_or_else(|| {
        let names: Vec<&str> = plan.packages.iter().map(|p| p.name.as_str()).collect();
        Error::Input(format!(
            "profile {} has no package {name:?} (it has: {})",
            plan.profile.file.display(),
            names.join(", ")
        ))
    })
}

/// Writes `text` to `path` through a temporary file beside it, then a rename, so a
/// reader sees the old file or the new one, never half of one. Makes the parent directory.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let io = |path: &Path| Error::io(path.display().to_string());
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let temporary = path.with_file_name(format!(
        ".{}.hit-tmp",
        path.file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
    ));
    std::fs::write(&temporary, text).map_err(io(&temporary))?;
    std::fs::rename(&temporary, path).map_err(io(path))
}

/// A build.json (`-`: standard input).
pub fn read_spec(path: &Path) -> Result<BuildSpec> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(Error::io("reading the build spec from standard input"))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|source| Error::Unreadable {
            path: path.to_owned(),
            source,
        })?
    };
    BuildSpec::from_json(&text)
        .map_err(|error| Error::Input(format!("{}: {error}", path.display())))
}

/// A build.json (or `-`), or else the name of a package of the profile.
pub fn target_spec(target: &str, profile: &ProfileRequest) -> Result<BuildSpec> {
    let path = Path::new(target);
    if target == "-" || path.is_file() || target.ends_with(".json") {
        if !profile.params.is_empty() {
            return Err(Error::Input(
                "KEY=VALUE parameters are for packages of a profile; a build.json has none".into(),
            ));
        }
        return read_spec(path);
    }
    Ok(package_of(&load_plan(profile, None)?, target)?.spec.clone())
}
