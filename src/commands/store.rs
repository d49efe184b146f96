//! Commands on the store and the source cache.

use super::target_spec;
use crate::cli::ResolveArgs;
use anyhow::Result;
use hit_engine::home::{Home, InitOutcome};
use hit_engine::profile::links::ProfileLinks;
use hit_engine::source::SourceCache;
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
    let key = SourceCache::for_home(home).fetch_url(url, key.as_ref())?;
    println!("{key}");
    Ok(ExitCode::SUCCESS)
}

pub fn unpack(home: &Home, key: &str, dir: &Path, strip: Option<u32>) -> Result<ExitCode> {
    let key: SourceKey = key.parse()?;
    let strip = match (strip, &key) {
        (Some(n), _) => Strip::Components(n),
        (None, SourceKey::Git(_) | SourceKey::Files(_)) => Strip::Components(0),
        (None, _) => Strip::Common,
    };
    SourceCache::for_home(home).unpack(&key, None, dir, strip)?;
    Ok(ExitCode::SUCCESS)
}

pub fn purge(home: &Home, id: &str) -> Result<ExitCode> {
    let id = parse_id(id)?;
    let store = Store::for_home(home);
    // gc and verify --repair also clear the build dir: not while purge uses it.
    let _session = store.session()?;
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

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn gc(home: &Home, dry_run: bool, list: bool) -> Result<ExitCode> {
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
        store.exclusive()?
    };
    let plan = hit_engine::gc::plan(&store, &links, &home.source_dir())?;
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
            let what = id
                .as_ref()
                .map_or_else(|| "(unreadable metadata)".to_owned(), ToString::to_string);
            println!(
                "would delete {what} at {} ({}): no root reaches it",
                path.display(),
                megabytes(*size)
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
        println!("would free {}", megabytes(plan.bytes()));
        return Ok(ExitCode::SUCCESS);
    }
    let report = hit_engine::gc::apply(&store, &links, &plan, &home.source_dir())?;
    println!(
        "deleted {} artifacts and {} sources, freed {}; dropped {} stale roots and {} interrupted builds; kept {} artifacts",
        report.artifacts,
        report.sources,
        megabytes(report.bytes),
        report.roots,
        report.claims,
        plan.keep.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn verify(home: &Home, repair: bool) -> Result<ExitCode> {
    let store = Store::for_home(home);
    let links = ProfileLinks::for_home(home);
    // Checking shares the lock with builds; repairing excludes them, like gc.
    let _lock = if repair {
        store.exclusive()?
    } else {
        store.session()?
    };
    let report = hit_engine::verify::check(&store, &links)?;
    for problem in &report.problems {
        println!("broken: {problem}");
    }
    for leftover in &report.leftovers {
        println!("leftover: {leftover}");
    }
    let summary = format!(
        "checked {} artifacts and {} profile links: {} broken, {} leftovers",
        report.artifacts,
        report.links,
        report.problems.len(),
        report.leftovers.len()
    );
    if !repair {
        println!("{summary}");
        if report.problems.is_empty() {
            if !report.leftovers.is_empty() {
                println!("leftovers are harmless; `hit verify --repair` or `hit gc` clears them");
            }
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("error: the store has broken entries; `hit verify --repair` removes them");
        return Ok(ExitCode::FAILURE);
    }
    let done = hit_engine::verify::repair(&store, &links, &report)?;
    println!(
        "{summary}; repaired {}, cleared {} leftovers",
        done.fixed, done.cleaned
    );
    if done.unfixable > 0 {
        eprintln!(
            "error: {} profile links have no intact generation left; build their profiles again",
            done.unfixable
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
