//! Looking at a profile's packages: `hit status`, `hit show`, `hit bdir`.

use super::{load_plan, package_of};
use crate::cli::ProfileArg;
use anyhow::{Context, Result, bail};
use hit_engine::home::Home;
use hit_engine::spec::pretty_document;
use hit_engine::store::Store;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn status(home: &Home, profile: &Path, params: &[String]) -> Result<ExitCode> {
    let plan = load_plan(profile, params, None)?;
    let store = Store::for_home(home);
    println!(
        "profile {} ({})",
        plan.profile.name,
        plan.profile.file.display()
    );
    let width = plan
        .packages
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    let version_width = plan
        .packages
        .iter()
        .map(|p| p.recipe.version.as_deref().unwrap_or("-").len())
        .max()
        .unwrap_or(0);
    for package in &plan.packages {
        let state = if store.resolve(package.spec.id())?.is_some() {
            "built"
        } else {
            "missing"
        };
        let role = if package.linked { "" } else { "  (build only)" };
        println!(
            "  {:width$}  {:version_width$}  {}  {state}{role}",
            package.name,
            package.recipe.version.as_deref().unwrap_or("-"),
            &package.spec.id().hash()[..12],
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show_buildspec(package: &str, profile: &ProfileArg) -> Result<ExitCode> {
    let plan = load_plan(&profile.profile, &profile.params, None)?;
    print!(
        "{}",
        pretty_document(package_of(&plan, package)?.spec.document())
    );
    Ok(ExitCode::SUCCESS)
}

pub fn show_script(package: &str, profile: &ProfileArg) -> Result<ExitCode> {
    let plan = load_plan(&profile.profile, &profile.params, None)?;
    print!("{}", package_of(&plan, package)?.script);
    Ok(ExitCode::SUCCESS)
}

/// Unpacks the package's sources into `dir` and writes `dir/hit-build.sh`: the environment
/// a real build would have (with `$ARTIFACT` in `dir/_artifact`) and the stages.
pub fn bdir(home: &Home, package: &str, dir: &Path, profile: &ProfileArg) -> Result<ExitCode> {
    let plan = load_plan(&profile.profile, &profile.params, None)?;
    let planned = package_of(&plan, package)?;
    let store = Store::for_home(home);
    let dir = std::path::absolute(dir)?;
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} is not empty; give a new or empty directory",
            dir.display()
        );
    }
    let mut env = String::new();
    let quote = |path: &Path| hit_engine::job::quote(&[path.display().to_string()]);
    writeln!(env, "export BUILD={}", quote(&dir))?;
    writeln!(env, "export ARTIFACT={}", quote(&dir.join("_artifact")))?;
    writeln!(env, "export HOME={}", quote(&dir.join("_home")))?;
    let mut bins = Vec::new();
    for import in planned.spec.imports() {
        let path = store.resolve(&import.id)?.with_context(|| {
            format!(
                "{} needs {}, which is not built; run `hit build` first",
                package, import.id
            )
        })?;
        if let Some(reference) = &import.reference {
            writeln!(
                env,
                "export {reference}_DIR={}\nexport {reference}_ID={}",
                quote(&path),
                import.id
            )?;
        }
        if import.in_env && path.join("bin").is_dir() {
            bins.push(path.join("bin").display().to_string());
        }
    }
    if !bins.is_empty() {
        writeln!(
            env,
            "export PATH={}:\"$PATH\"",
            hit_engine::job::quote(&[bins.join(":")])
        )?;
    }
    let sources = super::source_cache(home);
    for source in planned.spec.sources() {
        sources.prepare(source)?;
        sources.unpack(
            &source.key,
            source.url.as_deref(),
            &dir.join(source.unpack_dir()),
            source.strip_rule(),
        )?;
    }
    for sub in ["_artifact", "_home"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let script = planned.script.replacen(
        "set -ex\n",
        &format!("set -ex\ncd \"$(dirname \"$0\")\"\n{env}"),
        1,
    );
    std::fs::write(dir.join("hit-build.sh"), script)?;
    eprintln!(
        "sources of {package} unpacked; to build by hand:\n  cd {} && sh hit-build.sh",
        dir.display()
    );
    println!("{}", dir.display());
    Ok(ExitCode::SUCCESS)
}
