//! Canonical JSON and the document hash (HashDist's algorithm, bit for bit).
//!
//! | step | rule |
//! |------|------|
//! | prune | every object key starting with `nohash_` is dropped, at any depth |
//! | serialize | compact (no whitespace), object keys sorted by code point |
//! | strings | ASCII only: `"` `\\` `\b` `\f` `\n` `\r` `\t` short escapes, every other character outside `' '..='~'` as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs above U+FFFF), as Python's `json.dumps(ensure_ascii=True)` writes them |
//! | numbers | integers only; a float anywhere is an error (its text form is not portable) |
//! | digest | `sha256(kind + "|" + json)`, with kind `build-spec` for build specs |
//! | hash | lowercase RFC 4648 base32 of the first 20 bytes of the digest: 32 characters, no padding |

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// A document that cannot be hashed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    #[error(
        "{path}: floating-point numbers are not allowed in hashed documents (write the value as a string)"
    )]
    Float { path: String },
}

/// Serializes `doc` canonically (see the module doc). `nohash_` keys are *not* pruned here.
pub fn canonical_json(doc: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write_value(doc, &mut out, false).map_err(|path| CanonicalError::Float {
        path: format!("${path}"),
    })?;
    Ok(out)
}

/// The hash of a document of the given kind: prune, serialize, digest, encode.
pub fn hash_document(kind: &str, doc: &Value) -> Result<String, CanonicalError> {
    // Pruned while writing: no pruned copy of the document is made.
    let mut json = String::new();
    write_value(doc, &mut json, true).map_err(|path| CanonicalError::Float {
        path: format!("${path}"),
    })?;
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update(b"|");
    hasher.update(json.as_bytes());
    let digest = hasher.finalize();
    Ok(base32_lower(&digest[..20]))
}

/// Writes `value` canonically, leaving out `nohash_` keys if `prune`. A float is an error
/// whose path (`.build.commands[2]`) is put together on the way out, so that the common
/// case builds no paths at all.
fn write_value(value: &Value, out: &mut String, prune: bool) -> Result<(), String> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                write!(out, "{int}").expect("writing to a String cannot fail");
            } else if let Some(int) = number.as_u64() {
                write!(out, "{int}").expect("writing to a String cannot fail");
            } else {
                return Err(String::new());
            }
        }
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out, prune).map_err(|path| format!("[{index}]{path}"))?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .keys()
                .filter(|key| !(prune && key.starts_with("nohash_")))
                .collect();
            keys.sort_unstable();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(&map[key], out, prune).map_err(|path| format!(".{key}{path}"))?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04x}").expect("writing to a String cannot fail");
                }
            }
        }
    }
    out.push('"');
}

/// Lowercase RFC 4648 base32 without padding.
pub fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Lowercase hex.
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        write!(out, "{byte:02x}").expect("writing to a String cannot fail");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        assert_eq!(base32_lower(b""), "");
        assert_eq!(base32_lower(b"f"), "my");
        assert_eq!(base32_lower(b"fo"), "mzxq");
        assert_eq!(base32_lower(b"foo"), "mzxw6");
        assert_eq!(base32_lower(b"foob"), "mzxw6yq");
        assert_eq!(base32_lower(b"fooba"), "mzxw6ytb");
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn canonical_form_is_compact_sorted_and_ascii() {
        let doc = json!({"b": [1, -2, true, null], "a": {"z": "x", "y": "é\n\"\\\u{7f}😀"}});
        assert_eq!(
            canonical_json(&doc).unwrap(),
            r#"{"a":{"y":"\u00e9\n\"\\\u007f\ud83d\ude00","z":"x"},"b":[1,-2,true,null]}"#
        );
    }

    #[test]
    fn floats_are_rejected_with_their_path() {
        let doc = json!({"build": {"commands": [{"x": 1.5}]}});
        assert_eq!(
            canonical_json(&doc),
            Err(CanonicalError::Float {
                path: "$.build.commands[0].x".into()
            })
        );
    }

    #[test]
    fn nohash_keys_are_pruned_at_any_depth() {
        let doc = json!({"a": 1, "nohash_b": 2, "c": [{"nohash_d": 3, "e": 4}]});
        let pruned = json!({"a": 1, "c": [{"e": 4}]});
        assert_eq!(
            hash_document("k", &doc).unwrap(),
            hash_document("k", &pruned).unwrap()
        );
        // Only hashing prunes: the canonical form keeps them.
        assert!(canonical_json(&doc).unwrap().contains("nohash_d"));
        // A float under a pruned key is never looked at.
        let float = json!({"a": 1, "nohash_f": 1.5});
        assert_eq!(
            hash_document("k", &float).unwrap(),
            hash_document("k", &json!({"a": 1})).unwrap()
        );
    }

    #[test]
    fn golden_hash_of_python_json_dumps() {
        // python3: json.dumps(doc, sort_keys=True, separators=(",",":"), ensure_ascii=True)
        let doc = json!({"build": {"commands": [], "import": []}, "name": "fooname"});
        assert_eq!(
            hash_document("build-spec", &doc).unwrap(),
            "cwfxs3bhjvlxoczwlxlexklpeoewybcn"
        );
    }
}
