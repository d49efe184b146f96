//! Commands on the store and the source cache.

use super::target_spec;
use crate::cli::ResolveArgs;
use anyhow::Result;
use hit_engine::home::{Home, InitOutcome};
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
        target_spec(&args.target, &args.profile.profile)?
            .id()
            .clone()
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
