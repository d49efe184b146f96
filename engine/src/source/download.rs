//! Getting bytes from a location: http(s) with reqwest (blocking, rustls with the `ring`
//! provider, the system's CA certificates), `file://` URLs and plain paths.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Http(String),
    File(PathBuf),
}

impl Location {
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(Self::Http(url.to_owned()))
        } else if let Some(path) = url.strip_prefix("file://") {
            if path.starts_with('/') {
                Ok(Self::File(PathBuf::from(path)))
            } else {
                Err(format!(
                    "{url}: a file URL needs an absolute path (file:///...)"
                ))
            }
        } else if url.contains("://") {
            Err(format!(
                "{url}: unsupported URL scheme (use http, https, file or a path)"
            ))
        } else {
            Ok(Self::File(PathBuf::from(url)))
        }
    }

    /// The location of `name` under this location taken as a directory.
    pub(crate) fn join(&self, name: &str) -> Self {
        match self {
            Self::Http(base) => Self::Http(format!("{}/{name}", base.trim_end_matches('/'))),
            Self::File(base) => Self::File(base.join(name)),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(url) => f.write_str(url),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A download that failed: a one-line reason, and whether the host could not be reached
/// at all (no DNS answer, no connection: most likely no network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub reason: String,
    pub unreachable: bool,
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Self {
            reason,
            unreachable: false,
        }
    }
}

impl From<&str> for Failure {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}

/// Why a location could not be opened.
enum Opened {
    /// Nothing there (HTTP 404 or 410, no such file: the reason): not an error for a
    /// cache lookup.
    Missing(String),
    Failed(Failure),
}

/// How far a download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    /// The length the server announced, if it did.
    pub total: Option<u64>,
}

/// A finished download: a temp file in the cache and the sha256 of its bytes.
pub(crate) struct Download {
    pub file: tempfile::NamedTempFile,
    pub sha256: [u8; 32],
}

/// Downloads, sharing one HTTP client (created on first use).
#[derive(Debug)]
pub(crate) struct Downloader {
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    idle_timeout: Duration,
    max_bytes: u64,
}

/// The largest download by default (`download_max_bytes` in config.yaml): far above any
/// source tarball, below what fills a disk by surprise.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 32 << 30;

/// How long a download may wait for its next bytes by default.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for Downloader {
    fn default() -> Self {
        Self::new(DEFAULT_IDLE_TIMEOUT)
    }
}

impl Downloader {
    pub(crate) fn new(idle_timeout: Duration) -> Self {
        Self {
            client: OnceLock::new(),
            idle_timeout,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Refuses downloads of more than `max_bytes`.
    pub(crate) fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    fn too_big(&self) -> String {
        format!(
            "more than {} bytes (download_max_bytes in config.yaml)",
            self.max_bytes
        )
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, String> {
        self.client
            .get_or_init(|| {
                // Several crates may race to install it; any installed ring provider will do.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::blocking::Client::builder()
                    .user_agent(concat!("hit/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(Duration::from_secs(30))
                    // The blocking client applies this to the wait for the response head
                    // and then to each read of the body, not to the whole download: a
                    // server that stalls fails the download, a slow one does not.
                    .timeout(self.idle_timeout)
                    .build()
                    .map_err(|error| format!("cannot set up the HTTP client: {error}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Copies the bytes at `location` into a temp file in `dir`, hashing them on the way.
    pub(crate) fn download(&self, location: &Location, dir: &Path) -> Result<Download, Failure> {
        let download = self.download_with_progress(location, dir, &mut |_| {})?;
        // A source goes into the cache for good: on disk before it is renamed there.
        download
            .file
            .as_file()
            .sync_all()
            .map_err(|error| error.to_string())?;
        Ok(download)
    }

    /// The bytes of a small file at `location` (at most `limit` bytes), or `None` when there
    /// is none (HTTP 404 or 410, no such file).
    pub(crate) fn read_small(
        &self,
        location: &Location,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, Failure> {
        let (reader, _) = match self.open(location) {
            Ok(opened) => opened,
            Err(Opened::Missing(_)) => return Ok(None),
            Err(Opened::Failed(failure)) => return Err(failure),
        };
        let mut bytes = Vec::new();
        reader
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| format!("reading failed: {error}"))?;
        if bytes.len() as u64 > limit {
            return Err(format!("larger than {limit} bytes").into());
        }
        Ok(Some(bytes))
    }

    /// A reader of the bytes at `location`, and their length when known.
    fn open(&self, location: &Location) -> Result<(Box<dyn Read>, Option<u64>), Opened> {
        Ok(match location {
            Location::Http(url) => {
                let response = self
                    .client()
                    .map_err(|reason| Opened::Failed(reason.into()))?
                    .get(url)
                    .send()
                    .map_err(|error| {
                        Opened::Failed(Failure {
                            reason: if error.is_timeout() {
                                format!(
                                    "no response for {} s (download_idle_timeout in config.yaml)",
                                    self.idle_timeout.as_secs_f64()
                                )
                            } else {
                                describe_http_error(&error)
                            },
                            unreachable: error.is_connect(),
                        })
                    })?;
                let status = response.status();
                if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                    return Err(Opened::Missing(format!("HTTP {status}")));
                }
                if !status.is_success() {
                    return Err(Opened::Failed(format!("HTTP {status}").into()));
                }
                let length = response.content_length();
                (Box::new(response), length)
            }
            Location::File(path) => match std::fs::File::open(path) {
                Ok(file) => match file.metadata() {
                    Ok(meta) if meta.is_file() => (Box::new(file), Some(meta.len())),
                    _ => return Err(Opened::Failed("not a file".into())),
                },
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    return Err(Opened::Missing(error.to_string()));
                }
                Err(error) => return Err(Opened::Failed(error.to_string().into())),
            },
        })
    }

    /// [`Downloader::download`], telling `progress` the bytes so far (and the total, when
    /// the server said it) after each read.
    pub(crate) fn download_with_progress(
        &self,
        location: &Location,
        dir: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Download, Failure> {
        let (mut reader, length) = match self.open(location) {
            Ok(opened) => opened,
            Err(Opened::Missing(reason)) => return Err(reason.into()),
            Err(Opened::Failed(failure)) => return Err(failure),
        };
        if length.is_some_and(|length| length > self.max_bytes) {
            return Err(self.too_big().into());
        }
        let mut file = tempfile::Builder::new()
            .prefix("download-")
            .tempfile_in(dir)
            .map_err(|error| format!("cannot create a temp file in {}: {error}", dir.display()))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if is_timeout(&error) => {
                    return Err(format!(
                        "no data for {} s (download_idle_timeout in config.yaml)",
                        self.idle_timeout.as_secs_f64()
                    )
                    .into());
                }
                Err(error) => return Err(format!("reading failed: {error}").into()),
            };
            total += n as u64;
            if total > self.max_bytes {
                return Err(self.too_big().into());
            }
            hasher.update(&buffer[..n]);
            progress(Progress {
                done: total,
                total: length,
            });
            file.write_all(&buffer[..n])
                .map_err(|error| format!("writing {} failed: {error}", file.path().display()))?;
        }
        Ok(Download {
            file,
            sha256: hasher.finalize().into(),
        })
    }
}

/// Whether a read failed because reqwest's timeout ran out (it wraps its own error).
fn is_timeout(error: &io::Error) -> bool {
    if error.kind() == io::ErrorKind::TimedOut {
        return true;
    }
    let mut source = error
        .get_ref()
        .map(|inner| inner as &(dyn std::error::Error + 'static));
    while let Some(cause) = source {
        if cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

fn describe_http_error(error: &reqwest::Error) -> String {
    // reqwest's top-level message is vague; the innermost cause says what happened.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            Location::parse("https://x/y.tar.gz").unwrap(),
            Location::Http("https://x/y.tar.gz".into())
        );
        assert_eq!(
            Location::parse("file:///srv/m").unwrap(),
            Location::File("/srv/m".into())
        );
        assert_eq!(
            Location::parse("rel/path").unwrap(),
            Location::File("rel/path".into())
        );
        assert!(Location::parse("ftp://x/y").is_err());
        assert!(Location::parse("file://rel").is_err());
        assert_eq!(
            Location::parse("http://m/").unwrap().join("sha256/ab"),
            Location::Http("http://m/sha256/ab".into())
        );
    }
}
