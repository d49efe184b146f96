//! Step 2b of a plan: every parameter given must be declared (see [`crate::param`]).
//!
//! | given | must be declared by |
//! |-------|---------------------|
//! | the built profile's own `params`, or `KEY=VALUE` on the command line | a recipe of the plan or a profile of the chain |
//! | `packages.NAME.params` | NAME's recipe |
//!
//! Checked after discovery, when every recipe the plan needs has run and said what it
//! declares. The message names the closest declared param and lists them all. Params a
//! parent profile sets are checked when that parent is built, not in its children: a child
//! may skip the packages that read them.

use super::discover::{Discovered, ProfileSite};
use crate::error::{LangError, Token};
use crate::param::{similar, unknown_param};
use crate::profile::Profile;
use serde_json::Value;

pub(super) fn check(
    profile: &Profile,
    site: &ProfileSite,
    command_line: &serde_json::Map<String, Value>,
    discovered: &Discovered,
) -> Result<(), LangError> {
    let mut declared: Vec<(String, String)> = Vec::new();
    for name in &discovered.order {
        for param in &discovered.packages[name].recipe.params {
            declared.push((param.name.clone(), name.clone()));
        }
    }
    for (param, file) in &profile.declared {
        let by = file.file_name().map_or_else(
            || file.display().to_string(),
            |f| f.to_string_lossy().into(),
        );
        declared.push((param.name.clone(), by));
    }
    // One entry per param, its declarers joined: "readline (lua, sqlite)".
    let mut by_param: Vec<(String, String)> = Vec::new();
    for (param, by) in declared {
        match by_param.iter_mut().find(|(name, _)| *name == param) {
            Some((_, all)) => {
                all.push_str(", ");
                all.push_str(&by);
            }
            None => by_param.push((param, by)),
        }
    }
    by_param.sort();
    let is_declared = |key: &str| by_param.iter().any(|(name, _)| name == key);

    for key in command_line.keys() {
        if !is_declared(key) {
            return Err(LangError::new(unknown_param(
                key,
                "given on the command line",
                &by_param,
            )));
        }
    }
    for key in profile.params.keys() {
        let file = profile.param_files.get(key).unwrap_or(&profile.file);
        // A parent's params are checked when the parent is built: a child that skips the
        // packages that read one (or plans only some of them) is not at fault.
        if command_line.contains_key(key) || is_declared(key) || *file != profile.file {
            continue;
        }
        let message = unknown_param(key, &format!("set in {}", file.display()), &by_param);
        return Err(locate(site, file, message, key));
    }
    for (package, settings) in &profile.packages {
        let Some(evaluated) = discovered.packages.get(package) else {
            continue;
        };
        let own = &evaluated.recipe.params;
        for key in settings.params.keys() {
            if own.iter().any(|param| param.name == *key) {
                continue;
            }
            let names: Vec<&str> = own.iter().map(|param| param.name.as_str()).collect();
            let mut message = format!(
                "`packages.{package}.params`: the recipe of `{package}` ({}) declares no param `{key}`",
                evaluated.file.display()
            );
            if let Some(close) = names.iter().find(|name| similar(key, name)) {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            if names.is_empty() {
                message.push_str("; it declares none");
            } else {
                message.push_str(&format!(". It declares: {}", names.join(", ")));
            }
            return Err(locate(site, &profile.file, message, key));
        }
    }
    Ok(())
}

/// At the key in the profile's own file when the error is about that file.
fn locate(site: &ProfileSite, file: &std::path::Path, message: String, key: &str) -> LangError {
    if super::extends::normalize(site.file) == *file {
        LangError::at_token(
            site.file,
            site.source,
            rhai::Position::new(1, 1),
            message,
            Some(&Token::Key(key.to_owned())),
        )
    } else {
        LangError::in_file(file, message)
    }
}
