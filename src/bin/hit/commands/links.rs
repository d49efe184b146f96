//! Profile links over time: `hit generations`, `rollback`, `cp`, `mv`, `rm`.

use anyhow::Result;
use hit::ops::links::{self, Change, LinkHistory, PackageChange};
use hit_engine::home::Home;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

pub fn generations(
    home: &Home,
    link: Option<&Path>,
    delete: Option<&[String]>,
) -> Result<ExitCode> {
    if let (Some(link), Some(words)) = (link, delete) {
        let dropped = links::delete_generations(home, link, words)?;
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
    let histories = links::history(home, link)?;
    if histories.is_empty() {
        println!("no profile links yet: `hit build` a profile to make one");
    }
    for history in &histories {
        print_history(history);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_history(history: &LinkHistory) {
    let status = match &history.stale {
        Some(reason) => format!("  (stale: {reason}; `hit gc` drops it)"),
        None if history.current.is_none() => "  (points at none of its generations)".into(),
        None => String::new(),
    };
    println!("{}{status}", shown(&history.link).display());
    for generation in &history.generations {
        let change = match &generation.change {
            Change::Gone => "(gone from the store)".to_owned(),
            Change::First(1) => "1 package".to_owned(),
            Change::First(count) => format!("{count} packages"),
            Change::Packages(changes) if changes.is_empty() => "no package changed".into(),
            Change::Packages(changes) => changes
                .iter()
                .map(|change| match change {
                    PackageChange::Added(name) => format!("+{name}"),
                    PackageChange::Removed(name) => format!("-{name}"),
                    PackageChange::Upgraded { name, from, to } => format!("{name} {from}->{to}"),
                    PackageChange::Rebuilt(name) => format!("~{name}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
        };
        let current = if history.current == Some(generation.number) {
            "  (current)"
        } else {
            ""
        };
        println!(
            "{:>5}  {}  {change}{current}",
            generation.number,
            utc(generation.created)
        );
    }
    if let Some(target) = &history.elsewhere {
        println!("    -> {}", target.display());
    }
}

/// A link as the user would type it from here: `./name` in this directory.
fn shown(link: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|here| link.strip_prefix(here).ok().map(|p| Path::new(".").join(p)))
        .unwrap_or_else(|| link.to_path_buf())
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
pub fn rollback(home: &Home, link: Option<&Path>, to: Option<u32>) -> Result<ExitCode> {
    let (link, generation) = links::rollback(home, link, to)?;
    println!(
        "{} -> generation {} ({})",
        shown(&link).display(),
        generation.number,
        generation.target.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn copy(home: &Home, from: &Path, to: &Path) -> Result<ExitCode> {
    links::copy(home, from, to)?;
    println!("copied {} to {}", from.display(), to.display());
    Ok(ExitCode::SUCCESS)
}

pub fn rename(home: &Home, from: &Path, to: &Path) -> Result<ExitCode> {
    links::rename(home, from, to)?;
    println!("moved {} to {}", from.display(), to.display());
    Ok(ExitCode::SUCCESS)
}

pub fn remove(home: &Home, link: &Path) -> Result<ExitCode> {
    let generations = links::remove(home, link)?;
    println!(
        "removed {} and its {generations} generation{}; `hit gc` frees what only they used",
        link.display(),
        if generations == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
