//! What a built profile holds, read back from the store: the profile artifact's document
//! (`.hit/build.json`: package names and ids) and each package's own build spec (version,
//! description, homepage, run-time environment, imports). `hit env`, `hit modules` and
//! `hit develop` work from this, so they need only the store, not the recipes that made it.

use super::{Error, ProfileRequest, Result};
use hit_engine::home::Home;
use hit_engine::spec::{ArtifactId, SpecSummary};
use hit_engine::store::{META_DIR, Store};
use rayon::prelude::*;
use std::path::PathBuf;

/// A built profile and its packages.
#[derive(Debug, Clone)]
pub struct ProfileContents {
    /// The profile's name (`small` for the artifact `profile-small/...`), if the tree is a
    /// hit profile.
    pub name: Option<String>,
    /// The profile as the user named it: a link made absolute (not resolved, so what is
    /// made from it follows the link), or the profile artifact of a profile script.
    pub root: PathBuf,
    /// The profile artifact in the store, if the tree is a hit profile.
    pub artifact: Option<PathBuf>,
    /// Its packages in the profile's order; empty for a tree hit did not make.
    pub packages: Vec<InstalledPackage>,
}

/// One package of a built profile.
#[derive(Debug, Clone)]
pub struct InstalledPackage {
    pub name: String,
    pub id: ArtifactId,
    /// The artifact in the store.
    pub path: PathBuf,
    /// What its spec says about its use (the build commands left unread).
    pub spec: SpecSummary,
    /// The packages of the same profile this one imported (its run-time dependencies
    /// there), in the profile's order.
    pub deps: Vec<String>,
}

impl InstalledPackage {
    /// `name/version` with the first 7 characters of the hash: unique per variant, and
    /// still what `module load name` finds.
    pub fn module_name(&self) -> String {
        let hash = &self.id.hash()[..7];
        match &self.spec.version {
            Some(version) => format!("{}/{version}-{hash}", self.name),
            None => format!("{}/{hash}", self.name),
        }
    }
}

/// The contents of `target`: a profile link or tree (a directory), or a profile script
/// (`*.rhai`, with its parameters) whose profile must be built.
pub fn profile_contents(home: &Home, target: &ProfileRequest) -> Result<ProfileContents> {
    let store = Store::for_home(home);
    let root = if target.file.is_dir() {
        if !target.params.is_empty() {
            return Err(Error::Input(
                "KEY=VALUE parameters are for a profile script, not a built profile".into(),
            ));
        }
        std::path::absolute(&target.file).map_err(Error::io(target.file.display().to_string()))?
    } else {
        built_profile(&store, target)?
    };
    let artifact = std::fs::canonicalize(&root).map_err(Error::io(root.display().to_string()))?;
    let document = std::fs::read_to_string(artifact.join(META_DIR).join("build.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    let Some(listed) = document
        .as_ref()
        .and_then(|document| document.pointer("/profile/packages"))
        .and_then(serde_json::Value::as_array)
    else {
        return Ok(ProfileContents {
            name: None,
            root,
            artifact: None,
            packages: Vec::new(),
        });
    };
    // (The store's own path resolved too: a home reached through a symlink is the same.)
    let store_dir = std::fs::canonicalize(store.dir()).unwrap_or_else(|_| store.dir().to_owned());
    if !artifact.starts_with(&store_dir) && !artifact.starts_with(store.dir()) {
        return Err(Error::Input(format!(
            "{} is a profile of another hit home ({}); run with that HIT_HOME",
            root.display(),
            artifact.display()
        )));
    }
    let name = document
        .as_ref()
        .and_then(|document| document.get("name")?.as_str())
        .map(|name| name.strip_prefix("profile-").unwrap_or(name).to_owned());
    // Each package's spec, read on all cores: a profile may hold a thousand.
    let mut packages = listed
        .par_iter()
        .map(|entry| read_package(&store, &root, &artifact, entry))
        .collect::<Result<Vec<_>>>()?;
    // Each package's imports that are packages of the profile, in the profile's order.
    let position: std::collections::HashMap<ArtifactId, usize> = packages
        .iter()
        .enumerate()
        .map(|(i, package)| (package.id.clone(), i))
        .collect();
    let names: Vec<String> = packages
        .iter()
        .map(|package| package.name.clone())
        .collect();
    for package in &mut packages {
        let mut deps: Vec<usize> = package
            .spec
            .imports
            .iter()
            .filter_map(|id| position.get(id).copied())
            .collect();
        deps.sort_unstable();
        package.deps = deps.into_iter().map(|i| names[i].clone()).collect();
    }
    Ok(ProfileContents {
        name,
        root,
        artifact: Some(artifact),
        packages,
    })
}

/// One `[name, id]` entry of a profile's document, with the package's spec.
fn read_package(
    store: &Store,
    root: &std::path::Path,
    artifact: &std::path::Path,
    entry: &serde_json::Value,
) -> Result<InstalledPackage> {
    let (Some(package), Some(id)) = (
        entry.get(0).and_then(serde_json::Value::as_str),
        entry.get(1).and_then(serde_json::Value::as_str),
    ) else {
        return Err(Error::Refused(format!(
            "{}: the profile's document lists {entry} as a package",
            artifact.display()
        )));
    };
    let id: ArtifactId = id.parse()?;
    let path = store.locate(&id)?.ok_or_else(|| {
        Error::Refused(format!(
            "{} uses {id}, which is no longer in the store; `hit verify --repair` switches \
             the link to an intact generation",
            root.display()
        ))
    })?;
    let spec_file = path.join(META_DIR).join("build.json");
    let text = std::fs::read_to_string(&spec_file).map_err(|source| Error::Unreadable {
        path: spec_file.clone(),
        source,
    })?;
    let spec = SpecSummary::from_json(&text)
        .map_err(|error| Error::Refused(format!("{}: {error}", spec_file.display())))?;
    Ok(InstalledPackage {
        name: package.to_owned(),
        id,
        path,
        spec,
        deps: Vec::new(),
    })
}

/// The store path of a profile script's profile artifact, which must be built.
fn built_profile(store: &Store, request: &ProfileRequest) -> Result<PathBuf> {
    let plan = super::load_plan(request, None)?;
    let spec = super::profile_spec(&plan);
    store.resolve(&spec.id())?.ok_or_else(|| {
        Error::Refused(format!(
            "profile {} is not built; `hit build {}` first",
            plan.profile.name,
            request.file.display()
        ))
    })
}
