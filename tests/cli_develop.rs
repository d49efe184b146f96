//! `hit develop`: a writable prefix over a built profile. (A real `make install` against
//! zlib is in the real-stack test.)
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, stderr_of, stdout_of};
use predicates::prelude::*;
use std::path::Path;

fn build(env: &Env, profile: &Path) {
    let output = env
        .hit()
        .args(["build", "-q"])
        .arg(profile)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
}

#[test]
fn develop_makes_a_writable_prefix_that_keeps_the_developers_files() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    build(&env, &profile);
    env.hit()
        .args(["develop", "./p", "dev"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "6 linked, 0 relinked, 0 unlinked, 0 conflicts",
        ));
    let dev = env.path("dev");
    // Real directories, links into the store, and the programs run from there.
    assert!(
        !std::fs::symlink_metadata(dev.join("bin"))
            .unwrap()
            .is_symlink()
    );
    let greet = std::fs::read_link(dev.join("bin/greet")).unwrap();
    assert!(
        greet.starts_with(env.home().join("bld/greet")),
        "{}",
        greet.display()
    );
    let output = std::process::Command::new(dev.join("bin/greet"))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&output), "hello hi\n");

    // The developer installs a program, and replaces a file of the profile with their own.
    std::fs::write(dev.join("bin/mine"), "#!/bin/sh\necho mine\n").unwrap();
    std::fs::remove_file(dev.join("share/doc/hello.txt")).unwrap();
    std::fs::write(dev.join("share/doc/hello.txt"), "my own docs\n").unwrap();

    // The profile changes (another greeting): --update relinks greet's files only.
    let text = std::fs::read_to_string(&profile).unwrap();
    std::fs::write(
        &profile,
        text.replace("] })", r#"], params: #{ greeting: "hey" } })"#),
    )
    .unwrap();
    build(&env, &profile);
    env.hit()
        .args(["develop", "./p", "dev"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is a develop prefix already"));
    let output = env
        .hit()
        .args(["develop", "./p", "dev", "--update"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stdout_of(&output).contains("0 linked, 4 relinked, 0 unlinked, 1 conflict"),
        "{}",
        stdout_of(&output)
    );
    assert!(
        stderr_of(&output).contains("conflict: share/doc/hello.txt is yours"),
        "{}",
        stderr_of(&output)
    );
    let output = std::process::Command::new(dev.join("bin/greet"))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&output), "hello hey\n");
    assert_eq!(
        std::fs::read_to_string(dev.join("bin/mine")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(dev.join("share/doc/hello.txt")).unwrap(),
        "my own docs\n"
    );

    // gc keeps what the prefix uses after the profile link is gone, and frees it once
    // the prefix is.
    env.hit().args(["rm", "p"]).assert().success();
    env.hit().arg("gc").assert().success();
    assert!(
        greet_target(&dev).exists(),
        "gc deleted what the prefix uses"
    );
    std::fs::remove_dir_all(&dev).unwrap();
    env.hit().arg("gc").assert().success();
    assert!(!Path::new(&greet).exists());
}

fn greet_target(dev: &Path) -> std::path::PathBuf {
    std::fs::read_link(dev.join("bin/greet")).unwrap()
}

#[test]
fn develop_refuses_a_directory_that_is_not_its_own() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""hello""#);
    build(&env, &profile);
    std::fs::create_dir(env.path("src")).unwrap();
    std::fs::write(env.path("src/main.c"), "int main;").unwrap();
    env.hit()
        .args(["develop", "./p", "src"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "is not empty and not a develop prefix",
        ));
    env.hit()
        .args(["develop", "./p", "new", "--update"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a develop prefix"));
    assert_eq!(std::fs::read_dir(env.path("src")).unwrap().count(), 1);
    assert!(!env.path("new").exists());
}
