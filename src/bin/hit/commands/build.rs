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
        executor: args.executor.map(|executor| match executor {
            crate::cli::ExecutorArg::Local => hit_engine::home::ExecutorKind::Local,
            crate::cli::ExecutorArg::Slurm => hit_engine::home::ExecutorKind::Slurm,
        }),
        retries: args.retries,
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
        if args.check && path.is_some() {
            let packages = [(spec.name().to_string(), spec.clone())];
            return check(home, &packages, &options, args, &progress);
        }
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
            if args.check {
                let packages = hit::ops::check::profile_packages(&request)?;
                return check(home, &packages, &options, args, &progress);
            }
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

/// `hit build --check`: rebuilds and compares each package, saying how each went as it
/// ends; exit 1 when one differs or its rebuild failed.
fn check(
    home: &Home,
    packages: &[(String, hit_engine::spec::BuildSpec)],
    options: &BuildOptions,
    args: &BuildArgs,
    progress: &Progress,
) -> Result<ExitCode> {
    use hit_engine::build::CheckOutcome;
    let rounds = args.rounds.unwrap_or(1) as usize;
    let diffoscope = which("diffoscope");
    let mut say = |checked: &hit::ops::check::Checked| {
        let id = &checked.id;
        if progress.output() == Output::Json {
            let rounds: Vec<_> = checked
                .rounds
                .iter()
                .map(|round| match round {
                    CheckOutcome::Same { duration, .. } => {
                        json!({"same": true, "duration_ms": duration.as_millis() as u64})
                    }
                    CheckOutcome::Differs { rebuild, differences, .. } => json!({
                        "same": false, "rebuild": rebuild,
                        "differences": differences.iter().map(|d| json!({"path": d.path, "what": d.what})).collect::<Vec<_>>(),
                    }),
                    CheckOutcome::Failed(failure) => json!({
                        "same": null, "error": failure.cause.to_string(), "log": failure.log,
                        "log_tail": failure.log_tail,
                    }),
                })
                .collect();
            progress.json(json!({
                "event": "checked", "name": checked.name, "id": id.to_string(),
                "reproducible": checked.reproducible(), "rounds": rounds,
            }));
            return;
        }
        for round in &checked.rounds {
            match round {
                CheckOutcome::Same { duration, .. } => progress.say(&format!(
                    "{id}: reproducible (rebuilt in {:.1} s, the same files)",
                    duration.as_secs_f64()
                )),
                CheckOutcome::Differs {
                    path,
                    rebuild,
                    differences,
                } => {
                    let mut text = format!(
                        "{id}: NOT reproducible: {} differ{} (the rebuild is kept in {}):",
                        count(differences.len(), "path", "paths"),
                        if differences.len() == 1 { "s" } else { "" },
                        rebuild.display()
                    );
                    for difference in differences {
                        text.push_str(&format!("\n  {difference}"));
                    }
                    if let Some(first) = differences.first() {
                        text.push_str(&format!(
                            "\n  {} {} {}",
                            if diffoscope {
                                "compare:"
                            } else {
                                "compare (diffoscope is not installed):"
                            },
                            hit_engine::shell::quote(&[
                                "diffoscope".to_owned(),
                                path.join(&first.path).display().to_string()
                            ]),
                            hit_engine::shell::quote(&[rebuild
                                .join(&first.path)
                                .display()
                                .to_string()])
                        ));
                    }
                    progress.say(&text);
                }
                CheckOutcome::Failed(failure) => progress.say(&format!(
                    "{id}: the rebuild failed: {}",
                    crate::report::failure(
                        failure,
                        matches!(progress.output(), Output::Human { verbose: true, .. })
                    )
                )),
            }
        }
    };
    let checked = hit::ops::check::check(home, packages, rounds, options, progress, &mut say)?;
    let differ: Vec<&str> = checked
        .iter()
        .filter(|checked| !checked.reproducible())
        .map(|checked| checked.name.as_str())
        .collect();
    if progress.output() != Output::Json {
        if differ.is_empty() {
            progress.say(&format!(
                "checked {}: all reproducible",
                count(checked.len(), "package", "packages")
            ));
        } else {
            progress.say(&format!(
                "error: not reproducible: {} (of {} checked)",
                differ.join(", "),
                checked.len()
            ));
        }
    }
    Ok(if differ.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether `program` is on PATH.
fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
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
