//! `hit build --check`: builds an artifact again and compares the result with the store,
//! file by file.
//!
//! A rebuild is only comparable if it sees what the first build saw, its own path above
//! all: `$ARTIFACT` ends up in `.pc` files, RUNPATHs and scripts. The artifact's path is
//! taken, by the artifact. The sandbox solves it: the rebuild's scratch stage
//! (`<build_dir>/check-<name>-<hash>/stage`) is bound writable *over* the artifact's path
//! inside the rebuild's namespace, so the commands install to the same path as the first
//! time while the store's artifact stays untouched. Without the sandbox there is no
//! check (a rebuild at another path would differ in every file that names it).
//!
//! The scratch stage then gets what a commit does to a stage before its manifest is taken
//! (setuid bits stripped, RUNPATHs made `$ORIGIN`-relative), and its manifest is compared
//! with the artifact's. Each differing file is named with how it differs (size, the first
//! differing byte). The result goes into the artifact's `artifact.json` (`reproducible`).
//! A rebuild that matched is deleted; one that differed is kept for a closer look
//! (`diffoscope`), until gc.

use super::{BuildError, BuildFailure, Builder, FailureCause, Forward, Reporter};
use crate::job::{BuildLog, log_tail};
use crate::sandbox::Unavailable;
use crate::spec::BuildSpec;
use crate::store::manifest::{ContentChange, Manifest};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a check of one artifact ended.
#[derive(Debug)]
pub enum CheckOutcome {
    /// The rebuild has the same contents.
    Same { path: PathBuf, duration: Duration },
    /// It does not: what differs, where the store's artifact and the rebuild are.
    Differs {
        path: PathBuf,
        rebuild: PathBuf,
        differences: Vec<Difference>,
    },
    /// The rebuild failed.
    Failed(BuildFailure),
}

/// One path that differs between the store's artifact and its rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Relative to the artifact.
    pub path: PathBuf,
    /// How, in words (`size 120 -> 124, first difference at byte 57`).
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

impl Builder<'_> {
    /// Rebuilds the built artifact of `spec` and compares (see the module doc).
    pub fn check(
        &self,
        spec: &BuildSpec,
        reporter: &dyn Reporter,
    ) -> Result<CheckOutcome, BuildError> {
        let id = spec.id();
        let path = self
            .store
            .resolve(id)?
            .ok_or_else(|| BuildError::NotBuilt { id: id.clone() })?;
        let sandbox = match self.sandbox {
            Some((sandbox, _)) => match sandbox.probe().0 {
                Ok(_) => sandbox,
                Err(unavailable) => return Err(BuildError::CheckNeedsSandbox(unavailable.clone())),
            },
            None => {
                return Err(BuildError::CheckNeedsSandbox(Unavailable {
                    reason: "it is turned off (--no-sandbox, or `sandbox: off` in config.yaml)"
                        .into(),
                }));
            }
        };
        let imports = self.imports(spec)?;
        let lock = self.lock(id, reporter)?;
        let started = Instant::now();
        let staging = self.store.stage_check(id, &path, &lock)?;
        let sink = Forward { id, reporter };
        let log_error = |source| BuildError::Log {
            path: staging.log_path.clone(),
            source,
        };
        let mut log = BuildLog::create(&staging.log_path, &sink).map_err(log_error)?;
        log.line(&format!(
            "hit: rebuilding {id} in {} to compare with {}",
            staging.work_dir.display(),
            path.display()
        ))
        .map_err(log_error)?;
        let vars = self
            .variables(&staging, &imports, &mut log)
            .map_err(log_error)?;
        let view = self.view(
            &imports,
            &staging,
            vec![(staging.stage_dir.clone(), path.clone())],
        );
        let deadline = self.timeout.map(|timeout| started + timeout);
        let result = self
            .run(
                spec,
                &staging,
                &mut log,
                vars,
                deadline,
                Some((sandbox, &view)),
            )
            .and_then(|()| {
                match self
                    .store
                    .strip_special(&staging)
                    .map_err(FailureCause::Store)?
                {
                    Ok(_) => Ok(()),
                    Err((path, kind)) => Err(FailureCause::SpecialFile { path, kind }),
                }
            });
        if let Err(cause) = result {
            let log_tail = log_tail(&staging.log_path, super::FAILURE_TAIL_LINES);
            log.line(&format!("hit: rebuild of {id} failed: {cause}"))
                .map_err(log_error)?;
            return Ok(CheckOutcome::Failed(BuildFailure {
                id: id.clone(),
                cause,
                log_tail,
                log: staging.log_path.clone(),
                build_dir: staging.work_dir.clone(),
            }));
        }
        drop(log);
        let io = |what: &'static str, at: &Path| {
            let at = at.to_owned();
            move |source| BuildError::Check {
                what,
                path: at,
                source,
            }
        };
        crate::store::relocate::relocate(&staging.stage_dir, &path, self.store.dir())
            .map_err(io("cannot scan", &staging.stage_dir))?;
        let rebuilt =
            Manifest::scan(&staging.stage_dir).map_err(io("cannot scan", &staging.stage_dir))?;
        let manifest_file = path
            .join(crate::store::META_DIR)
            .join(crate::store::manifest::MANIFEST_FILE);
        let stored = match std::fs::read(&manifest_file)
            .ok()
            .and_then(|text| Manifest::parse(&text))
        {
            Some(manifest) => manifest,
            // An artifact of a hit without manifests: its files, then.
            None => Manifest::scan(&path).map_err(io("cannot scan", &path))?,
        };
        let differences: Vec<Difference> = stored
            .changes(&rebuilt)
            .into_iter()
            .map(|change| describe(change, &path, &staging.stage_dir))
            .collect();
        self.store
            .record_reproducible(&path, differences.is_empty())?;
        if differences.is_empty() {
            self.store.remove_check(&staging)?;
            return Ok(CheckOutcome::Same {
                path,
                duration: started.elapsed(),
            });
        }
        Ok(CheckOutcome::Differs {
            path,
            rebuild: staging.stage_dir,
            differences,
        })
    }
}

fn describe(change: ContentChange, artifact: &Path, rebuild: &Path) -> Difference {
    match change {
        ContentChange::Added(path) => Difference {
            path,
            what: "only in the rebuild".into(),
        },
        ContentChange::Removed(path) => Difference {
            path,
            what: "only in the store's artifact".into(),
        },
        ContentChange::Changed { path, what } => {
            let what = match first_difference(&artifact.join(&path), &rebuild.join(&path)) {
                Ok(Some(offset)) => format!("{what}, first difference at byte {offset}"),
                _ => what,
            };
            Difference { path, what }
        }
    }
}

/// The offset of the first byte where two regular files differ (`None`: they do not, or
/// one is not a regular file).
fn first_difference(a: &Path, b: &Path) -> std::io::Result<Option<u64>> {
    let regular = |path: &Path| std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file());
    if !regular(a) || !regular(b) {
        return Ok(None);
    }
    let (mut a, mut b) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut left, mut right) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut a, &mut left)?;
        let m = read_full(&mut b, &mut right)?;
        if let Some(at) = left[..n.min(m)]
            .iter()
            .zip(&right[..n.min(m)])
            .position(|(x, y)| x != y)
        {
            return Ok(Some(offset + at as u64));
        }
        if n != m {
            return Ok(Some(offset + n.min(m) as u64));
        }
        if n == 0 {
            return Ok(None);
        }
        offset += n as u64;
    }
}

fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_differing_byte_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let mut long = vec![7u8; 200_000];
        let a = write("a", &long);
        long[150_001] = 8;
        let b = write("b", &long);
        assert_eq!(first_difference(&a, &b).unwrap(), Some(150_001));
        assert_eq!(first_difference(&a, &a).unwrap(), None);
        let short = write("short", &[7u8; 10]);
        assert_eq!(first_difference(&a, &short).unwrap(), Some(10));
    }
}
