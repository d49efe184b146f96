//! Freeing space: `hit gc` (decide with [`hit_engine::gc::plan`], then act with
//! [`hit_engine::gc::apply`], so the dry run is free) and `hit purge`.

use super::{Error, Result};
use hit_engine::gc::{GcOptions, GcPlan, GcReport, Root};
use hit_engine::home::Home;
use hit_engine::profile::links::ProfileLinks;
use hit_engine::spec::ArtifactId;
use hit_engine::store::{FileLock, Store};
use std::path::PathBuf;

/// The store's exclusive lock, waited for if other hit processes hold it; `waiting` hears
/// who is waited for before the wait starts.
pub(crate) fn exclusive(store: &Store, what: &str, waiting: &dyn Fn(&str)) -> Result<FileLock> {
    if let Some(lock) = store.try_exclusive()? {
        return Ok(lock);
    }
    let holders = store.session_holders();
    let who = if holders.is_empty() {
        "other hit processes".to_owned()
    } else {
        let pids: Vec<String> = holders.iter().map(u32::to_string).collect();
        format!("hit processes {}", pids.join(", "))
    };
    waiting(&format!(
        "{what}: waiting for {who} (builds, gc or verify) to finish with the store..."
    ));
    Ok(store.exclusive()?)
}

/// The gc roots: profile links, their generations and what they reach.
pub fn roots(home: &Home) -> Result<Vec<Root>> {
    let store = Store::for_home(home);
    Ok(hit_engine::gc::roots(
        &store,
        &ProfileLinks::for_home(home),
    )?)
}

/// What `hit gc` did.
#[derive(Debug)]
pub enum GcOutcome {
    /// `--dry-run`: what it would do, and why.
    Planned(GcPlan),
    Done {
        plan: GcPlan,
        report: GcReport,
    },
}

/// Plans a gc, and unless `dry_run`, applies it under the store's exclusive lock.
pub fn gc(
    home: &Home,
    dry_run: bool,
    options: GcOptions,
    waiting: &dyn Fn(&str),
) -> Result<GcOutcome> {
    let store = Store::for_home(home);
    let links = ProfileLinks::for_home(home);
    let _lock = if dry_run {
        store.session()?
    } else {
        exclusive(&store, "gc", waiting)?
    };
    let sources = home.source_layout();
    let plan = hit_engine::gc::plan(&store, &links, &sources, options)?;
    if dry_run {
        return Ok(GcOutcome::Planned(plan));
    }
    let report = hit_engine::gc::apply(&store, &links, &plan, &sources)?;
    Ok(GcOutcome::Done { plan, report })
}

/// Removes one artifact; one a profile link or generation uses only with `force`. Returns
/// where it was, or `None` if it was not in the store.
pub fn purge(home: &Home, id: &ArtifactId, force: bool) -> Result<Option<PathBuf>> {
    let store = Store::for_home(home);
    let _session = store.session()?;
    if !force {
        let using = hit_engine::gc::roots_using(&store, &ProfileLinks::for_home(home), id)?;
        if !using.is_empty() {
            return Err(Error::Refused(format!(
                "{id} is in use by {}; removing it would break that profile. Drop the link or \
                 generation first (`hit rm`, `hit generations --delete`), or pass --force",
                using.join(", ")
            )));
        }
    }
    Ok(store.purge(id)?)
}
