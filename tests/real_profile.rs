//! The small real profile (packages/profiles/small.rhai: zlib, bzip2, lua, libpng) built
//! from ../shared/mirror over HTTP, used the way a user would use it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, HttpServer, hashed_mirror, stderr_of, stdout_of};
use std::path::Path;

fn small_profile() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packages/profiles/small.rhai")
        .display()
        .to_string()
}

#[test]
fn the_small_profile_builds_runs_and_relinks() {
    let env = Env::new();
    let mirror = HttpServer::serve(&hashed_mirror(&env.path("mirror")));
    env.with_mirrors(&[&mirror.url]);
    let output = env
        .hit()
        .args(["build", &small_profile(), "-j2"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains(
        "profile small: 4 packages linked, 5 in the plan (5 built, 0 already built) -> ./small"
    ));
    let small = env.path("small");

    // The programs run.
    let lua = std::process::Command::new(small.join("bin/lua"))
        .arg("-v")
        .output()
        .unwrap();
    assert!(stdout_of(&lua).contains("Lua 5.4.4"), "{}", stdout_of(&lua));
    let bzip2 = std::process::Command::new(small.join("bin/bzip2"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(stderr_of(&bzip2).contains("Version 1.0.8"));

    // libpng finds its zlib in the store by rpath, without LD_LIBRARY_PATH.
    let zlib_dir = stdout_of(
        &env.hit()
            .args(["resolve", "zlib", "-p", &small_profile()])
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    let libpng = small.join("lib/libpng16.so");
    let dynamic = stdout_of(
        &std::process::Command::new("readelf")
            .arg("-d")
            .arg(&libpng)
            .output()
            .unwrap(),
    );
    // Relative to the library itself, so the store can move (see store/relocate.rs).
    let zlib_id = Path::new(&zlib_dir)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        dynamic.contains(&format!("[$ORIGIN:$ORIGIN/../../../zlib/{zlib_id}/lib]")),
        "libpng's RUNPATH is not zlib's lib dir relative to libpng's:\n{dynamic}"
    );
    assert!(!dynamic.contains(&zlib_dir), "{dynamic}");
    let ldd = std::process::Command::new("ldd")
        .arg(&libpng)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    let found = stdout_of(&ldd)
        .lines()
        .find_map(|line| line.trim().strip_prefix("libz.so.1 => ").map(str::to_owned))
        .unwrap_or_default();
    let found = found.split(" (").next().unwrap_or_default();
    assert_eq!(
        std::fs::canonicalize(found)
            .ok()
            .map(|p| p.starts_with(&zlib_dir)),
        Some(true),
        "{}",
        stdout_of(&ldd)
    );
    // The artifact says what it found: relocatable, the RUNPATH rewritten.
    let libpng_dir = stdout_of(
        &env.hit()
            .args(["resolve", "libpng", "-p", &small_profile()])
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    let record =
        std::fs::read_to_string(Path::new(&libpng_dir).join(".hit/relocation.json")).unwrap();
    assert!(
        record.contains("\"lib/libpng16.so.16.39.0\": \"$ORIGIN:$ORIGIN/../../../zlib/"),
        "{record}"
    );

    // A C program compiled against the profile's headers and libraries runs.
    let source = env.path("t.c");
    std::fs::write(
        &source,
        "#include <png.h>\n#include <zlib.h>\n#include <stdio.h>\nint main(void) { printf(\"libpng %s zlib %s\\n\", png_get_libpng_ver(NULL), zlibVersion()); return 0; }\n",
    )
    .unwrap();
    let program = env.path("t");
    let compiled = std::process::Command::new("cc")
        .arg(&source)
        .arg(format!("-I{}", small.join("include").display()))
        .arg(format!("-L{}", small.join("lib").display()))
        .arg(format!("-Wl,-rpath,{}", small.join("lib").display()))
        .args(["-lpng16", "-lz", "-o"])
        .arg(&program)
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", stderr_of(&compiled));
    let ran = std::process::Command::new(&program)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&ran), "libpng 1.6.39 zlib 1.2.13\n");

    // Nothing to do the second time.
    let again = env
        .hit()
        .args(["build", &small_profile()])
        .output()
        .unwrap();
    assert!(
        stderr_of(&again).contains("(0 built, 5 already built)"),
        "{}",
        stderr_of(&again)
    );
    let first = std::fs::read_link(&small).unwrap();

    // Dropping lua (a profile that extends small and skips it) only relinks...
    let without = env.path("small-nolua.rhai");
    std::fs::write(
        &without,
        format!(
            "profile(#{{ extends: {:?}, skip: [\"lua\"] }})",
            small_profile()
        ),
    )
    .unwrap();
    let output = env.hit().arg("build").arg(&without).output().unwrap();
    assert!(
        stderr_of(&output).contains(
            "profile small-nolua: 3 packages linked, 4 in the plan (0 built, 4 already built)"
        ),
        "{}",
        stderr_of(&output)
    );
    assert!(
        !env.path("small-nolua/bin/lua").exists() && env.path("small-nolua/bin/bzip2").exists()
    );
    // ...and the original is still there, unchanged.
    assert_eq!(std::fs::read_link(&small).unwrap(), first);

    // Without the original profile, gc removes lua (no profile uses it) and keeps the rest.
    let lua_dir = stdout_of(
        &env.hit()
            .args(["resolve", "lua", "-p", &small_profile()])
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    std::fs::remove_file(&small).unwrap();
    let gc = env.hit().arg("gc").output().unwrap();
    assert!(gc.status.success(), "{}", stderr_of(&gc));
    assert!(
        stdout_of(&gc).starts_with("deleted 2 artifacts, 1 source and"),
        "{}",
        stdout_of(&gc)
    );
    assert!(!Path::new(&lua_dir).exists());
    assert!(env.path("small-nolua/lib/libpng16.so").exists() && Path::new(&zlib_dir).exists());
    let bzip2 = std::process::Command::new(env.path("small-nolua/bin/bzip2"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(stderr_of(&bzip2).contains("Version 1.0.8"));
}
