//! Looking inside: `hit list`, `hit info`, `hit graph`, `hit why`, `hit diff`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, stderr_of, stdout_of};
use predicates::prelude::*;

/// A chain c -> b -> a (run time), and c built with tool; `p.rhai` of c.
fn chain(env: &Env, a_version: &str) {
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    let stage = |name: &str| {
        format!(
            r#"[stage("install", ["mkdir -p $ARTIFACT/share", "echo {name} > $ARTIFACT/share/{name}"])]"#
        )
    };
    std::fs::write(
        recipes.join("a.rhai"),
        format!(
            r#"recipe(#{{ name: "a", toolchain: false, version: "{a_version}", description: "the bottom", stages: {} }})"#,
            stage("a")
        ),
    )
    .unwrap();
    std::fs::write(
        recipes.join("b.rhai"),
        format!(
            r#"recipe(#{{ name: "b", toolchain: false, version: "1", deps: ["a"], stages: {} }})"#,
            stage("b")
        ),
    )
    .unwrap();
    std::fs::write(
        recipes.join("c.rhai"),
        format!(
            r#"recipe(#{{ name: "c", toolchain: false, version: "1", deps: ["b"], build_deps: ["tool"], stages: {} }})"#,
            stage("c")
        ),
    )
    .unwrap();
    std::fs::write(
        recipes.join("tool.rhai"),
        format!(
            r#"recipe(#{{ name: "tool", toolchain: false, stages: {} }})"#,
            stage("tool")
        ),
    )
    .unwrap();
    std::fs::write(
        env.path("p.rhai"),
        format!(
            r#"profile(#{{ package_dirs: [{:?}], packages: ["c"] }})"#,
            recipes.display().to_string()
        ),
    )
    .unwrap();
}

#[test]
fn why_follows_a_chain_of_three_changed_packages_to_the_cause() {
    let env = Env::new();
    chain(&env, "1.0");
    let output = env.hit().args(["build", "-q", "p.rhai"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let c = |args: &[&str]| stdout_of(&env.hit().args(args).output().unwrap());
    assert!(
        c(&["why", "c", "-p", "p.rhai"]).starts_with("c is unchanged: c/"),
        "{}",
        c(&["why", "c", "-p", "p.rhai"])
    );

    chain(&env, "1.1");
    let said = c(&["why", "c", "-p", "p.rhai"]);
    assert!(
        said.contains("c changed because b changed because a changed: version\n"),
        "{said}"
    );
    assert!(
        said.contains("    a: ") && said.contains(r#"version: "1.0" -> "1.1""#),
        "{said}"
    );
    // The build tool did not change.
    assert!(c(&["why", "tool", "-p", "p.rhai"]).starts_with("tool is unchanged"));

    // Two generations of the link, compared package by package.
    let output = env.hit().args(["build", "-q", "p.rhai"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let said = c(&["diff", "p@1", "p@2"]);
    assert!(
        said.contains("a changed: version")
            && said.contains("c changed because b changed because a changed: version"),
        "{said}"
    );
    // Two ids: the same one twice.
    let a_now = stdout_of(
        &env.hit()
            .args(["hash", "a", "-p", "p.rhai"])
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    let said = c(&["diff", &a_now, &a_now]);
    assert_eq!(said, format!("the same: {a_now}\n"));
    env.hit()
        .args(["diff", "p@1", &a_now])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("compare like with like"));
    env.hit()
        .args(["diff", "p@1", "p@7"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("p has no generation 7"));
}

#[test]
fn graph_list_and_info_describe_the_recipes() {
    let env = Env::new();
    chain(&env, "1.0");
    let graph = |args: &[&str]| {
        let output = env.hit().arg("graph").args(args).output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        stdout_of(&output)
    };
    assert_eq!(
        graph(&["p.rhai"]),
        "c 1\n├── b 1\n│   └── a 1.0\n└── tool [build]\n"
    );
    let dot = graph(&["p.rhai", "--format", "dot"]);
    assert!(
        dot.starts_with("digraph \"p\" {") && dot.contains("[style=dashed, label=\"build\"]"),
        "{dot}"
    );
    assert!(graph(&["p.rhai", "--format", "mermaid"]).contains("-.->|build|"));
    // From the built link, read from the store: the same tree.
    assert!(
        env.hit()
            .args(["build", "-q", "p.rhai"])
            .output()
            .unwrap()
            .status
            .success()
    );
    assert_eq!(graph(&["./p"]), graph(&["p.rhai"]));

    let list = stdout_of(&env.hit().args(["list", "-p", "p.rhai"]).output().unwrap());
    let line = |name: &str| {
        list.lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    assert_eq!(line("a").as_deref(), Some("a 1.0 the bottom"), "{list}");
    assert_eq!(line("tool").as_deref(), Some("tool -"), "{list}");
    assert!(
        line("zlib").is_some(),
        "the default dirs come after the profile's: {list}"
    );
    // hit's own recipes, without a profile.
    let own = stdout_of(&env.hit().arg("list").output().unwrap());
    assert!(own.contains("zlib") && own.contains("1.2.13"), "{own}");

    let info = stdout_of(
        &env.hit()
            .args(["info", "c", "-p", "p.rhai"])
            .output()
            .unwrap(),
    );
    assert!(
        info.starts_with("c 1\n")
            && info.contains("deps:       b\n")
            && info.contains("build deps: tool\n")
            && info.contains("built:      ")
            && info.contains("stages:     install\n"),
        "{info}"
    );
    let zlib = stdout_of(&env.hit().args(["info", "zlib"]).output().unwrap());
    assert!(
        zlib.contains("General-purpose lossless compression library")
            && zlib.contains("packages/zlib.rhai")
            && zlib.contains("built:      no"),
        "{zlib}"
    );
    env.hit()
        .args(["info", "nosuch"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nosuch"));
    env.hit()
        .args(["graph", "p.rhai", "--format", "svg"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'svg'"));
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    let env = Env::new();
    let output = env.hit().args(["completions", "bash"]).output().unwrap();
    assert!(output.status.success());
    let script = stdout_of(&output);
    assert!(
        script.contains("develop") && script.contains("modules"),
        "{script}"
    );
    // bash accepts it and registers the completion.
    std::fs::write(env.path("hit.bash"), &script).unwrap();
    let check = std::process::Command::new("bash")
        .args(["-c", "source hit.bash; complete -p hit"])
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(
        stdout_of(&check).contains("-F _hit hit"),
        "{}",
        stderr_of(&check)
    );
    for shell in ["zsh", "fish"] {
        let output = env.hit().args(["completions", shell]).output().unwrap();
        assert!(output.status.success() && !output.stdout.is_empty());
    }
    env.hit()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'tcsh'"));

    let page = stdout_of(&env.hit().arg("man").output().unwrap());
    assert!(
        page.contains(".TH hit 1") && page.contains("develop"),
        "{page}"
    );
    env.hit().args(["man", "--dir", "man"]).assert().success();
    let build = std::fs::read_to_string(env.path("man/hit-build.1")).unwrap();
    assert!(build.contains("\\-\\-locked"), "{build}");
}
