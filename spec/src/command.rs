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
use serde_json::{Map, Value, json};

/// One node of the command language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(RunCommand),
    Scope(Vec<Command>),
    Env(EnvChange),
    Chdir(String),
}

/// What a setter does to its variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvOp {
    Set,
    PrependPath,
    AppendPath,
    PrependFlag,
    AppendFlag,
}

impl EnvOp {
    const ALL: [EnvOp; 5] = [
        EnvOp::Set,
        EnvOp::PrependPath,
        EnvOp::AppendPath,
        EnvOp::PrependFlag,
        EnvOp::AppendFlag,
    ];

    /// The node's key in the spec (`set`, `prepend_path`, ...).
    pub fn key(self) -> &'static str {
        match self {
            Self::Set => "set",
            Self::PrependPath => "prepend_path",
            Self::AppendPath => "append_path",
            Self::PrependFlag => "prepend_flag",
            Self::AppendFlag => "append_flag",
        }
    }

    /// The separator of the list a non-`set` op extends.
    pub fn separator(self) -> &'static str {
        match self {
            Self::PrependPath | Self::AppendPath => ":",
            Self::Set | Self::PrependFlag | Self::AppendFlag => " ",
        }
    }

    pub fn prepends(self) -> bool {
        matches!(self, Self::PrependPath | Self::PrependFlag)
    }
}

/// A setter node: `{"<op>": variable, "value" | "nohash_value": value, "if_exists"?: path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvChange {
    pub op: EnvOp,
    pub variable: String,
    pub value: String,
    /// Whether the value is part of the id (`value`) or not (`nohash_value`).
    pub hashed: bool,
    /// Applies only if this path exists when it runs.
    pub if_exists: Option<String>,
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

impl Command {
    /// The node as a spec writes it; parsing it gives back an equal command.
    pub fn to_document(&self) -> Value {
        match self {
            Self::Run(run) => {
                let mut node = Map::new();
                node.insert("cmd".into(), json!(run.argv));
                if !run.inputs.is_empty() {
                    let inputs: Vec<Value> = run.inputs.iter().map(Input::to_document).collect();
                    node.insert("inputs".into(), Value::Array(inputs));
                }
                if let Some(variable) = &run.to_var {
                    node.insert("to_var".into(), json!(variable));
                }
                Value::Object(node)
            }
            Self::Scope(inner) => {
                let mut node = Map::new();
                let inner = inner.iter().map(Command::to_document).collect();
                node.insert("commands".into(), Value::Array(inner));
                Value::Object(node)
            }
            Self::Env(change) => {
                let mut node = Map::new();
                node.insert(change.op.key().into(), json!(change.variable));
                let value = if change.hashed {
                    "value"
                } else {
                    "nohash_value"
                };
                node.insert(value.into(), json!(change.value));
                if let Some(path) = &change.if_exists {
                    node.insert("if_exists".into(), json!(path));
                }
                Value::Object(node)
            }
            Self::Chdir(dir) => json!({"chdir": dir}),
        }
    }
}

impl Input {
    fn to_document(&self) -> Value {
        match self {
            Self::Text(lines) => json!({"text": lines}),
            Self::String(text) => json!({"string": text}),
            Self::Json(doc) => json!({"json": doc}),
        }
    }

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

/// The setters of a `nohash_run_env` value (a list of setter nodes); anything else in it,
/// or a value that is not such a list, gives none (it is a `nohash_` field: never an error).
pub(crate) fn run_env_changes(value: Option<&Value>) -> Vec<EnvChange> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    parse_commands(items, "$.nohash_run_env")
        .map(|commands| {
            commands
                .into_iter()
                .filter_map(|command| match command {
                    Command::Env(change) => Some(change),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

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
            let variable = variable(object.required_string(setter)?, &object.field_path(setter))?;
            let (value, hashed) = match (object.string("value")?, object.string("nohash_value")?) {
                (Some(value), None) => (value.to_owned(), true),
                (None, Some(value)) => (value.to_owned(), false),
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
            let op = EnvOp::ALL
                .into_iter()
                .find(|op| op.key() == setter)
                .expect("NODE_KEYS lists the setters of EnvOp");
            Ok(Command::Env(EnvChange {
                op,
                variable,
                value,
                hashed,
                if_exists: object.string("if_exists")?.map(str::to_owned),
            }))
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
