//! Profile links over time through the `hit` binary: generations, rollback, `hit cp/mv/rm`,
//! and what gc keeps because of them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, stderr_of, stdout_of};

impl Env {
    /// Runs hit and returns stdout, failing the test with stderr if it fails.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.hit().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "hit {args:?}: {}",
            stderr_of(&output)
        );
        stdout_of(&output)
    }

    /// Runs hit, expects it to fail, and returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.hit().args(args).output().unwrap();
        assert!(
            !output.status.success(),
            "hit {args:?} succeeded: {}",
            stdout_of(&output)
        );
        stderr_of(&output)
    }
}

fn generation_line(listing: &str, number: u32) -> String {
    listing
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{number} ")))
        .unwrap_or_else(|| panic!("no generation {number}:\n{listing}"))
        .to_owned()
}

#[test]
fn builds_make_generations_and_rollback_switches_back() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""hello""#);
    env.ok(&["build", profile.to_str().unwrap()]);
    let first = std::fs::read_link(env.path("p")).unwrap();
    env.fixture_profile(r#""greet""#);
    let output = env.hit().arg("build").arg(&profile).output().unwrap();
    assert!(
        stderr_of(&output).contains("-> ./p (generation 2)"),
        "{}",
        stderr_of(&output)
    );
    let second = std::fs::read_link(env.path("p")).unwrap();
    assert!(env.path("p/bin/greet").exists());

    let listing = env.ok(&["generations", "p"]);
    assert!(
        generation_line(&listing, 1).ends_with("1 package"),
        "{listing}"
    );
    let two = generation_line(&listing, 2);
    assert!(
        two.contains("+greet") && two.ends_with("(current)"),
        "{listing}"
    );
    assert!(two.contains(" UTC "), "a date: {listing}");

    // Back to generation 1: atomically, and without building anything.
    let said = env.ok(&["rollback", "p"]);
    assert!(said.contains("generation 1"), "{said}");
    assert_eq!(std::fs::read_link(env.path("p")).unwrap(), first);
    assert!(!env.path("p/bin/greet").exists() && env.path("p/bin/hello").exists());
    let listing = env.ok(&["generations"]);
    assert!(
        generation_line(&listing, 1).ends_with("(current)"),
        "{listing}"
    );
    let error = env.fails(&["rollback", "p"]);
    assert!(error.contains("no generation before 1"), "{error}");

    // Generation 2 is still a gc root: gc keeps greet.
    let dry = env.ok(&["gc", "--dry-run"]);
    assert!(!dry.contains("would delete greet/"), "{dry}");
    assert!(
        dry.lines()
            .any(|l| l.starts_with("keep greet/") && l.ends_with("p generation 2")),
        "{dry}"
    );

    // Building again after a rollback makes a new generation; --to goes anywhere.
    env.ok(&["build", profile.to_str().unwrap()]);
    assert_eq!(std::fs::read_link(env.path("p")).unwrap(), second);
    let listing = env.ok(&["generations", "p"]);
    assert!(
        generation_line(&listing, 3).ends_with("(current)"),
        "{listing}"
    );
    env.ok(&["rollback", "p", "--to", "1"]);
    assert_eq!(std::fs::read_link(env.path("p")).unwrap(), first);
    env.ok(&["rollback", "--to", "3"]);
    assert_eq!(std::fs::read_link(env.path("p")).unwrap(), second);

    // Dropping generations: never the current one; gc then frees what only they used.
    let error = env.fails(&["generations", "p", "--delete", "3"]);
    assert!(
        error.contains("generation 3 of") && error.contains("current"),
        "{error}"
    );
    let error = env.fails(&["generations", "p", "--delete", "x"]);
    assert!(error.contains("\"x\" is not a generation"), "{error}");
    let said = env.ok(&["generations", "p", "--delete", "old"]);
    assert!(said.contains("dropped generations 1, 2 of p"), "{said}");
    let listing = env.ok(&["generations", "p"]);
    assert_eq!(listing.lines().count(), 2, "{listing}");
    let gc = env.ok(&["gc"]);
    assert!(
        gc.starts_with("deleted 1 artifact,"),
        "generation 1's profile: {gc}"
    );
    assert!(!first.exists() && second.exists());
    let error = env.fails(&["rollback", "p"]);
    assert!(error.contains("no generation before 3"), "{error}");
}

#[test]
fn cp_mv_and_rm_keep_gc_roots_right() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""hello""#);
    env.ok(&["build", profile.to_str().unwrap()]);
    let target = std::fs::read_link(env.path("p")).unwrap();

    env.ok(&["cp", "p", "q"]);
    assert_eq!(std::fs::read_link(env.path("q")).unwrap(), target);
    env.ok(&["mv", "q", "r"]);
    assert!(std::fs::symlink_metadata(env.path("q")).is_err());
    assert_eq!(std::fs::read_link(env.path("r")).unwrap(), target);
    let listing = env.ok(&["generations"]);
    assert!(
        listing.contains("./p\n") && listing.contains("./r\n"),
        "{listing}"
    );
    assert!(!listing.contains("./q"), "{listing}");

    // Only r keeps the profile once p is removed; after r too, gc frees everything.
    let said = env.ok(&["rm", "p"]);
    assert!(said.contains("removed p and its 1 generation"), "{said}");
    assert!(std::fs::symlink_metadata(env.path("p")).is_err());
    assert!(env.ok(&["gc"]).starts_with("deleted 0 artifacts"));
    assert!(env.path("r/bin/hello").exists());
    env.ok(&["rm", "r"]);
    assert!(env.ok(&["gc"]).starts_with("deleted 2 artifacts"));
    assert!(!target.exists());

    // Errors say what is wrong.
    env.ok(&["build", profile.to_str().unwrap()]);
    std::fs::write(env.path("file"), "x").unwrap();
    let error = env.fails(&["cp", "p", "file"]);
    assert!(error.contains("file exists"), "{error}");
    let error = env.fails(&["mv", "nothing", "x"]);
    assert!(
        error.contains("nothing is not a symlink to a profile"),
        "{error}"
    );
    let error = env.fails(&["cp", "file", "x"]);
    assert!(
        error.contains("file is not a symlink to a profile"),
        "{error}"
    );
    let error = env.fails(&["generations", "nothing"]);
    assert!(
        error.contains("nothing is not a profile link hit manages") && error.contains("/p"),
        "{error}"
    );
    env.ok(&["cp", "p", "q"]);
    let error = env.fails(&["mv", "p", "q"]);
    assert!(error.contains("`hit rm` it first"), "{error}");
}

#[test]
fn a_link_moved_by_hand_is_reported_and_cleaned_then_adopted_by_hit_mv() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""hello""#);
    env.ok(&["build", profile.to_str().unwrap()]);
    let target = std::fs::read_link(env.path("p")).unwrap();
    std::fs::rename(env.path("p"), env.path("moved")).unwrap();

    let listing = env.ok(&["generations"]);
    assert!(
        listing.contains("stale: ") && listing.contains("no longer exists"),
        "{listing}"
    );
    let error = env.fails(&["rollback"]);
    assert!(
        error.contains("no profile link in this directory"),
        "{error}"
    );
    // hit mv adopts the hand-moved link: it becomes a root again before gc runs.
    env.ok(&["mv", "moved", "back"]);
    let gc = env.ok(&["gc"]);
    assert!(
        gc.contains("dropped 1 stale root ") && gc.starts_with("deleted 0 artifacts"),
        "{gc}"
    );
    assert!(target.exists());
    assert_eq!(std::fs::read_link(env.path("back")).unwrap(), target);
    let listing = env.ok(&["generations"]);
    assert!(
        !listing.contains("stale") && listing.contains("./back"),
        "{listing}"
    );
}

#[test]
fn links_are_named_however_the_path_is_written_and_a_closed_pipe_is_no_panic() {
    let env = Env::new();
    let profile = env.fixture_profile(r#""hello""#);
    env.ok(&["build", profile.to_str().unwrap()]);
    std::fs::create_dir_all(env.path("sub")).unwrap();
    for link in ["../p", "../sub/../p"] {
        let output = env
            .hit()
            .current_dir(env.path("sub"))
            .args(["generations", link])
            .output()
            .unwrap();
        assert!(output.status.success(), "{link}: {}", stderr_of(&output));
    }
    let output = env.hit().args(["generations", "./p"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));

    // `hit gc --dry-run | head -0`: the reader is gone before hit writes.
    let mut child = env
        .std_hit()
        .args(["gc", "--dry-run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(
        !stderr_of(&output).contains("panicked"),
        "{}",
        stderr_of(&output)
    );
    assert!(
        matches!(output.status.code(), Some(0 | 141)),
        "{:?}",
        output.status
    );
}
