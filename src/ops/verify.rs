//! `hit verify`: check the store (and, if asked, the source cache), then repair what is
//! broken under the store's exclusive lock. The check is [`hit_engine::verify::check`],
//! the repair [`hit_engine::verify::repair`]: decide, then act.

use super::Result;
use hit_engine::home::Home;
use hit_engine::profile::links::ProfileLinks;
use hit_engine::source::CorruptSource;
use hit_engine::store::Store;
use hit_engine::verify::{Repaired, Report};

/// What `hit verify` checks and does.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Remove what is broken, clear leftovers.
    pub repair: bool,
    /// Also hash every cached source.
    pub sources: bool,
    /// Metadata only: do not read the artifacts' files.
    pub fast: bool,
}

/// What `hit verify` found, and what it repaired.
#[derive(Debug)]
pub struct Verified {
    pub report: Report,
    /// Cached sources whose contents do not match their names (checked only if asked).
    pub corrupt_sources: Vec<CorruptSource>,
    /// With `repair`: what was done.
    pub repaired: Option<Repaired>,
}

impl Verified {
    /// Whether the store is sound, or was made so.
    pub fn ok(&self) -> bool {
        match &self.repaired {
            None => self.report.problems.is_empty() && self.corrupt_sources.is_empty(),
            Some(done) => done.unfixable == 0 && done.unrecognized == 0,
        }
    }
}

pub fn verify(home: &Home, options: VerifyOptions, waiting: &dyn Fn(&str)) -> Result<Verified> {
    let store = Store::for_home(home);
    let links = ProfileLinks::for_home(home);
    let _lock = if options.repair {
        super::gc::exclusive(&store, "verify --repair", waiting)?
    } else {
        store.session()?
    };
    let depth = if options.fast {
        hit_engine::verify::Depth::Fast
    } else {
        hit_engine::verify::Depth::Contents
    };
    let report = hit_engine::verify::check(&store, &links, depth)?;
    let cache = super::source_cache(home);
    let corrupt_sources = if options.sources {
        cache.check()?
    } else {
        Vec::new()
    };
    let repaired = if options.repair {
        for source in &corrupt_sources {
            cache.evict(&source.path)?;
        }
        Some(hit_engine::verify::repair(&store, &links, &report)?)
    } else {
        None
    };
    Ok(Verified {
        report,
        corrupt_sources,
        repaired,
    })
}
