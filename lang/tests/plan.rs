//! Recipes and profiles evaluated to plans, with an in-memory file system.
#![allow(clippy::unwrap_used)]

use hit_lang::{Evaluator, LangError, Loader, Plan, PlanOptions, plan};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Default, Clone)]
struct Files(BTreeMap<PathBuf, String>);

impl Files {
    fn with(mut self, path: &str, text: &str) -> Self {
        self.0.insert(PathBuf::from(path), text.to_owned());
        self
    }
}

impl Loader for Files {
    fn read(&self, path: &Path) -> Result<String, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| "no such file".into())
    }
    fn read_within(&self, path: &Path, _root: &Path) -> Result<String, String> {
        self.read(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
    fn fingerprint(&self, path: &Path) -> Result<String, String> {
        self.read(path).map(|text| format!("fp-{}", text.len()))
    }
    /// Host programs are files under /host/bin; `--version` prints their first line.
    fn find_program(&self, name: &str) -> Option<PathBuf> {
        let path = Path::new("/host/bin").join(name);
        self.0.contains_key(&path).then_some(path)
    }
    fn program_version(&self, program: &Path) -> Result<String, String> {
        self.read(program)
            .map(|text| text.lines().next().unwrap_or("").to_owned())
    }
}

/// The packages of a plan but the toolchain, which every compiling recipe brings.
fn without_toolchain(plan: &Plan) -> Vec<&str> {
    plan.packages
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| *name != "toolchain")
        .collect()
}

const ZLIB: &str = r#"
recipe(#{
    name: "zlib",
    version: "1.2.13",
    sources: [#{ url: "https://example.org/zlib.tar.gz", sha256: "71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1" }],
    stages: autotools(),
})
"#;

const LIBPNG: &str = r#"
let png_opt = param("png_opt", "", "an extra configure flag");
let flags = if png_opt == "" { [] } else { [png_opt] };
recipe(#{
    name: "libpng",
    version: "1.6.39",
    sources: [#{ url: "https://example.org/libpng.tar.gz", sha256: "a00e9d2f2f664186e4202db9299397f851aea71b36a35e74910b8820e380d441" }],
    deps: ["zlib"],
    stages: autotools(#{ configure_flags: flags }),
})
"#;

const LUA: &str = r#"
recipe(#{
    name: "lua",
    version: "5.4.4",
    sources: [#{ url: "https://example.org/lua.tar.gz", sha256: "164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61" }],
    build_deps: ["m4"],
    stages: make_install(#{ build_target: "linux", prefix_var: "INSTALL_TOP" }),
})
"#;

const M4: &str = r#"recipe(#{ name: "m4", stages: [stage("install", "echo m4")] })"#;

fn repo() -> Files {
    Files::default()
        .with("/repo/zlib.rhai", ZLIB)
        .with("/repo/libpng/libpng.rhai", LIBPNG)
        .with("/repo/lua.rhai", LUA)
        .with("/repo/m4.rhai", M4)
}

fn profile(packages: &str) -> String {
    format!("profile(#{{ package_dirs: [\"/repo\"], {packages} }})")
}

fn plan_of(files: &Files, file: &str) -> Result<Plan, LangError> {
    plan(
        &Evaluator::new(),
        files,
        Path::new(file),
        &PlanOptions {
            jobs: 2,
            ..PlanOptions::default()
        },
    )
}

fn ids(plan: &Plan) -> BTreeMap<String, String> {
    plan.packages
        .iter()
        .map(|p| (p.name.clone(), p.spec.id().to_string()))
        .collect()
}

#[test]
fn a_profile_plans_its_packages_and_their_deps_in_order() {
    let files = repo().with("/p/stack.rhai", &profile(r#"packages: ["libpng", "lua"]"#));
    let plan = plan_of(&files, "/p/stack.rhai").unwrap();
    assert_eq!(plan.profile.name, "stack");
    let order: Vec<&str> = plan.packages.iter().map(|p| p.name.as_str()).collect();
    assert!(order.iter().position(|n| *n == "zlib") < order.iter().position(|n| *n == "libpng"));
    assert!(order.iter().position(|n| *n == "m4") < order.iter().position(|n| *n == "lua"));
    let linked: Vec<&str> = plan
        .packages
        .iter()
        .filter(|p| p.linked)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(linked.len(), 3, "m4 is a build-only dep: {linked:?}");
    assert!(!plan.get("m4").unwrap().linked);

    let libpng = plan.get("libpng").unwrap();
    let doc = libpng.spec.document();
    let zlib = doc["build"]["import"]
        .as_array()
        .unwrap()
        .iter()
        .find(|import| import["ref"] == "ZLIB")
        .unwrap();
    assert_eq!(zlib["id"], plan.get("zlib").unwrap().spec.id().to_string());
    let text = doc.to_string();
    assert!(
        text.contains("-Wl,-rpath,${ZLIB_DIR}/lib") && text.contains("-I${ZLIB_DIR}/include"),
        "{text}"
    );
    assert!(
        libpng.script.contains("./configure --prefix=\"$ARTIFACT\""),
        "{}",
        libpng.script
    );
    let stages: Vec<&str> = libpng.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stages, ["configure", "build", "install"]);
    // The build-only tool reaches lua's PATH but gets no compiler flags.
    let lua = plan.get("lua").unwrap().spec.document().to_string();
    assert!(
        lua.contains("\"ref\":\"M4\"") && !lua.contains("M4_DIR}/include"),
        "{lua}"
    );
}

#[test]
fn evaluation_is_deterministic_and_changes_reach_exactly_the_dependants() {
    let files = repo().with(
        "/p/s.rhai",
        &profile(r#"packages: ["libpng", "lua"], params: #{ png_opt: "--a" }"#),
    );
    let base = ids(&plan_of(&files, "/p/s.rhai").unwrap());
    assert_eq!(base, ids(&plan_of(&files, "/p/s.rhai").unwrap()));

    // A new source hash for zlib changes zlib and libpng, not lua or m4.
    let changed = repo()
        .with("/repo/zlib.rhai", &ZLIB.replace("71feb794", "00000000"))
        .with(
            "/p/s.rhai",
            &profile(r#"packages: ["libpng", "lua"], params: #{ png_opt: "--a" }"#),
        );
    let after = ids(&plan_of(&changed, "/p/s.rhai").unwrap());
    assert_ne!(base["zlib"], after["zlib"]);
    assert_ne!(base["libpng"], after["libpng"]);
    assert_eq!(base["lua"], after["lua"]);
    assert_eq!(base["m4"], after["m4"]);

    // A parameter only libpng reads changes only libpng.
    let param = repo().with(
        "/p/s.rhai",
        &profile(r#"packages: ["libpng", "lua"], params: #{ png_opt: "--b" }"#),
    );
    let after = ids(&plan_of(&param, "/p/s.rhai").unwrap());
    assert_ne!(base["libpng"], after["libpng"]);
    assert_eq!(
        (&base["zlib"], &base["lua"]),
        (&after["zlib"], &after["lua"])
    );

    // The same through the command line, which overrides the profile.
    let options = PlanOptions {
        jobs: 2,
        params: serde_json::from_str(r#"{"png_opt": "--b"}"#).unwrap(),
        ..PlanOptions::default()
    };
    let cli = plan(&Evaluator::new(), &files, Path::new("/p/s.rhai"), &options).unwrap();
    assert_eq!(ids(&cli), after);

    // A build tool's change reaches what it builds.
    let tool = repo()
        .with("/repo/m4.rhai", &M4.replace("echo m4", "echo m4 v2"))
        .with(
            "/p/s.rhai",
            &profile(r#"packages: ["libpng", "lua"], params: #{ png_opt: "--a" }"#),
        );
    let after = ids(&plan_of(&tool, "/p/s.rhai").unwrap());
    assert_ne!(base["lua"], after["lua"]);
    assert_eq!(base["libpng"], after["libpng"]);

    // Parallelism is not part of any id.
    let options = PlanOptions {
        jobs: 16,
        ..PlanOptions::default()
    };
    assert_eq!(
        ids(&plan(&Evaluator::new(), &files, Path::new("/p/s.rhai"), &options).unwrap()),
        base
    );
}

#[test]
fn profiles_insert_replace_and_remove_stages() {
    let files = repo().with(
        "/p/s.rhai",
        &profile(
            r#"packages: #{ zlib: #{ stages: [
                stage_after("configure", "tweak", "echo tweak"),
                stage("build", "make -k"),
                remove_stage("install"),
                stage("install", ["make install", "echo done"]),
            ] } }"#,
        ),
    );
    let plan = plan_of(&files, "/p/s.rhai").unwrap();
    let zlib = plan.get("zlib").unwrap();
    let names: Vec<&str> = zlib.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["configure", "tweak", "build", "install"]);
    assert_eq!(zlib.stages[2].run, ["make -k"]);
    assert_eq!(zlib.stages[3].run, ["make install", "echo done"]);

    let bad = repo().with(
        "/p/s.rhai",
        &profile(r#"packages: #{ zlib: #{ stages: [stage_after("nope", "x", "y")] } }"#),
    );
    let error = plan_of(&bad, "/p/s.rhai").unwrap_err().to_string();
    assert!(
        error.starts_with(
            "/p/s.rhai:1:80: packages.zlib.stages: stage `x`: after `nope`, but there is no such stage"
        ),
        "{error}"
    );
}

#[test]
fn profiles_extend_skip_and_use_other_recipes() {
    let files = repo()
        .with("/repo/host-zlib.rhai", r#"recipe(#{ name: "host-zlib", host: #{ "lib/libz.so": "/usr/lib/libz.so" } })"#)
        .with("/usr/lib/libz.so", "binary")
        .with(
            "/p/base.rhai",
            &format!(
                "param(\"a\", 0, \"a\"); param(\"b\", 0, \"b\"); {}",
                profile(r#"packages: ["libpng", "lua"], params: #{ a: 1, b: 1 }"#)
            ),
        )
        .with(
            "/p/child.rhai",
            r#"profile(#{ extends: "base.rhai", packages: #{ zlib: #{ recipe: "host-zlib" } }, skip: ["lua"], params: #{ b: 2 } })"#,
        );
    let plan = plan_of(&files, "/p/child.rhai").unwrap();
    assert_eq!(plan.profile.name, "child");
    assert!(plan.get("lua").is_none(), "skipped");
    assert_eq!(plan.profile.params["a"], 1);
    assert_eq!(plan.profile.params["b"], 2);
    let zlib = plan.get("zlib").unwrap();
    assert_eq!(zlib.spec.name().as_str(), "host-zlib");
    assert!(
        zlib.script
            .contains("ln -s /usr/lib/libz.so \"$ARTIFACT/lib/libz.so\""),
        "{}",
        zlib.script
    );

    // The host file's contents are part of the id.
    let changed = files.clone().with("/usr/lib/libz.so", "another binary");
    let before = plan.get("libpng").unwrap().spec.id().clone();
    let after = plan_of(&changed, "/p/child.rhai").unwrap();
    assert_ne!(after.get("zlib").unwrap().spec.id(), zlib.spec.id());
    assert_ne!(after.get("libpng").unwrap().spec.id(), &before);

    let cyclic = repo()
        .with("/p/a.rhai", r#"profile(#{ extends: "b.rhai" })"#)
        .with("/p/b.rhai", r#"profile(#{ extends: "a.rhai" })"#);
    let error = plan_of(&cyclic, "/p/a.rhai").unwrap_err().to_string();
    assert!(
        error.contains("cycle: /p/a.rhai -> /p/b.rhai -> /p/a.rhai"),
        "{error}"
    );
}

#[test]
fn scripts_can_condition_on_the_platform() {
    let files = repo().with(
        "/p/s.rhai",
        r#"profile(#{ package_dirs: ["/repo"], packages: if platform.os == "linux" { ["zlib"] } else { ["lua"] } })"#,
    );
    let plan = plan_of(&files, "/p/s.rhai").unwrap();
    let built: Vec<&str> = without_toolchain(&plan);
    assert_eq!(built.len(), 1);
    assert_eq!(
        built[0],
        if cfg!(target_os = "linux") {
            "zlib"
        } else {
            "lua"
        }
    );
}

fn error_of(recipe: &str) -> String {
    let files = repo()
        .with("/repo/bad.rhai", recipe)
        .with("/p/s.rhai", &profile(r#"packages: ["bad"]"#));
    plan_of(&files, "/p/s.rhai").unwrap_err().to_string()
}

#[test]
fn errors_point_at_file_line_and_column() {
    let cases = [
        (
            "let x = ;\nrecipe(#{name: \"bad\"})",
            "/repo/bad.rhai:1:9: syntax error",
        ),
        (
            "recipe(#{\n  name: \"bad\",\n  sorces: [],\n})",
            // At the key at fault, not at `recipe(#{`.
            "/repo/bad.rhai:3:3: recipe: unknown field `recipe.sorces`",
        ),
        (
            "\nrecipe(#{ version: \"1\" })",
            "/repo/bad.rhai:2:1: recipe: missing field `recipe.name`",
        ),
        (
            "recipe(#{ name: \"bad\", version: 1 })",
            "/repo/bad.rhai:1:24: recipe: `recipe.version`: expected a string, found i64",
        ),
        (
            "recipe(#{\n  name: \"bad\",\n  sources: [#{ url: \"u\", sha: \"x\" }],\n})",
            "/repo/bad.rhai:3:26: recipe: unknown field `sources[0].sha`",
        ),
        (
            "recipe(#{\n  name: \"bad\",\n  stages: [stage(\"install\", \"true\"), stage_after(\"instal\", \"x\", \"y\")],\n})",
            "/repo/bad.rhai:3:50: stage `x`: after `instal`, but there is no such stage",
        ),
        (
            "recipe(#{ name: \"bad\", deps: [\"x y\"] })",
            "invalid package name \"x y\"",
        ),
        (
            "recipe(#{ name: \"bad\", deps: \"zlib\", stages: [] })",
            "`recipe.deps`: expected a list of strings [...], found a string (write [\"zlib\"])",
        ),
        (
            "recipe(#{ name: \"bad\", version: \"1\" })",
            "missing field `stages`: without stages the package builds an empty artifact",
        ),
        (
            "recipe(#{ name: \"bad\", stages: autotools(#{ configur: [] }) })",
            "/repo/bad.rhai:1:32: autotools: unknown option 'configur'",
        ),
        (
            "recipe(#{ name: \"bad\", stages: autotools(#{ configure_flags: [1] }) })",
            "quote: expected strings",
        ),
        (
            "recipe(#{ name: \"other\", stages: [] })",
            "/repo/bad.rhai:1:1: recipe: the recipe in bad.rhai is named \"other\"",
        ),
        (
            "#{ name: \"bad\" }",
            "/repo/bad.rhai: a recipe must end with `recipe(#{ ... })`",
        ),
        (
            "let y = nope + 1;\nrecipe(#{ name: \"bad\" })",
            "/repo/bad.rhai:1:9: syntax error: Undefined variable: nope",
        ),
        ("loop { }", "more than 5000000 operations"),
        ("fn f(n) { f(n + 1) }\nf(0)", "recursed too deeply"),
        (
            "import \"/etc/passwd\" as p;\nrecipe(#{ name: \"bad\" })",
            "/repo/bad.rhai:1:",
        ),
        ("eval(\"1\")", "/repo/bad.rhai:1:1"),
        (
            "recipe(#{ name: \"bad\", deps: [\"missing\"], stages: [] })",
            "/repo/bad.rhai:1:1: unknown package `missing`",
        ),
        (
            "recipe(#{ name: \"bad\", sources: [#{ url: \"x\", sha256: \"abc\" }], stages: [] })",
            "source: invalid source key \"sha256:abc\"",
        ),
        (
            "recipe(#{ name: \"bad\", patches: [\"../x.patch\"], stages: [] })",
            "patch \"../x.patch\": name a file beside the recipe",
        ),
        (
            "recipe(#{ name: \"bad\", patches: [\"missing.patch\"], stages: [] })",
            "patch \"missing.patch\": no such file",
        ),
    ];
    for (recipe, expected) in cases {
        let error = error_of(recipe);
        assert!(
            error.contains(expected),
            "for {recipe:?}\n got: {error}\n expected: {expected}"
        );
    }
    // The offending line is shown under the location.
    let error = error_of("let x = ;\nrecipe(#{name: \"bad\"})");
    assert!(error.contains("1 | let x = ;"), "{error}");
}

#[test]
fn unknown_packages_in_profiles_and_cycles_are_named() {
    let files = repo().with(
        "/p/s.rhai",
        "// a profile\nprofile(#{ package_dirs: [\"/repo\"], packages: [\"nothing\"] })",
    );
    let error = plan_of(&files, "/p/s.rhai").unwrap_err().to_string();
    assert!(error.starts_with("/p/s.rhai:2:1: unknown package `nothing`: no nothing.rhai or nothing/nothing.rhai in /repo"), "{error}");

    let cyclic = repo()
        .with(
            "/repo/a.rhai",
            r#"recipe(#{ name: "a", deps: ["b"], stages: [] })"#,
        )
        .with(
            "/repo/b.rhai",
            r#"recipe(#{ name: "b", build_deps: ["c"], stages: [] })"#,
        )
        .with(
            "/repo/c.rhai",
            r#"recipe(#{ name: "c", deps: ["a"], stages: [] })"#,
        )
        .with("/p/s.rhai", &profile(r#"packages: ["a"]"#));
    let error = plan_of(&cyclic, "/p/s.rhai").unwrap_err().to_string();
    assert!(
        error.contains("dependency cycle: ") && error.contains("a -> b -> c -> a")
            || error.contains("b -> c -> a -> b")
            || error.contains("c -> a -> b -> c"),
        "{error}"
    );
}

#[test]
fn patches_and_files_become_files_sources() {
    let files = repo()
        .with("/repo/pkg/pkg.rhai", r#"recipe(#{ name: "pkg", patches: ["fix.patch"], sources: [#{ files: ["extra/a.txt"] }], stages: [stage("build", "true")] })"#)
        .with("/repo/pkg/fix.patch", "--- a\n+++ b\n")
        .with("/repo/pkg/extra/a.txt", "A")
        .with("/p/s.rhai", &profile(r#"packages: ["pkg"]"#));
    let plan = plan_of(&files, "/p/s.rhai").unwrap();
    let pkg = plan.get("pkg").unwrap();
    let sources = &pkg.spec.document()["sources"];
    assert_eq!(sources[0]["files"]["extra/a.txt"], "A");
    assert_eq!(sources[1]["target"], ".hit-patches");
    assert!(
        pkg.script
            .contains("patch -p1 < \"$BUILD/.hit-patches/fix.patch\"")
    );
    // Editing the patch changes the id.
    let edited = files.clone().with("/repo/pkg/fix.patch", "--- a\n+++ c\n");
    assert_ne!(
        plan_of(&edited, "/p/s.rhai")
            .unwrap()
            .get("pkg")
            .unwrap()
            .spec
            .id(),
        pkg.spec.id()
    );
}

#[test]
fn the_examples_in_docs_recipes_md_work() {
    let files = repo()
        .with(
            "/repo/mylib.rhai",
            r#"
let opt = param("opt_level", 2, "the compiler's -O level");
let with_tests = param("with_tests", false, "build and run the test suite");
let flags = if with_tests { ["--enable-tests", "--with-z=$ZLIB_DIR"] } else { [] };
recipe(#{
    name: "mylib",
    sources: [#{ url: "https://example.org/mylib-1.0.tar.gz", sha256: "164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61" }],
    env: #{ CFLAGS: `-O${opt}`, QUOTED: quote(["--with-x=a b", "--plain"]) },
    stages: autotools(#{ configure_flags: flags }) + [stage_after("configure", "fix-libtool", "sed -i 's/-rpath-link//' libtool")],
})
"#,
        )
        .with("/p/s.rhai", &profile(r#"packages: #{ mylib: (), zlib: #{} }, params: #{ with_tests: true }"#));
    let plan = plan_of(&files, "/p/s.rhai").unwrap();
    let mylib = plan.get("mylib").unwrap();
    let names: Vec<&str> = mylib.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["configure", "fix-libtool", "build", "install"]);
    assert!(
        mylib.script.contains("export CFLAGS=\"-O2\""),
        "{}",
        mylib.script
    );
    assert!(
        mylib
            .script
            .contains(r#"export QUOTED="\"--with-x=a b\" --plain""#),
        "{}",
        mylib.script
    );
    // Flags are double-quoted: variables still expand in the shell.
    assert!(
        mylib.stages[0].run[0].ends_with(r#"--enable-tests "--with-z=$ZLIB_DIR""#),
        "{:?}",
        mylib.stages[0]
    );
}

/// Recipes are evaluated on all cores, but the outcome is that of one at a time: the same
/// build order every time, and of several broken recipes, the one met first is reported.
#[test]
fn parallel_evaluation_keeps_the_sequential_order_and_first_error() {
    let mut files = Files::default();
    let names: Vec<String> = (0..60).map(|i| format!("p{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        // Each depends on the one after it, named in reverse, so discovery order differs
        // from both name order and evaluation rounds.
        let deps: Vec<String> = names[i + 1..].iter().take(2).rev().cloned().collect();
        files = files.with(
            &format!("/repo/{name}.rhai"),
            &format!("recipe(#{{ name: {name:?}, deps: {deps:?}, stages: [] }})"),
        );
    }
    let files = files.with("/p/s.rhai", &profile(r#"packages: ["p00", "p30"]"#));
    let first = plan_of(&files, "/p/s.rhai").unwrap();
    let order: Vec<&str> = without_toolchain(&first);
    assert_eq!(order.len(), 60);
    assert_eq!(order.last(), Some(&"p00"), "{order:?}");
    for _ in 0..10 {
        let again = plan_of(&files, "/p/s.rhai").unwrap();
        assert_eq!(without_toolchain(&again), order);
    }

    // Two broken recipes: p04 (the third met, depth first: p00, p02, p04) and p32 (named
    // by the profile's second package's p30, so evaluated a round earlier than p04).
    let broken = files
        .clone()
        .with("/repo/p04.rhai", "recipe(#{ name: \"p04\", colour: 1 })")
        .with("/repo/p32.rhai", "recipe(#{ name: \"p32\", colour: 2 })");
    for _ in 0..10 {
        let error = plan_of(&broken, "/p/s.rhai").unwrap_err().to_string();
        assert!(error.starts_with("/repo/p04.rhai"), "{error}");
    }
}

/// A name where a list belongs is a wrong type, in profiles too (`extends` alone takes a
/// single file, as documented).
#[test]
fn list_fields_of_profiles_take_lists_only() {
    for (field, value) in [
        ("package_dirs", "\"/repo\""),
        ("packages", "\"zlib\""),
        ("skip", "\"lua\""),
        ("prefer", "\"zlib\""),
    ] {
        let files = repo().with(
            "/p/s.rhai",
            &format!(
                "profile(#{{ package_dirs: [\"/repo\"], packages: [\"zlib\"], {field}: {value} }})"
            ),
        );
        let files = if field == "package_dirs" || field == "packages" {
            repo().with("/p/s.rhai", &format!("profile(#{{ {field}: {value} }})"))
        } else {
            files
        };
        let error = plan_of(&files, "/p/s.rhai").unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "`profile.{field}`: expected a list of strings [...], found a string"
            )),
            "{field}: {error}"
        );
    }
    let files = repo()
        .with("/p/base.rhai", &profile(r#"packages: ["zlib"]"#))
        .with("/p/s.rhai", r#"profile(#{ extends: "base.rhai" })"#);
    assert_eq!(
        without_toolchain(&plan_of(&files, "/p/s.rhai").unwrap()),
        ["zlib"]
    );
}

/// A dependency's `provides_env` reaches its dependants' specs, with `${ARTIFACT}` its own
/// path; build tools' run-time deps reach `PATH` (imports without a variable), and nothing
/// changes for packages whose build tools need nothing.
#[test]
fn dependencies_provide_environment_and_tools_bring_their_run_time_deps() {
    let files = repo()
        .with(
            "/repo/tool-helper.rhai",
            r#"recipe(#{ name: "tool-helper", stages: [] })"#,
        )
        .with(
            "/repo/macros.rhai",
            r#"recipe(#{ name: "macros", deps: ["tool-helper"], stages: [],
                provides_env: #{ ACLOCAL_PATH: "${ARTIFACT}/share/aclocal",
                                 CFLAGS: #{ append_flag: "-DFROM_MACROS" } } })"#,
        )
        .with(
            "/repo/user.rhai",
            r#"recipe(#{ name: "user", build_deps: ["macros"], stages: [] })"#,
        )
        .with("/p/s.rhai", &profile(r#"packages: ["user"]"#));
    let plan = plan_of(&files, "/p/s.rhai").unwrap();
    let user = plan.get("user").unwrap();
    let doc = user.spec.document().to_string();
    assert!(
        doc.contains(r#""prepend_path":"ACLOCAL_PATH","value":"${MACROS_DIR}/share/aclocal""#),
        "{doc}"
    );
    assert!(
        doc.contains(r#""append_flag":"CFLAGS","value":"-DFROM_MACROS""#),
        "{doc}"
    );
    let imports: Vec<(String, Option<String>)> = user
        .spec
        .imports()
        .iter()
        .map(|i| (i.id.name().to_string(), i.reference.clone()))
        .collect();
    assert_eq!(
        imports,
        [
            ("macros".to_string(), Some("MACROS".to_string())),
            ("toolchain".to_string(), Some("TOOLCHAIN".to_string())),
            ("tool-helper".to_string(), None)
        ]
    );
    assert!(user.script.contains("ACLOCAL_PATH"), "{}", user.script);
    // The provider itself gets none of it.
    let macros = plan.get("macros").unwrap().spec.document().to_string();
    assert!(!macros.contains("ACLOCAL_PATH"), "{macros}");

    let bad = repo()
        .with(
            "/repo/bad.rhai",
            r#"recipe(#{ name: "bad", stages: [], provides_env: #{ X: #{ set: "a", append_flag: "b" } } })"#,
        )
        .with("/p/s.rhai", &profile(r#"packages: ["bad"]"#));
    let error = plan_of(&bad, "/p/s.rhai").unwrap_err().to_string();
    assert!(
        error.contains("give a string (prepended to a `:` list) or a map with one of"),
        "{error}"
    );
}

/// Every recipe but host packages and `toolchain: false` ones builds with the toolchain:
/// its compilers' paths, hashes and versions are in their ids; a profile picks another
/// toolchain recipe; without one in the package dirs, hit's own is used.
#[test]
fn the_toolchain_is_an_input_of_every_compiling_package() {
    let gcc12 = "gcc (Debian 12.2.0-14) 12.2.0\n";
    let files = repo()
        .with("/host/bin/cc", gcc12)
        .with("/host/bin/ld", "GNU ld 2.40\n")
        .with(
            "/repo/script.rhai",
            r#"recipe(#{ name: "script", toolchain: false, stages: [] })"#,
        )
        .with(
            "/repo/clang.rhai",
            r#"recipe(#{ name: "clang", host: #{ "bin/cc": "/host/bin/clang" } })"#,
        )
        .with("/host/bin/clang", "clang version 16\n")
        .with("/p/s.rhai", &profile(r#"packages: ["zlib", "script"]"#));
    let plan = plan_of(&files, "/p/s.rhai").unwrap();
    let toolchain = plan.get("toolchain").unwrap();
    assert_eq!(
        toolchain.recipe_file,
        Path::new("<built-in>/toolchain.rhai")
    );
    assert!(!toolchain.linked, "the toolchain is a build dependency");
    let doc = toolchain.spec.document().to_string();
    assert!(
        doc.contains(r#""set":"HIT_HOST_PROGRAM_CC","value":"/host/bin/cc fp-30 gcc (Debian 12.2.0-14) 12.2.0""#)
            && doc.contains(r#""set":"HIT_HOST_PROGRAM_GFORTRAN","value":"absent""#)
            && doc.contains(r#"ln -s /host/bin/cc"#),
        "{doc}"
    );
    let imports = |plan: &Plan, name: &str| -> Vec<String> {
        plan.get(name)
            .unwrap()
            .spec
            .imports()
            .iter()
            .map(|i| i.id.to_string())
            .collect()
    };
    assert_eq!(imports(&plan, "zlib"), [toolchain.spec.id().to_string()]);
    assert!(imports(&plan, "script").is_empty());

    // Another compiler version: zlib's id changes, script's does not.
    let newer = files
        .clone()
        .with("/host/bin/cc", "gcc (Debian 13.1.0-1) 13.1.0\n");
    let again = plan_of(&newer, "/p/s.rhai").unwrap();
    let id = |plan: &Plan, name: &str| plan.get(name).unwrap().spec.id().clone();
    assert_ne!(id(&again, "zlib"), id(&plan, "zlib"));
    assert_eq!(id(&again, "script"), id(&plan, "script"));

    // A profile's own toolchain recipe.
    let chosen = files.with(
        "/p/c.rhai",
        r#"profile(#{ package_dirs: ["/repo"], packages: ["zlib"], toolchain: "clang" })"#,
    );
    let plan = plan_of(&chosen, "/p/c.rhai").unwrap();
    assert!(plan.get("toolchain").is_none());
    assert_eq!(imports(&plan, "zlib"), [id(&plan, "clang").to_string()]);
    let error = plan_of(
        &chosen
            .with(
                "/repo/bad.rhai",
                r#"recipe(#{ name: "bad", host: #{ "bin/x": "/x" }, toolchain: true })"#,
            )
            .with("/p/b.rhai", &profile(r#"packages: ["bad"]"#)),
        "/p/b.rhai",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("a host package cannot import the toolchain"),
        "{error}"
    );
}

/// Two parents that set one parameter to different values: an error naming both files,
/// unless the child (or the command line) sets it.
#[test]
fn parents_that_disagree_on_a_parameter_must_be_settled() {
    let files = repo()
        .with(
            "/p/a.rhai",
            &format!(
                "param(\"opt\", 0, \"opt\"); {}",
                profile(r#"packages: ["zlib"], params: #{ opt: 1 }"#)
            ),
        )
        .with(
            "/p/b.rhai",
            &format!(
                "param(\"same\", false, \"same\"); {}",
                profile(r#"packages: ["lua"], params: #{ opt: 2, same: true }"#)
            ),
        )
        .with(
            "/p/c.rhai",
            &profile(r#"packages: ["m4"], params: #{ same: true }"#),
        )
        .with(
            "/p/s.rhai",
            r#"profile(#{ extends: ["a.rhai", "b.rhai"] })"#,
        );
    let error = plan_of(&files, "/p/s.rhai").unwrap_err().to_string();
    assert!(
        error.starts_with("/p/s.rhai:1:")
            && error.contains(r#"params: "opt" is 1 in /p/a.rhai and 2 in /p/b.rhai"#),
        "{error}"
    );
    // The child settles it; equal values never conflict.
    let settled = files.clone().with(
        "/p/s.rhai",
        r#"profile(#{ extends: ["a.rhai", "b.rhai", "c.rhai"], params: #{ opt: 3 } })"#,
    );
    let planned = plan_of(&settled, "/p/s.rhai").unwrap();
    assert_eq!(planned.profile.params["opt"], 3);
    // So does the command line.
    let options = PlanOptions {
        params: serde_json::from_str(r#"{"opt": 4}"#).unwrap(),
        jobs: 1,
        ..PlanOptions::default()
    };
    assert!(plan(&Evaluator::new(), &files, Path::new("/p/s.rhai"), &options).is_ok());
}

/// Params are declared with `param(...)`: a typo is an error naming the closest declared
/// param, wherever it was given; a value of the wrong type is an error at the declaration.
#[test]
fn params_must_be_declared_and_typed() {
    let files = repo().with(
        "/p/s.rhai",
        &profile(r#"packages: ["libpng"], params: #{ png_optt: "--x" }"#),
    );
    let error = plan_of(&files, "/p/s.rhai").unwrap_err().to_string();
    assert!(
        error.starts_with("/p/s.rhai:1:")
            && error.contains("unknown param `png_optt` (set in /p/s.rhai)")
            && error.contains("did you mean `png_opt` (libpng)?"),
        "{error}"
    );
    let options = PlanOptions {
        params: serde_json::from_str(r#"{"pngopt": "--x"}"#).unwrap(),
        jobs: 1,
        ..PlanOptions::default()
    };
    let cli = repo().with("/p/s.rhai", &profile(r#"packages: ["libpng"]"#));
    let error = plan(&Evaluator::new(), &cli, Path::new("/p/s.rhai"), &options)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("unknown param `pngopt` (given on the command line)")
            && error.contains("did you mean `png_opt` (libpng)?"),
        "{error}"
    );
    // Per package: only that package's recipe counts.
    let files = repo().with(
        "/p/s.rhai",
        &profile(r#"packages: #{ libpng: #{}, zlib: #{ params: #{ png_opt: "--x" } } }"#),
    );
    let error = plan_of(&files, "/p/s.rhai").unwrap_err().to_string();
    assert!(
        error.contains("`packages.zlib.params`: the recipe of `zlib` (/repo/zlib.rhai) declares no param `png_opt`; it declares none"),
        "{error}"
    );
    // The wrong type: at the recipe's declaration.
    let files = repo().with(
        "/p/s.rhai",
        &profile(r#"packages: ["libpng"], params: #{ png_opt: [1] }"#),
    );
    let error = plan_of(&files, "/p/s.rhai").unwrap_err().to_string();
    assert!(
        error.starts_with("/repo/libpng/libpng.rhai:2:15:")
            && error.contains(
                r#"param "png_opt" is a string (its default is ""), but it was given [1]"#
            ),
        "{error}"
    );
    // Declared and given: the recipe sees the value.
    let files = repo().with(
        "/p/s.rhai",
        &profile(r#"packages: #{ libpng: #{ params: #{ png_opt: "--y" } } }"#),
    );
    let planned = plan_of(&files, "/p/s.rhai").unwrap();
    let libpng = planned.get("libpng").unwrap();
    assert!(libpng.script.contains("--y"), "{}", libpng.script);
    assert_eq!(libpng.recipe.params[0].name, "png_opt");
    assert_eq!(libpng.recipe.params[0].help, "an extra configure flag");
}

/// A recipe imports a base from the package dirs; a base may import another; what an
/// import may name, and a cycle, are errors at the import.
#[test]
fn recipes_import_bases_from_the_package_dirs() {
    let files = repo()
        .with(
            "/repo/bases/lib.rhai",
            r#"
import "bases/flags" as flags;
fn make(name, version) {
    #{ name: name, version: version, toolchain: false,
       stages: [stage("install", `echo ${flags::greeting()} ${param("shout", false, "louder")}`)] }
}
"#,
        )
        .with("/repo/bases/flags.rhai", r#"fn greeting() { "hello" }"#)
        .with(
            "/repo/tiny.rhai",
            "import \"bases/lib\" as lib;\nrecipe(lib::make(\"tiny\", \"1.0\"))",
        )
        .with(
            "/p/s.rhai",
            &profile(r#"packages: ["tiny"], params: #{ shout: true }"#),
        );
    let planned = plan_of(&files, "/p/s.rhai").unwrap();
    let tiny = planned.get("tiny").unwrap();
    assert!(tiny.script.contains("echo hello true"), "{}", tiny.script);
    assert_eq!(tiny.spec.version(), Some("1.0"));
    assert_eq!(tiny.recipe.params[0].name, "shout", "declared in the base");

    let with_tiny = |recipe: &str| {
        files
            .clone()
            .with("/repo/tiny.rhai", recipe)
            .with("/p/s.rhai", &profile(r#"packages: ["tiny"]"#))
    };
    let error = plan_of(
        &with_tiny("let x = 1;\nimport \"../etc/passwd\" as p;\nrecipe(#{ name: \"tiny\" })"),
        "/p/s.rhai",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error
            .starts_with("/repo/tiny.rhai:2:8: import \"../etc/passwd\": an import names a script"),
        "{error}"
    );
    let error = plan_of(
        &with_tiny("import \"bases/nope\" as p;\nrecipe(#{ name: \"tiny\" })"),
        "/p/s.rhai",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("/repo/tiny.rhai:1:8: import \"bases/nope\": no bases/nope.rhai in the package dirs (/repo)"),
        "{error}"
    );
    let cycle = with_tiny("import \"bases/a\" as a;\nrecipe(#{ name: \"tiny\" })")
        .with(
            "/repo/bases/a.rhai",
            "import \"bases/b\" as b;\nfn f() { 1 }",
        )
        .with(
            "/repo/bases/b.rhai",
            "import \"bases/a\" as a;\nfn g() { 2 }",
        );
    let error = plan_of(&cycle, "/p/s.rhai").unwrap_err().to_string();
    assert!(
        error.contains("imports form a cycle") && error.contains("bases/a -> bases/b -> bases/a"),
        "{error}"
    );
    // An error in a base is reported in the base's file.
    let broken = with_tiny("import \"bases/a\" as a;\nrecipe(#{ name: \"tiny\" })")
        .with("/repo/bases/a.rhai", "fn f( { 1 }");
    let error = plan_of(&broken, "/p/s.rhai").unwrap_err().to_string();
    assert!(error.starts_with("/repo/bases/a.rhai:1:"), "{error}");
}

/// A parent's params are the parent's to check: a child that skips the packages reading
/// one plans fine; the child's own unknown params are still errors.
#[test]
fn a_child_that_skips_what_reads_a_parents_param_plans() {
    let files = repo()
        .with(
            "/p/base.rhai",
            &profile(r#"packages: ["libpng", "lua"], params: #{ png_opt: "--x" }"#),
        )
        .with(
            "/p/child.rhai",
            r#"profile(#{ extends: "base.rhai", skip: ["libpng"] })"#,
        );
    let plan = plan_of(&files, "/p/child.rhai").unwrap();
    assert!(plan.get("libpng").is_none());
    let typo = files.clone().with(
        "/p/child.rhai",
        r#"profile(#{ extends: "base.rhai", skip: ["libpng"], params: #{ png_optt: 1 } })"#,
    );
    let error = plan_of(&typo, "/p/child.rhai").unwrap_err().to_string();
    assert!(error.contains("unknown param `png_optt`"), "{error}");
}
