//! Step 1 of a plan: a profile file and everything it `extends`, folded into one
//! [`Profile`].
//!
//! Parents are loaded depth first, each folded under its child ([`Profile::extend`]); a
//! cycle of `extends` is an error that names it. Each file is evaluated once; the position
//! of the first file's `profile(...)` call is kept, so that later steps can point at it.
//!
//! A profile may extend only files under the directories the user named: the first
//! profile's directory, the package dirs of the profiles on the way and hit's own (the
//! `default_dirs`), with symlinks resolved by the [`Loader`] (`read_within`). So
//! `extends: ["/etc/shadow"]` reads nothing.
//!
//! A parent may also be a file in a git commit (`#{ git: URL, commit: SHA, path: FILE }`):
//! the loader supplies that commit's tree as a directory (hit unpacks it once into the
//! source cache), the file must lie inside it, and while it loads, that tree is an allowed
//! root too (its own `extends` and `package_dirs` resolve inside the checkout).

use super::{Loader, at};
use crate::engine::Evaluator;
use crate::error::LangError;
use crate::profile::{Extend, Profile};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A profile with its `extends` followed.
pub(super) struct LoadedProfile {
    pub profile: Profile,
    /// The text of the first file (errors about the profile quote it).
    pub source: String,
    /// Where the first file calls `profile(...)`: line, column.
    pub position: (usize, usize),
}

/// Loads `file` and what it extends; `allowed` starts with the directories a profile may
/// extend from besides its own and the package dirs on the way.
pub(super) fn load(
    evaluator: &Evaluator,
    loader: &dyn Loader,
    file: &Path,
    params: &serde_json::Map<String, Value>,
    allowed: Vec<PathBuf>,
) -> Result<LoadedProfile, LangError> {
    let mut walk = Walk {
        evaluator,
        loader,
        params,
        stack: Vec::new(),
        allowed,
    };
    walk.load(file, None)
}

struct Walk<'a> {
    evaluator: &'a Evaluator,
    loader: &'a dyn Loader,
    params: &'a serde_json::Map<String, Value>,
    /// The files being loaded, outermost first (to report a cycle).
    stack: Vec<PathBuf>,
    /// Roots a parent may lie under.
    allowed: Vec<PathBuf>,
}

impl Walk<'_> {
    fn load(&mut self, file: &Path, within: Option<&Path>) -> Result<LoadedProfile, LangError> {
        let file = normalize(file);
        if self.stack.contains(&file) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .chain([&file])
                .map(|f| f.display().to_string())
                .collect();
            return Err(LangError::in_file(
                &file,
                format!(
                    "profiles extend each other in a cycle: {}",
                    chain.join(" -> ")
                ),
            ));
        }
        let source = match within {
            Some(root) => self.loader.read_within(&file, root),
            None => self.loader.read(&file),
        }
        .map_err(|error| LangError::in_file(&file, error))?;
        let decl = self.evaluator.profile(&file, &source, self.params)?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let own = Profile {
            name,
            file: file.clone(),
            package_dirs: decl
                .package_dirs
                .iter()
                .map(|d| normalize(&dir.join(d)))
                .collect(),
            packages: decl.packages.clone(),
            params: decl.params.clone(),
            param_files: decl
                .params
                .keys()
                .map(|key| (key.clone(), file.clone()))
                .collect(),
            skip: decl.skip.clone(),
            prefer: decl.prefer.clone(),
            toolchain: decl.toolchain.clone(),
            declared: decl
                .declared
                .iter()
                .map(|declared| (declared.clone(), file.clone()))
                .collect(),
        };
        self.stack.push(file.clone());
        if self.stack.len() == 1 {
            self.allowed.push(dir.clone());
        }
        let allowed_before = self.allowed.len();
        self.allowed.extend(own.package_dirs.iter().cloned());
        let mut merged: Option<Profile> = None;
        for parent in &decl.extends {
            let (parent_file, root, from_git) = match parent {
                Extend::File(parent) => {
                    let parent_file = normalize(&dir.join(parent));
                    let Some(root) = self
                        .allowed
                        .iter()
                        .find(|root| parent_file.starts_with(root))
                        .cloned()
                    else {
                        let roots: Vec<String> = self
                            .allowed
                            .iter()
                            .map(|r| r.display().to_string())
                            .collect();
                        return Err(at(
                            &file,
                            &source,
                            decl.position,
                            format!(
                                "extends {parent:?}, which is outside the directories a profile may \
                                 extend from ({})",
                                roots.join(", ")
                            ),
                        ));
                    };
                    (parent_file, root, false)
                }
                Extend::Git { url, commit, path } => {
                    let checkout = self.loader.git_checkout(url, commit).map_err(|why| {
                        at(
                            &file,
                            &source,
                            decl.position,
                            format!("extends {path:?} of {url} at {commit}: {why}"),
                        )
                    })?;
                    (normalize(&checkout.join(path)), checkout, true)
                }
            };
            if !self.loader.is_file(&parent_file) {
                return Err(at(
                    &file,
                    &source,
                    decl.position,
                    format!(
                        "extends {}, which is not a file ({})",
                        shown(parent),
                        parent_file.display()
                    ),
                ));
            }
            // A profile from git may extend other files of its repository.
            if from_git {
                self.allowed.push(root.clone());
            }
            let parent = self.load(&parent_file, Some(&root))?.profile;
            if from_git {
                self.allowed.pop();
            }
            merged = Some(match merged {
                None => parent,
                Some(base) => {
                    // Two parents disagreeing on a parameter is an error (HashDist's rule),
                    // unless this profile or the command line settles it.
                    let conflict = parent.params.iter().find(|(key, value)| {
                        base.params.get(*key).is_some_and(|other| other != *value)
                            && !decl.params.contains_key(*key)
                            && !self.params.contains_key(*key)
                    });
                    if let Some((key, value)) = conflict {
                        let other = &base.params[key];
                        let file_of = |profile: &Profile| {
                            profile
                                .param_files
                                .get(key)
                                .map_or_else(|| "?".to_owned(), |f| f.display().to_string())
                        };
                        return Err(at(
                            &file,
                            &source,
                            decl.position,
                            format!(
                                "params: {key:?} is {other} in {} and {value} in {}, both of \
                                 which this profile extends; set {key:?} here (or on the command \
                                 line) to choose",
                                file_of(&base),
                                file_of(&parent)
                            ),
                        ));
                    }
                    base.extend(parent)
                }
            });
        }
        self.stack.pop();
        self.allowed.truncate(allowed_before);
        let profile = match merged {
            None => own,
            Some(base) => base.extend(own),
        };
        Ok(LoadedProfile {
            profile,
            source,
            position: decl.position,
        })
    }
}

/// How an error names a parent.
fn shown(parent: &Extend) -> String {
    match parent {
        Extend::File(file) => format!("{file:?}"),
        Extend::Git { url, commit, path } => format!("{path:?} of {url} at {commit}"),
    }
}

/// Lexically cleans a path (`a/./b/../c` -> `a/c`), keeping it absolute if it was.
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }
}
