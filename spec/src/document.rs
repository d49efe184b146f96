//! Small helpers to read a JSON document field by field with precise error paths.

use super::SpecError;
use serde_json::{Map, Value};

/// A JSON object being read, with its path in the document for error messages.
pub(crate) struct Object<'a> {
    pub path: String,
    pub map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    pub fn new(value: &'a Value, path: &str) -> Result<Self, SpecError> {
        match value {
            Value::Object(map) => Ok(Self {
                path: path.to_owned(),
                map,
            }),
            other => Err(invalid(
                path,
                format!("expected an object, found {}", kind(other)),
            )),
        }
    }

    /// Fails on any key that is not in `allowed` and does not start with `nohash_`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), SpecError> {
        for key in self.map.keys() {
            if !key.starts_with("nohash_") && !allowed.contains(&key.as_str()) {
                let expected: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
                return Err(invalid(
                    &self.field_path(key),
                    format!(
                        "unknown field (expected one of {}, or a `nohash_` field)",
                        expected.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn field_path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, SpecError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(invalid(
                &self.field_path(key),
                format!("expected a string, found {}", kind(other)),
            )),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<&'a str, SpecError> {
        self.string(key)?
            .ok_or_else(|| invalid(&self.field_path(key), "missing field".into()))
    }

    pub fn array(&self, key: &str) -> Result<&'a [Value], SpecError> {
        match self.map.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(invalid(
                &self.field_path(key),
                format!("expected a list, found {}", kind(other)),
            )),
        }
    }
}

pub(crate) fn invalid(path: &str, message: String) -> SpecError {
    SpecError::Invalid {
        path: path.to_owned(),
        message,
    }
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A list of strings, each checked.
pub(crate) fn strings(items: &[Value], path: &str) -> Result<Vec<String>, SpecError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(text) => Ok(text.clone()),
            other => Err(invalid(
                &format!("{path}[{index}]"),
                format!("expected a string, found {}", kind(other)),
            )),
        })
        .collect()
}

/// A relative path inside a directory: no root, no `..`, `/`-separated.
pub(crate) fn relative_path(text: &str, path: &str) -> Result<std::path::PathBuf, SpecError> {
    let mut out = std::path::PathBuf::new();
    if text.starts_with('/') {
        return Err(invalid(path, format!("{text:?} must be a relative path")));
    }
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid(path, format!("{text:?} must not contain `..`"))),
            part if part.contains('\0') => {
                return Err(invalid(path, format!("{text:?} contains a NUL byte")));
            }
            part => out.push(part),
        }
    }
    Ok(out)
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
