//! Shared test support: a temporary hit home, the real `hit` binary, a local HTTP server,
//! and the source mirror in ../shared/mirror.
#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A temporary store home and a working directory for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The real `hit` binary with this test's `HIT_HOME`.
    pub fn hit(&self) -> Command {
        let mut command = Command::cargo_bin("hit").unwrap();
        command
            .env("HIT_HOME", self.home())
            .env_remove("HIT_LOG")
            .current_dir(self.dir.path());
        command
    }

    pub fn std_hit(&self) -> std::process::Command {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("hit"));
        command
            .env("HIT_HOME", self.home())
            .env_remove("HIT_LOG")
            .current_dir(self.dir.path());
        command
    }

    /// Writes `p.rhai`, a profile of `packages` (Rhai list items, e.g. `"hello"`) from the
    /// fixture recipes, and returns its path.
    pub fn fixture_profile(&self, packages: &str) -> PathBuf {
        let path = self.path("p.rhai");
        let text = format!(
            "profile(#{{ package_dirs: [{:?}], packages: [{packages}] }})",
            fixture_recipes().display().to_string()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes a build spec and returns its path.
    pub fn spec(&self, name: &str, spec: &serde_json::Value) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, serde_json::to_string_pretty(spec).unwrap()).unwrap();
        path
    }

    /// Turns the build sandbox off in this home's config.yaml: for tests whose builds talk
    /// to the test through files outside their artifact (counters, markers, timestamps),
    /// which the sandbox forbids.
    pub fn without_sandbox(&self) {
        self.hit().arg("init-home").assert().success();
        let config = self.home().join("config.yaml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("\nsandbox: off\n");
        std::fs::write(&config, text).unwrap();
    }

    /// Creates the home with the given mirrors in its config.
    pub fn with_mirrors(&self, mirrors: &[&str]) {
        self.hit().arg("init-home").assert().success();
        let config = self.home().join("config.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        let list = mirrors
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            &config,
            text.replace("mirrors: []", &format!("mirrors: [{list}]")),
        )
        .unwrap();
    }

    /// `hit build` that must succeed; returns the artifact path (the last stdout line).
    pub fn build_ok(&self, spec: &Path) -> PathBuf {
        let output = self.hit().arg("build").arg(spec).output().unwrap();
        assert!(
            output.status.success(),
            "build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        PathBuf::from(stdout.lines().last().unwrap())
    }
}

/// A spec whose only command is a shell script (`sh -c`).
pub fn shell_spec(name: &str, script: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "build": {"commands": [{"cmd": ["sh", "-c", script]}]}})
}

/// ../shared/mirror: real upstream tarballs (see its README.md).
pub fn mirror_dir() -> PathBuf {
    let dir = std::env::var_os("HIT_TEST_MIRROR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/mirror"));
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the source mirror is missing at {} (set HIT_TEST_MIRROR)",
        dir.display()
    );
    dir
}

/// File name -> sha256 from the mirror's MANIFEST.tsv.
pub fn mirror_manifest() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(mirror_dir().join("MANIFEST.tsv")).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            (
                fields.next().unwrap().to_owned(),
                fields.next().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A directory laid out as a hit mirror (`sha256/<hex>`), linking to the mirror's files.
pub fn hashed_mirror(root: &Path) -> PathBuf {
    let dir = root.join("sha256");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, sha) in mirror_manifest() {
        std::os::unix::fs::symlink(mirror_dir().join(file), dir.join(sha)).unwrap();
    }
    root.to_path_buf()
}

/// A minimal HTTP/1.1 file server on 127.0.0.1, recording the paths it was asked for.
pub struct HttpServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn serve(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let root = root.to_path_buf();
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, log) = (root.clone(), log.clone());
                std::thread::spawn(move || handle(stream, &root, &log));
            }
        });
        Self { url, requests }
    }

    pub fn requested(&self, path: &str) -> bool {
        self.requests.lock().unwrap().iter().any(|p| p == path)
    }
}

fn handle(mut stream: TcpStream, root: &Path, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    log.lock().unwrap().push(path.clone());
    let file = root.join(path.trim_start_matches('/'));
    let body = if path.contains("..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    let _ = match body {
        Some(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(&body))
        }
        None => stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// tests/fixtures/recipes: tiny shell-only recipes.
pub fn fixture_recipes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recipes")
}

/// A server that answers every request with the head of a long body, a few bytes of it,
/// and then nothing for a minute.
pub fn stalling_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst bytes";
                let _ = stream.write_all(head.as_bytes());
                std::thread::sleep(std::time::Duration::from_secs(60));
            });
        }
    });
    url
}

/// A URL on which nothing listens.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One member of a hand-made tar archive (the tar crate refuses to write hostile ones).
pub struct RawMember<'a> {
    pub name: &'a str,
    /// `b'0'` file, `b'5'` directory, `b'2'` symlink, `b'1'` hard link, `b'3'` char device.
    pub kind: u8,
    pub link: &'a str,
    pub data: &'a [u8],
    pub mode: u32,
}

impl<'a> RawMember<'a> {
    pub fn file(name: &'a str, data: &'a [u8]) -> Self {
        Self {
            name,
            kind: b'0',
            link: "",
            data,
            mode: 0o644,
        }
    }
    pub fn dir(name: &'a str) -> Self {
        Self {
            name,
            kind: b'5',
            link: "",
            data: b"",
            mode: 0o755,
        }
    }
    pub fn symlink(name: &'a str, link: &'a str) -> Self {
        Self {
            name,
            kind: b'2',
            link,
            data: b"",
            mode: 0o777,
        }
    }
    pub fn hard_link(name: &'a str, link: &'a str) -> Self {
        Self {
            name,
            kind: b'1',
            link,
            data: b"",
            mode: 0o644,
        }
    }
}

/// A ustar archive from raw members, names written as given.
pub fn raw_tar(members: &[RawMember<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for member in members {
        let mut header = [0u8; 512];
        header[..member.name.len()].copy_from_slice(member.name.as_bytes());
        let octal = |field: &mut [u8], value: u64| {
            let text = format!("{:0width$o}\0", value, width = field.len() - 1);
            field.copy_from_slice(text.as_bytes());
        };
        octal(&mut header[100..108], u64::from(member.mode));
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], member.data.len() as u64);
        octal(&mut header[136..148], 1_600_000_000);
        header[156] = member.kind;
        header[157..157 + member.link.len()].copy_from_slice(member.link.as_bytes());
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(member.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn sha256_hex(path: &Path) -> String {
    let output = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Waits until `path` exists (something a child process creates), for at most 30 s.
pub fn wait_for(path: &Path, what: &str) {
    let started = std::time::Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{what} never happened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether `tool` is on PATH; see [`missing`].
pub fn have_tool(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    found || !missing(tool)
}

/// Says that a test skips a part because `what` is not installed, and returns true. With
/// `HIT_TEST_REQUIRE_TOOLS` set (`.ci/run` installs them all) it fails the test instead.
pub fn missing(what: &str) -> bool {
    assert!(
        std::env::var_os("HIT_TEST_REQUIRE_TOOLS").is_none(),
        "{what} is not installed, and HIT_TEST_REQUIRE_TOOLS says the tests need it"
    );
    eprintln!("skipping the {what} part: it is not installed");
    true
}

/// How many running processes have exactly this command line.
pub fn processes_running(argv: &[&str]) -> usize {
    matching_processes(argv).len()
}

/// Kills the running processes that have exactly this command line; how many there were.
pub fn kill_processes(argv: &[&str]) -> usize {
    let found = matching_processes(argv);
    for pid in &found {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    found.len()
}

fn matching_processes(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|line| line == wanted)
                && std::fs::read_to_string(entry.path().join("stat"))
                    .is_ok_and(|stat| !stat.contains(") Z"))
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}
