//! The build spec: a validated document plus its id.

use super::artifact_id::{ArtifactId, PackageName};
use super::canonical::{CanonicalError, hash_document};
use super::command::{Command, EnvChange, parse_commands, run_env_changes};
use super::document::{Object, invalid, is_variable_name, kind};
use super::source::SourceSpec;
use serde_json::{Map, Value, json};

/// A build spec that does not parse or validate. Messages name the field (`$.build.import[0].id`).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

/// An artifact this build needs, made visible as `${REF}_DIR` and `${REF}_ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub id: ArtifactId,
    /// Variable prefix; `None` sets no variables.
    pub reference: Option<String>,
    /// Whether the import's `bin/` goes on `PATH` (default true).
    pub in_env: bool,
}

impl Import {
    /// The entry as a spec writes it (`ref` always, `in_env` only when false).
    pub fn to_document(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("id".into(), json!(self.id.to_string()));
        entry.insert("ref".into(), json!(self.reference));
        if !self.in_env {
            entry.insert("in_env".into(), json!(false));
        }
        Value::Object(entry)
    }
}

/// An import of HashDist's `virtual:` kind (`{"ref": "UNIX", "id": "virtual:unix"}`): the
/// id holds a name the user chose, not an artifact's, so the spec's hash depends on that
/// name and never on what provides it; the store's configuration maps it to an artifact
/// when the spec is built (config.yaml's `virtuals:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualImport {
    /// The whole id, `virtual:unix`.
    pub name: String,
    pub reference: Option<String>,
    pub in_env: bool,
}

impl VirtualImport {
    pub fn to_document(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("id".into(), json!(self.name));
        entry.insert("ref".into(), json!(self.reference));
        if !self.in_env {
            entry.insert("in_env".into(), json!(false));
        }
        Value::Object(entry)
    }
}

/// HashDist's top-level fields that hit accepts and hashes but does not act on (HashDist
/// copied them into the artifact's metadata for its profile tools).
pub const HASHDIST_FIELDS: [&str; 2] = ["profile_install", "import_modify_env"];

/// The parts of a build spec, typed: what a recipe lowers to. [`BuildSpec::new`] writes
/// them as a document and validates it, so a spec made from parts and one read from JSON
/// are the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecParts {
    pub name: String,
    pub version: Option<String>,
    /// `nohash_description`: shown to users, never part of the id.
    pub description: Option<String>,
    /// `nohash_homepage`: shown by `hit info` and in module files.
    pub homepage: Option<String>,
    /// `nohash_run_env`: what a user of the artifact needs in the environment (`hit env`,
    /// modules), with `${ARTIFACT}` for the artifact's (or the profile's) path. Not an
    /// input of the build, so not part of the id.
    pub run_env: Vec<EnvChange>,
    pub sources: Vec<SourceSpec>,
    pub imports: Vec<Import>,
    /// `virtual:` imports (hand-written HashDist specs; recipes make none), after `imports`.
    pub virtual_imports: Vec<VirtualImport>,
    /// [`HASHDIST_FIELDS`] as given.
    pub hashdist: Map<String, Value>,
    pub commands: Vec<Command>,
}

impl SpecParts {
    /// The document these parts write (keys in any order: hashing sorts them).
    pub fn to_document(&self) -> Value {
        let mut document = Map::new();
        document.insert("name".into(), json!(self.name));
        if let Some(version) = &self.version {
            document.insert("version".into(), json!(version));
        }
        if let Some(description) = &self.description {
            document.insert("nohash_description".into(), json!(description));
        }
        if let Some(homepage) = &self.homepage {
            document.insert("nohash_homepage".into(), json!(homepage));
        }
        if !self.run_env.is_empty() {
            let changes = self
                .run_env
                .iter()
                .map(|change| Command::Env(change.clone()).to_document());
            document.insert("nohash_run_env".into(), Value::Array(changes.collect()));
        }
        let sources: Vec<Value> = self.sources.iter().map(SourceSpec::to_document).collect();
        document.insert("sources".into(), Value::Array(sources));
        let mut imports: Vec<Value> = self.imports.iter().map(Import::to_document).collect();
        imports.extend(self.virtual_imports.iter().map(VirtualImport::to_document));
        for (key, value) in &self.hashdist {
            document.insert(key.clone(), value.clone());
        }
        let commands: Vec<Value> = self.commands.iter().map(Command::to_document).collect();
        // Built as values, not through `json!`, which would serialize (copy) each array.
        let mut build = Map::new();
        build.insert("import".into(), Value::Array(imports));
        build.insert("commands".into(), Value::Array(commands));
        document.insert("build".into(), Value::Object(build));
        Value::Object(document)
    }
}

/// A parsed, validated build spec with its artifact id.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    id: ArtifactId,
    document: Value,
    version: Option<String>,
    description: Option<String>,
    homepage: Option<String>,
    run_env: Vec<EnvChange>,
    sources: Vec<SourceSpec>,
    imports: Vec<Import>,
    virtual_imports: Vec<VirtualImport>,
    hashdist: Map<String, Value>,
    commands: Vec<Command>,
}

impl BuildSpec {
    /// Writes typed parts as a document, then validates it as [`Self::from_document`] does.
    pub fn new(parts: &SpecParts) -> Result<Self, SpecError> {
        Self::from_document(parts.to_document())
    }

    /// The typed parts of this spec; [`Self::new`] of them gives this spec back (same id)
    /// for any spec hit writes itself. (A hand-written document that spells out a default,
    /// `"in_env": true` say, comes back without it.)
    pub fn parts(&self) -> SpecParts {
        SpecParts {
            name: self.name().to_string(),
            version: self.version.clone(),
            description: self.description.clone(),
            homepage: self.homepage.clone(),
            run_env: self.run_env.clone(),
            sources: self.sources.clone(),
            imports: self.imports.clone(),
            virtual_imports: self.virtual_imports.clone(),
            hashdist: self.hashdist.clone(),
            commands: self.commands.clone(),
        }
    }

    /// Parses JSON text.
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        Self::from_document(super::strict_json::parse(text)?)
    }

    /// Validates a document, fills in HashDist's defaults (`build.import` = `[]`, each
    /// import's `ref` = `null`) and computes the id.
    pub fn from_document(mut document: Value) -> Result<Self, SpecError> {
        apply_defaults(&mut document);
        let root = Object::new(&document, "$")?;
        root.only(&[
            "name",
            "version",
            "sources",
            "build",
            HASHDIST_FIELDS[0],
            HASHDIST_FIELDS[1],
        ])?;
        let name_text = root.required_string("name")?;
        let name =
            PackageName::new(name_text).map_err(|error| invalid("$.name", error.to_string()))?;
        let version = root.string("version")?.map(str::to_owned);
        // Any `nohash_` field may hold anything; only a string is a description or a
        // homepage, and only a list of setters a run-time environment.
        let text = |key: &str| root.get(key).and_then(Value::as_str).map(str::to_owned);
        let (description, homepage) = (text("nohash_description"), text("nohash_homepage"));
        let run_env = run_env_changes(root.get("nohash_run_env"));
        // Versions are printed (status, generations): a newline or an escape sequence in
        // one would forge what the terminal shows.
        if let Some(version) = &version
            && version.chars().any(char::is_control)
        {
            return Err(invalid(
                "$.version",
                format!("{version:?} holds control characters (newlines, escapes)"),
            ));
        }
        let sources = root
            .array("sources")?
            .iter()
            .enumerate()
            .map(|(index, source)| SourceSpec::parse(source, &format!("$.sources[{index}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let build = Object::new(
            root.get("build")
                .ok_or_else(|| invalid("$.build", "missing field".into()))?,
            "$.build",
        )?;
        build.only(&["import", "commands"])?;
        let mut imports = Vec::new();
        let mut virtual_imports = Vec::new();
        for (index, import) in build.array("import")?.iter().enumerate() {
            match parse_import(import, &format!("$.build.import[{index}]"))? {
                Imported::Artifact(import) => imports.push(import),
                Imported::Virtual(import) => virtual_imports.push(import),
            }
        }
        let hashdist: Map<String, Value> = HASHDIST_FIELDS
            .iter()
            .filter_map(|key| Some(((*key).to_owned(), root.get(key)?.clone())))
            .collect();
        let commands = parse_commands(build.array("commands")?, "$.build.commands")?;
        let hash = hash_document("build-spec", &document)?;
        let id = ArtifactId::new(name, &hash).expect("hash_document returns 32 base32 characters");
        Ok(Self {
            id,
            document,
            version,
            description,
            homepage,
            run_env,
            sources,
            imports,
            virtual_imports,
            hashdist,
            commands,
        })
    }

    pub fn id(&self) -> &ArtifactId {
        &self.id
    }

    pub fn name(&self) -> &PackageName {
        self.id.name()
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn homepage(&self) -> Option<&str> {
        self.homepage.as_deref()
    }

    /// What a user of the artifact needs in the environment (`${ARTIFACT}` unexpanded).
    pub fn run_env(&self) -> &[EnvChange] {
        &self.run_env
    }

    pub fn sources(&self) -> &[SourceSpec] {
        &self.sources
    }

    /// The artifacts it imports (not its `virtual:` imports).
    pub fn imports(&self) -> &[Import] {
        &self.imports
    }

    /// Its `virtual:` imports, which the store's configuration resolves when it is built.
    pub fn virtual_imports(&self) -> &[VirtualImport] {
        &self.virtual_imports
    }

    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The document as hashed (with defaults filled in), `nohash_` fields included.
    pub fn document(&self) -> &Value {
        &self.document
    }
}

fn apply_defaults(document: &mut Value) {
    let Some(Value::Object(build)) = document.get_mut("build") else {
        return;
    };
    let imports = build
        .entry("import")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = imports {
        for item in items {
            if let Value::Object(import) = item {
                import.entry("ref").or_insert(Value::Null);
            }
        }
    }
}

/// An entry of `build.import`.
enum Imported {
    Artifact(Import),
    Virtual(VirtualImport),
}

/// `virtual:` and a name of letters, digits and `-_+./` (`virtual:gnu-make/3+`).
fn is_virtual_name(id: &str) -> bool {
    id.strip_prefix("virtual:").is_some_and(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_+./".contains(c))
    })
}

fn parse_import(value: &Value, path: &str) -> Result<Imported, SpecError> {
    let object = Object::new(value, path)?;
    object.only(&["id", "ref", "in_env"])?;
    let id_text = object.required_string("id")?;
    if id_text.starts_with("virtual:") && !is_virtual_name(id_text) {
        return Err(invalid(
            &object.field_path("id"),
            format!(
                "{id_text:?}: a virtual import is `virtual:` and a name of letters, digits and -_+./"
            ),
        ));
    }
    let reference = match object.get("ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if is_variable_name(name) => Some(name.clone()),
        Some(Value::String(name)) => {
            return Err(invalid(
                &object.field_path("ref"),
                format!("{name:?} is not a variable name (letters, digits, `_`)"),
            ));
        }
        Some(other) => {
            return Err(invalid(
                &object.field_path("ref"),
                format!("expected a string or null, found {}", kind(other)),
            ));
        }
    };
    let in_env = match object.get("in_env") {
        None => true,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => {
            return Err(invalid(
                &object.field_path("in_env"),
                format!("expected a boolean, found {}", kind(other)),
            ));
        }
    };
    if is_virtual_name(id_text) {
        return Ok(Imported::Virtual(VirtualImport {
            name: id_text.to_owned(),
            reference,
            in_env,
        }));
    }
    let id = id_text
        .parse()
        .map_err(|error: super::IdError| invalid(&object.field_path("id"), error.to_string()))?;
    Ok(Imported::Artifact(Import {
        id,
        reference,
        in_env,
    }))
}

/// Sorted, pretty JSON of a document (for `build.json` in the store).
pub fn pretty_document(document: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for key in keys {
                    out.insert(key.clone(), sorted(&map[key]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut text =
        serde_json::to_string_pretty(&sorted(document)).expect("a Value always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id_of(doc: Value) -> String {
        BuildSpec::from_document(doc).unwrap().id().to_string()
    }

    #[test]
    fn hashdist_golden_vector() {
        assert_eq!(
            id_of(json!({"name": "fooname", "build": {"commands": []}})),
            "fooname/cwfxs3bhjvlxoczwlxlexklpeoewybcn"
        );
    }

    #[test]
    fn defaults_make_explicit_and_implicit_forms_equal() {
        let implicit = id_of(
            json!({"name": "a", "build": {"import": [{"id": "b/cwfxs3bhjvlxoczwlxlexklpeoewybcn"}]}}),
        );
        let explicit = id_of(
            json!({"name": "a", "build": {"import": [{"id": "b/cwfxs3bhjvlxoczwlxlexklpeoewybcn", "ref": null}]}}),
        );
        assert_eq!(implicit, explicit);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"build": {}}), "$.name: missing field"),
            (
                json!({"name": "a/b", "build": {}}),
                "$.name: invalid package name",
            ),
            (
                json!({"name": "a", "build": {}, "colour": 1}),
                "$.colour: unknown field",
            ),
            (json!({"name": "a"}), "$.build: missing field"),
            (
                json!({"name": "a", "build": {"commands": [{"cmd": []}]}}),
                "$.build.commands[0].cmd: the command is empty",
            ),
            (
                json!({"name": "a", "build": {"commands": [{"cmd": ["x"], "set": "Y"}]}}),
                "$.build.commands[0]: a command has exactly one",
            ),
            (
                json!({"name": "a", "build": {"commands": [{"set": "Y"}]}}),
                "$.build.commands[0]: `set` needs a `value`",
            ),
            (
                json!({"name": "a", "build": {"commands": [{"set": "1Y", "value": ""}]}}),
                "$.build.commands[0].set: \"1Y\" is not a variable name",
            ),
            (
                json!({"name": "a", "build": {"import": [{"id": "nope"}]}}),
                "$.build.import[0].id: invalid artifact id",
            ),
            (
                json!({"name": "a", "build": {}, "sources": [{"key": "git:0123456789012345678901234567890123456789"}]}),
                "$.sources[0].url: a git source needs",
            ),
            (
                json!({"name": "a", "build": {}, "sources": [{"key": "sha256:00", "url": "x"}]}),
                "$.sources[0].key: invalid source key",
            ),
            (
                json!({"name": "a", "build": {}, "sources": [{"key": "files:cwfxs3bhjvlxoczwlxlexklpeoewybcn", "files": {"../x": ""}}]}),
                "must not contain `..`",
            ),
            (
                json!({"name": "a", "version": 1.5, "build": {}}),
                "$.version: expected a string, found a number",
            ),
            (
                json!({"name": "a", "version": "1.0\n\u{1b}[32mok", "build": {}}),
                "$.version: \"1.0\\n\\u{1b}[32mok\" holds control characters",
            ),
            (
                json!({"name": "a", "build": {"x": 1.5, "commands": []}}),
                "$.build.x: unknown field",
            ),
            (
                json!({"name": "a", "build": {"commands": [{"cmd": ["a"], "if_exists": "/x"}]}}),
                "$.build.commands[0].if_exists: unknown field",
            ),
            (
                json!({"name": "a", "build": {"commands": [{"set": "A", "value": "", "if_exists": 3}]}}),
                "$.build.commands[0].if_exists: expected a string",
            ),
            (
                json!({"name": "a", "build": {"nohash_x": 1.5, "commands": [{"cmd": ["a"], "to_var": 2.5}]}}),
                "$.build.commands[0].to_var: expected a string",
            ),
        ];
        for (doc, expected) in cases {
            let message = BuildSpec::from_document(doc.clone())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains(expected),
                "{doc}: got {message:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn floats_outside_nohash_fields_are_errors() {
        let error = BuildSpec::from_document(json!({"name": "a", "build": {"commands": [{"cmd": ["x"], "inputs": [{"json": {"v": 0.5}}]}]}})).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("$.build.commands[0].inputs[0].json.v: floating-point"),
            "{error}"
        );
        // ...and a float under a nohash_ key is pruned before hashing.
        assert!(
            BuildSpec::from_document(json!({"name": "a", "nohash_x": 0.5, "build": {}})).is_ok()
        );
    }
}
