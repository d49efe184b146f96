//! A cache entry: the signed metadata file of one artifact in a binary cache.
//!
//! `<cache>/<name>/<hash>.json` says what the artifact is and where its archive lies:
//!
//! ```json
//! {
//!   "format": 1,
//!   "id": "zlib/abc...",
//!   "version": "1.3.1",
//!   "content_hash": "sha256:...",
//!   "archive": { "file": "abc...-0123456789abcdef.tar.zst", "sha256": "...", "size": 123456 },
//!   "unpacked_size": 456789,
//!   "imports": ["toolchain/..."],
//!   "dependencies": ["toolchain/..."],
//!   "relocation": { "store": "/home/me/.hit/bld", "rpaths": {...}, "text": {...}, ... },
//!   "signatures": [{ "key": "site-1", "signature": "base64..." }]
//! }
//! ```
//!
//! ## What a signature covers
//!
//! Each signature is an ed25519 signature of the entry's *fingerprint*, canonical text
//! that names everything installing the artifact relies on:
//!
//! | line | what |
//! |------|------|
//! | `hit-cache-entry 1` | the format |
//! | `id ID` | the artifact it is for: an entry cannot be served for another id |
//! | `content_hash sha256:HEX` | the manifest hash of the tree: the unpacked files are checked against it |
//! | `archive FILE SHA256 SIZE` | the archive's bytes: checked before anything is unpacked |
//! | `imports ID ID ...` | what it was built with (sorted) |
//! | `dependencies ID ID ...` | its closure (sorted): what a pull must install first |
//! | `relocation sha256:HEX` | sha256 of the relocation record as compact JSON (fields in their declared order, maps sorted) |
//!
//! So a cache, or anyone between it and hit, can change nothing that matters without
//! breaking every signature: not the files (content hash), not the archive (its hash), not
//! what the artifact depends on, not how it is relocated. `version` and `unpacked_size` are
//! only shown, and are not signed.

use super::key::{PublicKey, SecretKey};
use crate::spec::ArtifactId;
use crate::store::relocate::Relocation;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Format version of cache entries.
pub const ENTRY_FORMAT: u32 = 1;

/// The signed metadata of one artifact in a cache (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheEntry {
    pub format: u32,
    pub id: ArtifactId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub content_hash: String,
    pub archive: ArchiveInfo,
    /// Bytes of file contents once unpacked.
    pub unpacked_size: u64,
    pub imports: Vec<ArtifactId>,
    pub dependencies: Vec<ArtifactId>,
    pub relocation: Relocation,
    pub signatures: Vec<EntrySignature>,
}

/// The compressed archive of an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveInfo {
    /// Its file name, beside the entry.
    pub file: String,
    /// sha256 of its bytes, lowercase hex.
    pub sha256: String,
    pub size: u64,
}

/// One signature of an entry's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySignature {
    /// The signing key's name.
    pub key: String,
    /// Base64 of the ed25519 signature.
    pub signature: String,
}

/// How an entry's signatures fall short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// No key is trusted at all (`trusted_keys:` is empty).
    NoTrustedKeys,
    /// Signed only by keys this store does not trust (their names).
    Untrusted(Vec<String>),
    /// A trusted key's signature does not match the entry (it was changed after signing).
    Invalid(String),
    /// Not signed at all.
    Unsigned,
}

impl std::fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoTrustedKeys => f.write_str(
                "no key is trusted (add the cache's public key to trusted_keys in config.yaml)",
            ),
            Self::Untrusted(names) => write!(
                f,
                "signed only by keys this store does not trust ({}); add the public key to \
                 trusted_keys in config.yaml if you trust it",
                names.join(", ")
            ),
            Self::Invalid(name) => write!(
                f,
                "bad signature by trusted key {name}: the entry was changed after it was signed"
            ),
            Self::Unsigned => f.write_str("the entry is not signed"),
        }
    }
}

impl CacheEntry {
    /// The canonical text the signatures cover (see the module doc).
    pub fn fingerprint(&self) -> String {
        let ids = |ids: &[ArtifactId]| {
            let mut ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            ids.sort();
            ids.join(" ")
        };
        let relocation =
            serde_json::to_vec(&self.relocation).expect("a relocation record serializes");
        format!(
            "hit-cache-entry {ENTRY_FORMAT}\nid {}\ncontent_hash {}\narchive {} {} {}\n\
             imports {}\ndependencies {}\nrelocation sha256:{}\n",
            self.id,
            self.content_hash,
            self.archive.file,
            self.archive.sha256,
            self.archive.size,
            ids(&self.imports),
            ids(&self.dependencies),
            crate::spec::canonical::hex_lower(&Sha256::digest(&relocation)),
        )
    }

    /// Adds `key`'s signature (replacing an earlier one by a key of the same name).
    pub fn sign(&mut self, key: &SecretKey) {
        let signature = key.sign(self.fingerprint().as_bytes());
        self.signatures.retain(|s| s.key != key.name());
        self.signatures.push(EntrySignature {
            key: key.name().to_owned(),
            signature,
        });
    }

    /// The name of a trusted key whose signature holds, or what is wrong.
    pub fn check_signatures(&self, trusted: &[PublicKey]) -> Result<String, SignatureProblem> {
        if trusted.is_empty() {
            return Err(SignatureProblem::NoTrustedKeys);
        }
        if self.signatures.is_empty() {
            return Err(SignatureProblem::Unsigned);
        }
        let fingerprint = self.fingerprint();
        let mut invalid = None;
        for signature in &self.signatures {
            for key in trusted.iter().filter(|k| k.name() == signature.key) {
                if key.verifies(fingerprint.as_bytes(), &signature.signature) {
                    return Ok(key.name().to_owned());
                }
                invalid = Some(key.name().to_owned());
            }
        }
        match invalid {
            Some(name) => Err(SignatureProblem::Invalid(name)),
            None => Err(SignatureProblem::Untrusted(
                self.signatures.iter().map(|s| s.key.clone()).collect(),
            )),
        }
    }

    /// The entry as written to the cache: pretty JSON and a newline.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("an entry serializes");
        json.push('\n');
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CacheEntry {
        CacheEntry {
            format: ENTRY_FORMAT,
            id: "zlib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".parse().unwrap(),
            version: Some("1.3.1".into()),
            content_hash: "sha256:00".into(),
            archive: ArchiveInfo {
                file: "a.tar.zst".into(),
                sha256: "11".into(),
                size: 3,
            },
            unpacked_size: 10,
            imports: vec![],
            dependencies: vec![],
            relocation: Relocation::default(),
            signatures: vec![],
        }
    }

    #[test]
    fn a_signature_covers_what_installing_relies_on() {
        let key = SecretKey::generate("site-1").unwrap();
        let trusted = [key.public()];
        let mut signed = entry();
        signed.sign(&key);
        assert_eq!(signed.check_signatures(&trusted).unwrap(), "site-1");
        // Not signed: version is only shown.
        let mut shown = signed.clone();
        shown.version = Some("9".into());
        assert!(shown.check_signatures(&trusted).is_ok());
        let changes: [fn(&mut CacheEntry); 5] = [
            |e| e.content_hash = "sha256:01".into(),
            |e| e.archive.sha256 = "12".into(),
            |e| e.archive.size = 4,
            |e| e.dependencies = vec!["xz/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".parse().unwrap()],
            |e| e.relocation.binary = vec!["bin/x".into()],
        ];
        for change in changes {
            let mut changed = signed.clone();
            change(&mut changed);
            assert_eq!(
                changed.check_signatures(&trusted),
                Err(SignatureProblem::Invalid("site-1".into()))
            );
        }
        let stranger = SecretKey::generate("other").unwrap();
        assert_eq!(
            signed.check_signatures(&[stranger.public()]),
            Err(SignatureProblem::Untrusted(vec!["site-1".into()]))
        );
        assert_eq!(
            entry().check_signatures(&trusted),
            Err(SignatureProblem::Unsigned)
        );
        assert_eq!(
            signed.check_signatures(&[]),
            Err(SignatureProblem::NoTrustedKeys)
        );
    }

    #[test]
    fn the_fingerprint_is_pinned() {
        assert_eq!(
            entry().fingerprint(),
            "hit-cache-entry 1\nid zlib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ncontent_hash sha256:00\n\
             archive a.tar.zst 11 3\nimports \ndependencies \nrelocation \
             sha256:22d0d629bb88f209079ff10a650013a88e131ffeb1e9b71202d7aec7a7cf9120\n"
        );
    }
}
