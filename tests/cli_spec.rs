//! `hit init-home`, `hit hash`, `hit resolve`: specs, ids and errors through the binary.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, stderr_of, stdout_of};
use predicates::prelude::*;
use serde_json::json;

#[test]
fn hash_prints_hashdists_golden_id() {
    let env = Env::new();
    let spec = env.spec(
        "foo.json",
        &json!({"name": "fooname", "build": {"commands": []}}),
    );
    env.hit()
        .arg("hash")
        .arg(&spec)
        .assert()
        .success()
        .stdout("fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn\n");
    // Standard input works too, and whitespace and key order do not matter.
    env.hit()
        .args(["hash", "-"])
        .write_stdin("{ \"build\" : {\"commands\":[ ]},\n \"name\":\"fooname\" }")
        .assert()
        .success()
        .stdout("fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn\n");
}

#[test]
fn bad_specs_get_errors_naming_file_and_field() {
    let env = Env::new();
    let cases = [
        (
            json!({"name": "a", "build": {}, "sorces": []}),
            "$.sorces: unknown field",
        ),
        (
            json!({"name": "a b", "build": {}}),
            "$.name: invalid package name \"a b\"",
        ),
        (
            json!({"name": "a", "build": {"commands": [{"cmd": ["x"], "value": 1.5}]}}),
            "$.build.commands[0].value: unknown field",
        ),
        (
            json!({"name": "a", "build": {"commands": [{"cmd": ["x"], "nohash_y": 1, "inputs": [{"json": 0.1}]}]}}),
            "floating-point",
        ),
    ];
    for (spec, expected) in cases {
        let path = env.spec("bad.json", &spec);
        let output = env.hit().arg("hash").arg(&path).output().unwrap();
        assert!(!output.status.success());
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains("bad.json") && stderr.contains(expected),
            "{spec}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::write(env.path("broken.json"), "{\"name\": \"a\",\n \"build\": }").unwrap();
    env.hit()
        .args(["hash", "broken.json"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("broken.json: invalid JSON")
                .and(predicate::str::contains("line 2")),
        );
    env.hit()
        .args(["hash", "missing.json"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot read missing.json"));
}

#[test]
fn init_home_writes_a_config_and_other_commands_create_the_home_too() {
    let env = Env::new();
    env.hit()
        .arg("init-home")
        .assert()
        .success()
        .stdout(predicate::str::contains("created hit home"));
    let config = std::fs::read_to_string(env.home().join("config.yaml")).unwrap();
    for key in [
        "store_dir: bld",
        "source_dir: src",
        "build_dir: tmp",
        "gc_roots_dir: gcroots",
        "mirrors: []",
    ] {
        assert!(config.contains(key), "{config}");
    }
    for dir in ["bld", "src", "tmp", "gcroots", "locks"] {
        assert!(env.home().join(dir).is_dir(), "{dir}");
    }
    env.hit()
        .arg("init-home")
        .assert()
        .success()
        .stdout(predicate::str::contains("already exists"));

    let fresh = Env::new();
    fresh
        .hit()
        .args([
            "resolve",
            "--hash",
            "fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn",
        ])
        .assert()
        .code(1);
    assert!(fresh.home().join("config.yaml").is_file());
}

#[test]
fn a_broken_config_is_reported_with_its_path() {
    let env = Env::new();
    env.hit().arg("init-home").assert().success();
    std::fs::write(env.home().join("config.yaml"), "mirrors: no\n").unwrap();
    let output = env
        .hit()
        .args([
            "resolve",
            "--hash",
            "fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("config.yaml"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn resolve_says_not_built_with_status_one() {
    let env = Env::new();
    let spec = env.spec(
        "foo.json",
        &json!({"name": "fooname", "build": {"commands": []}}),
    );
    let output = env.hit().arg("resolve").arg(&spec).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_of(&output), "(not built)\n");
    env.hit()
        .args([
            "resolve",
            "--hash",
            "fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn",
        ])
        .assert()
        .code(1)
        .stdout("(not built)\n");
    env.hit()
        .args(["resolve", "--hash", "fooname"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid artifact id"));
    env.hit().args(["resolve", "--help"]).assert().success();

    let path = env.build_ok(&spec);
    env.hit()
        .arg("resolve")
        .arg(&spec)
        .assert()
        .success()
        .stdout(format!("{}\n", path.display()));
    env.hit()
        .args([
            "resolve",
            "--hash",
            "fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn",
        ])
        .assert()
        .success()
        .stdout(format!("{}\n", path.display()));
}

/// 0 done, 1 a build or check failed, 2 a usage mistake or bad input: scripts tell them
/// apart. And `-h` is help everywhere.
#[test]
fn exit_status_tells_a_failed_build_from_bad_input() {
    let env = Env::new();
    // Usage: clap's own.
    env.hit().args(["build", "--no-such-flag"]).assert().code(2);
    env.hit().arg("no-such-command").assert().code(2);
    // Bad input: a spec that does not parse, an id that does not, a profile that is not
    // there, a recipe that does not evaluate, a parameter that is not KEY=VALUE.
    let bad = env.spec(
        "bad.json",
        &json!({"name": "bad", "build": {"commands": [{}]}}),
    );
    env.hit().arg("hash").arg(&bad).assert().code(2);
    env.hit().arg("build").arg(&bad).assert().code(2);
    env.hit()
        .args(["resolve", "--hash", "nohash"])
        .assert()
        .code(2);
    env.hit().args(["purge", "x/y"]).assert().code(2);
    env.hit().args(["build", "missing.rhai"]).assert().code(2);
    env.hit()
        .args(["build", "missing.json"])
        .assert()
        .code(2)
        .stderr(
            "error: cannot read missing.json\ncaused by: No such file or directory (os error 2)\n",
        );
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("oops.rhai"), "recipe(#{ name: 1 })").unwrap();
    let profile = env.path("p.rhai");
    std::fs::write(
        &profile,
        format!(
            "profile(#{{ package_dirs: [{:?}], packages: [\"oops\"] }})",
            recipes.display()
        ),
    )
    .unwrap();
    env.hit().arg("build").arg(&profile).assert().code(2);
    env.hit()
        .args(["status"])
        .arg(&profile)
        .arg("novalue")
        .assert()
        .code(2);
    // A build that runs and fails: 1.
    let failing = env.spec("fail.json", &common::shell_spec("fail", "exit 3"));
    env.hit().arg("build").arg(&failing).assert().code(1);
    // -h is help, for resolve too (its id flag is --hash).
    for args in [&["-h"][..], &["resolve", "-h"], &["build", "-h"]] {
        env.hit()
            .args(args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage: hit"));
    }
}

/// HashDist's documented build spec (doc/source/build_spec.rst of HashDist: zlib with a
/// `virtual:unix` import, a `tar.gz:` key, `strip`), its JSON mistakes (a missing quote, a
/// trailing comma) fixed, hashes to what HashDist's `hash_document` gives it. (The id that
/// page prints was not computed from that text; the pinned id is HashDist's algorithm run
/// on it.) `profile_install` and `import_modify_env` are accepted and hashed, and a
/// `virtual:` import is resolved by config.yaml's `virtuals:` when the spec is built.
#[test]
fn hashdist_specs_with_virtual_imports_hash_and_build() {
    let env = Env::new();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hashdist/build_spec_example.json"
    );
    env.hit()
        .args(["hash", example])
        .assert()
        .success()
        .stdout("zlib/64gzxrhshdpmluxt5qmig2gxacgmmmaz\n");

    // A tool to stand for `virtual:unix`, then a spec that imports it by that name.
    let unix = env.build_ok(&env.spec(
        "unix.json",
        &common::shell_spec(
            "unix",
            "mkdir -p $ARTIFACT/bin && printf '#!/bin/sh\\necho unix-tool\\n' > $ARTIFACT/bin/unix-tool && chmod +x $ARTIFACT/bin/unix-tool",
        ),
    ));
    let unix_id = stdout_of(
        &env.hit()
            .arg("hash")
            .arg(env.path("unix.json"))
            .output()
            .unwrap(),
    );
    let document = json!({
        "name": "uses-unix",
        "build": {
            "import": [{"ref": "UNIX", "id": "virtual:unix"}],
            "commands": [{"cmd": ["sh", "-c", "mkdir -p $ARTIFACT/share && unix-tool > $ARTIFACT/share/out && echo $UNIX_DIR > $ARTIFACT/share/dir"]}]
        },
        "profile_install": {"commands": [{"hit": ["create-links", "--key=install.parameters.links", "artifact.json"]}]},
        "import_modify_env": {"set": {"FOO": "bar"}}
    });
    let spec = env.spec("uses-unix.json", &document);
    let id = stdout_of(&env.hit().arg("hash").arg(&spec).output().unwrap());
    // The fields are hashed; the name of the virtual import is, what it resolves to is not.
    let mut without = document.clone();
    without.as_object_mut().unwrap().remove("import_modify_env");
    let other = stdout_of(
        &env.hit()
            .arg("hash")
            .arg(env.spec("without.json", &without))
            .output()
            .unwrap(),
    );
    assert_ne!(id, other);

    env.hit()
        .arg("build")
        .arg(&spec)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "imports virtual:unix: config.yaml's `virtuals:` does not map it to an artifact",
        ));
    let config = env.home().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{text}\nvirtuals:\n  \"virtual:unix\": {}\n",
            unix_id.trim()
        ),
    )
    .unwrap();
    let path = env.build_ok(&spec);
    assert_eq!(
        std::fs::read_to_string(path.join("share/out")).unwrap(),
        "unix-tool\n"
    );
    assert_eq!(
        std::fs::read_to_string(path.join("share/dir"))
            .unwrap()
            .trim(),
        unix.display().to_string()
    );
    assert!(path.starts_with(env.home()) && path.display().to_string().contains("uses-unix"));
    assert_eq!(
        stdout_of(&env.hit().arg("hash").arg(&spec).output().unwrap()),
        id,
        "what it resolved to is not part of the id"
    );
    // The artifact keeps what the name resolved to; verify counts it among the imports,
    // and gc keeps it while the artifact lives.
    let build_json = std::fs::read_to_string(path.join(".hit/build.json")).unwrap();
    assert!(
        build_json.contains("\"nohash_virtuals\"") && build_json.contains(unix_id.trim()),
        "{build_json}"
    );
    let meta = std::fs::read_to_string(path.join(".hit/artifact.json")).unwrap();
    assert!(meta.contains(unix_id.trim()), "{meta}");
    env.hit().arg("verify").assert().success();
    // A malformed virtual name is an error naming the field.
    let bad = env.spec(
        "bad.json",
        &json!({"name": "bad", "build": {"import": [{"id": "virtual:"}], "commands": []}}),
    );
    env.hit()
        .arg("hash")
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains("$.build.import[0].id"));
}
