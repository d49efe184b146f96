//! Profile links over time: `hit generations`, `rollback`, `cp`, `mv`, `rm`.

use anyhow::{Result, bail};
use hit_engine::home::Home;
use hit_engine::profile::links::{LinkRecord, LinkState, ProfileLinks, Selector};
use hit_engine::spec::ArtifactId;
use hit_engine::store::{META_DIR, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// The session lock keeps gc out while a link or its record changes.
fn open(home: &Home) -> Result<(Store, ProfileLinks, hit_engine::store::FileLock)> {
    let store = Store::for_home(home);
    let session = store.session()?;
    Ok((store, ProfileLinks::for_home(home), session))
}

pub fn generations(
    home: &Home,
    link: Option<&Path>,
    delete: Option<&[String]>,
) -> Result<ExitCode> {
    let (store, links, _session) = open(home)?;
    if let (Some(link), Some(words)) = (link, delete) {
        let selector = Selector::parse(words).map_err(anyhow::Error::msg)?;
        let dropped = links.delete_generations(link, &selector, SystemTime::now())?;
        let numbers: Vec<String> = dropped.iter().map(u32::to_string).collect();
        if dropped.is_empty() {
            println!("no generations of {} to drop", link.display());
        } else {
            println!(
                "dropped generation{} {} of {}; `hit gc` frees what only they used",
                if dropped.len() == 1 { "" } else { "s" },
                numbers.join(", "),
                link.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let records = match link {
        Some(link) => vec![links.managed(link)?],
        None => links.records()?,
    };
    if records.is_empty() {
        println!("no profile links yet: `hit build` a profile to make one");
    }
    for record in &records {
        print_record(&store, record);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_record(store: &Store, record: &LinkRecord) {
    let status = match record.stale_reason(store) {
        Some(reason) => format!("  (stale: {reason}; `hit gc` drops it)"),
        None if record.current.is_none() => "  (points at none of its generations)".into(),
        None => String::new(),
    };
    println!("{}{status}", shown(&record.link).display());
    let mut previous: Option<BTreeMap<String, ArtifactId>> = None;
    for generation in &record.generations {
        let packages = profile_packages(&generation.target);
        let change = match (&previous, &packages) {
            (_, None) => "(gone from the store)".to_owned(),
            (None, Some(now)) if now.len() == 1 => "1 package".to_owned(),
            (None, Some(now)) => format!("{} packages", now.len()),
            (Some(before), Some(now)) => describe_change(store, before, now),
        };
        let current = if record.current == Some(generation.number) {
            "  (current)"
        } else {
            ""
        };
        println!(
            "{:>5}  {}  {change}{current}",
            generation.number,
            utc(generation.created)
        );
        if packages.is_some() {
            previous = packages;
        }
    }
    if let (LinkState::Points(target), None) = (&record.state, record.current) {
        println!("    -> {}", target.display());
    }
}

/// A link path as the user would type it: relative to here when below here.
fn shown(link: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|here| link.strip_prefix(here).ok().map(|p| Path::new(".").join(p)))
        .unwrap_or_else(|| link.to_path_buf())
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

/// `+added -removed name 1.2->1.3 ~rebuilt`, or `no package changed`.
fn describe_change(
    store: &Store,
    before: &BTreeMap<String, ArtifactId>,
    now: &BTreeMap<String, ArtifactId>,
) -> String {
    let version = |id: &ArtifactId| -> Option<String> {
        let path = store.resolve(id).ok()??;
        store.read_meta(&path).ok()?.version
    };
    let mut words = Vec::new();
    for (name, id) in now {
        match before.get(name) {
            None => words.push(format!("+{name}")),
            Some(old) if old != id => match (version(old), version(id)) {
                (Some(a), Some(b)) if a != b => words.push(format!("{name} {a}->{b}")),
                _ => words.push(format!("~{name}")),
            },
            Some(_) => {}
        }
    }
    words.extend(
        before
            .keys()
            .filter(|name| !now.contains_key(*name))
            .map(|name| format!("-{name}")),
    );
    if words.is_empty() {
        "no package changed".into()
    } else {
        words.join(" ")
    }
}

/// `YYYY-MM-DD HH:MM UTC` (days to civil date after Howard Hinnant's `civil_from_days`).
fn utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60
    )
}

/// The link named, or the only live profile link in this directory.
fn pick_link(store: &Store, links: &ProfileLinks, link: Option<&Path>) -> Result<PathBuf> {
    if let Some(link) = link {
        return Ok(link.to_path_buf());
    }
    let here = std::env::current_dir()?;
    let mut candidates: Vec<PathBuf> = links
        .records()?
        .into_iter()
        .filter(|r| r.link.parent() == Some(here.as_path()) && r.stale_reason(store).is_none())
        .map(|r| r.link)
        .collect();
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => bail!("no profile link in this directory; name one (see `hit generations`)"),
        _ => {
            let names: Vec<String> = candidates
                .iter()
                .map(|p| shown(p).display().to_string())
                .collect();
            bail!(
                "several profile links here ({}); name one",
                names.join(", ")
            )
        }
    }
}

pub fn rollback(home: &Home, link: Option<&Path>, to: Option<u32>) -> Result<ExitCode> {
    let (store, links, _session) = open(home)?;
    let link = pick_link(&store, &links, link)?;
    let generation = links.rollback(&link, to)?;
    println!(
        "{} -> generation {} ({})",
        shown(&std::path::absolute(&link)?).display(),
        generation.number,
        generation.target.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn copy(home: &Home, from: &Path, to: &Path) -> Result<ExitCode> {
    let (store, links, _session) = open(home)?;
    links.copy(&store, from, to)?;
    println!("copied {} to {}", from.display(), to.display());
    Ok(ExitCode::SUCCESS)
}

pub fn rename(home: &Home, from: &Path, to: &Path) -> Result<ExitCode> {
    let (store, links, _session) = open(home)?;
    links.rename(&store, from, to)?;
    println!("moved {} to {}", from.display(), to.display());
    Ok(ExitCode::SUCCESS)
}

pub fn remove(home: &Home, link: &Path) -> Result<ExitCode> {
    let (_store, links, _session) = open(home)?;
    let generations = links.remove(link)?;
    println!(
        "removed {} and its {generations} generation{}; `hit gc` frees what only they used",
        link.display(),
        if generations == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
