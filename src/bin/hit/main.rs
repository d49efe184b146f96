//! The `hit` command: parses arguments, dispatches to `hit::ops` through `commands`, and
//! prints. Everything hit prints is printed here or in `commands`/`report`; the libraries
//! never print.
//!
//! Exit status: 0 when the command did what was asked; 1 when a build or a check ran and
//! failed, or the store, disk or network failed; 2 for a usage mistake or bad input (clap's
//! own errors, a recipe, profile or spec that does not evaluate or parse).

// The binary is where hit prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod commands;
mod report;

use clap::Parser;
use std::process::ExitCode;

/// The stack of the thread that runs a command (see `main`).
const COMMAND_STACK_BYTES: usize = 256 << 20;

fn main() -> ExitCode {
    // The sandbox's helpers (see `hit_engine::sandbox`): first, while hit has one thread.
    if let Some(code) = sandbox_helper() {
        return code;
    }
    quiet_on_closed_stdout();
    forward_signals();
    hit_lang::set_memory_probe(resident_bytes);
    let cli = cli::Cli::parse();
    init_logging();
    // Scripts can build values nested some 10,000 deep before Rhai's size limits stop
    // them, and Rhai clones, measures and drops them recursively: the main thread's 8 MiB
    // are not always enough. A thread with room (reserved, not used, until needed).
    let run = std::thread::Builder::new()
        .name("hit".into())
        .stack_size(COMMAND_STACK_BYTES)
        .spawn(move || commands::run(cli));
    let result = match run {
        Ok(thread) => thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(error) => Err(anyhow::anyhow!("cannot start: {error}")),
    };
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            eprint!("{}", report::error_report(&error));
            let code = error
                .downcast_ref::<hit::Error>()
                .map_or(1, hit::Error::exit_code);
            ExitCode::from(code)
        }
    };
    // Builds that failed because a signal was passed on to them: exit as the signal says.
    if let Some(signal) = hit_engine::job::groups::signalled() {
        std::process::exit(128 + signal);
    }
    code
}

/// Runs the sandbox helper that the first argument names, if it names one; `None` for
/// every other command. A helper that fails says why on stderr (the build's log).
fn sandbox_helper() -> Option<ExitCode> {
    let result = hit_engine::sandbox::helper(std::env::args_os().skip(1))?;
    let code = result.unwrap_or_else(|error| {
        eprintln!("{}", hit_engine::errors::with_causes(&error));
        hit_engine::sandbox::SETUP_FAILED
    });
    Some(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}

/// `hit gc --dry-run | head`: when the reader goes away, stop quietly, as other Unix tools
/// do, instead of panicking in `println!` (Rust ignores SIGPIPE, so a write fails instead).
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141); // 128 + SIGPIPE, what a shell reports for `yes | head`
        }
        // A panic inside Rhai is caught by hit-lang and reported as an error about the
        // script (see `Evaluator::run`); its backtrace would only alarm.
        if info
            .location()
            .is_some_and(|location| location.file().contains("/rhai-"))
        {
            return;
        }
        default(info);
    }));
}

/// Build commands run in process groups of their own, out of reach of the terminal's
/// Ctrl-C: on SIGINT, SIGTERM or SIGHUP, hit passes the signal on to them, gives them two
/// seconds, kills what is left, and exits as if the signal had killed it (the store stays
/// consistent, as after any kill).
fn forward_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            // Slurm jobs and steps first: killing sbatch --wait leaves its job running.
            hit_engine::executor::slurm::cancel_submitted();
            hit_engine::job::groups::forward(signal, std::time::Duration::from_secs(2));
            std::process::exit(128 + signal);
        }
    });
}

/// The process's resident memory (Linux's `/proc/self/statm`; 0 elsewhere): how the
/// evaluator sees that a script takes more memory than it may (see
/// `hit_lang::set_memory_probe`). A counting global allocator measured the same but cost
/// 5% of a cold evaluation in atomic operations; this costs a few microseconds per check.
fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * rustix::param::page_size())
}

/// `HIT_LOG=info` (or debug, trace) shows the libraries' tracing output on stderr.
fn init_logging() {
    let level = match std::env::var("HIT_LOG").as_deref() {
        Ok("trace") => tracing::Level::TRACE,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("info") => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
