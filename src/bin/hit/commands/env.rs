//! `hit env` (the profile's variables as shell commands), `hit shell`, `hit modules`,
//! `hit develop`: the ways to use a built profile.

use crate::cli::{ModuleFormatArg, ShellKind};
use anyhow::{Context, Result};
use hit::ops::ProfileRequest;
use hit::ops::env::{ProfileEnv, VarChange, profile_env};
use hit_engine::home::Home;
use std::process::ExitCode;

pub fn env(
    home: &Home,
    request: &ProfileRequest,
    shell: ShellKind,
    unset: bool,
    dev: bool,
) -> Result<ExitCode> {
    let environment = profile_env(home, request, dev)?;
    print!("{}", render(&environment, shell, unset));
    Ok(ExitCode::SUCCESS)
}

pub fn modules(
    home: &Home,
    request: &ProfileRequest,
    dir: &std::path::Path,
    format: ModuleFormatArg,
    dry_run: bool,
) -> Result<ExitCode> {
    use hit::ops::modules::{self, ModuleFormat};
    let format = match format {
        ModuleFormatArg::Lmod => ModuleFormat::Lmod,
        ModuleFormatArg::Tcl => ModuleFormat::Tcl,
    };
    let contents = hit::ops::contents::profile_contents(home, request)?;
    let plan = modules::plan(&contents, dir, format)?;
    if dry_run {
        for file in &plan.files {
            println!("would write {} ({})", file.path.display(), file.module);
        }
        for stale in &plan.remove {
            println!("would remove {}", stale.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = modules::apply(&plan)?;
    println!(
        "{} module files in {}: {} written, {} unchanged, {} removed",
        plan.format.name(),
        plan.dir.display(),
        outcome.written,
        outcome.unchanged,
        outcome.removed
    );
    eprintln!(
        "use them with `module use {}`, then `module load <package>`",
        plan.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn develop(
    home: &Home,
    request: &ProfileRequest,
    dir: &std::path::Path,
    update: bool,
    dry_run: bool,
) -> Result<ExitCode> {
    use hit::ops::develop;
    let contents = hit::ops::contents::profile_contents(home, request)?;
    let plan = develop::plan(&contents, dir, update)?;
    for conflict in &plan.conflicts {
        eprintln!(
            "conflict: {} is yours and the profile has it too; left as it is",
            conflict.display()
        );
    }
    if dry_run {
        for (path, target) in &plan.link {
            println!("would link {} -> {}", path.display(), target.display());
        }
        for (path, target) in &plan.relink {
            println!("would relink {} -> {}", path.display(), target.display());
        }
        for path in &plan.unlink {
            println!("would unlink {}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = develop::apply(home, &plan)?;
    println!(
        "develop prefix {} over {}: {} linked, {} relinked, {} unlinked, {} (generation {})",
        plan.dir.display(),
        contents.root.display(),
        outcome.linked,
        outcome.relinked,
        outcome.unlinked,
        crate::report::count(plan.conflicts.len(), "conflict", "conflicts"),
        outcome.generation
    );
    Ok(ExitCode::SUCCESS)
}

pub fn shell(
    home: &Home,
    request: &ProfileRequest,
    dev: bool,
    command: &[String],
) -> Result<ExitCode> {
    let environment = profile_env(home, request, dev)?;
    let (program, args) = match command.split_first() {
        Some((program, args)) => (program.clone(), args.to_vec()),
        None => (
            std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()),
            Vec::new(),
        ),
    };
    let status = std::process::Command::new(&program)
        .args(&args)
        .envs(environment.applied(|variable| std::env::var(variable).ok()))
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    Ok(ExitCode::from(status.code().map_or(1, |code| code as u8)))
}

/// The commands for `shell`. sh and fish: prepend (or append) each variable's entries,
/// leaving the rest of its value as it was, or with `unset` remove them wherever they are.
/// csh cannot test a variable and expand it in one command, so for csh the values are
/// worked out here from hit's own environment (the shell's, when it runs `eval`).
fn render(environment: &ProfileEnv, shell: ShellKind, unset: bool) -> String {
    if shell == ShellKind::Csh {
        return render_csh(environment, unset);
    }
    let mut out = String::new();
    for var in &environment.vars {
        let variable = &var.variable;
        let line = match (&var.change, shell, unset) {
            (VarChange::Set(value), ShellKind::Fish, false) => {
                format!("set -gx {variable} {}", quote(value))
            }
            (VarChange::Set(_), ShellKind::Fish, true) => format!("set -e {variable}"),
            (VarChange::Set(value), _, false) => format!("export {variable}={}", quote(value)),
            (VarChange::Set(_), _, true) => format!("unset {variable}"),
            (VarChange::Prepend(entries) | VarChange::Append(entries), ShellKind::Fish, false) => {
                if matches!(var.change, VarChange::Prepend(_)) {
                    format!(
                        "set -gx {variable} {} ${variable}",
                        hit_engine::shell::quote(entries)
                    )
                } else {
                    format!(
                        "set -gx {variable} ${variable} {}",
                        hit_engine::shell::quote(entries)
                    )
                }
            }
            (VarChange::Prepend(entries) | VarChange::Append(entries), ShellKind::Fish, true) => {
                format!(
                    "set -gx {variable} (string match -v -- {} ${variable})",
                    hit_engine::shell::quote(entries)
                )
            }
            (VarChange::Prepend(entries) | VarChange::Append(entries), _, false) => {
                let joined = hit_engine::shell::escape_in_double_quotes(&entries.join(":"))
                    .replace('$', "\\$");
                if matches!(var.change, VarChange::Prepend(_)) {
                    format!("export {variable}=\"{joined}${{{variable}:+:${variable}}}\"")
                } else {
                    format!("export {variable}=\"${{{variable}:+${variable}:}}{joined}\"")
                }
            }
            (VarChange::Prepend(entries) | VarChange::Append(entries), _, true) => {
                // Every component but the profile's, in order, worked out in a subshell (so
                // IFS and `set -f`, no globbing of the pieces, stay there); the variable is
                // unset if nothing is left.
                let patterns: Vec<String> = entries.iter().map(|entry| quote(entry)).collect();
                format!(
                    "_hit_v=$(IFS=:; set -f; v=; for p in ${variable}; do case $p in {}) ;; *) v=${{v:+$v:}}$p ;; esac; done; printf %s \"$v\"); \
                     if [ -n \"$_hit_v\" ]; then export {variable}=\"$_hit_v\"; else unset {variable}; fi; unset _hit_v",
                    patterns.join("|")
                )
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn render_csh(environment: &ProfileEnv, unset: bool) -> String {
    let current = |variable: &str| std::env::var(variable).ok();
    let lines: Vec<String> = if unset {
        environment
            .removed(current)
            .into_iter()
            .map(|(variable, value)| match value {
                Some(value) => format!("setenv {variable} {};", csh_quote(&value)),
                None => format!("unsetenv {variable};"),
            })
            .collect()
    } else {
        environment
            .applied(current)
            .into_iter()
            .map(|(variable, value)| format!("setenv {variable} {};", csh_quote(&value)))
            .collect()
    };
    lines.iter().map(|line| format!("{line}\n")).collect()
}

fn quote(text: &str) -> String {
    hit_engine::shell::quote(&[text.to_owned()])
}

/// A csh word: single quotes, with `'` and `!` (history, even inside quotes) escaped
/// outside them.
fn csh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''").replace('!', "'\\!'"))
}
