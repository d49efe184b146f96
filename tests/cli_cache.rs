//! Binary caches with the real binary: keys, push, pull into a store at a path of another
//! length over real HTTP, substitution during `hit build`, and every refusal, each leaving
//! the pulling store as it was.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, HttpServer, RawMember, raw_tar, stderr_of, stdout_of};
use hit_engine::cache::{CacheEntry, SecretKey};
use std::path::{Path, PathBuf};

/// Shell-only recipes whose files name the store in the ways relocation handles: a text
/// file with the artifact's own path, a script naming a dependency's path, an absolute
/// symlink into the store; and one that names it in binary data.
fn write_recipes(env: &Env) {
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(
        recipes.join("data.rhai"),
        r#"recipe(#{ name: "data", version: "1", toolchain: false,
    stages: [stage("install", [
        "mkdir -p $ARTIFACT/share $ARTIFACT/lib/pkgconfig",
        "echo 'the data' > $ARTIFACT/share/data.txt",
        "printf 'prefix=%s\nlibdir=${prefix}/lib\n' \"$ARTIFACT\" > $ARTIFACT/lib/pkgconfig/data.pc",
        "ln -s $ARTIFACT/share/data.txt $ARTIFACT/share/absolute-link",
    ])] })"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("user.rhai"),
        r#"recipe(#{ name: "user", version: "1", toolchain: false, deps: ["data"],
    stages: [stage("install", [
        "mkdir -p $ARTIFACT/bin",
        "printf '#!/bin/sh\ncat %s/share/data.txt\n' \"$DATA_DIR\" > $ARTIFACT/bin/user",
        "chmod +x $ARTIFACT/bin/user",
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
        r#"profile(#{ package_dirs: ["recipes"], packages: ["user"] })"#,
    )
    .unwrap();
    std::fs::write(
        env.path("stuck.rhai"),
        r#"profile(#{ package_dirs: ["recipes"], packages: ["stuck"] })"#,
    )
    .unwrap();
}

fn run_ok(command: &mut assert_cmd::Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout_of(&output),
        stderr_of(&output)
    );
    output
}

/// Writes the home's config.yaml.
fn configure(env: &Env, lines: &str) {
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(env.home().join("config.yaml"), format!("{lines}\n")).unwrap();
}

/// The first store: builds the profiles, makes a key, pushes `p` to `cache`. Returns the
/// public key.
fn publisher(env: &Env, cache: &Path) -> String {
    write_recipes(env);
    configure(env, "sync: none\nsigning_key: keys/site-1.secret");
    run_ok(env.hit().args(["build", "-q", "p.rhai"]));
    run_ok(env.hit().args(["build", "-q", "stuck.rhai"]));
    let public = stdout_of(&run_ok(env.hit().args(["key", "generate", "site-1"])));
    run_ok(env.hit().arg("push").arg(cache).arg("./p"));
    public.trim().to_owned()
}

/// A second store at a path of another length than the first's.
fn consumer(env: &Env, trusted: &str, more: &str) {
    configure(
        env,
        &format!(
            "sync: none\nstore_dir: a-store-with-a-much-longer-path/bld\n\
             trusted_keys: [\"{trusted}\"]\n{more}"
        ),
    );
}

fn id_of(env: &Env, package: &str, profile: &str) -> String {
    stdout_of(&run_ok(env.hit().args(["hash", package, "-p", profile])))
        .trim()
        .to_owned()
}

/// What the store dir holds for a package name (artifacts, claims).
fn entries(env: &Env, name: &str) -> Vec<String> {
    let dir = env
        .home()
        .join("a-store-with-a-much-longer-path/bld")
        .join(name);
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn verify_clean(env: &Env) {
    let output = run_ok(env.hit().arg("verify"));
    let said = stdout_of(&output);
    assert!(said.contains("0 broken, 0 leftovers"), "{said}");
}

#[test]
fn pushed_artifacts_install_under_another_store_path_over_http() {
    let one = Env::new();
    let cache = one.path("cache");
    let public = publisher(&one, &cache);
    let profile = std::fs::canonicalize(one.path("p")).unwrap();
    let profile_meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(profile.join(".hit/artifact.json")).unwrap())
            .unwrap();
    let profile_id = profile_meta["id"].as_str().unwrap().to_owned();
    // A second push has nothing to do.
    let again = run_ok(one.hit().arg("push").arg(&cache).arg("./p"));
    assert!(
        stderr_of(&again).contains("pushed 0 artifacts (0.0 MB)")
            && stderr_of(&again).contains("3 there already"),
        "{}",
        stderr_of(&again)
    );
    // Push says the id of what it was given: what `hit pull` takes elsewhere.
    assert_eq!(stdout_of(&again).trim(), profile_id);

    let server = HttpServer::serve(&cache);
    let two = Env::new();
    consumer(&two, &public, "");
    let pulled = run_ok(
        two.hit()
            .args(["pull", &server.url, &profile_id, "--link", "./p"]),
    );
    let said = stderr_of(&pulled);
    assert!(said.contains("pulled 3 artifacts"), "{said}");
    // The script names data's path in the new store, and runs.
    let run = std::process::Command::new(two.path("p/bin/user"))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&run), "the data\n", "{}", stderr_of(&run));
    let data = two.home().join("a-store-with-a-much-longer-path/bld/data");
    let data = std::fs::read_dir(&data)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let pc = std::fs::read_to_string(data.join("lib/pkgconfig/data.pc")).unwrap();
    assert_eq!(
        pc.lines().next().unwrap(),
        format!("prefix={}", data.display())
    );
    assert_eq!(
        std::fs::read_link(data.join("share/absolute-link")).unwrap(),
        data.join("share/data.txt")
    );
    verify_clean(&two);
    // Nothing was built: no build log says so.
    let log = std::fs::read_to_string(data.join(".hit/build.log")).unwrap();
    assert!(log.contains(&one.home().display().to_string()), "{log}");

    // The same profile built with the cache configured: every package fetched, none built.
    let three = Env::new();
    write_recipes(&three);
    consumer(
        &three,
        &public,
        &format!("caches: [\"http://127.0.0.1:1\", \"{}\"]", server.url),
    );
    let built = run_ok(three.hit().args(["build", "p.rhai"]));
    let said = stderr_of(&built);
    assert!(
        said.contains("(0 built, 2 fetched, 0 already built)"),
        "{said}"
    );
    assert!(said.contains("fetched data/"), "{said}");
    assert!(
        said.contains("warning: http://127.0.0.1:1: cannot be reached"),
        "{said}"
    );
    // Said once for the session, not once per package.
    assert_eq!(said.matches("cannot be reached").count(), 1, "{said}");
    verify_clean(&three);
    // --no-caches builds.
    let four = Env::new();
    write_recipes(&four);
    consumer(&four, &public, &format!("caches: [\"{}\"]", server.url));
    let built = run_ok(four.hit().args(["build", "--no-caches", "p.rhai"]));
    assert!(
        stderr_of(&built).contains("(2 built, 0 already built)"),
        "{}",
        stderr_of(&built)
    );
}

#[test]
fn what_is_not_relocatable_is_pushed_only_when_forced_and_installed_only_at_its_path() {
    let one = Env::new();
    let cache = one.path("cache");
    let public = publisher(&one, &cache);
    let stuck = id_of(&one, "stuck", "stuck.rhai");
    let refused = one
        .hit()
        .arg("push")
        .arg(&cache)
        .arg(&stuck)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let said = stderr_of(&refused);
    assert!(
        said.contains(&format!(
            "{stuck} is not relocatable: share/prefix.bin name the store"
        )),
        "{said}"
    );
    assert!(!cache.join("stuck").exists());
    run_ok(one.hit().arg("push").arg("--force").arg(&cache).arg(&stuck));
    let two = Env::new();
    consumer(&two, &public, "");
    let refused = two
        .hit()
        .arg("pull")
        .arg(&cache)
        .arg(&stuck)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr_of(&refused).contains("is not relocatable (share/prefix.bin)"),
        "{}",
        stderr_of(&refused)
    );
    assert!(entries(&two, "stuck").is_empty());
    verify_clean(&two);
}

/// Rewrites the cache entry of `id` in `cache` with `change`, signed again with `key`.
fn resign(cache: &Path, id: &str, key: &Path, change: impl FnOnce(&mut CacheEntry)) {
    let file = entry_file(cache, id);
    let mut entry: CacheEntry =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    change(&mut entry);
    entry.sign(&SecretKey::read(key).unwrap());
    std::fs::write(&file, entry.to_json()).unwrap();
}

fn entry_file(cache: &Path, id: &str) -> PathBuf {
    cache.join(format!("{id}.json"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn every_refusal_names_cache_artifact_and_reason_and_commits_nothing() {
    let one = Env::new();
    let cache = one.path("cache");
    let public = publisher(&one, &cache);
    let key = one.home().join("keys/site-1.secret");
    let data = id_of(&one, "data", "p.rhai");
    let user = id_of(&one, "user", "p.rhai");
    let two = Env::new();
    consumer(&two, &public, "");
    let mut case = 0;
    let mut refused = |tamper: &dyn Fn(&Path), target: &str, expected: &[&str]| {
        case += 1;
        let copy = one.path(&format!("cache-{case}"));
        copy_dir(&cache, &copy);
        tamper(&copy);
        let output = two
            .hit()
            .arg("pull")
            .arg(&copy)
            .arg(target)
            .output()
            .unwrap();
        let said = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "case {case}: {said}");
        let copy_text = copy.display().to_string();
        for words in [copy_text.as_str()].iter().chain(expected) {
            assert!(said.contains(words), "case {case}: no {words:?} in: {said}");
        }
        assert!(entries(&two, "data").is_empty(), "case {case}");
        assert!(entries(&two, "user").is_empty(), "case {case}");
        verify_clean(&two);
    };
    // A changed entry: the signature no longer holds.
    refused(
        &|copy| {
            let file = entry_file(copy, &data);
            let mut entry: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            entry["content_hash"] = serde_json::json!(format!("sha256:{}", "1".repeat(64)));
            std::fs::write(&file, entry.to_string()).unwrap();
        },
        &data,
        &[
            &format!("refused {data}"),
            "bad signature by trusted key site-1",
        ],
    );
    // A truncated archive.
    refused(
        &|copy| {
            let entry: CacheEntry =
                serde_json::from_str(&std::fs::read_to_string(entry_file(copy, &data)).unwrap())
                    .unwrap();
            let archive = copy.join("data").join(&entry.archive.file);
            let bytes = std::fs::read(&archive).unwrap();
            std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
        },
        &data,
        &[&format!("refused {data}"), "truncated or replaced"],
    );
    // Signed, but the files are not what the content hash says.
    refused(
        &|copy| {
            resign(copy, &data, &key, |entry| {
                entry.content_hash = format!("sha256:{}", "0".repeat(64));
            })
        },
        &data,
        &[
            &format!("refused {data}"),
            "the unpacked files hash to sha256:",
            "the signed entry says sha256:0000",
        ],
    );
    // Signed, with an archive whose member climbs out of the artifact.
    refused(
        &|copy| {
            let tar = raw_tar(&[RawMember::file("../escaped", b"outside\n")]);
            let archive = zstd_bytes(&tar);
            std::fs::write(copy.join("data/evil.tar.zst"), &archive).unwrap();
            resign(copy, &data, &key, |entry| {
                entry.archive.file = "evil.tar.zst".into();
                entry.archive.sha256 = sha256_hex(&archive);
                entry.archive.size = archive.len() as u64;
            })
        },
        &data,
        &[
            &format!("refused {data}"),
            "refusing archive member \"../escaped\"",
        ],
    );
    // The entry of another artifact served for this one.
    refused(
        &|copy| {
            std::fs::copy(entry_file(copy, &data), entry_file(copy, &user)).unwrap();
        },
        &user,
        &[
            &format!("refused {user}"),
            &format!("the entry is for {data}"),
        ],
    );
    // A key this store does not trust.
    let stranger = SecretKey::generate("stranger").unwrap();
    let stranger_file = one.path("stranger.secret");
    std::fs::write(&stranger_file, stranger.to_text()).unwrap();
    refused(
        &|copy| {
            resign(copy, &data, &stranger_file, |entry| {
                entry.signatures.clear()
            });
        },
        &data,
        &["signed only by keys this store does not trust (stranger)"],
    );
    assert!(!one.path("escaped").exists() && !two.path("escaped").exists());
    assert!(
        !two.home()
            .join("a-store-with-a-much-longer-path/escaped")
            .exists()
    );

    // No trusted key at all.
    let three = Env::new();
    configure(&three, "sync: none");
    let output = three
        .hit()
        .arg("pull")
        .arg(&cache)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        stderr_of(&output).contains("no key is trusted"),
        "{}",
        stderr_of(&output)
    );
    // Not a cache; and an id no cache has.
    let output = two
        .hit()
        .arg("pull")
        .arg(one.path("recipes"))
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        stderr_of(&output).contains("not a hit binary cache (no hit-cache.json)"),
        "{}",
        stderr_of(&output)
    );
    let stuck = id_of(&one, "stuck", "stuck.rhai");
    let output = two
        .hit()
        .arg("pull")
        .arg(&cache)
        .arg(&stuck)
        .output()
        .unwrap();
    assert!(
        stderr_of(&output).contains(&format!("{stuck} is in no cache")),
        "{}",
        stderr_of(&output)
    );
    // After all that, the real thing installs.
    run_ok(two.hit().arg("pull").arg(&cache).arg(&user));
    verify_clean(&two);
}

fn zstd_bytes(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn keys_are_made_once_and_bad_keys_in_the_config_are_named() {
    let env = Env::new();
    let output = run_ok(env.hit().args(["key", "generate", "site-1"]));
    let public = stdout_of(&output);
    assert!(public.starts_with("site-1:"), "{public}");
    let secret = env.home().join("keys/site-1.secret");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = env
        .hit()
        .args(["key", "generate", "site-1"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr_of(&again).contains("already exists"),
        "{}",
        stderr_of(&again)
    );
    let bad = env
        .hit()
        .args(["key", "generate", "../x"])
        .output()
        .unwrap();
    assert!(
        stderr_of(&bad).contains("invalid key name"),
        "{}",
        stderr_of(&bad)
    );

    configure(&env, "trusted_keys: [\"site-1:AAAA\"]");
    let output = env.hit().args(["verify"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output)
            .contains("trusted_keys: public key \"site-1:AAAA\" is not `NAME:BASE64` of 32 bytes"),
        "{}",
        stderr_of(&output)
    );
    // Pushing needs a key; and to a URL it cannot.
    let fresh = Env::new();
    let output = fresh
        .hit()
        .args(["push", "cache", "zlib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"])
        .output()
        .unwrap();
    assert!(
        stderr_of(&output).contains("not in this store"),
        "{}",
        stderr_of(&output)
    );
}
