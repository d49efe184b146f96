//! Properties of artifact ids: presentation never changes an id, content always does.
#![allow(clippy::unwrap_used)]

use hit_spec::BuildSpec;
use proptest::prelude::*;
use serde_json::{Value, json};

fn id_of(doc: &Value) -> String {
    BuildSpec::from_document(doc.clone())
        .unwrap()
        .id()
        .to_string()
}

/// A valid spec built from arbitrary strings and numbers.
fn spec_strategy() -> impl Strategy<Value = Value> {
    (
        "[a-z][a-z0-9_+-]{0,10}",
        proptest::option::of("[0-9.]{1,8}"),
        proptest::collection::vec(proptest::collection::vec(any::<String>(), 1..4), 0..4),
        proptest::collection::vec(("[A-Z_]{1,6}", any::<String>()), 0..3),
        any::<i64>(),
    )
        .prop_map(|(name, version, commands, sets, number)| {
            let mut cmds: Vec<Value> = commands
                .into_iter()
                .map(|argv| json!({"cmd": argv}))
                .collect();
            cmds.extend(
                sets.into_iter()
                    .map(|(var, value)| json!({"set": var, "value": value})),
            );
            cmds.push(json!({"cmd": ["x"], "inputs": [{"json": {"n": number}}]}));
            let mut doc = json!({"name": name, "build": {"commands": cmds}});
            if let Some(version) = version {
                doc["version"] = json!(version);
            }
            doc
        })
}

/// Serializes a document with its object keys in reverse order and extra whitespace.
fn reordered_text(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.reverse();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|key| {
                    format!(
                        "\n  {} :  {}",
                        serde_json::to_string(key).unwrap(),
                        reordered_text(&map[key])
                    )
                })
                .collect();
            format!("{{ {} }}", parts.join(" ,"))
        }
        Value::Array(items) => format!(
            "[ {} ]",
            items
                .iter()
                .map(reordered_text)
                .collect::<Vec<_>>()
                .join(" , ")
        ),
        other => other.to_string(),
    }
}

/// Adds `nohash_` fields at every object level.
fn with_nohash(value: &Value, salt: &str) -> Value {
    match value {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), with_nohash(v, salt)))
                .collect();
            out.insert("nohash_note".into(), json!(salt));
            out.insert("nohash_float".into(), json!(1.5));
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| with_nohash(v, salt)).collect()),
        other => other.clone(),
    }
}

/// Every string leaf's path in the document (the spots a content change can hit).
fn string_paths(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(key.clone());
                string_paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                path.push(index.to_string());
                string_paths(child, path, out);
                path.pop();
            }
        }
        Value::String(_) => out.push(path.clone()),
        _ => {}
    }
}

fn leaf_mut<'a>(value: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(value, |value, key| match value {
        Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
        other => &mut other[key.as_str()],
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn key_order_and_whitespace_never_change_the_id(doc in spec_strategy()) {
        let text = reordered_text(&doc);
        let reparsed = BuildSpec::from_json(&text).unwrap();
        prop_assert_eq!(reparsed.id().to_string(), id_of(&doc));
    }

    #[test]
    fn nohash_fields_never_change_the_id(doc in spec_strategy(), salt in any::<String>()) {
        prop_assert_eq!(id_of(&with_nohash(&doc, &salt)), id_of(&doc));
    }

    #[test]
    fn any_other_change_changes_the_hash(doc in spec_strategy(), pick in any::<prop::sample::Index>(), extra in "[a-z]{1,3}") {
        let mut paths = Vec::new();
        string_paths(&doc, &mut Vec::new(), &mut paths);
        let path = pick.get(&paths).clone();
        let mut changed = doc.clone();
        let leaf = leaf_mut(&mut changed, &path);
        let Value::String(text) = leaf else { unreachable!() };
        let new_text = format!("{text}{extra}");
        *leaf = Value::String(new_text);
        prop_assume!(BuildSpec::from_document(changed.clone()).is_ok());
        let (before, after) = (id_of(&doc), id_of(&changed));
        prop_assert_ne!(before.split('/').nth(1), after.split('/').nth(1), "changed {:?}", path);
    }

    #[test]
    fn a_changed_number_changes_the_id(doc in spec_strategy(), delta in 1i64..1000) {
        let mut changed = doc.clone();
        let commands = changed["build"]["commands"].as_array_mut().unwrap();
        let last = commands.last_mut().unwrap();
        let n = last["inputs"][0]["json"]["n"].as_i64().unwrap();
        last["inputs"][0]["json"]["n"] = json!(n.wrapping_add(delta));
        prop_assert_ne!(id_of(&doc), id_of(&changed));
    }
}
