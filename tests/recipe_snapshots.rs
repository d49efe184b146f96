//! Every recipe in packages/ evaluates, and its build spec is pinned by a snapshot in
//! tests/snapshots/specs/, so that a change to a recipe or to the stdlib shows, in review,
//! its effect on every package's spec and id. After an intended change:
//!
//!     HIT_UPDATE_SNAPSHOTS=1 cargo test --test recipe_snapshots
#![allow(clippy::unwrap_used)]

use hit_lang::{Evaluator, Loader, PlanOptions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Disk;

impl Loader for Disk {
    fn read(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|error| error.to_string())
    }
    fn read_within(&self, path: &Path, _root: &Path) -> Result<String, String> {
        self.read(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    /// Only the toolchain's programs, from a fixed, made-up host: the snapshots pin what
    /// the recipes make of a toolchain, not which compiler this machine has.
    fn fingerprint(&self, path: &Path) -> Result<String, String> {
        match path.strip_prefix("/snapshot-host/bin") {
            Ok(program) => Ok(format!("fingerprint-of-{}", program.display())),
            Err(_) => Err(format!(
                "no host packages in packages/ but the toolchain ({})",
                path.display()
            )),
        }
    }
    fn find_program(&self, name: &str) -> Option<PathBuf> {
        (name != "gfortran").then(|| Path::new("/snapshot-host/bin").join(name))
    }
    fn program_version(&self, program: &Path) -> Result<String, String> {
        Ok(format!("{} (Snapshot) 1.0", program.display()))
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Names of all recipes in packages/ (`NAME.rhai` and `NAME/NAME.rhai`).
fn recipe_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("packages")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|ext| ext == "rhai")
            || path.join(format!("{name}.rhai")).is_file()
        {
            names.insert(name);
        }
    }
    names
}

#[test]
fn every_recipe_is_planned_and_its_spec_matches_its_snapshot() {
    let options = PlanOptions {
        jobs: 2,
        ..PlanOptions::default()
    };
    // The hpc stack holds every recipe but the slow build tools, which tools.rhai holds.
    let mut packages: Vec<hit_lang::PlannedPackage> = Vec::new();
    for profile in ["hpc.rhai", "tools.rhai"] {
        let plan = hit_lang::plan(
            &Evaluator::new(),
            &Disk,
            &repo().join("packages/profiles").join(profile),
            &options,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        for package in plan.packages {
            match packages.iter().find(|known| known.name == package.name) {
                Some(known) => assert_eq!(
                    known.spec.id(),
                    package.spec.id(),
                    "{} differs between the profiles",
                    package.name
                ),
                None => packages.push(package),
            }
        }
    }
    let planned: BTreeSet<String> = packages.iter().map(|p| p.name.clone()).collect();
    assert_eq!(
        planned,
        recipe_names(),
        "packages/profiles/hpc.rhai and tools.rhai must include every recipe"
    );

    let update = std::env::var_os("HIT_UPDATE_SNAPSHOTS").is_some();
    let dir = repo().join("tests/snapshots/specs");
    let mut changed = Vec::new();
    let mut ids = String::new();
    for package in &packages {
        let text = hit_engine::spec::pretty_document(package.spec.document());
        ids.push_str(&format!("{}\n", package.spec.id()));
        let path = dir.join(format!("{}.json", package.name));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            changed.push(package.name.clone());
            if update {
                std::fs::write(&path, &text).unwrap();
            }
        }
    }
    let ids_path = repo().join("tests/snapshots/ids.txt");
    if std::fs::read_to_string(&ids_path).ok().as_deref() != Some(ids.as_str()) {
        changed.push("ids.txt".into());
        if update {
            std::fs::write(&ids_path, &ids).unwrap();
        }
    }
    assert!(
        update || changed.is_empty(),
        "the specs of {} differ from tests/snapshots/ (git diff after `HIT_UPDATE_SNAPSHOTS=1 cargo test --test recipe_snapshots` shows how)",
        changed.join(", ")
    );
}
