//! Command-line arguments (clap). Parsing only; `commands` turns them into `hit::ops`
//! options.

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
    /// Build a profile (`*.rhai`, default `default.rhai`) and link `./<name>` to it, or
    /// build one build spec (`*.json`, `-` for standard input); print the path last.
    Build {
        /// A profile script or a build.json.
        target: Option<PathBuf>,
        /// Parameters for the profile and its recipes (override the profile's `params`).
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[command(flatten)]
        options: BuildOptions,
    },
    /// List a profile's packages: version, short id, built or missing.
    Status {
        /// The profile (default `default.rhai`).
        profile: Option<PathBuf>,
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// List the recipes in a profile's package dirs (or hit's own), with versions and
    /// descriptions.
    List {
        /// The profile whose package dirs and params to use.
        #[arg(short, long, value_name = "PROFILE")]
        profile: Option<PathBuf>,
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Show one package in full: description, version, recipe file, sources,
    /// dependencies, params, id, and whether it is built.
    Info {
        package: String,
        /// Plan it in this profile (default: a profile of this package alone over hit's
        /// package dirs).
        #[arg(short, long, value_name = "PROFILE")]
        profile: Option<PathBuf>,
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Draw a profile's dependency graph (build-only edges marked).
    Graph {
        /// A profile script, or a built profile (`./small`, read from the store).
        target: Option<PathBuf>,
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Say why a package of a profile evaluates to another id than the one in the
    /// profile's link: the fields that changed, following changed dependencies down to
    /// the cause.
    Why {
        package: String,
        #[command(flatten)]
        profile: ProfileArg,
        /// Compare with this profile link (default: the profile's, `./<name>`).
        #[arg(long, value_name = "LINK")]
        link: Option<PathBuf>,
    },
    /// Compare two artifacts (`name/hash`), two build.json files, or two built profiles
    /// (links, or `LINK@N` for generation N), down to the fields that differ.
    Diff { old: String, new: String },
    /// Show what hit generates for a package of a profile.
    Show {
        #[command(subcommand)]
        what: ShowWhat,
    },
    /// Prepare a package's build directory for building by hand: sources unpacked, and
    /// `hit-build.sh` with the environment and stages.
    Bdir {
        package: String,
        dir: PathBuf,
        #[command(flatten)]
        profile: ProfileArg,
    },
    /// Print the artifact id (name/hash) of a build spec or of a package of a profile.
    Hash {
        /// A build.json, `-` for standard input, or a package name.
        target: String,
        #[command(flatten)]
        profile: ProfileArg,
    },
    /// Print an artifact's path in the store, or `(not built)` with exit status 1.
    Resolve(ResolveArgs),
    /// Put a source in the source cache and print its key, or with --lock every source a
    /// lockfile names (for a machine without network, fetch them where there is one).
    Fetch {
        /// http(s)://, file:// or a path; a git repository URL fetches its HEAD.
        #[arg(required_unless_present = "lock")]
        url: Option<String>,
        /// The expected key (sha256:<hex>, git:<commit>, ...): refuse bytes that differ.
        #[arg(conflicts_with = "branch")]
        key: Option<String>,
        /// For a git repository: fetch this branch or tag instead of HEAD, and print the
        /// commit it names now (`git:<commit>`), to pin in a recipe.
        #[arg(long, value_name = "REV")]
        branch: Option<String>,
        /// Fetch every source of this lockfile instead.
        #[arg(long, value_name = "LOCKFILE", conflicts_with_all = ["url", "key"])]
        lock: Option<PathBuf>,
    },
    /// Lay out (or update) a mirror directory with every source the profiles or lockfiles
    /// need, as `DIR/sha256/<hex>`: serve it over HTTP or a shared file system, and list
    /// it in `mirrors:` on machines without network.
    Mirror {
        #[command(subcommand)]
        what: MirrorWhat,
    },
    /// Signing keys for binary caches.
    Key {
        #[command(subcommand)]
        what: KeyWhat,
    },
    /// Copy artifacts with their whole closure into a binary cache directory, signed
    /// (serve the directory over HTTP, or share it on a file system).
    Push {
        /// A directory (made a cache if it is not one yet).
        cache: PathBuf,
        /// Artifact ids (name/hash), profile links or artifact directories, or profile
        /// scripts (their built profile).
        #[arg(required = true)]
        targets: Vec<String>,
        /// The secret key to sign with (default: signing_key in config.yaml).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Push artifacts that are not relocatable too (they can only be installed in a
        /// store at the same path as this one).
        #[arg(long)]
        force: bool,
        /// Say what would be pushed; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Install artifacts with their closure from a binary cache, checked (signature,
    /// archive and content hashes) and relocated into this store.
    Pull {
        /// The cache: a directory, or an http(s) URL.
        cache: String,
        /// Artifact ids (name/hash) or profile scripts (all their packages).
        #[arg(required = true)]
        targets: Vec<String>,
        /// Point this profile link at the pulled profile (one target: a profile's id).
        #[arg(long, value_name = "LINK")]
        link: Option<PathBuf>,
        /// Say what would be installed; install nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a profile's lockfile (`.rhai` -> `.lock`): every package's id, version,
    /// sources and params, for `hit build --locked` and `hit fetch --lock`.
    Lock {
        /// The profile (default `default.rhai`).
        profile: Option<PathBuf>,
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Write here instead.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Unpack a cached source into a new or empty directory.
    Unpack {
        key: String,
        dir: PathBuf,
        /// Drop exactly this many leading path components (default: the common directory).
        #[arg(long)]
        strip: Option<u32>,
        /// Unpack into a directory that is not empty, replacing files of the same names.
        #[arg(long)]
        force: bool,
    },
    /// Delete artifacts no gc root reaches, stale roots, and sources no kept artifact uses.
    Gc {
        /// Only say what would be deleted, and why the rest is kept.
        #[arg(long)]
        dry_run: bool,
        /// Only list the gc roots.
        #[arg(long, conflicts_with = "dry_run")]
        list: bool,
        /// Also delete the newest failed build of each package (kept for inspection).
        #[arg(long)]
        all: bool,
    },
    /// List the generations of a profile link (of every link hit manages without one), or
    /// drop some with --delete.
    Generations {
        /// The profile link, e.g. `small`.
        link: Option<PathBuf>,
        /// Drop these generations: numbers, ranges (`2-5`), `old` (all but the current),
        /// `+N` (all but the newest N), `Nd` (older than N days). The current one stays.
        #[arg(long, num_args = 1.., value_name = "WHICH", requires = "link")]
        delete: Option<Vec<String>>,
    },
    /// Point a profile link back at its previous generation, or at generation --to N.
    Rollback {
        /// The profile link (default: the only one in this directory).
        link: Option<PathBuf>,
        #[arg(long, value_name = "N")]
        to: Option<u32>,
    },
    /// Copy a profile link; the copy is a gc root with generations of its own.
    Cp { from: PathBuf, to: PathBuf },
    /// Rename a profile link, generations and all.
    Mv { from: PathBuf, to: PathBuf },
    /// Print the shell commands that put a built profile in use (`eval "$(hit env ./small)"`),
    /// or with --unset that take it out again.
    Env {
        /// A profile link (`./small`) or tree, or a profile script whose profile is built.
        target: PathBuf,
        /// Parameters of a profile script, as for `hit build`.
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// The shell to write for.
        #[arg(long, value_enum, default_value_t = ShellKind::Sh)]
        shell: ShellKind,
        /// Remove the profile's directories from the variables instead.
        #[arg(long)]
        unset: bool,
        /// Also CPATH and LIBRARY_PATH, for compilers used outside hit.
        #[arg(long)]
        dev: bool,
    },
    /// Run a shell (or, after `--`, a command) with a built profile in use.
    Shell {
        /// A profile link (`./small`) or tree, or a profile script whose profile is built.
        target: PathBuf,
        /// Parameters of a profile script, as for `hit build`.
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Also CPATH and LIBRARY_PATH, for compilers used outside hit.
        #[arg(long)]
        dev: bool,
        /// The command to run instead of `$SHELL`.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Write environment module files (Lmod or Tcl) for a built profile into DIR: one per
    /// package (`name/version-hash`) and `profile-<name>` for the whole profile. Files of
    /// packages no longer in the profile are removed.
    Modules {
        /// A profile link (`./small`), or a profile script whose profile is built.
        target: PathBuf,
        /// The directory for the module files (new, empty, or written by `hit modules`).
        dir: PathBuf,
        /// Parameters of a profile script, as for `hit build`.
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Lmod's Lua files or Tcl files (environment-modules; Lmod reads them too).
        #[arg(long, value_enum, default_value_t = ModuleFormatArg::Lmod)]
        format: ModuleFormatArg,
        /// Only say what would be written and removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Make DIR a writable prefix over a built profile (real directories, links to the
    /// store) to `make install` your own code into; --update follows the profile's
    /// changes, keeping what you added.
    Develop {
        /// A profile link (`./small`), or a profile script whose profile is built.
        target: PathBuf,
        /// The prefix (new or empty; or with --update, one `hit develop` made).
        dir: PathBuf,
        /// Parameters of a profile script, as for `hit build`.
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Bring an existing prefix up to date with the profile.
        #[arg(long)]
        update: bool,
        /// Only say what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a shell completion script (`hit completions bash > ~/.local/share/bash-completion/completions/hit`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print hit's man page, or with --dir write one page per command into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Remove a profile link and its generations; `hit gc` then frees what only they used.
    Rm { link: PathBuf },
    /// Check every artifact (its files against its content manifest, the hash of
    /// build.json, read-only, dependencies present) and profile link; exit status 1 if
    /// something is broken.
    Verify {
        /// Remove broken artifacts (and what depends on them), drop broken generations,
        /// switch broken links to their newest intact generation, clear leftovers.
        #[arg(long)]
        repair: bool,
        /// Also check every cached source against the hash in its name (repair removes a
        /// corrupt one; the next build fetches it again).
        #[arg(long)]
        sources: bool,
        /// Check metadata only, without reading the artifacts' files.
        #[arg(long)]
        fast: bool,
    },
    /// Remove one artifact from the store.
    Purge {
        /// The artifact id (name/hash).
        id: String,
        /// Remove it even if a profile link or generation uses it (that profile breaks
        /// until it is built again).
        #[arg(long)]
        force: bool,
    },
}

/// How `hit build` runs and reports.
#[derive(Debug, Clone, Args)]
pub struct BuildOptions {
    /// Jobs at once across all builds (one GNU make jobserver; default: the number of CPUs;
    /// at most 4096).
    #[arg(short, long, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Stop starting builds after the first failure (default: keep building what does not
    /// depend on it).
    #[arg(long)]
    pub fail_fast: bool,
    /// Stream build logs to the terminal.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Show only errors and the final line.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write one JSON event per line on stdout (started, finished, failed, skipped, ...).
    #[arg(long, conflicts_with_all = ["verbose", "quiet"])]
    pub json: bool,
    /// Say what would be fetched, built and reused; run nothing, link nothing.
    #[arg(long, conflicts_with = "json")]
    pub dry_run: bool,
    /// Build exactly the ids of the profile's lockfile (`hit lock`), or fail naming each
    /// package that evaluates to something else now.
    #[arg(long)]
    pub locked: bool,
    /// The lockfile for --locked (default: the profile's, `.rhai` -> `.lock`).
    #[arg(long, value_name = "FILE", requires = "locked")]
    pub lock: Option<PathBuf>,
    /// Build everything here; do not try the binary caches of config.yaml.
    #[arg(long)]
    pub no_caches: bool,
    /// Run every build command in the sandbox (docs/sandbox.md), or fail where it cannot
    /// be used (default: `sandbox` of config.yaml, `auto`).
    #[arg(long, conflicts_with = "no_sandbox")]
    pub sandbox: bool,
    /// Run build commands without the sandbox.
    #[arg(long)]
    pub no_sandbox: bool,
    /// After the build, rebuild every package of it in a scratch stage (in the sandbox, at
    /// the artifact's own path) and compare with the store, file by file; exit 1 if one
    /// differs. The result is recorded in each artifact.json (`reproducible`).
    #[arg(long, conflicts_with_all = ["dry_run", "no_sandbox"])]
    pub check: bool,
    /// Where builds run (default: `executor` of config.yaml, `local`): `slurm` runs each as a
    /// job step inside an allocation (`salloc`), or as a batch job outside one.
    #[arg(long, value_enum, value_name = "WHERE")]
    pub executor: Option<ExecutorArg>,
    /// With Slurm: run a build that Slurm killed (time limit, node failure, preemption)
    /// again, up to N times.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// With --check: rebuild each package this many times (each compared with the store).
    #[arg(long, value_name = "N", requires = "check", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: Option<u32>,
}

/// `--executor`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExecutorArg {
    Local,
    Slurm,
}

#[derive(Debug, Subcommand)]
pub enum KeyWhat {
    /// Make an ed25519 key pair: NAME.secret (mode 0600) and NAME.public, in the home's
    /// keys/ unless --dir says elsewhere; print the public key.
    Generate {
        /// The key's name, e.g. `cluster.example.org-1` (travels with every signature).
        name: String,
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The shells `hit env` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShellKind {
    /// sh, bash, zsh, dash, ksh.
    Sh,
    Bash,
    Zsh,
    Fish,
    /// csh and tcsh.
    Csh,
}

#[derive(Debug, Subcommand)]
pub enum MirrorWhat {
    /// Fetch every source of the targets and put it into DIR.
    Create {
        dir: PathBuf,
        /// Profile scripts (`*.rhai`) or lockfiles (`*.lock`).
        #[arg(required = true)]
        targets: Vec<PathBuf>,
        /// Parameters for the profiles, as for `hit build`.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
}

/// How `hit graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// A tree per top-level package, as `cargo tree` draws.
    Text,
    /// Graphviz (`hit graph --format dot | dot -Tsvg`).
    Dot,
    /// Mermaid, for Markdown.
    Mermaid,
}

/// The module systems `hit modules` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModuleFormatArg {
    /// Lmod's Lua module files.
    Lmod,
    /// Tcl module files (environment-modules).
    Tcl,
}

#[derive(Debug, Subcommand)]
pub enum ShowWhat {
    /// The build spec (build.json) of a package.
    Buildspec {
        package: String,
        #[command(flatten)]
        profile: ProfileArg,
    },
    /// The build of a package as a shell script.
    Script {
        package: String,
        #[command(flatten)]
        profile: ProfileArg,
    },
    /// What the relocation check found in a built package: RUNPATHs made relative, text
    /// files and links naming the store, and whatever makes it not relocatable.
    Relocation {
        package: String,
        #[command(flatten)]
        profile: ProfileArg,
    },
}

#[derive(Debug, Args)]
pub struct ProfileArg {
    /// The profile the package belongs to.
    #[arg(short, long, default_value = "default.rhai", value_name = "PROFILE")]
    pub profile: PathBuf,
    /// Parameters for the profile and its recipes, as for `hit build`.
    #[arg(value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// A build.json (or `-`), a package of the profile, or with --hash an artifact id.
    pub target: String,
    /// Take TARGET as an artifact id (name/hash).
    #[arg(long = "hash")]
    pub by_id: bool,
    #[command(flatten)]
    pub profile: ProfileArg,
}

/// `-j N`: 1 to [`hit_engine::jobserver::MAX_TOKENS`].
fn parse_jobs(text: &str) -> Result<usize, String> {
    let max = hit_engine::jobserver::MAX_TOKENS;
    match text.parse::<usize>() {
        Ok(jobs) if (1..=max).contains(&jobs) => Ok(jobs),
        _ => Err(format!(
            "give a number of jobs from 1 to {max} (a make jobserver's pipe holds at most that many tokens)"
        )),
    }
}
