//! `hit status`, `hit show`, `hit resolve`, `hit bdir`.

use super::request;
use crate::cli::{ProfileArg, ResolveArgs};
use anyhow::Result;
use hit::ops::ProfileRequest;
use hit::ops::inspect::{self, Shown};
use hit_engine::home::Home;
use hit_engine::spec::ArtifactId;
use std::path::Path;
use std::process::ExitCode;

pub fn status(home: &Home, request: &ProfileRequest) -> Result<ExitCode> {
    let (plan, packages) = inspect::status(home, request)?;
    println!(
        "profile {} ({})",
        plan.profile.name,
        plan.profile.file.display()
    );
    let width = packages.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let version = |p: &inspect::PackageStatus| p.version.clone().unwrap_or_else(|| "-".into());
    let version_width = packages.iter().map(|p| version(p).len()).max().unwrap_or(0);
    for package in &packages {
        let state = if package.built { "built" } else { "missing" };
        let role = if package.linked { "" } else { "  (build only)" };
        println!(
            "  {:width$}  {:version_width$}  {}  {state}{role}",
            package.name,
            version(package),
            &package.id.hash()[..12],
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(package: &str, profile: ProfileArg, what: Shown) -> Result<ExitCode> {
    print!("{}", inspect::show(package, &request(profile), what)?);
    Ok(ExitCode::SUCCESS)
}

pub fn resolve(home: &Home, args: ResolveArgs) -> Result<ExitCode> {
    let id: ArtifactId = if args.by_id {
        args.target.parse().map_err(hit::Error::from)?
    } else {
        hit::ops::target_spec(&args.target, &request(args.profile))?
            .id()
            .clone()
    };
    match inspect::resolve(home, &id)? {
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

pub fn bdir(home: &Home, package: &str, dir: &Path, profile: ProfileArg) -> Result<ExitCode> {
    let dir = inspect::bdir(home, package, dir, &request(profile))?;
    eprintln!(
        "sources of {package} unpacked; to build by hand:\n  cd {} && sh hit-build.sh",
        dir.display()
    );
    println!("{}", dir.display());
    Ok(ExitCode::SUCCESS)
}
