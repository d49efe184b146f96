//! `hit fetch` and `hit unpack`, and sources in builds: real HTTP, mirrors and their
//! fallbacks, every archive format, hostile archives, git and inline files.

#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Env, HttpServer, RawMember, dead_url, gzip, hashed_mirror, mirror_dir, mirror_manifest,
    raw_tar, stalling_url, stderr_of, stdout_of,
};
use predicates::prelude::*;
use serde_json::json;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A real tarball that hit does not ship (packages/sources holds the README profile's),
/// so only its URL, a mirror or the cache has it.
const ARCHIVE: &str = "lz4-1.9.4.tar.gz";

impl Env {
    /// `hit fetch` of a local file; its key.
    fn fetch_key(&self, path: &Path) -> String {
        stdout_of(&self.hit().arg("fetch").arg(path).output().unwrap())
            .trim()
            .to_owned()
    }

    /// `hit unpack` of a cached source into `target`.
    fn unpack(&self, key: &str, target: &Path) -> std::process::Output {
        self.hit()
            .args(["unpack", key])
            .arg(target)
            .output()
            .unwrap()
    }

    /// [`Env::unpack`] that must succeed.
    fn unpack_ok(&self, key: &str, target: &Path) {
        let output = self.unpack(key, target);
        assert!(output.status.success(), "{}", stderr_of(&output));
    }
}

fn archive_key() -> String {
    format!("sha256:{}", mirror_manifest()[ARCHIVE])
}

#[test]
fn fetch_over_http_stores_the_file_by_hash() {
    let env = Env::new();
    let server = HttpServer::serve(&mirror_dir());
    let url = format!("{}/{ARCHIVE}", server.url);
    env.hit()
        .args(["fetch", &url])
        .assert()
        .success()
        .stdout(format!("{}\n", archive_key()));
    let cached = env
        .home()
        .join("src/sha256")
        .join(&mirror_manifest()[ARCHIVE]);
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(mirror_dir().join(ARCHIVE)).unwrap()
    );
    assert_eq!(
        std::fs::metadata(&cached).unwrap().permissions().mode() & 0o222,
        0
    );
    // HashDist's key for the same bytes (base32 of the first 20 bytes) finds it too.
    let hex = &mirror_manifest()[ARCHIVE];
    let bytes: Vec<u8> = (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let hashdist_key = format!(
        "tar.gz:{}",
        hit_engine::spec::canonical::base32_lower(&bytes)
    );
    env.hit()
        .args(["unpack", &hashdist_key, "by-b32"])
        .assert()
        .success();
    assert!(env.path("by-b32/README.md").is_file());
    // With the right key it is already there: no second download.
    let before = server.requests.lock().unwrap().len();
    env.hit()
        .args(["fetch", &url, &archive_key()])
        .assert()
        .success()
        .stdout(format!("{}\n", archive_key()));
    assert_eq!(server.requests.lock().unwrap().len(), before);
}

#[test]
fn fetch_with_a_wrong_key_stores_nothing() {
    let env = Env::new();
    let server = HttpServer::serve(&mirror_dir());
    let url = format!("{}/{ARCHIVE}", server.url);
    let wrong = format!("sha256:{}", "0".repeat(64));
    let output = env.hit().args(["fetch", &url, &wrong]).output().unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(&archive_key())
            && stderr.contains("not sha256:000")
            && stderr.contains("nothing was stored"),
        "{stderr}"
    );
    let stored: Vec<_> = ["sha256", "b32", "tmp"]
        .iter()
        .filter_map(|d| std::fs::read_dir(env.home().join("src").join(d)).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .collect();
    assert!(stored.is_empty(), "{stored:?}");
    // HashDist-style keys are checked the same way.
    env.hit()
        .args(["fetch", &url, "tar.gz:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nothing was stored"));
}

#[test]
fn mirrors_are_tried_by_hash_before_the_url() {
    let env = Env::new();
    let hashed = HttpServer::serve(&hashed_mirror(&env.path("hashed")));
    env.with_mirrors(&[&dead_url(), &hashed.url]);
    // The URL is dead: only the mirror can serve it.
    let url = format!("{}/{ARCHIVE}", dead_url());
    env.hit()
        .args(["fetch", &url, &archive_key()])
        .assert()
        .success();
    assert!(hashed.requested(&format!("/sha256/{}", mirror_manifest()[ARCHIVE])));
}

#[test]
fn a_miss_on_a_mirror_falls_back_to_the_url() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("empty")).unwrap();
    let empty = HttpServer::serve(&env.path("empty"));
    let upstream = HttpServer::serve(&mirror_dir());
    env.with_mirrors(&[&empty.url]);
    let url = format!("{}/{ARCHIVE}", upstream.url);
    env.hit()
        .args(["fetch", &url, &archive_key()])
        .assert()
        .success();
    assert!(empty.requested(&format!("/sha256/{}", mirror_manifest()[ARCHIVE])));
    assert!(upstream.requested(&format!("/{ARCHIVE}")));
}

#[test]
fn a_mirror_that_stalls_mid_download_gives_way_to_the_url_after_the_idle_timeout() {
    let stalling = stalling_url();
    let stalled_on = |env: &Env| {
        env.with_mirrors(&[&stalling]);
        let config = env.home().join("config.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains("# download_idle_timeout: 60"), "{text}");
        std::fs::write(&config, format!("{text}download_idle_timeout: 1\n")).unwrap();
    };
    let env = Env::new();
    stalled_on(&env);
    let upstream = HttpServer::serve(&mirror_dir());
    let url = format!("{}/{ARCHIVE}", upstream.url);
    let started = std::time::Instant::now();
    env.hit()
        .args(["fetch", &url, &archive_key()])
        .assert()
        .success();
    // Two mirror attempts (by hash, by name) of about a second each, not minutes.
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    assert!(upstream.requested(&format!("/{ARCHIVE}")));

    // When nothing else works, the error says what happened and which setting it was.
    let env = Env::new();
    stalled_on(&env);
    let output = env
        .hit()
        .args(["fetch", &format!("{stalling}/{ARCHIVE}"), &archive_key()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("no data for 1 s (download_idle_timeout in config.yaml)"),
        "{stderr}"
    );
}

#[test]
fn a_flat_mirror_directory_serves_files_by_name() {
    let env = Env::new();
    env.with_mirrors(&[mirror_dir().to_str().unwrap()]);
    let url = format!("https://www.lua.org/ftp/{ARCHIVE}");
    env.hit()
        .args(["fetch", &url, &archive_key()])
        .assert()
        .success();
}

/// A local directory of tarballs serves a source by content, whatever the file is called
/// (here the URL's name is not in it, and the URL's host does not answer); the second
/// process reuses the index instead of hashing the mirror again.
#[test]
fn a_flat_mirror_directory_serves_files_by_content() {
    let env = Env::new();
    env.with_mirrors(&[mirror_dir().to_str().unwrap()]);
    let url = format!("{}/v5.4.4-renamed.tar.gz", dead_url());
    let output = env
        .hit()
        .args(["fetch", &url, &archive_key()])
        .env("HIT_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let said = stderr_of(&output);
    assert!(
        said.contains(&format!(
            "downloading {}",
            mirror_dir().join(ARCHIVE).display()
        )),
        "{said}"
    );
    let index = env.home().join("src/mirror-index-v1");
    let records: Vec<_> = std::fs::read_dir(&index).unwrap().collect();
    assert_eq!(records.len(), 1, "one index for the one mirror");
    let record = records[0].as_ref().unwrap().path();
    let written = std::fs::metadata(&record).unwrap().modified().unwrap();
    // Another source from the same mirror, in a new process: the index is not rewritten
    // (nothing in the mirror changed).
    std::thread::sleep(std::time::Duration::from_millis(20));
    let zlib = "sha256:71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1";
    let output = env
        .hit()
        .args(["fetch", &format!("{}/zlib.tar.bz2", dead_url()), zlib])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        std::fs::metadata(&record).unwrap().modified().unwrap(),
        written
    );
}

#[test]
fn when_everything_fails_the_error_lists_every_attempt() {
    let env = Env::new();
    let dead_mirror = dead_url();
    env.with_mirrors(&[&dead_mirror]);
    let url = format!("{}/{ARCHIVE}", dead_url());
    let output = env
        .hit()
        .args(["fetch", &url, &archive_key()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(&format!("cannot fetch {}", archive_key())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("mirror {dead_mirror}/sha256/")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("mirror {dead_mirror}/{ARCHIVE}")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("- {url}: ")), "{stderr}");
    assert!(stderr.to_lowercase().contains("connect"), "{stderr}");
}

/// The same small tree in every format hit unpacks.
fn sample_archives(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut builder = tar::Builder::new(Vec::new());
    let add = |builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_500_000_000);
        header.set_cksum();
        builder.append_data(&mut header, path, data).unwrap();
    };
    add(&mut builder, "pkg-1.0/a.txt", b"alpha\n", 0o644);
    add(&mut builder, "pkg-1.0/sub/b.txt", b"beta\n", 0o644);
    add(&mut builder, "pkg-1.0/run.sh", b"#!/bin/sh\n", 0o755);
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder
        .append_link(&mut link, "pkg-1.0/link", "a.txt")
        .unwrap();
    let tar_bytes = builder.into_inner().unwrap();

    let mut out = Vec::new();
    let mut write = |name: &'static str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        out.push((name, path));
    };
    write("pkg.tar", tar_bytes.clone());
    write("pkg.tar.gz", gzip(&tar_bytes));
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&tar_bytes).unwrap();
    write("pkg.tar.bz2", bz.finish().unwrap());
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&tar_bytes).unwrap();
    write("pkg.tar.xz", xz.finish().unwrap());
    write(
        "pkg.tar.zst",
        ruzstd::encoding::compress_to_vec(
            &tar_bytes[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("pkg-1.0/a.txt", options.unix_permissions(0o644))
        .unwrap();
    zip.write_all(b"alpha\n").unwrap();
    zip.start_file("pkg-1.0/sub/b.txt", options.unix_permissions(0o644))
        .unwrap();
    zip.write_all(b"beta\n").unwrap();
    zip.start_file("pkg-1.0/run.sh", options.unix_permissions(0o755))
        .unwrap();
    zip.write_all(b"#!/bin/sh\n").unwrap();
    zip.add_symlink("pkg-1.0/link", "a.txt", options).unwrap();
    write("pkg.zip", zip.finish().unwrap().into_inner());
    out
}

#[test]
fn every_archive_format_unpacks_with_the_common_directory_stripped() {
    let env = Env::new();
    for (name, path) in sample_archives(env.dir.path()) {
        let key = env.fetch_key(&path);
        assert!(key.starts_with("sha256:"), "{name}: {key}");
        let target = env.path(&format!("out-{name}"));
        env.unpack_ok(&key, &target);
        assert_eq!(
            std::fs::read_to_string(target.join("a.txt")).unwrap(),
            "alpha\n",
            "{name}"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("sub/b.txt")).unwrap(),
            "beta\n",
            "{name}"
        );
        let mode = std::fs::metadata(target.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{name}: run.sh lost its exec bits");
        assert_eq!(
            std::fs::read_link(target.join("link")).unwrap(),
            Path::new("a.txt"),
            "{name}"
        );
        if name.starts_with("pkg.tar") {
            let mtime = std::fs::metadata(target.join("a.txt"))
                .unwrap()
                .modified()
                .unwrap();
            assert_eq!(
                mtime
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs(),
                1_500_000_000,
                "{name}"
            );
        }
        let kept = env.path(&format!("kept-{name}"));
        env.hit()
            .args(["unpack", "--strip", "0", &key])
            .arg(&kept)
            .assert()
            .success();
        assert!(kept.join("pkg-1.0/a.txt").is_file(), "{name}");
        let names: Vec<_> = std::fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.to_string_lossy().starts_with(".hit-unpack")),
            "{names:?}"
        );
    }
}

#[test]
fn real_upstream_tarballs_unpack() {
    let env = Env::new();
    for file in [ARCHIVE, "zlib-1.2.13.dfsg.tar.bz2", "xz-5.4.1.tar.xz"] {
        let key = env.fetch_key(&mirror_dir().join(file));
        let target = env.path(file);
        env.unpack_ok(&key, &target);
        assert!(
            target.join("README").is_file() || target.join("README.md").is_file(),
            "{file}"
        );
    }
}

#[test]
fn hostile_archives_are_refused_and_nothing_escapes() {
    let cases: Vec<(&str, Vec<RawMember<'_>>, &str)> = vec![
        (
            "dotdot",
            vec![
                RawMember::file("ok.txt", b"x"),
                RawMember::file("../evil", b"x"),
            ],
            "\"../evil\"",
        ),
        (
            "deep-dotdot",
            vec![RawMember::file("a/../../evil", b"x")],
            "path contains `..`",
        ),
        (
            "absolute",
            vec![RawMember::file("/tmp/hit-evil-absolute", b"x")],
            "absolute path",
        ),
        (
            "symlink-out",
            vec![RawMember::symlink("up", "../../outside")],
            "points outside the target",
        ),
        (
            "symlink-abs",
            vec![RawMember::symlink("etc", "/etc")],
            "points outside the target",
        ),
        (
            "symlink-nested-out",
            vec![RawMember::dir("d"), RawMember::symlink("d/up", "../..")],
            "points outside",
        ),
        (
            "through-symlink",
            vec![
                RawMember::symlink("here", "."),
                RawMember::file("here/evil", b"x"),
            ],
            "written through the symlink",
        ),
        (
            "symlink-chain",
            vec![
                RawMember::symlink("a", "."),
                RawMember::symlink("a/b", ".."),
            ],
            "through the symlink",
        ),
        (
            "hardlink-out",
            vec![RawMember::hard_link("h", "../../etc/passwd")],
            "hard link",
        ),
        (
            "hardlink-abs",
            vec![RawMember::hard_link("h", "/etc/passwd")],
            "hard link",
        ),
        (
            "hardlink-missing",
            vec![RawMember::hard_link("h", "nothing-here")],
            "does not name an unpacked file",
        ),
        (
            "device",
            vec![RawMember {
                name: "dev",
                kind: b'3',
                link: "",
                data: b"",
                mode: 0o644,
            }],
            "devices",
        ),
    ];
    let env = Env::new();
    for (name, members, expected) in cases {
        let sandbox = env.path(name);
        let target = sandbox.join("target");
        std::fs::create_dir_all(&target).unwrap();
        let archive = sandbox.join("evil.tar.gz");
        std::fs::write(&archive, gzip(&raw_tar(&members))).unwrap();
        let key = env.fetch_key(&archive);
        let output = env.unpack(&key, &target);
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "{name}: unpacked");
        assert!(
            stderr.contains("refusing archive member") && stderr.contains(expected),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(&target).unwrap().collect();
        assert!(left.is_empty(), "{name}: target not empty: {left:?}");
        let around: Vec<_> = std::fs::read_dir(&sandbox)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            around.len(),
            2,
            "{name}: wrote next to the target: {around:?}"
        );
    }
    assert!(!Path::new("/tmp/hit-evil-absolute").exists());
}

#[test]
fn archive_bombs_hit_the_configured_limits_and_leave_the_target_untouched() {
    let env = Env::new();
    env.hit().arg("init-home").assert().success();
    let config = env.home().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("# unpack_max_members: 1000000", "unpack_max_members: 5000")
            .replace(
                "# unpack_max_bytes: 68719476736",
                "unpack_max_bytes: 1000000",
            ),
    )
    .unwrap();
    let names: Vec<String> = (0..5001).map(|i| format!("pkg/f{i}")).collect();
    let many: Vec<RawMember<'_>> = names.iter().map(|n| RawMember::file(n, b"")).collect();
    let big = vec![0u8; 600_000];
    let cases: Vec<(&str, Vec<RawMember<'_>>, &str)> = vec![
        (
            "many",
            many,
            "more than 5000 members (the limit is unpack_max_members",
        ),
        (
            "big",
            vec![
                RawMember::file("pkg/a", &big),
                RawMember::file("pkg/b", &big),
            ],
            "more than 1000000 bytes, at member \"pkg/b\"",
        ),
    ];
    for (name, members, expected) in cases {
        let target = env.path(name).join("target");
        std::fs::create_dir_all(&target).unwrap();
        let archive = env.path(name).join("bomb.tar.gz");
        std::fs::write(&archive, gzip(&raw_tar(&members))).unwrap();
        let key = env.fetch_key(&archive);
        let output = env.unpack(&key, &target);
        let stderr = stderr_of(&output);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{name}: {stderr}"
        );
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "{name}");
    }
    // Under the limits the same kind of archive unpacks.
    let names: Vec<String> = (0..5000).map(|i| format!("pkg/f{i}")).collect();
    let members: Vec<RawMember<'_>> = names.iter().map(|n| RawMember::file(n, b"")).collect();
    let archive = env.path("fine.tar.gz");
    std::fs::write(&archive, gzip(&raw_tar(&members[..4999]))).unwrap();
    let key = env.fetch_key(&archive);
    let target = env.path("fine");
    env.unpack_ok(&key, &target);
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 4999);
}

#[test]
fn corrupt_cache_entries_and_non_archives_are_errors() {
    let env = Env::new();
    let junk = env.path("junk.tar.gz");
    std::fs::write(&junk, b"this is not an archive").unwrap();
    let key = env.fetch_key(&junk);
    env.hit()
        .args(["unpack", &key, "out"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not an archive hit can unpack"));
    // A truncated tarball fails without leaving files in the target.
    let good = std::fs::read(mirror_dir().join(ARCHIVE)).unwrap();
    let cut = env.path("cut.tar.gz");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let key = env.fetch_key(&cut);
    env.hit()
        .args(["unpack", &key, "cut-out"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("corrupt"));
    assert_eq!(std::fs::read_dir(env.path("cut-out")).unwrap().count(), 0);
    // A cache file changed behind hit's back is caught before unpacking.
    let key = env.fetch_key(&mirror_dir().join(ARCHIVE));
    let cached = env
        .home()
        .join("src/sha256")
        .join(key.trim_start_matches("sha256:"));
    std::fs::set_permissions(&cached, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&cached, gzip(b"tampered")).unwrap();
    env.hit()
        .args(["unpack", &key, "t-out"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is corrupt"));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        stderr_of(&output)
    );
    stdout_of(&output).trim().to_owned()
}

#[test]
fn git_sources_build_by_commit() {
    let env = Env::new();
    let repo = env.path("project.git");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("src/hello.txt"), "version one\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("src/hello.txt"), "version two\n").unwrap();
    git(&repo, &["commit", "-qam", "two"]);
    let url = repo.display().to_string();

    // Without a key, fetch takes HEAD.
    let head = git(&repo, &["rev-parse", "HEAD"]);
    env.hit()
        .args(["fetch", &url])
        .assert()
        .success()
        .stdout(format!("git:{head}\n"));

    // A branch: the commit it names now, fetched (a recipe pins that key).
    git(&repo, &["checkout", "-qb", "feature"]);
    std::fs::write(repo.join("src/hello.txt"), "version three\n").unwrap();
    git(&repo, &["commit", "-qam", "three"]);
    let feature = git(&repo, &["rev-parse", "feature"]);
    git(&repo, &["checkout", "-q", "-"]);
    env.hit()
        .args(["fetch", &url, "--branch", "feature"])
        .assert()
        .success()
        .stdout(format!("git:{feature}\n"));
    assert_ne!(feature, head);
    env.hit()
        .args(["fetch", &url, "--branch", "no-such-branch"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no-such-branch"));
    env.hit()
        .args(["fetch", "https://example.org/x.tar.gz", "--branch", "main"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--branch is for git repositories"));

    let spec = env.spec(
        "from-git.json",
        &json!({
            "name": "from-git",
            "sources": [{"key": format!("git:{first}"), "url": url, "target": "tree"}],
            "build": {"commands": [{"cmd": ["cp", "tree/src/hello.txt", "$ARTIFACT/"]}]}
        }),
    );
    let path = env.build_ok(&spec);
    assert_eq!(
        std::fs::read_to_string(path.join("hello.txt")).unwrap(),
        "version one\n"
    );
    assert!(env.home().join("src/git/project.git").is_dir());

    let missing = env.spec(
        "missing.json",
        &json!({
            "name": "missing",
            "sources": [{"key": format!("git:{}", "1".repeat(40)), "url": url}],
            "build": {"commands": []}
        }),
    );
    env.hit()
        .arg("build")
        .arg(&missing)
        .assert()
        .failure()
        .stderr(predicate::str::contains("has no commit 1111"));
}

#[test]
fn inline_files_are_checked_against_their_key() {
    let env = Env::new();
    let files = std::collections::BTreeMap::from([
        (
            "patches/fix.patch".to_string(),
            "--- a\n+++ b\n".to_string(),
        ),
        (
            "build.sh".to_string(),
            "echo from-pack > \"$1/out\"\n".to_string(),
        ),
    ]);
    let digest = hit_engine::source::pack_digest(&hit_engine::source::pack(&files));
    let spec = |key: &str| {
        json!({
            "name": "packed",
            "sources": [{"key": key, "files": files, "target": "extra"}],
            "build": {"commands": [{"cmd": ["sh", "extra/build.sh", "$ARTIFACT"]}, {"cmd": ["cp", "extra/patches/fix.patch", "$ARTIFACT/"]}]}
        })
    };
    let good = env.spec("packed.json", &spec(&format!("files:{digest}")));
    let path = env.build_ok(&good);
    assert_eq!(
        std::fs::read_to_string(path.join("out")).unwrap(),
        "from-pack\n"
    );
    assert!(path.join("fix.patch").is_file());
    assert!(env.home().join("src/files").join(&digest).is_file());

    let bad = env.spec("bad.json", &spec("files:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    env.hit()
        .arg("build")
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!("hash to files:{digest}")));
}

#[test]
fn a_corrupt_cached_source_is_found_by_verify_and_fetched_again_by_a_build() {
    let env = Env::new();
    let server = HttpServer::serve(&mirror_dir());
    let url = format!("{}/{ARCHIVE}", server.url);
    let key = env.fetch_key(Path::new(&url));
    let cached = env
        .home()
        .join("src/sha256")
        .join(&mirror_manifest()[ARCHIVE]);
    // One byte changed on disk.
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes[1000] ^= 0xff;
    let mut perms = std::fs::metadata(&cached).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&cached, perms).unwrap();
    std::fs::write(&cached, &bytes).unwrap();

    let output = env.hit().args(["verify", "--sources"]).output().unwrap();
    assert!(!output.status.success());
    let said = stdout_of(&output);
    assert!(
        said.contains(&format!("broken: source {}", cached.display()))
            && said.contains("1 source corrupt"),
        "{said}"
    );
    // A build (here: unpack) throws it away and fetches it again from the URL.
    let recipe_dir = env.path("recipes");
    std::fs::create_dir_all(&recipe_dir).unwrap();
    std::fs::write(
        recipe_dir.join("lua.rhai"),
        format!(
            "recipe(#{{ name: \"lua\", sources: [#{{ url: {url:?}, sha256: {:?} }}], \
             stages: [stage(\"install\", \"cp Makefile $ARTIFACT/\")] }})",
            mirror_manifest()[ARCHIVE]
        ),
    )
    .unwrap();
    let profile = env.path("p.rhai");
    std::fs::write(
        &profile,
        format!(
            "profile(#{{ package_dirs: [{:?}], packages: [\"lua\"] }})",
            recipe_dir.display().to_string()
        ),
    )
    .unwrap();
    let output = env.hit().arg("build").arg(&profile).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(common::sha256_hex(&cached), mirror_manifest()[ARCHIVE]);
    let output = env.hit().args(["verify", "--sources"]).output().unwrap();
    assert!(output.status.success(), "{}", stdout_of(&output));
    assert!(key.starts_with("sha256:"));
}

#[test]
fn the_readme_profile_needs_no_mirror_for_a_source_without_a_url() {
    // zlib's only public copy is a distribution's repack: its recipe has no URL, and hit
    // ships the file in packages/sources/. A fresh home without mirrors unpacks it.
    let env = Env::new();
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages/profiles/small.rhai");
    // zlib builds with the toolchain (the host's compilers): built first, by its spec.
    let spec = env
        .hit()
        .args(["show", "buildspec", "toolchain", "-p"])
        .arg(&small)
        .output()
        .unwrap();
    std::fs::write(env.path("toolchain.json"), &spec.stdout).unwrap();
    env.build_ok(&env.path("toolchain.json"));
    let output = env
        .hit()
        .args(["bdir", "zlib"])
        .arg(env.path("zlib"))
        .arg("-p")
        .arg(&small)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(env.path("zlib/zlib.h").exists());
    let recipe =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("packages/zlib.rhai"))
            .unwrap();
    assert!(!recipe.contains("url:"), "{recipe}");
}

#[test]
fn every_source_of_the_readme_profile_is_shipped_so_its_first_build_needs_no_network() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let small = repo.join("packages/profiles/small.rhai");
    let env = Env::new();
    for package in ["zlib", "bzip2", "lua", "libpng"] {
        let output = env
            .hit()
            .args(["show", "buildspec", package, "-p"])
            .arg(&small)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        let spec: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        for source in spec["sources"].as_array().unwrap() {
            let key = source["key"].as_str().unwrap();
            let hex = key.strip_prefix("sha256:").unwrap();
            let shipped = repo.join("packages/sources/sha256").join(hex);
            assert!(
                shipped.is_file(),
                "{package}: {key} is not in packages/sources"
            );
            assert_eq!(common::sha256_hex(&shipped), hex, "{package}");
        }
    }
    // A fresh home without mirrors (and this machine without network): lua's sources
    // unpack, from what hit ships (lua builds with the toolchain, built first).
    let toolchain = env
        .hit()
        .args(["show", "buildspec", "toolchain", "-p"])
        .arg(&small)
        .output()
        .unwrap();
    std::fs::write(env.path("toolchain.json"), &toolchain.stdout).unwrap();
    env.build_ok(&env.path("toolchain.json"));
    let output = env
        .hit()
        .args(["bdir", "lua"])
        .arg(env.path("lua"))
        .arg("-p")
        .arg(&small)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(env.path("lua/src/lua.c").exists());
}

/// A profile extends a profile kept in a git repository at a fixed commit: the commit's
/// tree is unpacked into the source cache, its recipes and its own `extends` resolve
/// inside it, and a later commit of the repository changes nothing until the profile
/// names it.
#[test]
fn a_profile_extends_a_profile_kept_in_git() {
    let env = Env::new();
    let repo = env.path("site-profiles");
    std::fs::create_dir_all(repo.join("recipes")).unwrap();
    git(&repo, &["init", "-q"]);
    let recipe = |word: &str| {
        format!(
            r#"recipe(#{{ name: "motd", toolchain: false, stages: [stage("install", [
    "mkdir -p $ARTIFACT/share", "echo {word} > $ARTIFACT/share/motd"])] }})"#
        )
    };
    std::fs::write(repo.join("recipes/motd.rhai"), recipe("from-git")).unwrap();
    std::fs::write(
        repo.join("common.rhai"),
        r#"profile(#{ package_dirs: ["recipes"], packages: ["motd"] })"#,
    )
    .unwrap();
    std::fs::write(
        repo.join("base.rhai"),
        r#"profile(#{ extends: "common.rhai" })"#,
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("recipes/motd.rhai"), recipe("later")).unwrap();
    git(&repo, &["commit", "-qam", "two"]);

    let profile = env.path("mine.rhai");
    let write_profile = |commit: &str, path: &str| {
        std::fs::write(
            &profile,
            format!(
                "profile(#{{\n    extends: [#{{ git: {:?}, commit: {commit:?}, path: {path:?} }}],\n}})\n",
                repo.display().to_string()
            ),
        )
        .unwrap();
    };
    write_profile(&first, "base.rhai");
    env.hit().arg("build").arg(&profile).assert().success();
    assert_eq!(
        std::fs::read_to_string(env.path("mine/share/motd")).unwrap(),
        "from-git\n"
    );
    assert!(
        env.home()
            .join(format!("src/checkouts-v1/{first}/recipes/motd.rhai"))
            .is_file()
    );
    // A no-op the second time (the plan cache trusts the commit's files).
    env.hit()
        .arg("build")
        .arg(&profile)
        .assert()
        .success()
        .stderr(predicate::str::contains("0 built"));

    // Mistakes are errors at the profile.
    write_profile(&first[..12], "base.rhai");
    env.hit()
        .arg("build")
        .arg(&profile)
        .assert()
        .failure()
        .stderr(predicate::str::contains("mine.rhai:2:"))
        .stderr(predicate::str::contains(
            "is not a full git commit (40 hex digits)",
        ));
    write_profile(&first, "../outside.rhai");
    env.hit()
        .arg("build")
        .arg(&profile)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "must be a relative path inside the repository",
        ));
    write_profile(&first, "nope.rhai");
    env.hit()
        .arg("build")
        .arg(&profile)
        .assert()
        .failure()
        .stderr(predicate::str::contains("extends \"nope.rhai\" of"))
        .stderr(predicate::str::contains("which is not a file"));
    write_profile(&"1".repeat(40), "base.rhai");
    env.hit()
        .arg("build")
        .arg(&profile)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "extends \"base.rhai\" of {} at {}",
            repo.display(),
            "1".repeat(40)
        )));
}
