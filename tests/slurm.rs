//! `hit build --executor slurm` against a real Slurm (`.ci/slurm` starts a one-node one as
//! root; .ci/run runs these as their own step). Where no Slurm answers, each test says so
//! and returns, or fails under HIT_TEST_REQUIRE_TOOLS.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::{Env, HttpServer, hashed_mirror, stderr_of, stdout_of};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether a Slurm controller answers and has a node up.
fn slurm_up() -> bool {
    let up = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|output| {
            let states = stdout_of(&output);
            ["idle", "mixed", "allocated"]
                .iter()
                .any(|state| states.contains(state))
        });
    up || !common::missing("Slurm (run .ci/slurm as root to start a one-node one)")
}

/// Six trivial packages: a diamond (a <- b, c <- d <- e) and one on its own (f), which
/// asks for 2 CPUs and a 7-minute time limit. `prefix` makes the names (and so the job
/// names) this test's own.
fn six(env: &Env, prefix: &str, extra: &str) -> PathBuf {
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    let deps = [
        ("a", vec![]),
        ("b", vec!["a"]),
        ("c", vec!["a"]),
        ("d", vec!["b", "c"]),
        ("e", vec!["d"]),
        ("f", vec![]),
    ];
    for (name, needs) in deps {
        let needs: Vec<String> = needs.iter().map(|n| format!("\"{prefix}{n}\"")).collect();
        let asks = if name == "f" {
            "cpus: 2, time: \"7\", "
        } else {
            ""
        };
        std::fs::write(
            recipes.join(format!("{prefix}{name}.rhai")),
            format!(
                "recipe(#{{ name: \"{prefix}{name}\", toolchain: false, {asks}deps: [{}],\n    stages: [stage(\"install\", [\"mkdir -p $ARTIFACT/share\", \"echo {name} > $ARTIFACT/share/{name}\"{extra}])] }})",
                needs.join(", ")
            ),
        )
        .unwrap();
    }
    let profile = env.path("six.rhai");
    std::fs::write(
        &profile,
        format!(
            "profile(#{{ package_dirs: [\"recipes\"], packages: [\"{prefix}e\", \"{prefix}f\"] }})"
        ),
    )
    .unwrap();
    profile
}

/// The jobs Slurm finished since `after` (its jobcomp log): (job id, name, state).
fn jobs_since(after: u64) -> Vec<(u64, String, String)> {
    let log = std::fs::read_to_string("/var/log/slurm/jobcomp.log").unwrap_or_default();
    log.lines()
        .filter_map(|line| {
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|word| word.strip_prefix(key))
                    .map(str::to_owned)
            };
            let id: u64 = field("JobId=")?.parse().ok()?;
            if id <= after {
                return None;
            }
            Some((id, field("Name=")?, field("JobState=")?))
        })
        .collect()
}

fn last_job() -> u64 {
    jobs_since(0).iter().map(|(id, ..)| *id).max().unwrap_or(0)
}

/// A unique prefix per test and run, so job names in Slurm's log are this test's.
fn prefix(test: &str) -> String {
    format!(
        "{test}{}x",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 1_000_000
    )
}

fn waited_jobs(after: u64, count: usize) -> Vec<(u64, String, String)> {
    // jobcomp is written when Slurm has cleaned a job up, a moment after sbatch returns.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = jobs_since(after);
        if jobs.len() >= count || std::time::Instant::now() > deadline {
            return jobs;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs Slurm: .ci/run starts it and runs these"]
fn six_packages_one_batch_job_each_with_the_ids_of_a_local_build() {
    if !slurm_up() {
        return;
    }
    let env = Env::new();
    let prefix = prefix("six");
    let profile = six(&env, &prefix, "");
    let before = last_job();
    let output = env
        .hit()
        .args(["build", "--executor", "slurm", "-j1"])
        .arg(&profile)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("(6 built, 0 already built)"), "{stderr}");
    assert_eq!(stderr.matches("to Slurm (").count(), 6, "{stderr}");
    let mut names: Vec<String> = waited_jobs(before, 6)
        .into_iter()
        .filter(|(_, name, state)| {
            name.starts_with(&format!("hit:{prefix}")) && state == "COMPLETED"
        })
        .map(|(_, name, _)| name)
        .collect();
    names.sort();
    let expected: Vec<String> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|n| format!("hit:{prefix}{n}"))
        .collect();
    assert_eq!(names, expected);
    // f asked for its own CPUs and time limit; the others got -j 1 and no limit.
    let line = |name: &str| {
        std::fs::read_to_string("/var/log/slurm/jobcomp.log")
            .unwrap()
            .lines()
            .rev()
            .find(|line| line.contains(&format!(" Name=hit:{prefix}{name} ")))
            .unwrap()
            .to_owned()
    };
    assert!(
        line("f").contains(" ProcCnt=2 ") && line("f").contains(" TimeLimit=7 "),
        "{}",
        line("f")
    );
    assert!(line("a").contains(" ProcCnt=1 "), "{}", line("a"));

    // The same profile built here has the same profile artifact.
    let local = Env::new();
    let local_profile = six(&local, &prefix, "");
    let output = local
        .hit()
        .arg("build")
        .arg(&local_profile)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let id = |env: &Env| {
        std::fs::read_link(env.path("six"))
            .unwrap()
            .file_name()
            .unwrap()
            .to_owned()
    };
    assert_eq!(id(&env), id(&local));
    assert_eq!(
        std::fs::read_to_string(env.path("six/share/d")).unwrap(),
        "d\n"
    );
}

#[test]
#[ignore = "needs Slurm: .ci/run starts it and runs these"]
fn inside_an_allocation_each_build_is_a_job_step() {
    if !slurm_up() {
        return;
    }
    let env = Env::new();
    let prefix = prefix("steps");
    let profile = six(&env, &prefix, "");
    let before = last_job();
    let hit = assert_cmd::cargo::cargo_bin("hit");
    let output = std::process::Command::new("salloc")
        .args(["-N1", "-n2", "-J", "hit-test-allocation"])
        .arg(&hit)
        .args(["build", "--executor", "slurm", "-j1"])
        .arg(&profile)
        .env("HIT_HOME", env.home())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("(6 built, 0 already built)"), "{stderr}");
    // Steps `<allocation>.<n>`, and no job of this test's packages: only the allocation.
    let steps = stderr
        .lines()
        .filter(|line| line.contains("to Slurm (") && line.trim_end().ends_with(')'))
        .filter(|line| line.rsplit('(').next().is_some_and(|job| job.contains('.')))
        .count();
    assert_eq!(steps, 6, "{stderr}");
    let jobs = waited_jobs(before, 1);
    assert!(
        jobs.iter()
            .any(|(_, name, _)| name == "hit-test-allocation"),
        "{jobs:?}"
    );
    assert!(
        !jobs.iter().any(|(_, name, _)| name.contains(&prefix)),
        "{jobs:?}"
    );
}

#[test]
#[ignore = "needs Slurm: .ci/run starts it and runs these"]
fn a_failing_package_shows_its_log_tail_its_dependants_are_skipped_the_rest_built() {
    if !slurm_up() {
        return;
    }
    let env = Env::new();
    let prefix = prefix("fail");
    let profile = six(&env, &prefix, "");
    // c fails.
    let c = env.path("recipes").join(format!("{prefix}c.rhai"));
    let text = std::fs::read_to_string(&c).unwrap();
    std::fs::write(
        &c,
        text.replace("\"mkdir -p", "\"echo going wrong; exit 7\", \"mkdir -p"),
    )
    .unwrap();
    let output = env
        .hit()
        .args(["build", "--executor", "slurm", "-j1"])
        .arg(&profile)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("build of {prefix}c/"))
            && stderr.contains("on Slurm job ")
            && stderr.contains("  | going wrong"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("skipped because of that: {prefix}d, {prefix}e"))
            || stderr.contains(&format!("skipped because of that: {prefix}e, {prefix}d")),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 built, 0 already built"),
        "a, b and f: {stderr}"
    );
}

#[test]
#[ignore = "needs Slurm: .ci/run starts it and runs these"]
fn a_build_past_its_slurm_time_limit_is_reported_as_killed_and_retried() {
    if !slurm_up() {
        return;
    }
    let env = Env::new();
    env.hit().arg("init-home").assert().success();
    let config = env.home().join("config.yaml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\nslurm:\n  time: \"1\"\n");
    std::fs::write(&config, text).unwrap();
    let recipes = env.path("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    let name = prefix("slow");
    std::fs::write(
        recipes.join(format!("{name}.rhai")),
        format!("recipe(#{{ name: \"{name}\", toolchain: false, stages: [stage(\"install\", \"sleep 600\")] }})"),
    )
    .unwrap();
    std::fs::write(
        env.path("p.rhai"),
        format!("profile(#{{ package_dirs: [\"recipes\"], packages: [\"{name}\"] }})"),
    )
    .unwrap();
    let output = env
        .hit()
        .args([
            "build",
            "--executor",
            "slurm",
            "-j1",
            "--retries",
            "1",
            "p.rhai",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was killed by Slurm (time limit); building")
            && stderr.contains("again (retry 1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("was killed by Slurm (time limit); --retries N runs such a build again"),
        "{stderr}"
    );
    let output = env.hit().arg("verify").output().unwrap();
    assert!(output.status.success(), "{}", stdout_of(&output));
}

#[test]
#[ignore = "needs Slurm: .ci/run starts it and runs these"]
fn sigterm_to_hit_cancels_its_jobs_and_the_next_build_finishes() {
    if !slurm_up() {
        return;
    }
    let env = Env::new();
    let prefix = prefix("term");
    let profile = six(&env, &prefix, ", \"sleep 600\"");
    let mut hit = env
        .std_hit()
        .args(["build", "--executor", "slurm", "-j1"])
        .arg(&profile)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until its jobs are in Slurm's queue: running, or pending while the other tests'
    // jobs hold the node's CPUs (they run at once, and one of them holds a CPU for minutes).
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while queue(&prefix).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no job of hit ever reached Slurm's queue"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = rustix::process::Pid::from_raw(hit.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = hit.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !queue(&prefix).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "jobs of the stopped hit are still queued: {}",
            queue(&prefix)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = env.hit().arg("verify").output().unwrap();
    assert!(output.status.success(), "{}", stdout_of(&output));
    // Without the long sleep, the next build finishes.
    for recipe in std::fs::read_dir(env.path("recipes")).unwrap() {
        let path = recipe.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(", \"sleep 600\"", "")).unwrap();
    }
    let output = env
        .hit()
        .args(["build", "--executor", "slurm", "-j1"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
}

/// This test's jobs in Slurm's queue, with their states.
fn queue(prefix: &str) -> String {
    let output = std::process::Command::new("squeue")
        .args(["-h", "-o", "%j %T"])
        .output()
        .unwrap();
    stdout_of(&output)
        .lines()
        .filter(|line| line.contains(prefix))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[ignore = "needs Slurm: .ci/run starts it and runs these"]
fn two_hits_with_overlapping_profiles_build_each_id_once() {
    if !slurm_up() {
        return;
    }
    let env = Env::new();
    let prefix = prefix("two");
    let profile = six(&env, &prefix, "");
    let other = env.path("other.rhai");
    std::fs::write(
        &other,
        format!(
            "profile(#{{ package_dirs: [\"recipes\"], packages: [\"{prefix}d\", \"{prefix}f\"] }})"
        ),
    )
    .unwrap();
    let start = |profile: &Path| {
        env.std_hit()
            .args(["build", "--executor", "slurm", "-j1"])
            .arg(profile)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (start(&profile), start(&other));
    for child in [one, two] {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
    }
    // Every artifact once in the store; each built by one job (the other saw it present).
    for name in ["a", "b", "c", "d", "e", "f"] {
        let dir = env.home().join("bld").join(format!("{prefix}{name}"));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "{name}");
        let log = std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join(".hit/build.log");
        assert_eq!(
            std::fs::read_to_string(log)
                .unwrap()
                .matches("hit: building ")
                .count(),
            1
        );
    }
    let output = env.hit().arg("verify").output().unwrap();
    assert!(output.status.success(), "{}", stdout_of(&output));
}

#[test]
#[ignore = "needs Slurm and the mirror: .ci/run runs it"]
fn the_small_real_stack_through_slurm() {
    if !slurm_up() {
        return;
    }
    let env = Env::new();
    let mirror = HttpServer::serve(&hashed_mirror(&env.path("mirror")));
    env.with_mirrors(&[&mirror.url]);
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages/profiles/small.rhai");
    let output = env
        .hit()
        .args(["build", "--executor", "slurm", "-j2"])
        .arg(&profile)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("0 already built)"), "{stderr}");
    let lua = std::process::Command::new(env.path("small/bin/lua"))
        .args(["-e", "print(6 * 7)"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&lua), "42\n");
}
