//! The command language of `build.commands` (HashDist's), parsed into types.
//!
//! Each node is an object with exactly one of these keys:
//!
//! | node | effect |
//! |------|--------|
//! | `{"cmd": [prog, args...]}` | run a program without a shell; `inputs` hands it files (`$in0`, `$in1`, ...), `to_var` captures its stdout into a variable |
//! | `{"commands": [...]}` | a scope: variables and `chdir` inside it do not leak out |
//! | `{"set": VAR, "value": v}` | set a variable |
//! | `{"prepend_path": VAR, "value": v}` / `append_path` | add to a `:`-separated list |
//! | `{"prepend_flag": VAR, "value": v}` / `append_flag` | add to a space-separated list |
//! | `{"chdir": dir}` | change the working directory for the rest of the scope |
//!
//! `nohash_value` may stand in for `value` when the value must not change the artifact's
//! identity (a parallelism level, say). A setter with `"if_exists": path` applies only if
//! that path exists when it runs (say `${ZLIB_DIR}/include`: imports never change, so this
//! is as deterministic as the rest). Strings undergo `$VAR`/`${VAR}` substitution when run.

use super::SpecError;
use super::document::{Object, invalid, is_variable_name, kind, strings};
use serde_json::Value;

/// One node of the command language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(RunCommand),
    Scope(Vec<Command>),
    Set {
        variable: String,
        value: String,
    },
    PrependPath {
        variable: String,
        value: String,
    },
    AppendPath {
        variable: String,
        value: String,
    },
    PrependFlag {
        variable: String,
        value: String,
    },
    AppendFlag {
        variable: String,
        value: String,
    },
    Chdir(String),
    /// A setter that applies only if `path` exists.
    IfExists {
        path: String,
        then: Box<Command>,
    },
}

/// A program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub argv: Vec<String>,
    pub inputs: Vec<Input>,
    pub to_var: Option<String>,
}

/// A file handed to a command; its path is in `$inN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Lines, each ended by a newline.
    Text(Vec<String>),
    /// A string written as is.
    String(String),
    /// A JSON document, written compactly.
    Json(Value),
}

impl Input {
    pub fn contents(&self) -> String {
        match self {
            Self::Text(lines) => lines.iter().map(|line| format!("{line}\n")).collect(),
            Self::String(text) => text.clone(),
            Self::Json(doc) => doc.to_string(),
        }
    }
}

const NODE_KEYS: &[&str] = &[
    "cmd",
    "commands",
    "set",
    "prepend_path",
    "append_path",
    "prepend_flag",
    "append_flag",
    "chdir",
];

pub(crate) fn parse_commands(items: &[Value], path: &str) -> Result<Vec<Command>, SpecError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_command(item, &format!("{path}[{index}]")))
        .collect()
}

fn parse_command(value: &Value, path: &str) -> Result<Command, SpecError> {
    let object = Object::new(value, path)?;
    let present: Vec<&str> = NODE_KEYS
        .iter()
        .copied()
        .filter(|key| object.has(key))
        .collect();
    let node = match present.as_slice() {
        [one] => *one,
        [] => {
            return Err(invalid(
                path,
                format!("a command needs one of `{}`", NODE_KEYS.join("`, `")),
            ));
        }
        many => {
            return Err(invalid(
                path,
                format!(
                    "a command has exactly one of `{}`, found `{}`",
                    NODE_KEYS.join("`, `"),
                    many.join("`, `")
                ),
            ));
        }
    };
    match node {
        "cmd" => {
            object.only(&["cmd", "inputs", "to_var"])?;
            let argv = strings(object.array("cmd")?, &object.field_path("cmd"))?;
            if argv.is_empty() {
                return Err(invalid(
                    &object.field_path("cmd"),
                    "the command is empty".into(),
                ));
            }
            let inputs = object
                .array("inputs")?
                .iter()
                .enumerate()
                .map(|(index, input)| {
                    parse_input(input, &format!("{}[{index}]", object.field_path("inputs")))
                })
                .collect::<Result<_, _>>()?;
            let to_var = object
                .string("to_var")?
                .map(|name| variable(name, &object.field_path("to_var")))
                .transpose()?;
            Ok(Command::Run(RunCommand {
                argv,
                inputs,
                to_var,
            }))
        }
        "commands" => {
            object.only(&["commands"])?;
            Ok(Command::Scope(parse_commands(
                object.array("commands")?,
                &object.field_path("commands"),
            )?))
        }
        "chdir" => {
            object.only(&["chdir"])?;
            Ok(Command::Chdir(object.required_string("chdir")?.to_owned()))
        }
        setter => {
            object.only(&[setter, "value", "if_exists"])?;
            let name = variable(object.required_string(setter)?, &object.field_path(setter))?;
            let value = match (object.string("value")?, object.string("nohash_value")?) {
                (Some(value), None) | (None, Some(value)) => value.to_owned(),
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        path,
                        "give either `value` or `nohash_value`, not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        path,
                        format!("`{setter}` needs a `value` or `nohash_value`"),
                    ));
                }
            };
            let command = match setter {
                "set" => Command::Set {
                    variable: name,
                    value,
                },
                "prepend_path" => Command::PrependPath {
                    variable: name,
                    value,
                },
                "append_path" => Command::AppendPath {
                    variable: name,
                    value,
                },
                "prepend_flag" => Command::PrependFlag {
                    variable: name,
                    value,
                },
                _ => Command::AppendFlag {
                    variable: name,
                    value,
                },
            };
            Ok(match object.string("if_exists")? {
                Some(path) => Command::IfExists {
                    path: path.to_owned(),
                    then: Box::new(command),
                },
                None => command,
            })
        }
    }
}

fn variable(name: &str, path: &str) -> Result<String, SpecError> {
    if is_variable_name(name) {
        Ok(name.to_owned())
    } else {
        Err(invalid(
            path,
            format!("{name:?} is not a variable name (letters, digits, `_`)"),
        ))
    }
}

fn parse_input(value: &Value, path: &str) -> Result<Input, SpecError> {
    let object = Object::new(value, path)?;
    object.only(&["text", "string", "json"])?;
    match (object.get("text"), object.get("string"), object.get("json")) {
        (Some(_), None, None) => Ok(Input::Text(strings(
            object.array("text")?,
            &object.field_path("text"),
        )?)),
        (None, Some(Value::String(text)), None) => Ok(Input::String(text.clone())),
        (None, Some(other), None) => Err(invalid(
            &object.field_path("string"),
            format!("expected a string, found {}", kind(other)),
        )),
        (None, None, Some(doc)) => Ok(Input::Json(doc.clone())),
        _ => Err(invalid(
            path,
            "an input has exactly one of `text`, `string`, `json`".into(),
        )),
    }
}
