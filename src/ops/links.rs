//! Profile links and their generations: `hit generations`, `hit rollback`, `hit cp`,
//! `hit mv`, `hit rm`. Each runs under a store session, so gc never sees a link half
//! changed.

use super::{Error, Result};
use hit_engine::home::Home;
use hit_engine::profile::links::{Generation, LinkRecord, LinkState, ProfileLinks, Selector};
use hit_engine::spec::ArtifactId;
use hit_engine::store::{FileLock, META_DIR, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

fn open(home: &Home) -> Result<(Store, ProfileLinks, FileLock)> {
    let store = Store::for_home(home);
    let session = store.session()?;
    Ok((store, ProfileLinks::for_home(home), session))
}

/// A profile link and its generations, as `hit generations` lists them.
#[derive(Debug, Clone)]
pub struct LinkHistory {
    pub link: PathBuf,
    /// Why gc would drop the link's root, if it would.
    pub stale: Option<String>,
    /// The generation the link points at, if it points at one of them.
    pub current: Option<u32>,
    /// Where the link points when that is none of its generations.
    pub elsewhere: Option<PathBuf>,
    pub generations: Vec<GenerationChange>,
}

/// One generation and how it differs from the one before.
#[derive(Debug, Clone)]
pub struct GenerationChange {
    pub number: u32,
    pub created: SystemTime,
    pub change: Change,
}

/// How a generation differs from the previous one still in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Its profile is no longer in the store.
    Gone,
    /// The first generation (that can be read): how many packages it has.
    First(usize),
    /// What changed, by package name (empty: nothing).
    Packages(Vec<PackageChange>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageChange {
    Added(String),
    Removed(String),
    /// Another version.
    Upgraded {
        name: String,
        from: String,
        to: String,
    },
    /// Same version (or none), another id.
    Rebuilt(String),
}

/// The history of `link`, or of every link hit manages.
pub fn history(home: &Home, link: Option<&Path>) -> Result<Vec<LinkHistory>> {
    let (store, links, _session) = open(home)?;
    let records = match link {
        Some(link) => vec![links.managed(link)?],
        None => links.records()?,
    };
    Ok(records
        .iter()
        .map(|record| history_of(&store, record))
        .collect())
}

fn history_of(store: &Store, record: &LinkRecord) -> LinkHistory {
    let mut previous: Option<BTreeMap<String, ArtifactId>> = None;
    let mut generations = Vec::new();
    for generation in &record.generations {
        let packages = profile_packages(&generation.target);
        let change = match (&previous, &packages) {
            (_, None) => Change::Gone,
            (None, Some(now)) => Change::First(now.len()),
            (Some(before), Some(now)) => Change::Packages(changes(store, before, now)),
        };
        generations.push(GenerationChange {
            number: generation.number,
            created: generation.created,
            change,
        });
        if packages.is_some() {
            previous = packages;
        }
    }
    let elsewhere = match (&record.state, record.current) {
        (LinkState::Points(target), None) => Some(target.clone()),
        _ => None,
    };
    LinkHistory {
        link: record.link.clone(),
        stale: record.stale_reason(store),
        current: record.current,
        elsewhere,
        generations,
    }
}

/// The packages of a profile artifact, from its build.json.
fn profile_packages(profile: &Path) -> Option<BTreeMap<String, ArtifactId>> {
    let text = std::fs::read_to_string(profile.join(META_DIR).join("build.json")).ok()?;
    let document: serde_json::Value = serde_json::from_str(&text).ok()?;
    let mut packages = BTreeMap::new();
    for pair in document.pointer("/profile/packages")?.as_array()? {
        let name = pair.get(0)?.as_str()?;
        let id = pair.get(1)?.as_str()?.parse().ok()?;
        packages.insert(name.to_owned(), id);
    }
    Some(packages)
}

fn changes(
    store: &Store,
    before: &BTreeMap<String, ArtifactId>,
    now: &BTreeMap<String, ArtifactId>,
) -> Vec<PackageChange> {
    let version = |id: &ArtifactId| -> Option<String> {
        let path = store.resolve(id).ok()??;
        store.read_meta(&path).ok()?.version
    };
    let mut out = Vec::new();
    for (name, id) in now {
        match before.get(name) {
            None => out.push(PackageChange::Added(name.clone())),
            Some(old) if old != id => match (version(old), version(id)) {
                (Some(from), Some(to)) if from != to => out.push(PackageChange::Upgraded {
                    name: name.clone(),
                    from,
                    to,
                }),
                _ => out.push(PackageChange::Rebuilt(name.clone())),
            },
            Some(_) => {}
        }
    }
    out.extend(
        before
            .keys()
            .filter(|name| !now.contains_key(*name))
            .map(|name| PackageChange::Removed(name.clone())),
    );
    out
}

/// Drops the generations `words` select (see [`Selector::parse`]); returns their numbers.
pub fn delete_generations(home: &Home, link: &Path, words: &[String]) -> Result<Vec<u32>> {
    let (_store, links, _session) = open(home)?;
    let selector = Selector::parse(words).map_err(Error::Input)?;
    Ok(links.delete_generations(link, &selector, SystemTime::now())?)
}

/// The link to act on: the one named, or else the only live one in this directory.
fn pick_link(store: &Store, links: &ProfileLinks, link: Option<&Path>) -> Result<PathBuf> {
    if let Some(link) = link {
        return Ok(link.to_path_buf());
    }
    let here = std::env::current_dir().map_err(Error::io("the current directory"))?;
    let mut candidates: Vec<PathBuf> = links
        .records()?
        .into_iter()
        .filter(|r| r.link.parent() == Some(here.as_path()) && r.stale_reason(store).is_none())
        .map(|r| r.link)
        .collect();
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => Err(Error::Input(
            "no profile link in this directory; name one (see `hit generations`)".into(),
        )),
        _ => {
            let names: Vec<String> = candidates
                .iter()
                .filter_map(|p| p.file_name())
                .map(|name| format!("./{}", name.to_string_lossy()))
                .collect();
            Err(Error::Input(format!(
                "several profile links here ({}); name one",
                names.join(", ")
            )))
        }
    }
}

/// Points a link (the one named, or else the only live one here) back at its previous generation, or at `to`.
/// Returns the link, absolute, and the generation it now points at.
pub fn rollback(
    home: &Home,
    link: Option<&Path>,
    to: Option<u32>,
) -> Result<(PathBuf, Generation)> {
    let (store, links, _session) = open(home)?;
    let link = pick_link(&store, &links, link)?;
    let generation = links.rollback(&link, to)?;
    let link = std::path::absolute(&link).map_err(Error::io(link.display().to_string()))?;
    Ok((link, generation))
}

pub fn copy(home: &Home, from: &Path, to: &Path) -> Result<()> {
    let (store, links, _session) = open(home)?;
    links.copy(&store, from, to)?;
    Ok(())
}

pub fn rename(home: &Home, from: &Path, to: &Path) -> Result<()> {
    let (store, links, _session) = open(home)?;
    links.rename(&store, from, to)?;
    Ok(())
}

/// Removes a link and its generations; returns how many generations went.
pub fn remove(home: &Home, link: &Path) -> Result<usize> {
    let (_store, links, _session) = open(home)?;
    Ok(links.remove(link)?)
}
