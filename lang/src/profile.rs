//! What a profile script evaluates to: a [`ProfileDecl`], made by `profile(#{...})`, and
//! the [`Profile`] that results from following its `extends`.

use crate::LangError;
use crate::stages::StageEntry;
use crate::value::{Fields, err, to_json};
use rhai::Dynamic;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Per-package settings of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSettings {
    /// Build this package from another recipe (`recipe: "host-mpi"`).
    pub recipe: Option<String>,
    /// Parameters for this package's recipe (over the profile's `params`).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Stage entries applied after the recipe's own (see [`crate::stages`]).
    pub stages: Vec<StageEntry>,
}

/// A profile another one extends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extend {
    /// A file, relative to the extending profile's directory.
    File(String),
    /// `path` in the tree of git commit `commit` of the repository at `url`.
    Git {
        url: String,
        commit: String,
        path: String,
    },
}

/// One profile script, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileDecl {
    pub extends: Vec<Extend>,
    pub package_dirs: Vec<String>,
    pub packages: Vec<(String, PackageSettings)>,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub skip: Vec<String>,
    pub prefer: Vec<String>,
    /// The recipe that provides the compilers every compiling package imports (default
    /// `toolchain`).
    pub toolchain: Option<String>,
    /// The parameters the script declared with `param(...)`.
    pub declared: Vec<crate::ParamDecl>,
    /// Where `profile(...)` was called: line, column.
    pub position: (usize, usize),
}

const FIELDS: &[&str] = &[
    "extends",
    "package_dirs",
    "packages",
    "params",
    "skip",
    "prefer",
    "toolchain",
];

impl ProfileDecl {
    pub(crate) fn from_value(value: &Dynamic, position: (usize, usize)) -> Result<Self, LangError> {
        let fields = Fields::new(value, "profile")?;
        fields.only(FIELDS)?;
        let mut packages = Vec::new();
        match fields.get("packages") {
            None => {}
            Some(value) if value.is_map() => {
                let inner = Fields::new(value, "packages")?;
                for (name, settings) in &inner.map {
                    packages.push((
                        name.to_string(),
                        settings_from(settings, &inner.field(name))?,
                    ));
                }
            }
            Some(_) => {
                for name in fields.string_list("packages")? {
                    packages.push((name, PackageSettings::default()));
                }
            }
        }
        for (name, _) in &packages {
            hit_spec::PackageName::new(name)
                .map_err(|error| err(format!("`packages`: {error}")))?;
        }
        let params = match fields.get("params") {
            None => serde_json::Map::new(),
            Some(value) => match to_json(value, "params")? {
                serde_json::Value::Object(map) => map,
                _ => return Err(err("`params`: expected a map #{...}".into())),
            },
        };
        Ok(Self {
            extends: extends_from(fields.get("extends"))?,
            package_dirs: fields.string_list("package_dirs")?,
            packages,
            params,
            skip: fields.string_list("skip")?,
            prefer: fields.string_list("prefer")?,
            toolchain: match fields.string("toolchain")? {
                Some(name) => {
                    hit_spec::PackageName::new(&name)
                        .map_err(|error| err(format!("`toolchain`: {error}")))?;
                    Some(name)
                }
                None => None,
            },
            declared: Vec::new(),
            position,
        })
    }
}

/// `extends`: a file, a map `#{ git, commit, path }`, or a list of them.
fn extends_from(value: Option<&Dynamic>) -> Result<Vec<Extend>, LangError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = match value.clone().try_cast::<rhai::Array>() {
        Some(items) => items,
        None => vec![value.clone()],
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let path = format!("extends[{index}]");
            if item.is_string() {
                return Ok(Extend::File(crate::value::string(item, &path)?));
            }
            let fields = Fields::new(item, &path).map_err(|_| {
                err(format!(
                    "`{path}`: expected a profile file (a string) or #{{ git: URL, commit: SHA, path: FILE }}"
                ))
            })?;
            fields.only(&["git", "commit", "path"])?;
            let commit = fields.required_string("commit")?;
            if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err(format!(
                    "`{path}.commit`: {commit:?} is not a full git commit (40 hex digits); \
                     `hit fetch URL --branch main` prints the one a branch names now"
                ))
                .about(crate::error::Token::Key("commit".into())));
            }
            let file = fields.required_string("path")?;
            if !crate::value::is_plain_relative(&file) {
                return Err(err(format!(
                    "`{path}.path`: {file:?} must be a relative path inside the repository (no `..`)"
                ))
                .about(crate::error::Token::Key("path".into())));
            }
            Ok(Extend::Git {
                url: fields.required_string("git")?,
                commit: commit.to_ascii_lowercase(),
                path: file,
            })
        })
        .collect()
}

fn settings_from(value: &Dynamic, path: &str) -> Result<PackageSettings, LangError> {
    if value.is_unit() {
        return Ok(PackageSettings::default());
    }
    let fields = Fields::new(value, path)?;
    fields.only(&["recipe", "params", "stages"])?;
    let params = match fields.get("params") {
        None => serde_json::Map::new(),
        Some(value) => match to_json(value, &fields.field("params"))? {
            serde_json::Value::Object(map) => map,
            _ => {
                return Err(err(format!(
                    "`{}`: expected a map #{{...}}",
                    fields.field("params")
                )));
            }
        },
    };
    let stages = fields
        .list("stages")?
        .iter()
        .enumerate()
        .map(|(index, stage)| {
            StageEntry::from_value(stage, &format!("{}[{index}]", fields.field("stages")))
        })
        .collect::<Result<_, _>>()?;
    Ok(PackageSettings {
        recipe: fields.string("recipe")?,
        params,
        stages,
    })
}

/// A profile with its `extends` chain folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name: its file name without `.rhai`.
    pub name: String,
    pub file: PathBuf,
    /// Where recipes are looked up, first match wins: this profile's dirs, then its
    /// parents', then the defaults.
    pub package_dirs: Vec<PathBuf>,
    pub packages: Vec<(String, PackageSettings)>,
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Which profile file set each of `params` (the one whose value holds).
    pub param_files: BTreeMap<String, PathBuf>,
    pub skip: Vec<String>,
    pub prefer: Vec<String>,
    /// The toolchain recipe, if a profile of the chain names one (the child's wins).
    pub toolchain: Option<String>,
    /// The parameters the profiles of the chain declared with `param(...)`, and the file
    /// of each.
    pub declared: Vec<(crate::ParamDecl, PathBuf)>,
}

impl Profile {
    /// The package every compiling package imports: `toolchain`, or the profile's choice.
    pub fn toolchain_package(&self) -> &str {
        self.toolchain.as_deref().unwrap_or("toolchain")
    }

    /// Folds a child over its (already folded) parent: the child's dirs and `prefer` come
    /// first, packages and `skip` are united, params and per-package settings merge with
    /// the child winning, stage entries add up.
    pub(crate) fn extend(mut self, child: Profile) -> Profile {
        let mut dirs = child.package_dirs;
        for dir in self.package_dirs {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        for (name, settings) in child.packages {
            match self
                .packages
                .iter_mut()
                .find(|(existing, _)| *existing == name)
            {
                Some((_, parent)) => {
                    if settings.recipe.is_some() {
                        parent.recipe = settings.recipe;
                    }
                    parent.params.extend(settings.params);
                    parent.stages.extend(settings.stages);
                }
                None => self.packages.push((name, settings)),
            }
        }
        self.params.extend(child.params);
        self.param_files.extend(child.param_files);
        self.skip.extend(child.skip);
        let mut prefer = child.prefer;
        prefer.extend(self.prefer);
        let mut declared = child.declared;
        declared.extend(self.declared);
        Profile {
            name: child.name,
            file: child.file,
            package_dirs: dirs,
            packages: self.packages,
            params: self.params,
            param_files: self.param_files,
            skip: self.skip,
            prefer,
            toolchain: child.toolchain.or(self.toolchain),
            declared,
        }
    }
}
