//! Bad input end to end, through the real binary: each gets a clear error naming the
//! package (or the file), and the store stays consistent (`hit verify` passes).
#![allow(clippy::unwrap_used)]
// A test says on stderr what it skipped or what its trials hit.
#![allow(clippy::print_stderr)]

mod common;

use common::{Env, HttpServer, dead_url, mirror_dir, stderr_of, stdout_of};
use std::path::PathBuf;

/// A real tarball that hit does not ship (packages/sources has the README profile's), so
/// only its URL or a mirror has it.
const LZ4: &str = "lz4-1.9.4.tar.gz";

impl Env {
    /// Writes recipes (name, body) and a profile of `packages`; returns the profile.
    fn stack(&self, recipes: &[(&str, &str)], packages: &[&str]) -> PathBuf {
        let dir = self.path("recipes");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in recipes {
            std::fs::write(dir.join(format!("{name}.rhai")), body).unwrap();
        }
        let packages: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
        let profile = self.path("p.rhai");
        std::fs::write(
            &profile,
            format!(
                "profile(#{{ package_dirs: [{:?}], packages: [{}] }})",
                dir.display().to_string(),
                packages.join(", ")
            ),
        )
        .unwrap();
        profile
    }

    /// Builds the profile expecting failure; returns stderr.
    fn build_fails(&self, profile: &PathBuf) -> String {
        let output = self.hit().arg("build").arg(profile).output().unwrap();
        assert!(!output.status.success(), "built: {}", stderr_of(&output));
        let stderr = stderr_of(&output);
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }

    fn assert_consistent(&self) {
        let output = self.hit().arg("verify").output().unwrap();
        assert!(
            output.status.success(),
            "{}{}",
            stdout_of(&output),
            stderr_of(&output)
        );
    }
}

fn shell_recipe(name: &str, deps: &str, commands: &[&str]) -> String {
    let commands: Vec<String> = commands.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "recipe(#{{ name: {name:?}, toolchain: false, deps: [{deps}], stages: [stage(\"install\", [{}])] }})",
        commands.join(", ")
    )
}

fn lz4_sha256() -> String {
    common::mirror_manifest()[LZ4].clone()
}

fn lz4_recipe(url: &str, sha256: &str) -> String {
    format!(
        "recipe(#{{ name: \"lz4\", sources: [#{{ url: {url:?}, sha256: {sha256:?} }}], \
         stages: [stage(\"install\", [\"mkdir -p $ARTIFACT && cp Makefile $ARTIFACT/\"])] }})"
    )
}

#[test]
fn a_source_whose_hash_differs_fails_the_package_and_stores_nothing() {
    let env = Env::new();
    let server = HttpServer::serve(&mirror_dir());
    let wrong = "0".repeat(64);
    let profile = env.stack(
        &[("lz4", &lz4_recipe(&format!("{}/{LZ4}", server.url), &wrong))],
        &["lz4"],
    );
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("lz4")
            && stderr.contains(&lz4_sha256())
            && stderr.contains("nothing was stored"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(env.home().join("src/sha256")).map_or(0, |d| d.count()),
        0
    );
    env.assert_consistent();
}

#[test]
fn an_unreachable_url_falls_back_to_a_mirror_and_without_one_names_every_attempt() {
    let env = Env::new();
    let url = format!("{}/{LZ4}", dead_url());
    let profile = env.stack(&[("lz4", &lz4_recipe(&url, &lz4_sha256()))], &["lz4"]);
    let stderr = env.build_fails(&profile);
    assert!(stderr.contains("lz4") && stderr.contains(&url), "{stderr}");
    // No host answered at all: say what to do without a network.
    assert!(
        stderr.contains("no network? add a mirror: `mirrors:`"),
        "{stderr}"
    );
    env.assert_consistent();

    env.with_mirrors(&[&dead_url(), mirror_dir().to_str().unwrap()]);
    let output = env
        .hit()
        .arg("build")
        .arg(&profile)
        .arg("-v")
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(env.path("p/Makefile").exists());
    // The log says where the source came from.
    assert!(
        stderr.contains(&format!(
            "hit: sha256:{} from mirror {}",
            lz4_sha256(),
            mirror_dir().display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_host_that_answers_gets_no_offline_hint() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("empty")).unwrap();
    let server = HttpServer::serve(&env.path("empty"));
    let url = format!("{}/{LZ4}", server.url);
    let profile = env.stack(&[("lz4", &lz4_recipe(&url, &lz4_sha256()))], &["lz4"]);
    let stderr = env.build_fails(&profile);
    assert!(stderr.contains("HTTP 404"), "{stderr}");
    assert!(!stderr.contains("no network?"), "{stderr}");
}

#[test]
fn a_dependency_cycle_is_named_with_its_path() {
    let env = Env::new();
    let profile = env.stack(
        &[
            ("one", &shell_recipe("one", "\"two\"", &["true"])),
            ("two", &shell_recipe("two", "\"three\"", &["true"])),
            ("three", &shell_recipe("three", "\"one\"", &["true"])),
        ],
        &["one"],
    );
    let stderr = env.build_fails(&profile);
    assert!(stderr.contains("one -> two -> three -> one"), "{stderr}");
}

#[test]
fn a_recipe_that_never_ends_is_stopped_with_its_file_and_line() {
    let env = Env::new();
    let profile = env.stack(
        &[(
            "spin",
            "let n = 0;\nloop { n += 1; }\nrecipe(#{ name: \"spin\" })\n",
        )],
        &["spin"],
    );
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("spin.rhai:2") && stderr.contains("operations"),
        "{stderr}"
    );
}

#[test]
fn dependencies_whose_variables_collide_are_named() {
    let env = Env::new();
    let profile = env.stack(
        &[
            ("a-b", &shell_recipe("a-b", "", &["true"])),
            ("a_b", &shell_recipe("a_b", "", &["true"])),
            ("app", &shell_recipe("app", "\"a-b\", \"a_b\"", &["true"])),
        ],
        &["app"],
    );
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("app.rhai")
            && stderr.contains("\"a-b\" and \"a_b\" both give the variable A_B_DIR"),
        "{stderr}"
    );
}

#[test]
fn a_recipe_cannot_sleep() {
    let env = Env::new();
    let profile = env.stack(
        &[(
            "nap",
            "sleep(9223372036854775807);\nrecipe(#{ name: \"nap\" })\n",
        )],
        &["nap"],
    );
    let started = std::time::Instant::now();
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("nap.rhai:1") && stderr.contains("sleep is not available"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn jobs_beyond_what_a_jobserver_holds_are_refused() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""hello""#);
    let output = env
        .hit()
        .arg("build")
        .arg(&profile)
        .args(["-j", "65536"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("from 1 to 4096"),
        "{}",
        stderr_of(&output)
    );
    env.hit()
        .arg("build")
        .arg(&profile)
        .args(["-j", "4096"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
}

#[test]
fn a_build_that_fills_its_file_size_quota_fails_and_leaves_nothing() {
    let env = Env::new();
    let profile = env.stack(
        &[
            (
                "small",
                &shell_recipe(
                    "small",
                    "",
                    &["mkdir -p $ARTIFACT", "echo ok > $ARTIFACT/ok"],
                ),
            ),
            (
                "filler",
                &shell_recipe(
                    "filler",
                    "",
                    &[
                        "mkdir -p $ARTIFACT",
                        "head -c 4000000 /dev/zero > $ARTIFACT/big",
                    ],
                ),
            ),
        ],
        &["small", "filler"],
    );
    // A quota of 2 MB per file (RLIMIT_FSIZE, as `ulimit -f` sets it), for hit and its builds.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 4000 && exec {} build {}",
            assert_cmd::cargo::cargo_bin("hit").display(),
            profile.display()
        ))
        .env("HIT_HOME", env.home())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("1 package failed: filler"), "{stderr}");
    assert!(
        stderr.contains("build log:") || stderr.contains("log"),
        "{stderr}"
    );
    env.assert_consistent();
    // small was built and stays; filler left no artifact.
    assert!(env.home().join("bld/small").read_dir().unwrap().count() == 1);
    assert!(
        env.home()
            .join("bld/filler")
            .read_dir()
            .map_or(0, |d| d.count())
            == 0
    );
}

#[test]
fn a_build_that_writes_into_another_artifact_fails_and_that_artifact_stays_intact_or_goes() {
    let env = Env::new();
    env.without_sandbox();
    let profile = env.stack(
        &[
            (
                "base",
                &shell_recipe(
                    "base",
                    "",
                    &["mkdir -p $ARTIFACT/lib", "echo good > $ARTIFACT/lib/data"],
                ),
            ),
            (
                "vandal",
                &shell_recipe(
                    "vandal",
                    "\"base\"",
                    &["echo evil > $BASE_DIR/lib/data", "mkdir -p $ARTIFACT"],
                ),
            ),
        ],
        &["vandal"],
    );
    let stderr = env.build_fails(&profile);
    assert!(stderr.contains("1 package failed: vandal"), "{stderr}");
    // As an ordinary user the read-only bits stop the write; as root, hit notices it
    // and takes the changed artifact out of the store.
    assert!(
        stderr.contains("Permission denied")
            || (stderr.contains("the build changed files of base/")
                && stderr.contains("removed from the store")),
        "{stderr}"
    );
    env.assert_consistent();
    for entry in std::fs::read_dir(env.home().join("bld/base")).unwrap() {
        let data = std::fs::read_to_string(entry.unwrap().path().join("lib/data")).unwrap();
        assert_eq!(data, "good\n");
    }
}

#[test]
fn a_variable_too_long_for_exec_is_named_instead_of_argument_list_too_long() {
    let env = Env::new();
    let huge = "-L/x".repeat(35_000);
    let recipe = format!(
        "recipe(#{{ name: \"wide\", toolchain: false, env: #{{ LDFLAGS: \"{huge}\" }}, stages: [stage(\"install\", \"true\")] }})"
    );
    let profile = env.stack(&[("wide", &recipe)], &["wide"]);
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("the variable LDFLAGS is 140009 bytes long")
            && stderr.contains("at most 131072 bytes")
            && stderr.contains("every run-time dependency"),
        "{stderr}"
    );
    assert!(!stderr.contains("Argument list too long"), "{stderr}");
    env.assert_consistent();
}

#[test]
fn an_environment_too_big_for_exec_names_its_biggest_variables() {
    let env = Env::new();
    // Each variable is under the per-string limit; together they pass any stack's limit
    // (Linux allows at most 6 MiB however big the stack).
    let mut commands: Vec<serde_json::Value> = (0..80)
        .map(|i| serde_json::json!({"set": format!("V{i:02}"), "value": "x".repeat(100_000 + i)}))
        .collect();
    commands.push(serde_json::json!({"cmd": ["true"]}));
    let spec = env.spec(
        "big.json",
        &serde_json::json!({"name": "big", "build": {"commands": commands}}),
    );
    let output = env.hit().arg("build").arg(&spec).output().unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("build.commands[80]: the program's arguments and environment")
            && stderr.contains("V79 100084, V78 100083, V77 100082"),
        "{stderr}"
    );
    assert!(!stderr.contains("Argument list too long"), "{stderr}");
    env.assert_consistent();
}

#[test]
fn files_that_are_devices_or_lead_outside_the_recipe_are_refused() {
    let env = Env::new();
    let recipe = "recipe(#{ name: \"z\", toolchain: false, sources: [#{ files: [\"data\"] }], \
                  stages: [stage(\"install\", \"true\")] })";
    let profile = env.stack(&[("z", recipe)], &["z"]);
    let data = env.path("recipes/data");
    std::os::unix::fs::symlink("/dev/zero", &data).unwrap();
    let started = std::time::Instant::now();
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("\"data\"") && stderr.contains("outside"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // A FIFO inside the recipe's directory: not a regular file.
    std::fs::remove_file(&data).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&data)
            .status()
            .unwrap()
            .success()
    );
    let stderr = env.build_fails(&profile);
    assert!(stderr.contains("not a regular file"), "{stderr}");
    // A file outside, by symlink.
    std::fs::remove_file(&data).unwrap();
    std::fs::write(env.path("secret"), "s3cret").unwrap();
    std::os::unix::fs::symlink(env.path("secret"), &data).unwrap();
    let stderr = env.build_fails(&profile);
    assert!(stderr.contains("outside"), "{stderr}");
}

#[test]
fn profiles_extend_only_files_in_directories_the_user_named_and_never_show_others() {
    let env = Env::new();
    let profile = env.path("p.rhai");
    std::fs::write(
        &profile,
        "profile(#{ extends: [\"/etc/passwd\"], packages: [] })",
    )
    .unwrap();
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("outside the directories a profile may extend from"),
        "{stderr}"
    );
    assert!(!stderr.contains("root:"), "{stderr}");
    // A file beside the profile that is not a script: named, its contents not shown.
    std::fs::write(env.path("notes.txt"), "token-8d1f2 is the password\n").unwrap();
    std::fs::write(
        &profile,
        "profile(#{ extends: [\"notes.txt\"], packages: [] })",
    )
    .unwrap();
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("does not parse as a script"),
        "{stderr}"
    );
    assert!(!stderr.contains("token-8d1f2"), "{stderr}");
}

#[test]
fn a_host_file_only_some_users_may_read_is_not_fingerprinted() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let secret = env.path("key");
    std::fs::write(&secret, "private").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let recipe = format!(
        "recipe(#{{ name: \"host-key\", host: #{{ \"etc/key\": {:?} }} }})",
        secret.display().to_string()
    );
    let profile = env.stack(&[("host-key", &recipe)], &["host-key"]);
    let stderr = env.build_fails(&profile);
    assert!(stderr.contains("world-readable build.json"), "{stderr}");
}

#[test]
fn scripts_that_take_too_much_memory_or_time_are_stopped_with_their_file() {
    let env = Env::new();
    // Map keys were not counted by Rhai's size limits: 100,000 keys of 512 KiB each.
    let keys = env.path("keys.rhai");
    std::fs::write(
        &keys,
        "let s = \"x\";\nfor i in 0..19 { s += s; }\nlet m = #{};\n\
         for i in 0..100000 { m[s + i] = 1; }\nprofile(#{ packages: [] })\n",
    )
    .unwrap();
    let stderr = env.build_fails(&keys);
    assert!(
        stderr.contains("keys.rhai:4") && stderr.contains("more than 512 MiB of memory"),
        "{stderr}"
    );
    // Few operations, each O(n): the operation budget alone allowed hours.
    let cpu = env.path("cpu.rhai");
    std::fs::write(
        &cpu,
        "let a = [];\nfor i in 0..99000 { a.push(i); }\n\
         for i in 0..1000000 { let b = a; b.sort(); }\nprofile(#{ packages: [] })\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let stderr = env.build_fails(&cpu);
    assert!(
        stderr.contains("cpu.rhai:3") && stderr.contains("longer than 10 s"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // Parameters nested 8,000 deep overflowed the stack when converted.
    let deep = env.path("deep.rhai");
    std::fs::write(
        &deep,
        "let m = #{};\nfor i in 0..8000 { m = #{ a: m }; }\n\
         profile(#{ packages: [], params: #{ deep: m } })\n",
    )
    .unwrap();
    let stderr = env.build_fails(&deep);
    assert!(stderr.contains("nest more than 32 deep"), "{stderr}");
}

#[test]
fn a_full_disk_while_unpacking_is_not_called_a_corrupt_archive() {
    let env = Env::new();
    let archive = env.path("big.tar.gz");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(
        &archive,
        common::gzip(&common::raw_tar(&[
            common::RawMember::dir("big-1.0/"),
            common::RawMember::file("big-1.0/data", &data),
        ])),
    )
    .unwrap();
    let key = common::stdout_of(&env.hit().arg("fetch").arg(&archive).output().unwrap())
        .trim()
        .to_owned();
    // A file-size quota (RLIMIT_FSIZE) of about 100 KB, with SIGXFSZ ignored so that the
    // write fails with EFBIG, as a full disk or a quota fails it with ENOSPC or EDQUOT.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 200 && exec {} unpack {key} {}",
            assert_cmd::cargo::cargo_bin("hit").display(),
            env.path("out").display()
        ))
        .env("HIT_HOME", env.home())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        !stderr.contains("corrupt") && stderr.contains("unpacking into") && stderr.contains("data"),
        "{stderr}"
    );
}

#[test]
fn a_build_dir_on_another_file_system_is_refused_before_building() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let other = tempfile::tempdir_in("/dev/shm").unwrap();
    let device = |path: &std::path::Path| std::fs::metadata(path).unwrap().dev();
    if device(other.path()) == device(env.dir.path()) {
        eprintln!("skipped: /dev/shm is on the same file system as the temp dir");
        return;
    }
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("config.yaml"),
        format!("build_dir: {}\n", other.path().join("tmp").display()),
    )
    .unwrap();
    let marker = env.path("ran");
    let spec = env.spec(
        "x.json",
        &common::shell_spec("x", &format!("touch {}", marker.display())),
    );
    let output = env.hit().arg("build").arg(&spec).output().unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("on another file system than the store") && stderr.contains("build_dir"),
        "{stderr}"
    );
    assert!(!marker.exists(), "the build ran before the check");
}

#[test]
fn a_home_with_a_space_is_warned_about_when_it_is_made() {
    let env = Env::new();
    let home = env.path("my home");
    let output = env
        .hit()
        .env("HIT_HOME", &home)
        .arg("init-home")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        stderr_of(&output).contains("has a space in its path"),
        "{}",
        stderr_of(&output)
    );
    // Once, not on every command.
    let output = env.hit().env("HIT_HOME", &home).arg("gc").output().unwrap();
    assert!(
        !stderr_of(&output).contains("space"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_same_size_rewrite_of_an_import_with_its_time_put_back_is_caught() {
    let env = Env::new();
    env.without_sandbox();
    let profile = env.stack(
        &[
            (
                "base",
                &shell_recipe(
                    "base",
                    "",
                    &["mkdir -p $ARTIFACT/lib", "echo good > $ARTIFACT/lib/data"],
                ),
            ),
            (
                "sneak",
                &shell_recipe(
                    "sneak",
                    "\"base\"",
                    &[
                        "touch -r $BASE_DIR/lib/data when",
                        "echo evil > $BASE_DIR/lib/data",
                        "touch -r when $BASE_DIR/lib/data",
                        "mkdir -p $ARTIFACT",
                    ],
                ),
            ),
        ],
        &["sneak"],
    );
    let stderr = env.build_fails(&profile);
    assert!(
        stderr.contains("Permission denied") || stderr.contains("the build changed files of base/"),
        "{stderr}"
    );
    env.assert_consistent();
    for entry in std::fs::read_dir(env.home().join("bld/base")).unwrap() {
        let data = std::fs::read_to_string(entry.unwrap().path().join("lib/data")).unwrap();
        assert_eq!(data, "good\n");
    }
}

#[test]
fn a_host_directory_is_fingerprinted_by_its_contents() {
    let env = Env::new();
    let dir = env.path("host-lib");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("libx.so"), "version one\n").unwrap();
    let recipe = format!(
        "recipe(#{{ name: \"host-x\", host: #{{ \"lib/x\": {:?} }} }})",
        dir.display().to_string()
    );
    let profile = env.stack(&[("host-x", &recipe)], &["host-x"]);
    let id = || {
        let output = env
            .hit()
            .args(["hash", "host-x", "-p"])
            .arg(&profile)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        stdout_of(&output)
    };
    let before = id();
    // Same size, time put back: only the contents tell.
    let when = std::fs::metadata(dir.join("libx.so"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::write(dir.join("libx.so"), "version two\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(dir.join("libx.so"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    assert_ne!(before, id());
}

#[test]
fn bad_cpus_or_time_limits_are_named_with_their_recipe() {
    for (field, said) in [
        ("cpus: 0", "`cpus`: 0 is not a number of CPUs (1 to 4096)"),
        ("cpus: 5000", "`cpus`: 5000 is not a number of CPUs"),
        (
            "time: \"two hours\"",
            "`time`: \"two hours\" is not a Slurm time limit",
        ),
    ] {
        let env = Env::new();
        let recipe = format!("recipe(#{{ name: \"big\", toolchain: false, {field}, stages: [] }})");
        let profile = env.stack(&[("big", &recipe)], &["big"]);
        let stderr = env.build_fails(&profile);
        assert!(
            stderr.contains(said) && stderr.contains("big.rhai"),
            "{stderr}"
        );
    }
    // Fine values build, and change no id.
    let env = Env::new();
    let plain = "recipe(#{ name: \"big\", toolchain: false, stages: [] })";
    let asked =
        "recipe(#{ name: \"big\", toolchain: false, cpus: 16, time: \"2:00:00\", stages: [] })";
    let mut ids = Vec::new();
    for recipe in [plain, asked] {
        env.stack(&[("big", recipe)], &["big"]);
        let output = env
            .hit()
            .args(["hash", "big", "-p", "p.rhai"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        ids.push(stdout_of(&output));
    }
    assert_eq!(ids[0], ids[1]);
}
