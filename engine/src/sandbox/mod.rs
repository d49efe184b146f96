//! The sandbox: each build command runs in new Linux namespaces, without root, and sees
//! only what its build may use.
//!
//! # What a command sees
//!
//! | path | how |
//! |------|-----|
//! | `/usr`, `/bin`, `/sbin`, `/lib*`, `/etc` | the host's, read-only (the toolchain and its configuration) |
//! | the store (`bld/`) and the source cache | read-only, at their own paths |
//! | this build's work dir (`$BUILD`, `$HOME`, the stage behind `$ARTIFACT`) | writable |
//! | the host paths of imported host packages, `sandbox_paths` of config.yaml | read-only |
//! | `/tmp`, `/dev/shm` | a private tmpfs each |
//! | `/dev` | `null`, `zero`, `full`, `random`, `urandom`, `tty` only |
//! | `/proc` | the command's own PID namespace |
//! | anything else (`/home`, `/root`, the rest of `$HIT_HOME`, profile links) | absent |
//!
//! There is no network: the network namespace is new and its loopback is down, so even
//! `127.0.0.1` is unreachable (hit fetches sources before the commands start). The command is
//! PID 1 of a PID namespace of its own: when it exits, or hit is killed, every process it
//! started is killed by the kernel; a daemon cannot outlive its command. Paths are the same
//! inside as outside, so logs, `$ARTIFACT` and RUNPATHs read the same, and the command runs
//! as the user who runs hit (a nested user namespace maps them back after the mounts).
//!
//! A host package (a recipe with `host` or `host_programs`) links to host files; the
//! sandbox binds what those links point into: for `/opt/gcc-13/bin/gcc`, `/opt/gcc-13`,
//! read-only, unless a directory above is bound already.
//!
//! # How
//!
//! The job runner starts `hit-sandbox __sandbox-v1 [paths] -- PROGRAM ARGS` in place of
//! each command (see `enter.rs` for the two helper processes). `hit-sandbox` is a small
//! executable built with `hit` (a 1 MB program starts about 0.4 ms sooner than the 18 MB
//! `hit`, twice per command); where it is missing, or left from another build, `hit`
//! itself is the helper. Why not the alternatives:
//!
//! - `unsafe` `unshare`/`clone` in hit itself: the workspace forbids `unsafe`, and hit is
//!   multi-threaded, where `unshare(CLONE_NEWUSER)` fails. A freshly `exec`'d helper has
//!   one thread, so rustix's safe (deprecated) `unshare` is sound there.
//! - `unshare(1)` from util-linux: it creates the namespaces but cannot bind a new root;
//!   a helper is needed anyway, and hit's own does both in one more `exec`, not two.
//! - bubblewrap (`bwrap`): it does all of it, but is missing on most clusters and this
//!   machine; hit would depend on it for a guarantee it can give alone.
//!
//! The price is two extra `exec`s of the helper and a fresh set of namespaces per command.
//! The dearest namespace to create, the network's, is shared: a keeper process (started
//! by the probe, one per hit run) holds a user and a network namespace, and each command
//! joins them (see `keeper` in `enter.rs`). docs/performance.md has the measured cost.
//!
//! # When namespaces do not work
//!
//! [`Sandbox::probe`] tries the whole setup once per process (a probe run of the helper)
//! and, when it fails, says why: the sysctls that turn unprivileged user namespaces off
//! (`kernel.unprivileged_userns_clone`, `user.max_user_namespaces`, Ubuntu's AppArmor
//! restriction), or the error itself (a seccomp filter or a container that forbids them).
//! [`Mode::Auto`] then builds without the sandbox, [`Mode::On`] refuses to build.

mod enter;

pub use enter::{EnterError, INIT_ARG, KEEPER_ARG, OUTER_ARG, Request, SETUP_FAILED, helper};

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `sandbox:` in config.yaml, `--sandbox`/`--no-sandbox` on the command line.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Sandboxed where user namespaces work; otherwise say why once, and build without.
    #[default]
    Auto,
    /// Always sandboxed; builds fail where user namespaces do not work.
    On,
    /// Never.
    Off,
}

/// The host directories every command sees read-only (those that exist).
pub const HOST_DIRS: [&str; 8] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// User namespaces do not work here; the reason says why, as far as hit can tell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the build sandbox cannot be used here: {reason}")]
pub struct Unavailable {
    pub reason: String,
}

/// The sandbox of one store: the helper to run and what every command sees.
#[derive(Debug)]
pub struct Sandbox {
    /// Executables that can be the helper, the preferred first; the probe picks the first
    /// that works (a `hit-sandbox` left from an older build speaks another protocol).
    helpers: Vec<PathBuf>,
    root: PathBuf,
    read_only: Vec<PathBuf>,
    probed: OnceLock<Result<PathBuf, Unavailable>>,
    /// The process holding the user and network namespaces the commands join (see
    /// `keeper` in `enter.rs`); started by the probe, ended when the sandbox is dropped.
    keeper: std::sync::Mutex<Option<Keeper>>,
}

/// A running keeper: its stdin (closing it ends it) and the process.
#[derive(Debug)]
struct Keeper {
    stdin: Option<std::process::ChildStdin>,
    child: std::process::Child,
}

impl Drop for Keeper {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// What one build's commands see besides what every build sees.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub read_only: Vec<PathBuf>,
    pub writable: Vec<PathBuf>,
    /// `(host path, place)`: bound writable over `place`.
    pub binds: Vec<(PathBuf, PathBuf)>,
}

impl Sandbox {
    /// `helpers` are executables that can be the helper (`hit-sandbox`, then `hit`
    /// itself), the preferred first; `root` an empty directory to mount the new root on
    /// (each command mounts it in its own namespace, so all share it); `read_only` what
    /// every command sees besides [`HOST_DIRS`] (the store, the source cache, configured
    /// paths).
    pub fn new(
        helpers: Vec<PathBuf>,
        root: PathBuf,
        read_only: impl IntoIterator<Item = PathBuf>,
    ) -> Self {
        let mut all: Vec<PathBuf> = HOST_DIRS.iter().map(PathBuf::from).collect();
        all.extend(read_only);
        Self {
            helpers,
            root,
            read_only: all,
            probed: OnceLock::new(),
            keeper: std::sync::Mutex::new(None),
        }
    }

    /// Whether the sandbox works here, and with which helper; tried once (a helper run
    /// that sets everything up and runs nothing), later calls answer from memory. The
    /// second value says whether this call was the one that tried.
    pub fn probe(&self) -> (Result<&Path, &Unavailable>, bool) {
        let mut tried = false;
        let result = self.probed.get_or_init(|| {
            tried = true;
            self.try_setup()
        });
        (result.as_ref().map(PathBuf::as_path), tried)
    }

    fn try_setup(&self) -> Result<PathBuf, Unavailable> {
        if let Err(error) = std::fs::create_dir_all(&self.root) {
            return Err(Unavailable {
                reason: format!("cannot create {}: {error}", self.root.display()),
            });
        }
        let mut last = None;
        for helper in &self.helpers {
            // Without a keeper every command makes its own namespaces: slower, as safe.
            let keeper = start_keeper(helper);
            let mut request = self.request(&View::default(), Vec::new(), true);
            request.join = keeper.as_ref().map(|keeper| keeper.child.id());
            let output = std::process::Command::new(helper)
                .arg(OUTER_ARG)
                .args(request.to_args())
                .env_clear()
                .stdin(std::process::Stdio::null())
                .output();
            match output {
                Ok(output) if output.status.success() => {
                    *self
                        .keeper
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = keeper;
                    return Ok(helper.clone());
                }
                Ok(output) => last = Some((helper, Ok(output))),
                Err(error) => last = Some((helper, Err(error))),
            }
        }
        let output = match last {
            None => {
                return Err(Unavailable {
                    reason: "no helper to run".into(),
                });
            }
            Some((helper, Err(error))) => {
                return Err(Unavailable {
                    reason: format!("cannot run {}: {error}", helper.display()),
                });
            }
            Some((_, Ok(output))) => output,
        };
        let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        let said = if said.is_empty() {
            format!(
                "the helper {}",
                crate::errors::describe_status(output.status)
            )
        } else {
            said
        };
        Err(Unavailable {
            reason: match why_blocked() {
                Some(cause) => format!("{cause} ({said})"),
                None => format!(
                    "{said} (a seccomp filter or a container that forbids user namespaces can cause this)"
                ),
            },
        })
    }

    fn request(&self, view: &View, command: Vec<std::ffi::OsString>, probe: bool) -> Request {
        let mut read_only = self.read_only.clone();
        read_only.extend(view.read_only.iter().cloned());
        Request {
            root: self.root.clone(),
            read_only,
            writable: view.writable.clone(),
            binds: view.binds.clone(),
            probe,
            ids: None,
            join: None,
            command,
        }
    }

    /// A command that runs `program args` inside the sandbox, seeing `view`. The caller
    /// sets its environment, working directory and output as for the program itself.
    pub fn command(&self, view: &View, program: &Path, args: &[String]) -> std::process::Command {
        let mut argv = vec![program.as_os_str().to_owned()];
        argv.extend(args.iter().map(std::ffi::OsString::from));
        let mut request = self.request(view, argv, false);
        request.join = self
            .keeper
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|keeper| keeper.child.id());
        let mut command = std::process::Command::new(self.helper());
        command.arg(OUTER_ARG).args(request.to_args());
        command
    }

    /// The helper the probe chose (the last candidate, `hit` itself, before a probe).
    fn helper(&self) -> &Path {
        match self.probed.get() {
            Some(Ok(helper)) => helper.as_path(),
            _ => self
                .helpers
                .last()
                .map_or(Path::new("hit"), PathBuf::as_path),
        }
    }

    /// The helper and its arguments that run `command` inside the sandbox on its own,
    /// without the keeper (for a script that outlives this process: `hit bdir` writes one
    /// that runs a shell as a build would be run).
    pub fn argv(
        &self,
        view: &View,
        command: Vec<std::ffi::OsString>,
    ) -> (&Path, Vec<std::ffi::OsString>) {
        let mut args = vec![std::ffi::OsString::from(OUTER_ARG)];
        args.extend(self.request(view, command, false).to_args());
        (self.helper(), args)
    }
}

/// Starts `helper` as the keeper and waits until it holds its namespaces; `None` if it
/// cannot (then each command creates its own).
fn start_keeper(helper: &Path) -> Option<Keeper> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(helper)
        .arg(KEEPER_ARG)
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut keeper = Keeper {
        stdin: child.stdin.take(),
        child,
    };
    let mut line = String::new();
    let stdout = keeper.child.stdout.take()?;
    std::io::BufReader::new(stdout).read_line(&mut line).ok()?;
    (line == "ready\n").then_some(keeper)
}

/// The host setting that turns unprivileged user namespaces off, if one does.
fn why_blocked() -> Option<String> {
    let read = |file: &str| {
        std::fs::read_to_string(file)
            .ok()
            .map(|text| text.trim().to_owned())
    };
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some("user namespaces are turned off (sysctl user.max_user_namespaces = 0)".into());
    }
    let unprivileged = !rustix::process::getuid().is_root();
    if unprivileged && read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some(
            "unprivileged user namespaces are turned off (sysctl kernel.unprivileged_userns_clone = 0)"
                .into(),
        );
    }
    if unprivileged
        && read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        return Some(
            "AppArmor restricts unprivileged user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns = 1)"
                .into(),
        );
    }
    None
}

/// The host paths the host packages among `imports` link into, to be bound read-only:
/// for a link to `/opt/gcc/bin/gcc`, `/opt/gcc`; for `/data/x/libfoo.so`, `/data/x`.
/// Paths under [`HOST_DIRS`] or `store` are seen anyway and left out.
pub fn host_paths(imports: &[PathBuf], store: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for import in imports {
        // Only host packages link out of the store; their spec has this stage.
        let spec = std::fs::read_to_string(import.join(crate::store::META_DIR).join("build.json"))
            .unwrap_or_default();
        if !spec.contains(": stage host-links") {
            continue;
        }
        for target in absolute_links(import) {
            let seen = |dir: &Path| target.starts_with(dir);
            if HOST_DIRS.iter().any(|dir| seen(Path::new(dir))) || seen(store) {
                continue;
            }
            let Some(parent) = target.parent() else {
                continue;
            };
            let prefix = if parent.file_name().is_some_and(|name| name == "bin") {
                parent.parent().unwrap_or(parent)
            } else {
                parent
            };
            if prefix != Path::new("/") {
                found.push(prefix.to_owned());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The absolute targets of the symlinks in a (small) tree.
fn absolute_links(dir: &Path) -> Vec<PathBuf> {
    let mut targets = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_symlink()
                && let Ok(target) = std::fs::read_link(entry.path())
                && target.is_absolute()
            {
                targets.push(target);
            }
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_bind_the_prefix_of_a_host_package_link() {
        let store = tempfile::tempdir().unwrap();
        let package = store.path().join("gcc/abc");
        std::fs::create_dir_all(package.join("bin")).unwrap();
        std::fs::create_dir_all(package.join(".hit")).unwrap();
        std::fs::write(
            package.join(".hit/build.json"),
            r#"{"cmd": ["sh", "-exc", ": stage host-links\nln -s ..."]}"#,
        )
        .unwrap();
        for (name, target) in [
            ("gcc", "/opt/gcc-13/bin/gcc"),
            ("g++", "/opt/gcc-13/bin/g++"),
            ("cc", "/usr/bin/cc"),
            ("lib", "/data/x/libfoo.so"),
        ] {
            std::os::unix::fs::symlink(target, package.join("bin").join(name)).unwrap();
        }
        let plain = store.path().join("zlib/def");
        std::fs::create_dir_all(&plain).unwrap();
        std::os::unix::fs::symlink("/elsewhere/x", plain.join("x")).unwrap();
        assert_eq!(
            host_paths(&[package, plain], store.path()),
            vec![PathBuf::from("/data/x"), PathBuf::from("/opt/gcc-13")]
        );
    }
}
