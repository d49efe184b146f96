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
