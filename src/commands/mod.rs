//! One function per command: take the parsed arguments, call the engine, print.

mod build;
mod inspect;
mod links;
mod store;

use crate::cli::{Cli, Command, ProfileArg, ShowWhat};
use crate::loader::FsLoader;
use anyhow::{Context, Result, bail};
use hit_engine::home::Home;
use hit_engine::source::SourceCache;
use hit_engine::spec::BuildSpec;
use hit_lang::{Evaluator, Plan, PlanOptions, PlannedPackage};
use std::io::Read;
use std::path::{Path, PathBuf};
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
    match cli.command {
        Command::InitHome => store::init_home(&home_dir),
        Command::Build {
            target,
            params,
            options,
        } => build::build(&home()?, target, &params, &options),
        Command::Status { profile, params } => inspect::status(
            &home()?,
            &profile.unwrap_or_else(|| PathBuf::from(DEFAULT_PROFILE)),
            &params,
        ),
        Command::Show {
            what: ShowWhat::Buildspec { package, profile },
        } => inspect::show_buildspec(&package, &profile),
        Command::Show {
            what: ShowWhat::Script { package, profile },
        } => inspect::show_script(&package, &profile),
        Command::Bdir {
            package,
            dir,
            profile,
        } => inspect::bdir(&home()?, &package, &dir, &profile),
        Command::Hash { target, profile } => {
            println!("{}", target_spec(&target, &profile)?.id());
            Ok(ExitCode::SUCCESS)
        }
        Command::Resolve(args) => store::resolve(&home()?, &args),
        Command::Fetch { url, key } => store::fetch(&home()?, &url, key.as_deref()),
        Command::Unpack {
            key,
            dir,
            strip,
            force,
        } => store::unpack(&home()?, &key, &dir, strip, force),
        Command::Gc { dry_run, list, all } => store::gc(&home()?, dry_run, list, all),
        Command::Purge { id, force } => store::purge(&home()?, &id, force),
        Command::Verify { repair, sources } => store::verify(&home()?, repair, sources),
        Command::Generations { link, delete } => {
            links::generations(&home()?, link.as_deref(), delete.as_deref())
        }
        Command::Rollback { link, to } => links::rollback(&home()?, link.as_deref(), to),
        Command::Cp { from, to } => links::copy(&home()?, &from, &to),
        Command::Mv { from, to } => links::rename(&home()?, &from, &to),
        Command::Rm { link } => links::remove(&home()?, &link),
    }
}

/// The profile `hit build` and `hit status` use when given none.
pub const DEFAULT_PROFILE: &str = "default.rhai";

fn home_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = explicit.filter(|dir| !dir.as_os_str().is_empty()) {
        return std::path::absolute(&dir).with_context(|| format!("{}", dir.display()));
    }
    let user_home = std::env::var_os("HOME").filter(|home| !home.is_empty());
    let Some(user_home) = user_home else {
        bail!("neither HIT_HOME nor HOME is set; say where the store lives with --home DIR")
    };
    Ok(PathBuf::from(user_home).join(".hit"))
}

fn read_spec(path: &Path) -> Result<BuildSpec> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the build spec from standard input")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    BuildSpec::from_json(&text).with_context(|| format!("{}", path.display()))
}

/// A build.json (or `-`), or else the name of a package of `profile`.
fn target_spec(target: &str, profile: &ProfileArg) -> Result<BuildSpec> {
    let path = Path::new(target);
    if target == "-" || path.is_file() || target.ends_with(".json") {
        if !profile.params.is_empty() {
            bail!("KEY=VALUE parameters are for packages of a profile; a build.json has none");
        }
        return read_spec(path);
    }
    Ok(
        package_of(&load_plan(&profile.profile, &profile.params, None)?, target)?
            .spec
            .clone(),
    )
}

/// The package directory shipped with hit's sources, searched after a profile's own.
/// The source cache of `home`, with hit's own small mirror (`packages/sources/`: the sources
/// whose only public copy has no URL) tried after the configured ones.
pub fn source_cache(home: &Home) -> SourceCache {
    let cache = SourceCache::for_home(home);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages/sources");
    if shipped.is_dir() {
        cache.with_last_mirror(shipped.display().to_string())
    } else {
        cache
    }
}

fn default_package_dirs() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages");
    if repo.is_dir() {
        vec![repo]
    } else {
        Vec::new()
    }
}

/// `key=value` words as parameters: `true`/`false` are booleans, integers are integers.
fn parse_params(words: &[String]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut params = serde_json::Map::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            bail!("{word:?}: parameters are written KEY=VALUE")
        };
        if !hit_engine::spec::is_variable_name(key) {
            bail!("{word:?}: {key:?} is not a parameter name (letters, digits, `_`)");
        }
        let value = match value {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            other => other
                .parse::<i64>()
                .map_or_else(|_| serde_json::Value::String(other.to_owned()), Into::into),
        };
        params.insert(key.to_owned(), value);
    }
    Ok(params)
}

fn load_plan(profile: &Path, params: &[String], jobs: Option<usize>) -> Result<Plan> {
    load_plan_with(profile, params, jobs, &FsLoader)
}

/// The absolute path of a profile file that must exist.
fn profile_file(profile: &Path) -> Result<PathBuf> {
    if !profile.is_file() {
        bail!(
            "no profile {} here (give a profile script, e.g. `hit build my-stack.rhai`)",
            profile.display()
        );
    }
    std::path::absolute(profile).with_context(|| format!("{}", profile.display()))
}

fn load_plan_with(
    profile: &Path,
    params: &[String],
    jobs: Option<usize>,
    loader: &dyn hit_lang::Loader,
) -> Result<Plan> {
    let file = profile_file(profile)?;
    let options = PlanOptions {
        params: parse_params(params)?,
        jobs: jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        default_dirs: default_package_dirs(),
    };
    Ok(hit_lang::plan(&Evaluator::new(), loader, &file, &options)?)
}

fn package_of<'a>(plan: &'a Plan, name: &str) -> Result<&'a PlannedPackage> {
    plan.get(name).with_context(|| {
        let names: Vec<&str> = plan.packages.iter().map(|p| p.name.as_str()).collect();
        format!(
            "profile {} has no package {name:?} (it has: {})",
            plan.profile.file.display(),
            names.join(", ")
        )
    })
}
