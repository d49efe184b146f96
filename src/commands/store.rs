//! Commands on the store and the source cache.

use super::target_spec;
use crate::cli::ResolveArgs;
use anyhow::Result;
use hit_engine::home::{Home, InitOutcome};
use hit_engine::profile::links::ProfileLinks;
use hit_engine::spec::{ArtifactId, SourceKey, Strip};
use hit_engine::store::Store;
use std::path::Path;
use std::process::ExitCode;

pub fn init_home(dir: &Path) -> Result<ExitCode> {
    let (home, outcome) = Home::init(dir)?;
    match outcome {
        InitOutcome::Created => println!("created hit home {}", home.root().display()),
        InitOutcome::AlreadyThere => println!("hit home {} already exists", home.root().display()),
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_id(text: &str) -> Result<ArtifactId> {
    Ok(text.parse()?)
}

pub fn resolve(home: &Home, args: &ResolveArgs) -> Result<ExitCode> {
    let id = if args.by_id {
        parse_id(&args.target)?
    } else {
        target_spec(&args.target, &args.profile)?.id().clone()
    };
    match Store::for_home(home).resolve(&id)? {
        Some(path) => {
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            println!("(not built)");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn fetch(home: &Home, url: &str, key: Option<&str>) -> Result<ExitCode> {
    let key: Option<SourceKey> = key.map(str::parse).transpose()?;
    let key = super::source_cache(home).fetch_url(url, key.as_ref())?;
    println!("{key}");
    Ok(ExitCode::SUCCESS)
}

pub fn unpack(
    home: &Home,
    key: &str,
    dir: &Path,
    strip: Option<u32>,
    force: bool,
) -> Result<ExitCode> {
    let key: SourceKey = key.parse()?;
    if !force
        && let Ok(mut entries) = std::fs::read_dir(dir)
        && let Some(entry) = entries.next()
    {
        let entry = entry.map(|e| e.file_name().to_string_lossy().into_owned());
        anyhow::bail!(
            "{} is not empty (it holds {:?}); unpacking could overwrite your files: choose a new \
             or empty directory, or pass --force",
            dir.display(),
            entry.unwrap_or_default()
        );
    }
    let strip = match (strip, &key) {
        (Some(n), _) => Strip::Components(n),
        (None, SourceKey::Git(_) | SourceKey::Files(_)) => Strip::Components(0),
        (None, _) => Strip::Common,
    };
    super::source_cache(home).unpack(&key, None, dir, strip)?;
    Ok(ExitCode::SUCCESS)
}

pub fn purge(home: &Home, id: &str, force: bool) -> Result<ExitCode> {
    let id = parse_id(id)?;
    let store = Store::for_home(home);
    // gc and verify --repair also clear the build dir: not while purge uses it.
    let _session = store.session()?;
    if !force {
        let using = hit_engine::gc::roots_using(&store, &ProfileLinks::for_home(home), &id)?;
        if !using.is_empty() {
            anyhow::bail!(
                "{id} is in use by {}; removing it would break that profile. Drop the link or \
                 generation first (`hit rm`, `hit generations --delete`), or pass --force",
                using.join(", ")
            );
        }
    }
    match store.purge(&id)? {
        Some(path) => {
            println!("removed {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("{id} is not in the store");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The store's lock, exclusively, saying whom it waits for if it must.
fn exclusive(store: &Store, what: &str) -> Result<hit_engine::store::FileLock> {
    if let Some(lock) = store.try_exclusive()? {
        return Ok(lock);
    }
    let holders = store.session_holders();
    let who = if holders.is_empty() {
        "other hit processes".to_owned()
    } else {
        let pids: Vec<String> = holders.iter().map(u32::to_string).collect();
        format!("hit processes {}", pids.join(", "))
    };
    eprintln!("{what}: waiting for {who} (builds, gc or verify) to finish with the store...");
    Ok(store.exclusive()?)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn gc(home: &Home, dry_run: bool, list: bool, all: bool) -> Result<ExitCode> {
    let store = Store::for_home(home);
    let links = ProfileLinks::for_home(home);
    if list {
        for root in hit_engine::gc::roots(&store, &links)? {
            if let Some(reason) = &root.stale {
                println!("{} (stale: {reason})", root.record.link.display());
            }
            for (how, id) in &root.artifacts {
                println!("{how} -> {id}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A dry run only reads: it shares the lock with running builds.
    let _lock = if dry_run {
        store.session()?
    } else {
        exclusive(&store, "gc")?
    };
    let options = hit_engine::gc::GcOptions { all_failures: all };
    let plan = hit_engine::gc::plan(&store, &links, &home.source_dir(), options)?;
    // Said by both a dry run and a real one: gc never touches these.
    for (path, why) in &plan.unreadable {
        println!(
            "keep {}: {why}; gc cannot tell it is an unreachable artifact (`hit verify` says more)",
            path.display()
        );
    }
    for path in &plan.foreign {
        println!("leave alone {}: not made by hit", path.display());
    }
    if dry_run {
        for root in &plan.roots {
            if let Some(reason) = &root.stale {
                println!(
                    "would drop the root of {} and its generations: {reason}",
                    root.record.link.display()
                );
            }
        }
        for (id, how) in &plan.keep {
            println!("keep {id}: reached from {how}");
        }
        for (id, path, size) in &plan.delete {
            println!(
                "would delete {id} at {} ({}): no root reaches it",
                path.display(),
                megabytes(*size)
            );
        }
        for (entry, roots) in &plan.gone_homes {
            println!(
                "would forget a home that used this store ({}): its gc roots {} are gone",
                entry.display(),
                roots.display()
            );
        }
        for claim in &plan.stale_claims {
            println!(
                "would delete the claim {} of an interrupted build",
                claim.display()
            );
        }
        for (path, size) in &plan.unused_sources {
            println!(
                "would delete source {} ({}): no kept artifact uses it",
                path.display(),
                megabytes(*size)
            );
        }
        for (path, size) in &plan.leftovers {
            println!(
                "would delete {} ({}): left by failed or interrupted work",
                path.display(),
                megabytes(*size)
            );
        }
        for path in &plan.kept_failures {
            println!(
                "keep {}: the newest failed build of its package (--all deletes it too)",
                path.display()
            );
        }
        println!("would free {}", megabytes(plan.bytes()));
        return Ok(ExitCode::SUCCESS);
    }
    let report = hit_engine::gc::apply(&store, &links, &plan, &home.source_dir())?;
    println!(
        "deleted {} artifacts, {} sources and {} leftovers of failed or interrupted work, freed {}; dropped {} stale roots and {} claims of interrupted builds; kept {} artifacts",
        report.artifacts,
        report.sources,
        report.leftovers,
        megabytes(report.bytes),
        report.roots,
        report.claims,
        plan.keep.len()
    );
    if report.homes > 0 {
        println!(
            "forgot {} homes that used this store and are gone",
            report.homes
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(home: &Home, repair: bool, sources: bool) -> Result<ExitCode> {
    let store = Store::for_home(home);
    let links = ProfileLinks::for_home(home);
    // Checking shares the lock with builds; repairing excludes them, like gc.
    let _lock = if repair {
        exclusive(&store, "verify --repair")?
    } else {
        store.session()?
    };
    let report = hit_engine::verify::check(&store, &links)?;
    let cache = super::source_cache(home);
    let corrupt = if sources { cache.check()? } else { Vec::new() };
    for problem in &report.problems {
        println!("broken: {problem}");
    }
    for source in &corrupt {
        println!(
            "broken: source {}: its contents hash to {} (repair removes it; the next build fetches it again)",
            source.path.display(),
            source.actual
        );
    }
    let sources_checked = if sources {
        format!(", {} corrupt sources", corrupt.len())
    } else {
        String::new()
    };
    for leftover in &report.leftovers {
        println!("leftover: {leftover}");
    }
    for path in &report.foreign {
        println!("foreign: {}: not made by hit; left alone", path.display());
    }
    let summary = format!(
        "checked {} artifacts and {} profile links: {} broken, {} leftovers{sources_checked}",
        report.artifacts,
        report.links,
        report.problems.len(),
        report.leftovers.len()
    );
    if !repair {
        println!("{summary}");
        if report.problems.is_empty() && corrupt.is_empty() {
            if !report.leftovers.is_empty() {
                println!(
                    "leftovers are harmless; `hit verify --repair` or `hit gc --all` clears them \
                     (`hit gc` keeps the newest failed build of each package)"
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "error: the store has broken entries; `hit verify --repair` removes the broken \
             artifacts (and leaves alone what hit cannot tell it made)"
        );
        return Ok(ExitCode::FAILURE);
    }
    for source in &corrupt {
        cache.evict(&source.path)?;
    }
    let done = hit_engine::verify::repair(&store, &links, &report)?;
    println!(
        "{summary}; repaired {}, cleared {} leftovers",
        done.fixed, done.cleaned
    );
    if done.unrecognized > 0 {
        eprintln!(
            "error: {} directories in the store are not recognisably hit's; repair left them \
             alone: move them out of the store, or delete them",
            done.unrecognized
        );
    }
    if done.unfixable > 0 {
        eprintln!(
            "error: {} profile links have no intact generation left; build their profiles again",
            done.unfixable
        );
    }
    if done.unfixable > 0 || done.unrecognized > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
