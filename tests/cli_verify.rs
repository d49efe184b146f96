//! `hit verify [--repair]` through the real binary: a clean store passes; each kind of
//! damage is reported with the artifact it hits, and repair leaves a store that passes and
//! builds again.
#![allow(clippy::unwrap_used)]
// A test says on stderr what it skipped or what its trials hit.
#![allow(clippy::print_stderr)]

mod common;

use common::{Env, stderr_of, stdout_of};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

impl Env {
    fn build(&self, profile: &Path) {
        let output = self.hit().arg("build").arg(profile).output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
    }

    fn resolve(&self, package: &str) -> PathBuf {
        let output = self
            .hit()
            .args(["resolve", package, "-p", "p.rhai"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{package} is not built");
        PathBuf::from(stdout_of(&output).trim())
    }

    /// `hit verify`: (success, stdout + stderr).
    fn verify(&self, repair: bool) -> (bool, String) {
        let mut command = self.hit();
        command.arg("verify");
        if repair {
            command.arg("--repair");
        }
        let output = command.output().unwrap();
        (
            output.status.success(),
            format!("{}{}", stdout_of(&output), stderr_of(&output)),
        )
    }
}

fn make_writable(path: &Path) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o200)).unwrap();
}

#[test]
fn a_clean_store_passes_and_a_changed_artifact_is_removed_with_what_depends_on_it() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    env.build(&profile);
    let (ok, said) = env.verify(false);
    assert!(
        ok && said.contains("checked 4 artifacts and 1 profile link: 0 broken"),
        "{said}"
    );

    // Someone "fixes" a file of hello in place.
    let hello = env.resolve("hello");
    let script = hello.join("bin/hello");
    make_writable(&script);
    std::fs::write(&script, "#!/bin/sh\necho changed\n").unwrap();
    let (ok, said) = env.verify(false);
    assert!(!ok, "{said}");
    let hello_line = said
        .lines()
        .find(|l| l.starts_with("broken: hello/"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(hello_line.contains("bin/hello is writable"), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("broken: greet/") && l.contains("depends on hello/")),
        "dependents are broken too: {said}"
    );
    assert!(
        said.contains("no intact generation: build the profile again"),
        "{said}"
    );
    assert!(said.contains("hit verify --repair"), "{said}");

    let (ok, said) = env.verify(true);
    assert!(!ok && said.contains("build their profiles again"), "{said}");
    assert!(!hello.exists());
    // The store passes now, and building again brings everything back.
    env.build(&profile);
    assert!(env.path("p/bin/greet").exists());
    let (ok, said) = env.verify(false);
    assert!(ok && said.contains("0 broken, 0 leftovers"), "{said}");
}

#[test]
fn a_broken_current_generation_falls_back_to_the_newest_intact_one() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""hello""#);
    env.build(&profile);
    env.fixture_profile(r#""greet""#);
    env.build(&profile);
    let current = std::fs::read_link(env.path("p")).unwrap();
    // A spec edited in place: its hash no longer matches the artifact's id.
    let spec = current.join(".hit/build.json");
    make_writable(&spec);
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("\"greet\"", "\"grate\"")).unwrap();

    let (ok, said) = env.verify(false);
    assert!(!ok, "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("broken: profile-p/") && l.contains("build.json hashes to")),
        "{said}"
    );
    assert!(said.contains("generation 2 of"), "{said}");
    assert!(
        said.contains("(repair switches it to generation 1)"),
        "{said}"
    );
    let (ok, said) = env.verify(true);
    assert!(ok && said.contains("repaired 3"), "{said}");
    assert!(env.path("p/bin/hello").exists() && !env.path("p/bin/greet").exists());
    let listing = stdout_of(&env.hit().args(["generations", "p"]).output().unwrap());
    assert!(
        listing.contains("(current)") && listing.lines().count() == 2,
        "{listing}"
    );
    assert!(env.verify(false).0);
}

#[test]
fn missing_dependencies_foreign_files_and_leftovers() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    env.build(&profile);
    // A dependency deleted by hand (purge is the by-hand tool here).
    let hello = env.resolve("hello");
    let id = std::fs::read_to_string(hello.join(".hit/artifact.json")).unwrap();
    let id: serde_json::Value = serde_json::from_str(&id).unwrap();
    env.hit()
        .args(["purge", "--force", id["id"].as_str().unwrap()])
        .assert()
        .success();
    std::fs::write(env.home().join("bld/stray"), "x").unwrap();
    std::fs::write(env.home().join("bld/greet/stray"), "x").unwrap();
    let (ok, said) = env.verify(false);
    assert!(!ok, "{said}");
    assert!(said.contains("which is missing"), "{said}");
    for stray in ["bld/stray:", "bld/greet/stray:"] {
        assert!(
            said.contains(&format!("{stray} not made by hit; left alone")),
            "{said}"
        );
    }

    // A failed build leaves its dir: a leftover, not a problem.
    let (ok, said) = env.verify(true);
    assert!(!ok, "the profile has no intact generation: {said}");
    // Files hit did not make are never deleted, by repair or by gc.
    env.hit().arg("gc").assert().success();
    assert!(env.home().join("bld/stray").exists() && env.home().join("bld/greet/stray").exists());
    std::fs::remove_file(env.home().join("bld/stray")).unwrap();
    std::fs::remove_file(env.home().join("bld/greet/stray")).unwrap();
    env.build(&profile);
    let failing = env.fixture_profile(r#""broken""#);
    assert!(
        !env.hit()
            .arg("build")
            .arg(&failing)
            .output()
            .unwrap()
            .status
            .success()
    );
    let (ok, said) = env.verify(false);
    assert!(ok, "{said}");
    assert!(
        said.contains("leftover: directory of a failed or interrupted build"),
        "{said}"
    );
    assert!(said.contains("0 broken, 1 leftover"), "{said}");
    let (ok, said) = env.verify(true);
    assert!(ok && said.contains("cleared 1 leftover"), "{said}");
    assert!(env.verify(false).1.contains("0 broken, 0 leftovers"));
}

#[test]
fn an_edited_dependency_list_is_found() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    env.build(&profile);
    let target = std::fs::read_link(env.path("p")).unwrap();
    let meta_path = target.join(".hit/artifact.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["dependencies"] = serde_json::json!([]);
    // Edited the way a careful hand would: modes put back afterwards.
    let dir = target.join(".hit");
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    let file_mode = std::fs::metadata(&meta_path).unwrap().permissions().mode();
    make_writable(&dir);
    make_writable(&meta_path);
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta).unwrap()).unwrap();
    std::fs::set_permissions(&meta_path, std::fs::Permissions::from_mode(file_mode)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();

    let (ok, said) = env.verify(false);
    assert!(!ok, "{said}");
    assert!(
        said.lines().any(|l| l.starts_with("broken: profile-p/")
            && l.contains("dependencies are not the closure of its imports")),
        "{said}"
    );
}

#[test]
fn a_read_only_store_can_be_verified_and_listed() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    env.build(&profile);
    let hit = assert_cmd::cargo::cargo_bin("hit");
    let home = env.home();
    // The home mounted read-only in a mount namespace of our own (no root needed).
    let read_only = |command: &str| {
        std::process::Command::new("unshare")
            .args(["-Urm", "sh", "-c"])
            .arg(format!(
                "mount --bind {home} {home} && mount -o remount,bind,ro {home} && {hit} {command}",
                home = home.display(),
                hit = hit.display()
            ))
            .env("HIT_HOME", &home)
            .current_dir(env.dir.path())
            .output()
            .unwrap()
    };
    let probe = read_only("--version");
    if !probe.status.success() {
        eprintln!(
            "skipped: no user and mount namespaces here: {}",
            stderr_of(&probe)
        );
        return;
    }
    for command in ["verify", "verify --sources", "gc --dry-run", "generations"] {
        let output = read_only(command);
        assert!(
            output.status.success(),
            "{command}: {}{}",
            stdout_of(&output),
            stderr_of(&output)
        );
    }
    assert!(stdout_of(&read_only("verify")).contains("0 broken"));
}

/// Writes into a read-only file of an artifact, as a careless hand would, and puts the
/// mode back.
fn tamper(path: &Path, change: impl FnOnce(&Path)) {
    let mode = std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode();
    make_writable(path);
    change(path);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Each kind of change to an artifact's files is found by reading them (the metadata-only
/// check, `--fast`, passes them all), named with its path, and repaired by a rebuild.
#[test]
fn verify_reads_contents_and_names_each_change() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    env.build(&profile);
    let (ok, said) = env.verify(false);
    assert!(
        ok && said.contains("contents: 4 artifacts checked against their manifests"),
        "{said}"
    );
    let hello = env.resolve("hello");
    let doc = hello.join("share/doc/hello.txt");
    // What is expected, and the change that should cause it.
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case> = vec![
        (
            "share/doc/hello.txt: contents changed (10 -> 11 bytes)",
            Box::new(|| {
                tamper(&doc, |p| {
                    let mut file = std::fs::OpenOptions::new().append(true).open(p).unwrap();
                    std::io::Write::write_all(&mut file, b"!").unwrap();
                })
            }),
        ),
        (
            "share/doc/hello.txt: contents changed (same size, 10 bytes)",
            Box::new(|| tamper(&doc, |p| std::fs::write(p, "HELLO-DOC\n").unwrap())),
        ),
        (
            "share/doc/hello.txt: made executable",
            Box::new(|| {
                std::fs::set_permissions(&doc, std::fs::Permissions::from_mode(0o555)).unwrap()
            }),
        ),
        (
            "bin/hello: symlink target changed",
            Box::new(|| {
                // In the profile artifact: every entry there is a symlink.
                let bin = std::fs::canonicalize(env.path("p")).unwrap().join("bin");
                tamper(&bin, |dir| {
                    std::fs::remove_file(dir.join("hello")).unwrap();
                    std::os::unix::fs::symlink("greet", dir.join("hello")).unwrap();
                })
            }),
        ),
        (
            "share/doc/hello.txt was removed",
            Box::new(|| {
                tamper(&hello.join("share/doc"), |dir| {
                    std::fs::remove_file(dir.join("hello.txt")).unwrap()
                })
            }),
        ),
        (
            "share/doc/notes.txt was added",
            Box::new(|| {
                tamper(&hello.join("share/doc"), |dir| {
                    std::fs::write(dir.join("notes.txt"), "").unwrap();
                    std::fs::set_permissions(
                        dir.join("notes.txt"),
                        std::fs::Permissions::from_mode(0o444),
                    )
                    .unwrap();
                })
            }),
        ),
    ];
    for (expected, change) in cases {
        change();
        // Metadata only: blind to all but a removal (which leaves the profile's link to the
        // file pointing at nothing).
        let fast = env.hit().args(["verify", "--fast"]).output().unwrap();
        assert_eq!(
            fast.status.success(),
            !expected.ends_with("was removed"),
            "{expected}: {}",
            stdout_of(&fast)
        );
        let (ok, said) = env.verify(false);
        assert!(!ok && said.contains(expected), "{expected}: {said}");
        // Repair removes it and what depends on it (the profile too, so the link has no
        // intact generation left: repair says so); the next build makes them again.
        let (_, said) = env.verify(true);
        assert!(said.contains("repaired"), "{said}");
        env.build(&profile);
        let (ok, said) = env.verify(false);
        assert!(ok, "after the rebuild: {said}");
    }
    // An edited manifest is found too.
    let manifest = hello.join(".hit/manifest");
    tamper(&manifest, |p| {
        let text = std::fs::read_to_string(p).unwrap();
        std::fs::write(p, text.replace("f 9:bin/hello x", "f 9:bin/hello -")).unwrap();
    });
    let (ok, said) = env.verify(false);
    assert!(
        !ok && said.contains(".hit/manifest does not hash to the content hash"),
        "{said}"
    );
}
