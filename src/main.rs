//! The `hit` command: parses arguments, opens the store home and dispatches.
//! Everything it prints is printed here or in `commands`/`report`; the libraries never print.

mod cli;
mod commands;
mod loader;
mod plan_cache;
mod report;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = cli::Cli::parse();
    init_logging();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", report::error_chain(&error));
            ExitCode::FAILURE
        }
    }
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
        default(info);
    }));
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
