//! `hit build`: one build spec, or a whole profile (see `hit::ops::build`).

use crate::cli::BuildOptions as BuildArgs;
use crate::report::{Output, Progress, count};
use anyhow::Result;
use hit::ops::ProfileRequest;
use hit::ops::build::{self, BuildOptions, Linked, ProfileBuild};
use hit_engine::build::BuildOutcome;
use hit_engine::home::Home;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn build(
    home: &Home,
    target: Option<PathBuf>,
    params: Vec<String>,
    args: &BuildArgs,
) -> Result<ExitCode> {
    let target = target.unwrap_or_else(|| PathBuf::from(hit::ops::DEFAULT_PROFILE));
    let options = BuildOptions {
        jobs: args
            .jobs
            .unwrap_or_else(BuildOptions::default_jobs)
            .clamp(1, hit_engine::jobserver::MAX_TOKENS),
        fail_fast: args.fail_fast,
        caches: !args.no_caches,
        sandbox: match (args.sandbox, args.no_sandbox) {
            (true, _) => Some(hit_engine::sandbox::Mode::On),
            (_, true) => Some(hit_engine::sandbox::Mode::Off),
            _ => None,
        },
    };
    let progress = Progress::new(output(args));
    if args.dry_run && args.locked {
        return Err(hit::Error::Input("--dry-run and --locked do not go together".into()).into());
    }
    let is_spec = target == Path::new("-") || target.extension().is_some_and(|ext| ext == "json");
    if is_spec {
        if !params.is_empty() {
            return Err(hit::Error::Input(
                "KEY=VALUE parameters are for profiles; a build.json has none".into(),
            )
            .into());
        }
        let spec = hit::ops::read_spec(&target)?;
        let outcome = build::build_spec(home, &spec, &options, &progress);
        progress.finish();
        let (path, code) = match outcome? {
            BuildOutcome::AlreadyBuilt { path } => {
                if progress.output() != Output::Json && !args.quiet {
                    progress.say(&format!("{} is already built", spec.id()));
                }
                (Some(path), ExitCode::SUCCESS)
            }
            BuildOutcome::Built { path, .. } => (Some(path), ExitCode::SUCCESS),
            BuildOutcome::Fetched { fetched, .. } => (Some(fetched.path), ExitCode::SUCCESS),
            BuildOutcome::Failed(_) => (None, ExitCode::FAILURE),
        };
        if let Some(path) = path {
            match progress.output() {
                Output::Json => progress
                    .json(json!({"event": "artifact", "id": spec.id().to_string(), "path": path})),
                Output::Human { .. } => println!("{}", path.display()),
            }
        }
        return Ok(code);
    }
    let request = ProfileRequest {
        file: target,
        params,
    };
    if args.dry_run {
        return dry_run(home, &request);
    }
    let lock = if args.locked {
        let file = args
            .lock
            .clone()
            .unwrap_or_else(|| hit::ops::lock::default_path(&request.file));
        if !file.exists() {
            return Err(hit::Error::Input(format!(
                "--locked: no lockfile {}; write one with `hit lock {}`",
                file.display(),
                request.file.display()
            ))
            .into());
        }
        Some(hit::ops::lock::Lockfile::read(&file)?)
    } else {
        None
    };
    let result = build::build_profile(home, &request, &options, lock.as_ref(), &progress);
    progress.finish();
    match result? {
        ProfileBuild::Linked(linked) => {
            report_linked(&linked, &progress);
            Ok(ExitCode::SUCCESS)
        }
        ProfileBuild::Failed(failed) => {
            if progress.output() == Output::Json {
                progress.json(json!({
                    "event": "summary", "built": failed.built, "fetched": failed.fetched,
                    "present": failed.present,
                    "failed": failed.failed, "skipped": failed.skipped,
                    "not_started": failed.not_started,
                }));
            } else {
                let mut text = format!(
                    "error: {} failed: {}",
                    if failed.failed.len() == 1 {
                        "1 package"
                    } else {
                        "packages"
                    },
                    failed.failed.join(", ")
                );
                if !failed.skipped.is_empty() {
                    text.push_str(&format!(
                        "\nskipped because of that: {}",
                        failed.skipped.join(", ")
                    ));
                }
                if !failed.not_started.is_empty() {
                    text.push_str(&format!(
                        "\nnot started (--fail-fast): {}",
                        failed.not_started.join(", ")
                    ));
                }
                text.push_str(&format!(
                    "\n{} built, {}{} already built; the profile link was not changed",
                    failed.built,
                    fetched_count(failed.fetched),
                    failed.present
                ));
                eprintln!("{text}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `3 fetched, ` when some packages came from a binary cache, else nothing.
fn fetched_count(fetched: usize) -> String {
    if fetched == 0 {
        String::new()
    } else {
        format!("{fetched} fetched, ")
    }
}

fn output(args: &BuildArgs) -> Output {
    if args.json {
        Output::Json
    } else {
        Output::Human {
            verbose: args.verbose,
            quiet: args.quiet,
        }
    }
}

/// The last words of a successful profile build.
fn report_linked(linked: &Linked, progress: &Progress) {
    let Linked {
        name,
        packages,
        built,
        fetched,
        present,
        link,
        path,
        generation,
    } = linked;
    match progress.output() {
        Output::Json => progress.json(json!({
            "event": "profile", "name": name, "packages": packages,
            "built": built, "fetched": fetched, "present": present, "link": link, "path": path,
            "generation": generation,
        })),
        Output::Human { quiet, .. } => {
            if !quiet {
                // Linked packages and the plan's builds are different counts: build tools are
                // built but not linked.
                eprintln!(
                    "profile {name}: {} linked, {} in the plan ({built} built, {}{present} already built) -> ./{} (generation {generation})",
                    count(*packages, "package", "packages"),
                    built + fetched + present,
                    fetched_count(*fetched),
                    link.display()
                );
            }
            println!("{}", path.display());
        }
    }
}

fn dry_run(home: &Home, request: &ProfileRequest) -> Result<ExitCode> {
    let dry = build::dry_run(home, request)?;
    let mut to_build = 0;
    for package in &dry.packages {
        if package.built {
            println!("reuse  {} ({})", package.name, package.id);
            continue;
        }
        to_build += 1;
        println!("build  {} ({})", package.name, package.id);
        for (key, url) in &package.fetch {
            match url {
                Some(url) => println!("  fetch {key} from {url}"),
                None => println!("  fetch {key} (from a mirror: it has no URL)"),
            }
        }
    }
    let fetches: usize = dry.packages.iter().map(|p| p.fetch.len()).sum();
    println!(
        "profile {}: would build {}, reuse {}, fetch {}{}",
        dry.profile,
        count(to_build, "package", "packages"),
        dry.packages.len() - to_build,
        count(fetches, "source", "sources"),
        if dry.profile_built {
            "; the profile is built, only its link would move"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `hit lock`: writes the lockfile of what the profile evaluates to now.
pub fn lock(request: &ProfileRequest, output: Option<PathBuf>) -> Result<ExitCode> {
    let lock = hit::ops::lock::lock(request)?;
    let file = output.unwrap_or_else(|| hit::ops::lock::default_path(&request.file));
    lock.write(&file)?;
    println!(
        "wrote {}: {} of profile {}",
        file.display(),
        count(lock.packages.len(), "package", "packages"),
        lock.profile
    );
    Ok(ExitCode::SUCCESS)
}
