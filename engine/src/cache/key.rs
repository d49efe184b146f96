//! Signing keys: ed25519 (ed25519-dalek), written as text, `NAME:BASE64`, as Nix writes
//! its binary cache keys (`cache.example.org-1:...`).
//!
//! | file | holds |
//! |------|-------|
//! | `NAME.secret` | `NAME:` and the base64 of the 32-byte secret seed; mode 0600 |
//! | `NAME.public` | `NAME:` and the base64 of the 32-byte public key |
//!
//! The name travels with every signature, so a store that trusts several keys knows which
//! one to check, and a refusal can say which key signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::fmt;
use std::path::{Path, PathBuf};

/// A key that cannot be read, written or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "invalid key name {0:?}: use letters, digits, `.`, `_` and `-` (e.g. `cluster.example.org-1`)"
    )]
    Name(String),
    #[error("{what} {text:?} is not `NAME:BASE64` of {len} bytes")]
    Text {
        what: &'static str,
        text: String,
        len: usize,
    },
    #[error("{0}: not a valid ed25519 public key")]
    Curve(String),
    #[error("{} already exists; remove it first or choose another name", .0.display())]
    Exists(PathBuf),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot get random bytes for a new key: {0}")]
    Random(String),
}

fn check_name(name: &str) -> Result<(), KeyError> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(KeyError::Name(name.to_owned()))
    }
}

/// `NAME:BASE64` with `len` bytes behind the colon.
fn parse_text<const N: usize>(
    what: &'static str,
    text: &str,
) -> Result<(String, [u8; N]), KeyError> {
    let text = text.trim();
    let bad = || KeyError::Text {
        what,
        text: text.chars().take(120).collect(),
        len: N,
    };
    let (name, encoded) = text.split_once(':').ok_or_else(bad)?;
    check_name(name)?;
    let bytes = BASE64.decode(encoded).map_err(|_| bad())?;
    let bytes: [u8; N] = bytes.try_into().map_err(|_| bad())?;
    Ok((name.to_owned(), bytes))
}

/// The secret half: signs cache entries (`hit push`).
pub struct SecretKey {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret itself, not even in a debug log.
        f.debug_struct("SecretKey")
            .field("name", &self.name)
            .finish()
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| KeyError::Random(error.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (name, seed) = parse_text::<32>("secret key", text)?;
        Ok(Self {
            name,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads a `NAME.secret` file.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            what: "cannot read the secret key",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|error| match error {
            KeyError::Text { what, len, .. } => KeyError::Text {
                what,
                text: path.display().to_string(),
                len,
            },
            other => other,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The text of the secret file (handle with care).
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.name, BASE64.encode(self.key.to_bytes()))
    }

    /// The base64 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        BASE64.encode(self.key.sign(message).to_bytes())
    }

    /// Writes `NAME.secret` (mode 0600) and `NAME.public` into `dir`, refusing to replace
    /// either. Returns both paths.
    pub fn write_pair(&self, dir: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            what: "cannot create",
            path: dir.to_path_buf(),
            source,
        })?;
        let secret = dir.join(format!("{}.secret", self.name));
        let public = dir.join(format!("{}.public", self.name));
        for path in [&secret, &public] {
            if std::fs::symlink_metadata(path).is_ok() {
                return Err(KeyError::Exists(path.clone()));
            }
        }
        let write = |path: &Path, text: String, mode: u32| {
            let io = |source| KeyError::Io {
                what: "cannot write",
                path: path.to_path_buf(),
                source,
            };
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(path)
                .map_err(io)?;
            file.write_all(format!("{text}\n").as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)
        };
        write(&secret, self.to_text(), 0o600)?;
        write(&public, self.public().to_string(), 0o644)?;
        Ok((secret, public))
    }
}

/// The public half: checks signatures (`trusted_keys:` in config.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (name, bytes) = parse_text::<32>("public key", text)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Curve(text.to_owned()))?;
        Ok(Self { name, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `signature` (base64) is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let Ok(bytes) = BASE64.decode(signature) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(self.key.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sign() {
        let secret = SecretKey::generate("test-1").unwrap();
        let again = SecretKey::parse(&secret.to_text()).unwrap();
        assert_eq!(again.public(), secret.public());
        let public = PublicKey::parse(&secret.public().to_string()).unwrap();
        let signature = secret.sign(b"message");
        assert!(public.verifies(b"message", &signature));
        assert!(!public.verifies(b"messagE", &signature));
        assert!(!public.verifies(b"message", "not base64!"));
        let other = SecretKey::generate("test-1").unwrap();
        assert!(!other.public().verifies(b"message", &signature));
    }

    #[test]
    fn bad_keys_are_refused_with_what_is_wrong() {
        assert!(matches!(
            PublicKey::parse("no colon"),
            Err(KeyError::Text { .. })
        ));
        assert!(matches!(
            PublicKey::parse("a b:AAAA"),
            Err(KeyError::Name(_))
        ));
        assert!(matches!(
            PublicKey::parse("k:AAAA"),
            Err(KeyError::Text { len: 32, .. })
        ));
        assert!(SecretKey::generate("../x").is_err());
    }

    #[test]
    fn a_key_pair_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate("site").unwrap();
        let (secret, public) = key.write_pair(dir.path()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(SecretKey::read(&secret).unwrap().public(), key.public());
        let text = std::fs::read_to_string(public).unwrap();
        assert_eq!(PublicKey::parse(&text).unwrap(), key.public());
        assert!(matches!(
            key.write_pair(dir.path()),
            Err(KeyError::Exists(_))
        ));
    }
}
