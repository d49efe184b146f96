//! What a recipe evaluates to: a [`Recipe`], made by `recipe(#{...})`.

use crate::LangError;
use crate::stages::StageEntry;
use crate::value::{Fields, err};
use rhai::Dynamic;
use std::collections::BTreeMap;

/// A package as its recipe describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    /// Where the project lives on the web (`hit info`, module files).
    pub homepage: Option<String>,
    pub sources: Vec<RecipeSource>,
    /// Needed to build and at run time: imported, rpath'ed, linked into profiles.
    pub deps: Vec<String>,
    /// Needed only to build (tools on `PATH`), not linked into profiles.
    pub build_deps: Vec<String>,
    /// Variables set before the first stage.
    pub env: BTreeMap<String, String>,
    /// Files beside the recipe applied with `patch -p1` before the first stage.
    pub patches: Vec<String>,
    /// Stage entries in order (merged and ordered by the planner, after the profile's).
    pub stages: Vec<StageEntry>,
    /// Host package: artifact path -> host path; the artifact holds symlinks to them.
    pub host: BTreeMap<String, String>,
    /// Host package: programs found on the host's `PATH` (`cc`), linked as `bin/<name>`;
    /// each one's resolved path, a hash of it and its `--version` are part of the id.
    pub host_programs: Vec<String>,
    /// Whether the build imports the toolchain (the compilers: see `plan`), as every
    /// package but host packages does unless it says `toolchain: false`.
    pub toolchain: bool,
    /// What the builds of packages that depend on this one get in their environment
    /// (`${ARTIFACT}` in a value is this package's path): variable -> change.
    pub provides_env: BTreeMap<String, Provided>,
    /// What a user of the package needs in the environment (`hit env`, modules), written
    /// like `provides_env`; `${ARTIFACT}` is the package's (or the profile's) path.
    pub run_env: BTreeMap<String, Provided>,
    /// CPUs a build of it asks for where the executor places builds (Slurm's
    /// `--cpus-per-task`, and its `make -j`); `None`: `hit build -j`. Not part of the id.
    pub cpus: Option<usize>,
    /// Time limit of a build of it as a Slurm job or step (Slurm's format: `30`,
    /// `2:00:00`); `None`: `slurm.time` of config.yaml. Not part of the id.
    pub time: Option<String>,
    /// The parameters the recipe declared with `param(...)`, in the order it did.
    pub params: Vec<crate::ParamDecl>,
    /// Where `recipe(...)` was called: line, column.
    pub position: (usize, usize),
}

/// A change a package makes to its dependants' environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provided {
    pub op: hit_spec::EnvOp,
    pub value: String,
}

/// A source named by a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipeSource {
    /// An archive by URL and key (`sha256:...`, or `sha256` given alone).
    Archive {
        url: Option<String>,
        key: String,
        target: Option<String>,
        strip: Option<u32>,
    },
    /// A git commit.
    Git {
        url: String,
        commit: String,
        target: Option<String>,
    },
    /// Files beside the recipe, copied into the build directory.
    Files {
        files: Vec<String>,
        target: Option<String>,
    },
}

const FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "homepage",
    "sources",
    "deps",
    "build_deps",
    "env",
    "patches",
    "stages",
    "host",
    "host_programs",
    "toolchain",
    "provides_env",
    "run_env",
    "cpus",
    "time",
];

impl Recipe {
    /// Validates the map given to `recipe(...)`.
    pub(crate) fn from_value(value: &Dynamic, position: (usize, usize)) -> Result<Self, LangError> {
        let fields = Fields::new(value, "recipe")?;
        fields.only(FIELDS)?;
        let name = fields.required_string("name")?;
        hit_spec::PackageName::new(&name).map_err(|error| err(format!("`name`: {error}")))?;
        let sources = fields
            .list("sources")?
            .iter()
            .enumerate()
            .map(|(index, source)| parse_source(source, &format!("sources[{index}]")))
            .collect::<Result<_, _>>()?;
        let check_names = |key: &str| -> Result<Vec<String>, LangError> {
            let names = fields.string_list(key)?;
            for dep in &names {
                hit_spec::PackageName::new(dep)
                    .map_err(|error| err(format!("`{key}`: {error}")))?;
            }
            Ok(names)
        };
        let env = fields.string_map("env")?;
        for variable in env.keys() {
            if !hit_spec::is_variable_name(variable) {
                return Err(err(format!("`env`: {variable:?} is not a variable name")));
            }
        }
        let stages = fields
            .list("stages")?
            .iter()
            .enumerate()
            .map(|(index, stage)| StageEntry::from_value(stage, &format!("stages[{index}]")))
            .collect::<Result<_, _>>()?;
        let host = fields.string_map("host")?;
        for (inside, outside) in &host {
            if inside.starts_with('/') || inside.split('/').any(|part| part == "..") {
                return Err(err(format!(
                    "`host`: {inside:?} must be a relative path inside the artifact"
                )));
            }
            if !outside.starts_with('/') {
                return Err(err(format!(
                    "`host`: {outside:?} must be an absolute path on the host"
                )));
            }
        }
        let host_programs = fields.string_list("host_programs")?;
        for program in &host_programs {
            if program.is_empty() || program.contains('/') || program.starts_with('.') {
                return Err(err(format!(
                    "`host_programs`: {program:?} is not a program name (found on PATH, so no `/`)"
                )));
            }
        }
        let is_host = !host.is_empty() || !host_programs.is_empty();
        let toolchain = match fields.get("toolchain") {
            None => !is_host,
            Some(value) => value
                .as_bool()
                .map_err(|_| err("`toolchain`: expected true or false".into()))?,
        };
        if toolchain && is_host {
            return Err(err(
                "`toolchain`: a host package cannot import the toolchain (it is made of host \
                 paths, not built)"
                    .into(),
            ));
        }
        let provides_env = env_changes(&fields, "provides_env")?;
        let run_env = env_changes(&fields, "run_env")?;
        let cpus = match fields.int("cpus")? {
            None => None,
            Some(cpus @ 1..=4096) => Some(cpus as usize),
            Some(other) => {
                return Err(err(format!(
                    "`cpus`: {other} is not a number of CPUs (1 to 4096)"
                )));
            }
        };
        let time = fields.string("time")?;
        if let Some(time) = &time
            && (time.is_empty()
                || !time
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '-'))
        {
            return Err(err(format!(
                "`time`: {time:?} is not a Slurm time limit (minutes, `H:MM:SS` or `D-HH`)"
            )));
        }
        let recipe = Self {
            name,
            version: fields.string("version")?,
            description: fields.string("description")?,
            homepage: fields.string("homepage")?,
            sources,
            deps: check_names("deps")?,
            build_deps: check_names("build_deps")?,
            env,
            patches: fields.string_list("patches")?,
            stages,
            host,
            host_programs,
            toolchain,
            provides_env,
            run_env,
            cpus,
            time,
            params: Vec::new(),
            position,
        };
        // A recipe without stages would build an empty artifact: almost always a mistake
        // (a recipe that wants none says `stages: []`). A host package needs none.
        if !fields.map.contains_key("stages") && !is_host {
            return Err(err(
                "missing field `stages`: without stages the package builds an empty artifact \
                 (use a stdlib function such as `autotools()`, or say `stages: []` if that is \
                 what you want)"
                    .into(),
            ));
        }
        Ok(recipe)
    }
}

/// `provides_env` or `run_env`, e.g.
/// `#{ ACLOCAL_PATH: "${ARTIFACT}/share/aclocal", CFLAGS: #{ append_flag: "-DX" } }`:
/// a string is prepended to a `:` list; a map names the operation.
fn env_changes(fields: &Fields, key: &str) -> Result<BTreeMap<String, Provided>, LangError> {
    use hit_spec::EnvOp;
    let Some(value) = fields.get(key) else {
        return Ok(BTreeMap::new());
    };
    let map = Fields::new(value, &fields.field(key))?;
    let mut provided = BTreeMap::new();
    for (variable, change) in &map.map {
        let path = map.field(variable);
        if !hit_spec::is_variable_name(variable) {
            return Err(err(format!(
                "`{path}`: {variable:?} is not a variable name"
            )));
        }
        let change = if change.is_string() {
            Provided {
                op: EnvOp::PrependPath,
                value: crate::value::string(change, &path)?,
            }
        } else {
            // Flags are for builds (`CFLAGS`); a user's environment takes paths and values.
            let ops: &[EnvOp] = if key == "run_env" {
                &[EnvOp::Set, EnvOp::PrependPath, EnvOp::AppendPath]
            } else {
                &[
                    EnvOp::Set,
                    EnvOp::PrependPath,
                    EnvOp::AppendPath,
                    EnvOp::PrependFlag,
                    EnvOp::AppendFlag,
                ]
            };
            let keys: Vec<&str> = ops.iter().map(|op| op.key()).collect();
            let inner = Fields::new(change, &path)?;
            inner.only(&keys)?;
            let mut given = ops.iter().filter(|op| inner.get(op.key()).is_some());
            match (given.next(), given.next()) {
                (Some(op), None) => Provided {
                    op: *op,
                    value: inner.required_string(op.key())?,
                },
                _ => {
                    return Err(err(format!(
                        "`{path}`: give a string (prepended to a `:` list) or a map with one of \
                         {}",
                        keys.join(", ")
                    )));
                }
            }
        };
        provided.insert(variable.to_string(), change);
    }
    Ok(provided)
}

fn parse_source(value: &Dynamic, path: &str) -> Result<RecipeSource, LangError> {
    let fields = Fields::new(value, path)?;
    let target = fields.string("target")?;
    if fields.get("git").is_some() {
        fields.only(&["git", "commit", "target"])?;
        return Ok(RecipeSource::Git {
            url: fields.required_string("git")?,
            commit: fields.required_string("commit")?,
            target,
        });
    }
    if fields.get("files").is_some() {
        fields.only(&["files", "target"])?;
        return Ok(RecipeSource::Files {
            files: fields.string_list("files")?,
            target,
        });
    }
    fields.only(&["url", "sha256", "key", "target", "strip"])?;
    let key = match (fields.string("sha256")?, fields.string("key")?) {
        (Some(hex), None) => format!("sha256:{hex}"),
        (None, Some(key)) => key,
        (Some(_), Some(_)) => {
            return Err(err(format!("`{path}`: give `sha256` or `key`, not both")));
        }
        (None, None) => {
            return Err(err(format!(
                "`{path}`: a source needs `sha256` (or `key`), or `git` and `commit`, or `files`"
            )));
        }
    };
    let strip = match fields.int("strip")? {
        None => None,
        Some(n) if (0..=64).contains(&n) => Some(n as u32),
        Some(n) => {
            return Err(err(format!(
                "`{}`: {n} is not a sensible number of components",
                fields.field("strip")
            )));
        }
    };
    Ok(RecipeSource::Archive {
        url: fields.string("url")?,
        key,
        target,
        strip,
    })
}
