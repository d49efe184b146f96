//! The parallel scheduler through the binary: concurrency, the shared make jobserver,
//! critical-path order, fail-fast, and the output modes. Builds record start and end times
//! (`date +%s%N`) in a shared log; the tests read what overlapped, not how long it took.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, stderr_of, stdout_of};
use std::path::{Path, PathBuf};

/// Writes recipes `name -> (deps, shell lines)` into a fresh dir; returns a profile path.
fn setup(env: &Env, recipes: &[(&str, &[&str], &str)], packages: &[&str]) -> PathBuf {
    let dir = env.path("recipes");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, deps, run) in recipes {
        let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
        let text = format!(
            "recipe(#{{ name: {name:?}, toolchain: false, deps: [{}], stages: [stage(\"build\", {run:?})] }})",
            deps.join(", ")
        );
        std::fs::write(dir.join(format!("{name}.rhai")), text).unwrap();
    }
    let list: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
    let profile = env.path("p.rhai");
    std::fs::write(
        &profile,
        format!(
            "profile(#{{ package_dirs: [\"recipes\"], packages: [{}] }})",
            list.join(", ")
        ),
    )
    .unwrap();
    profile
}

/// Records build durations (ms by name) as if earlier builds had taken them.
fn seed_durations(env: &Env, durations: &str) {
    env.hit().arg("init-home").assert().success();
    std::fs::write(env.home().join("durations.json"), durations).unwrap();
}

/// A stage that logs `start`/`end` lines with nanosecond times around a sleep.
fn timed(log: &Path, name: &str, seconds: &str) -> String {
    format!(
        "echo \"start {name} $(date +%s%N)\" >> {log}\nsleep {seconds}\necho \"end {name} $(date +%s%N)\" >> {log}",
        log = log.display()
    )
}

/// (event, name, time) lines of a log, in time order.
fn events(log: &Path) -> Vec<(String, String, u128)> {
    let text = std::fs::read_to_string(log).unwrap();
    let mut events: Vec<(String, String, u128)> = text
        .lines()
        .map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            (
                parts[0].to_owned(),
                parts[1].to_owned(),
                parts[2].parse().unwrap(),
            )
        })
        .collect();
    events.sort_by_key(|e| e.2);
    events
}

fn max_concurrency(log: &Path) -> usize {
    let (mut now, mut max) = (0usize, 0usize);
    for (event, _, _) in events(log) {
        if event == "start" {
            now += 1;
            max = max.max(now);
        } else {
            now -= 1;
        }
    }
    max
}

#[test]
fn independent_builds_run_at_once_and_dependants_wait() {
    for jobs in ["1", "2"] {
        let env = Env::new();
        env.without_sandbox();
        let log = env.path("times");
        let (a, b, c) = (
            timed(&log, "a", "0.5"),
            timed(&log, "b", "0.5"),
            timed(&log, "c", "0.1"),
        );
        let profile = setup(
            &env,
            &[("a", &[], &a), ("b", &[], &b), ("c", &["a", "b"], &c)],
            &["c"],
        );
        let output = env
            .hit()
            .arg("build")
            .arg(&profile)
            .args(["-j", jobs])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        assert_eq!(
            max_concurrency(&log),
            jobs.parse::<usize>().unwrap(),
            "-j {jobs}: {:?}",
            events(&log)
        );
        // c starts only after both of its dependencies ended.
        let events = events(&log);
        let c_start = events
            .iter()
            .position(|e| e.0 == "start" && e.1 == "c")
            .unwrap();
        assert_eq!(
            events[..c_start].iter().filter(|e| e.0 == "end").count(),
            2,
            "{events:?}"
        );
    }
}

#[test]
fn all_makes_of_all_builds_share_one_jobserver() {
    let env = Env::new();
    env.without_sandbox();
    let log = env.path("times");
    // Each package runs make with three half-second jobs and no -j of its own.
    let make = |name: &str| {
        format!(
            "for j in 1 2 3; do printf 'j%s:\\n\\t@echo \"start {name}$@ $$(date +%%s%%N)\" >> {log}; sleep 0.5; echo \"end {name}$@ $$(date +%%s%%N)\" >> {log}\\n' $j; done > Makefile\nmake j1 j2 j3",
            log = log.display()
        )
    };
    let (x, y) = (make("x"), make("y"));
    let profile = setup(&env, &[("x", &[], &x), ("y", &[], &y)], &["x", "y"]);
    let output = env
        .hit()
        .arg("build")
        .arg(&profile)
        .args(["-j", "3"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(events(&log).len(), 12);
    // Six make jobs in two builds, but never more than the three tokens at once...
    assert!(max_concurrency(&log) <= 3, "{:?}", events(&log));
    // ...and make did use the extra tokens (it runs jobs in parallel).
    assert!(max_concurrency(&log) >= 2, "{:?}", events(&log));
}

#[test]
fn the_longest_remaining_path_starts_first() {
    let env = Env::new();
    env.without_sandbox();
    let log = env.path("times");
    let (short, long, tail) = (
        timed(&log, "short", "0"),
        timed(&log, "long", "0"),
        timed(&log, "tail", "0"),
    );
    // Listed first and ready at once, `short` would go first on a tie; the recorded
    // durations say `long` heads the longest path (long -> tail: 6 s, short: 5 s). Then
    // `short` (5 s) goes before `tail` (3 s).
    let profile = setup(
        &env,
        &[
            ("short", &[], &short),
            ("long", &[], &long),
            ("tail", &["long"], &tail),
        ],
        &["short", "tail"],
    );
    seed_durations(&env, r#"{"short": 5000, "long": 3000, "tail": 3000}"#);
    let output = env
        .hit()
        .arg("build")
        .arg(&profile)
        .args(["-j", "1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let order: Vec<String> = events(&log)
        .into_iter()
        .filter(|e| e.0 == "start")
        .map(|e| e.1)
        .collect();
    assert_eq!(order, ["long", "short", "tail"]);
    // The durations of this run were recorded.
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.home().join("durations.json")).unwrap())
            .unwrap();
    assert!(recorded["short"].as_u64().unwrap() < 5000, "{recorded}");
}

#[test]
fn fail_fast_starts_nothing_after_a_failure() {
    let env = Env::new();
    let profile = setup(
        &env,
        &[
            ("bad", &[], "exit 3"),
            ("ok1", &[], "true"),
            ("ok2", &[], "true"),
        ],
        &["bad", "ok1", "ok2"],
    );
    seed_durations(&env, r#"{"bad": 9000, "ok1": 10, "ok2": 10}"#);
    let output = env
        .hit()
        .arg("build")
        .arg(&profile)
        .args(["-j", "1", "--fail-fast"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("1 package failed: bad")
            && stderr.contains("not started (--fail-fast): ok1, ok2"),
        "{stderr}"
    );
    // Without it, the others are built.
    let output = env
        .hit()
        .arg("build")
        .arg(&profile)
        .args(["-j", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("2 built, 0 already built"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn json_and_quiet_output() {
    let env = Env::new();
    let profile = setup(
        &env,
        &[
            ("one", &[], "echo noisy"),
            ("two", &["one"], "true"),
            ("bad", &["one"], "exit 1"),
            ("after", &["bad"], "true"),
        ],
        &["two", "after"],
    );
    let output = env
        .hit()
        .arg("build")
        .arg(&profile)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let events: Vec<serde_json::Value> = stdout_of(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "started").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "finished").count(),
        2,
        "{kinds:?}"
    );
    let failed = events.iter().find(|e| e["event"] == "failed").unwrap();
    assert_eq!(failed["name"], "bad");
    assert!(Path::new(failed["log"].as_str().unwrap()).is_file() && failed["log_tail"].is_array());
    // Why, as data: the command's step and exit status, not only prose.
    let cause = &failed["cause"];
    assert_eq!(
        (&cause["kind"], &cause["reason"], &cause["exit_code"]),
        (
            &serde_json::json!("command"),
            &serde_json::json!("failed"),
            &serde_json::json!(1)
        ),
        "{failed}"
    );
    assert!(
        cause["step"]
            .as_str()
            .unwrap()
            .starts_with("build.commands["),
        "{cause}"
    );
    assert!(
        cause["signal"].is_null() && cause["message"].is_string(),
        "{cause}"
    );
    assert!(events.iter().all(|e| e["schema"] == 1), "{events:?}");
    let skipped = events.iter().find(|e| e["event"] == "skipped").unwrap();
    assert_eq!(
        (&skipped["name"], &skipped["because"]),
        (&serde_json::json!("after"), &serde_json::json!("bad"))
    );
    assert_eq!(events.last().unwrap()["event"], "summary");
    assert!(
        events
            .iter()
            .all(|e| e["event"] != "finished" || e["duration_ms"].is_u64())
    );

    let fixed = setup(&env, &[("bad", &[], "true")], &["two", "after"]);
    let output = env
        .hit()
        .arg("build")
        .arg(&fixed)
        .arg("-q")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(stderr_of(&output), "", "-q printed more than errors");
    assert!(
        stdout_of(&output).trim().ends_with(
            &std::fs::read_link(env.path("p"))
                .unwrap()
                .display()
                .to_string()
        )
    );
    let output = env
        .hit()
        .arg("build")
        .arg(&fixed)
        .arg("--json")
        .output()
        .unwrap();
    let last: serde_json::Value =
        serde_json::from_str(stdout_of(&output).lines().last().unwrap()).unwrap();
    assert_eq!(
        (&last["event"], &last["built"], &last["present"]),
        (
            &serde_json::json!("profile"),
            &serde_json::json!(0),
            &serde_json::json!(4)
        )
    );
}

#[test]
fn the_no_op_cache_never_hides_a_change() {
    let env = Env::new();
    let profile = setup(
        &env,
        &[
            ("one", &[], "echo one > $ARTIFACT/one"),
            ("two", &["one"], "true"),
        ],
        &["two"],
    );
    let build = || {
        let output = env.hit().arg("build").arg(&profile).output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        stderr_of(&output)
    };
    assert!(build().contains("(2 built, 0 already built)"));
    assert!(build().contains("(0 built, 2 already built)"));
    let entries = std::fs::read_dir(env.home().join("cache/plans-v2"))
        .unwrap()
        .count();
    assert_eq!(entries, 1);

    // An edited recipe is evaluated again.
    std::fs::write(
        env.path("recipes/one.rhai"),
        r#"recipe(#{ name: "one", toolchain: false, stages: [stage("build", "echo changed > $ARTIFACT/one")] })"#,
    )
    .unwrap();
    assert!(build().contains("(2 built, 0 already built)"));
    assert_eq!(
        std::fs::read_to_string(env.path("p/one")).unwrap(),
        "changed\n"
    );

    // A recipe that appears earlier in the search path (NAME/NAME.rhai is looked up
    // after NAME.rhai, so move `two` there first) takes over.
    std::fs::create_dir_all(env.path("recipes/two")).unwrap();
    std::fs::rename(
        env.path("recipes/two.rhai"),
        env.path("recipes/two/two.rhai"),
    )
    .unwrap();
    assert!(build().contains("(0 built, 2 already built)"));
    std::fs::write(env.path("recipes/two.rhai"), r#"recipe(#{ name: "two", toolchain: false, deps: ["one"], stages: [stage("build", "echo shadow > $ARTIFACT/two")] })"#).unwrap();
    assert!(build().contains("(1 built, 1 already built)"));
    assert_eq!(
        std::fs::read_to_string(env.path("p/two")).unwrap(),
        "shadow\n"
    );

    // A broken cache entry is ignored.
    for entry in std::fs::read_dir(env.home().join("cache/plans-v2")).unwrap() {
        std::fs::write(entry.unwrap().path(), "{broken").unwrap();
    }
    assert!(build().contains("(0 built, 2 already built)"));
}
