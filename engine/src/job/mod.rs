//! The job runner: interprets a build's commands (see [`crate::spec::Command`]).
//!
//! Commands run without a shell, with exactly the environment the build sets up (it
//! starts empty; see `crate::build`), in the build directory. Their stdout and stderr
//! go, interleaved as written, to the build log; before each step the log gets a
//! `+ ...` line saying what ran. Variables set at one level of scopes stay in that scope.
//! Any failure names the step (`build.commands[2]`) and what went wrong. Each command runs
//! in a process group of its own that dies with it ([`groups`]).

pub mod groups;
mod log;
mod runner;
mod substitute;

pub use crate::shell::quote;
pub use log::{BuildLog, LogSink, NoSink, log_tail};
pub use runner::{Environment, JobError, JobRunner};
pub use substitute::{SubstituteError, substitute};

pub use crate::spec::is_variable_name;
