//! What users read, pinned: help, errors, `hit status`, `hit generations` and the summary
//! of a failed build, as exact text (insta snapshots in tests/snapshots/). A change in any
//! of them shows up in review as a changed .snap file; accept it with
//! `INSTA_UPDATE=always cargo test --test cli_snapshots` (or `cargo insta review`).
//!
//! Paths under the test's temporary directory read `[TMP]`, the host's `PATH` `[PATH]`,
//! dates `[DATE]` and build times `[T] s`.

#![allow(clippy::unwrap_used)]

mod common;

use common::Env;
use std::process::Output;

/// Output with what changes from run to run masked.
fn normalized(env: &Env, text: &str) -> String {
    let tmp = env.dir.path().display().to_string();
    let text = text.replace(&tmp, "[TMP]");
    let text = text.replace(
        &common::fixture_recipes().display().to_string(),
        "[FIXTURES]",
    );
    // The host's PATH reaches build logs (it is whitelisted by default).
    let text = match std::env::var("PATH") {
        Ok(path) if !path.is_empty() => text.replace(&format!("PATH={path}"), "PATH=[PATH]"),
        _ => text,
    };
    text.lines().map(mask_line).collect::<Vec<_>>().join("\n")
}

/// `2026-11-30 17:39 UTC` -> `[DATE]`, `in 0.1 s` -> `in [T] s`.
fn mask_line(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        let is_date = rest.len() >= 20
            && rest.is_char_boundary(20)
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes[13] == b':'
            && rest[16..20] == *" UTC"
            && rest[..4].bytes().all(|b| b.is_ascii_digit());
        if is_date {
            out.push_str("[DATE]");
            rest = &rest[20..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("in ")
            && let Some(end) = after.find(" s")
            && end > 0
            && after[..end]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
        {
            out.push_str("in [T] s");
            rest = &after[end + 2..];
            continue;
        }
        let ch = rest.chars().next().unwrap();
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

fn stdout(env: &Env, output: &Output) -> String {
    normalized(env, &String::from_utf8_lossy(&output.stdout))
}

fn stderr(env: &Env, output: &Output) -> String {
    normalized(env, &String::from_utf8_lossy(&output.stderr))
}

/// A profile of the fixture recipes named `name`.
fn profile(env: &Env, name: &str, packages: &str) -> std::path::PathBuf {
    let path = env.path(name);
    std::fs::write(
        &path,
        format!(
            "profile(#{{ package_dirs: [{:?}], packages: [{packages}] }})",
            common::fixture_recipes().display().to_string()
        ),
    )
    .unwrap();
    path
}

#[test]
fn help() {
    let env = Env::new();
    let output = env.hit().arg("--help").output().unwrap();
    insta::assert_snapshot!("help", stdout(&env, &output));
    let output = env.hit().args(["build", "-h"]).output().unwrap();
    insta::assert_snapshot!("help_build", stdout(&env, &output));
}

#[test]
fn errors() {
    let env = Env::new();
    let output = env.hit().args(["build", "missing.rhai"]).output().unwrap();
    insta::assert_snapshot!("error_missing_profile", stderr(&env, &output));
    let output = env.hit().args(["show", "script", "zlib"]).output().unwrap();
    insta::assert_snapshot!("error_missing_profile_show", stderr(&env, &output));
    let output = env
        .hit()
        .args(["build", "--no-such-flag"])
        .output()
        .unwrap();
    insta::assert_snapshot!("error_usage", stderr(&env, &output));
    std::fs::create_dir_all(env.path("recipes")).unwrap();
    std::fs::write(
        env.path("recipes/typo.rhai"),
        "recipe(#{\n    name: \"typo\",\n    stages: autotools(#{ configur: [] }),\n})\n",
    )
    .unwrap();
    std::fs::write(
        env.path("t.rhai"),
        "profile(#{ package_dirs: [\"recipes\"], packages: [\"typo\"] })",
    )
    .unwrap();
    let output = env.hit().args(["build", "t.rhai"]).output().unwrap();
    insta::assert_snapshot!("error_in_recipe", stderr(&env, &output));
    // A recipe where a profile belongs: say so, and show the profile that builds it.
    std::fs::write(
        env.path("recipes/ok.rhai"),
        "recipe(#{ name: \"ok\", stages: [] })\n",
    )
    .unwrap();
    let output = env
        .hit()
        .args(["build", "recipes/ok.rhai"])
        .output()
        .unwrap();
    insta::assert_snapshot!("error_recipe_as_profile", stderr(&env, &output));
}

#[test]
fn status_and_generations() {
    let env = Env::new();
    let small = profile(&env, "p.rhai", r#""hello""#);
    assert!(
        env.hit()
            .arg("build")
            .arg(&small)
            .output()
            .unwrap()
            .status
            .success()
    );
    let output = env.hit().arg("status").arg(&small).output().unwrap();
    insta::assert_snapshot!("status", stdout(&env, &output));
    let bigger = profile(&env, "p.rhai", r#""hello", "greet""#);
    assert!(
        env.hit()
            .arg("build")
            .arg(&bigger)
            .output()
            .unwrap()
            .status
            .success()
    );
    let output = env.hit().args(["generations", "p"]).output().unwrap();
    insta::assert_snapshot!("generations", stdout(&env, &output));
}

#[test]
fn summary_of_a_failed_build() {
    let env = Env::new();
    let failing = profile(&env, "f.rhai", r#""hello", "needs-broken""#);
    let output = env
        .hit()
        .args(["build", "-j", "1"])
        .arg(&failing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!("build_failed", stderr(&env, &output));
}
