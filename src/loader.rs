//! The file system as the recipe language sees it (see `hit_lang::Loader`).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Reads recipes, profiles and patches from disk; fingerprints host paths; checks out git
/// commits (profiles extended from git) into the source cache of the home [`set_home`]
/// named.
#[derive(Debug, Default)]
pub struct FsLoader;

/// The home whose source cache holds git checkouts; set once by the program.
static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Names the store home whose source cache [`FsLoader`] fetches git commits into (once
/// per process; the `hit` binary does it as it starts).
pub fn set_home(dir: &Path) {
    let _ = HOME.set(dir.to_path_buf());
}

/// The most entries a host directory's fingerprint looks at.
const MAX_FINGERPRINT_ENTRIES: usize = 100_000;

/// The most bytes of file contents a host directory's fingerprint reads.
const MAX_FINGERPRINT_BYTES: u64 = 256 << 20;

/// The largest script, patch or inline file hit reads (they are evaluated, hashed and
/// copied into every build spec that uses them).
pub const MAX_READ_BYTES: u64 = 8 << 20;

impl hit_lang::Loader for FsLoader {
    /// Reads a regular file of at most [`MAX_READ_BYTES`]: a symlink to `/dev/zero` or a
    /// FIFO would otherwise be read forever.
    fn read(&self, path: &Path) -> Result<String, String> {
        use std::io::Read;
        let fail = |why: String| format!("cannot read {}: {why}", path.display());
        // Opening a FIFO would wait for a writer: open without waiting, then look.
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(path)
                .map_err(|error| fail(error.to_string()))?
        };
        let meta = file.metadata().map_err(|error| fail(error.to_string()))?;
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        if meta.len() > MAX_READ_BYTES {
            return Err(fail(format!(
                "{} bytes; hit reads scripts, patches and inline files of at most {MAX_READ_BYTES}",
                meta.len()
            )));
        }
        // Room for the whole file and one byte more, so one read fills it and the next
        // sees the end (the limit still holds if the file grows meanwhile).
        let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
        file.take(MAX_READ_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| fail(error.to_string()))?;
        if bytes.len() as u64 > MAX_READ_BYTES {
            return Err(fail(format!("more than {MAX_READ_BYTES} bytes")));
        }
        String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))
    }

    fn read_within(&self, path: &Path, root: &Path) -> Result<String, String> {
        let fail = |why: String| format!("cannot read {}: {why}", path.display());
        let resolved = std::fs::canonicalize(path).map_err(|error| fail(error.to_string()))?;
        let root = std::fs::canonicalize(root).map_err(|error| fail(error.to_string()))?;
        if !resolved.starts_with(&root) {
            return Err(fail(format!(
                "it leads to {}, outside {}",
                resolved.display(),
                root.display()
            )));
        }
        self.read(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    /// The first executable file `name` in hit's `PATH` (which builds get too: `PATH` is in
    /// the default `env_whitelist`), symlinks resolved (`cc` -> `/usr/bin/x86_64-linux-gnu-gcc-12`).
    fn find_program(&self, name: &str) -> Option<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(name))
            .find(|candidate| {
                std::fs::metadata(candidate)
                    .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
            })
            .and_then(|found| std::fs::canonicalize(found).ok())
    }

    /// `checkouts-v1/<commit>/` of the home's source cache, fetched (mirrors are not
    /// used: git sources come from their repository) and unpacked on first use.
    fn git_checkout(&self, url: &str, commit: &str) -> Result<PathBuf, String> {
        let dir = HOME
            .get()
            .ok_or_else(|| "no hit home to fetch it into".to_owned())?;
        let home = hit_engine::home::Home::open(dir).map_err(|error| error.to_string())?;
        crate::ops::source_cache(&home)
            .checkout(url, commit)
            .map_err(|error| error.to_string())
    }

    /// The first line `program --version` prints (stdout, else stderr), or
    /// `(no version)`; a program still running after 10 s is killed.
    fn program_version(&self, program: &Path) -> Result<String, String> {
        use std::io::Read;
        let mut child = std::process::Command::new(program)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run it: {error}"))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while child
            .try_wait()
            .map_err(|error| error.to_string())?
            .is_none()
        {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("`--version` did not finish within 10 s".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut out = String::new();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read>),
        ]
        .into_iter()
        .flatten()
        {
            let mut text = String::new();
            let _ = stream.take(64 * 1024).read_to_string(&mut text);
            if let Some(line) = text.lines().map(str::trim).find(|line| !line.is_empty()) {
                out = line.to_owned();
                break;
            }
        }
        Ok(if out.is_empty() {
            "(no version)".into()
        } else {
            out
        })
    }

    /// A file: the sha256 of its contents. A directory: the sha256 of its listing (paths,
    /// kinds and sizes) and of its files' contents and symlinks' targets, recursively, up
    /// to `MAX_FINGERPRINT_ENTRIES` entries and `MAX_FINGERPRINT_BYTES` of contents (a
    /// same-size change with its time put back changes it too).
    fn fingerprint(&self, path: &Path) -> Result<String, String> {
        let meta = std::fs::metadata(path).map_err(|error| error.to_string())?;
        let mut hasher = Sha256::new();
        if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            // The fingerprint goes into build.json, which anybody may read: a plain hash of
            // a secret (a key, a password file) is a guessing aid.
            if meta.permissions().mode() & 0o004 == 0 {
                return Err(
                    "only some users may read it, and its fingerprint would be in the \
                     world-readable build.json; list a file that everybody may read"
                        .into(),
                );
            }
            let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
            hasher.update(&bytes);
        } else {
            let mut stack: Vec<PathBuf> = vec![path.to_path_buf()];
            let mut seen = 0;
            let mut bytes_read = 0u64;
            while let Some(dir) = stack.pop() {
                let mut entries: Vec<_> = std::fs::read_dir(&dir)
                    .map_err(|error| error.to_string())?
                    .filter_map(Result::ok)
                    .collect();
                entries.sort_by_key(|entry| entry.file_name());
                for entry in entries {
                    seen += 1;
                    if seen > MAX_FINGERPRINT_ENTRIES {
                        return Err(format!(
                            "more than {MAX_FINGERPRINT_ENTRIES} entries; point at something smaller"
                        ));
                    }
                    let kind = entry.file_type().map_err(|error| error.to_string())?;
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    let relative = entry
                        .path()
                        .strip_prefix(path)
                        .unwrap_or(&entry.path())
                        .to_path_buf();
                    hasher.update(format!(
                        "{}\0{}\0{size}\n",
                        relative.display(),
                        if kind.is_dir() { "d" } else { "f" }
                    ));
                    if kind.is_dir() {
                        stack.push(entry.path());
                    } else if kind.is_symlink() {
                        let target =
                            std::fs::read_link(entry.path()).map_err(|error| error.to_string())?;
                        hasher.update(target.as_os_str().as_encoded_bytes());
                    } else if kind.is_file() {
                        bytes_read += size;
                        if bytes_read > MAX_FINGERPRINT_BYTES {
                            return Err(format!(
                                "holds more than {} MiB of files; point at something smaller",
                                MAX_FINGERPRINT_BYTES >> 20
                            ));
                        }
                        let contents = std::fs::read(entry.path())
                            .map_err(|error| format!("{}: {error}", entry.path().display()))?;
                        hasher.update(Sha256::digest(&contents));
                    }
                }
            }
        }
        Ok(hit_engine::spec::canonical::hex_lower(&hasher.finalize()))
    }
}
