//! Stages: named groups of shell lines, ordered as a list that recipes and profiles edit.
//!
//! A recipe's `stages` (and a profile's per-package `stages`) are *entries* applied in
//! order to a list that starts empty:
//!
//! | entry | effect |
//! |-------|--------|
//! | a new `name` | appended; or, with `after: "x"` / `before: "y"`, inserted right after `x` / right before `y` |
//! | an existing `name` | replaces that stage's `run` in place (or moves it, with `after`/`before`) |
//! | `remove: true` | deletes the stage of that name |
//!
//! So a profile inserts, replaces or removes one stage of an inherited build without
//! copying the others. Naming a stage that does not exist in `after`, `before` or `remove`
//! is an error that lists the stages there are.

use crate::LangError;
use crate::error::Token;
use crate::value::{Fields, err};
use rhai::Dynamic;

/// One stage as written in a recipe or profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEntry {
    pub name: String,
    pub run: Option<Vec<String>>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub remove: bool,
}

/// A stage of the final build, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    pub run: Vec<String>,
}

impl StageEntry {
    pub(crate) fn from_value(value: &Dynamic, path: &str) -> Result<Self, LangError> {
        let fields = Fields::new(value, path)?;
        fields.only(&["name", "run", "after", "before", "remove"])?;
        let run = match fields.get("run") {
            None => None,
            Some(value) => {
                let lines = crate::value::strings(value, &fields.field("run"))?;
                Some(
                    lines
                        .iter()
                        .flat_map(|text| {
                            text.lines()
                                .map(|line| line.trim_end().to_owned())
                                .collect::<Vec<_>>()
                        })
                        .collect(),
                )
            }
        };
        Ok(Self {
            name: fields.required_string("name")?,
            run,
            after: fields.string("after")?,
            before: fields.string("before")?,
            remove: fields.bool("remove")?.unwrap_or(false),
        })
    }
}

/// Applies entries in order (see the module doc).
pub fn apply(entries: &[StageEntry]) -> Result<Vec<Stage>, LangError> {
    let mut stages: Vec<Stage> = Vec::new();
    for entry in entries {
        let known = |stages: &[Stage]| {
            stages
                .iter()
                .map(|s| format!("`{}`", s.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let find = |stages: &[Stage], name: &str, role: &str| {
            stages
                .iter()
                .position(|stage| stage.name == name)
                .ok_or_else(|| {
                    err(format!(
                        "stage `{}`: {role} `{name}`, but there is no such stage (stages: {})",
                        entry.name,
                        known(stages)
                    ))
                    .about(Token::Text(name.to_owned()))
                })
        };
        let existing = stages.iter().position(|stage| stage.name == entry.name);
        if entry.remove {
            let index = find(&stages, &entry.name, "remove")?;
            stages.remove(index);
            continue;
        }
        let stage = match existing {
            Some(index) => {
                let mut stage = stages[index].clone();
                if let Some(run) = &entry.run {
                    stage.run = run.clone();
                }
                if entry.after.is_none() && entry.before.is_none() {
                    stages[index] = stage;
                    continue;
                }
                stages.remove(index);
                stage
            }
            None => Stage {
                name: entry.name.clone(),
                run: entry.run.clone().ok_or_else(|| {
                    err(format!("stage `{}` has no `run`", entry.name))
                        .about(Token::Text(entry.name.clone()))
                })?,
            },
        };
        let index = match (&entry.after, &entry.before) {
            (Some(after), Some(before)) => {
                let (a, b) = (
                    find(&stages, after, "after")?,
                    find(&stages, before, "before")?,
                );
                if a >= b {
                    return Err(err(format!(
                        "stage `{}`: `{after}` does not come before `{before}`",
                        entry.name
                    ))
                    .about(Token::Text(entry.name.clone())));
                }
                a + 1
            }
            (Some(after), None) => find(&stages, after, "after")? + 1,
            (None, Some(before)) => find(&stages, before, "before")?,
            (None, None) => stages.len(),
        };
        stages.insert(index, stage);
    }
    Ok(stages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, run: &str) -> StageEntry {
        StageEntry {
            name: name.into(),
            run: Some(vec![run.into()]),
            after: None,
            before: None,
            remove: false,
        }
    }

    fn names(stages: &[Stage]) -> Vec<&str> {
        stages.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn entries_append_insert_replace_move_and_remove() {
        let base = vec![
            entry("configure", "c"),
            entry("build", "b"),
            entry("install", "i"),
        ];
        assert_eq!(
            names(&apply(&base).unwrap()),
            ["configure", "build", "install"]
        );

        let mut edits = base.clone();
        edits.push(StageEntry {
            after: Some("configure".into()),
            ..entry("patch-config", "p")
        });
        edits.push(StageEntry {
            before: Some("configure".into()),
            ..entry("autoreconf", "a")
        });
        edits.push(entry("build", "make -j4"));
        edits.push(StageEntry {
            remove: true,
            run: None,
            ..entry("install", "")
        });
        edits.push(StageEntry {
            run: None,
            after: Some("autoreconf".into()),
            ..entry("build", "")
        });
        let stages = apply(&edits).unwrap();
        assert_eq!(
            names(&stages),
            ["autoreconf", "build", "configure", "patch-config"]
        );
        assert_eq!(stages[1].run, ["make -j4"]);
    }

    #[test]
    fn unknown_stage_names_are_errors_listing_the_stages() {
        let mut edits = vec![entry("configure", "c")];
        edits.push(StageEntry {
            after: Some("nope".into()),
            ..entry("x", "x")
        });
        let error = apply(&edits).unwrap_err().to_string();
        assert!(
            error.contains("stage `x`: after `nope`") && error.contains("`configure`"),
            "{error}"
        );
        let error = apply(&[StageEntry {
            remove: true,
            ..entry("gone", "")
        }])
        .unwrap_err()
        .to_string();
        assert!(error.contains("remove `gone`"), "{error}");
        let error = apply(&[StageEntry {
            run: None,
            ..entry("new", "")
        }])
        .unwrap_err()
        .to_string();
        assert!(error.contains("has no `run`"), "{error}");
    }
}
