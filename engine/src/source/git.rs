//! Git sources, through the `git` command: one bare repository per project under
//! `<source cache>/git/<project>.git`, fetched by commit, each fetched commit kept alive
//! by a `refs/hit/<commit>` ref. Unpacking pipes `git archive` into the tar unpacker.

use super::SourceError;
use super::unpack::{Limits, unpack_tar};
use crate::spec::Strip;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository name for a URL: its last path segment without `.git`.
pub(crate) fn project_name(url: &str) -> String {
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo");
    let last = last.strip_suffix(".git").unwrap_or(last);
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        format!("repo{name}")
    } else {
        name
    }
}

/// Whether a URL names a git repository rather than an archive.
pub fn looks_like_git(url: &str) -> bool {
    url.ends_with(".git")
        || url.ends_with(".git/")
        || url.starts_with("git://")
        || url.starts_with("git@")
}

fn git(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(repo)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    command
}

fn run(mut command: Command, what: &str) -> Result<String, SourceError> {
    let output = command
        .output()
        .map_err(|error| SourceError::Git(format!("{what}: cannot run git: {error}")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(SourceError::Git(format!(
            "{what}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

fn has_commit(repo: &Path, commit: &str) -> bool {
    repo.is_dir()
        && git(repo)
            .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

/// The bare repository for `url`, created if missing, and the lock file guarding it.
fn open_repo(git_dir: &Path, url: &str) -> Result<(PathBuf, File), SourceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::Io { path, source }
    };
    std::fs::create_dir_all(git_dir).map_err(io(git_dir))?;
    let name = project_name(url);
    let lock_path = git_dir.join(format!("{name}.lock"));
    let lock = File::create(&lock_path).map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let repo = git_dir.join(format!("{name}.git"));
    if !repo.join("HEAD").exists() {
        run(
            {
                let mut command = Command::new("git");
                command.args(["init", "--bare", "-q"]).arg(&repo);
                command
            },
            &format!("git init {}", repo.display()),
        )?;
    }
    Ok((repo, lock))
}

fn keep(repo: &Path, commit: &str) -> Result<(), SourceError> {
    let mut command = git(repo);
    command.args(["update-ref", &format!("refs/hit/{commit}"), commit]);
    run(command, "git update-ref").map(drop)
}

/// Makes sure `commit` from `url` is in the cache.
pub(crate) fn fetch_commit(git_dir: &Path, url: &str, commit: &str) -> Result<(), SourceError> {
    let (repo, _lock) = open_repo(git_dir, url)?;
    if has_commit(&repo, commit) {
        return keep(&repo, commit);
    }
    // Most servers serve a commit by hash; otherwise fetch all branches and tags.
    let mut by_hash = git(&repo);
    by_hash.args(["fetch", "-q", "--no-tags", url, commit]);
    if run(by_hash, "git fetch").is_err() || !has_commit(&repo, commit) {
        let mut everything = git(&repo);
        everything.args([
            "fetch",
            "-q",
            url,
            "+refs/heads/*:refs/remotes/hit/*",
            "+refs/tags/*:refs/tags/*",
        ]);
        run(everything, &format!("git fetch {url}"))?;
    }
    if !has_commit(&repo, commit) {
        return Err(SourceError::Git(format!("{url} has no commit {commit}")));
    }
    keep(&repo, commit)
}

/// Fetches `rev` (default `HEAD`) from `url` and returns the commit it names.
pub(crate) fn fetch_rev(git_dir: &Path, url: &str, rev: &str) -> Result<String, SourceError> {
    let (repo, _lock) = open_repo(git_dir, url)?;
    let mut fetch = git(&repo);
    fetch.args(["fetch", "-q", "--no-tags", url, rev]);
    run(fetch, &format!("git fetch {url} {rev}"))?;
    let mut parse = git(&repo);
    parse.args(["rev-parse", "FETCH_HEAD^{commit}"]);
    let commit = run(parse, "git rev-parse")?;
    keep(&repo, &commit)?;
    Ok(commit)
}

/// The cached repository holding `commit`, trying `url`'s project first.
pub(crate) fn find_repo(git_dir: &Path, url: Option<&str>, commit: &str) -> Option<PathBuf> {
    if let Some(url) = url {
        let repo = git_dir.join(format!("{}.git", project_name(url)));
        if has_commit(&repo, commit) {
            return Some(repo);
        }
    }
    let entries = std::fs::read_dir(git_dir).ok()?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "git"))
        .find(|repo| has_commit(repo, commit))
}

/// Unpacks the tree of `commit` into `target`.
pub(crate) fn unpack_commit(
    repo: &Path,
    commit: &str,
    target: &Path,
    strip: Strip,
    limits: Limits,
) -> Result<(), SourceError> {
    let mut child = git(repo)
        .args(["archive", "--format=tar", commit])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| SourceError::Git(format!("git archive: cannot run git: {error}")))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let unpacked = unpack_tar(stdout, target, strip, limits);
    let output = child
        .wait_with_output()
        .map_err(|error| SourceError::Git(format!("git archive: {error}")))?;
    if !output.status.success() {
        return Err(SourceError::Git(format!(
            "git archive {commit}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    unpacked.map_err(SourceError::Unpack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_come_from_the_url() {
        assert_eq!(project_name("https://github.com/numpy/numpy.git"), "numpy");
        assert_eq!(project_name("git@github.com:numpy/numpy.git"), "numpy");
        assert_eq!(project_name("/srv/repos/my lib/"), "my_lib");
        assert_eq!(project_name("file:///srv/.git"), "repo");
    }
}
