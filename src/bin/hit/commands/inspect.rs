//! `hit status`, `hit list`, `hit info`, `hit graph`, `hit show`, `hit resolve`, `hit bdir`.

use super::request;
use crate::cli::{GraphFormat, ProfileArg, ResolveArgs};
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
        "sources of {package} unpacked; to build by hand:\n  cd {} && sh hit-build.sh\nor in the build sandbox (./hit-sandbox.sh alone starts a shell in it):\n  cd {} && ./hit-sandbox.sh sh hit-build.sh",
        dir.display(),
        dir.display()
    );
    println!("{}", dir.display());
    Ok(ExitCode::SUCCESS)
}

pub fn list(profile: Option<&ProfileRequest>) -> Result<ExitCode> {
    let entries = hit::ops::catalog::list(profile)?;
    let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let mut broken = 0;
    for entry in &entries {
        let line = match (&entry.recipe, &entry.shadowed_by) {
            (_, Some(used)) => format!("(hidden by {})", used.display()),
            (Ok(recipe), None) => format!(
                "{:10}  {}",
                recipe.version.as_deref().unwrap_or("-"),
                recipe.description.as_deref().unwrap_or("")
            ),
            (Err(error), None) => {
                broken += 1;
                format!("error: {}", error.lines().next().unwrap_or_default())
            }
        };
        println!("{:width$}  {}", entry.name, line.trim_end());
    }
    let used = entries.iter().filter(|e| e.shadowed_by.is_none()).count();
    eprintln!(
        "{}{}",
        crate::report::count(used, "recipe", "recipes"),
        if broken > 0 {
            format!(", {broken} that do not evaluate")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub fn info(home: &Home, package: &str, profile: Option<&ProfileRequest>) -> Result<ExitCode> {
    let info = hit::ops::catalog::info(home, package, profile)?;
    let recipe = &info.recipe;
    let version = recipe.version.as_deref().unwrap_or("-");
    println!("{package} {version}");
    if let Some(description) = &recipe.description {
        println!("  {description}");
    }
    if let Some(homepage) = &recipe.homepage {
        println!("  {homepage}");
    }
    println!("recipe:     {}", info.recipe_file.display());
    match &info.profile {
        Some(profile) => println!("profile:    {}", profile.display()),
        None => println!("profile:    (none: hit's package dirs)"),
    }
    println!("id:         {}", info.spec.id());
    match &info.path {
        Some(path) => println!("built:      {}", path.display()),
        None => println!("built:      no"),
    }
    if !info.linked {
        println!("            (only needed to build others: not in the profile's tree)");
    }
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(", ")
        }
    };
    println!("deps:       {}", list(&recipe.deps));
    println!("build deps: {}", list(&recipe.build_deps));
    println!("sources:");
    if info.spec.sources().is_empty() {
        println!("  -");
    }
    for source in info.spec.sources() {
        match &source.url {
            Some(url) => println!("  {} {url}", source.key),
            None => println!("  {}", source.key),
        }
    }
    println!(
        "params:{}",
        if info.declared.is_empty() {
            "     -"
        } else {
            ""
        }
    );
    for (param, value) in &info.declared {
        let mut about = format!("{}, default {}", param.kind, param.default);
        if !param.choices.is_empty() {
            about.push_str(&format!(", one of {}", param.choices_text()));
        }
        println!("  {} = {value} ({about}): {}", param.name, param.help);
    }
    // What the profile sets that this recipe does not read (other recipes' params).
    let others: Vec<String> = info
        .profile_params
        .iter()
        .filter(|(key, _)| !info.declared.iter().any(|(param, _)| param.name == **key))
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    if !others.is_empty() {
        println!(
            "  (the profile also sets {}, for other packages)",
            others.join(" ")
        );
    }
    println!("stages:     {}", list(&info.stages));
    Ok(ExitCode::SUCCESS)
}

pub fn graph(home: &Home, request: &ProfileRequest, format: GraphFormat) -> Result<ExitCode> {
    let graph = hit::ops::graph::graph(home, request)?;
    print!(
        "{}",
        match format {
            GraphFormat::Text => graph.to_text(),
            GraphFormat::Dot => graph.to_dot(),
            GraphFormat::Mermaid => graph.to_mermaid(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub fn why(
    home: &Home,
    package: &str,
    request: &ProfileRequest,
    link: Option<&Path>,
) -> Result<ExitCode> {
    use hit::ops::why::Why;
    match hit::ops::why::why(home, package, request, link)? {
        Why::Unchanged { id, link } => {
            println!("{package} is unchanged: {id}, as in {}", link.display());
        }
        Why::New { id, link } => {
            println!(
                "{package} is new: {} has no {package}; it would be {id}",
                link.display()
            );
        }
        Why::Changed { diff, link } => {
            println!("{package} changed since {}:", link.display());
            print!("{}", render_diff(&diff));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn diff(home: &Home, old: &str, new: &str) -> Result<ExitCode> {
    use hit::ops::why::DiffOutcome;
    match hit::ops::why::diff_targets(home, old, new)? {
        DiffOutcome::Specs(diff) if diff.old == diff.new => println!("the same: {}", diff.new),
        DiffOutcome::Specs(diff) => print!("{}", render_diff(&diff)),
        DiffOutcome::Profiles(profiles) => {
            for (name, id) in &profiles.removed {
                println!("- {name} ({id})");
            }
            for (name, id) in &profiles.added {
                println!("+ {name} ({id})");
            }
            for diff in &profiles.changed {
                print!("{}", render_diff(diff));
            }
            if profiles.removed.is_empty()
                && profiles.added.is_empty()
                && profiles.changed.is_empty()
            {
                println!("the same packages");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A spec diff: a sentence per cause ("a changed because b changed, whose ... changed"),
/// then the tree of changes with each field's old and new value.
fn render_diff(diff: &hit::ops::why::SpecDiff) -> String {
    let mut out = String::new();
    for (chain, cause) in diff.causes() {
        let mut sentence = String::new();
        for (i, name) in chain.iter().enumerate() {
            if i == 0 {
                sentence.push_str(name);
            } else {
                sentence.push_str(&format!(" changed because {name}"));
            }
        }
        let mut what: Vec<String> = cause
            .fields
            .iter()
            .map(describe)
            .chain(cause.imports.iter().map(|(variable, old, _)| {
                if old.is_some() {
                    format!("import {variable} dropped")
                } else {
                    format!("import {variable} added")
                }
            }))
            .collect();
        what.dedup();
        out.push_str(&format!("{sentence} changed: {}\n", what.join(", ")));
    }
    render_tree(diff, "", &mut out);
    out
}

fn render_tree(diff: &hit::ops::why::SpecDiff, indent: &str, out: &mut String) {
    use hit::ops::why::DepChange;
    let short = |id: &hit_engine::spec::ArtifactId| id.hash()[..12].to_owned();
    out.push_str(&format!(
        "{indent}{}: {} -> {}\n",
        diff.name,
        short(&diff.old),
        short(&diff.new)
    ));
    let show = |value: &Option<serde_json::Value>| match value {
        None => "(none)".to_owned(),
        Some(value) => {
            let text = value.to_string();
            if text.chars().count() > 120 {
                format!("{}...", text.chars().take(117).collect::<String>())
            } else {
                text
            }
        }
    };
    for change in &diff.fields {
        let path = change.path.trim_start_matches("$.");
        match (&change.old, &change.new) {
            // A stage's script: the lines that differ.
            (Some(serde_json::Value::String(old)), Some(serde_json::Value::String(new)))
                if old.contains('\n') || new.contains('\n') =>
            {
                out.push_str(&format!("{indent}  {path} ({}):\n", describe(change)));
                let (old, new): (Vec<&str>, Vec<&str>) =
                    (old.lines().collect(), new.lines().collect());
                let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
                let suffix = old[prefix..]
                    .iter()
                    .rev()
                    .zip(new[prefix..].iter().rev())
                    .take_while(|(a, b)| a == b)
                    .count();
                for line in &old[prefix..old.len() - suffix] {
                    out.push_str(&format!("{indent}    - {line}\n"));
                }
                for line in &new[prefix..new.len() - suffix] {
                    out.push_str(&format!("{indent}    + {line}\n"));
                }
            }
            _ => out.push_str(&format!(
                "{indent}  {path}: {} -> {}\n",
                show(&change.old),
                show(&change.new)
            )),
        }
    }
    for (variable, old, new) in &diff.imports {
        let id = |id: &Option<hit_engine::spec::ArtifactId>| {
            id.as_ref()
                .map_or_else(|| "(none)".to_owned(), ToString::to_string)
        };
        out.push_str(&format!(
            "{indent}  import {variable}: {} -> {}\n",
            id(old),
            id(new)
        ));
    }
    let inner = format!("{indent}  ");
    for dep in &diff.deps {
        match dep {
            DepChange::Explained(dep) => render_tree(dep, &inner, out),
            DepChange::Again { old, new } => out.push_str(&format!(
                "{inner}{}: {} -> {} (as above)\n",
                new.name(),
                short(old),
                short(new)
            )),
            DepChange::Unknown { old, new } => out.push_str(&format!(
                "{inner}{}: {} -> {} (one of the two specs is in neither the plan nor the store)\n",
                new.name(),
                short(old),
                short(new)
            )),
        }
    }
}

/// A change as a person names it: `stage build` for a stage's script, else the field.
fn describe(change: &hit_engine::spec::diff::FieldChange) -> String {
    let stage = |value: &Option<serde_json::Value>| -> Option<String> {
        let value = value.as_ref()?;
        let script = value
            .as_str()
            .or_else(|| value.get("cmd")?.get(2)?.as_str())?;
        let name = script.strip_prefix(": stage ")?.lines().next()?;
        Some(format!("stage {name}"))
    };
    stage(&change.new)
        .or_else(|| stage(&change.old))
        .unwrap_or_else(|| change.path.trim_start_matches("$.").to_owned())
}

pub fn relocation(home: &Home, package: &str, profile: ProfileArg) -> Result<ExitCode> {
    let (path, record) = hit::ops::inspect::relocation(home, package, &request(profile))?;
    println!("{package}: {}", path.display());
    let Some(record) = record else {
        println!("no relocation record: committed by a hit that did not check relocation");
        return Ok(ExitCode::SUCCESS);
    };
    println!("built in the store {}", record.store);
    if record.relocatable() {
        println!("relocatable: yes");
    } else {
        println!("relocatable: no: these files name the store where it cannot be rewritten:");
        for file in &record.binary {
            println!("  {file}");
        }
    }
    for (file, value) in &record.rpaths {
        println!("RUNPATH made relative: {file}: {value}");
    }
    for (file, offsets) in &record.text {
        println!(
            "text naming the store (rewritten when installed elsewhere): {file} ({})",
            crate::report::count(offsets.len(), "place", "places")
        );
    }
    for link in &record.links {
        println!("symlink into the store (rewritten when installed elsewhere): {link}");
    }
    for file in &record.debug {
        println!("debug info naming the store (not loaded; left as it is): {file}");
    }
    Ok(ExitCode::SUCCESS)
}
