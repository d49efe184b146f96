//! `hit key generate`, `hit push`, `hit pull` (see `hit::ops::cache`).

use crate::report::count;
use anyhow::Result;
use hit::ops::cache as ops;
use hit_engine::home::Home;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

pub fn generate_key(home: &Home, name: &str, dir: Option<&Path>) -> Result<ExitCode> {
    let (public, secret_file, public_file) = ops::generate_key(home, name, dir)?;
    eprintln!(
        "wrote {} (secret: keep it to yourself) and {}",
        secret_file.display(),
        public_file.display()
    );
    eprintln!(
        "to push with it, in config.yaml: signing_key: {}",
        secret_file.display()
    );
    eprintln!(
        "to trust it, in the config.yaml of every store that pulls: trusted_keys: [\"{public}\"]"
    );
    println!("{public}");
    Ok(ExitCode::SUCCESS)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn push(
    home: &Home,
    cache: &Path,
    targets: &[String],
    key: Option<&Path>,
    force: bool,
    dry_run: bool,
) -> Result<ExitCode> {
    let cache_text = cache.display().to_string();
    let (plan, ids) = ops::push_plan(home, &cache_text, targets, force)?;
    if dry_run {
        for item in &plan.items {
            let note = if item.relocation.relocatable() {
                String::new()
            } else {
                format!(" (not relocatable: {})", item.relocation.binary.join(", "))
            };
            println!("push     {}{note}", item.id);
        }
        for id in &plan.present {
            println!("present  {id}");
        }
        eprintln!(
            "would push {}, {} in {cache_text} already",
            count(plan.items.len(), "artifact", "artifacts"),
            plan.present.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let pushed = ops::push(home, &plan, key, &|pushed| {
        eprintln!(
            "pushed {} ({} -> {})",
            pushed.id,
            megabytes(pushed.unpacked),
            megabytes(pushed.bytes)
        );
    })?;
    let bytes: u64 = pushed.iter().map(|p| p.bytes).sum();
    eprintln!(
        "pushed {} ({}) to {cache_text} in {:.1} s; {} there already",
        count(pushed.len(), "artifact", "artifacts"),
        megabytes(bytes),
        started.elapsed().as_secs_f64(),
        plan.present.len()
    );
    // What to give `hit pull` elsewhere.
    for id in ids {
        println!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pull(
    home: &Home,
    cache: &str,
    targets: &[String],
    link: Option<&Path>,
    dry_run: bool,
) -> Result<ExitCode> {
    let link_id = link.map(|_| ops::link_target(targets)).transpose()?;
    let (substituter, plan) = ops::pull_plan(home, Some(cache), targets)?;
    if dry_run {
        for (_, entry) in &plan.items {
            println!("pull     {} ({})", entry.id, megabytes(entry.archive.size));
        }
        for id in &plan.present {
            println!("present  {id}");
        }
        let bytes: u64 = plan.items.iter().map(|(_, e)| e.archive.size).sum();
        eprintln!(
            "would pull {} ({}), {} here already",
            count(plan.items.len(), "artifact", "artifacts"),
            megabytes(bytes),
            plan.present.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let live = std::io::stderr().is_terminal();
    let last_shown = Mutex::new(std::time::Instant::now());
    let (fetched, generation) = ops::pull(
        home,
        &substituter,
        &plan,
        link.zip(link_id.as_ref()),
        &|id, progress| {
            // On a terminal, a line that updates itself twice a second at most.
            let mut last = last_shown.lock().expect("not poisoned");
            if live && last.elapsed().as_millis() >= 500 {
                *last = std::time::Instant::now();
                eprint!("\r\x1b[Kfetching {id}: {}", megabytes(progress.done));
            }
        },
        &|fetched| {
            if live {
                eprint!("\r\x1b[K");
            }
            eprintln!(
                "fetched {} ({})",
                fetched.path.display(),
                megabytes(fetched.bytes)
            );
        },
    )?;
    let bytes: u64 = fetched.iter().map(|f| f.bytes).sum();
    eprintln!(
        "pulled {} ({}) from {cache} in {:.1} s; {} here already",
        count(fetched.len(), "artifact", "artifacts"),
        megabytes(bytes),
        started.elapsed().as_secs_f64(),
        plan.present.len()
    );
    if let (Some(link), Some(generation)) = (link, generation) {
        eprintln!("{} -> generation {generation}", link.display());
    }
    Ok(ExitCode::SUCCESS)
}
