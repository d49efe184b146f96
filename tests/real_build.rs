//! Real builds of real upstream sources (../shared/mirror), served over HTTP.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, HttpServer, dead_url, hashed_mirror, mirror_dir, stdout_of};

#[test]
fn zlib_builds_from_a_hand_written_spec_fetched_over_http() {
    let env = Env::new();
    let mirror = HttpServer::serve(&hashed_mirror(&env.path("mirror")));
    env.with_mirrors(&[&mirror.url]);
    let mut spec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/zlib.json"
        ))
        .unwrap(),
    )
    .unwrap();
    // No upstream URL serves these exact bytes: the mirror must.
    spec["sources"][0]["url"] =
        serde_json::json!(format!("{}/zlib-1.2.13.dfsg.tar.bz2", dead_url()));
    let spec_path = env.spec("zlib.json", &spec);

    let path = env.build_ok(&spec_path);
    for file in [
        "lib/libz.so.1.2.13",
        "lib/libz.a",
        "include/zlib.h",
        "lib/pkgconfig/zlib.pc",
    ] {
        assert!(path.join(file).is_file(), "{file} missing");
    }
    let pc = std::fs::read_to_string(path.join("lib/pkgconfig/zlib.pc")).unwrap();
    assert!(
        pc.contains(&format!("prefix={}", path.display())),
        "the artifact does not know its own path:\n{pc}"
    );
    let log = std::fs::read_to_string(path.join(".hit/build.log")).unwrap();
    for ran in [
        "+ fetch sha256:71feb794",
        "+ unpack sha256:71feb794",
        "+ ./configure --prefix=",
        "+ make -j2",
        "+ make install",
    ] {
        assert!(log.contains(ran), "the log does not say `{ran}`:\n{log}");
    }
    assert!(
        log.contains("Building shared library libz.so.1.2.13 with cc")
            || log.contains("libz.so.1.2.13"),
        "{log}"
    );
    // Rebuilding is a no-op that prints the same path.
    let again = env.hit().arg("build").arg(&spec_path).output().unwrap();
    assert_eq!(stdout_of(&again).trim(), path.display().to_string());
}

#[test]
fn the_readme_example_builds_bzip2() {
    let env = Env::new();
    // A flat directory of tarballs works as a mirror: files are found by their URL's name.
    env.with_mirrors(&[mirror_dir().to_str().unwrap()]);
    let path = env.build_ok(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/bzip2.json"
    )));
    let output = std::process::Command::new(path.join("bin/bzip2"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("Version 1.0.8"));
    assert!(path.join("lib/libbz2.a").is_file() && path.join("include/bzlib.h").is_file());
}

/// `cmake()` on real code: lz4 through its CMake files, then a CMake project of ours that
/// finds it with `find_library` (through `CMAKE_PREFIX_PATH`) and runs from the profile
/// (through the install RPATH); `meson()` on pkgconf, whose program finds its own library.
#[test]
fn cmake_and_meson_helpers_build_real_projects() {
    if !common::have_tool("cmake") || !common::have_tool("meson") || !common::have_tool("ninja") {
        return;
    }
    let env = Env::new();
    let mirror = HttpServer::serve(&hashed_mirror(&env.path("mirror")));
    env.with_mirrors(&[&mirror.url]);
    let recipes = env.path("recipes");
    std::fs::create_dir_all(recipes.join("lz4-user")).unwrap();
    let sha = |file: &str| common::mirror_manifest()[file].clone();
    std::fs::write(
        recipes.join("lz4.rhai"),
        format!(
            r#"recipe(#{{
    name: "lz4",
    version: "1.9.4",
    sources: [#{{ url: "https://example.invalid/v1.9.4.tar.gz", sha256: "{}" }}],
    build_deps: ["cmake"],
    stages: cmake(#{{ source_dir: "build/cmake", flags: ["-DLZ4_BUILD_CLI=OFF", "-DBUILD_STATIC_LIBS=OFF"] }}),
}})"#,
            sha("lz4-1.9.4.tar.gz")
        ),
    )
    .unwrap();
    std::fs::write(
        recipes.join("lz4-user/CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.13)\nproject(lz4user C)\n\
         find_path(LZ4_INCLUDE lz4.h REQUIRED)\nfind_library(LZ4_LIB lz4 REQUIRED)\n\
         add_executable(lz4-user main.c)\n\
         target_include_directories(lz4-user PRIVATE ${LZ4_INCLUDE})\n\
         target_link_libraries(lz4-user ${LZ4_LIB})\ninstall(TARGETS lz4-user)\n",
    )
    .unwrap();
    std::fs::write(
        recipes.join("lz4-user/main.c"),
        "#include <stdio.h>\n#include <lz4.h>\n\
         int main(void) { printf(\"lz4 %s\\n\", LZ4_versionString()); return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        recipes.join("lz4-user/lz4-user.rhai"),
        r#"recipe(#{
    name: "lz4-user",
    deps: ["lz4"],
    sources: [#{ files: ["CMakeLists.txt", "main.c"] }],
    stages: cmake(),
})"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("pkgconf.rhai"),
        format!(
            r#"recipe(#{{
    name: "pkgconf",
    version: "1.8.1",
    sources: [#{{ url: "https://example.invalid/pkgconf-1.8.1.tar.xz", sha256: "{}" }}],
    stages: meson(#{{ flags: ["-Dtests=false"] }}),
}})"#,
            sha("pkgconf-1.8.1.tar.xz")
        ),
    )
    .unwrap();
    let profile = env.path("tools.rhai");
    std::fs::write(
        &profile,
        r#"profile(#{ package_dirs: ["recipes"], packages: ["lz4-user", "pkgconf"] })"#,
    )
    .unwrap();
    let output = env
        .hit()
        .arg("build")
        .arg(&profile)
        .arg("-j2")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", common::stderr_of(&output));

    let user = std::process::Command::new(env.path("tools/bin/lz4-user"))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&user), "lz4 1.9.4\n");
    let log = std::fs::read_to_string(
        std::fs::canonicalize(env.path("tools/bin/lz4-user"))
            .unwrap()
            .parent()
            .unwrap()
            .join("../.hit/build.log"),
    )
    .unwrap();
    assert!(log.contains("+ cmake -S . -B _build"), "{log}");
    // lz4 lists hit's host package `cmake` in its build_deps: the host's CMake is in its id.
    let spec = stdout_of(
        &env.hit()
            .args(["show", "buildspec", "lz4", "-p"])
            .arg(&profile)
            .output()
            .unwrap(),
    );
    assert!(
        spec.contains("\"CMAKE\"") && spec.contains("cmake/"),
        "{spec}"
    );
    let pkgconf = std::process::Command::new(env.path("tools/bin/pkgconf"))
        .arg("--version")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(stdout_of(&pkgconf), "1.8.1\n", "{pkgconf:?}");
    // The program finds libpkgconf in its own artifact, by RUNPATH.
    let readelf = std::process::Command::new("readelf")
        .args(["-d"])
        .arg(env.path("tools/bin/pkgconf"))
        .output()
        .unwrap();
    assert!(
        stdout_of(&readelf).contains("RUNPATH"),
        "{}",
        stdout_of(&readelf)
    );
}
