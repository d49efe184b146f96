//! Looking at a profile's packages and the store: `hit status`, `hit show`, `hit hash`,
//! `hit resolve`, `hit bdir`.

use super::{Error, ProfileRequest, Result, load_plan, package_of};
use hit_engine::build::{BuildDirs, BuildEnvironment};
use hit_engine::home::Home;
use hit_engine::spec::ArtifactId;
use hit_engine::store::Store;
use hit_lang::Plan;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One package of `hit status`.
#[derive(Debug, Clone)]
pub struct PackageStatus {
    pub name: String,
    pub version: Option<String>,
    pub id: ArtifactId,
    pub built: bool,
    /// In the profile's tree (else only built and used by others).
    pub linked: bool,
}

/// A profile's packages in build order, and whether each is in the store.
pub fn status(home: &Home, request: &ProfileRequest) -> Result<(Plan, Vec<PackageStatus>)> {
    let plan = load_plan(request, None)?;
    let store = Store::for_home(home);
    let mut packages = Vec::new();
    for package in &plan.packages {
        packages.push(PackageStatus {
            name: package.name.clone(),
            version: package.recipe.version.clone(),
            id: package.spec.id().clone(),
            built: store.resolve(package.spec.id())?.is_some(),
            linked: package.linked,
        });
    }
    Ok((plan, packages))
}

/// What `hit show` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// The build spec, as the store keeps it (sorted, pretty JSON).
    BuildSpec,
    /// The build as a shell script.
    Script,
}

pub fn show(package: &str, request: &ProfileRequest, what: Shown) -> Result<String> {
    let plan = load_plan(request, None)?;
    let planned = package_of(&plan, package)?;
    Ok(match what {
        Shown::BuildSpec => hit_engine::spec::pretty_document(planned.spec.document()),
        Shown::Script => planned.script.clone(),
    })
}

/// The relocation record of a package's artifact (which must be built): its path and
/// the record, `None` for an artifact committed by a hit without relocation records.
pub fn relocation(
    home: &Home,
    package: &str,
    request: &ProfileRequest,
) -> Result<(PathBuf, Option<hit_engine::store::relocate::Relocation>)> {
    let plan = load_plan(request, None)?;
    let planned = package_of(&plan, package)?;
    let path = Store::for_home(home)
        .resolve(planned.spec.id())?
        .ok_or_else(|| {
            Error::Refused(format!(
                "{package} is not built ({}); the relocation check runs when it is committed",
                planned.spec.id()
            ))
        })?;
    let file = path
        .join(hit_engine::store::META_DIR)
        .join(hit_engine::store::relocate::RELOCATION_FILE);
    let record = match std::fs::read_to_string(&file) {
        Ok(text) => Some(
            serde_json::from_str(&text)
                .map_err(|error| Error::Refused(format!("{}: {error}", file.display())))?,
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(Error::Unreadable { path: file, source }),
    };
    Ok((path, record))
}

/// Where an artifact is in the store, if it is there.
pub fn resolve(home: &Home, id: &ArtifactId) -> Result<Option<PathBuf>> {
    Ok(Store::for_home(home).resolve(id)?)
}

/// Unpacks the package's sources into `dir` and writes `dir/hit-build.sh`: the environment
/// a real build would have (with `$ARTIFACT` in `dir/_artifact`) and the stages. Returns
/// the directory, absolute.
pub fn bdir(home: &Home, package: &str, dir: &Path, request: &ProfileRequest) -> Result<PathBuf> {
    let plan = load_plan(request, None)?;
    let planned = package_of(&plan, package)?;
    let store = Store::for_home(home);
    let dir = std::path::absolute(dir).map_err(Error::io(dir.display().to_string()))?;
    let not_empty = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if not_empty {
        return Err(Error::Refused(format!(
            "{} is not empty; give a new or empty directory",
            dir.display()
        )));
    }
    let mut imports = Vec::new();
    for import in planned.spec.imports() {
        let path = store.resolve(&import.id)?.ok_or_else(|| {
            Error::Refused(format!(
                "{package} needs {}, which is not built; run `hit build` first",
                import.id
            ))
        })?;
        imports.push((import.clone(), path));
    }
    // The environment a build would start with (whitelisted host variables aside: the
    // user's own shell has them).
    let (artifact, home_dir) = (dir.join("_artifact"), dir.join("_home"));
    let environment = BuildEnvironment::new(
        BuildDirs {
            artifact: &artifact,
            build: &dir,
            home: &home_dir,
        },
        &imports,
    );
    let mut env = String::new();
    for (name, value) in hit_engine::build::DETERMINISTIC {
        let _ = writeln!(env, "export {name}={value}");
    }
    for (name, value) in &environment.vars {
        let _ = writeln!(
            env,
            "export {name}={}",
            hit_engine::shell::quote(std::slice::from_ref(value))
        );
    }
    if let Some(path) = environment.path(None) {
        let _ = writeln!(
            env,
            "export PATH={}:\"$PATH\"",
            hit_engine::shell::quote(&[path])
        );
    }
    let sources = super::source_cache(home);
    for source in planned.spec.sources() {
        sources.prepare(source)?;
        sources.unpack(
            &source.key,
            source.url.as_deref(),
            &dir.join(source.unpack_dir()),
            source.strip_rule(),
        )?;
    }
    for sub in ["_artifact", "_home"] {
        let sub = dir.join(sub);
        std::fs::create_dir_all(&sub).map_err(Error::io(sub.display().to_string()))?;
    }
    let script = planned.script.replacen(
        "set -ex\n",
        &format!("set -ex\ncd \"$(dirname \"$0\")\"\n{env}"),
        1,
    );
    let file = dir.join("hit-build.sh");
    std::fs::write(&file, script).map_err(Error::io(file.display().to_string()))?;
    write_sandbox_script(home, &dir, &imports)?;
    Ok(dir)
}

/// `hit-sandbox.sh` in a `hit bdir` directory: runs a shell, or the command given, in the
/// sandbox a build of the package gets (DIR writable, the store and the host's toolchain
/// read-only, no network), to debug a build that fails only there.
fn write_sandbox_script(
    home: &Home,
    dir: &Path,
    imports: &[(hit_engine::spec::Import, PathBuf)],
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = super::build::sandbox(home)?;
    // Picks the helper that works here (the script names it).
    let _ = sandbox.probe();
    let store = Store::for_home(home);
    let view = hit_engine::sandbox::View {
        read_only: hit_engine::sandbox::host_paths(
            &imports
                .iter()
                .map(|(_, path)| path.clone())
                .collect::<Vec<_>>(),
            store.dir(),
        ),
        writable: vec![dir.to_owned()],
        binds: Vec::new(),
    };
    let (helper, args) = sandbox.argv(&view, Vec::new());
    let mut words = vec![helper.display().to_string()];
    words.extend(args.iter().map(|arg| arg.to_string_lossy().into_owned()));
    let script = format!(
        "#!/bin/sh\n# A shell, or the command given, in the sandbox a build gets (docs/sandbox.md):\n#   ./hit-sandbox.sh sh hit-build.sh\ncd \"$(dirname \"$0\")\" || exit 1\n[ $# -gt 0 ] || set -- /bin/sh\nexec {} \"$@\"\n",
        hit_engine::shell::quote(&words)
    );
    let file = dir.join("hit-sandbox.sh");
    std::fs::write(&file, script).map_err(Error::io(file.display().to_string()))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
        .map_err(Error::io(file.display().to_string()))
}
