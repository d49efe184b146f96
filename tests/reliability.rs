//! Reliability through the real binary: `kill -9` at random moments of builds, profile
//! switches and gc (seeded trials), and four `hit build` processes with overlapping
//! profiles on one store.
//!
//! After every kill: `hit verify` finds nothing broken (leftovers are allowed), the profile
//! link (if any) points at a complete tree whose every entry resolves, and the next build
//! succeeds. `HIT_KILL_TRIALS` sets the trials per kind (default 8; CI's long step runs
//! the `_long` variant with 60), `HIT_KILL_SEED` the seed (printed with every failure).
#![allow(clippy::unwrap_used)]
// A test says on stderr what it skipped or what its trials hit.
#![allow(clippy::print_stderr)]

mod common;

use common::{Env, stderr_of, stdout_of};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// xorshift64*: reproducible from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Packages and their deps: a small diamond with a tail, so builds overlap under -j2.
const PACKAGES: [(&str, &[&str]); 6] = [
    ("a", &[]),
    ("b", &["a"]),
    ("c", &["a"]),
    ("d", &["b", "c"]),
    ("e", &[]),
    ("f", &["d", "e"]),
];

/// Writes one recipe per package. Each build writes 40 files, sleeps a little, installs
/// `bin/<name>`, and appends its name to `counts/<name>` (outside the store), so tests can
/// count builds. The `salt` parameter changes every hash.
fn write_recipes(env: &Env) -> PathBuf {
    let dir = env.path("recipes");
    std::fs::create_dir_all(&dir).unwrap();
    let counts = env.path("counts");
    std::fs::create_dir_all(&counts).unwrap();
    for (name, deps) in PACKAGES {
        let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
        let recipe = format!(
            r#"let salt = param("salt", 0, "changes every id");
recipe(#{{
    name: "{name}",
    toolchain: false,
    version: "1",
    deps: [{deps}],
    stages: [stage("install", [
        `echo salt ${{salt}}`,
        "mkdir -p $ARTIFACT/bin $ARTIFACT/share/{name}",
        "for i in $(seq 40); do echo $i > $ARTIFACT/share/{name}/f$i; done",
        "sleep 0.03",
        "printf '#!/bin/sh\\necho {name}\\n' > $ARTIFACT/bin/{name}",
        "chmod +x $ARTIFACT/bin/{name}",
        "echo {name} >> {counts}/{name}",
    ])],
}})
"#,
            deps = deps.join(", "),
            counts = counts.display()
        );
        std::fs::write(dir.join(format!("{name}.rhai")), recipe).unwrap();
    }
    dir
}

fn write_profile(env: &Env, file: &str, packages: &[&str]) -> PathBuf {
    let recipes = write_recipes(env);
    let packages: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
    let path = env.path(file);
    std::fs::write(
        &path,
        format!(
            "profile(#{{ package_dirs: [{:?}], packages: [{}] }})",
            recipes.display().to_string(),
            packages.join(", ")
        ),
    )
    .unwrap();
    path
}

fn trials() -> u64 {
    std::env::var("HIT_KILL_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(8)
}

fn seed() -> u64 {
    std::env::var("HIT_KILL_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eed_1234)
}

/// Starts hit with `args` in a process group of its own, its output discarded.
fn spawn_in_group<S: AsRef<std::ffi::OsStr>>(env: &Env, args: &[S]) -> std::process::Child {
    env.std_hit()
        .args(args)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills the child's whole process group with SIGKILL and reaps the child.
fn kill_group(mut child: std::process::Child) {
    let group = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    // The group may be gone already; then there is nothing to kill.
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    child.wait().unwrap();
}

/// Starts hit in a process group of its own, waits `delay`, and kills the whole group with
/// SIGKILL. Returns whether it was still running (so the kill interrupted it).
fn kill_after(env: &Env, args: &[String], delay: Duration) -> bool {
    let mut child = spawn_in_group(env, args);
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    kill_group(child);
    running
}

/// The invariants that must hold after any kill.
fn check_consistent(env: &Env, context: &str) {
    let output = env.hit().arg("verify").output().unwrap();
    assert!(
        output.status.success(),
        "{context}: hit verify: {}{}",
        stdout_of(&output),
        stderr_of(&output)
    );
    let link = env.path("p");
    let Ok(target) = std::fs::read_link(&link) else {
        return;
    };
    assert!(
        target.join(".hit/artifact.json").is_file(),
        "{context}: ./p points at {}, not a complete profile",
        target.display()
    );
    let mut stack = vec![target];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{context}: {} dangles: {e}", path.display()));
            if meta.is_dir() && !std::fs::symlink_metadata(&path).unwrap().is_symlink() {
                stack.push(path);
            }
        }
    }
}

fn build_to_completion(env: &Env, profile: &Path, salt: u64, context: &str) {
    let output = env
        .hit()
        .arg("build")
        .arg(profile)
        .arg(format!("salt={salt}"))
        .args(["-j2", "-q"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{context}: the next build failed: {}",
        stderr_of(&output)
    );
    let said = std::process::Command::new(env.path("p/bin/f"))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&said), "f\n", "{context}");
}

fn kill_trials(trials: u64) {
    let seed = seed();
    let mut rng = Rng(seed | 1);
    let env = Env::new();
    env.without_sandbox();
    let profile = write_profile(&env, "p.rhai", &["f"]);
    let build_args = |salt: u64| -> Vec<String> {
        vec![
            "build".into(),
            profile.display().to_string(),
            format!("salt={salt}"),
            "-j2".into(),
        ]
    };
    let mut interrupted = BTreeMap::from([("build", 0), ("switch", 0), ("gc", 0)]);

    // Builds, killed anywhere from startup to the last package.
    for trial in 0..trials {
        // A new salt every time, so there is work to interrupt.
        let salt = 100 + trial;
        let delay = Duration::from_millis(rng.below(350));
        let context =
            format!("seed {seed}, build trial {trial} (salt {salt}, kill after {delay:?})");
        if kill_after(&env, &build_args(salt), delay) {
            *interrupted.get_mut("build").unwrap() += 1;
        }
        check_consistent(&env, &context);
        build_to_completion(&env, &profile, salt, &context);
    }

    // Switches: rollbacks and no-op rebuilds that only relink, killed within milliseconds.
    for salt in 0..4 {
        build_to_completion(&env, &profile, salt, "building every salt");
    }
    for trial in 0..trials {
        let args: Vec<String> = if rng.below(2) == 0 {
            vec!["rollback".into(), "p".into()]
        } else {
            build_args(rng.below(4))
        };
        let delay = Duration::from_micros(rng.below(8_000));
        let context = format!("seed {seed}, switch trial {trial} ({args:?}, kill after {delay:?})");
        if kill_after(&env, &args, delay) {
            *interrupted.get_mut("switch").unwrap() += 1;
        }
        check_consistent(&env, &context);
    }

    // gc with garbage to delete: a new salt's build, older generations dropped. Kills land
    // within the time one such gc takes here, measured first.
    let make_garbage = |salt: u64| {
        build_to_completion(&env, &profile, salt, "making garbage");
        let output = env
            .hit()
            .args(["generations", "p", "--delete", "old"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
    };
    make_garbage(7);
    assert!(env.hit().arg("gc").output().unwrap().status.success());
    make_garbage(8);
    let started = std::time::Instant::now();
    assert!(env.hit().arg("gc").output().unwrap().status.success());
    let gc_micros = u64::try_from(started.elapsed().as_micros())
        .unwrap()
        .max(1_000);
    for trial in 0..trials {
        let salt = 4 + trial % 3;
        make_garbage(salt);
        let delay = Duration::from_micros(rng.below(gc_micros));
        let context = format!("seed {seed}, gc trial {trial} (kill after {delay:?})");
        if kill_after(&env, &["gc".into()], delay) {
            *interrupted.get_mut("gc").unwrap() += 1;
        }
        check_consistent(&env, &context);
        build_to_completion(&env, &profile, salt, &context);
        let output = env.hit().arg("gc").output().unwrap();
        assert!(
            output.status.success(),
            "{context}: gc after the kill: {}",
            stderr_of(&output)
        );
        check_consistent(&env, &context);
    }
    eprintln!("seed {seed}: kills that landed mid-run: {interrupted:?} of {trials} each");
    // The trials must actually have interrupted work, or they proved nothing.
    for (kind, count) in interrupted {
        assert!(
            count * 3 >= trials,
            "seed {seed}: only {count} of {trials} {kind} kills landed mid-run"
        );
    }
}

#[test]
fn kill_9_at_random_moments_of_build_switch_and_gc_leaves_a_consistent_store() {
    kill_trials(trials());
}

#[test]
#[ignore = "long: CI runs it as its own step"]
fn kill_9_trials_long() {
    kill_trials(
        std::env::var("HIT_KILL_TRIALS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(60),
    );
}

#[test]
fn four_processes_with_overlapping_profiles_build_every_artifact_once() {
    let env = Env::new();
    env.without_sandbox();
    let profiles = [
        write_profile(&env, "one.rhai", &["b", "c"]),
        write_profile(&env, "two.rhai", &["d"]),
        write_profile(&env, "three.rhai", &["c", "e"]),
        write_profile(&env, "four.rhai", &["f"]),
    ];
    let children: Vec<_> = profiles
        .iter()
        .map(|profile| {
            env.std_hit()
                .arg("build")
                .arg(profile)
                .args(["-j2", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut finished: BTreeMap<String, usize> = BTreeMap::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        for line in stdout_of(&output).lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            if event["event"] == "finished" {
                *finished
                    .entry(event["name"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    // Every package was built exactly once: by the events, and by the builds themselves.
    let names: Vec<&str> = PACKAGES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        finished.keys().map(String::as_str).collect::<Vec<_>>(),
        names
    );
    assert!(finished.values().all(|&n| n == 1), "{finished:?}");
    for name in names {
        let count = std::fs::read_to_string(env.path("counts").join(name)).unwrap();
        assert_eq!(
            count,
            format!("{name}\n"),
            "{name} was built {} times",
            count.lines().count()
        );
    }
    for link in ["one", "two", "three", "four"] {
        assert!(env.path(link).join(".hit/artifact.json").exists(), "{link}");
    }
    assert!(env.hit().arg("verify").output().unwrap().status.success());
}

#[test]
fn gc_waits_for_a_running_build_and_keeps_what_it_uses() {
    let env = Env::new();
    env.without_sandbox();
    let recipes = env.path("gc-recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    let (started, release) = (env.path("started"), env.path("release"));
    std::fs::write(&release, "").unwrap();
    std::fs::write(
        recipes.join("lib.rhai"),
        r#"recipe(#{ name: "lib", toolchain: false, stages: [stage("install", ["mkdir -p $ARTIFACT/lib", "echo v1 > $ARTIFACT/lib/data"])] })"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("app.rhai"),
        format!(
            r#"recipe(#{{ name: "app", toolchain: false, deps: ["lib"], stages: [stage("install", [
                "touch {started}",
                "while [ -e {release} ]; do sleep 0.05; done",
                "mkdir -p $ARTIFACT && cp $LIB_DIR/lib/data $ARTIFACT/copied",
            ])] }})"#,
            started = started.display(),
            release = release.display()
        ),
    )
    .unwrap();
    let profile = env.path("app.rhai");
    std::fs::write(
        &profile,
        format!(
            "profile(#{{ package_dirs: [{:?}], packages: [\"app\"] }})",
            recipes.display().to_string()
        ),
    )
    .unwrap();
    // lib is built, app is building: nothing roots lib yet but the running build.
    let build = env
        .std_hit()
        .arg("build")
        .arg(&profile)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_for(&started, "app's build starting");
    let mut gc = env
        .std_hit()
        .arg("gc")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        gc.try_wait().unwrap().is_none(),
        "gc ran while a build was running"
    );
    std::fs::remove_file(&release).unwrap();
    let built = build.wait_with_output().unwrap();
    assert!(built.status.success(), "{}", stderr_of(&built));
    let gc = gc.wait_with_output().unwrap();
    assert!(gc.status.success());
    assert!(
        stdout_of(&gc).starts_with("deleted 0 artifacts"),
        "{}",
        stdout_of(&gc)
    );
    assert_eq!(
        std::fs::read_to_string(env.path("app/copied")).unwrap(),
        "v1\n"
    );
    assert!(env.path("app/lib/data").exists());
}

/// Serves the files under `root` over HTTP on 127.0.0.1, archives (`.tar.zst`) slowly: 64 KiB
/// every 20 ms, so that a pull is still downloading when it is killed.
fn serve_slowly(root: &Path) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let Ok(body) = std::fs::read(root.join(path.trim_start_matches('/'))) else {
                    let _ =
                        stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                };
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes());
                let slow = path.ends_with(".tar.zst");
                for chunk in body.chunks(if slow { 64 << 10 } else { body.len().max(1) }) {
                    if stream.write_all(chunk).is_err() {
                        return;
                    }
                    if slow {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            });
        }
    });
    url
}

/// Starts `hit pull`, waits until `landed` says the pull reached the moment to kill, and
/// kills it with SIGKILL. Returns whether the kill landed there (the pull still running).
fn kill_pull_when(env: &Env, args: &[&str], landed: impl Fn() -> bool) -> bool {
    let mut child = spawn_in_group(env, args);
    let started = std::time::Instant::now();
    let mut hit = false;
    while started.elapsed() < Duration::from_secs(60) {
        if landed() {
            hit = child.try_wait().unwrap().is_none();
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    kill_group(child);
    hit
}

/// Whether a file or directory whose name starts with `prefix` is in `dir`.
fn has_entry(dir: &Path, prefix: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
    })
}

#[test]
fn a_pull_killed_mid_download_or_mid_unpack_leaves_no_artifact_and_the_next_pull_works() {
    let one = Env::new();
    let recipes = one.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    // Many small files (a long unpack) and 3 MB that do not compress (a long download).
    std::fs::write(
        recipes.join("big.rhai"),
        r#"recipe(#{ name: "big", toolchain: false, stages: [stage("install", [
    "mkdir -p $ARTIFACT/share/many",
    "i=0; while [ $i -lt 3000 ]; do echo $i > $ARTIFACT/share/many/$i; i=$((i+1)); done",
    "head -c 3000000 /dev/urandom > $ARTIFACT/share/noise",
])] })"#,
    )
    .unwrap();
    std::fs::write(
        one.path("p.rhai"),
        r#"profile(#{ package_dirs: ["recipes"], packages: ["big"] })"#,
    )
    .unwrap();
    std::fs::create_dir_all(one.home()).unwrap();
    std::fs::write(
        one.home().join("config.yaml"),
        "sync: none\nsigning_key: keys/k-1.secret\n",
    )
    .unwrap();
    let output = one.hit().args(["build", "-q", "p.rhai"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let public = stdout_of(&one.hit().args(["key", "generate", "k-1"]).output().unwrap());
    let cache = one.path("cache");
    let output = one
        .hit()
        .arg("push")
        .arg(&cache)
        .arg("./p")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let id = stdout_of(
        &one.hit()
            .args(["hash", "big", "-p", "p.rhai"])
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned();
    let hash = id.split('/').nth(1).unwrap().to_owned();

    let two = Env::new();
    std::fs::create_dir_all(two.home()).unwrap();
    std::fs::write(
        two.home().join("config.yaml"),
        format!("sync: none\ntrusted_keys: [\"{}\"]\n", public.trim()),
    )
    .unwrap();
    let work = two.home().join(format!("tmp/big-{hash}"));
    let store = two.home().join("bld/big");
    let no_artifact = |context: &str| {
        let artifacts: Vec<_> = std::fs::read_dir(&store)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_type().unwrap().is_dir())
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        assert!(artifacts.is_empty(), "{context}: {artifacts:?}");
        let output = two.hit().arg("verify").output().unwrap();
        assert!(output.status.success(), "{context}: {}", stdout_of(&output));
    };

    let slow = serve_slowly(&cache);
    assert!(
        kill_pull_when(&two, &["pull", &slow, &id], || has_entry(
            &work,
            "download-"
        )),
        "the pull was not killed while it downloaded"
    );
    no_artifact("killed mid-download");
    let unpacking = work.join("stage");
    let mut landed = false;
    for _ in 0..5 {
        let cache = cache.display().to_string();
        if kill_pull_when(&two, &["pull", &cache, &id], || {
            has_entry(&unpacking, ".hit-unpack-")
        }) {
            landed = true;
            break;
        }
        // It finished before the unpack was seen: take it out and try again.
        let output = two.hit().args(["purge", &id, "--force"]).output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
    }
    assert!(landed, "no pull was killed while it unpacked");
    no_artifact("killed mid-unpack");

    let output = two.hit().arg("pull").arg(&cache).arg(&id).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let output = two.hit().arg("verify").output().unwrap();
    assert!(
        stdout_of(&output).contains("0 broken, 0 leftovers"),
        "{}",
        stdout_of(&output)
    );
    assert_eq!(
        std::fs::read_to_string(
            store
                .read_dir()
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
                .join("share/many/2999")
        )
        .unwrap(),
        "2999\n"
    );
}
