//! Installing one artifact from a cache: the steps of the module doc of [`super`].

use super::{Cache, CacheEntry, CacheError, Refusal};
use crate::source::download::Downloader;
use crate::source::{Limits, Progress};
use crate::spec::{ArtifactId, BuildSpec};
use crate::store::manifest::{self, Manifest};
use crate::store::relocate;
use crate::store::{ArtifactMeta, FileLock, META_DIR, SHORT_LEN, Staging, Store};
use std::path::{Path, PathBuf};

/// Where an entry's archive comes from, and how it may unpack.
pub(super) struct Source<'a> {
    pub cache: &'a Cache,
    pub entry: &'a CacheEntry,
    pub downloader: &'a Downloader,
    pub limits: Limits,
}

/// `<name>/<12 characters>`: where every store puts `id` unless another id shares them.
fn usual_path(store: &Store, id: &ArtifactId) -> PathBuf {
    store
        .dir()
        .join(id.name().as_str())
        .join(&id.hash()[..SHORT_LEN])
}

pub(super) fn install(
    store: &Store,
    source: Source<'_>,
    lock: &FileLock,
    progress: &mut dyn FnMut(Progress),
) -> Result<PathBuf, CacheError> {
    let entry = source.entry;
    let id = &entry.id;
    let refused = |refusal| CacheError::Refused {
        cache: source.cache.to_string(),
        id: id.clone(),
        refusal: Box::new(refusal),
    };
    let here = store.dir().display().to_string();
    if entry.relocation.store != here && !entry.relocation.relocatable() {
        return Err(refused(Refusal::NotRelocatable {
            built_in: entry.relocation.store.clone(),
            files: entry.relocation.binary.clone(),
        }));
    }
    let file = &entry.archive.file;
    if file.is_empty() || file.starts_with('.') || file.contains('/') || file.contains('\0') {
        return Err(refused(Refusal::ArchiveName(file.clone())));
    }
    for dependency in &entry.dependencies {
        match store.locate(dependency)? {
            None => {
                return Err(refused(Refusal::MissingDependency {
                    dependency: dependency.clone(),
                }));
            }
            Some(path) if path != usual_path(store, dependency) => {
                return Err(refused(Refusal::Layout {
                    id: dependency.clone(),
                    path,
                }));
            }
            Some(_) => {}
        }
    }
    let staging = store.stage(id, lock)?;
    if staging.artifact_dir != usual_path(store, id) {
        store.discard(&staging)?;
        return Err(refused(Refusal::Layout {
            id: id.clone(),
            path: staging.artifact_dir.clone(),
        }));
    }
    match unpack_and_check(store, &source, &staging, progress) {
        Ok(Ok((meta, build_json, Made::Build))) => {
            Ok(store.commit(&staging, &meta, &build_json)?)
        }
        Ok(Ok((meta, build_json, Made::Profile))) => {
            Ok(store.commit_profile(&staging, &meta, &build_json)?)
        }
        Ok(Err(refusal)) => {
            store.discard(&staging)?;
            Err(refused(refusal))
        }
        Err(error) => {
            store.discard(&staging)?;
            Err(error)
        }
    }
}

/// Steps 2 to 5: the stage holds the checked, relocated artifact, ready to commit.
fn unpack_and_check(
    store: &Store,
    source: &Source<'_>,
    staging: &Staging,
    progress: &mut dyn FnMut(Progress),
) -> Result<Result<(ArtifactMeta, String, Made), Refusal>, CacheError> {
    let entry = source.entry;
    let id = &entry.id;
    let location = source.cache.archive_location(id, &entry.archive.file);
    let download = source
        .downloader
        .download_with_progress(&location, &staging.work_dir, progress)
        .map_err(|failure| {
            super::read_failure(
                &source.cache.to_string(),
                &format!("the archive of {id}"),
                failure,
            )
        })?;
    let found = crate::spec::canonical::hex_lower(&download.sha256);
    let found_size = download
        .file
        .as_file()
        .metadata()
        .map_err(super::io_error("cannot read", download.file.path()))?
        .len();
    if found != entry.archive.sha256 || found_size != entry.archive.size {
        return Ok(Err(Refusal::ArchiveMismatch {
            expected: entry.archive.sha256.clone(),
            size: entry.archive.size,
            found,
            found_size,
        }));
    }
    // The stage starts with an empty `.hit/`; the archive brings the artifact's own.
    let stage = &staging.stage_dir;
    let meta_dir = stage.join(META_DIR);
    std::fs::remove_dir_all(&meta_dir).map_err(super::io_error("cannot remove", &meta_dir))?;
    if let Err(error) = crate::source::unpack_artifact(download.file.path(), stage, source.limits) {
        return Ok(Err(Refusal::Unpack(error)));
    }
    drop(download);
    let text = Manifest::scan(stage)
        .map_err(super::io_error("cannot scan", stage))?
        .to_text();
    let content_hash = manifest::content_hash_of(&text);
    if content_hash != entry.content_hash {
        return Ok(Err(Refusal::ContentMismatch {
            expected: entry.content_hash.clone(),
            found: content_hash,
        }));
    }
    let meta = match read_artifact_meta(stage) {
        Ok(meta) => meta,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if &meta.id != id {
        return Ok(Err(Refusal::WrongId { found: meta.id }));
    }
    let (build_json, made) = match read_build_json(stage, id) {
        Ok(read) => read,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if let Err(error) = relocate::apply(stage, &entry.relocation, store.dir()) {
        return Ok(Err(Refusal::Relocation(error)));
    }
    Ok(Ok((meta, build_json, made)))
}

fn read_artifact_meta(stage: &Path) -> Result<ArtifactMeta, Refusal> {
    let path = stage.join(META_DIR).join("artifact.json");
    let bad = |message: String| Refusal::Metadata {
        file: "artifact.json",
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|error| bad(error.to_string()))?;
    serde_json::from_str(&text).map_err(|error| bad(error.to_string()))
}

/// What the artifact was made from: a build spec, or a profile's document (see
/// [`crate::profile::ProfileSpec::document`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    Build,
    Profile,
}

/// The spec the artifact was made from, which must hash to its id.
fn read_build_json(stage: &Path, id: &ArtifactId) -> Result<(String, Made), Refusal> {
    let path = stage.join(META_DIR).join("build.json");
    let bad = |message: String| Refusal::Metadata {
        file: "build.json",
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|error| bad(error.to_string()))?;
    let document: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| bad(error.to_string()))?;
    let (found, made) = if document.get("profile").is_some() {
        let hash = crate::spec::canonical::hash_document("profile", &document)
            .map_err(|error| bad(error.to_string()))?;
        let name = document
            .get("name")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| bad("a profile document without a name".into()))?;
        let name = crate::spec::PackageName::new(name).map_err(|error| bad(error.to_string()))?;
        let id = ArtifactId::new(name, &hash).map_err(|error| bad(error.to_string()))?;
        (id, Made::Profile)
    } else {
        let spec = BuildSpec::from_document(document).map_err(|error| bad(error.to_string()))?;
        (spec.id().clone(), Made::Build)
    };
    if &found != id {
        return Err(Refusal::WrongId { found });
    }
    Ok((text, made))
}
