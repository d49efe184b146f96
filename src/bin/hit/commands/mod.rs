//! One function per command: clap's arguments -> an options struct -> one `hit::ops`
//! call -> print what it returned.

mod build;
mod cache;
mod env;
mod inspect;
mod links;
mod store;

use crate::cli::{Cli, Command, ProfileArg, ShowWhat};
use anyhow::{Context, Result, bail};
use hit::ops::ProfileRequest;
use hit_engine::home::Home;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let home_dir = home_dir(cli.home)?;
    // Said once, when the home is made: artifacts live under it, and many build systems
    // (libtool, configure scripts, Makefiles) break on a prefix with a space.
    if home_dir.to_string_lossy().contains(char::is_whitespace)
        && !home_dir.join(hit_engine::home::CONFIG_FILE).exists()
    {
        eprintln!(
            "warning: the hit home {} has a space in its path; many packages fail to build \
             under such a prefix (libtool, configure scripts): prefer a HIT_HOME without spaces",
            home_dir.display()
        );
    }
    let home = || Home::open(&home_dir);
    hit::loader::set_home(&home_dir);
    // How this command names its profile, for a profile that is not there.
    let name_it = match &cli.command {
        Command::Build { .. } => "give a profile script, e.g. `hit build my-stack.rhai`",
        Command::Status { .. } => "give a profile script, e.g. `hit status my-stack.rhai`",
        _ => "name the profile with `-p PROFILE`, e.g. `-p my-stack.rhai`",
    };
    run_command(cli.command, &home_dir, home).map_err(|error| {
        match error.downcast_ref::<hit::Error>() {
            Some(no_profile @ hit::Error::NoProfile(_)) => {
                hit::Error::Input(format!("{no_profile} ({name_it})")).into()
            }
            _ => error,
        }
    })
}

fn run_command(
    command: Command,
    home_dir: &std::path::Path,
    home: impl Fn() -> Result<Home, hit_engine::home::HomeError>,
) -> Result<ExitCode> {
    match command {
        Command::InitHome => store::init_home(home_dir),
        Command::Build {
            target,
            params,
            options,
        } => build::build(&home()?, target, params, &options),
        Command::Status { profile, params } => inspect::status(
            &home()?,
            &ProfileRequest {
                file: profile.unwrap_or_else(|| PathBuf::from(hit::ops::DEFAULT_PROFILE)),
                params,
            },
        ),
        Command::List { profile, params } => {
            inspect::list(profile.map(|file| ProfileRequest { file, params }).as_ref())
        }
        Command::Info {
            package,
            profile,
            params,
        } => inspect::info(
            &home()?,
            &package,
            profile.map(|file| ProfileRequest { file, params }).as_ref(),
        ),
        Command::Graph {
            target,
            params,
            format,
        } => inspect::graph(
            &home()?,
            &ProfileRequest {
                file: target.unwrap_or_else(|| PathBuf::from(hit::ops::DEFAULT_PROFILE)),
                params,
            },
            format,
        ),
        Command::Why {
            package,
            profile,
            link,
        } => inspect::why(&home()?, &package, &request(profile), link.as_deref()),
        Command::Diff { old, new } => inspect::diff(&home()?, &old, &new),
        Command::Show {
            what: ShowWhat::Buildspec { package, profile },
        } => inspect::show(&package, profile, hit::ops::inspect::Shown::BuildSpec),
        Command::Show {
            what: ShowWhat::Script { package, profile },
        } => inspect::show(&package, profile, hit::ops::inspect::Shown::Script),
        Command::Show {
            what: ShowWhat::Relocation { package, profile },
        } => inspect::relocation(&home()?, &package, profile),
        Command::Bdir {
            package,
            dir,
            profile,
        } => inspect::bdir(&home()?, &package, &dir, profile),
        Command::Hash { target, profile } => {
            println!(
                "{}",
                hit::ops::target_spec(&target, &request(profile))?.id()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Resolve(args) => inspect::resolve(&home()?, args),
        Command::Fetch {
            url: Some(url),
            branch: Some(branch),
            ..
        } => store::fetch_branch(&home()?, &url, &branch),
        Command::Fetch {
            url: Some(url),
            key,
            ..
        } => store::fetch(&home()?, &url, key.as_deref()),
        Command::Fetch { lock, .. } => {
            let lock = lock.expect("clap requires a URL or --lock");
            store::fetch_locked(&home()?, &lock)
        }
        Command::Mirror {
            what:
                crate::cli::MirrorWhat::Create {
                    dir,
                    targets,
                    params,
                },
        } => store::mirror_create(&home()?, &dir, &targets, &params),
        Command::Key {
            what: crate::cli::KeyWhat::Generate { name, dir },
        } => cache::generate_key(&home()?, &name, dir.as_deref()),
        Command::Push {
            cache,
            targets,
            key,
            force,
            dry_run,
        } => cache::push(&home()?, &cache, &targets, key.as_deref(), force, dry_run),
        Command::Pull {
            cache,
            targets,
            link,
            dry_run,
        } => cache::pull(&home()?, &cache, &targets, link.as_deref(), dry_run),
        Command::Lock {
            profile,
            params,
            output,
        } => build::lock(
            &ProfileRequest {
                file: profile.unwrap_or_else(|| PathBuf::from(hit::ops::DEFAULT_PROFILE)),
                params,
            },
            output,
        ),
        Command::Unpack {
            key,
            dir,
            strip,
            force,
        } => store::unpack(
            &home()?,
            &key,
            &dir,
            hit::ops::sources::UnpackOptions { strip, force },
        ),
        Command::Gc { dry_run, list, all } => store::gc(&home()?, dry_run, list, all),
        Command::Purge { id, force } => store::purge(&home()?, &id, force),
        Command::Verify {
            repair,
            sources,
            fast,
        } => store::verify(
            &home()?,
            hit::ops::verify::VerifyOptions {
                repair,
                sources,
                fast,
            },
        ),
        Command::Generations { link, delete } => {
            links::generations(&home()?, link.as_deref(), delete.as_deref())
        }
        Command::Rollback { link, to } => links::rollback(&home()?, link.as_deref(), to),
        Command::Cp { from, to } => links::copy(&home()?, &from, &to),
        Command::Mv { from, to } => links::rename(&home()?, &from, &to),
        Command::Rm { link } => links::remove(&home()?, &link),
        Command::Env {
            target,
            params,
            shell,
            unset,
            dev,
        } => env::env(
            &home()?,
            &ProfileRequest {
                file: target,
                params,
            },
            shell,
            unset,
            dev,
        ),
        Command::Modules {
            target,
            dir,
            params,
            format,
            dry_run,
        } => env::modules(
            &home()?,
            &ProfileRequest {
                file: target,
                params,
            },
            &dir,
            format,
            dry_run,
        ),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "hit", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => man(dir.as_deref()),
        Command::Develop {
            target,
            dir,
            params,
            update,
            dry_run,
        } => env::develop(
            &home()?,
            &ProfileRequest {
                file: target,
                params,
            },
            &dir,
            update,
            dry_run,
        ),
        Command::Shell {
            target,
            params,
            dev,
            command,
        } => env::shell(
            &home()?,
            &ProfileRequest {
                file: target,
                params,
            },
            dev,
            &command,
        ),
    }
}

/// hit(1), or a page per command in `dir` (`hit.1`, `hit-build.1`, ...).
fn man(dir: Option<&std::path::Path>) -> Result<ExitCode> {
    use clap::CommandFactory;
    let command = Cli::command();
    let Some(dir) = dir else {
        return match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
            // `hit man | head`: the reader has what it wanted.
            Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
            _ => Ok(ExitCode::SUCCESS),
        };
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![("hit".to_owned(), command.clone())];
    for sub in command.get_subcommands() {
        let name = format!("hit-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in &pages {
        let mut text = Vec::new();
        clap_mangen::Man::new(page.clone()).render(&mut text)?;
        let file = dir.join(format!("{name}.1"));
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    println!("wrote {} man pages into {}", pages.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}

fn request(profile: ProfileArg) -> ProfileRequest {
    ProfileRequest {
        file: profile.profile,
        params: profile.params,
    }
}

fn home_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = explicit.filter(|dir| !dir.as_os_str().is_empty()) {
        return std::path::absolute(&dir).with_context(|| format!("{}", dir.display()));
    }
    let user_home = std::env::var_os("HOME").filter(|home| !home.is_empty());
    let Some(user_home) = user_home else {
        bail!(hit::Error::Input(
            "neither HIT_HOME nor HOME is set; say where the store lives with --home DIR".into()
        ))
    };
    Ok(PathBuf::from(user_home).join(".hit"))
}
