//! Fuzzing with proptest (many cases, in the normal test run): the build-spec parser and
//! the archive unpacker take arbitrary and mutated input without panicking, every refusal
//! says what is wrong, and the unpacker never writes outside its target.
#![allow(clippy::unwrap_used)]

use hit_engine::source::{Limits, unpack_archive, unpack_tar};
use hit_engine::spec::{BuildSpec, Strip};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::Path;

fn valid_spec() -> Value {
    json!({
        "name": "zlib", "version": "1.3",
        "sources": [{"key": "sha256:71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1",
                     "url": "https://example.org/zlib.tar.gz"}],
        "build": {
            "import": [{"ref": "M4", "id": "m4/abcdefghijklmnopqrstuvwxyz234567"}],
            "commands": [
                {"set": "CFLAGS", "value": "-O2"},
                {"cmd": ["sh", "-c", "./configure --prefix=$ARTIFACT && make install"],
                 "inputs": [{"text": ["a"]}]},
                {"commands": [{"chdir": "sub"}, {"cmd": ["true"]}]},
            ],
        },
    })
}

/// Arbitrary JSON, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9$/_.: -]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every place in the valid spec where a value can be swapped for anything.
const SPEC_PATHS: &[&str] = &[
    "/name",
    "/version",
    "/sources",
    "/sources/0",
    "/sources/0/key",
    "/sources/0/url",
    "/build",
    "/build/import",
    "/build/import/0",
    "/build/import/0/id",
    "/build/import/0/ref",
    "/build/commands",
    "/build/commands/0",
    "/build/commands/0/value",
    "/build/commands/1/cmd",
    "/build/commands/1/inputs",
    "/build/commands/2/commands",
    "/build/commands/2/commands/0/chdir",
];

#[test]
fn the_base_spec_is_valid() {
    BuildSpec::from_document(valid_spec()).unwrap();
}

fn check_error(text: &str) {
    if let Err(error) = BuildSpec::from_json(text) {
        let message = error.to_string();
        assert!(message.len() > 8, "a bare error: {message:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn the_spec_parser_takes_any_text(text in any::<String>()) {
        check_error(&text);
    }

    #[test]
    fn the_spec_parser_takes_any_value_anywhere(
        index in 0..SPEC_PATHS.len(),
        value in any_json(),
    ) {
        let mut doc = valid_spec();
        *doc.pointer_mut(SPEC_PATHS[index]).unwrap() = value;
        if let Err(error) = BuildSpec::from_document(doc) {
            let message = error.to_string();
            // Errors name where in the document they are.
            prop_assert!(message.contains('$') || message.contains("line"), "{}", message);
        }
    }

    #[test]
    fn the_spec_parser_takes_mangled_text(
        cut in 0usize..400,
        junk in "[{}\\[\\],:\"0-9a-z\\\\]{0,6}",
        at in 0usize..400,
    ) {
        let text = serde_json::to_string_pretty(&valid_spec()).unwrap();
        let at = at.min(text.len());
        let cut = (at + cut % 20).min(text.len());
        if text.is_char_boundary(at) && text.is_char_boundary(cut) {
            let mangled = format!("{}{junk}{}", &text[..at], &text[cut..]);
            check_error(&mangled);
        }
    }
}

/// A small valid tarball: directories, files, a symlink and a hard link.
fn valid_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        builder.append_data(&mut header, path, data).unwrap();
    };
    add("pkg-1.0/", tar::EntryType::Directory, None, b"");
    add("pkg-1.0/src/", tar::EntryType::Directory, None, b"");
    add(
        "pkg-1.0/src/a.c",
        tar::EntryType::Regular,
        None,
        b"int main;\n",
    );
    add(
        "pkg-1.0/README",
        tar::EntryType::Regular,
        None,
        &[b'x'; 700],
    );
    add(
        "pkg-1.0/link",
        tar::EntryType::Symlink,
        Some("src/a.c"),
        b"",
    );
    add(
        "pkg-1.0/hard",
        tar::EntryType::Link,
        Some("pkg-1.0/README"),
        b"",
    );
    builder.into_inner().unwrap()
}

#[test]
fn the_base_tarball_unpacks() {
    let sandbox = tempfile::tempdir().unwrap();
    let target = sandbox.path().join("target");
    unpack_tar(&valid_tar()[..], &target, Strip::Common, Limits::default()).unwrap();
    assert_eq!(std::fs::read(target.join("link")).unwrap(), b"int main;\n");
    assert_eq!(std::fs::read(target.join("hard")).unwrap().len(), 700);
}

/// Nothing but `target` next to it, and no symlink inside it that leads out.
fn assert_contained(sandbox: &Path) {
    let names: Vec<_> = std::fs::read_dir(sandbox)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "wrote next to the target: {names:?}");
    let root = sandbox.join("target").canonicalize().unwrap();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_symlink() {
                if let Ok(resolved) = path.canonicalize() {
                    assert!(resolved.starts_with(&root), "{} leads out", path.display());
                }
            } else if meta.is_dir() {
                stack.push(path);
            }
        }
    }
}

fn unpack_mutated(bytes: &[u8], compress: bool) {
    let sandbox = tempfile::tempdir().unwrap();
    let target = sandbox.path().join("target");
    let limits = Limits {
        members: 200,
        bytes: 1 << 20,
    };
    let result = if compress {
        let archive = sandbox.path().join("archive");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, bytes).unwrap();
        std::fs::write(&archive, encoder.finish().unwrap()).unwrap();
        unpack_archive(&archive, &target, Strip::Common, limits)
    } else {
        std::fs::write(sandbox.path().join("archive"), b"").unwrap();
        unpack_tar(bytes, &target, Strip::Common, limits)
    };
    if let Err(error) = result {
        assert!(error.to_string().len() > 8, "a bare error: {error}");
        // A refused archive leaves the target as it was: empty.
        let left: Vec<_> = std::fs::read_dir(&target)
            .map(|d| d.collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{error}: left {left:?}");
    }
    if target.exists() {
        assert_contained(sandbox.path());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn the_unpacker_takes_mutated_tarballs(
        flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..8),
        truncate in proptest::option::of(0usize..4096),
        compress in any::<bool>(),
    ) {
        let mut bytes = valid_tar();
        for (at, byte) in flips {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        if let Some(len) = truncate {
            bytes.truncate(len.min(bytes.len()));
        }
        unpack_mutated(&bytes, compress);
    }

    #[test]
    fn the_unpacker_takes_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        unpack_mutated(&bytes, false);
    }
}
