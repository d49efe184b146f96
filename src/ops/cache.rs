//! `hit key generate`, `hit push`, `hit pull`: binary caches from the command line (the
//! engine's [`hit_engine::cache`] does the work).
//!
//! What a user names: an artifact id (`name/hash`), a profile link or any artifact
//! directory of the store (`./stack`), or a profile script (`stack.rhai`, whose built
//! profile is pushed, or whose packages are pulled).

use super::{Error, ProfileRequest, Result};
use hit_engine::cache::pull::PullPlan;
use hit_engine::cache::push::{self, PushPlan, Pushed};
use hit_engine::cache::{Cache, Fetched, PublicKey, SecretKey, Substituter};
use hit_engine::home::Home;
use hit_engine::profile::links::ProfileLinks;
use hit_engine::source::Progress;
use hit_engine::spec::ArtifactId;
use hit_engine::store::Store;
use std::path::{Path, PathBuf};

/// Makes a key pair in `dir` (default: the home's `keys/`); returns the public key and
/// the two files.
pub fn generate_key(
    home: &Home,
    name: &str,
    dir: Option<&Path>,
) -> Result<(PublicKey, PathBuf, PathBuf)> {
    let key = SecretKey::generate(name).map_err(hit_engine::cache::CacheError::from)?;
    let dir = dir.map_or_else(|| home.keys_dir(), Path::to_path_buf);
    let (secret, public) = key
        .write_pair(&dir)
        .map_err(hit_engine::cache::CacheError::from)?;
    Ok((key.public(), secret, public))
}

/// The artifact a push target names.
fn target_id(home: &Home, store: &Store, target: &str) -> Result<ArtifactId> {
    if let Ok(id) = target.parse::<ArtifactId>() {
        return Ok(id);
    }
    let path = Path::new(target);
    if path.is_dir() {
        let artifact = std::fs::canonicalize(path).map_err(Error::io(target.to_owned()))?;
        let meta = store.read_meta(&artifact).map_err(|_| {
            Error::Input(format!(
                "{target} is not an artifact of this store (nor a profile link to one)"
            ))
        })?;
        if store.resolve(&meta.id)?.as_deref() != Some(artifact.as_path()) {
            return Err(Error::Input(format!(
                "{target} is not an artifact of this store ({})",
                store.dir().display()
            )));
        }
        return Ok(meta.id);
    }
    if path.extension().is_some_and(|ext| ext == "rhai") {
        let contents = super::contents::profile_contents(
            home,
            &ProfileRequest {
                file: path.to_path_buf(),
                params: Vec::new(),
            },
        )?;
        let artifact = contents
            .artifact
            .ok_or_else(|| Error::Input(format!("{target}: no built profile")))?;
        return Ok(store.read_meta(&artifact)?.id);
    }
    Err(Error::Input(format!(
        "{target}: not an artifact id (name/hash), a profile link or artifact directory, or a profile script (.rhai)"
    )))
}

/// What `hit push CACHE TARGET...` would write, and the ids the targets name.
pub fn push_plan(
    home: &Home,
    cache: &str,
    targets: &[String],
    force: bool,
) -> Result<(PushPlan, Vec<ArtifactId>)> {
    let store = Store::for_home(home);
    let cache = Cache::parse(cache)?;
    let ids = targets
        .iter()
        .map(|target| target_id(home, &store, target))
        .collect::<Result<Vec<_>>>()?;
    Ok((push::plan(&store, &cache, &ids, force)?, ids))
}

/// Pushes the plan, signed with `key` (default: `signing_key` of config.yaml).
pub fn push(
    home: &Home,
    plan: &PushPlan,
    key: Option<&Path>,
    done: &(dyn Fn(&Pushed) + Sync),
) -> Result<Vec<Pushed>> {
    let key = key
        .map(Path::to_path_buf)
        .or_else(|| home.signing_key())
        .ok_or_else(|| {
            Error::Input(
                "no key to sign with: give --key FILE, or set signing_key in config.yaml \
             (`hit key generate NAME` makes one)"
                    .into(),
            )
        })?;
    let key = SecretKey::read(&key).map_err(hit_engine::cache::CacheError::from)?;
    // gc must not delete what is being archived.
    let store = Store::for_home(home);
    let _session = store.session()?;
    Ok(push::apply(plan, &key, done)?)
}

/// The ids a pull target names: an id, or every package of a profile script's plan.
fn pull_ids(target: &str) -> Result<Vec<ArtifactId>> {
    if let Ok(id) = target.parse::<ArtifactId>() {
        return Ok(vec![id]);
    }
    let path = Path::new(target);
    if path.extension().is_some_and(|ext| ext == "rhai") {
        let plan = super::load_plan(
            &ProfileRequest {
                file: path.to_path_buf(),
                params: Vec::new(),
            },
            None,
        )?;
        return Ok(plan.packages.iter().map(|p| p.spec.id().clone()).collect());
    }
    Err(Error::Input(format!(
        "{target}: not an artifact id (name/hash) or a profile script (.rhai)"
    )))
}

/// The caches a pull reads: the one named, or (with none named) config.yaml's.
fn substituter(home: &Home, cache: Option<&str>) -> Result<Substituter> {
    let mut substituter = Substituter::for_home(home)?;
    if let Some(cache) = cache {
        substituter = substituter.with_caches(vec![Cache::parse(cache)?]);
    } else if substituter.is_empty() {
        return Err(Error::Input(
            "no cache: name one (`hit pull CACHE ...`) or list some under caches: in config.yaml"
                .into(),
        ));
    }
    Ok(substituter)
}

/// What a pull would install.
pub fn pull_plan(
    home: &Home,
    cache: Option<&str>,
    targets: &[String],
) -> Result<(Substituter, PullPlan)> {
    let substituter = substituter(home, cache)?;
    let mut ids = Vec::new();
    for target in targets {
        ids.extend(pull_ids(target)?);
    }
    let store = Store::for_home(home);
    let plan = substituter.plan_pull(&store, &ids)?;
    Ok((substituter, plan))
}

/// Installs the plan; with `link`, points that profile link at the one target pulled
/// (which must be a profile artifact).
pub fn pull(
    home: &Home,
    substituter: &Substituter,
    plan: &PullPlan,
    link: Option<(&Path, &ArtifactId)>,
    progress: &(dyn Fn(&ArtifactId, Progress) + Sync),
    done: &(dyn Fn(&Fetched) + Sync),
) -> Result<(Vec<Fetched>, Option<u32>)> {
    let store = Store::for_home(home);
    store.check_build_dir()?;
    // Nothing roots what is pulled until a link names it: keep gc out meanwhile.
    let _session = store.session()?;
    let fetched = substituter.pull(&store, plan, progress, done)?;
    let store_dir = store.dir().to_path_buf();
    store.drain_pool()?;
    let generation = match link {
        Some((link, id)) => {
            let path = store.resolve(id)?.ok_or_else(|| {
                Error::Refused(format!(
                    "{id} is not in {} after the pull",
                    store_dir.display()
                ))
            })?;
            Some(ProfileLinks::for_home(home).switch(link, &path)?.generation)
        }
        None => None,
    };
    Ok((fetched, generation))
}

/// The one target of `hit pull --link`, which must be a profile artifact's id.
pub fn link_target(targets: &[String]) -> Result<ArtifactId> {
    let [target] = targets else {
        return Err(Error::Input(
            "--link takes exactly one target: a profile's id".into(),
        ));
    };
    let id: ArtifactId = target.parse().map_err(|_| {
        Error::Input(format!(
            "--link: {target} is not an artifact id (profile-NAME/hash)"
        ))
    })?;
    if !id.name().as_str().starts_with("profile-") {
        return Err(Error::Input(format!(
            "--link: {id} is not a profile (profile artifacts are named profile-NAME)"
        )));
    }
    Ok(id)
}
