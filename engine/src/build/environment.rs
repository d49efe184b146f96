//! The variables a build starts with (the table in [`super`]'s doc), in one place for
//! builds and for `hit bdir`, which writes them into a script for building by hand.

use crate::spec::Import;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Variables every build starts with, so that what it writes does not depend on when
/// or where it ran: timestamps at a fixed moment (1980-01-01, the earliest a zip file can
/// say; tools that honour `SOURCE_DATE_EPOCH` use it), times in UTC, messages and sort
/// order of the C locale. A variable of `env_whitelist` or one the spec sets wins.
pub const DETERMINISTIC: [(&str, &str); 3] = [
    ("SOURCE_DATE_EPOCH", "315532800"),
    ("TZ", "UTC"),
    ("LC_ALL", "C"),
];

/// Where a build's directories are.
#[derive(Debug, Clone, Copy)]
pub struct BuildDirs<'a> {
    /// `$ARTIFACT`: where to install.
    pub artifact: &'a Path,
    /// `$BUILD`: the sources and the working directory.
    pub build: &'a Path,
    /// `$HOME`: an empty directory of the build's own.
    pub home: &'a Path,
}

/// The variables hit sets for a build, and the `bin/` directories of its imports that go
/// in front of `PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildEnvironment {
    pub vars: BTreeMap<String, String>,
    pub path_prefix: Vec<PathBuf>,
}

impl BuildEnvironment {
    /// `ARTIFACT`, `BUILD`, `HOME`, and `<REF>_DIR` / `<REF>_ID` for each import with a
    /// `ref`; the `bin/` of each import with `in_env` that has one joins the prefix.
    pub fn new(dirs: BuildDirs<'_>, imports: &[(Import, PathBuf)]) -> Self {
        let mut vars = BTreeMap::new();
        vars.insert("ARTIFACT".into(), dirs.artifact.display().to_string());
        vars.insert("BUILD".into(), dirs.build.display().to_string());
        vars.insert("HOME".into(), dirs.home.display().to_string());
        let mut path_prefix = Vec::new();
        for (import, path) in imports {
            if let Some(reference) = &import.reference {
                vars.insert(format!("{reference}_DIR"), path.display().to_string());
                vars.insert(format!("{reference}_ID"), import.id.to_string());
            }
            if import.in_env && path.join("bin").is_dir() {
                path_prefix.push(path.join("bin"));
            }
        }
        Self { vars, path_prefix }
    }

    /// `PATH` as a build sees it: the prefix, then `host_path` (the whitelisted host
    /// `PATH`, if any). `None` when both are empty.
    pub fn path(&self, host_path: Option<&str>) -> Option<String> {
        let mut parts: Vec<String> = self
            .path_prefix
            .iter()
            .map(|dir| dir.display().to_string())
            .collect();
        parts.extend(host_path.filter(|path| !path.is_empty()).map(str::to_owned));
        (!parts.is_empty()).then(|| parts.join(":"))
    }
}
