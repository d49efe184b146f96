//! Build specs and their identity. Pure: no I/O.
//!
//! A build spec is a JSON document (the shape is HashDist's) that says everything that
//! goes into an artifact: name, version, sources, the artifacts it imports and the
//! commands that build it. Its hash is the artifact's identity:
//!
//! - [`BuildSpec`] parses and validates a document, fills in HashDist's defaults and
//!   computes the [`ArtifactId`] (`name/hash`);
//! - [`canonical`] holds the canonical JSON form and the hashing (the algorithm table is
//!   there);
//! - [`Command`] is the command language of `build.commands`;
//! - [`SourceSpec`] and [`SourceKey`] describe the sources;
//! - [`VirtualImport`] is HashDist's `virtual:` import: hashed by its name, resolved to an
//!   artifact only when the spec is built;
//! - [`SpecParts`] are the typed parts a recipe lowers to; every typed value writes itself
//!   back as JSON (`to_document`), and [`BuildSpec::new`] validates and hashes the result;
//! - [`shell`] quotes command lines for people and for `sh`; [`pack`] is HashDist's
//!   format for inline files; [`diff`](mod@diff) compares two specs field by field;
//!   [`SpecSummary`] reads only what describes an artifact's use (name, version, run-time
//!   environment, imports) from a stored spec.
//!
//! The crate does no I/O: it depends on serde, serde_json, sha2 and thiserror only, and both the
//! recipe language (hit-lang) and the engine (hit-engine, which re-exports it as
//! `hit_engine::spec`) build on it.
//!
//! Unknown fields and repeated keys are errors (a typo must not silently change nothing); any field whose
//! name starts with `nohash_` is allowed everywhere and never changes the id.

mod artifact_id;
mod build_spec;
pub mod canonical;
mod command;
pub mod diff;
mod document;
pub mod pack;
pub mod shell;
mod source;
mod strict_json;
mod summary;

pub use artifact_id::{ArtifactId, HASH_LEN, IdError, MAX_NAME_LEN, PackageName};
pub use build_spec::{
    BuildSpec, HASHDIST_FIELDS, Import, SpecError, SpecParts, VirtualImport, pretty_document,
};
pub use command::{Command, EnvChange, EnvOp, Input, RunCommand};
pub use document::is_variable_name;
pub use source::{ARCHIVE_KEY_TYPES, KeyError, SourceKey, SourceSpec, Strip};
pub use summary::SpecSummary;
