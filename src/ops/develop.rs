//! `hit develop`: a writable prefix over a built profile, for developing one's own code
//! against a stack (HashDist's `hit develop`).
//!
//! `hit develop PROFILE DIR` makes DIR a copy of the profile's tree in which directories
//! are real (writable) and every file is a symlink straight to the package's file in the
//! store. A developer runs `make install` or `pip install --prefix DIR` on top: new files
//! land beside the links, and the store stays read-only (writing *through* a link fails on
//! the read-only store; installers replace a file by unlinking it first, which only drops
//! the link).
//!
//! `DIR/.hit/` is hit's: `develop.json` records every link hit made (path and target), and
//! `profile` is a profile link, managed like `./<name>` (generations, a gc root), so gc
//! keeps everything DIR uses for as long as DIR exists.
//!
//! `--update` brings DIR to the profile's current state without touching what the
//! developer added: [`plan`] compares the new tree with the record and the disk, and
//! [`apply`] makes the changes. A link hit made and nobody changed is replaced or removed;
//! a path the developer made or replaced is kept, and if the profile also has it, that is
//! a conflict, listed and left as it is.

use super::contents::ProfileContents;
use super::{Error, Result};
use hit_engine::home::Home;
use hit_engine::profile::links::ProfileLinks;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The directory in DIR that belongs to hit.
pub const META: &str = ".hit";
const RECORD: &str = "develop.json";
const RECORD_FORMAT: u64 = 1;

/// What [`apply`] will do to a develop prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevelopPlan {
    pub dir: PathBuf,
    /// The profile artifact DIR will be over.
    pub profile: PathBuf,
    /// Directories to make, relative to DIR, parents first.
    pub make_dirs: Vec<PathBuf>,
    /// Links to make (path relative to DIR, target in the store).
    pub link: Vec<(PathBuf, PathBuf)>,
    /// hit's links to point elsewhere.
    pub relink: Vec<(PathBuf, PathBuf)>,
    /// hit's links the profile no longer has.
    pub unlink: Vec<PathBuf>,
    /// Paths the profile has where the developer has something of their own: left alone.
    pub conflicts: Vec<PathBuf>,
    /// Every link of the profile: the record [`apply`] writes.
    pub links: BTreeMap<PathBuf, PathBuf>,
}

/// What [`apply`] did, in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevelopOutcome {
    pub linked: usize,
    pub relinked: usize,
    pub unlinked: usize,
    pub generation: u32,
}

/// Decides what makes `dir` a develop prefix of `contents` (`update`: bring an existing
/// one up to date).
pub fn plan(contents: &ProfileContents, dir: &Path, update: bool) -> Result<DevelopPlan> {
    let profile = contents.artifact.clone().ok_or_else(|| {
        Error::Input(format!(
            "{} is not a profile hit built; give a profile link or script",
            contents.root.display()
        ))
    })?;
    let dir = std::path::absolute(dir).map_err(Error::io(dir.display().to_string()))?;
    let previous = read_record(&dir)?;
    match (&previous, update) {
        (Some(_), false) => {
            return Err(Error::Refused(format!(
                "{} is a develop prefix already; `hit develop ... --update` brings it up to date",
                dir.display()
            )));
        }
        (None, true) => {
            return Err(Error::Refused(format!(
                "{} is not a develop prefix (no {META}/{RECORD}); leave out --update to make one",
                dir.display()
            )));
        }
        (None, false) => {
            let not_empty =
                std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
            if not_empty {
                return Err(Error::Refused(format!(
                    "{} is not empty and not a develop prefix; give a new or empty directory",
                    dir.display()
                )));
            }
        }
        (Some(_), true) => {}
    }
    let previous = previous.unwrap_or_default();
    let mut dirs = Vec::new();
    let mut links = BTreeMap::new();
    walk_profile(&profile, Path::new(""), &mut dirs, &mut links)?;

    let mut plan = DevelopPlan {
        dir: dir.clone(),
        profile,
        ..DevelopPlan::default()
    };
    for sub in dirs {
        match std::fs::symlink_metadata(dir.join(&sub)) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => plan.conflicts.push(sub),
            Err(_) => plan.make_dirs.push(sub),
        }
    }
    // Nothing goes below a directory of the profile that is a file of the developer's.
    let blocked = plan.conflicts.clone();
    links.retain(|path, _| !blocked.iter().any(|dir| path.starts_with(dir)));
    for (path, target) in &links {
        let on_disk = std::fs::read_link(dir.join(path));
        let exists = std::fs::symlink_metadata(dir.join(path)).is_ok();
        match (previous.get(path), on_disk) {
            // Ours and untouched.
            (Some(recorded), Ok(now)) if &now == recorded => {
                if now != *target {
                    plan.relink.push((path.clone(), target.clone()));
                }
            }
            _ if !exists => plan.link.push((path.clone(), target.clone())),
            // Already what the profile wants, whoever made it.
            (_, Ok(now)) if now == *target => {}
            _ => plan.conflicts.push(path.clone()),
        }
    }
    for (path, recorded) in &previous {
        if !links.contains_key(path)
            && std::fs::read_link(dir.join(path)).is_ok_and(|now| &now == recorded)
        {
            plan.unlink.push(path.clone());
        }
    }
    // A conflicting path is not linked, so it is not recorded as hit's.
    for conflict in &plan.conflicts {
        links.remove(conflict);
    }
    plan.links = links;
    Ok(plan)
}

/// Makes the plan's changes, then records the links and switches `DIR/.hit/profile`.
pub fn apply(home: &Home, plan: &DevelopPlan) -> Result<DevelopOutcome> {
    let io = |path: &Path| Error::io(path.display().to_string());
    let meta = plan.dir.join(META);
    std::fs::create_dir_all(&meta).map_err(io(&meta))?;
    for sub in &plan.make_dirs {
        let path = plan.dir.join(sub);
        std::fs::create_dir_all(&path).map_err(io(&path))?;
    }
    for (sub, target) in &plan.link {
        let path = plan.dir.join(sub);
        std::os::unix::fs::symlink(target, &path).map_err(io(&path))?;
    }
    for (sub, target) in &plan.relink {
        let path = plan.dir.join(sub);
        let temporary = path.with_file_name(format!(
            ".{}.hit-new",
            sub.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ));
        let _ = std::fs::remove_file(&temporary);
        std::os::unix::fs::symlink(target, &temporary).map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))?;
    }
    for sub in &plan.unlink {
        let path = plan.dir.join(sub);
        std::fs::remove_file(&path).map_err(io(&path))?;
    }
    let links: serde_json::Map<String, serde_json::Value> = plan
        .links
        .iter()
        .map(|(path, target)| {
            (
                path.display().to_string(),
                serde_json::Value::String(target.display().to_string()),
            )
        })
        .collect();
    let record = serde_json::json!({"format": RECORD_FORMAT, "links": links});
    let text = serde_json::to_string_pretty(&record).expect("a record serializes") + "\n";
    super::write_atomically(&meta.join(RECORD), &text)?;
    let switched = ProfileLinks::for_home(home).switch(&meta.join("profile"), &plan.profile)?;
    Ok(DevelopOutcome {
        linked: plan.link.len(),
        relinked: plan.relink.len(),
        unlinked: plan.unlink.len(),
        generation: switched.generation,
    })
}

/// The profile tree below `sub`: its directories, and each link with its target made
/// absolute (lexically: a package's own symlinks stay links the developer sees).
fn walk_profile(
    profile: &Path,
    sub: &Path,
    dirs: &mut Vec<PathBuf>,
    links: &mut BTreeMap<PathBuf, PathBuf>,
) -> Result<()> {
    let here = profile.join(sub);
    let entries = std::fs::read_dir(&here).map_err(Error::io(here.display().to_string()))?;
    let mut names: Vec<_> = entries.flatten().map(|entry| entry.file_name()).collect();
    names.sort();
    for name in names {
        if sub.as_os_str().is_empty() && name == META {
            continue;
        }
        let path = sub.join(&name);
        let full = profile.join(&path);
        let meta =
            std::fs::symlink_metadata(&full).map_err(Error::io(full.display().to_string()))?;
        if meta.is_dir() {
            dirs.push(path.clone());
            walk_profile(profile, &path, dirs, links)?;
        } else {
            let target =
                std::fs::read_link(&full).map_err(Error::io(full.display().to_string()))?;
            let parent = full
                .parent()
                .expect("a path below the profile has a parent");
            links.insert(path, normalize(&parent.join(target)));
        }
    }
    Ok(())
}

/// `a/b/../c` -> `a/c`, without looking at the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The links an earlier run made: path -> target; `None` if DIR is not a develop prefix.
fn read_record(dir: &Path) -> Result<Option<BTreeMap<PathBuf, PathBuf>>> {
    let file = dir.join(META).join(RECORD);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Unreadable { path: file, source }),
    };
    let bad = || {
        Error::Refused(format!(
            "{} is not a record this hit can read; make a new develop prefix",
            file.display()
        ))
    };
    let record: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
    if record.get("format").and_then(serde_json::Value::as_u64) != Some(RECORD_FORMAT) {
        return Err(bad());
    }
    let mut links = BTreeMap::new();
    for (path, target) in record
        .get("links")
        .and_then(|l| l.as_object())
        .ok_or_else(bad)?
    {
        let path = PathBuf::from(path);
        // Only paths below DIR: an edited record must not make hit touch anything else.
        if !path
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
        {
            return Err(bad());
        }
        links.insert(path, PathBuf::from(target.as_str().ok_or_else(bad)?));
    }
    Ok(Some(links))
}
