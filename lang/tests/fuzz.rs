//! Fuzzing recipe and profile evaluation with proptest: scripts glued from pieces of the
//! language (and mangled valid recipes) never panic the evaluator, and every error names
//! the script it is about.
#![allow(clippy::unwrap_used)]

use hit_lang::{Evaluator, no_imports};
use proptest::prelude::*;
use std::path::Path;

const PIECES: &[&str] = &[
    "recipe(",
    "profile(",
    "#{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    ":",
    "name:",
    "\"zlib\"",
    "\"x\"",
    "version:",
    "\"1.0\"",
    "stages:",
    "stage(",
    "\"install\"",
    "[\"make\"]",
    "42",
    "-1",
    "true",
    "()",
    "let x = ",
    "x",
    "x.y",
    "params",
    "params.opt",
    "params.opt ?? 3",
    "deps:",
    "build_deps:",
    "[\"zlib\"]",
    "sources:",
    "#{ url: \"https://e.org/z.tar.gz\", sha256: \"00\" }",
    "#{ git: \"https://e.org/r.git\", commit: \"abc\" }",
    "#{ files: [\"a.txt\"] }",
    "autotools(",
    "autotools()",
    "make_install(#{})",
    "#{ configure_flags: [\"--x\"] }",
    "stage_after(",
    "remove_stage(",
    "quote(\"a b\")",
    "`${x}`",
    "\"$ARTIFACT\"",
    "fn f(a) { a }",
    "let x = #{};",
    "for i in 0..9000 { x = #{ a: x }; }",
    "for i in 0..9000 { x = [x]; }",
    "params: x",
    "Fn(\"f\").curry(x)",
    "x[`${x}`] = 1;",
    "f(1)",
    "if x { 1 } else { 2 }",
    "throw \"boom\"",
    "eval(\"1\")",
    "import \"m\" as m;",
    "1 / 0",
    "[1, 2][5]",
    "\"a\" + 1",
    "x += 1;",
    "packages:",
    "prefer:",
    "skip:",
    "extends:",
    "\"other.rhai\"",
    "package_dirs:",
    "#{ recipe: \"host-mpi\" }",
    "\n",
    " ",
];

const VALID: &str = r#"
let flags = if params.opt == () { [] } else { [params.opt] };
recipe(#{
    name: "zlib",
    version: "1.3",
    sources: [#{ url: "https://example.org/zlib.tar.gz", sha256: "71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1" }],
    deps: ["m4"],
    stages: autotools(#{ configure_flags: flags }),
})
"#;

fn evaluate(source: &str) {
    let evaluator = Evaluator::new();
    let params = serde_json::Map::new();
    let file = Path::new("/recipes/zlib.rhai");
    if let Err(error) = evaluator.recipe(file, source, "zlib", &params, &no_imports) {
        let message = error.to_string();
        assert!(
            message.contains("zlib.rhai"),
            "the error names no file: {message}"
        );
    }
    if let Err(error) = evaluator.profile(Path::new("/p/stack.rhai"), source, &params) {
        let message = error.to_string();
        assert!(
            message.contains("stack.rhai"),
            "the error names no file: {message}"
        );
    }
}

/// Found by the fuzzer: Rhai hits an `unreachable!` on this, which must be an error about
/// the script, not a crash.
#[test]
fn assigning_to_a_constant_s_property_is_an_error_not_a_crash() {
    let error = Evaluator::new()
        .recipe(
            Path::new("/recipes/zlib.rhai"),
            "params.optx += 1;",
            "zlib",
            &serde_json::Map::new(),
            &no_imports,
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("/recipes/zlib.rhai: the script stopped the Rhai engine"),
        "{error}"
    );
}

#[test]
fn the_base_recipe_is_valid() {
    let params = serde_json::Map::new();
    Evaluator::new()
        .recipe(
            Path::new("/recipes/zlib.rhai"),
            VALID,
            "zlib",
            &params,
            &no_imports,
        )
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn scripts_glued_from_pieces_evaluate_or_fail_clearly(
        picks in proptest::collection::vec(0..PIECES.len(), 0..40),
    ) {
        let source: String = picks.iter().map(|&i| PIECES[i]).collect();
        evaluate(&source);
    }

    #[test]
    fn mangled_recipes_evaluate_or_fail_clearly(
        at in 0usize..400,
        len in 0usize..12,
        junk in 0..PIECES.len(),
    ) {
        let at = at.min(VALID.len());
        let end = (at + len).min(VALID.len());
        let source = format!("{}{}{}", &VALID[..at], PIECES[junk], &VALID[end..]);
        evaluate(&source);
    }

    #[test]
    fn any_text_evaluates_or_fails_clearly(source in any::<String>()) {
        evaluate(&source);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Parameters nested to any depth Rhai allows, in maps and lists mixed: converting them
    /// once overflowed the stack (SIGABRT) at 8,000 levels.
    #[test]
    fn deeply_nested_parameters_are_refused_not_a_crash(
        depth in 0usize..6_000,
        lists in any::<bool>(),
    ) {
        let wrap = if lists { "x = [x];" } else { "x = #{ a: x };" };
        let source = format!(
            "let x = 1;\nfor i in 0..{depth} {{ {wrap} }}\nprofile(#{{ packages: [], params: #{{ deep: x }} }})"
        );
        // On a stack as big as the one `hit` evaluates on (src/main.rs).
        let result = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                Evaluator::new()
                    .profile(Path::new("/p/deep.rhai"), &source, &serde_json::Map::new())
                    .map_err(|error| error.to_string())
            })
            .unwrap()
            .join()
            .unwrap();
        if depth > 40 {
            let message = result.err().unwrap_or_default();
            prop_assert!(message.contains("deep.rhai"), "{}", message);
        }
    }
}
