//! `files:` packs: HashDist's format for hashing a set of files by content alone.
//!
//! The pack is the magic `HDSTPCK1` followed by each file, sorted by name, as
//! little-endian `u32` name length, `u32` contents length, the name, the contents. The
//! key is `files:` + lowercase base32 of the first 20 bytes of the pack's sha256.

use super::canonical::base32_lower;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const MAGIC: &[u8; 8] = b"HDSTPCK1";

/// Serializes files (name -> contents) as a pack.
pub fn pack(files: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (name, contents) in files {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(contents.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(contents.as_bytes());
    }
    out
}

/// The digest part of a pack's key.
pub fn pack_digest(pack: &[u8]) -> String {
    base32_lower(&Sha256::digest(pack)[..20])
}

/// Reads a pack back into (name, contents) pairs; `None` if it is malformed.
pub fn read_pack(pack: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut rest = pack.strip_prefix(MAGIC.as_slice())?;
    let mut files = Vec::new();
    while !rest.is_empty() {
        let name_len = u32::from_le_bytes(rest.get(0..4)?.try_into().ok()?) as usize;
        let contents_len = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?) as usize;
        let name = rest.get(8..8 + name_len)?.to_vec();
        let contents = rest
            .get(8 + name_len..8 + name_len + contents_len)?
            .to_vec();
        rest = &rest[8 + name_len + contents_len..];
        files.push((name, contents));
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_sorts_by_name() {
        let files = BTreeMap::from([
            ("b/x".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ]);
        let bytes = pack(&files);
        assert_eq!(&bytes[..8], b"HDSTPCK1");
        let back = read_pack(&bytes).unwrap();
        assert_eq!(
            back,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b/x".to_vec(), b"2".to_vec())
            ]
        );
        assert!(read_pack(&bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn pack_digest_golden() {
        // python3: h=sha256(b"HDSTPCK1"+struct.pack("<II",1,1)+b"a"+b"1"); b32encode(h.digest()[:20]).lower()
        let files = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert_eq!(pack_digest(&pack(&files)), GOLDEN);
    }

    const GOLDEN: &str = "uww6jw7ffi22byjaopcqotevfz73af3x";
}
