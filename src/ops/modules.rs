//! `hit modules`: environment module files (Lmod's Lua, or Tcl for environment-modules)
//! for a built profile, so that `module use DIR; module load libpng` works as on any HPC
//! system.
//!
//! One file per package, `DIR/<name>/<version>-<hash7>[.lua]`: the short hash tells
//! variants apart, and `module load <name>` still finds it. It holds whatis and help from
//! the recipe's description and homepage, a `depends_on` (Lmod) or `prereq` (Tcl: loaded
//! with it by environment-modules' automated module handling) for each package of the
//! profile it imported, and the variables of [`super::env`] for the package's own
//! artifact. A last file, `DIR/profile-<name>[.lua]`, puts the whole profile in use as
//! `hit env` does, through the link as given (so it follows `hit build`).
//!
//! The directory belongs to hit once it holds `.hit-modules.json` (the format and the
//! files written): [`plan`] decides what to write and what to delete (files of packages no
//! longer in the profile), [`apply`] does it; a file whose contents are already right is
//! not touched, so regenerating is idempotent. A directory with other files and no such
//! record is refused, never written into.

use super::contents::{InstalledPackage, ProfileContents};
use super::env::{EnvVar, VarChange, env_of_package, env_of_profile};
use super::{Error, Result, write_atomically};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The record of what `hit modules` wrote into a directory.
pub const RECORD: &str = ".hit-modules.json";

/// Which module system the files are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleFormat {
    /// Lmod: Lua files (`.lua`).
    Lmod,
    /// environment-modules (and Lmod): Tcl files, `#%Module1.0`.
    Tcl,
}

impl ModuleFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Lmod => "lmod",
            Self::Tcl => "tcl",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Lmod => ".lua",
            Self::Tcl => "",
        }
    }
}

/// What [`apply`] will do to a module directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulesPlan {
    pub dir: PathBuf,
    pub format: ModuleFormat,
    /// Every module file and its contents, relative to `dir`, with the module's name.
    pub files: Vec<ModuleFile>,
    /// Files an earlier run wrote that no package needs now, relative to `dir`.
    pub remove: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    /// The name `module load` takes (`zlib/1.2.13-abcdefg`).
    pub module: String,
    pub path: PathBuf,
    pub text: String,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesOutcome {
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// The module files of a built profile in `dir`.
pub fn plan(contents: &ProfileContents, dir: &Path, format: ModuleFormat) -> Result<ModulesPlan> {
    let Some(profile_name) = &contents.name else {
        return Err(Error::Input(format!(
            "{} is not a profile hit built; give a profile link or script",
            contents.root.display()
        )));
    };
    let dir = std::path::absolute(dir).map_err(Error::io(dir.display().to_string()))?;
    let previous = read_record(&dir)?;
    let names: std::collections::HashMap<&str, String> = contents
        .packages
        .iter()
        .map(|package| (package.name.as_str(), package.module_name()))
        .collect();
    let mut files = Vec::new();
    for package in &contents.packages {
        let module = package.module_name();
        let deps: Vec<&str> = package
            .deps
            .iter()
            .filter_map(|dep| names.get(dep.as_str()).map(String::as_str))
            .collect();
        let text = package_module(package, &deps, profile_name, format);
        files.push(ModuleFile {
            path: PathBuf::from(format!("{module}{}", format.extension())),
            module,
            text,
        });
    }
    let module = format!("profile-{profile_name}");
    let vars = env_of_profile(contents, false).vars;
    let about = Text {
        title: format!("the hit profile {profile_name}"),
        help: format!(
            "Puts the hit profile {profile_name} ({} packages) in use: {}",
            contents.packages.len(),
            contents.root.display()
        ),
        whatis: vec![
            ("Name", module.clone()),
            ("Description", format!("the hit profile {profile_name}")),
        ],
    };
    files.push(ModuleFile {
        path: PathBuf::from(format!("{module}{}", format.extension())),
        text: render(format, &about, &[], &vars),
        module,
    });
    let wanted: BTreeSet<&Path> = files.iter().map(|file| file.path.as_path()).collect();
    let remove = previous
        .map(|record| record.files)
        .unwrap_or_default()
        .into_iter()
        .filter(|path| !wanted.contains(path.as_path()))
        .collect();
    Ok(ModulesPlan {
        dir,
        format,
        files,
        remove,
    })
}

/// Writes the plan's files (each through a temporary name), deletes the ones it no longer
/// needs and their emptied directories, then the record.
pub fn apply(plan: &ModulesPlan) -> Result<ModulesOutcome> {
    let mut outcome = ModulesOutcome::default();
    let io = |path: &Path| Error::io(path.display().to_string());
    for file in &plan.files {
        let path = plan.dir.join(&file.path);
        if std::fs::read_to_string(&path).is_ok_and(|text| text == file.text) {
            outcome.unchanged += 1;
            continue;
        }
        write_atomically(&path, &file.text)?;
        outcome.written += 1;
    }
    for stale in &plan.remove {
        let path = plan.dir.join(stale);
        match std::fs::remove_file(&path) {
            Ok(()) => outcome.removed += 1,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(&path)(error)),
        }
        // The package's directory goes with its last version.
        if let Some(parent) = path.parent().filter(|parent| *parent != plan.dir) {
            let _ = std::fs::remove_dir(parent);
        }
    }
    let record = serde_json::json!({
        "format": plan.format.name(),
        "files": plan.files.iter().map(|file| file.path.display().to_string()).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&record).expect("a record always serializes") + "\n";
    write_atomically(&plan.dir.join(RECORD), &text)?;
    Ok(outcome)
}

struct Record {
    files: Vec<PathBuf>,
}

/// The record of an earlier run; `None` for a new or empty directory; an error for a
/// directory hit did not make or a record it cannot read.
fn read_record(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(RECORD);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let files = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|record| {
                    record
                        .get("files")?
                        .as_array()?
                        .iter()
                        .map(|file| {
                            let file = PathBuf::from(file.as_str()?);
                            // Only files below the directory: a record edited to name
                            // `../x` must not make hit delete outside it.
                            file.components()
                                .all(|part| matches!(part, std::path::Component::Normal(_)))
                                .then_some(file)
                        })
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "{} is not a record hit can read; remove the directory's module files \
                         and the record by hand, or use a new directory",
                        path.display()
                    ))
                })?;
            Ok(Some(Record { files }))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let not_empty =
                std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
            if not_empty {
                return Err(Error::Refused(format!(
                    "{} holds files hit did not write (no {RECORD}); give a new or empty \
                     directory for the module files",
                    dir.display()
                )));
            }
            Ok(None)
        }
        Err(error) => Err(Error::Io {
            what: path.display().to_string(),
            source: error,
        }),
    }
}

/// What a module says about itself.
struct Text {
    title: String,
    help: String,
    whatis: Vec<(&'static str, String)>,
}

fn package_module(
    package: &InstalledPackage,
    deps: &[&str],
    profile: &str,
    format: ModuleFormat,
) -> String {
    let spec = &package.spec;
    let version = spec.version.as_deref().unwrap_or("-");
    let mut whatis = vec![
        ("Name", package.name.clone()),
        ("Version", version.to_owned()),
    ];
    let mut help = format!("{} {version}", package.name);
    if let Some(description) = &spec.description {
        whatis.push(("Description", description.to_owned()));
        help.push_str(&format!(": {description}"));
    }
    if let Some(homepage) = &spec.homepage {
        whatis.push(("URL", homepage.to_owned()));
        help.push_str(&format!("\nHomepage: {homepage}"));
    }
    help.push_str(&format!(
        "\nArtifact: {} ({})",
        package.id,
        package.path.display()
    ));
    let text = Text {
        title: format!("{} {version} of the hit profile {profile}", package.name),
        help,
        whatis,
    };
    render(format, &text, deps, &env_of_package(package))
}

fn render(format: ModuleFormat, text: &Text, deps: &[&str], vars: &[EnvVar]) -> String {
    match format {
        ModuleFormat::Lmod => render_lua(text, deps, vars),
        ModuleFormat::Tcl => render_tcl(text, deps, vars),
    }
}

const GENERATED: &str = "Written by `hit modules`; it rewrites this file, so edit the recipe.";

fn render_lua(text: &Text, deps: &[&str], vars: &[EnvVar]) -> String {
    let mut out = format!("-- {}\n-- {GENERATED}\n", text.title);
    for (key, value) in &text.whatis {
        out.push_str(&format!(
            "whatis({})\n",
            lua_string(&format!("{key}: {value}"))
        ));
    }
    out.push_str(&format!("help({})\n", lua_string(&text.help)));
    for dep in deps {
        out.push_str(&format!("depends_on({})\n", lua_string(dep)));
    }
    for var in vars {
        let name = lua_string(&var.variable);
        match &var.change {
            VarChange::Prepend(entries) => {
                // prepend_path puts its argument first: the first entry goes in last.
                for entry in entries.iter().rev() {
                    out.push_str(&format!("prepend_path({name}, {})\n", lua_string(entry)));
                }
            }
            VarChange::Append(entries) => {
                for entry in entries {
                    out.push_str(&format!("append_path({name}, {})\n", lua_string(entry)));
                }
            }
            VarChange::Set(value) => {
                out.push_str(&format!("setenv({name}, {})\n", lua_string(value)));
            }
        }
    }
    out
}

fn render_tcl(text: &Text, deps: &[&str], vars: &[EnvVar]) -> String {
    let mut out = format!(
        "#%Module1.0\n## {}\n## {GENERATED}\n",
        text.title.replace('\n', " ")
    );
    for (key, value) in &text.whatis {
        out.push_str(&format!(
            "module-whatis {}\n",
            tcl_word(&format!("{key}: {value}"))
        ));
    }
    out.push_str(&format!(
        "proc ModulesHelp {{ }} {{\n    puts stderr {}\n}}\n",
        tcl_word(&text.help)
    ));
    for dep in deps {
        out.push_str(&format!("prereq {}\n", tcl_word(dep)));
    }
    for var in vars {
        let name = tcl_word(&var.variable);
        match &var.change {
            VarChange::Prepend(entries) => {
                for entry in entries.iter().rev() {
                    out.push_str(&format!("prepend-path {name} {}\n", tcl_word(entry)));
                }
            }
            VarChange::Append(entries) => {
                for entry in entries {
                    out.push_str(&format!("append-path {name} {}\n", tcl_word(entry)));
                }
            }
            VarChange::Set(value) => {
                out.push_str(&format!("setenv {name} {}\n", tcl_word(value)));
            }
        }
    }
    out
}

/// A Lua string literal.
fn lua_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Tcl word in double quotes, with everything Tcl would substitute escaped.
fn tcl_word(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' | '"' | '$' | '[' | ']' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_for_each_language() {
        assert_eq!(lua_string("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(
            tcl_word("x $HOME [exec rm] {y}"),
            r#""x \$HOME \[exec rm\] \{y\}""#
        );
    }
}
