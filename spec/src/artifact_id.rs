//! Artifact identity: `name/hash`, validated on construction.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Length of the hash part of an artifact id (base32 of 20 bytes).
pub const HASH_LEN: usize = 32;

/// An invalid package name or artifact id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error(
        "invalid package name {0:?}: use only letters, digits, `_`, `+` and `-` (and at least one)"
    )]
    Name(String),
    #[error(
        "invalid package name {0:?}: longer than {MAX_NAME_LEN} characters (hit makes file names of it and a hash)"
    )]
    NameTooLong(String),
    #[error(
        "invalid artifact id {0:?}: expected `name/hash` with a 32-character lowercase base32 hash"
    )]
    Id(String),
}

/// The longest package name: `<name>-<hash>.lock` and the like must fit a file name
/// (255 bytes on every common file system), so a long name fails when it is read, not
/// halfway through a build.
pub const MAX_NAME_LEN: usize = 200;

/// A package name: `[a-zA-Z0-9_+-]+`, at most [`MAX_NAME_LEN`] characters, checked over
/// the whole name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName(String);

impl PackageName {
    pub fn new(name: &str) -> Result<Self, IdError> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'));
        if !valid {
            Err(IdError::Name(name.to_owned()))
        } else if name.len() > MAX_NAME_LEN {
            Err(IdError::NameTooLong(name.to_owned()))
        } else {
            Ok(Self(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of an artifact: its package name and the hash of its build spec.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArtifactId {
    name: PackageName,
    hash: String,
}

impl ArtifactId {
    /// Builds an id from a name and a hash; the hash must be 32 lowercase base32 characters.
    pub fn new(name: PackageName, hash: &str) -> Result<Self, IdError> {
        let valid = hash.len() == HASH_LEN
            && hash
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        if valid {
            Ok(Self {
                name,
                hash: hash.to_owned(),
            })
        } else {
            Err(IdError::Id(format!("{name}/{hash}")))
        }
    }

    pub fn name(&self) -> &PackageName {
        &self.name
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }
}

impl fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.hash)
    }
}

impl FromStr for ArtifactId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        let (name, hash) = text
            .split_once('/')
            .ok_or_else(|| IdError::Id(text.to_owned()))?;
        let name = PackageName::new(name).map_err(|_| IdError::Id(text.to_owned()))?;
        Self::new(name, hash).map_err(|_| IdError::Id(text.to_owned()))
    }
}

impl Serialize for ArtifactId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ArtifactId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_over_their_whole_length() {
        assert!(PackageName::new("zlib").is_ok());
        assert!(PackageName::new("gcc-12_x+y").is_ok());
        assert!(PackageName::new("").is_err());
        // HashDist only checked the first character; these must fail here.
        assert!(PackageName::new("zlib/../x").is_err());
        assert!(PackageName::new("z lib").is_err());
        assert!(PackageName::new("zlib.1").is_err());
        // Long enough to fail at a file name later (`<name>-<hash>.lock`): refused now.
        assert!(PackageName::new(&"a".repeat(MAX_NAME_LEN)).is_ok());
        let error = PackageName::new(&"a".repeat(MAX_NAME_LEN + 1)).unwrap_err();
        assert!(error.to_string().contains("longer than 200"), "{error}");
    }

    #[test]
    fn ids_round_trip_and_reject_bad_hashes() {
        let id: ArtifactId = "fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn".parse().unwrap();
        assert_eq!(id.name().as_str(), "fooname");
        assert_eq!(id.to_string(), "fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn");
        assert!("fooname".parse::<ArtifactId>().is_err());
        assert!(
            "fooname/CWFXS3BHJVLXOCZWLXLEXKLPEOEWYBCN"
                .parse::<ArtifactId>()
                .is_err()
        );
        assert!(
            "fooname/cwfxs3bhjvlxoczwlxlexklpeoewybc1"
                .parse::<ArtifactId>()
                .is_err()
        );
        assert!("fooname/short".parse::<ArtifactId>().is_err());
        assert!(
            "foo name/cwfxs3bhjvlxoczwlxlexklpeoewybcn"
                .parse::<ArtifactId>()
                .is_err()
        );
    }
}
