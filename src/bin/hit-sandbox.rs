//! `hit-sandbox`: the build sandbox's helper on its own (see `hit_engine::sandbox`).
//!
//! The same code runs as `hit __sandbox-v1`. This small executable exists because every
//! build command starts the helper twice, and each start of the 18 MB `hit` (mapping it,
//! relocating its data) cost about 0.5 ms more. hit uses it when it lies next to `hit`
//! (as `cargo build` and `cargo install` put it), and `hit` itself otherwise.

#![allow(clippy::print_stderr)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(result) = hit_engine::sandbox::helper(std::env::args_os().skip(1)) else {
        eprintln!("hit-sandbox: a helper of hit's build sandbox, started by hit; not a command");
        return ExitCode::from(2);
    };
    let code = result.unwrap_or_else(|error| {
        eprintln!("{}", hit_engine::errors::with_causes(&error));
        hit_engine::sandbox::SETUP_FAILED
    });
    ExitCode::from(u8::try_from(code).unwrap_or(255))
}
