//! hit deletes only what it can prove it made: directories it does not own are refused,
//! entries it did not make are left alone, homes sharing a store keep each other's
//! artifacts, and metadata gc cannot read keeps an artifact instead of half-deleting it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, RawMember, gzip, raw_tar, stderr_of, stdout_of};
use std::path::{Path, PathBuf};

fn write_config(home: &Path, text: &str) {
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(home.join("config.yaml"), text).unwrap();
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap().path();
            if entry.is_dir() {
                stack.push(entry);
            } else {
                out.push(entry.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_store_dir_that_holds_the_users_files_is_refused_and_untouched() {
    let env = Env::new();
    let work = env.path("work");
    std::fs::create_dir_all(work.join("release/obj")).unwrap();
    std::fs::write(work.join("release/obj/main.o"), "object").unwrap();
    std::fs::write(work.join("notes.txt"), "mine").unwrap();
    write_config(&env.home(), &format!("store_dir: {}\n", work.display()));
    let profile = env.fixture_profile(r#""hello""#);
    for args in [
        vec!["gc"],
        vec!["verify", "--repair"],
        vec!["build", "p.rhai"],
    ] {
        let output = env.hit().args(&args).output().unwrap();
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&work.display().to_string())
                && stderr.contains("store_dir")
                && stderr.contains("not empty and was not made by hit"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        files_under(&work),
        [
            PathBuf::from("notes.txt"),
            PathBuf::from("release/obj/main.o")
        ]
    );
    assert!(profile.exists());

    // `--home .` in a project with a bld/ of its own.
    let project = env.path("project");
    std::fs::create_dir_all(project.join("bld/release/obj")).unwrap();
    std::fs::write(project.join("bld/release/obj/a.o"), "object").unwrap();
    let output = env
        .hit()
        .args(["--home", "."])
        .arg("gc")
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr_of(&output).contains("bld"), "{}", stderr_of(&output));
    assert!(project.join("bld/release/obj/a.o").exists());
}

#[test]
fn entries_hit_did_not_make_survive_gc_and_repair() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    env.hit().arg("build").arg(&profile).assert().success();
    let home = env.home();
    // A store made by an earlier hit has no markers: it is adopted, since everything in it
    // is hit's.
    for dir in ["bld", "src", "tmp", "gcroots"] {
        std::fs::remove_file(home.join(dir).join(".hit-dir")).unwrap();
    }
    env.hit().args(["gc", "--dry-run"]).assert().success();
    assert!(home.join("bld/.hit-dir").exists());

    let foreign = [
        "bld/README",
        "bld/greet/notes.txt",
        "bld/greet/old-build",
        "bld/My Stuff/x",
        "tmp/obj/main.o",
        "tmp/pool-mine",
        "src/sha256/notes.txt",
        "gcroots/mine",
    ];
    for path in foreign {
        let path = home.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "mine").unwrap();
    }
    let output = env.hit().arg("verify").output().unwrap();
    let said = stdout_of(&output);
    assert!(output.status.success(), "{said}{}", stderr_of(&output));
    for path in [
        "bld/README",
        "bld/greet/notes.txt",
        "bld/My Stuff",
        "tmp/obj",
    ] {
        let line = format!("foreign: {}: not made by hit", home.join(path).display());
        assert!(said.contains(&line), "{line}\n{said}");
    }
    env.hit().args(["verify", "--repair"]).assert().success();
    env.hit().args(["rm", "p"]).assert().success();
    let output = env.hit().arg("gc").output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stdout_of(&output).contains(&format!(
            "leave alone {}",
            home.join("bld/README").display()
        )),
        "{}",
        stdout_of(&output)
    );
    for path in foreign {
        assert_eq!(
            std::fs::read_to_string(home.join(path)).unwrap(),
            "mine",
            "{path}"
        );
    }
    // What hit did make is gone.
    assert!(
        std::fs::read_dir(home.join("bld/hello"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn an_artifact_gc_cannot_read_is_kept_with_its_sources() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    env.hit().arg("build").arg(&profile).assert().success();
    let greet = PathBuf::from(
        stdout_of(
            &env.hit()
                .args(["resolve", "greet", "-p", "p.rhai"])
                .output()
                .unwrap(),
        )
        .trim(),
    );
    let sources_before = files_under(&env.home().join("src"));
    assert!(
        sources_before.iter().any(|p| p.starts_with("files")),
        "{sources_before:?}"
    );
    // Nothing roots greet any more, and its metadata is garbage.
    env.hit().args(["rm", "p"]).assert().success();
    let meta = greet.join(".hit/artifact.json");
    let mut perms = std::fs::metadata(greet.join(".hit")).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(greet.join(".hit"), perms.clone()).unwrap();
    std::fs::set_permissions(&meta, perms).unwrap();
    std::fs::write(&meta, "{ not json").unwrap();

    let output = env.hit().args(["gc", "--dry-run"]).output().unwrap();
    let said = stdout_of(&output);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        said.contains(&format!("keep {}", greet.display())) && said.contains("unreadable"),
        "{said}"
    );
    assert!(!said.contains("would delete greet"), "{said}");
    assert!(said.contains("would delete hello/"), "{said}");

    env.hit().arg("gc").assert().success();
    assert!(greet.join("bin/greet").exists());
    // Its files: pack is still in the source cache.
    let sources_after = files_under(&env.home().join("src"));
    assert!(
        sources_after.iter().any(|p| p.starts_with("files")),
        "{sources_after:?}"
    );
    // verify names it; repair leaves it alone and says so.
    let output = env.hit().args(["verify", "--repair"]).output().unwrap();
    let said = format!("{}{}", stdout_of(&output), stderr_of(&output));
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("hit cannot tell that it made it") && said.contains("not recognisably hit's"),
        "{said}"
    );
    assert!(greet.join("bin/greet").exists());
}

#[test]
fn homes_sharing_a_store_keep_each_others_artifacts() {
    let env = Env::new();
    let shared = env.path("shared-bld");
    let home_a = env.path("home-a");
    let home_b = env.path("home-b");
    for home in [&home_a, &home_b] {
        write_config(home, &format!("store_dir: {}\n", shared.display()));
    }
    let hit = |home: &Path, dir: &Path| {
        let mut command = env.hit();
        command.env("HIT_HOME", home).current_dir(dir);
        command
    };
    let dir_a = env.path("a");
    let dir_b = env.path("b");
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let profile = env.fixture_profile(r#""hello""#);
    std::fs::copy(&profile, dir_a.join("p.rhai")).unwrap();
    let profile = env.fixture_profile(r#""greet""#);
    std::fs::copy(&profile, dir_b.join("p.rhai")).unwrap();
    hit(&home_a, &dir_a)
        .args(["build", "p.rhai"])
        .assert()
        .success();
    hit(&home_b, &dir_b)
        .args(["build", "p.rhai"])
        .assert()
        .success();

    // gc in A keeps what B's profile uses (greet, its build tool) and says why.
    let output = hit(&home_a, &dir_a)
        .args(["gc", "--dry-run"])
        .output()
        .unwrap();
    let said = stdout_of(&output);
    let b_link = dir_b.join("p").display().to_string();
    assert!(
        said.lines()
            .any(|l| l.starts_with("keep greet/") && l.contains(&b_link)),
        "{said}"
    );
    assert!(!said.contains("would delete"), "{said}");
    hit(&home_a, &dir_a).arg("gc").assert().success();
    let output = hit(&home_b, &dir_b).arg("verify").output().unwrap();
    assert!(
        output.status.success() && stdout_of(&output).contains("0 broken"),
        "{}",
        stdout_of(&output)
    );
    assert!(dir_b.join("p/bin/greet").exists());
    let run = std::process::Command::new(dir_b.join("p/bin/greet"))
        .output()
        .unwrap();
    assert!(stdout_of(&run).contains("hello"), "{}", stdout_of(&run));

    // Both homes share the store's locks.
    assert!(shared.join(".locks/gc.lock").exists());
    assert!(!home_a.join("locks/gc.lock").exists());

    // Home B goes away: gc in A forgets it and frees what only B used.
    std::fs::remove_dir_all(&home_b).unwrap();
    let output = hit(&home_a, &dir_a).arg("gc").output().unwrap();
    let said = stdout_of(&output);
    assert!(said.contains("forgot 1 home that"), "{said}");
    assert!(
        std::fs::read_dir(shared.join("greet"))
            .unwrap()
            .next()
            .is_none(),
        "{said}"
    );
    assert!(dir_a.join("p/bin/hello").exists());
}

#[test]
fn unpack_refuses_a_directory_that_is_not_empty() {
    let env = Env::new();
    let archive = env.path("src.tar.gz");
    std::fs::write(
        &archive,
        gzip(&raw_tar(&[
            RawMember::dir("pkg-1.0/"),
            RawMember::file("pkg-1.0/notes.txt", b"from the archive"),
        ])),
    )
    .unwrap();
    let key = stdout_of(&env.hit().arg("fetch").arg(&archive).output().unwrap())
        .trim()
        .to_owned();
    let target = env.path("work");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "mine").unwrap();
    let output = env
        .hit()
        .args(["unpack", &key])
        .arg(&target)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("notes.txt")).unwrap(),
        "mine"
    );
    env.hit()
        .args(["unpack", &key, "--force"])
        .arg(&target)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(target.join("notes.txt")).unwrap(),
        "from the archive"
    );
    // A new directory needs no --force.
    env.hit()
        .args(["unpack", &key])
        .arg(env.path("fresh"))
        .assert()
        .success();
}

#[test]
fn purge_refuses_what_a_profile_uses_and_a_build_brings_back_what_is_missing() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""greet""#);
    env.hit().arg("build").arg(&profile).assert().success();
    let hello = stdout_of(
        &env.hit()
            .args(["hash", "hello", "-p", "p.rhai"])
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    let output = env.hit().args(["purge", &hello]).output().unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("in use by") && stderr.contains(&env.path("p").display().to_string()),
        "{stderr}"
    );
    assert!(env.path("p/bin/hello").exists());

    env.hit()
        .args(["purge", "--force", &hello])
        .assert()
        .success();
    assert!(!env.path("p/bin/hello").exists());
    // The next build sees the hole (the plan cache still says "all built") and fills it.
    let output = env.hit().arg("build").arg(&profile).output().unwrap();
    let said = format!("{}{}", stdout_of(&output), stderr_of(&output));
    assert!(output.status.success(), "{said}");
    assert!(said.contains("1 built"), "{said}");
    let run = std::process::Command::new(env.path("p/bin/greet"))
        .output()
        .unwrap();
    assert!(stdout_of(&run).contains("hello"), "{}", stdout_of(&run));
}

#[test]
fn gc_clears_what_failed_work_left_but_the_newest_failure_of_each_package() {
    let env = Env::new();
    let older = env.spec("f1.json", &common::shell_spec("fails", "echo one; exit 1"));
    let newer = env.spec("f2.json", &common::shell_spec("fails", "echo two; exit 2"));
    for spec in [&older, &newer] {
        let output = env.hit().arg("build").arg(spec).output().unwrap();
        assert!(!output.status.success());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let home = env.home();
    std::fs::create_dir_all(home.join("tmp/gc-Ab12Cd/artifact")).unwrap();
    std::fs::create_dir_all(home.join("src/tmp")).unwrap();
    std::fs::write(home.join("src/tmp/.tmpXYZ"), vec![0u8; 200_000]).unwrap();
    std::fs::write(home.join("src/tmp/.tmpNEW"), vec![0u8; 10]).unwrap();
    assert!(
        std::process::Command::new("touch")
            .args(["-d", "2 hours ago"])
            .arg(home.join("src/tmp/.tmpXYZ"))
            .status()
            .unwrap()
            .success()
    );
    let failed_dirs = || -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(home.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("fails-")
            })
            .collect();
        dirs.sort();
        dirs
    };
    assert_eq!(failed_dirs().len(), 2);
    let newest_id = stdout_of(&env.hit().arg("hash").arg(&newer).output().unwrap())
        .trim()
        .replace('/', "-");

    let output = env.hit().args(["gc", "--dry-run"]).output().unwrap();
    let said = stdout_of(&output);
    assert!(
        said.contains(&format!(
            "keep {}",
            home.join("tmp").join(&newest_id).display()
        )),
        "{said}"
    );
    assert_eq!(
        said.matches("left by failed or interrupted work").count(),
        3,
        "{said}"
    );
    assert!(said.contains("would free 0.2 MB"), "{said}");

    env.hit().arg("gc").assert().success();
    assert_eq!(failed_dirs(), [home.join("tmp").join(&newest_id)]);
    assert!(!home.join("tmp/gc-Ab12Cd").exists());
    assert!(!home.join("src/tmp/.tmpXYZ").exists());
    assert!(
        home.join("src/tmp/.tmpNEW").exists(),
        "a download that may be running"
    );

    env.hit().args(["gc", "--all"]).assert().success();
    assert!(failed_dirs().is_empty());
}

#[test]
fn gc_says_whom_it_waits_for() {
    let env = Env::new();
    env.without_sandbox();
    let go = env.path("go");
    let started = env.path("started");
    let spec = env.spec(
        "slow.json",
        &common::shell_spec(
            "slow",
            &format!(
                "touch {}; while [ ! -e {} ]; do sleep 0.02; done",
                started.display(),
                go.display()
            ),
        ),
    );
    let mut build = env.std_hit().arg("build").arg(&spec).spawn().unwrap();
    common::wait_for(&started, "the build");
    let gc = env
        .std_hit()
        .arg("gc")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(&go, "").unwrap();
    assert!(build.wait().unwrap().success());
    let output = gc.wait_with_output().unwrap();
    assert!(output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(&format!("gc: waiting for hit processes {}", build.id())),
        "{stderr}"
    );
}
