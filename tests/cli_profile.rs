//! Profiles through the `hit` binary, with tiny shell-only recipes
//! (tests/fixtures/recipes): linking, switching, status, show, bdir, parameters, failures.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, stderr_of, stdout_of};
use predicates::prelude::*;
use std::path::{Path, PathBuf};

impl Env {
    fn profile(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        let text = format!(
            "profile(#{{ package_dirs: [{:?}], {body} }})",
            common::fixture_recipes().display().to_string()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    fn build_profile(&self, profile: &Path, extra: &[&str]) -> std::process::Output {
        self.hit()
            .arg("build")
            .arg(profile)
            .args(extra)
            .output()
            .unwrap()
    }
}

fn run(path: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        path.display(),
        stderr_of(&output)
    );
    stdout_of(&output)
}

#[test]
fn a_profile_links_its_packages_and_their_run_deps() {
    let env = Env::new();
    let profile = env.profile("mine.rhai", r#"packages: ["greet"]"#);
    let output = env.build_profile(&profile, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(
            "profile mine: 2 packages linked, 3 in the plan (3 built, 0 already built) -> ./mine"
        ),
        "{stderr}"
    );

    let link = env.path("mine");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let target = std::fs::read_link(&link).unwrap();
    assert_eq!(stdout_of(&output).trim(), target.display().to_string());
    assert_eq!(run(&link.join("bin/greet"), &[]), "hello hi\n");
    assert_eq!(run(&link.join("bin/hello"), &["you"]), "hello you\n");
    assert!(
        !link.join("bin/tool").exists(),
        "a build-only dependency was linked"
    );
    assert_eq!(
        std::fs::read_to_string(link.join("share/doc/made-by-tool")).unwrap(),
        "made by tool\n"
    );
    assert_eq!(
        std::fs::read_to_string(link.join("share/doc/message.txt")).unwrap(),
        "a message from beside the recipe\n"
    );
    // Entries are relative symlinks into the packages.
    let entry = std::fs::read_link(link.join("bin/hello")).unwrap();
    assert!(
        entry.is_relative() && entry.starts_with("../../.."),
        "{}",
        entry.display()
    );
    // The link is a gc root: a record naming it, with the profile as generation 1.
    let records: Vec<PathBuf> = std::fs::read_dir(env.home().join("gcroots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| !path.ends_with(".hit-dir"))
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(
        std::fs::read_link(records[0].join("link")).unwrap(),
        std::path::absolute(&link).unwrap()
    );
    assert_eq!(
        std::fs::read_link(records[0].join("1")).unwrap(),
        std::fs::read_link(&link).unwrap()
    );
}

#[test]
fn rebuilding_is_a_no_op_and_dropping_a_package_only_relinks() {
    let env = Env::new();
    let both = env.profile("p.rhai", r#"packages: ["greet", "hello"]"#);
    assert!(env.build_profile(&both, &[]).status.success());
    let first = std::fs::read_link(env.path("p")).unwrap();

    let again = env.build_profile(&both, &[]);
    assert!(
        stderr_of(&again).contains("(0 built, 3 already built)"),
        "{}",
        stderr_of(&again)
    );
    assert_eq!(std::fs::read_link(env.path("p")).unwrap(), first);

    let fewer = env.profile("p.rhai", r#"packages: ["hello"]"#);
    let output = env.build_profile(&fewer, &[]);
    assert!(
        stderr_of(&output)
            .contains("profile p: 1 package linked, 1 in the plan (0 built, 1 already built)"),
        "{}",
        stderr_of(&output)
    );
    let second = std::fs::read_link(env.path("p")).unwrap();
    assert_ne!(second, first);
    assert!(!env.path("p/bin/greet").exists() && env.path("p/bin/hello").exists());

    // Adding it back gives the very same profile as before.
    let both = env.profile("p.rhai", r#"packages: ["greet", "hello"]"#);
    let output = env.build_profile(&both, &[]);
    assert!(
        stderr_of(&output).contains("(0 built, 3 already built)"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(std::fs::read_link(env.path("p")).unwrap(), first);
}

#[test]
fn conflicting_files_are_an_error_unless_the_profile_prefers_one() {
    let env = Env::new();
    let profile = env.profile("c.rhai", r#"packages: ["hello", "clash"]"#);
    let output = env.build_profile(&profile, &[]);
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("both hello and clash provide bin/hello") && stderr.contains("prefer"),
        "{stderr}"
    );
    assert!(!env.path("c").exists());

    let preferred = env.profile(
        "c.rhai",
        r#"packages: ["hello", "clash"], prefer: ["clash"]"#,
    );
    assert!(env.build_profile(&preferred, &[]).status.success());
    let entry = std::fs::read_link(env.path("c/bin/hello")).unwrap();
    assert!(
        entry.display().to_string().contains("/clash/"),
        "{}",
        entry.display()
    );
    // Other files of the losing package are still there.
    assert!(env.path("c/share/doc/hello.txt").exists());
}

#[test]
fn parameters_from_the_command_line_reach_recipes() {
    let env = Env::new();
    let profile = env.profile(
        "p.rhai",
        r#"packages: ["greet"], params: #{ greeting: "from-profile" }"#,
    );
    assert!(env.build_profile(&profile, &[]).status.success());
    assert_eq!(run(&env.path("p/bin/greet"), &[]), "hello from-profile\n");
    let hello_before = stdout_of(
        &env.hit()
            .args(["resolve", "hello", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );

    let output = env.build_profile(&profile, &["greeting=from-cli"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    // Only greet reads the parameter: it alone is rebuilt.
    assert!(
        stderr_of(&output).contains("(1 built, 2 already built)"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(run(&env.path("p/bin/greet"), &[]), "hello from-cli\n");
    let hello_link = std::fs::read_link(env.path("p/bin/hello")).unwrap();
    assert!(
        hello_before.trim().ends_with(
            hello_link
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
        )
    );
    env.hit()
        .arg("build")
        .arg(&profile)
        .arg("not-a-param")
        .assert()
        .failure()
        .stderr(predicate::str::contains("KEY=VALUE"));
    // A param nobody declares is an error that names the closest one.
    env.hit()
        .arg("build")
        .arg(&profile)
        .arg("greting=x")
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "unknown param `greting` (given on the command line): no recipe or profile of \
             this plan declares it; did you mean `greeting` (greet)?",
        ));
    // hit info lists what the recipe declares, with the value that applies.
    env.hit()
        .args(["info", "greet", "greeting=cli", "-p"])
        .arg(&profile)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "params:\n  greeting = \"cli\" (string, default \"hi\"): what greet says\n",
        ));
    // show, hash and resolve take the same parameters.
    let greet_path = stdout_of(
        &env.hit()
            .args(["resolve", "greet", "greeting=from-cli", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    let linked = std::fs::canonicalize(env.path("p/bin/greet")).unwrap();
    assert!(
        linked.starts_with(std::fs::canonicalize(greet_path.trim()).unwrap()),
        "{greet_path} vs {}",
        linked.display()
    );
    let spec = stdout_of(
        &env.hit()
            .args(["show", "buildspec", "greet", "greeting=from-cli", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    assert!(spec.contains("from-cli"), "{spec}");
    let with = stdout_of(
        &env.hit()
            .args(["hash", "greet", "greeting=x", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    let without = stdout_of(
        &env.hit()
            .args(["hash", "greet", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    assert!(
        with.starts_with("greet/") && with != without,
        "{with} {without}"
    );
}

/// A recipe that imports a base from its package dir: the base is an input of the plan
/// (the no-op path notices its change) and of the build.
#[test]
fn base_recipes_are_imported_from_the_package_dirs() {
    let env = Env::new();
    let recipes = env.path("recipes");
    std::fs::create_dir_all(recipes.join("bases")).unwrap();
    let word = |text: &str| {
        std::fs::write(
            recipes.join("bases/words.rhai"),
            format!("fn word() {{ {text:?} }}\n"),
        )
        .unwrap();
    };
    word("one");
    std::fs::write(
        recipes.join("say.rhai"),
        r#"import "bases/words" as words;
recipe(#{
    name: "say",
    toolchain: false,
    stages: [stage("install", [
        "mkdir -p $ARTIFACT/share",
        `echo ${words::word()} > $ARTIFACT/share/said`,
    ])],
})
"#,
    )
    .unwrap();
    let profile = env.path("p.rhai");
    std::fs::write(
        &profile,
        r#"profile(#{ package_dirs: ["recipes"], packages: ["say"] })"#,
    )
    .unwrap();
    assert!(env.build_profile(&profile, &[]).status.success());
    assert_eq!(
        std::fs::read_to_string(env.path("p/share/said")).unwrap(),
        "one\n"
    );
    word("two");
    let output = env.build_profile(&profile, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        std::fs::read_to_string(env.path("p/share/said")).unwrap(),
        "two\n"
    );
    std::fs::write(
        recipes.join("say.rhai"),
        "import \"/etc/hostname\" as h;\nrecipe(#{ name: \"say\" })\n",
    )
    .unwrap();
    env.hit()
        .arg("build")
        .arg(&profile)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "say.rhai:1:8: import \"/etc/hostname\": an import names a script in the package \
             dirs by a relative path",
        ));
}

#[test]
fn status_show_hash_and_resolve_speak_of_packages() {
    let env = Env::new();
    let profile = env.profile("s.rhai", r#"packages: ["greet"]"#);
    let status = stdout_of(&env.hit().arg("status").arg(&profile).output().unwrap());
    assert!(status.contains("profile s ("), "{status}");
    let line = |name: &str| {
        status
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap()
            .to_owned()
    };
    assert!(
        line("hello").contains("1.0") && line("hello").ends_with("missing"),
        "{status}"
    );
    assert!(line("tool").contains("missing  (build only)"), "{status}");

    let id = stdout_of(
        &env.hit()
            .args(["hash", "greet", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    assert!(id.starts_with("greet/"), "{id}");
    assert!(line("greet").contains(&id[6..18]), "{status}");
    env.hit()
        .args(["resolve", "greet", "-p"])
        .arg(&profile)
        .assert()
        .code(1)
        .stdout("(not built)\n");

    let spec = stdout_of(
        &env.hit()
            .args(["show", "buildspec", "greet", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    let spec_path = env.path("greet.json");
    std::fs::write(&spec_path, &spec).unwrap();
    env.hit()
        .arg("hash")
        .arg(&spec_path)
        .assert()
        .success()
        .stdout(format!("{id}\n"));
    let script = stdout_of(
        &env.hit()
            .args(["show", "script", "greet", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    assert!(
        script.contains(": stage build\n(\ncd \"$BUILD\"\ntool > made-by-tool\n")
            && script.contains("HELLO_DIR"),
        "{script}"
    );

    assert!(env.build_profile(&profile, &[]).status.success());
    let status = stdout_of(&env.hit().arg("status").arg(&profile).output().unwrap());
    assert_eq!(status.matches("built").count(), 3, "{status}");
    let path = stdout_of(
        &env.hit()
            .args(["resolve", "greet", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    assert!(Path::new(path.trim()).join("bin/greet").exists());
    env.hit()
        .args(["show", "script", "nope", "-p"])
        .arg(&profile)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "has no package \"nope\" (it has: ",
        ));
}

#[test]
fn bdir_prepares_a_build_by_hand() {
    let env = Env::new();
    let profile = env.profile("b.rhai", r#"packages: ["greet"]"#);
    // greet's dependencies must be built first.
    env.hit()
        .args(["bdir", "greet", "bd", "-p"])
        .arg(&profile)
        .assert()
        .failure()
        .stderr(predicate::str::contains("which is not built"));
    assert!(env.build_profile(&profile, &[]).status.success());
    env.hit()
        .args(["bdir", "greet", "bd", "-p"])
        .arg(&profile)
        .assert()
        .success();
    let dir = env.path("bd");
    assert!(dir.join("message.txt").is_file());
    let output = std::process::Command::new("sh")
        .arg(dir.join("hit-build.sh"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(dir.join("_artifact/bin/greet").is_file());
    env.hit()
        .args(["bdir", "greet", "bd", "-p"])
        .arg(&profile)
        .assert()
        .failure()
        .stderr(predicate::str::contains("not empty"));
}

/// The script of `hit bdir` runs each stage as a build does: in `$BUILD`, on its own. A
/// `cd` in one stage must not move the next (it did, and the build by hand silently did
/// something else).
#[test]
fn a_build_by_hand_gives_what_the_real_build_gives() {
    let env = Env::new();
    let recipes = env.path("recipes");
    std::fs::create_dir_all(recipes.join("wander/sub")).unwrap();
    std::fs::write(recipes.join("wander/sub/data.txt"), "payload\n").unwrap();
    std::fs::write(
        recipes.join("wander/wander.rhai"),
        r#"recipe(#{ name: "wander", toolchain: false, sources: [#{ files: ["sub/data.txt"] }], stages: [
            stage("build", ["cd sub", "cat data.txt > ../copied", "export LEAK=1"]),
            stage("install", ["test -z \"$LEAK\"", "mkdir -p $ARTIFACT/share", "cp copied $ARTIFACT/share/", "pwd > $ARTIFACT/share/where"]),
        ] })"#,
    )
    .unwrap();
    let profile = env.path("w.rhai");
    std::fs::write(
        &profile,
        r#"profile(#{ package_dirs: ["recipes"], packages: ["wander"] })"#,
    )
    .unwrap();
    env.hit()
        .args(["bdir", "wander", "bd", "-p"])
        .arg(&profile)
        .assert()
        .success();
    let by_hand = std::process::Command::new("sh")
        .arg(env.path("bd/hit-build.sh"))
        .output()
        .unwrap();
    assert!(by_hand.status.success(), "{}", stderr_of(&by_hand));
    assert!(env.build_profile(&profile, &[]).status.success());
    let real = std::fs::read_to_string(env.path("w/share/copied")).unwrap();
    let hand = std::fs::read_to_string(env.path("bd/_artifact/share/copied")).unwrap();
    assert_eq!((real.as_str(), hand.as_str()), ("payload\n", "payload\n"));
    // Both ran the install stage in their build directory, not in `sub/`.
    let where_by_hand = std::fs::read_to_string(env.path("bd/_artifact/share/where")).unwrap();
    assert_eq!(where_by_hand.trim(), env.path("bd").display().to_string());
    let where_real = std::fs::read_to_string(env.path("w/share/where")).unwrap();
    assert!(!where_real.trim().ends_with("/sub"), "{where_real}");
    let script = std::fs::read_to_string(env.path("bd/hit-build.sh")).unwrap();
    assert!(script.ends_with(")\n"), "{script}");
}

#[test]
fn a_failure_stops_only_what_depends_on_it() {
    let env = Env::new();
    env.profile("ok.rhai", r#"packages: ["hello"]"#);
    assert!(
        env.build_profile(&env.path("ok.rhai"), &[])
            .status
            .success()
    );
    let before = std::fs::read_link(env.path("ok")).unwrap();

    let profile = env.profile("ok.rhai", r#"packages: ["needs-broken", "greet"]"#);
    let output = env.build_profile(&profile, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("build of broken/") && stderr.contains("exited with status 7"),
        "{stderr}"
    );
    assert!(stderr.contains("about to fail"), "{stderr}");
    assert!(
        stderr.contains("skipped needs-broken: it needs broken"),
        "{stderr}"
    );
    assert!(stderr.contains("1 package failed: broken"), "{stderr}");
    assert!(
        stderr.contains("the profile link was not changed"),
        "{stderr}"
    );
    // greet did not depend on it and was built; the link still points where it did.
    env.hit()
        .args(["resolve", "greet", "-p"])
        .arg(&profile)
        .assert()
        .success();
    assert_eq!(std::fs::read_link(env.path("ok")).unwrap(), before);
}

#[test]
fn script_errors_point_at_the_script() {
    let env = Env::new();
    std::fs::write(
        env.path("bad.rhai"),
        "// a profile\nprofile(#{ packages: [\"hello\"] ]})\n",
    )
    .unwrap();
    let output = env
        .hit()
        .arg("build")
        .arg(env.path("bad.rhai"))
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("bad.rhai:2:")
            && stderr.contains("syntax error")
            && stderr.contains("2 | profile(#{"),
        "{stderr}"
    );

    let unknown = env.profile("u.rhai", r#"packages: ["hello", "no-such-thing"]"#);
    env.hit()
        .arg("build")
        .arg(&unknown)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "u.rhai:1:1: unknown package `no-such-thing`",
        ));

    env.hit()
        .arg("build")
        .assert()
        .failure()
        .stderr(predicate::str::contains("no profile default.rhai here"));
}

#[test]
fn host_packages_link_to_the_machine() {
    let env = Env::new();
    let profile = env.profile("h.rhai", r#"packages: ["host-sh"]"#);
    let output = env.build_profile(&profile, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        run(&env.path("h/bin/host-sh"), &["-c", "echo from the host"]),
        "from the host\n"
    );
    let artifact = stdout_of(
        &env.hit()
            .args(["resolve", "host-sh", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    assert_eq!(
        std::fs::read_link(Path::new(artifact.trim()).join("bin/host-sh")).unwrap(),
        Path::new("/bin/sh")
    );
    let spec = stdout_of(
        &env.hit()
            .args(["show", "buildspec", "host-sh", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    assert!(
        spec.contains("HIT_HOST_BIN_HOST_SH"),
        "the host file's fingerprint is not in the spec:\n{spec}"
    );
}

#[test]
fn gc_keeps_what_profiles_reach_and_deletes_the_rest() {
    let env = Env::new();
    let both = env.profile("both.rhai", r#"packages: ["greet"]"#);
    let hello_only = env.profile("hello-only.rhai", r#"packages: ["hello"]"#);
    assert!(env.build_profile(&both, &[]).status.success());
    assert!(env.build_profile(&hello_only, &[]).status.success());
    let greet = stdout_of(
        &env.hit()
            .args(["resolve", "greet", "-p"])
            .arg(&both)
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    let tool = stdout_of(
        &env.hit()
            .args(["resolve", "tool", "-p"])
            .arg(&both)
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    let hello = stdout_of(
        &env.hit()
            .args(["resolve", "hello", "-p"])
            .arg(&both)
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();

    // Both profiles keep everything; the build tool stays with greet.
    let list = stdout_of(&env.hit().args(["gc", "--list"]).output().unwrap());
    assert_eq!(list.lines().count(), 2, "{list}");
    let dry = stdout_of(&env.hit().args(["gc", "--dry-run"]).output().unwrap());
    assert!(!dry.contains("would delete"), "{dry}");
    let tool_line = dry
        .lines()
        .find(|l| l.starts_with("keep tool/"))
        .unwrap_or_else(|| panic!("{dry}"));
    assert!(
        tool_line.ends_with(&format!("reached from {}", env.path("both").display())),
        "{dry}"
    );

    // Drop the `both` link by hand: its root goes stale, and greet, tool and its profile go.
    std::fs::remove_file(env.path("both")).unwrap();
    let dry = stdout_of(&env.hit().args(["gc", "--dry-run"]).output().unwrap());
    assert!(
        dry.contains("would drop the root of") && dry.contains("no longer exists"),
        "{dry}"
    );
    for gone in ["greet/", "tool/", "profile-both/"] {
        assert!(
            dry.lines()
                .any(|l| l.starts_with(&format!("would delete {gone}"))),
            "{gone}: {dry}"
        );
    }
    assert!(dry.contains("keep hello/"), "{dry}");
    assert!(
        dry.contains("would delete source") && dry.contains("/files/"),
        "greet's inline files: {dry}"
    );
    assert!(Path::new(&greet).exists(), "a dry run deleted something");

    let output = env.hit().arg("gc").output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let said = stdout_of(&output);
    assert!(
        said.contains("deleted 3 artifacts, 1 source and")
            && said.contains("dropped 1 stale root "),
        "{said}"
    );
    assert!(!Path::new(&greet).exists() && !Path::new(&tool).exists());
    assert!(Path::new(&hello).join("bin/hello").exists());
    assert_eq!(
        run(&env.path("hello-only/bin/hello"), &["again"]),
        "hello again\n"
    );
    let again = stdout_of(&env.hit().arg("gc").output().unwrap());
    assert!(
        again.starts_with("deleted 0 artifacts, 0 sources"),
        "{again}"
    );
}

/// `eval "$(hit env ./p)"` puts a built profile in use in a real shell, `--unset` takes it
/// out again leaving the rest as it was, and `hit shell` runs a command in it.
#[test]
fn env_puts_a_profile_in_use_and_takes_it_out() {
    let env = Env::new();
    let profile = env.profile("p.rhai", r#"packages: ["hello"]"#);
    assert!(env.build_profile(&profile, &[]).status.success());
    let hit = assert_cmd::cargo::cargo_bin("hit");
    let script = format!(
        r#"before="$PATH"; export CMAKE_PREFIX_PATH=/opt/x
eval "$({hit} env ./p)"
hello there
echo "cmake=$CMAKE_PREFIX_PATH"
eval "$({hit} env ./p --unset)"
[ "$PATH" = "$before" ] && echo restored
echo "cmake=$CMAKE_PREFIX_PATH"
command -v hello || echo gone"#,
        hit = hit.display()
    );
    let p = env.path("p").display().to_string();
    for shell in ["sh", "bash"] {
        let output = std::process::Command::new(shell)
            .args(["-c", &script])
            .current_dir(env.dir.path())
            .env("HIT_HOME", env.home())
            .output()
            .unwrap();
        assert_eq!(
            stdout_of(&output),
            format!("hello there\ncmake={p}:/opt/x\nrestored\ncmake=/opt/x\ngone\n"),
            "{shell}: {}",
            stderr_of(&output)
        );
    }
    // The recipe's run_env, in every shell hit writes for, and out again with --unset.
    let check = format!(
        r#"eval "$({hit} env ./p)"; echo "$HELLO_DOCS|$HELLO_PATH"; hello z
eval "$({hit} env ./p --unset)"; echo "${{HELLO_DOCS:-unset}}|${{HELLO_PATH:-unset}}""#,
        hit = hit.display()
    );
    let docs = format!("{p}/share/doc");
    let expected = format!("{docs}|{docs}\nhello z\nunset|unset\n");
    let fish = format!(
        r#"{hit} env ./p --shell fish | source; echo "$HELLO_DOCS|$HELLO_PATH"; hello z
{hit} env ./p --shell fish --unset | source; set -q HELLO_DOCS; or echo -n unset; echo -n '|'; test -n "$HELLO_PATH"; or echo unset"#,
        hit = hit.display()
    );
    let csh = format!(
        r#"eval "`{hit} env ./p --shell csh`"; echo "$HELLO_DOCS|$HELLO_PATH"; hello z
eval "`{hit} env ./p --shell csh --unset`"; if ( ! $?HELLO_DOCS ) echo -n unset; echo -n '|'; if ( ! $?HELLO_PATH ) echo unset"#,
        hit = hit.display()
    );
    for (shell, script) in [
        ("bash", &check),
        ("zsh", &check),
        ("fish", &fish),
        ("tcsh", &csh),
    ] {
        if !common::have_tool(shell) {
            continue;
        }
        let output = std::process::Command::new(shell)
            .args(["-c", script])
            .current_dir(env.dir.path())
            .env("HIT_HOME", env.home())
            .output()
            .unwrap();
        assert_eq!(
            stdout_of(&output),
            expected,
            "{shell}: {}",
            stderr_of(&output)
        );
    }
    // A profile script gives its built profile (in the store); fish gets fish.
    let fish = stdout_of(
        &env.hit()
            .args(["env", "p.rhai", "--shell", "fish"])
            .output()
            .unwrap(),
    );
    assert!(
        fish.starts_with("set -gx PATH ")
            && fish.contains("/bld/profile-p/")
            && fish.contains(" $PATH\n"),
        "{fish}"
    );
    let output = env
        .hit()
        .args(["shell", "./p", "--", "sh", "-c", "hello from shell; exit 3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(stdout_of(&output), "hello from shell\n");
    // Not built yet: say so.
    let other = env.profile("q.rhai", r#"packages: ["greet"]"#);
    env.hit()
        .arg("env")
        .arg(&other)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "profile q is not built; `hit build",
        ));
}
