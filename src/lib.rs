//! hit: declarative, hash-keyed builds of scientific software stacks.
//!
//! This crate is hit's use-case layer, between the `hit` binary (`src/bin/hit`: argument
//! parsing and printing) and the libraries it puts together:
//!
//! - [`ops`]: one module per use case (build, status, inspect, sources, gc, verify, links),
//!   each an options struct in and an outcome out: `ops::verb(&Home, &Options, reporter)`.
//!   They decide and act; what they found goes back as data for the binary to print.
//! - [`loader`]: the file system as the recipe language sees it, host fingerprints included.
//! - [`plan_cache`]: the on-disk cache that lets `hit build` skip evaluating an unchanged
//!   profile.
//!
//! Below it: `hit-lang` (recipes and profiles in Rhai, to build specs), `hit-engine`
//! (source cache, store, builds, profiles, gc, verify) and `hit-spec` (the spec and its
//! hashing, pure). Like them, this crate never prints; errors are an [`Error`] whose
//! [`Error::exit_code`] tells bad input (2) from a failure (1).

pub mod loader;
pub mod ops;
pub mod plan_cache;

pub use ops::Error;
