//! Commands on the store and the source cache.

use crate::report::count;
use anyhow::Result;
use hit::ops::gc::GcOutcome;
use hit::ops::sources::UnpackOptions;
use hit::ops::verify::VerifyOptions;
use hit_engine::home::{Home, InitOutcome};
use hit_engine::spec::ArtifactId;
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

pub fn fetch(home: &Home, url: &str, key: Option<&str>) -> Result<ExitCode> {
    println!("{}", hit::ops::sources::fetch(home, url, key)?);
    Ok(ExitCode::SUCCESS)
}

pub fn fetch_branch(home: &Home, url: &str, branch: &str) -> Result<ExitCode> {
    println!("{}", hit::ops::sources::fetch_branch(home, url, branch)?);
    Ok(ExitCode::SUCCESS)
}

pub fn fetch_locked(home: &Home, lockfile: &Path) -> Result<ExitCode> {
    let outcome = hit::ops::sources::fetch_locked(home, lockfile)?;
    for (package, key, origin) in &outcome.fetched {
        println!("{package}: {key} ({origin})");
    }
    for (package, key, error) in &outcome.failed {
        eprintln!(
            "error: {package}: {key}: {}",
            hit_engine::errors::with_causes(error)
        );
    }
    println!(
        "{} in the source cache, {} failed",
        count(outcome.fetched.len(), "source", "sources"),
        outcome.failed.len()
    );
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn mirror_create(
    home: &Home,
    dir: &Path,
    targets: &[std::path::PathBuf],
    params: &[String],
) -> Result<ExitCode> {
    let outcome = hit::ops::sources::mirror_create(home, dir, targets, params)?;
    for key in &outcome.added {
        println!("added {key}");
    }
    for (package, key, error) in &outcome.failed {
        eprintln!(
            "error: {package}: {key}: {}",
            hit_engine::errors::with_causes(error)
        );
    }
    println!(
        "mirror {}: {} added, {} already there, {} failed",
        dir.display(),
        count(outcome.added.len(), "source", "sources"),
        outcome.present,
        outcome.failed.len()
    );
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn unpack(home: &Home, key: &str, dir: &Path, options: UnpackOptions) -> Result<ExitCode> {
    hit::ops::sources::unpack(home, key, dir, options)?;
    Ok(ExitCode::SUCCESS)
}

pub fn purge(home: &Home, id: &str, force: bool) -> Result<ExitCode> {
    let id: ArtifactId = id.parse().map_err(hit::Error::from)?;
    match hit::ops::gc::purge(home, &id, force)? {
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

/// Says, on stderr, who a command waits for.
fn waiting(text: &str) {
    eprintln!("{text}");
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn gc(home: &Home, dry_run: bool, list: bool, all: bool) -> Result<ExitCode> {
    if list {
        for root in hit::ops::gc::roots(home)? {
            if let Some(reason) = &root.stale {
                println!("{} (stale: {reason})", root.record.link.display());
            }
            for (how, id) in &root.artifacts {
                println!("{how} -> {id}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let options = hit_engine::gc::GcOptions { all_failures: all };
    let (plan, report) = match hit::ops::gc::gc(home, dry_run, options, &waiting)? {
        GcOutcome::Planned(plan) => (plan, None),
        GcOutcome::Done { plan, report } => (plan, Some(report)),
    };
    for (path, why) in &plan.unreadable {
        println!(
            "keep {}: {why}; gc cannot tell it is an unreachable artifact (`hit verify` says more)",
            path.display()
        );
    }
    for path in &plan.foreign {
        println!("leave alone {}: not made by hit", path.display());
    }
    let Some(report) = report else {
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
    };
    println!(
        "deleted {}, {} and {} of failed or interrupted work, freed {}; dropped {} and {} of interrupted builds; kept {}",
        count(report.artifacts, "artifact", "artifacts"),
        count(report.sources, "source", "sources"),
        count(report.leftovers, "leftover", "leftovers"),
        megabytes(report.bytes),
        count(report.roots, "stale root", "stale roots"),
        count(report.claims, "claim", "claims"),
        count(plan.keep.len(), "artifact", "artifacts"),
    );
    if report.homes > 0 {
        println!(
            "forgot {} that used this store and {} gone",
            count(report.homes, "home", "homes"),
            if report.homes == 1 { "is" } else { "are" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(home: &Home, options: VerifyOptions) -> Result<ExitCode> {
    let verified = hit::ops::verify::verify(home, options, &waiting)?;
    let (report, corrupt) = (&verified.report, &verified.corrupt_sources);
    let sources = options.sources;
    for problem in &report.problems {
        println!("broken: {problem}");
    }
    for source in corrupt {
        println!(
            "broken: source {}: its contents hash to {} (repair removes it; the next build fetches it again)",
            source.path.display(),
            source.actual
        );
    }
    let sources_checked = if sources {
        format!(", {} corrupt", count(corrupt.len(), "source", "sources"))
    } else {
        String::new()
    };
    for leftover in &report.leftovers {
        println!("leftover: {leftover}");
    }
    for path in &report.foreign {
        println!("foreign: {}: not made by hit; left alone", path.display());
    }
    if !options.fast {
        let older = if report.without_manifest > 0 {
            format!(
                "; {} without a manifest (committed by an older hit): metadata only",
                report.without_manifest
            )
        } else {
            String::new()
        };
        println!(
            "contents: {} checked against their manifests ({}){older}",
            count(report.contents_checked, "artifact", "artifacts"),
            megabytes(report.bytes_checked)
        );
    }
    let summary = format!(
        "checked {} and {}: {} broken, {}{sources_checked}",
        count(report.artifacts, "artifact", "artifacts"),
        count(report.links, "profile link", "profile links"),
        report.problems.len(),
        count(report.leftovers.len(), "leftover", "leftovers"),
    );
    let Some(done) = &verified.repaired else {
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
    };
    println!(
        "{summary}; repaired {}, cleared {}",
        done.fixed,
        count(done.cleaned, "leftover", "leftovers")
    );
    if done.unrecognized > 0 {
        eprintln!(
            "error: {} in the store not recognisably hit's; repair left them alone: move \
             them out of the store, or delete them",
            count(done.unrecognized, "directory is", "directories are")
        );
    }
    if done.unfixable > 0 {
        eprintln!(
            "error: {} no intact generation left; build their profiles again",
            count(done.unfixable, "profile link has", "profile links have")
        );
    }
    if done.unfixable > 0 || done.unrecognized > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
