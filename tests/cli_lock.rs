//! Lockfiles: `hit lock`, `hit build --locked`, `hit fetch --lock`, `hit build --dry-run`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, HttpServer, RawMember, gzip, raw_tar, stderr_of, stdout_of};
use predicates::prelude::*;
use std::path::{Path, PathBuf};

/// Recipes `data` (a tarball from `server`) and `app` (needs data), and `p.rhai` of app.
fn setup(env: &Env, server: &HttpServer, served: &Path, data_version: &str) -> PathBuf {
    let tarball = gzip(&raw_tar(&[
        RawMember::dir("data-1/"),
        RawMember::file("data-1/numbers.txt", b"1 2 3\n"),
    ]));
    std::fs::create_dir_all(served).unwrap();
    std::fs::write(served.join("data-1.tar.gz"), &tarball).unwrap();
    let sha = common::sha256_hex(&served.join("data-1.tar.gz"));
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(
        recipes.join("data.rhai"),
        format!(
            r#"recipe(#{{ name: "data", toolchain: false, version: "{data_version}",
    sources: [#{{ url: "{}/data-1.tar.gz", sha256: "{sha}" }}],
    stages: [stage("install", ["mkdir -p $ARTIFACT/share", "cp numbers.txt $ARTIFACT/share/"])] }})"#,
            server.url
        ),
    )
    .unwrap();
    std::fs::write(
        recipes.join("app.rhai"),
        r#"recipe(#{ name: "app", toolchain: false, version: "1.0", deps: ["data"],
    stages: [stage("install", ["mkdir -p $ARTIFACT/bin", "cp $DATA_DIR/share/numbers.txt $ARTIFACT/bin/"])] })"#,
    )
    .unwrap();
    let profile = env.path("p.rhai");
    std::fs::write(
        &profile,
        format!(
            r#"profile(#{{ package_dirs: [{:?}], packages: ["app"] }})"#,
            recipes.display().to_string()
        ),
    )
    .unwrap();
    profile
}

fn hash_of(env: &Env, package: &str) -> String {
    stdout_of(
        &env.hit()
            .args(["hash", package, "-p", "p.rhai"])
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned()
}

fn store_listing(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = walk(&env.home().join("bld"));
    names.sort();
    names
}

fn walk(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .flat_map(|entry| {
            std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|inner| inner.path().display().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_lockfile_pins_ids_and_locked_builds_refuse_anything_else() {
    let env = Env::new();
    let served = env.path("served");
    let server = HttpServer::serve(&served);
    let profile = setup(&env, &server, &served, "1");
    env.hit()
        .args(["lock", "p.rhai"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "wrote p.lock: 2 packages of profile p",
        ));
    let text = std::fs::read_to_string(env.path("p.lock")).unwrap();
    let lock: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(lock["packages"][0]["id"], hash_of(&env, "data"));
    assert_eq!(lock["packages"][1]["id"], hash_of(&env, "app"));
    assert_eq!(lock["packages"][1]["deps"], serde_json::json!(["data"]));
    assert_eq!(
        lock["packages"][0]["sources"][0]["url"],
        format!("{}/data-1.tar.gz", server.url)
    );
    // Stable: the same evaluation writes the same bytes.
    env.hit().args(["lock", "p.rhai"]).assert().success();
    assert_eq!(std::fs::read_to_string(env.path("p.lock")).unwrap(), text);

    // A dry run says what a build would do, and does none of it.
    let dry = env
        .hit()
        .args(["build", "--dry-run", "p.rhai"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", stderr_of(&dry));
    let said = stdout_of(&dry);
    assert!(
        said.contains(&format!("build  data ({})", hash_of(&env, "data")))
            && said.contains(&format!(
                "fetch sha256:{}",
                &lock["packages"][0]["sources"][0]["key"].as_str().unwrap()[7..]
            ))
            && said.contains("would build 2 packages, reuse 0, fetch 1 source"),
        "{said}"
    );
    assert!(store_listing(&env).is_empty() && !env.path("p").exists());
    assert!(!server.requested("/data-1.tar.gz"), "a dry run fetched");

    let output = env
        .hit()
        .args(["build", "--locked", "-q"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let built = store_listing(&env);

    // data's version changes: both ids change; --locked says how, and builds nothing.
    setup(&env, &server, &served, "2");
    let output = env
        .hit()
        .args(["build", "--locked"])
        .arg(&profile)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = stderr_of(&output);
    assert!(
        said.contains("the profile does not evaluate to its lockfile any more")
            && said.contains("data: locked ")
            && said.contains("(version 1 -> 2)")
            && said.contains("app: locked ")
            && said.contains("(dependency changed: data)"),
        "{said}"
    );
    assert_eq!(store_listing(&env), built, "--locked built something");
    // The dry run now reuses nothing but has the source already.
    let said = stdout_of(
        &env.hit()
            .args(["build", "--dry-run", "p.rhai"])
            .output()
            .unwrap(),
    );
    assert!(
        said.contains("would build 2 packages, reuse 0, fetch 0 sources"),
        "{said}"
    );
}

#[test]
fn fetch_lock_fills_a_source_cache_ahead_of_time() {
    let env = Env::new();
    let served = env.path("served");
    let server = HttpServer::serve(&served);
    setup(&env, &server, &served, "1");
    env.hit().args(["lock", "p.rhai"]).assert().success();
    let output = env
        .hit()
        .args(["fetch", "--lock", "p.lock"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stdout_of(&output).contains("data: sha256:")
            && stdout_of(&output).contains("1 source in the source cache, 0 failed"),
        "{}",
        stdout_of(&output)
    );
    assert!(server.requested("/data-1.tar.gz"));
    // Now the server is gone (the files are): a build still works.
    std::fs::remove_file(served.join("data-1.tar.gz")).unwrap();
    let output = env
        .hit()
        .args(["build", "--locked", "-q", "p.rhai"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let again = env
        .hit()
        .args(["fetch", "--lock", "p.lock"])
        .output()
        .unwrap();
    assert!(
        stdout_of(&again).contains("(the source cache)"),
        "{}",
        stdout_of(&again)
    );
}

#[test]
fn bad_lockfiles_are_refused_with_what_is_wrong() {
    let env = Env::new();
    let served = env.path("served");
    let server = HttpServer::serve(&served);
    setup(&env, &server, &served, "1");
    env.hit()
        .args(["build", "--locked", "p.rhai"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--locked: no lockfile p.lock; write one with `hit lock p.rhai`",
        ));
    std::fs::write(
        env.path("new.lock"),
        r#"{"format": 9, "hit": "7.0.0", "packages": []}"#,
    )
    .unwrap();
    env.hit()
        .args(["build", "--locked", "--lock", "new.lock", "p.rhai"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "written by a newer hit (7.0.0, lockfile format 9)",
        ));
    std::fs::write(env.path("cut.lock"), "{\"format\": 1,\n \"packages\": [").unwrap();
    env.hit()
        .args(["fetch", "--lock", "cut.lock"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("lockfile cut.lock: EOF while parsing")
                .and(predicate::str::contains("line 2")),
        );
    assert!(store_listing(&env).is_empty());
}

/// `hit mirror create` lays out every source a profile (or lockfile) needs; a home with
/// only that mirror builds the profile once the sources' server is gone.
#[test]
fn a_mirror_made_from_a_profile_serves_an_offline_home() {
    let env = Env::new();
    let served = env.path("served");
    let server = HttpServer::serve(&served);
    setup(&env, &server, &served, "1");
    env.hit()
        .args(["mirror", "create", "mirror", "p.rhai"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 source added, 0 already there, 0 failed",
        ));
    env.hit().args(["lock", "p.rhai"]).assert().success();
    env.hit()
        .args(["mirror", "create", "mirror", "p.lock"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 sources added, 1 already there"));
    std::fs::remove_file(served.join("data-1.tar.gz")).unwrap();
    let offline = env.path("offline-home");
    std::fs::create_dir_all(&offline).unwrap();
    std::fs::write(
        offline.join("config.yaml"),
        format!("mirrors: [{}]\n", env.path("mirror").display()),
    )
    .unwrap();
    let output = env
        .hit()
        .env("HIT_HOME", &offline)
        .args(["build", "-q", "p.rhai"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    env.hit()
        .args(["mirror", "create", "mirror"])
        .assert()
        .code(2);
}
