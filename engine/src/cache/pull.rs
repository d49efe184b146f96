//! `hit pull`: plan which artifacts of a closure to install from the caches, then install
//! them, dependencies first, independent ones at the same time.

use super::{CacheEntry, CacheError, Fetched, Substituter};
use crate::source::Progress;
use crate::spec::ArtifactId;
use crate::store::Store;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// What a pull would do.
#[derive(Debug)]
pub struct PullPlan {
    /// To install: the cache (index into the substituter's) and its entry, dependencies
    /// before dependants.
    pub items: Vec<(usize, CacheEntry)>,
    /// In the store already.
    pub present: Vec<ArtifactId>,
}

impl Substituter {
    /// The closure of `ids` as the caches' entries give it, minus what `store` has. An id
    /// that no cache has is an error (with the problems met, if any explain it).
    pub fn plan_pull(&self, store: &Store, ids: &[ArtifactId]) -> Result<PullPlan, CacheError> {
        let mut frontier: Vec<ArtifactId> = ids.to_vec();
        let mut seen = BTreeSet::new();
        let mut items = Vec::new();
        let mut present = Vec::new();
        // Breadth first, each level's entries fetched at once: a lookup is a round trip.
        while !frontier.is_empty() {
            let mut level = Vec::new();
            for id in frontier.drain(..) {
                if !seen.insert(id.clone()) {
                    continue;
                }
                if store.is_present(&id)? {
                    present.push(id);
                } else {
                    level.push(id);
                }
            }
            let found: Vec<_> = level.par_iter().map(|id| (id, self.lookup(id))).collect();
            for (id, (found, mut problems)) in found {
                let Some((cache, entry)) = found else {
                    return Err(match problems.is_empty() {
                        true => CacheError::NotCached {
                            id: id.clone(),
                            caches: self.caches(),
                        },
                        false => problems.swap_remove(0),
                    });
                };
                let index = self
                    .caches
                    .iter()
                    .position(|(c, _)| c == cache)
                    .expect("lookup returns one of the caches");
                frontier.extend(entry.dependencies.iter().cloned());
                items.push((index, entry));
            }
        }
        items.sort_by_key(|(_, entry)| entry.dependencies.len());
        present.sort();
        Ok(PullPlan { items, present })
    }

    /// Installs the plan's artifacts: in waves of those whose dependencies are all in the
    /// store, each wave on all cores. Stops at the first error, after the wave it is in.
    pub fn pull(
        &self,
        store: &Store,
        plan: &PullPlan,
        progress: &(dyn Fn(&ArtifactId, Progress) + Sync),
        done: &(dyn Fn(&Fetched) + Sync),
    ) -> Result<Vec<Fetched>, CacheError> {
        let mut waiting: BTreeMap<&ArtifactId, &(usize, CacheEntry)> =
            plan.items.iter().map(|item| (&item.1.id, item)).collect();
        let mut fetched = Vec::new();
        while !waiting.is_empty() {
            let ready: Vec<&(usize, CacheEntry)> = waiting
                .values()
                .filter(|(_, entry)| {
                    entry
                        .dependencies
                        .iter()
                        .all(|dependency| !waiting.contains_key(dependency))
                })
                .copied()
                .collect();
            if ready.is_empty() {
                // Entries whose dependencies name each other: no order installs them.
                let (index, entry) = *waiting.values().next().expect("not empty");
                return Err(CacheError::BadEntry {
                    cache: self.caches[*index].0.to_string(),
                    id: entry.id.clone(),
                    message: "its dependencies form a cycle".into(),
                });
            }
            let results: Vec<Result<Option<Fetched>, CacheError>> = ready
                .par_iter()
                .map(|(index, entry)| {
                    let id = &entry.id;
                    let lock = store.lock(id)?;
                    if store.is_present(id)? {
                        return Ok(None);
                    }
                    let cache = &self.caches[*index].0;
                    let one = self.install(store, cache, id, entry, &lock, &mut |p| {
                        progress(id, p);
                    })?;
                    done(&one);
                    Ok(Some(one))
                })
                .collect();
            for (_, entry) in &ready {
                waiting.remove(&entry.id);
            }
            for result in results {
                fetched.extend(result?);
            }
        }
        Ok(fetched)
    }
}
