//! The sandboxed Rhai engine that evaluates recipes and profiles.
//!
//! Scripts are pure functions of their text and their parameters: the engine starts from
//! `Engine::new_raw()` with only the standard package (strings, lists, maps, logic), no
//! `eval`, `import` only of what the caller loaded (see [`crate::imports`]), no time, no
//! floats, no file, network or environment access. What a script may know of the outside
//! world is handed in as constants: `params` (from the profile and the command line),
//! `platform` (`os`, `arch`) and, for recipes, `name`; and through `param(name, default,
//! help)`, which declares a parameter and returns its value (see [`crate::param`]).
//! Operation, call-depth and size limits turn a runaway script into an error.
//!
//! Two native functions turn a map into a value hit understands, checking every field:
//! `recipe(#{...})` (a recipe's result) and `profile(#{...})` (a profile's result). Errors
//! they find are reported at the position of that call.

use crate::LangError;
use crate::error::Token;
use crate::imports::{Imports, PackageModules, no_imports};
use crate::param::ParamDecl;
use crate::profile::ProfileDecl;
use crate::recipe::Recipe;
use crate::value::{from_json, to_json};
use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext, Position, Scope};
use std::path::Path;

/// The stdlib scripts, embedded in the binary.
pub const STDLIB: &[(&str, &str)] =
    &[("stdlib/build.rhai", include_str!("../../stdlib/build.rhai"))];

/// Operations a single script may run before it is stopped.
pub const MAX_OPERATIONS: u64 = 5_000_000;

/// Wall time a single script may run: some built-ins are O(n) in one operation, so the
/// operation budget alone allows minutes of CPU.
pub const MAX_SECONDS: u64 = 10;

/// Memory one evaluation may take (growth of the process's memory while it runs), when the
/// program told the language how to measure it ([`set_memory_probe`]).
pub const MAX_MEMORY_BYTES: usize = 512 << 20;

/// How often (in operations) the time budget is checked (a clock read), and the memory
/// budget (the probe reads a file: a few microseconds).
const CHECK_TIME_EVERY: u64 = 256;
const CHECK_MEMORY_EVERY: u64 = 1024;

/// How the program measures its memory: bytes in use now (the `hit` binary reads its
/// resident size). Without a probe, memory is not limited (only sizes are).
static MEMORY_PROBE: std::sync::OnceLock<fn() -> usize> = std::sync::OnceLock::new();

/// Tells the evaluator how to measure memory (once per process).
pub fn set_memory_probe(probe: fn() -> usize) {
    let _ = MEMORY_PROBE.set(probe);
}

thread_local! {
    /// What the running evaluation was given and has declared (see [`crate::param`]).
    static DECLARATIONS: std::cell::RefCell<Option<Declarations>> =
        const { std::cell::RefCell::new(None) };

    /// The running evaluation's deadline, and its memory at the first check (taken then,
    /// not at the start: most recipes never get that far, and the probe reads a file).
    static BUDGET: std::cell::Cell<Option<(std::time::Instant, Option<usize>)>> =
        const { std::cell::Cell::new(None) };
}

/// The parameters an evaluation was given, and those its `param(...)` calls declared.
struct Declarations {
    given: serde_json::Map<String, serde_json::Value>,
    declared: Vec<ParamDecl>,
}

/// `param(name, default, help, choices)`: declares the parameter and returns its value.
fn declare_param(
    context: &NativeCallContext,
    name: &str,
    default: &Dynamic,
    help: &str,
    choices: rhai::Array,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let fail = |message: String| runtime_error(message, context.call_position());
    let default = to_json(default, "default")
        .map_err(|error| fail(format!("param {name:?}: {}", error.message)))?;
    let choices = choices
        .iter()
        .map(|choice| to_json(choice, "choices"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| fail(format!("param {name:?}: {}", error.message)))?;
    let declared = ParamDecl::new(name, default, help, choices).map_err(fail)?;
    DECLARATIONS.with_borrow_mut(|state| {
        let Some(state) = state else {
            return Err(fail("param() is for recipes and profiles".into()));
        };
        match state
            .declared
            .iter()
            .find(|other| other.name == declared.name)
        {
            Some(other) if !other.agrees_with(&declared) => {
                return Err(fail(format!(
                    "param {name:?} is declared twice, with different defaults or choices"
                )));
            }
            Some(_) => {}
            None => state.declared.push(declared.clone()),
        }
        let value = declared.value(state.given.get(name)).map_err(fail)?;
        Ok(from_json(&value))
    })
}

/// Whether the running evaluation is over budget, and which.
fn over_budget(operations: u64) -> Option<Dynamic> {
    // Counted from 0 in each evaluation: a short recipe is never checked at all.
    if operations == 0 || !operations.is_multiple_of(CHECK_TIME_EVERY) {
        return None;
    }
    let (deadline, memory_at_first_check) = BUDGET.get()?;
    if std::time::Instant::now() > deadline {
        return Some(
            format!("the script ran longer than {MAX_SECONDS} s (an endless computation?) and was stopped")
                .into(),
        );
    }
    if !operations.is_multiple_of(CHECK_MEMORY_EVERY) {
        return None;
    }
    let memory = MEMORY_PROBE.get().map(|probe| probe())?;
    let Some(at_first_check) = memory_at_first_check else {
        BUDGET.set(Some((deadline, Some(memory))));
        return None;
    };
    if memory.saturating_sub(at_first_check) > MAX_MEMORY_BYTES {
        return Some(
            format!(
                "the script took more than {} MiB of memory and was stopped",
                MAX_MEMORY_BYTES >> 20
            )
            .into(),
        );
    }
    None
}

/// Evaluates recipes and profiles. Build one and reuse it: compiling the stdlib is the
/// expensive part.
pub struct Evaluator {
    engine: Engine,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator").finish_non_exhaustive()
    }
}

fn position_of(context: &NativeCallContext) -> (usize, usize) {
    let position = context.call_position();
    (
        position.line().unwrap_or(0),
        position.position().unwrap_or(0),
    )
}

fn runtime_error(message: String, position: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into(), position))
}

/// An error of `recipe(...)` or `profile(...)` that knows what in the script it is about
/// (see [`LangError::token`]), carried through Rhai to [`script_error`].
#[derive(Debug, Clone)]
struct Located {
    message: String,
    token: Option<Box<Token>>,
}

fn located_error(prefix: &str, error: LangError, position: Position) -> Box<EvalAltResult> {
    let located = Located {
        message: format!("{prefix}: {}", error.message),
        token: error.token,
    };
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(located),
        position,
    ))
}

fn quote(args: &[String]) -> String {
    hit_spec::shell::quote_expanding(args)
}

impl Evaluator {
    pub fn new() -> Self {
        let mut engine = Engine::new_raw();
        engine.register_global_module(StandardPackage::new().as_shared_module());
        engine.disable_symbol("eval");
        // `import` reads nothing itself: it is served what the caller loaded (see `imports`).
        engine.set_module_resolver(PackageModules);
        engine.set_max_operations(MAX_OPERATIONS);
        engine.set_max_call_levels(64);
        engine.set_max_expr_depths(64, 64);
        engine.set_max_string_size(1 << 20);
        engine.set_max_array_size(100_000);
        engine.set_max_map_size(10_000);
        engine.set_strict_variables(true);
        engine.on_progress(over_budget);
        engine.on_print(|text| tracing::info!(target: "hit::script", "{text}"));
        engine.on_debug(|text, source, position| tracing::debug!(target: "hit::script", "{source:?} {position}: {text}"));

        engine.register_type_with_name::<Recipe>("Recipe");
        engine.register_type_with_name::<ProfileDecl>("Profile");
        engine.register_fn(
            "recipe",
            |context: NativeCallContext, map: Map| -> Result<Recipe, Box<EvalAltResult>> {
                Recipe::from_value(&Dynamic::from_map(map), position_of(&context))
                    .map_err(|error| located_error("recipe", error, context.call_position()))
            },
        );
        engine.register_fn(
            "profile",
            |context: NativeCallContext, map: Map| -> Result<ProfileDecl, Box<EvalAltResult>> {
                ProfileDecl::from_value(&Dynamic::from_map(map), position_of(&context))
                    .map_err(|error| located_error("profile", error, context.call_position()))
            },
        );
        engine.register_fn(
            "quote",
            |args: rhai::Array| -> Result<String, Box<EvalAltResult>> {
                let strings = args
                    .into_iter()
                    .map(|arg| {
                        arg.into_string().map_err(|kind| {
                            runtime_error(
                                format!("quote: expected strings, found {kind}"),
                                Position::NONE,
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(quote(&strings))
            },
        );
        engine.register_fn("quote", |arg: &str| quote(&[arg.to_owned()]));
        engine.register_fn(
            "param",
            |context: NativeCallContext, name: &str, default: Dynamic, help: &str| {
                declare_param(&context, name, &default, help, rhai::Array::new())
            },
        );
        engine.register_fn(
            "param",
            |context: NativeCallContext,
             name: &str,
             default: Dynamic,
             help: &str,
             choices: rhai::Array| {
                declare_param(&context, name, &default, help, choices)
            },
        );
        // The standard package's `sleep` would let a script hang every command that
        // evaluates it (gc and verify --repair wait behind a build's evaluation).
        // Functions registered on the engine are found before the package's.
        engine.register_fn(
            "sleep",
            |context: NativeCallContext, _seconds: rhai::INT| -> Result<(), Box<EvalAltResult>> {
                Err(runtime_error(
                    "sleep is not available: recipes and profiles are evaluated, not run".into(),
                    context.call_position(),
                ))
            },
        );

        for (name, source) in STDLIB {
            let ast = engine
                .compile(source)
                .unwrap_or_else(|error| panic!("{name} does not compile: {error}"));
            let module = rhai::Module::eval_ast_as_new(Scope::new(), &ast, &engine)
                .unwrap_or_else(|error| panic!("{name} does not evaluate: {error}"));
            engine.register_global_module(module.into());
        }
        Self { engine }
    }

    fn scope(params: &serde_json::Map<String, serde_json::Value>) -> Scope<'static> {
        let mut scope = Scope::new();
        scope.push_constant(
            "params",
            from_json(&serde_json::Value::Object(params.clone())),
        );
        let mut platform = Map::new();
        platform.insert("os".into(), std::env::consts::OS.into());
        platform.insert("arch".into(), std::env::consts::ARCH.into());
        scope.push_constant("platform", platform);
        scope
    }

    /// Runs a script with `params` in its scope; returns its value and the params it declared.
    fn run(
        &self,
        file: &Path,
        source: &str,
        params: &serde_json::Map<String, serde_json::Value>,
        extra: Option<(&str, String)>,
        imports: Imports,
    ) -> Result<(Dynamic, Vec<ParamDecl>), LangError> {
        let mut scope = Self::scope(params);
        if let Some((name, value)) = extra {
            scope.push_constant(name, value);
        }
        DECLARATIONS.set(Some(Declarations {
            given: params.clone(),
            declared: Vec::new(),
        }));
        crate::imports::reset();
        let result = self.run_in(file, source, scope, imports);
        crate::imports::reset();
        let declared = DECLARATIONS
            .take()
            .map(|state| state.declared)
            .unwrap_or_default();
        Ok((result?, declared))
    }

    fn run_in(
        &self,
        file: &Path,
        source: &str,
        mut scope: Scope<'_>,
        imports: Imports,
    ) -> Result<Dynamic, LangError> {
        let is_script = file.extension().is_some_and(|ext| ext == "rhai");
        let ast = if is_script && source.contains("import") {
            crate::imports::compile(&self.engine, &scope, file, source, imports)?
        } else {
            self.engine
                .compile_with_scope(&scope, source)
                .map_err(|error| {
                    // A file that is not a script at all (a profile extending /etc/shadow)
                    // must not have its contents shown: Rhai's message quotes the tokens
                    // it found.
                    if !is_script {
                        let mut located = LangError::at(
                            file,
                            "",
                            error.position(),
                            "does not parse as a script (and is not a .rhai file)",
                        );
                        located.source_line = None;
                        return located;
                    }
                    LangError::at(
                        file,
                        source,
                        error.position(),
                        format!("syntax error: {}", error.err_type()),
                    )
                })?
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(MAX_SECONDS);
        BUDGET.set(Some((deadline, None)));
        // Rhai has internal assertions that some scripts reach (`params.x += 1` on the
        // constant `params` hits an `unreachable!`): a bug of the engine must still be an
        // error about the script, never a crash of hit.
        let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast)
        }));
        BUDGET.set(None);
        match evaluated {
            Ok(result) => result.map_err(|error| script_error(file, source, &error)),
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no reason given");
                Err(LangError::in_file(
                    file,
                    format!(
                        "the script stopped the Rhai engine ({reason}); this is a bug of Rhai's, \
                         usually reached by assigning to something that cannot be assigned \
                         (a constant such as `params`): rewrite that line"
                    ),
                ))
            }
        }
    }

    /// Evaluates a recipe with the parameters it should see. The script must end with
    /// `recipe(#{...})`; `name` is the recipe's file name and, if the package gives a
    /// name, must equal it. Its `import`s are found by `imports`.
    pub fn recipe(
        &self,
        file: &Path,
        source: &str,
        name: &str,
        params: &serde_json::Map<String, serde_json::Value>,
        imports: Imports,
    ) -> Result<Recipe, LangError> {
        let (result, declared) = self.run(
            file,
            source,
            params,
            Some(("name", name.to_owned())),
            imports,
        )?;
        let Some(mut recipe) = result.try_cast::<Recipe>() else {
            return Err(LangError::in_file(
                file,
                "a recipe must end with `recipe(#{ ... })`",
            ));
        };
        if recipe.name != name {
            let (line, column) = recipe.position;
            return Err(LangError::at(
                file,
                source,
                Position::new(line as u16, column as u16),
                format!(
                    "recipe: the recipe in {name}.rhai is named {:?}; a recipe's name must match its file",
                    recipe.name
                ),
            ));
        }
        recipe.params = declared;
        Ok(recipe)
    }

    /// Evaluates one profile script (its `extends` are not followed here).
    pub fn profile(
        &self,
        file: &Path,
        source: &str,
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ProfileDecl, LangError> {
        let (result, declared) = self.run(file, source, params, None, &no_imports)?;
        if let Some(recipe) = result.clone().try_cast::<Recipe>() {
            // A recipe given where a profile belongs (`hit build zlib.rhai`).
            let dir = file
                .parent()
                .map(|dir| dir.display().to_string())
                .filter(|dir| !dir.is_empty())
                .unwrap_or_else(|| ".".into());
            return Err(LangError::in_file(
                file,
                format!(
                    "this is a recipe (of `{name}`), not a profile; hit builds profiles. A \
                     one-line profile that builds it: \
                     profile(#{{ package_dirs: [{dir:?}], packages: [{name:?}] }})",
                    name = recipe.name
                ),
            ));
        }
        let mut profile = result.try_cast::<ProfileDecl>().ok_or_else(|| {
            LangError::in_file(file, "a profile must end with `profile(#{ ... })`")
        })?;
        profile.declared = declared;
        Ok(profile)
    }
}

impl Default for Evaluator {
    fn default() -> Self {
        Self::new()
    }
}

/// A runtime error, located at the outermost position in the script (an error inside a
/// stdlib function is reported where the script called it).
fn script_error(file: &Path, source: &str, error: &EvalAltResult) -> LangError {
    let message = match error {
        EvalAltResult::ErrorTooManyOperations(_) => {
            format!(
                "the script ran more than {MAX_OPERATIONS} operations (an endless loop?) and was stopped"
            )
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            "the script recursed too deeply and was stopped".to_owned()
        }
        EvalAltResult::ErrorTerminated(why, _) => why.to_string(),
        other => {
            let (message, token) = innermost_message(other);
            return LangError::at_token(file, source, error.position(), message, token.as_deref());
        }
    };
    LangError::at(file, source, error.position(), message)
}

fn innermost_message(error: &EvalAltResult) -> (String, Option<Box<Token>>) {
    // Down a chain of calls to the error itself; a message the script threw speaks for
    // itself, anything else gets the name of the function the script called.
    let mut outermost = None;
    let mut error = error;
    while let EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = error {
        outermost.get_or_insert(name.clone());
        error = inner;
    }
    let message = match error {
        EvalAltResult::ErrorRuntime(value, _) => {
            return match value.clone().try_cast::<Located>() {
                Some(located) => (located.message, located.token),
                None => (value.to_string(), None),
            };
        }
        other => {
            // Rhai appends " (line x, position y)" to some messages; the location is ours to show.
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(index) => text[..index].to_owned(),
                None => text,
            }
        }
    };
    let message = match outermost {
        Some(name) => format!("in {name}(): {message}"),
        None => message,
    };
    (message, None)
}
