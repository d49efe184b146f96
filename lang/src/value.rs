//! Reading Rhai values into Rust types, with messages that name the field.

use crate::LangError;
use crate::error::Token;
use rhai::{Dynamic, Map};
use std::collections::BTreeMap;

/// A script map being read; `path` names it in messages (`sources[1]`).
pub(crate) struct Fields {
    pub path: String,
    pub map: Map,
}

/// A relative path of plain names (`bases/gnu`, `site/base.rhai`): not empty, no `..`, not
/// absolute. What imports and `extends` from git may name.
pub(crate) fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && std::path::Path::new(path)
            .components()
            .all(|part| matches!(part, std::path::Component::Normal(_)))
}

pub(crate) fn err(message: String) -> LangError {
    LangError::new(message)
}

/// An error about the map key `key` (the last part of a field path like `sources[0].sha`).
fn key_err(path: &str, message: String) -> LangError {
    let key = path
        .rsplit(['.', '['])
        .next()
        .unwrap_or(path)
        .trim_end_matches(']');
    let error = err(message);
    if key.is_empty() || key.chars().all(|c| c.is_ascii_digit()) {
        error
    } else {
        error.about(Token::Key(key.to_owned()))
    }
}

fn describe(value: &Dynamic) -> String {
    if value.is_unit() {
        "()".into()
    } else {
        value
            .type_name()
            .rsplit("::")
            .next()
            .unwrap_or("value")
            .to_owned()
    }
}

impl Fields {
    pub fn new(value: &Dynamic, path: &str) -> Result<Self, LangError> {
        match value.clone().try_cast::<Map>() {
            Some(map) => Ok(Self {
                path: path.to_owned(),
                map,
            }),
            None => Err(err(format!(
                "`{path}`: expected a map #{{...}}, found {}",
                describe(value)
            ))),
        }
    }

    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn only(&self, allowed: &[&str]) -> Result<(), LangError> {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(err(format!(
                    "unknown field `{}` (expected one of: {})",
                    self.field(key),
                    allowed.join(", ")
                ))
                .about(Token::Key(key.to_string())));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|value| !value.is_unit())
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, LangError> {
        self.get(key)
            .map(|value| string(value, &self.field(key)))
            .transpose()
    }

    pub fn required_string(&self, key: &str) -> Result<String, LangError> {
        self.string(key)?
            .ok_or_else(|| err(format!("missing field `{}`", self.field(key))))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, LangError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value.as_bool().map(Some).map_err(|_| {
                key_err(
                    key,
                    format!(
                        "`{}`: expected true or false, found {}",
                        self.field(key),
                        describe(value)
                    ),
                )
            }),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, LangError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value.as_int().map(Some).map_err(|_| {
                key_err(
                    key,
                    format!(
                        "`{}`: expected an integer, found {}",
                        self.field(key),
                        describe(value)
                    ),
                )
            }),
        }
    }

    /// A list of strings, and nothing else: `deps: "zlib"` is a mistake (a name where a
    /// list belongs), reported as a wrong type.
    pub fn string_list(&self, key: &str) -> Result<Vec<String>, LangError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(value) if value.is_string() => Err(key_err(
                key,
                format!(
                    "`{}`: expected a list of strings [...], found a string (write [{:?}])",
                    self.field(key),
                    value.clone().into_string().unwrap_or_default()
                ),
            )),
            Some(value) => strings(value, &self.field(key)),
        }
    }

    pub fn list(&self, key: &str) -> Result<Vec<Dynamic>, LangError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(value) => value.clone().into_typed_array::<Dynamic>().map_err(|_| {
                key_err(
                    key,
                    format!(
                        "`{}`: expected a list [...], found {}",
                        self.field(key),
                        describe(value)
                    ),
                )
            }),
        }
    }

    pub fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, LangError> {
        let Some(value) = self.get(key) else {
            return Ok(BTreeMap::new());
        };
        let inner = Fields::new(value, &self.field(key))?;
        inner
            .map
            .iter()
            .map(|(k, v)| Ok((k.to_string(), string(v, &inner.field(k))?)))
            .collect()
    }
}

pub(crate) fn string(value: &Dynamic, path: &str) -> Result<String, LangError> {
    if value.is_string() {
        Ok(value.clone().into_string().expect("checked to be a string"))
    } else {
        Err(key_err(
            path,
            format!("`{path}`: expected a string, found {}", describe(value)),
        ))
    }
}

pub(crate) fn strings(value: &Dynamic, path: &str) -> Result<Vec<String>, LangError> {
    if value.is_string() {
        return Ok(vec![string(value, path)?]);
    }
    let items = value.clone().into_typed_array::<Dynamic>().map_err(|_| {
        key_err(
            path,
            format!(
                "`{path}`: expected a list of strings, found {}",
                describe(value)
            ),
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| string(item, &format!("{path}[{index}]")))
        .collect()
}

/// How deeply lists and maps may nest in a value that leaves a script (parameters): enough
/// for any real use, few enough that converting (recursively) cannot overflow the stack.
pub const MAX_VALUE_DEPTH: usize = 32;

/// A script value as JSON (for parameters, which reach recipes and specs).
pub(crate) fn to_json(value: &Dynamic, path: &str) -> Result<serde_json::Value, LangError> {
    to_json_at(value, path, 0)
}

fn to_json_at(value: &Dynamic, path: &str, depth: usize) -> Result<serde_json::Value, LangError> {
    if depth > MAX_VALUE_DEPTH && (value.is_array() || value.is_map()) {
        let shown: String = path.chars().take(80).collect();
        return Err(err(format!(
            "`{shown}...`: lists and maps nest more than {MAX_VALUE_DEPTH} deep"
        )));
    }
    if value.is_unit() {
        Ok(serde_json::Value::Null)
    } else if let Ok(flag) = value.as_bool() {
        Ok(flag.into())
    } else if let Ok(int) = value.as_int() {
        Ok(int.into())
    } else if value.is_string() {
        Ok(string(value, path)?.into())
    } else if value.is_array() {
        let items = value
            .clone()
            .into_typed_array::<Dynamic>()
            .expect("checked to be an array");
        items
            .iter()
            .enumerate()
            .map(|(i, item)| to_json_at(item, &format!("{path}[{i}]"), depth + 1))
            .collect()
    } else if value.is_map() {
        let fields = Fields::new(value, path)?;
        let mut out = serde_json::Map::new();
        for (key, item) in &fields.map {
            out.insert(
                key.to_string(),
                to_json_at(item, &fields.field(key), depth + 1)?,
            );
        }
        Ok(serde_json::Value::Object(out))
    } else {
        Err(err(format!(
            "`{path}`: a {} cannot be a parameter (use strings, integers, booleans, lists and maps)",
            describe(value)
        )))
    }
}

/// JSON back into a script value.
pub(crate) fn from_json(value: &serde_json::Value) -> Dynamic {
    match value {
        serde_json::Value::Null => Dynamic::UNIT,
        serde_json::Value::Bool(flag) => (*flag).into(),
        serde_json::Value::Number(number) => number.as_i64().map_or(Dynamic::UNIT, Dynamic::from),
        serde_json::Value::String(text) => text.clone().into(),
        serde_json::Value::Array(items) => {
            items.iter().map(from_json).collect::<rhai::Array>().into()
        }
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.as_str().into(), from_json(v)))
            .collect::<Map>()
            .into(),
    }
}
