//! `hit build --check`: rebuild what is built and compare it with the store (see
//! `hit_engine::build::check` for how a rebuild sees the artifact's own path).
//!
//! The packages are checked one after another, each with the whole jobserver (`-j`), in
//! the plan's order (dependencies first); `rounds` rebuilds of each, every one compared
//! with the store's artifact. A check records its result in the artifact's
//! `artifact.json` (`reproducible`).

use super::Result;
use super::build::{BuildOptions, builder, sandbox};
use hit_engine::build::{CheckOutcome, Reporter};
use hit_engine::cache::Substituter;
use hit_engine::home::Home;
use hit_engine::spec::BuildSpec;
use hit_engine::store::Store;

/// The checks of one package.
#[derive(Debug)]
pub struct Checked {
    pub name: String,
    pub id: hit_engine::spec::ArtifactId,
    /// One per round.
    pub rounds: Vec<CheckOutcome>,
}

impl Checked {
    /// Every round rebuilt the same contents.
    pub fn reproducible(&self) -> bool {
        self.rounds
            .iter()
            .all(|round| matches!(round, CheckOutcome::Same { .. }))
    }
}

/// The packages of a profile, in the plan's order, to check.
pub fn profile_packages(request: &super::ProfileRequest) -> Result<Vec<(String, BuildSpec)>> {
    let plan = super::load_plan(request, None)?;
    Ok(plan
        .packages
        .into_iter()
        .map(|package| (package.name, package.spec))
        .collect())
}

/// Rebuilds each of `packages` `rounds` times and compares (they must be built).
/// `each` hears of each package as its checks end.
pub fn check(
    home: &Home,
    packages: &[(String, BuildSpec)],
    rounds: usize,
    options: &BuildOptions,
    reporter: &dyn Reporter,
    each: &mut dyn FnMut(&Checked),
) -> Result<Vec<Checked>> {
    let store = Store::for_home(home);
    store.check_build_dir()?;
    let _session = store.session()?;
    let sources = super::source_cache(home);
    let sandbox = sandbox(home)?;
    let substituter = Substituter::for_home(home)?;
    // A rebuild is the point: no binary cache.
    let options = BuildOptions {
        caches: false,
        ..*options
    };
    let builder = builder(home, &store, &sources, &substituter, &sandbox, &options)?;
    let mut all = Vec::new();
    for (name, spec) in packages {
        let mut checked = Checked {
            name: name.clone(),
            id: spec.id().clone(),
            rounds: Vec::new(),
        };
        for _ in 0..rounds.max(1) {
            checked.rounds.push(builder.check(spec, reporter)?);
        }
        each(&checked);
        all.push(checked);
    }
    Ok(all)
}
