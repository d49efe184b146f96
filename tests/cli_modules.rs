//! `hit modules` with the real module systems: Lmod (Lua files) and environment-modules
//! (Tcl files). `.ci/run` installs both (Lmod unpacked beside environment-modules, as the
//! two packages conflict; `HIT_TEST_LMOD` names its `libexec/lmod`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, missing, stderr_of, stdout_of};
use predicates::prelude::*;
use std::path::PathBuf;

/// Lmod's command: `$HIT_TEST_LMOD`, or where Debian's lmod package puts it.
fn lmod() -> Option<PathBuf> {
    let path = std::env::var_os("HIT_TEST_LMOD").map_or_else(
        || PathBuf::from("/usr/share/lmod/lmod/libexec/lmod"),
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    (!missing("Lmod (set HIT_TEST_LMOD to its libexec/lmod)")).then_some(path)
}

/// environment-modules' shell setup.
fn tcl_modules() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/share/modules/init/bash");
    if path.is_file() {
        return Some(path);
    }
    (!missing("environment-modules")).then_some(path)
}

/// Loads greet (which needs hello at run time) and the whole profile, in bash with the
/// module command `setup` defines.
fn exercise(env: &Env, setup: &str, dir: &str) -> String {
    let script = format!(
        r#"{setup}
module use {dir}
module load greet
greet; hello x; echo "docs=$HELLO_DOCS"
module unload greet
command -v hello || echo "hello unloaded"
module load profile-p; greet; echo "docs=$HELLO_DOCS""#
    );
    let output = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    stdout_of(&output)
}

fn built(env: &Env) -> String {
    let profile = env.fixture_profile(r#""greet""#);
    let output = env
        .hit()
        .args(["build", "-q"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let hello = env
        .hit()
        .args(["resolve", "hello", "-p"])
        .arg(&profile)
        .output()
        .unwrap();
    stdout_of(&hello).trim().to_owned()
}

#[test]
fn lmod_loads_a_package_with_its_dependencies_and_the_profile() {
    let Some(lmod) = lmod() else { return };
    let env = Env::new();
    let hello = built(&env);
    env.hit()
        .args(["modules", "./p", "mods"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "3 written, 0 unchanged, 0 removed",
        ));
    let setup = format!(r#"module() {{ eval "$({} bash "$@")"; }}"#, lmod.display());
    let p = env.path("p").display().to_string();
    assert_eq!(
        exercise(&env, &setup, "mods"),
        format!(
            "hello hi\nhello x\ndocs={hello}/share/doc\nhello unloaded\nhello hi\ndocs={p}/share/doc\n"
        )
    );
    let text = std::fs::read_dir(env.path("mods/hello"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(
        text.contains(r#"whatis("Description: Says hello")"#)
            && text.contains("Homepage: https://example.org/hello"),
        "{text}"
    );
    // Again: nothing to do.
    env.hit()
        .args(["modules", "./p", "mods"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 written, 3 unchanged, 0 removed",
        ));
}

#[test]
fn tcl_modules_load_requirements_and_regenerating_drops_old_packages() {
    let Some(init) = tcl_modules() else { return };
    let env = Env::new();
    let hello = built(&env);
    env.hit()
        .args(["modules", "./p", "tcl", "--format", "tcl"])
        .assert()
        .success();
    let setup = format!("source {}", init.display());
    let p = env.path("p").display().to_string();
    assert_eq!(
        exercise(&env, &setup, "tcl"),
        format!(
            "hello hi\nhello x\ndocs={hello}/share/doc\nhello unloaded\nhello hi\ndocs={p}/share/doc\n"
        )
    );
    // The profile without greet: its module goes, with its directory.
    let fewer = env.path("p.rhai");
    let text = std::fs::read_to_string(&fewer)
        .unwrap()
        .replace(r#""greet""#, r#""hello""#);
    std::fs::write(&fewer, text).unwrap();
    assert!(
        env.hit()
            .args(["build", "-q", "p.rhai"])
            .output()
            .unwrap()
            .status
            .success()
    );
    env.hit()
        .args(["modules", "./p", "tcl", "--format", "tcl"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 written, 1 unchanged, 1 removed",
        ));
    assert!(!env.path("tcl/greet").exists());
    assert!(env.path("tcl/profile-p").exists());
}

#[test]
fn modules_refuse_a_directory_hit_did_not_write() {
    let env = Env::new();
    built(&env);
    std::fs::create_dir(env.path("mine")).unwrap();
    std::fs::write(env.path("mine/notes.txt"), "mine").unwrap();
    env.hit()
        .args(["modules", "./p", "mine"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("holds files hit did not write"));
    assert_eq!(std::fs::read_dir(env.path("mine")).unwrap().count(), 1);
    // A record edited to reach outside the directory is refused, not followed.
    std::fs::create_dir(env.path("mods")).unwrap();
    std::fs::write(
        env.path("mods/.hit-modules.json"),
        r#"{"format": "lmod", "files": ["../mine/notes.txt"]}"#,
    )
    .unwrap();
    env.hit()
        .args(["modules", "./p", "mods"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a record hit can read"));
    assert!(env.path("mine/notes.txt").exists());
    env.hit()
        .args(["modules", "./p", "mods", "--format", "csh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'csh'"));
}
