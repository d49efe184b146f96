//! The helper's side of the sandbox: what `hit-sandbox __sandbox-v1 ...` (or `hit __sandbox-v1 ...`) does before it becomes the
//! build's command (see the module doc of [`super`] for the design).
//!
//! Two processes, both the helper executable (`hit-sandbox`, or `hit`), both single-threaded (user namespaces can
//! only be entered by a process with one thread):
//!
//! 1. **outer** ([`OUTER_ARG`]), started by the job runner in place of the command: it asks to
//!    be killed with its parent, creates the user, mount, network, IPC, UTS and PID
//!    namespaces, maps the caller's uid and gid to root inside, starts **init**, waits
//!    for it, and exits as init did.
//! 2. **init** ([`INIT_ARG`]), PID 1 of the new PID namespace: builds the new root on
//!    a tmpfs (bind mounts, `/tmp`, `/dev`, `/proc`), switches to it with `pivot_root`,
//!    maps the caller's own uid and gid back in a nested user namespace (so files are
//!    created, and `tar` or `install` run, as the caller, not as root), and `exec`s the
//!    command. The command is then PID 1: when it exits, the kernel kills everything left
//!    in its namespace.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The first argument that makes `hit` (or `hit-sandbox`) the outer helper. Its number is
/// the protocol's version: a change to the arguments or to what they mean takes a new
/// one, so that a helper left from an older build refuses instead of misunderstanding.
pub const OUTER_ARG: &str = "__sandbox-v1";
/// The first argument that makes `hit` the init helper.
pub const INIT_ARG: &str = "__sandbox-init-v1";
/// The first argument that makes `hit` the keeper: the process that holds the user and
/// network namespaces all commands of one hit run share (see `keeper`).
pub const KEEPER_ARG: &str = "__sandbox-keeper-v1";

/// Exit status of a helper whose setup failed (`env` and `chroot` use 125 alike).
pub const SETUP_FAILED: i32 = 125;

/// What a command may see: the parsed arguments of the helpers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The empty directory the new root's tmpfs is mounted on.
    pub root: PathBuf,
    /// Host paths bound at the same place, read-only.
    pub read_only: Vec<PathBuf>,
    /// Host paths bound at the same place, writable.
    pub writable: Vec<PathBuf>,
    /// `(host path, place)`: a host path bound writable at another place (over what is
    /// there); `hit build --check` puts a scratch stage at the artifact's path this way.
    pub binds: Vec<(PathBuf, PathBuf)>,
    /// Set everything up, then exit 0 instead of running a command.
    pub probe: bool,
    /// The caller's uid and gid (given to init by outer).
    pub ids: Option<(u32, u32)>,
    /// The keeper whose user and network namespaces to join (its pid), instead of
    /// creating new ones.
    pub join: Option<u32>,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

impl Request {
    /// The helper's arguments after [`OUTER_ARG`].
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--root".into(), self.root.clone().into()];
        for path in &self.read_only {
            args.extend(["--ro".into(), path.clone().into()]);
        }
        for path in &self.writable {
            args.extend(["--rw".into(), path.clone().into()]);
        }
        for (from, to) in &self.binds {
            args.extend(["--bind".into(), from.clone().into(), to.clone().into()]);
        }
        if let Some((uid, gid)) = self.ids {
            args.extend(["--ids".into(), format!("{uid}:{gid}").into()]);
        }
        if let Some(pid) = self.join {
            args.extend(["--join".into(), pid.to_string().into()]);
        }
        if self.probe {
            args.push("--probe".into());
        }
        args.push("--".into());
        args.extend(self.command.iter().cloned());
        args
    }

    /// Parses what [`Request::to_args`] wrote.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, EnterError> {
        let mut request = Self::default();
        let mut args = args.into_iter();
        let bad = |what: &str| EnterError::Usage(what.to_owned());
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .map(PathBuf::from)
                    .ok_or_else(|| bad(&format!("{flag} needs a value")))
            };
            match arg.to_str() {
                Some("--root") => request.root = value("--root")?,
                Some("--ro") => request.read_only.push(value("--ro")?),
                Some("--rw") => request.writable.push(value("--rw")?),
                Some("--bind") => {
                    let from = value("--bind")?;
                    request.binds.push((from, value("--bind")?));
                }
                Some("--ids") => {
                    let ids = value("--ids")?;
                    let parsed = ids.to_str().and_then(|ids| {
                        let (uid, gid) = ids.split_once(':')?;
                        Some((uid.parse().ok()?, gid.parse().ok()?))
                    });
                    request.ids = Some(parsed.ok_or_else(|| bad("--ids takes UID:GID"))?);
                }
                Some("--join") => {
                    let pid = value("--join")?;
                    let pid = pid.to_str().and_then(|pid| pid.parse().ok());
                    request.join = Some(pid.ok_or_else(|| bad("--join takes a pid"))?);
                }
                Some("--probe") => request.probe = true,
                Some("--") => {
                    request.command = args.collect();
                    break;
                }
                _ => return Err(bad(&format!("unknown argument {arg:?}"))),
            }
        }
        if request.root.as_os_str().is_empty() {
            return Err(bad("--root is missing"));
        }
        if request.command.is_empty() && !request.probe {
            return Err(bad("no command after --"));
        }
        Ok(request)
    }
}

/// Why a helper could not set the sandbox up.
#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    #[error("hit sandbox helper: {0}")]
    Usage(String),
    #[error("sandbox: cannot {what}: {source}")]
    Setup {
        what: String,
        source: std::io::Error,
    },
}

fn setup(what: impl FnOnce() -> String) -> impl FnOnce(rustix::io::Errno) -> EnterError {
    move |errno| EnterError::Setup {
        what: what(),
        source: errno.into(),
    }
}

fn setup_io(what: impl FnOnce() -> String) -> impl FnOnce(std::io::Error) -> EnterError {
    move |source| EnterError::Setup {
        what: what(),
        source,
    }
}

/// Runs the helper the first argument names ([`OUTER_ARG`], [`INIT_ARG`]); `None` when it
/// names neither. The result is the status to exit with, or why the setup failed (to be
/// said on stderr, which is the build's log, and exited with [`SETUP_FAILED`]).
pub fn helper(mut args: impl Iterator<Item = OsString>) -> Option<Result<i32, EnterError>> {
    let first = args.next()?;
    if first == KEEPER_ARG {
        return Some(keeper().map(|()| 0));
    }
    let outer = if first == OUTER_ARG {
        true
    } else if first == INIT_ARG {
        false
    } else {
        return None;
    };
    Some(Request::parse(args).and_then(|request| {
        if outer {
            self::outer(&request)
        } else {
            init(&request).map(|()| 0)
        }
    }))
}

/// The keeper: creates a user namespace (the caller's ids mapped to root) and a network
/// namespace, says `ready` on stdout, and holds them until its stdin closes.
///
/// Creating a network namespace is the dearest part of a sandbox (the kernel registers
/// hundreds of sysctls for it, and tears them down after): about 0.5 ms of each command's
/// 2.6 ms here. Every command of one hit run joins the keeper's instead (`setns`), and
/// creates only its mount, PID, IPC and UTS namespaces. They share a network with no
/// interface up; what they could share through it is abstract Unix sockets.
///
/// It ends when its stdin reaches its end, which hit's exit (however it ends) brings
/// about. (Not a parent-death signal: that fires when the *thread* that started it ends,
/// and hit starts it from whichever build thread probed first.)
pub fn keeper() -> Result<(), EnterError> {
    use std::io::{Read, Write};
    let (uid, gid) = (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    );
    unshare_keeper()?;
    map_ids(0, uid, 0, gid)?;
    let mut stdout = std::io::stdout();
    stdout
        .write_all(b"ready\n")
        .and_then(|()| stdout.flush())
        .map_err(setup_io(|| "say the keeper is ready".into()))?;
    // Until hit closes the pipe, or dies.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

/// The outer helper: returns the exit status to exit with (init's), or raises init's
/// signal on itself first.
pub fn outer(request: &Request) -> Result<i32, EnterError> {
    use rustix::process::{Signal, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(setup(|| "ask to die with hit".into()))?;
    let (uid, gid) = (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    );
    match request.join {
        Some(keeper) => join(keeper)?,
        None => {
            unshare_namespaces(true)?;
            map_ids(0, uid, 0, gid)?;
        }
    }
    let child = std::process::Command::new("/proc/self/exe")
        .arg(INIT_ARG)
        .args(
            Request {
                ids: Some((uid, gid)),
                ..request.clone()
            }
            .to_args(),
        )
        .spawn()
        .map_err(setup_io(|| "start the sandbox's init".into()))?;
    let status = wait(child)?;
    Ok(exit_like(status))
}

fn wait(mut child: std::process::Child) -> Result<std::process::ExitStatus, EnterError> {
    child
        .wait()
        .map_err(setup_io(|| "wait for the sandbox's init".into()))
}

/// The status to exit with so that the caller sees `status`: a signal is raised on this
/// process (its default action ends it); one that would not end it becomes 128 + signal.
fn exit_like(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return code;
    }
    let signal = status.signal().unwrap_or(0);
    if let Some(raised) = rustix::process::Signal::from_named_raw(signal) {
        let _ = rustix::process::kill_process(rustix::process::getpid(), raised);
    }
    128 + signal
}

/// Creates the namespaces of one command at once: all of them, or (`user_and_net` false,
/// after joining the keeper's) those of its own. `unshare` is deprecated in rustix because
/// `CLONE_FILES` breaks other threads' descriptors; the helpers have one thread and do not
/// pass it, and the workspace forbids `unsafe`.
#[allow(deprecated)]
fn unshare_namespaces(user_and_net: bool) -> Result<(), EnterError> {
    use rustix::thread::UnshareFlags;
    let mut flags =
        UnshareFlags::NEWNS | UnshareFlags::NEWIPC | UnshareFlags::NEWUTS | UnshareFlags::NEWPID;
    if user_and_net {
        flags |= UnshareFlags::NEWUSER | UnshareFlags::NEWNET;
    }
    rustix::thread::unshare(flags).map_err(setup(|| "create user namespaces".into()))
}

#[allow(deprecated)]
fn unshare_keeper() -> Result<(), EnterError> {
    use rustix::thread::UnshareFlags;
    rustix::thread::unshare(UnshareFlags::NEWUSER | UnshareFlags::NEWNET)
        .map_err(setup(|| "create user namespaces".into()))
}

/// Enters the keeper's user namespace (where this process, its owner's, gets every
/// capability), then its network namespace, then creates the command's own.
fn join(keeper: u32) -> Result<(), EnterError> {
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    use std::os::fd::AsFd;
    let open = |kind: &str| {
        let path = format!("/proc/{keeper}/ns/{kind}");
        std::fs::File::open(&path).map_err(setup_io(|| format!("open {path}")))
    };
    let (user, net) = (open("user")?, open("net")?);
    move_into_link_name_space(user.as_fd(), Some(LinkNameSpaceType::User))
        .map_err(setup(|| "join the keeper's user namespace".into()))?;
    move_into_link_name_space(net.as_fd(), Some(LinkNameSpaceType::Network))
        .map_err(setup(|| "join the keeper's network namespace".into()))?;
    unshare_namespaces(false)
}

#[allow(deprecated)]
fn unshare_user() -> Result<(), EnterError> {
    rustix::thread::unshare(rustix::thread::UnshareFlags::NEWUSER)
        .map_err(setup(|| "create the inner user namespace".into()))
}

/// Maps one uid and one gid (`inside` to `outside`) in this process's new user namespace.
fn map_ids(uid_inside: u32, uid: u32, gid_inside: u32, gid: u32) -> Result<(), EnterError> {
    let write = |file: &str, text: String| {
        std::fs::write(file, text).map_err(setup_io(|| format!("write {file}")))
    };
    // setgroups must be denied before an unprivileged gid_map; it may be denied already.
    let _ = std::fs::write("/proc/self/setgroups", "deny");
    write("/proc/self/uid_map", format!("{uid_inside} {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("{gid_inside} {gid} 1\n"))
}

/// The init helper: builds the root and `exec`s the command; returns only on failure
/// (or with `probe`, once everything is set up).
pub fn init(request: &Request) -> Result<(), EnterError> {
    use rustix::process::{Signal, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(setup(|| "ask to die with the outer helper".into()))?;
    let cwd = std::env::current_dir().map_err(setup_io(|| "read the working directory".into()))?;
    build_root(request)?;
    enter_root(&request.root)?;
    // The host's name is not an input of the build.
    rustix::system::sethostname(b"localhost").map_err(setup(|| "set the host name".into()))?;
    // Where the command started, if it can be seen; else `/`.
    let _ = std::env::set_current_dir(&cwd);
    // Also for root: the command's user namespace must not own the mount namespace, or
    // it could remount the store writable.
    if let Some((uid, gid)) = request.ids {
        unshare_user()?;
        map_ids(uid, 0, gid, 0)?;
    }
    if request.probe {
        return Ok(());
    }
    let (program, args) = request
        .command
        .split_first()
        .ok_or_else(|| EnterError::Usage("no command".into()))?;
    let error = std::process::Command::new(program).args(args).exec();
    Err(EnterError::Setup {
        what: format!("run {}", Path::new(program).display()),
        source: error,
    })
}

/// Mounts a tmpfs on `request.root` and puts in it what the command may see.
fn build_root(request: &Request) -> Result<(), EnterError> {
    use rustix::mount::{MountFlags, MountPropagationFlags, mount, mount_change};
    let root = &request.root;
    // Nothing mounted here may show up in the host's namespace.
    mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(setup(|| "make the mounts private".into()))?;
    tmpfs(root, "mode=0755")?;
    // First what is the sandbox's own, then the host's paths into it (some may be in
    // `/tmp`, as a store in /tmp is).
    let dev = root.join("dev");
    mount_point(&dev, true)?;
    tmpfs(&dev, "mode=0755")?;
    for device in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = Path::new("/dev").join(device);
        if host.exists() {
            let target = dev.join(device);
            mount_point(&target, false)?;
            rustix::mount::mount_bind(&host, &target)
                .map_err(setup(|| format!("bind {}", host.display())))?;
        }
    }
    for (name, link) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(link, dev.join(name))
            .map_err(setup_io(|| format!("link /dev/{name}")))?;
    }
    let shm = dev.join("shm");
    mount_point(&shm, true)?;
    tmpfs(&shm, "mode=1777")?;
    let tmp = root.join("tmp");
    mount_point(&tmp, true)?;
    tmpfs(&tmp, "mode=1777")?;
    let proc = root.join("proc");
    mount_point(&proc, true)?;
    let fresh = mount(
        "proc",
        &proc,
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    );
    if fresh.is_err() {
        // A container that masks parts of /proc forbids a new one: the host's, then.
        rustix::mount::mount_bind_recursive("/proc", &proc)
            .map_err(setup(|| "mount /proc".into()))?;
    }
    // Parents before children: a writable stage inside the read-only store.
    let mut binds: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
    for path in &request.read_only {
        binds.push((path.clone(), path.clone(), false));
    }
    for path in &request.writable {
        binds.push((path.clone(), path.clone(), true));
    }
    for (from, to) in &request.binds {
        binds.push((from.clone(), to.clone(), true));
    }
    binds.sort_by_key(|(_, to, _)| to.components().count());
    binds.retain(|(from, _, _)| std::fs::symlink_metadata(from).is_ok()); // no `/lib32` here
    // Mount points first. Those in the private /tmp (a store in /tmp) are made on its
    // tmpfs, and the directories made for them are then bound read-only onto themselves:
    // a build must not be able to write a `config.yaml` next to the store it sees, even
    // one nobody else would ever read.
    let mut made_in_tmp = BTreeSet::new();
    for (from, to, _) in &binds {
        let target = inside(root, to);
        let meta = std::fs::symlink_metadata(from)
            .map_err(setup_io(|| format!("read {}", from.display())))?;
        if meta.file_type().is_symlink() && from == to {
            // Merged /usr: `/bin -> usr/bin` stays a link.
            let link = std::fs::read_link(from)
                .map_err(setup_io(|| format!("read {}", from.display())))?;
            make_parent(&target)?;
            if std::fs::symlink_metadata(&target).is_err() {
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(setup_io(|| format!("link {}", to.display())))?;
            }
            continue;
        }
        mount_point(&target, meta.is_dir())?;
        if let Ok(rest) = to.strip_prefix("/tmp")
            && let Some(first) = rest.components().next()
        {
            made_in_tmp.insert(tmp.join(first));
        }
    }
    for dir in &made_in_tmp {
        rustix::mount::mount_bind(dir, dir).map_err(setup(|| format!("bind {}", dir.display())))?;
        rustix::mount::mount_remount(
            dir,
            MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
            "",
        )
        .map_err(setup(|| format!("make {} read-only", dir.display())))?;
    }
    // Parents before children: a writable stage inside the read-only store.
    let mut read_only = Vec::new();
    for (from, to, writable) in &binds {
        let target = inside(root, to);
        if from == to
            && std::fs::symlink_metadata(from).is_ok_and(|meta| meta.file_type().is_symlink())
        {
            continue;
        }
        rustix::mount::mount_bind_recursive(from, &target)
            .map_err(setup(|| format!("bind {}", from.display())))?;
        if !writable {
            read_only.push((from.clone(), target));
        }
    }
    for (from, target) in read_only {
        remount_read_only(&from, &target)?;
    }
    rustix::mount::mount_remount(&dev, MountFlags::RDONLY | MountFlags::NOSUID, "")
        .map_err(setup(|| "make /dev read-only".into()))?;
    rustix::mount::mount_remount(
        root,
        MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
        "",
    )
    .map_err(setup(|| "make the root read-only".into()))
}

fn tmpfs(path: &Path, options: &str) -> Result<(), EnterError> {
    use rustix::mount::MountFlags;
    let data = std::ffi::CString::new(options).expect("mount options have no NUL byte");
    rustix::mount::mount(
        "tmpfs",
        path,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(data.as_c_str()),
    )
    .map_err(setup(|| format!("mount a tmpfs on {}", path.display())))
}

/// A read-only remount must keep the flags the host mount has (`nosuid`, `nodev`, ...):
/// a user namespace may not clear them.
fn remount_read_only(host: &Path, target: &Path) -> Result<(), EnterError> {
    use rustix::fs::StatVfsMountFlags as Has;
    use rustix::mount::MountFlags;
    let has = rustix::fs::statvfs(host)
        .map_err(setup(|| {
            format!("read the mount flags of {}", host.display())
        }))?
        .f_flag;
    let mut flags = MountFlags::BIND | MountFlags::RDONLY;
    for (have, keep) in [
        (Has::NOSUID, MountFlags::NOSUID),
        (Has::NODEV, MountFlags::NODEV),
        (Has::NOEXEC, MountFlags::NOEXEC),
        (Has::NOATIME, MountFlags::NOATIME),
        (Has::NODIRATIME, MountFlags::NODIRATIME),
        (Has::RELATIME, MountFlags::RELATIME),
    ] {
        if has.contains(have) {
            flags |= keep;
        }
    }
    rustix::mount::mount_remount(target, flags, "")
        .map_err(setup(|| format!("make {} read-only", host.display())))
}

/// `root` + `path` (absolute).
fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn make_parent(path: &Path) -> Result<(), EnterError> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent)
            .map_err(setup_io(|| format!("create {}", parent.display()))),
        None => Ok(()),
    }
}

/// An empty directory or file to mount on, unless something is there already (the
/// parent may be a bind of the host, where it exists).
fn mount_point(path: &Path, directory: bool) -> Result<(), EnterError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    if directory {
        std::fs::create_dir_all(path).map_err(setup_io(|| format!("create {}", path.display())))
    } else {
        make_parent(path)?;
        std::fs::write(path, b"").map_err(setup_io(|| format!("create {}", path.display())))
    }
}

/// Makes `root` the root directory and forgets the old one.
fn enter_root(root: &Path) -> Result<(), EnterError> {
    std::env::set_current_dir(root).map_err(setup_io(|| format!("enter {}", root.display())))?;
    rustix::process::pivot_root(".", ".").map_err(setup(|| "pivot_root".into()))?;
    rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)
        .map_err(setup(|| "detach the old root".into()))?;
    std::env::set_current_dir("/").map_err(setup_io(|| "enter /".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip() {
        let request = Request {
            root: "/s/root".into(),
            read_only: vec!["/usr".into(), "/with space".into()],
            writable: vec!["/w".into()],
            binds: vec![("/scratch".into(), "/store/a".into())],
            probe: false,
            ids: Some((1000, 100)),
            join: Some(4242),
            command: vec!["sh".into(), "-c".into(), "--ro x".into()],
        };
        assert_eq!(Request::parse(request.to_args()).unwrap(), request);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(Request::parse(["--root".into()]).is_err());
        assert!(Request::parse(["--root".into(), "/r".into(), "--".into()]).is_err());
        assert!(Request::parse(["--what".into()]).is_err());
        assert!(Request::parse(["--ro".into(), "/usr".into(), "--".into(), "sh".into()]).is_err());
    }
}
