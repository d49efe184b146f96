//! Declared parameters: `param(name, default, help)` in a recipe or profile.
//!
//! A script asks for a parameter with `let precision = param("precision", "double",
//! "floating-point precision", ["double", "single"]);`. The call declares it (its type is
//! the default's: string, integer, boolean, list or map; the optional last argument lists
//! the values allowed) and returns the value that applies: the one the profile, the
//! package's settings or the command line gave, else the default. A given value of the
//! wrong type, or not among the choices, is an error at the call.
//!
//! Declarations are what makes a typo an error: after discovery the planner checks every
//! parameter given against what the plan's recipes and profiles declared
//! (`unknown_param`), so `precison=single` names `precision` rather than silently
//! building nothing different. The raw map `params` stays visible to scripts (a profile
//! may choose packages by it), but a value reaches it only if something declares it.
//!
//! Nothing here is hashed: a parameter changes an id only through what the recipe does
//! with its value.

use serde_json::Value;

/// A parameter a recipe or profile declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDecl {
    pub name: String,
    pub kind: ParamKind,
    pub default: Value,
    pub help: String,
    /// The values allowed; empty: any value of the kind.
    pub choices: Vec<Value>,
}

/// The type of a parameter, taken from its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    String,
    Integer,
    Boolean,
    List,
    Map,
}

impl ParamKind {
    fn of(value: &Value) -> Option<Self> {
        match value {
            Value::String(_) => Some(Self::String),
            Value::Number(number) if number.is_i64() => Some(Self::Integer),
            Value::Bool(_) => Some(Self::Boolean),
            Value::Array(_) => Some(Self::List),
            Value::Object(_) => Some(Self::Map),
            _ => None,
        }
    }

    /// "a string", "an integer", ...
    pub fn with_article(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Boolean => "a boolean",
            Self::List => "a list",
            Self::Map => "a map",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::List => "list",
            Self::Map => "map",
        }
    }
}

impl std::fmt::Display for ParamKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ParamDecl {
    /// Checks a declaration's own parts: a name like a variable's, a default of a kind, help.
    pub(crate) fn new(
        name: &str,
        default: Value,
        help: &str,
        choices: Vec<Value>,
    ) -> Result<Self, String> {
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(format!(
                "param {name:?}: a param's name is lowercase letters, digits and `_`, starting \
                 with a letter or `_`"
            ));
        }
        let Some(kind) = ParamKind::of(&default) else {
            return Err(format!(
                "param {name:?}: the default must be a string, integer, boolean, list or map"
            ));
        };
        if help.trim().is_empty() {
            return Err(format!(
                "param {name:?}: say what it does (the third argument: its help, shown by `hit info`)"
            ));
        }
        let declared = Self {
            name: name.to_owned(),
            kind,
            default,
            help: help.to_owned(),
            choices,
        };
        for choice in &declared.choices {
            if ParamKind::of(choice) != Some(kind) {
                return Err(format!(
                    "param {name:?}: the choice {choice} is not {} like the default",
                    kind.with_article()
                ));
            }
        }
        if !declared.choices.is_empty() && !declared.choices.contains(&declared.default) {
            return Err(format!(
                "param {name:?}: the default {} is not one of the choices ({})",
                declared.default,
                declared.choices_text()
            ));
        }
        Ok(declared)
    }

    /// The value that applies: `given` (converted to the declared kind where that is
    /// lossless: `3` or `true` for a string) or the default.
    pub fn value(&self, given: Option<&Value>) -> Result<Value, String> {
        let Some(given) = given else {
            return Ok(self.default.clone());
        };
        let value = match (self.kind, given) {
            (ParamKind::String, Value::Number(_) | Value::Bool(_)) => {
                Value::String(given.to_string())
            }
            _ if ParamKind::of(given) == Some(self.kind) => given.clone(),
            _ => {
                return Err(format!(
                    "param {:?} is {} (its default is {}), but it was given {given}",
                    self.name,
                    self.kind.with_article(),
                    self.default
                ));
            }
        };
        if !self.choices.is_empty() && !self.choices.contains(&value) {
            return Err(format!(
                "param {:?} was given {value}, which is not one of its choices ({})",
                self.name,
                self.choices_text()
            ));
        }
        Ok(value)
    }

    pub fn choices_text(&self) -> String {
        self.choices
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether two declarations of one name agree (two recipes, or a recipe called twice).
    pub(crate) fn agrees_with(&self, other: &ParamDecl) -> bool {
        self.kind == other.kind && self.default == other.default && self.choices == other.choices
    }
}

/// The message for a parameter nobody declares: `given` says where it came from, `declared`
/// lists what is declared (name, who declares it).
pub(crate) fn unknown_param(name: &str, given: &str, declared: &[(String, String)]) -> String {
    let mut message = format!("unknown param `{name}` ({given}): ");
    if declared.is_empty() {
        message.push_str(
            "nothing in this plan declares a param; a recipe declares one with \
             `param(name, default, help)`",
        );
        return message;
    }
    message.push_str("no recipe or profile of this plan declares it");
    if let Some((close, by)) = declared
        .iter()
        .filter(|(candidate, _)| similar(name, candidate))
        .min_by_key(|(candidate, _)| edit_distance(name, candidate))
    {
        message.push_str(&format!("; did you mean `{close}` ({by})?"));
    }
    let listed: Vec<String> = declared
        .iter()
        .map(|(candidate, by)| format!("{candidate} ({by})"))
        .collect();
    message.push_str(&format!(" Declared params: {}", listed.join(", ")));
    message
}

/// Close enough to be a typo of each other.
pub(crate) fn similar(a: &str, b: &str) -> bool {
    edit_distance(a, b) <= (a.len().max(b.len()) / 3).max(1)
}

/// Levenshtein distance (a typo's size), over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_must_match_the_kind_and_choices() {
        let precision = ParamDecl::new(
            "precision",
            json!("double"),
            "precision",
            vec![json!("double"), json!("single")],
        )
        .unwrap();
        assert_eq!(precision.value(None).unwrap(), json!("double"));
        assert_eq!(
            precision.value(Some(&json!("single"))).unwrap(),
            json!("single")
        );
        assert!(
            precision
                .value(Some(&json!("quad")))
                .unwrap_err()
                .contains("not one of its choices (\"double\", \"single\")")
        );
        let jobs = ParamDecl::new("jobs", json!(2), "jobs", vec![]).unwrap();
        assert!(
            jobs.value(Some(&json!("two")))
                .unwrap_err()
                .contains("is an integer (its default is 2), but it was given \"two\"")
        );
        let label = ParamDecl::new("label", json!("x"), "label", vec![]).unwrap();
        assert_eq!(label.value(Some(&json!(3))).unwrap(), json!("3"));
    }

    #[test]
    fn bad_declarations_are_refused() {
        assert!(ParamDecl::new("Bad-Name", json!(1), "h", vec![]).is_err());
        assert!(ParamDecl::new("ok", json!(null), "h", vec![]).is_err());
        assert!(ParamDecl::new("ok", json!(1), " ", vec![]).is_err());
        assert!(ParamDecl::new("ok", json!(1), "h", vec![json!("a")]).is_err());
        assert!(ParamDecl::new("ok", json!(3), "h", vec![json!(1), json!(2)]).is_err());
    }

    #[test]
    fn unknown_params_name_the_closest_candidate() {
        let declared = vec![
            ("precision".to_owned(), "fftw".to_owned()),
            ("threads".to_owned(), "fftw".to_owned()),
        ];
        let message = unknown_param("precison", "given on the command line", &declared);
        assert!(
            message.contains("did you mean `precision` (fftw)?"),
            "{message}"
        );
        let message = unknown_param("zzz", "given on the command line", &declared);
        assert!(!message.contains("did you mean"), "{message}");
        assert!(message.contains("precision (fftw), threads (fftw)"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
