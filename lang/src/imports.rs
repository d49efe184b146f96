//! Base recipes: `import "bases/python_package" as py;` in a recipe.
//!
//! A recipe may import other scripts from the package dirs, to share code beyond the
//! stdlib. The language still does no I/O of its own: the caller hands in an
//! [`Imports`] function (the planner's reads through its `Loader`, inside the package
//! dirs, so the plan cache records every imported file as an input), and this module
//! turns what it returns into Rhai modules.
//!
//! How: Rhai resolves an `import` through a module resolver that it calls with nothing but
//! the path, and that must live as long as the engine; the imports function borrows the
//! planner's loader for one evaluation only. So the resolver (`PackageModules`) serves
//! only modules already loaded for the running evaluation (a thread-local map) and, for any
//! other path, records it and fails. `compile` first loads what the script's text names
//! (`import "path"`, found by a scan of the text), then compiles it into a self-contained
//! AST (every literal `import` resolved at compile time); should that still fail on a path
//! the scan missed, it loads that module and compiles again. A module without imports of
//! its own is compiled and evaluated once per thread and kept while its file's text stays
//! the same (it is read through the loader for every recipe all the same, so the plan
//! cache records it).
//!
//! Rules: a path is relative, made of plain names (no `..`, no absolute path), with or
//! without `.rhai`; it must be a string literal (an import computed at run time, or inside
//! a function, is an error); a cycle of imports is an error naming it. A module's
//! functions see only their arguments (like every Rhai function) and may call the stdlib
//! and `param(...)`; its top level runs with no constants in scope.

use crate::error::LangError;
use rhai::module_resolvers::ModuleResolver;
use rhai::{AST, Engine, EvalAltResult, Module, Position, Scope, Shared};

type SharedModule = Shared<Module>;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Finds the script an `import` names: its file and text, or why there is none.
pub type Imports<'a> = &'a dyn Fn(&str) -> Result<(PathBuf, String), String>;

/// For scripts that may not import (profiles, and recipes evaluated on their own).
pub fn no_imports(path: &str) -> Result<(PathBuf, String), String> {
    Err(format!(
        "cannot import {path:?}: only recipes planned in a profile import (from the package dirs)"
    ))
}

/// The deepest chain of imports (a base importing a base ...).
const MAX_DEPTH: usize = 16;

#[derive(Default)]
struct Loaded {
    modules: HashMap<String, SharedModule>,
    /// The path the resolver was last asked for and did not have.
    missing: Option<String>,
}

thread_local! {
    static LOADED: RefCell<Loaded> = RefCell::new(Loaded::default());
    /// Modules without imports, by file, with the text they were made from.
    static COMPILED: RefCell<HashMap<PathBuf, (String, SharedModule)>> =
        RefCell::new(HashMap::new());
}

/// The engine's module resolver: the modules loaded for the running evaluation.
pub(crate) struct PackageModules;

impl ModuleResolver for PackageModules {
    fn resolve(
        &self,
        _engine: &Engine,
        _source: Option<&str>,
        path: &str,
        position: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        LOADED.with_borrow_mut(|loaded| match loaded.modules.get(path) {
            Some(module) => Ok(module.clone()),
            None => {
                loaded.missing = Some(path.to_owned());
                Err(Box::new(EvalAltResult::ErrorModuleNotFound(
                    path.to_owned(),
                    position,
                )))
            }
        })
    }
}

/// Forgets the modules of the previous evaluation on this thread.
pub(crate) fn reset() {
    LOADED.with_borrow_mut(|loaded| *loaded = Loaded::default());
}

/// Compiles `source` with its imports resolved.
pub(crate) fn compile(
    engine: &Engine,
    scope: &Scope,
    file: &Path,
    source: &str,
    imports: Imports,
) -> Result<AST, LangError> {
    let mut chain = Vec::new();
    // What the text names, loaded ahead so that one compilation does; a name the scan
    // finds that is no import (a comment), or that does not load, is left to the
    // compilation to judge.
    for path in named_imports(source) {
        if check_path(&path).is_ok()
            && !LOADED.with_borrow(|loaded| loaded.modules.contains_key(&path))
            && let Ok((module_file, module_source)) = imports(path.trim_end_matches(".rhai"))
        {
            chain.push(path.clone());
            let module = load_module(engine, &module_file, &module_source, imports, &mut chain);
            chain.pop();
            if let Ok(module) = module {
                LOADED.with_borrow_mut(|loaded| loaded.modules.insert(path, module));
            }
        }
    }
    compile_within(engine, scope, file, source, imports, &mut chain)
}

/// The paths of `import "..."` statements in a script's text.
fn named_imports(source: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("import") {
        rest = &rest[at + "import".len()..];
        let Some(quoted) = rest.trim_start().strip_prefix('"') else {
            continue;
        };
        if let Some(end) = quoted.find('"') {
            paths.push(quoted[..end].to_owned());
        }
    }
    paths
}

fn compile_within(
    engine: &Engine,
    scope: &Scope,
    file: &Path,
    source: &str,
    imports: Imports,
    chain: &mut Vec<String>,
) -> Result<AST, LangError> {
    loop {
        LOADED.with_borrow_mut(|loaded| loaded.missing = None);
        let error = match engine.compile_into_self_contained(scope, source) {
            Ok(ast) => return Ok(ast),
            Err(error) => error,
        };
        let Some(path) = LOADED.with_borrow_mut(|loaded| loaded.missing.take()) else {
            let message = match &*error {
                EvalAltResult::ErrorParsing(kind, _) => format!("syntax error: {kind}"),
                other => other.to_string(),
            };
            return Err(LangError::at(file, source, error.position(), message));
        };
        let at_import =
            |message: String| LangError::at(file, source, import_position(source, &path), message);
        check_path(&path).map_err(|why| at_import(format!("import {path:?}: {why}")))?;
        if chain.contains(&path) || chain.len() >= MAX_DEPTH {
            let mut cycle = chain.clone();
            cycle.push(path.clone());
            return Err(at_import(format!(
                "imports form a cycle (or a chain deeper than {MAX_DEPTH}): {}",
                cycle.join(" -> ")
            )));
        }
        let (module_file, module_source) = imports(path.trim_end_matches(".rhai"))
            .map_err(|why| at_import(format!("import {path:?}: {why}")))?;
        chain.push(path.clone());
        let module = load_module(engine, &module_file, &module_source, imports, chain);
        chain.pop();
        let module = module?;
        LOADED.with_borrow_mut(|loaded| loaded.modules.insert(path, module));
    }
}

fn load_module(
    engine: &Engine,
    file: &Path,
    source: &str,
    imports: Imports,
    chain: &mut Vec<String>,
) -> Result<SharedModule, LangError> {
    let scope = Scope::new();
    if source.contains("import") {
        let ast = compile_within(engine, &scope, file, source, imports, chain)?;
        return evaluate_module(engine, file, source, &ast);
    }
    let cached = COMPILED.with_borrow(|compiled| {
        compiled
            .get(file)
            .filter(|(text, _)| text == source)
            .map(|(_, module)| module.clone())
    });
    if let Some(module) = cached {
        return Ok(module);
    }
    let ast = engine.compile_with_scope(&scope, source).map_err(|error| {
        LangError::at(
            file,
            source,
            error.position(),
            format!("syntax error: {}", error.err_type()),
        )
    })?;
    let module = evaluate_module(engine, file, source, &ast)?;
    COMPILED.with_borrow_mut(|compiled| {
        compiled.insert(file.to_path_buf(), (source.to_owned(), module.clone()))
    });
    Ok(module)
}

fn evaluate_module(
    engine: &Engine,
    file: &Path,
    source: &str,
    ast: &AST,
) -> Result<SharedModule, LangError> {
    let module = Module::eval_ast_as_new(Scope::new(), ast, engine)
        .map_err(|error| LangError::at(file, source, error.position(), error.to_string()))?;
    Ok(module.into())
}

/// Plain relative names: `bases/python_package`, never `/etc/x` or `../x`.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        Err("an empty path")
    } else if crate::value::is_plain_relative(path) {
        Ok(())
    } else {
        Err(
            "an import names a script in the package dirs by a relative path of plain names (no `..`, not absolute)",
        )
    }
}

/// Where the script writes `import "path"` (Rhai does not say when it resolves at compile time).
fn import_position(source: &str, path: &str) -> Position {
    let quoted = format!("{path:?}");
    for (index, line) in source.lines().enumerate() {
        if let Some(column) = line.find(&quoted)
            && line[..column].contains("import")
        {
            return Position::new((index + 1) as u16, (column + 1) as u16);
        }
    }
    Position::NONE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_plain_relative_names() {
        assert!(check_path("bases/python_package").is_ok());
        assert!(check_path("lib.rhai").is_ok());
        assert!(check_path("../x").is_err());
        assert!(check_path("/etc/passwd").is_err());
        assert!(check_path("a/./b").is_ok(), "Path drops `.` in the middle");
        assert!(check_path("").is_err());
    }

    #[test]
    fn the_text_names_its_imports() {
        let source = "import \"bases/a\" as a;\n// import \"bases/b\"\nlet important = 1;\nimport  \"c\" as c;";
        assert_eq!(named_imports(source), ["bases/a", "bases/b", "c"]);
    }

    #[test]
    fn the_import_line_is_found() {
        let source = "let a = 1;\nimport \"bases/x\" as x;\n";
        let position = import_position(source, "bases/x");
        assert_eq!((position.line(), position.position()), (Some(2), Some(8)));
    }
}
