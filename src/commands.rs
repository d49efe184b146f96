//! One function per command: take the parsed arguments, call the engine, print.

use crate::cli::{Cli, Command, ResolveArgs};
use crate::report::{self, TerminalReporter};
use anyhow::{Context, Result, bail};
use hit_engine::build::{BuildOutcome, Builder};
use hit_engine::home::{Home, InitOutcome};
use hit_engine::source::SourceCache;
use hit_engine::spec::{ArtifactId, BuildSpec, SourceKey, Strip};
use hit_engine::store::Store;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let home_dir = home_dir(cli.home)?;
    match cli.command {
        Command::InitHome => init_home(&home_dir),
        Command::Hash { spec } => {
            println!("{}", read_spec(&spec)?.id());
            Ok(ExitCode::SUCCESS)
        }
        Command::Resolve(args) => resolve(&Home::open(&home_dir)?, &args),
        Command::Build { spec, verbose } => build(&Home::open(&home_dir)?, &spec, verbose),
        Command::Fetch { url, key } => fetch(&Home::open(&home_dir)?, &url, key.as_deref()),
        Command::Unpack { key, dir, strip } => unpack(&Home::open(&home_dir)?, &key, &dir, strip),
        Command::Purge { id } => purge(&Home::open(&home_dir)?, &id),
    }
}

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

fn init_home(dir: &Path) -> Result<ExitCode> {
    let (home, outcome) = Home::init(dir)?;
    match outcome {
        InitOutcome::Created => println!("created hit home {}", home.root().display()),
        InitOutcome::AlreadyThere => println!("hit home {} already exists", home.root().display()),
    }
    Ok(ExitCode::SUCCESS)
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

fn parse_id(text: &str) -> Result<ArtifactId> {
    Ok(text.parse()?)
}

fn resolve(home: &Home, args: &ResolveArgs) -> Result<ExitCode> {
    let id = if args.by_id {
        parse_id(&args.target)?
    } else {
        read_spec(Path::new(&args.target))?.id().clone()
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

fn build(home: &Home, spec_path: &Path, verbose: bool) -> Result<ExitCode> {
    let spec = read_spec(spec_path)?;
    let store = Store::for_home(home);
    let sources = SourceCache::for_home(home);
    let builder = Builder::new(&store, &sources, &home.config().env_whitelist);
    let reporter = TerminalReporter { verbose };
    match builder.build(&spec, &reporter)? {
        BuildOutcome::AlreadyBuilt { path } => {
            eprintln!("{} is already built", spec.id());
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        BuildOutcome::Built { path, duration } => {
            eprintln!("built {} in {:.1} s", spec.id(), duration.as_secs_f64());
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        BuildOutcome::Failed(failure) => {
            eprintln!("error: {}", report::failure(&failure));
            Ok(ExitCode::FAILURE)
        }
    }
}

fn fetch(home: &Home, url: &str, key: Option<&str>) -> Result<ExitCode> {
    let key: Option<SourceKey> = key.map(str::parse).transpose()?;
    let sources = SourceCache::for_home(home);
    let key = sources.fetch_url(url, key.as_ref())?;
    println!("{key}");
    Ok(ExitCode::SUCCESS)
}

fn unpack(home: &Home, key: &str, dir: &Path, strip: Option<u32>) -> Result<ExitCode> {
    let key: SourceKey = key.parse()?;
    let strip = match (strip, &key) {
        (Some(n), _) => Strip::Components(n),
        (None, SourceKey::Git(_) | SourceKey::Files(_)) => Strip::Components(0),
        (None, _) => Strip::Common,
    };
    SourceCache::for_home(home).unpack(&key, None, dir, strip)?;
    Ok(ExitCode::SUCCESS)
}

fn purge(home: &Home, id: &str) -> Result<ExitCode> {
    let id = parse_id(id)?;
    match Store::for_home(home).purge(&id)? {
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
