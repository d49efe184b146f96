//! hit-lang: recipes and profiles in Rhai, evaluated to build specs.
//!
//! - [`Evaluator`] runs scripts in a sandbox (see [`engine`]): a recipe ends with
//!   `recipe(#{...})` and gives a [`Recipe`]; a profile ends with `profile(#{...})` and
//!   gives a [`ProfileDecl`].
//! - [`stages`] holds the stage list model that recipes and profiles edit.
//! - [`plan()`](fn@plan) (module [`plan`](mod@plan)) follows a profile's `extends`, finds and evaluates the recipes it needs,
//!   orders them as a DAG (petgraph) and turns each into a
//!   [`BuildSpec`](hit_spec::BuildSpec): a [`Plan`].
//!
//! Every error is a [`LangError`] that points into the script: file, line, column, line.
//! This crate reads files only through the [`Loader`] it is given (so evaluating a recipe
//! cannot touch the disk: it has no other way to). It depends on `hit-spec` (pure), Rhai,
//! petgraph and rayon (and serde_json, thiserror, tracing), never on the engine.

pub mod engine;
mod error;
pub mod imports;
pub mod param;
pub mod plan;
mod profile;
mod recipe;
pub mod stages;
mod value;

pub use engine::{Evaluator, MAX_MEMORY_BYTES, MAX_SECONDS, set_memory_probe};
pub use error::{LangError, Token};
pub use imports::{Imports, no_imports};
pub use param::{ParamDecl, ParamKind};
pub use plan::{Loader, Plan, PlanOptions, PlannedPackage, load_profile, plan};
pub use profile::{Extend, PackageSettings, Profile, ProfileDecl};
pub use recipe::{Recipe, RecipeSource};
pub use stages::{Stage, StageEntry};
