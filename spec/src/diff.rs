//! Field-by-field differences between two JSON documents (two build specs), for
//! `hit diff` and `hit why`.
//!
//! Objects are compared key by key (`nohash_` keys are left out: they never change an
//! id). Arrays of the same length are compared element by element; otherwise the common
//! prefix and suffix are matched and only the middle is reported, as removed and added
//! elements, so one command inserted into a long list is one change, not a shifted tail.
//! Paths are written as in spec errors: `$.build.commands[3].cmd[1]`.

use serde_json::Value;

/// One difference: what `path` held before and after (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The differences between `old` and `new`, in document order.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    walk("$", old, new, &mut changes);
    changes
}

fn walk(path: &str, old: &Value, new: &Value, changes: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys.into_iter().filter(|key| !key.starts_with("nohash_")) {
                let inner = format!("{path}.{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => walk(&inner, x, y, changes),
                    (x, y) => changes.push(FieldChange {
                        path: inner,
                        old: x.cloned(),
                        new: y.cloned(),
                    }),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{index}]"), x, y, changes);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            let suffix = a[prefix..]
                .iter()
                .rev()
                .zip(b[prefix..].iter().rev())
                .take_while(|(x, y)| x == y)
                .count();
            for (index, x) in a.iter().enumerate().take(a.len() - suffix).skip(prefix) {
                changes.push(FieldChange {
                    path: format!("{path}[{index}]"),
                    old: Some(x.clone()),
                    new: None,
                });
            }
            for (index, y) in b.iter().enumerate().take(b.len() - suffix).skip(prefix) {
                changes.push(FieldChange {
                    path: format!("{path}[{index}]"),
                    old: None,
                    new: Some(y.clone()),
                });
            }
        }
        (x, y) if x == y => {}
        (x, y) => changes.push(FieldChange {
            path: path.to_owned(),
            old: Some(x.clone()),
            new: Some(y.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_compared_and_nohash_ones_ignored() {
        let old = json!({"name": "z", "version": "1", "nohash_description": "a",
                         "sources": [{"key": "sha256:aa"}]});
        let new = json!({"name": "z", "version": "2", "nohash_description": "b",
                         "sources": [{"key": "sha256:bb"}]});
        let paths: Vec<String> = diff(&old, &new).into_iter().map(|c| c.path).collect();
        assert_eq!(paths, ["$.sources[0].key", "$.version"]);
    }

    #[test]
    fn an_inserted_element_is_one_change() {
        let old = json!({"c": ["a", "b", "c", "d"]});
        let new = json!({"c": ["a", "b", "x", "c", "d"]});
        assert_eq!(
            diff(&old, &new),
            [FieldChange {
                path: "$.c[2]".into(),
                old: None,
                new: Some(json!("x"))
            }]
        );
        assert!(diff(&old, &old).is_empty());
    }
}
