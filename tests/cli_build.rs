//! `hit build` and `hit purge` with small shell-only specs: the store protocol, the build
//! environment, the command language, failures, locks and crashes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, processes_running, shell_spec, stderr_of, stdout_of, wait_for};
use predicates::prelude::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[test]
fn build_prints_the_path_last_and_a_rebuild_is_a_no_op() {
    let env = Env::new();
    env.without_sandbox();
    let counter = env.path("runs");
    let spec = env.spec(
        "hello.json",
        &shell_spec(
            "hello",
            &format!(
                "mkdir -p \\$ARTIFACT/bin && echo hi > \\$ARTIFACT/bin/hello && echo run >> {}",
                counter.display()
            ),
        ),
    );
    let path = env.build_ok(&spec);
    assert!(
        path.starts_with(env.home().join("bld/hello")),
        "{}",
        path.display()
    );
    assert_eq!(path.file_name().unwrap().len(), 12);
    assert_eq!(
        std::fs::read_to_string(path.join("bin/hello")).unwrap(),
        "hi\n"
    );

    let again = env.hit().arg("build").arg(&spec).output().unwrap();
    assert!(again.status.success());
    assert_eq!(
        stdout_of(&again).lines().last().unwrap(),
        path.display().to_string()
    );
    assert!(stderr_of(&again).contains("already built"));
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap(),
        "run\n",
        "the rebuild ran the build again"
    );
}

#[test]
fn artifacts_are_read_only_and_carry_their_metadata() {
    let env = Env::new();
    let spec = env.spec("ro.json", &json!({
        "name": "ro", "version": "2.0",
        "build": {"commands": [{"cmd": ["sh", "-c", "mkdir -p \\$ARTIFACT/lib && echo x > \\$ARTIFACT/lib/f && echo building-ro"]}]}
    }));
    let path = env.build_ok(&spec);
    for file in [
        "lib/f",
        ".hit/build.json",
        ".hit/artifact.json",
        ".hit/build.log",
    ] {
        let mode = std::fs::metadata(path.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o222, 0, "{file} is writable: {mode:o}");
    }
    for dir in ["", "lib", ".hit"] {
        let mode = std::fs::metadata(path.join(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o222, 0, "dir {dir:?} is writable: {mode:o}");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.join(".hit/artifact.json")).unwrap())
            .unwrap();
    let id = stdout_of(&env.hit().arg("hash").arg(&spec).output().unwrap())
        .trim()
        .to_owned();
    assert_eq!(meta["id"], json!(id));
    assert_eq!(meta["version"], json!("2.0"));
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.join(".hit/build.json")).unwrap())
            .unwrap();
    assert_eq!(stored["name"], json!("ro"));
    let log = std::fs::read_to_string(path.join(".hit/build.log")).unwrap();
    assert!(
        log.contains("+ sh -c") && log.contains("building-ro"),
        "{log}"
    );
    // Nothing of the build is left behind in the build dir (but hit's marker).
    let left: Vec<_> = std::fs::read_dir(env.home().join("tmp"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(left, [".hit-dir"]);
}

#[test]
fn the_environment_starts_empty_with_home_inside_the_build_dir() {
    let env = Env::new();
    let spec = env.spec(
        "envdump.json",
        &shell_spec("envdump", "env > \\$ARTIFACT/env; pwd > \\$ARTIFACT/pwd"),
    );
    let path = env.build_ok(&spec);
    let dump = std::fs::read_to_string(path.join("env")).unwrap();
    let mut names: Vec<&str> = dump
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    names.sort();
    // PWD and SHLVL are set by sh itself.
    names.retain(|name| !matches!(*name, "PWD" | "SHLVL" | "OLDPWD" | "_"));
    assert_eq!(
        names,
        [
            "ARTIFACT",
            "BUILD",
            "HOME",
            "LC_ALL",
            "MAKEFLAGS",
            "PATH",
            "SOURCE_DATE_EPOCH",
            "TZ"
        ],
        "{dump}"
    );
    assert!(
        dump.contains("MAKEFLAGS=-j --jobserver-fds="),
        "the jobserver is not handed down: {dump}"
    );
    let var = |name: &str| {
        dump.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    let build = var("BUILD");
    assert!(
        Path::new(&var("HOME")).starts_with(Path::new(&build).parent().unwrap()),
        "{dump}"
    );
    assert_eq!(var("ARTIFACT"), path.display().to_string());
    assert_eq!(
        std::fs::read_to_string(path.join("pwd")).unwrap().trim(),
        build
    );
    assert!(!dump.contains("HIT_HOME"), "host variables leaked: {dump}");
}

#[test]
fn the_config_whitelist_passes_host_variables() {
    let env = Env::new();
    env.hit().arg("init-home").assert().success();
    let config = env.home().join("config.yaml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("  - PATH\n", "  - PATH\n  - HIT_TEST_FLAVOUR\n");
    std::fs::write(&config, text).unwrap();
    let spec = env.spec(
        "wl.json",
        &shell_spec("wl", "echo \\$HIT_TEST_FLAVOUR > \\$ARTIFACT/flavour"),
    );
    let output = env
        .hit()
        .arg("build")
        .arg(&spec)
        .env("HIT_TEST_FLAVOUR", "mint")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let path = stdout_of(&output).lines().last().unwrap().to_owned();
    assert_eq!(
        std::fs::read_to_string(Path::new(&path).join("flavour")).unwrap(),
        "mint\n"
    );
}

#[test]
fn command_language_scopes_variables_paths_flags_inputs_and_capture() {
    let env = Env::new();
    let spec = env.spec("lang.json", &json!({
        "name": "lang",
        "build": {"commands": [
            {"cmd": ["mkdir", "-p", "sub/dir"]},
            {"set": "A", "value": "one"},
            {"commands": [
                {"set": "A", "value": "inner"},
                {"chdir": "sub"},
                {"cmd": ["sh", "-c", "pwd > \\$ARTIFACT/inner-pwd; echo \\$A > \\$ARTIFACT/inner-a"]}
            ]},
            {"cmd": ["sh", "-c", "pwd > \\$ARTIFACT/outer-pwd; echo \\$A > \\$ARTIFACT/outer-a"]},
            {"set": "P", "value": "/b"},
            {"prepend_path": "P", "value": "/a"},
            {"append_path": "P", "value": "/c"},
            {"append_flag": "F", "value": "-O2"},
            {"prepend_flag": "F", "value": "-g"},
            {"append_flag": "F", "nohash_value": "-j9"},
            {"cmd": ["echo", "captured", "value"], "to_var": "CAP"},
            {"cmd": ["sh", "$in0", "$P", "${F}", "$CAP"], "inputs": [{"text": ["printf '%s|' \"$@\" > \"$ARTIFACT/args\""]}]},
            {"cmd": ["cp", "$in0", "$in1", "$ARTIFACT/"], "inputs": [{"string": "raw"}, {"json": {"k": [1, "x"]}}]},
            {"chdir": "sub/dir"},
            {"cmd": ["sh", "-c", "pwd > \\$ARTIFACT/chdir-pwd"]}
        ]}
    }));
    let path = env.build_ok(&spec);
    let read = |name: &str| std::fs::read_to_string(path.join(name)).unwrap();
    assert!(read("inner-pwd").trim().ends_with("/build/sub"));
    assert_eq!(read("inner-a"), "inner\n");
    assert!(read("outer-pwd").trim().ends_with("/build"));
    assert_eq!(read("outer-a"), "one\n");
    assert_eq!(read("args"), "/a:/b:/c|-g -O2 -j9|captured value|");
    assert_eq!(read("input-1"), "raw");
    assert_eq!(read("input-2"), r#"{"k":[1,"x"]}"#);
    assert!(read("chdir-pwd").trim().ends_with("/build/sub/dir"));
}

#[test]
fn unknown_variables_and_missing_programs_fail_the_build_clearly() {
    let env = Env::new();
    let spec = env.spec(
        "unk.json",
        &json!({"name": "unk", "build": {"commands": [{"cmd": ["echo", "$NOT_SET"]}]}}),
    );
    env.hit()
        .arg("build")
        .arg(&spec)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "build.commands[0]: unknown variable $NOT_SET",
        ));
    let spec = env.spec("nf.json", &json!({"name": "nf", "build": {"commands": [{"commands": [{"cmd": ["no-such-program-xyz"]}]}]}}));
    env.hit()
        .arg("build")
        .arg(&spec)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "build.commands[0].commands[0]: command not found: \"no-such-program-xyz\"",
        ));
    let spec = env.spec(
        "cd.json",
        &json!({"name": "cd", "build": {"commands": [{"chdir": "nowhere"}]}}),
    );
    env.hit()
        .arg("build")
        .arg(&spec)
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot change directory"));
}

#[test]
fn a_failed_build_reports_the_log_tail_and_keeps_the_build_dir() {
    let env = Env::new();
    let spec = env.spec(
        "fails.json",
        &shell_spec(
            "fails",
            "for i in \\$(seq 1 30); do echo line-\\$i; done; echo to-stderr >&2; exit 3",
        ),
    );
    let output = env.hit().arg("build").arg(&spec).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("build of fails/"), "{stderr}");
    assert!(stderr.contains("exited with status 3"), "{stderr}");
    assert!(
        stderr.contains("line-30") && stderr.contains("to-stderr"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("line-5\n"),
        "more than the last lines: {stderr}"
    );
    let log = stderr
        .lines()
        .find_map(|l| l.strip_prefix("full log:  "))
        .unwrap();
    let build_dir = stderr
        .lines()
        .find_map(|l| l.strip_prefix("build dir: "))
        .unwrap();
    assert!(std::fs::read_to_string(log).unwrap().contains("line-1\n"));
    assert!(Path::new(build_dir).join("build").is_dir());
    // No artifact, and no claim left behind.
    env.hit().arg("resolve").arg(&spec).assert().code(1);
    assert_eq!(
        std::fs::read_dir(env.home().join("bld/fails"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn imports_are_visible_and_must_be_built_first() {
    let env = Env::new();
    let dep = env.spec("dep.json", &shell_spec("dep", "mkdir -p \\$ARTIFACT/bin && printf '#!/bin/sh\\necho from-dep\\n' > \\$ARTIFACT/bin/dep-tool && chmod +x \\$ARTIFACT/bin/dep-tool"));
    let dep_id = stdout_of(&env.hit().arg("hash").arg(&dep).output().unwrap())
        .trim()
        .to_owned();
    let app = env.spec("app.json", &json!({
        "name": "app",
        "build": {
            "import": [{"ref": "DEP", "id": dep_id}],
            "commands": [{"cmd": ["sh", "-c", "echo \\$DEP_DIR \\$DEP_ID > \\$ARTIFACT/dep; dep-tool > \\$ARTIFACT/tool"]}]
        }
    }));
    env.hit()
        .arg("build")
        .arg(&app)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "import {dep_id} is not built"
        )));
    let dep_path = env.build_ok(&dep);
    let app_path = env.build_ok(&app);
    assert_eq!(
        std::fs::read_to_string(app_path.join("dep")).unwrap(),
        format!("{} {dep_id}\n", dep_path.display())
    );
    assert_eq!(
        std::fs::read_to_string(app_path.join("tool")).unwrap(),
        "from-dep\n"
    );
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(app_path.join(".hit/artifact.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["dependencies"], json!([dep_id]));
}

#[test]
fn purge_removes_one_artifact() {
    let env = Env::new();
    let a = env.spec("a.json", &shell_spec("a", "echo a > \\$ARTIFACT/a"));
    let b = env.spec("b.json", &shell_spec("b", "echo b > \\$ARTIFACT/b"));
    let path_a = env.build_ok(&a);
    let path_b = env.build_ok(&b);
    let id_a = stdout_of(&env.hit().arg("hash").arg(&a).output().unwrap())
        .trim()
        .to_owned();
    env.hit()
        .args(["purge", &id_a])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed"));
    assert!(!path_a.exists());
    assert!(path_b.join("b").exists());
    env.hit().arg("resolve").arg(&a).assert().code(1);
    env.hit()
        .args(["purge", &id_a])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not in the store"));
    assert_eq!(env.build_ok(&a), path_a);
}

#[test]
fn four_processes_building_the_same_id_build_it_once() {
    let env = Env::new();
    env.without_sandbox();
    let counter = env.path("count");
    let spec = env.spec(
        "slow.json",
        &shell_spec(
            "slow",
            &format!(
                "echo built >> {}; sleep 1; echo done > \\$ARTIFACT/done",
                counter.display()
            ),
        ),
    );
    // All four start before any can finish (the build takes a second).
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.std_hit()
                .arg("build")
                .arg(&spec)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut paths = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        paths.push(stdout_of(&output).lines().last().unwrap().to_owned());
    }
    paths.dedup();
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "built\n");
}

#[test]
fn concurrent_builders_wait_for_each_other() {
    let env = Env::new();
    env.without_sandbox();
    let counter = env.path("count");
    let spec = env.spec(
        "slow.json",
        &shell_spec(
            "slow",
            &format!(
                "echo built >> {}; sleep 2; echo done > \\$ARTIFACT/done",
                counter.display()
            ),
        ),
    );
    let first = env
        .std_hit()
        .arg("build")
        .arg(&spec)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first one is building, then start the second.
    wait_for(&counter, "the first build starting");
    let second = env.std_hit().arg("build").arg(&spec).output().unwrap();
    assert!(second.status.success());
    // It says whom it waits for: the first one's pid and host, as the first recorded them.
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    assert!(
        stderr_of(&second).contains(&format!(
            "waiting for another hit process to finish building {} (process {} on {host}, for ",
            stdout_of(&env.hit().arg("hash").arg(&spec).output().unwrap()).trim(),
            first.id()
        )),
        "{}",
        stderr_of(&second)
    );
    assert!(first.wait_with_output().unwrap().status.success());
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "built\n");
}

#[test]
fn kill_9_during_a_build_leaves_no_artifact_and_the_next_build_works() {
    let env = Env::new();
    env.without_sandbox();
    let marker = env.path("slow-marker");
    std::fs::write(&marker, "").unwrap();
    let started_flag = env.path("started");
    let spec = env.spec(
        "crash.json",
        &shell_spec(
            "crash",
            &format!(
                "echo half > \\$ARTIFACT/half; touch {}; if [ -e {} ]; then sleep 30; fi; echo whole > \\$ARTIFACT/whole",
                started_flag.display(),
                marker.display()
            ),
        ),
    );
    use std::os::unix::process::CommandExt;
    let mut child = env
        .std_hit()
        .arg("build")
        .arg(&spec)
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for(&started_flag, "the build starting");
    // Kill hit and everything it started, as a crash would.
    std::process::Command::new("kill")
        .args(["-9", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    child.wait().unwrap();

    env.hit()
        .arg("resolve")
        .arg(&spec)
        .assert()
        .code(1)
        .stdout("(not built)\n");
    std::fs::remove_file(&marker).unwrap();
    let path = env.build_ok(&spec);
    assert_eq!(
        std::fs::read_to_string(path.join("whole")).unwrap(),
        "whole\n"
    );
    assert!(std::fs::symlink_metadata(&path).unwrap().is_dir());
    let entries: Vec<_> = std::fs::read_dir(env.home().join("bld/crash"))
        .unwrap()
        .collect();
    assert_eq!(entries.len(), 1, "a stale claim was left: {entries:?}");
}

#[test]
fn verbose_streams_the_build_log() {
    let script = "echo streaming-output; echo to-stderr >&2; x=\\$(echo captured); echo \\$x";
    let env = Env::new();
    let spec = env.spec("loud.json", &shell_spec("loud", script));
    env.hit()
        .args(["build", "-v"])
        .arg(&spec)
        .assert()
        .success()
        .stderr(
            predicate::str::contains("streaming-output").and(predicate::str::contains("+ sh -c")),
        );
    let quiet = Env::new();
    let spec = quiet.spec("loud.json", &shell_spec("loud", script));
    let path = quiet.build_ok(&spec);
    // Without -v the commands write straight into the log instead of through hit.
    let log = std::fs::read_to_string(path.join(".hit/build.log")).unwrap();
    for line in ["+ sh -c", "streaming-output", "to-stderr", "captured"] {
        assert!(log.contains(line), "{line:?} missing from the log:\n{log}");
    }
    quiet
        .hit()
        .arg("build")
        .arg(&spec)
        .assert()
        .success()
        .stderr(predicate::str::contains("streaming-output").not());
}

#[test]
fn a_build_that_records_its_staging_path_fails() {
    let env = Env::new();
    let spec = env.spec(
        "realpath.json",
        &shell_spec("realpath", "realpath \\$ARTIFACT > \\$ARTIFACT/prefix"),
    );
    let output = env.hit().arg("build").arg(&spec).output().unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("prefix refers to the staging directory") && stderr.contains("realpath"),
        "{stderr}"
    );
    env.hit().arg("resolve").arg(&spec).assert().code(1);
}

#[test]
fn commands_left_running_by_a_killed_hit_are_killed_before_the_next_build() {
    let env = Env::new();
    env.without_sandbox();
    let count = env.path("count");
    std::fs::write(&count, "0").unwrap();
    let started = env.path("started");
    // The first attempt never ends and keeps writing into $ARTIFACT; the second is normal.
    let spec = env.spec(
        "orphan.json",
        &shell_spec(
            "orphan",
            &format!(
                "n=\\$(cat {count}); echo \\$((n + 1)) > {count}; \
                 if [ \\$n = 0 ]; then touch {started}; \
                 while [ -e {count} ]; do echo junk >> \\$ARTIFACT/junk; sleep 0.02; done; fi; \
                 echo whole > \\$ARTIFACT/whole",
                count = count.display(),
                started = started.display()
            ),
        ),
    );
    let mut first = env.std_hit().arg("build").arg(&spec).spawn().unwrap();
    wait_for(&started, "the first attempt starting");
    // Only hit dies (as with the OOM killer): its shell keeps running.
    first.kill().unwrap();
    first.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));

    let path = env.build_ok(&spec);
    assert_eq!(
        std::fs::read_to_string(path.join("whole")).unwrap(),
        "whole\n"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !path.join("junk").exists(),
        "the orphaned shell wrote into the new artifact"
    );
}

#[test]
fn every_sync_policy_builds_and_an_unknown_one_is_named() {
    let env = Env::new();
    env.hit().arg("init-home").assert().success();
    let config = env.home().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("# sync: link"), "{text}");
    for policy in ["none", "link", "artifact"] {
        std::fs::write(&config, format!("{text}sync: {policy}\n")).unwrap();
        let script = format!("echo {policy} > $ARTIFACT/file");
        let spec = env.spec("synced.json", &shell_spec("synced", &script));
        let path = env.build_ok(&spec);
        let written = std::fs::read_to_string(path.join("file")).unwrap();
        assert_eq!(written, format!("{policy}\n"));
    }
    env.hit().arg("verify").assert().success();

    std::fs::write(&config, format!("{text}sync: always\n")).unwrap();
    env.hit()
        .arg("build")
        .arg(env.path("synced.json"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("config.yaml")
                .and(predicate::str::contains("sync"))
                .and(predicate::str::contains("always")),
        );
}

#[test]
fn a_setter_with_if_exists_applies_only_when_its_path_exists() {
    let env = Env::new();
    let spec = serde_json::json!({"name": "cond", "build": {"commands": [
        {"set": "THERE", "value": "yes", "if_exists": "$BUILD"},
        {"set": "MISSING", "value": "yes", "if_exists": "${BUILD}/nothing"},
        {"append_flag": "FLAGS", "value": "-a", "if_exists": "."},
        {"append_flag": "FLAGS", "value": "-b", "if_exists": "./nothing"},
        {"cmd": ["sh", "-c", "echo \\${THERE:-unset} \\${MISSING:-unset} $FLAGS > $ARTIFACT/out"]},
    ]}});
    let path = env.build_ok(&env.spec("cond.json", &spec));
    assert_eq!(
        std::fs::read_to_string(path.join("out")).unwrap(),
        "yes unset -a\n"
    );
}

#[test]
fn setuid_bits_are_stripped_and_fifos_refused() {
    let env = Env::new();
    let spec = env.spec(
        "suid.json",
        &shell_spec(
            "suid",
            "mkdir -p $ARTIFACT/bin && echo x > $ARTIFACT/bin/tool && chmod 6755 $ARTIFACT/bin/tool",
        ),
    );
    let path = env.build_ok(&spec);
    let mode = std::fs::metadata(path.join("bin/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o6000, 0, "{mode:o}");
    let log = std::fs::read_to_string(path.join(".hit/build.log")).unwrap();
    assert!(
        log.contains("removed the setuid/setgid bits of") && log.contains("bin/tool"),
        "{log}"
    );

    let spec = env.spec("fifo.json", &shell_spec("fifo", "mkfifo $ARTIFACT/pipe"));
    let output = env.hit().arg("build").arg(&spec).output().unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("pipe is a FIFO: artifacts hold only files, directories and symlinks"),
        "{stderr}"
    );
}

#[test]
fn what_a_command_leaves_running_dies_with_it_and_never_holds_the_build() {
    let env = Env::new();
    // A helper in the background that would outlive the build, holding its output.
    let spec = env.spec(
        "daemon.json",
        &shell_spec(
            "daemon",
            "sleep 4711 & echo started > \\$ARTIFACT/started; \
             (sleep 0.3; echo late >> \\$ARTIFACT/started) &",
        ),
    );
    let started = std::time::Instant::now();
    let output = env
        .hit()
        .args(["build", "-v"])
        .arg(&spec)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(processes_running(&["sleep", "4711"]), 0);
    let path = std::path::PathBuf::from(stdout_of(&output).lines().last().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        std::fs::read_to_string(path.join("started")).unwrap(),
        "started\n",
        "a process of the build wrote into the sealed artifact"
    );
}

#[test]
fn sigterm_to_hit_alone_ends_its_build_commands() {
    let env = Env::new();
    env.without_sandbox();
    let marker = env.path("running");
    let spec = env.spec(
        "long.json",
        &shell_spec("long", &format!("touch {}; sleep 4712", marker.display())),
    );
    let mut hit = env.std_hit().arg("build").arg(&spec).spawn().unwrap();
    wait_for(&marker, "the build's command");
    let pid = rustix::process::Pid::from_raw(hit.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = hit.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while processes_running(&["sleep", "4712"]) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(processes_running(&["sleep", "4712"]), 0);
    // The store is consistent and the build can be done again.
    let output = env.hit().arg("verify").output().unwrap();
    assert!(output.status.success(), "{}", stdout_of(&output));
}

#[test]
fn a_build_that_replaces_its_artifact_dir_fails_and_leaves_nothing_in_the_store() {
    let env = Env::new();
    env.without_sandbox();
    let spec = env.spec(
        "replace.json",
        &shell_spec(
            "replace",
            "rm -rf \\$ARTIFACT; mkdir -p \\$ARTIFACT; echo x > \\$ARTIFACT/f",
        ),
    );
    for _ in 0..2 {
        let output = env.hit().arg("build").arg(&spec).output().unwrap();
        assert!(!output.status.success());
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains("removed $ARTIFACT") && stderr.contains("never remove or replace it"),
            "{stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(env.home().join("bld/replace"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    let output = env.hit().arg("verify").output().unwrap();
    assert!(output.status.success(), "{}", stdout_of(&output));
}

#[test]
fn a_build_past_build_timeout_is_stopped_and_fails() {
    let env = Env::new();
    env.hit().arg("init-home").assert().success();
    let config = env.home().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}build_timeout: 1\n")).unwrap();
    let spec = env.spec("slow.json", &shell_spec("slow", "sleep 4713"));
    let started = std::time::Instant::now();
    let output = env.hit().arg("build").arg(&spec).output().unwrap();
    assert!(!output.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("longer than build_timeout in config.yaml"),
        "{stderr}"
    );
    assert_eq!(processes_running(&["sleep", "4713"]), 0);
}

#[test]
fn a_download_past_download_max_bytes_is_refused() {
    let env = Env::new();
    env.hit().arg("init-home").assert().success();
    let config = env.home().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}download_max_bytes: 1000\n")).unwrap();
    let file = env.path("big.bin");
    std::fs::write(&file, vec![7u8; 5000]).unwrap();
    let output = env
        .hit()
        .arg("fetch")
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("more than 1000 bytes (download_max_bytes in config.yaml)"),
        "{}",
        stderr_of(&output)
    );
}
