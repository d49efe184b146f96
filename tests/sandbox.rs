//! The build sandbox (docs/sandbox.md): what a sandboxed build cannot do, each checked
//! against the same build without the sandbox, which can.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::{Env, kill_processes, processes_running, stderr_of, stdout_of, wait_for};
use std::path::{Path, PathBuf};

/// Whether unprivileged user namespaces work here; where they do not, the sandbox tests
/// skip (or fail under HIT_TEST_REQUIRE_TOOLS).
fn namespaces_work() -> bool {
    let works = std::process::Command::new("unshare")
        .args(["-Urmnpf", "true"])
        .status()
        .is_ok_and(|status| status.success());
    works || !common::missing("user namespaces (`unshare -Urmnpf true` fails)")
}

/// A profile of one package whose install stage runs `script` (after making `$ARTIFACT`
/// have a file), and a package `dep` it imports.
fn profile(env: &Env, script: &str) -> PathBuf {
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(
        recipes.join("dep.rhai"),
        r#"recipe(#{ name: "dep", toolchain: false,
    stages: [stage("install", "mkdir -p $ARTIFACT/share && echo dep > $ARTIFACT/share/dep")] })"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("probe.rhai"),
        format!(
            "recipe(#{{ name: \"probe\", toolchain: false, deps: [\"dep\"],\n    stages: [stage(\"install\", [\"echo ok > $ARTIFACT/ok\", {script:?}])] }})"
        ),
    )
    .unwrap();
    let path = env.path("p.rhai");
    std::fs::write(
        &path,
        r#"profile(#{ package_dirs: ["recipes"], packages: ["probe"] })"#,
    )
    .unwrap();
    path
}

fn build(env: &Env, profile: &Path, sandbox: bool) -> std::process::Output {
    env.hit()
        .arg("build")
        .arg(profile)
        .arg(if sandbox { "--sandbox" } else { "--no-sandbox" })
        .output()
        .unwrap()
}

fn verify_clean(env: &Env) {
    let output = env.hit().arg("verify").output().unwrap();
    assert!(output.status.success(), "{}", stdout_of(&output));
}

#[test]
fn writes_outside_the_build_fail_and_the_store_stays_intact() {
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    // A profile link and the store's `dep` exist first.
    let first = profile(&env, "true");
    assert!(build(&env, &first, true).status.success());
    let dep = env.home().join("bld/dep");
    let dep_artifact = std::fs::read_dir(&dep)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let profile_artifact = std::fs::canonicalize(env.path("p")).unwrap();
    let user_home = env.path("user-home");
    std::fs::create_dir_all(&user_home).unwrap();
    let targets = [
        (
            "another artifact",
            dep_artifact.join("share/dep").display().to_string(),
        ),
        (
            "the profile",
            profile_artifact.join("planted").display().to_string(),
        ),
        (
            "HIT_HOME",
            env.home().join("config.yaml").display().to_string(),
        ),
        (
            "the user's home",
            user_home.join("planted").display().to_string(),
        ),
    ];
    for (what, target) in targets {
        // Each time another package (a new salt), so something is built.
        let script = format!("echo vandal >> {target}");
        let profile = profile(&env, &script);
        let output = build(&env, &profile, true);
        let stderr = stderr_of(&output);
        assert!(
            !output.status.success(),
            "writing into {what} worked: {stderr}"
        );
        assert!(
            [
                "Read-only file system",
                "No such file or directory",
                "Directory nonexistent"
            ]
            .iter()
            .any(|said| stderr.contains(said)),
            "{what}: {stderr}"
        );
        verify_clean(&env);
        // Without the sandbox the same write lands (on the user's home), or hit notices
        // afterwards (an import changed): the test could fail.
        if what == "the user's home" {
            assert!(build(&env, &profile, false).status.success());
            assert!(user_home.join("planted").exists());
        }
    }
    // Root inside the sandbox (hit run as root) cannot make the store writable again.
    let script = format!(
        "mount -o remount,bind,rw {} && echo vandal >> {}",
        env.home().join("bld").display(),
        dep_artifact.join("share/dep").display()
    );
    let output = build(&env, &profile(&env, &script), true);
    assert!(!output.status.success(), "{}", stderr_of(&output));
    verify_clean(&env);
    assert!(
        !std::fs::read_to_string(env.home().join("config.yaml"))
            .unwrap()
            .contains("vandal")
    );
    let dep_files: Vec<_> = std::fs::read_dir(&dep).unwrap().collect();
    assert_eq!(dep_files.len(), 1);
}

#[test]
fn no_network_not_even_the_hosts_loopback() {
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "perl -MIO::Socket::INET -e 'IO::Socket::INET->new(q(127.0.0.1:{port})) or die qq(cannot connect: $!\\n)'"
    );
    let profile = profile(&env, &script);
    let output = build(&env, &profile, true);
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("cannot connect"),
        "{}",
        stderr_of(&output)
    );
    assert!(build(&env, &profile, false).status.success());
}

#[test]
fn files_of_the_host_outside_the_toolchain_cannot_be_read() {
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    let secret = env.path("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let reads = profile(&env, &format!("cat {}", secret.display()));
    let output = build(&env, &reads, true);
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("No such file or directory"),
        "{}",
        stderr_of(&output)
    );
    assert!(build(&env, &reads, false).status.success());

    let looks = profile(
        &env,
        "test ! -e /root && test ! -e /home && ls /tmp > $ARTIFACT/tmp",
    );
    let output = build(&env, &looks, true);
    assert!(output.status.success(), "{}", stderr_of(&output));
}

#[test]
fn a_daemon_a_build_starts_is_gone_when_its_command_ends() {
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    let sandboxed = profile(
        &env,
        "setsid sleep 4714 < /dev/null > /dev/null 2>&1 & sleep 0.2",
    );
    let output = build(&env, &sandboxed, true);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        processes_running(&["sleep", "4714"]),
        0,
        "the daemon outlived its build"
    );
    // Without the sandbox it does outlive it (it left the process group): the test can
    // fail.
    let unsandboxed = profile(
        &env,
        "setsid sleep 4714 < /dev/null > /dev/null 2>&1 & sleep 0.2; : another id",
    );
    let output = build(&env, &unsandboxed, false);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(kill_processes(&["sleep", "4714"]), 1);
}

#[test]
fn killing_hit_kills_the_sandboxed_command_at_once() {
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    let profile = profile(&env, "touch $BUILD/../started; sleep 4715");
    let mut hit = env
        .std_hit()
        .args(["build", "--sandbox"])
        .arg(&profile)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = glob_one(&env.home().join("tmp"), "probe-", "started");
    wait_for(&started, "the sandboxed command");
    hit.kill().unwrap();
    hit.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while processes_running(&["sleep", "4715"]) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(processes_running(&["sleep", "4715"]), 0);
}

/// `dir/<prefix>*/<file>`, waiting until the build dir exists.
fn glob_one(dir: &Path, prefix: &str, file: &str) -> PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(prefix) {
                    return entry.path().join(file);
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no build dir {prefix}*"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// hit run where user namespaces are turned off: inside a user namespace whose own limit
/// of nested ones is 0.
fn blocked(env: &Env, args: &str) -> std::process::Output {
    let hit = assert_cmd::cargo::cargo_bin("hit");
    std::process::Command::new("unshare")
        .args(["-Ur", "sh", "-c"])
        .arg(format!(
            "echo 0 > /proc/sys/user/max_user_namespaces && exec {} {args}",
            hit.display()
        ))
        .env("HIT_HOME", env.home())
        .current_dir(env.dir.path())
        .output()
        .unwrap()
}

#[test]
fn where_namespaces_are_blocked_auto_builds_without_saying_so_once_and_on_fails() {
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    profile(&env, "cat /proc/self/uid_map > $ARTIFACT/map");
    let auto = blocked(&env, "build -j2 p.rhai");
    let stderr = stderr_of(&auto);
    assert!(auto.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("warning: the build sandbox cannot be used here")
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("user.max_user_namespaces = 0"), "{stderr}");

    std::fs::write(env.home().join("config.yaml"), "sandbox: on\n").unwrap();
    // Another script, so there is something to build.
    profile(&env, "cat /proc/self/gid_map > $ARTIFACT/map");
    let on = blocked(&env, "build p.rhai");
    let stderr = stderr_of(&on);
    assert_eq!(on.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the build sandbox cannot be used here: user namespaces are turned off")
            && stderr.contains("--no-sandbox"),
        "{stderr}"
    );
}

/// Root runs the sandbox tests again as an unprivileged user (nobody) with a store of its
/// own: the namespaces must work without privileges, and the build runs as that user.
#[test]
fn an_unprivileged_user_gets_the_same_sandbox() {
    if !rustix::process::getuid().is_root() {
        return; // the other tests ran unprivileged already
    }
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    let dir = env.path("nobody");
    std::fs::create_dir_all(&dir).unwrap();
    let hit = dir.join("hit");
    std::fs::copy(assert_cmd::cargo::cargo_bin("hit"), &hit).unwrap();
    // A helper left from another build of hit, which does not speak this protocol: hit
    // does the helper's work itself then.
    std::fs::write(dir.join("hit-sandbox"), "#!/bin/sh\nexit 2\n").unwrap();
    std::fs::set_permissions(
        dir.join("hit-sandbox"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        dir.join("p.rhai"),
        r#"profile(#{ package_dirs: ["recipes"], packages: ["who"] })"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("recipes")).unwrap();
    std::fs::write(
        dir.join("recipes/who.rhai"),
        r#"recipe(#{ name: "who", toolchain: false,
    stages: [stage("install", ["id -u > $ARTIFACT/uid", "test ! -e /root", "tar cf $BUILD/t.tar -C $ARTIFACT uid", "tar xf $BUILD/t.tar -C $BUILD"])] })"#,
    )
    .unwrap();
    let chown = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(env.dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&hit)
        .args(["build", "--sandbox", "p.rhai"])
        .env("HIT_HOME", dir.join("home"))
        .env("HOME", &dir)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let uid = std::fs::read_to_string(dir.join("p/uid")).unwrap();
    assert_eq!(uid.trim(), "65534");
}

#[test]
fn check_rebuilds_in_place_and_names_what_differs() {
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    // `steady` writes its own path (the same in the rebuild: the sandbox puts the scratch
    // stage there); `stamped` writes the time.
    std::fs::write(
        recipes.join("steady.rhai"),
        r#"recipe(#{ name: "steady", toolchain: false,
    stages: [stage("install", ["mkdir -p $ARTIFACT/share", "echo $ARTIFACT > $ARTIFACT/share/where",
        "echo $SOURCE_DATE_EPOCH $TZ $LC_ALL > $ARTIFACT/share/env"])] })"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("stamped.rhai"),
        r#"recipe(#{ name: "stamped", toolchain: false, deps: ["steady"],
    stages: [stage("install", ["echo same > $ARTIFACT/same", "date +%s%N > $ARTIFACT/when"])] })"#,
    )
    .unwrap();
    std::fs::write(
        env.path("p.rhai"),
        r#"profile(#{ package_dirs: ["recipes"], packages: ["stamped"] })"#,
    )
    .unwrap();
    let output = env
        .hit()
        .args(["build", "p.rhai", "--check", "--rounds", "2"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches(": reproducible (rebuilt in").count(),
        2,
        "steady, twice: {stderr}"
    );
    assert!(
        stderr.contains("NOT reproducible: 1 path differs")
            && stderr.contains("  when: contents changed")
            && stderr.contains("first difference at byte")
            && stderr.contains("diffoscope "),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: not reproducible: stamped (of 2 checked)"),
        "{stderr}"
    );
    let meta = |name: &str| {
        let dir = std::fs::read_dir(env.home().join("bld").join(name))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::read_to_string(dir.join(".hit/artifact.json")).unwrap()
    };
    assert!(
        meta("steady").contains("\"reproducible\": true"),
        "{}",
        meta("steady")
    );
    assert!(meta("stamped").contains("\"reproducible\": false"));
    // The store is intact: the rebuilds went to scratch stages.
    verify_clean(&env);

    // JSON says the same, one event per package.
    let output = env
        .hit()
        .args(["build", "p.rhai", "--check", "--json"])
        .output()
        .unwrap();
    let checked: Vec<serde_json::Value> = stdout_of(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|event: &serde_json::Value| event["event"] == "checked")
        .collect();
    assert_eq!(checked.len(), 2);
    assert_eq!(checked[0]["reproducible"], true);
    assert_eq!(checked[1]["reproducible"], false);
    assert_eq!(checked[1]["rounds"][0]["differences"][0]["path"], "when");

    // Without the sandbox there is no check.
    std::fs::write(env.home().join("config.yaml"), "sandbox: off\n").unwrap();
    let output = env
        .hit()
        .args(["build", "p.rhai", "--check"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("--check needs the build sandbox")
            && stderr_of(&output).contains("turned off"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn bdir_offers_the_same_sandbox() {
    if !namespaces_work() {
        return;
    }
    let env = Env::new();
    let profile = profile(&env, "test ! -e /root && test ! -e /home");
    assert!(build(&env, &profile, true).status.success());
    let dir = env.path("by-hand");
    let output = env
        .hit()
        .args(["bdir", "probe"])
        .arg(&dir)
        .args(["-p", "p.rhai"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("./hit-sandbox.sh sh hit-build.sh"));
    let run = |script: &str| {
        std::process::Command::new(dir.join("hit-sandbox.sh"))
            .args(["sh", "-c", script])
            .output()
            .unwrap()
    };
    let built = run("sh hit-build.sh");
    assert!(built.status.success(), "{}", stderr_of(&built));
    assert!(dir.join("_artifact/ok").exists());
    // In there, the test's files are out of sight, and the store is read-only.
    let secret = env.path("secret");
    std::fs::write(&secret, "s").unwrap();
    assert!(!run(&format!("cat {}", secret.display())).status.success());
    let dep = std::fs::read_dir(env.home().join("bld/dep"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let write = run(&format!("echo x > {}/share/new", dep.display()));
    assert!(
        stderr_of(&write).contains("Read-only file system"),
        "{}",
        stderr_of(&write)
    );
}
