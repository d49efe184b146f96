//! The relocation check at commit: RUNPATHs into the store become `$ORIGIN`-relative (and
//! the programs still run), text files naming the store are recorded, and a binary file
//! naming it makes the artifact not relocatable.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, stderr_of, stdout_of};
use predicates::prelude::*;

fn setup(env: &Env) {
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(
        recipes.join("greetlib.rhai"),
        r#"recipe(#{ name: "greetlib", version: "1",
    stages: [stage("build", [
        "printf '#include <stdio.h>\nvoid greet(void) { puts(\"hello from the library\"); }\n' > greet.c",
        "mkdir -p $ARTIFACT/lib/pkgconfig",
        "cc -shared -fPIC -o $ARTIFACT/lib/libgreet.so greet.c",
        "printf 'prefix=%s\nlibdir=${prefix}/lib\n' \"$ARTIFACT\" > $ARTIFACT/lib/pkgconfig/greet.pc",
    ])] })"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("app.rhai"),
        r#"recipe(#{ name: "app", version: "1", deps: ["greetlib"],
    stages: [stage("build", [
        "printf 'void greet(void);\nint main(void) { greet(); return 0; }\n' > main.c",
        "mkdir -p $ARTIFACT/bin",
        "cc -o $ARTIFACT/bin/app main.c $LDFLAGS -lgreet",
    ])] })"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("stuck.rhai"),
        r#"recipe(#{ name: "stuck", toolchain: false,
    stages: [stage("install", [
        "mkdir -p $ARTIFACT/share",
        "printf 'data\\000%s' \"$ARTIFACT\" > $ARTIFACT/share/prefix.bin",
    ])] })"#,
    )
    .unwrap();
    std::fs::write(
        env.path("p.rhai"),
        r#"profile(#{ package_dirs: ["recipes"], packages: ["app", "stuck"] })"#,
    )
    .unwrap();
}

#[test]
fn runpaths_become_relative_and_what_stays_is_recorded() {
    let env = Env::new();
    setup(&env);
    let output = env.hit().args(["build", "-q", "p.rhai"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let resolve = |package: &str| {
        stdout_of(
            &env.hit()
                .args(["resolve", package, "-p", "p.rhai"])
                .output()
                .unwrap(),
        )
        .trim()
        .to_owned()
    };
    let (app, lib) = (resolve("app"), resolve("greetlib"));
    let lib_short = std::path::Path::new(&lib)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let dynamic = stdout_of(
        &std::process::Command::new("readelf")
            .args(["-d", &format!("{app}/bin/app")])
            .output()
            .unwrap(),
    );
    assert!(
        dynamic.contains(&format!("$ORIGIN/../../../greetlib/{lib_short}/lib")),
        "{dynamic}"
    );
    assert!(
        !dynamic.contains(&lib),
        "an absolute store path is left: {dynamic}"
    );
    // The program finds its library through the relative RUNPATH.
    let run = std::process::Command::new(format!("{app}/bin/app"))
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&run),
        "hello from the library\n",
        "{}",
        stderr_of(&run)
    );

    let show = |package: &str| {
        stdout_of(
            &env.hit()
                .args(["show", "relocation", package, "-p", "p.rhai"])
                .output()
                .unwrap(),
        )
    };
    let said = show("app");
    assert!(
        said.contains("relocatable: yes") && said.contains("RUNPATH made relative: bin/app: "),
        "{said}"
    );
    let said = show("greetlib");
    assert!(
        said.contains("text naming the store (rewritten when installed elsewhere): lib/pkgconfig/greet.pc (1 place)"),
        "{said}"
    );
    let said = show("stuck");
    assert!(
        said.contains("relocatable: no") && said.contains("  share/prefix.bin"),
        "{said}"
    );
    let meta = std::fs::read_to_string(format!("{}/.hit/artifact.json", resolve("stuck"))).unwrap();
    assert!(meta.contains("\"relocatable\": false"), "{meta}");
    // The manifest was taken after the rewrite: the store verifies clean.
    env.hit().arg("verify").assert().success();
    env.hit()
        .args(["show", "relocation", "nosuch", "-p", "p.rhai"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no package \"nosuch\""));
}
