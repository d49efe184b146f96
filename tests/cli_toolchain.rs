//! The compiler is part of the id: every compiling package builds with the toolchain host
//! package (the compilers found on PATH), and another compiler gives other ids.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, stderr_of, stdout_of};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `compiled` builds a C program with `cc`; `script` compiles nothing.
fn setup(env: &Env) {
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(
        recipes.join("compiled.rhai"),
        r#"recipe(#{ name: "compiled", version: "1",
    stages: [stage("build", [
        "printf 'int main(void) { return 0; }\n' > main.c",
        "mkdir -p $ARTIFACT/bin",
        "cc -o $ARTIFACT/bin/compiled main.c",
    ])] })"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("script.rhai"),
        r#"recipe(#{ name: "script", toolchain: false,
    stages: [stage("install", "echo hi > $ARTIFACT/hi")] })"#,
    )
    .unwrap();
    std::fs::write(
        env.path("p.rhai"),
        r#"profile(#{ package_dirs: ["recipes"], packages: ["compiled", "script"] })"#,
    )
    .unwrap();
}

/// A `cc` that says it is another compiler, notes each use in the build log, and runs the
/// real one. (The sandbox binds the wrapper's directory, as the toolchain links to it.)
fn wrapper(env: &Env) -> std::path::PathBuf {
    let dir = env.path("wrapper");
    std::fs::create_dir_all(&dir).unwrap();
    let cc = dir.join("cc");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v cc"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        &cc,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'cc (Wrapper) 99.0'; exit 0; fi\n\
             echo 'the wrapper compiler was used' >&2\nexec {} \"$@\"\n",
            real.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn hash(env: &Env, package: &str, path: Option<&Path>) -> String {
    let mut command = env.hit();
    command.args(["hash", package, "-p", "p.rhai"]);
    if let Some(dir) = path {
        command.env(
            "PATH",
            format!("{}:{}", dir.display(), std::env::var("PATH").unwrap()),
        );
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    stdout_of(&output).trim().to_owned()
}

#[test]
fn another_compiler_changes_the_ids_of_compiled_packages_only() {
    let env = Env::new();
    setup(&env);
    let wrapper = wrapper(&env);
    let (compiled, script) = (hash(&env, "compiled", None), hash(&env, "script", None));
    assert_ne!(hash(&env, "compiled", Some(&wrapper)), compiled);
    assert_eq!(hash(&env, "script", Some(&wrapper)), script);
    // The same compiler again: the same ids.
    assert_eq!(hash(&env, "compiled", None), compiled);

    // Built with the wrapper on PATH, the build runs it: the toolchain's bin/cc is it.
    let output = env
        .hit()
        .args(["build", "-q", "p.rhai"])
        .env(
            "PATH",
            format!("{}:{}", wrapper.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let log = std::fs::read_dir(env.home().join("bld/compiled"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path().join(".hit/build.log")).unwrap())
        .collect::<String>();
    assert!(
        log.contains("the wrapper compiler was used"),
        "the build did not use the wrapper: {log}"
    );
    let spec = stdout_of(
        &env.hit()
            .args(["show", "buildspec", "toolchain", "-p", "p.rhai"])
            .env(
                "PATH",
                format!("{}:{}", wrapper.display(), std::env::var("PATH").unwrap()),
            )
            .output()
            .unwrap(),
    );
    assert!(spec.contains("cc (Wrapper) 99.0"), "{spec}");
    // Without the wrapper the no-op path does not hide the change: the profile's plan is
    // evaluated again, and compiled (with the toolchain) is built for the other compiler.
    let output = env.hit().args(["build", "p.rhai"]).output().unwrap();
    assert!(
        stderr_of(&output).contains("(2 built, 1 already built)"),
        "{}",
        stderr_of(&output)
    );
    let info = stdout_of(
        &env.hit()
            .args(["info", "compiled", "-p", "p.rhai"])
            .output()
            .unwrap(),
    );
    assert!(info.contains("build deps: toolchain"), "{info}");

    // A profile's own toolchain: a host package naming the wrapper.
    std::fs::write(
        env.path("recipes/wrapped.rhai"),
        format!(
            r#"recipe(#{{ name: "wrapped", host: #{{ "bin/cc": {:?} }} }})"#,
            wrapper.join("cc").display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        env.path("p.rhai"),
        r#"profile(#{ package_dirs: ["recipes"], packages: ["compiled", "script"], toolchain: "wrapped" })"#,
    )
    .unwrap();
    let chosen = hash(&env, "compiled", None);
    assert_ne!(chosen, compiled);
    let graph = stdout_of(&env.hit().args(["graph", "p.rhai"]).output().unwrap());
    assert!(
        graph.contains("wrapped [build]") && !graph.contains("toolchain"),
        "{graph}"
    );
}
