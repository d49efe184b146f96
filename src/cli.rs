//! Command-line arguments (clap). Parsing only; `main` dispatches to `commands`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// hit: declarative, hash-keyed builds of scientific software stacks.
#[derive(Debug, Parser)]
#[command(name = "hit", version, about, long_about = None)]
pub struct Cli {
    /// The store home (default: ~/.hit).
    #[arg(long, global = true, env = "HIT_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the store home and its config.yaml (other commands do it on first use).
    InitHome,
    /// Print the artifact id (name/hash) of a build spec.
    Hash {
        /// A build.json file, or `-` for standard input.
        spec: PathBuf,
    },
    /// Print an artifact's path in the store, or `(not built)` with exit status 1.
    #[command(disable_help_flag = true)]
    Resolve(ResolveArgs),
    /// Build a build spec unless its artifact is in the store; print its path last.
    Build {
        /// A build.json file, or `-` for standard input.
        spec: PathBuf,
        /// Stream the build log to the terminal.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Put a source in the source cache and print its key.
    Fetch {
        /// http(s)://, file:// or a path; a git repository URL fetches its HEAD.
        url: String,
        /// The expected key (sha256:<hex>, git:<commit>, ...): refuse bytes that differ.
        key: Option<String>,
    },
    /// Unpack a cached source into a directory.
    Unpack {
        key: String,
        dir: PathBuf,
        /// Drop exactly this many leading path components (default: the common directory).
        #[arg(long)]
        strip: Option<u32>,
    },
    /// Remove one artifact from the store.
    Purge {
        /// The artifact id (name/hash).
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// A build.json file (or `-`), or with -h an artifact id.
    pub target: String,
    /// Take TARGET as an artifact id (name/hash) instead of a build spec.
    #[arg(short = 'h', long = "hash")]
    pub by_id: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}
