//! `hit env` (the profile's variables as shell commands) and `hit shell`.

use crate::cli::ShellKind;
use anyhow::{Context, Result};
use hit::ops::ProfileRequest;
use hit::ops::env::{ProfileEnv, profile_env};
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

/// The commands for `shell`: prepend each variable's directories (or, with `unset`, remove
/// them wherever they are), leaving the rest of its value as it was.
fn render(environment: &ProfileEnv, shell: ShellKind, unset: bool) -> String {
    let mut out = String::new();
    for (variable, dirs) in &environment.vars {
        let dirs: Vec<String> = dirs.iter().map(|dir| dir.display().to_string()).collect();
        let line = match (shell, unset) {
            (ShellKind::Fish, false) => {
                format!("set -gx {variable} {} ${variable}", fish_words(&dirs))
            }
            (ShellKind::Fish, true) => format!(
                "set -gx {variable} (string match -v -- {} ${variable})",
                fish_words(&dirs)
            ),
            (_, false) => {
                let joined =
                    hit_engine::shell::escape_in_double_quotes(&dirs.join(":")).replace('$', "\\$");
                format!("export {variable}=\"{joined}${{{variable}:+:${variable}}}\"")
            }
            (_, true) => {
                // Every component but the profile's, in order, worked out in a subshell (so
                // IFS and `set -f`, no globbing of the pieces, stay there); the variable is
                // unset if nothing is left.
                let patterns: Vec<String> = dirs
                    .iter()
                    .map(|dir| hit_engine::shell::quote(std::slice::from_ref(dir)))
                    .collect();
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

fn fish_words(dirs: &[String]) -> String {
    hit_engine::shell::quote(dirs)
}
