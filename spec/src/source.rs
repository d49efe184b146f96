//! Source entries of a build spec and their keys.
//!
//! | key form | meaning |
//! |----------|---------|
//! | `sha256:<64 hex>` | an archive, by the sha256 of its bytes (what upstream projects publish) |
//! | `tar.gz:<32 base32>` (also `tar.bz2`, `tar.xz`, `tar.zst`, `tar`, `zip`) | HashDist's archive key: base32 of the first 20 bytes of the same sha256 |
//! | `git:<40 hex>` | a git commit; `url` names the repository |
//! | `files:<32 base32>` | a pack of inline files (HashDist's `HDSTPCK1` format), given in `files` |

use super::SpecError;
use super::document::{Object, invalid, kind, relative_path};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// HashDist's archive key prefixes.
pub const ARCHIVE_KEY_TYPES: &[&str] = &["tar.gz", "tar.bz2", "tar.xz", "tar.zst", "tar", "zip"];

/// What identifies a source: a content hash or a git commit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKey {
    /// `sha256:<hex>`: lowercase hex of the archive's sha256.
    Sha256(String),
    /// HashDist's `<type>:<base32>`: base32 of the first 20 bytes of the archive's sha256.
    Archive { kind: String, digest: String },
    /// `git:<commit>`: a full 40-character commit hash.
    Git(String),
    /// `files:<base32>`: a pack of inline files.
    Files(String),
}

/// A source key that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid source key {key:?}: {reason}")]
pub struct KeyError {
    pub key: String,
    pub reason: &'static str,
}

fn is_base32_digest(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl FromStr for SourceKey {
    type Err = KeyError;

    fn from_str(key: &str) -> Result<Self, KeyError> {
        let fail = |reason| KeyError {
            key: key.to_owned(),
            reason,
        };
        let (kind, value) = key
            .split_once(':')
            .ok_or_else(|| fail("expected `sha256:<hex>`, `git:<commit>` or `files:<hash>`"))?;
        match kind {
            "sha256" if is_lower_hex(value, 64) => Ok(Self::Sha256(value.to_owned())),
            "sha256" => Err(fail("a sha256 key has 64 lowercase hex digits")),
            "git" if is_lower_hex(value, 40) => Ok(Self::Git(value.to_owned())),
            "git" => Err(fail("a git key is a full 40-digit lowercase commit hash")),
            "files" if is_base32_digest(value) => Ok(Self::Files(value.to_owned())),
            "files" => Err(fail("a files key has 32 lowercase base32 characters")),
            kind if ARCHIVE_KEY_TYPES.contains(&kind) => {
                if is_base32_digest(value) {
                    Ok(Self::Archive {
                        kind: kind.to_owned(),
                        digest: value.to_owned(),
                    })
                } else {
                    Err(fail("an archive key has 32 lowercase base32 characters"))
                }
            }
            _ => Err(fail(
                "unknown key type (use sha256, git, files, or tar.gz/tar.bz2/zip...)",
            )),
        }
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sha256(hex) => write!(f, "sha256:{hex}"),
            Self::Archive { kind, digest } => write!(f, "{kind}:{digest}"),
            Self::Git(commit) => write!(f, "git:{commit}"),
            Self::Files(digest) => write!(f, "files:{digest}"),
        }
    }
}

/// How many leading path components to drop when unpacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strip {
    /// HashDist's rule: drop the directory that all members share (if any).
    Common,
    /// Drop exactly this many leading components (`tar --strip-components`).
    Components(u32),
}

/// One entry of a spec's `sources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub key: SourceKey,
    /// Where to get it when neither the cache nor a mirror has it.
    pub url: Option<String>,
    /// Directory under `$BUILD` to unpack into, if the spec names one (see [`Self::unpack_dir`]).
    /// As written: parsing checks it is relative and has no `..`.
    pub target: Option<String>,
    /// Leading components to drop, if the spec says (see [`Self::strip_rule`]).
    pub strip: Option<u32>,
    /// For `files:` keys: the files themselves, path -> contents.
    pub files: Option<BTreeMap<String, String>>,
}

impl SourceSpec {
    /// A `files:` source: the files inline, keyed by the digest of their pack.
    pub fn files(files: BTreeMap<String, String>, target: Option<String>) -> Self {
        let digest = crate::pack::pack_digest(&crate::pack::pack(&files));
        Self {
            key: SourceKey::Files(digest),
            url: None,
            target,
            strip: None,
            files: Some(files),
        }
    }

    /// Directory under `$BUILD` to unpack into (the build dir itself by default), with
    /// `.` and empty components dropped. A target that does not parse (only a source built
    /// by hand and never validated has one) unpacks into the build dir itself.
    pub fn unpack_dir(&self) -> PathBuf {
        self.target
            .as_deref()
            .and_then(|target| relative_path(target, "target").ok())
            .unwrap_or_default()
    }

    /// How to strip leading components: as the spec says, else HashDist's rule for
    /// archives (drop the shared directory) and nothing for git checkouts and file packs,
    /// which have no wrapping directory.
    pub fn strip_rule(&self) -> Strip {
        match (self.strip, &self.key) {
            (Some(count), _) => Strip::Components(count),
            (None, SourceKey::Git(_) | SourceKey::Files(_)) => Strip::Components(0),
            (None, SourceKey::Archive { .. } | SourceKey::Sha256(_)) => Strip::Common,
        }
    }

    /// The entry as a spec writes it; parsing it gives back an equal source.
    pub fn to_document(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("key".into(), json!(self.key.to_string()));
        if let Some(url) = &self.url {
            entry.insert("url".into(), json!(url));
        }
        if let Some(target) = &self.target {
            entry.insert("target".into(), json!(target));
        }
        if let Some(strip) = self.strip {
            entry.insert("strip".into(), json!(strip));
        }
        if let Some(files) = &self.files {
            entry.insert("files".into(), json!(files));
        }
        Value::Object(entry)
    }

    /// An entry as a spec writes it ([`Self::to_document`]), validated.
    pub fn from_document(value: &Value) -> Result<Self, SpecError> {
        Self::parse(value, "source")
    }

    pub(crate) fn parse(value: &Value, path: &str) -> Result<Self, SpecError> {
        let object = Object::new(value, path)?;
        object.only(&["key", "url", "target", "strip", "files"])?;
        let key_text = object.required_string("key")?;
        let key: SourceKey = key_text
            .parse()
            .map_err(|error: KeyError| invalid(&object.field_path("key"), error.to_string()))?;
        let url = object.string("url")?.map(str::to_owned);
        let target = object.string("target")?.map(str::to_owned);
        if let Some(target) = &target {
            relative_path(target, &object.field_path("target"))?;
        }
        let strip = match object.get("strip") {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 64) => {
                Some(n.as_u64().expect("checked") as u32)
            }
            Some(other) => {
                return Err(invalid(
                    &object.field_path("strip"),
                    format!(
                        "expected a small non-negative integer, found {}",
                        kind(other)
                    ),
                ));
            }
        };
        let files = match object.get("files") {
            None => None,
            Some(Value::Object(map)) => {
                let mut files = BTreeMap::new();
                for (name, contents) in map {
                    let file_path = format!("{}[{name:?}]", object.field_path("files"));
                    relative_path(name, &file_path)?;
                    if name.is_empty() || name.ends_with('/') {
                        return Err(invalid(&file_path, "a file name must name a file".into()));
                    }
                    match contents {
                        Value::String(text) => files.insert(name.clone(), text.clone()),
                        other => {
                            return Err(invalid(
                                &file_path,
                                format!(
                                    "expected the file's contents as a string, found {}",
                                    kind(other)
                                ),
                            ));
                        }
                    };
                }
                Some(files)
            }
            Some(other) => {
                return Err(invalid(
                    &object.field_path("files"),
                    format!(
                        "expected an object of path -> contents, found {}",
                        kind(other)
                    ),
                ));
            }
        };
        match (&key, &url, &files) {
            (SourceKey::Git(_), None, _) => Err(invalid(
                &object.field_path("url"),
                "a git source needs the repository `url`".into(),
            )),
            (SourceKey::Files(_), _, None) => Err(invalid(
                &object.field_path("files"),
                "a `files:` source needs its `files` (path -> contents)".into(),
            )),
            (SourceKey::Files(_), Some(_), _) => Err(invalid(
                &object.field_path("url"),
                "a `files:` source has no url".into(),
            )),
            (key, _, Some(_)) if !matches!(key, SourceKey::Files(_)) => Err(invalid(
                &object.field_path("files"),
                "only `files:` sources carry inline files".into(),
            )),
            _ => Ok(Self {
                key,
                url,
                target,
                strip,
                files,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_print_back() {
        for key in [
            "sha256:71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1",
            "tar.gz:4niostz3iktlg67najtdnplxkbl4ljyx",
            "git:35dc14b0a59cf16be8ebdac04f7269ac455d5e43",
            "files:cwfxs3bhjvlxoczwlxlexklpeoewybcn",
        ] {
            assert_eq!(key.parse::<SourceKey>().unwrap().to_string(), key);
        }
    }

    #[test]
    fn bad_keys_say_why() {
        for key in [
            "sha256:ABC",
            "git:master",
            "md5:abc",
            "nocolon",
            "tar.gz:short",
        ] {
            assert!(key.parse::<SourceKey>().is_err(), "{key}");
        }
    }
}
