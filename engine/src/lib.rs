//! hit-engine: everything in hit that is not the recipe language.
//!
//! - [`spec`]: build specs, canonical JSON and hashing, artifact ids: the `hit-spec` crate
//!   (pure, no I/O), re-exported; [`shell`] is its shell quoting.
//! - [`home`]: the store home (`~/.hit` or `$HIT_HOME`) and its `config.yaml`.
//! - [`ownership`]: the marker files and names that prove what hit made, and so may delete.
//! - [`source`]: the source cache: fetch (http/https, file, git, inline files), verify,
//!   unpack archives safely.
//! - [`store`]: the artifact store: layout, lookup, locks, staging and atomic commit.
//! - [`jobserver`]: the GNU make jobserver all builds share.
//! - [`job`]: the command language interpreter that runs one build's commands.
//! - [`profile`]: profile artifacts (trees of symlinks to packages); [`profile::links`]: the
//!   `./<profile>` links, their atomic switch, generations and gc roots.
//! - [`gc`]: mark from the gc roots, sweep unreachable artifacts and unused sources.
//! - [`verify`]: check the store against its metadata; repair what is broken.
//! - [`errors`]: how errors read: `Display` says what failed, `source()` why.
//! - [`executor`]: where a build runs: here ([`build::Builder`]), or as Slurm job steps or
//!   jobs writing into the same store.
//! - [`schedule`]: the job queue: a DAG of builds in parallel under one make jobserver,
//!   critical path first, keep-going or fail-fast; [`durations`] feeds its order.
//! - [`build`]: builds one artifact: lock, fetch, unpack, run, commit; reports progress
//!   through [`build::Reporter`] and returns a failure as data. With a
//!   [`cache::Substituter`], it first tries to install the artifact from a binary cache.
//! - [`sandbox`]: the namespaces each build command runs in (no root): read-only store and
//!   host toolchain, a private `/tmp`, no network, nothing left running after it.
//! - [`cache`]: binary caches: signed entries and archives as static files; push, and
//!   install with every check before the commit.
//!
//! Dependencies point one way: `spec` <- `source`, `store` <- `sandbox` <- `job` <- `cache`
//! <- `build`, `profile`. The library
//! never prints; the `hit` binary does.

pub mod build;
pub mod cache;
pub mod durations;
pub mod errors;
pub mod executor;
pub mod gc;
pub mod home;
pub mod job;
pub mod jobserver;
pub mod ownership;
pub mod profile;
pub mod sandbox;
pub mod schedule;
pub mod source;
pub mod store;
pub use hit_spec as spec;
pub use hit_spec::shell;
pub mod verify;
