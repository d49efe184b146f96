//! `hit push`: plan which artifacts a cache lacks, then archive, sign and write them (see
//! the module doc of [`super`]).

use super::{ArchiveInfo, SecretKey};
use super::{CACHE_FORMAT, Cache, CacheEntry, CacheError, ENTRY_FORMAT, MARKER_FILE, io_error};
use crate::spec::ArtifactId;
use crate::store::relocate::{RELOCATION_FILE, Relocation};
use crate::store::{ArtifactMeta, META_DIR, Store};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// zstd's default level: about 3x on the real stack at a few hundred MB/s a core.
const ZSTD_LEVEL: i32 = 3;

/// One artifact to push.
#[derive(Debug, Clone)]
pub struct PushItem {
    pub id: ArtifactId,
    pub path: PathBuf,
    pub meta: ArtifactMeta,
    pub relocation: Relocation,
}

/// What a push would do.
#[derive(Debug, Clone)]
pub struct PushPlan {
    pub cache_dir: PathBuf,
    /// To archive and write, dependencies before dependants.
    pub items: Vec<PushItem>,
    /// In the cache already.
    pub present: Vec<ArtifactId>,
}

/// One artifact pushed.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub id: ArtifactId,
    /// Bytes of its archive.
    pub bytes: u64,
    pub unpacked: u64,
}

/// The closure of `ids` in `store`, minus what `cache` has. An artifact that is not
/// relocatable is an error unless `force`.
pub fn plan(
    store: &Store,
    cache: &Cache,
    ids: &[ArtifactId],
    force: bool,
) -> Result<PushPlan, CacheError> {
    let cache_dir = cache
        .dir()
        .ok_or_else(|| CacheError::PushToUrl {
            cache: cache.to_string(),
        })?
        .to_path_buf();
    let mut closure = BTreeSet::new();
    for id in ids {
        let path = store
            .resolve(id)?
            .ok_or_else(|| CacheError::NotInStore { id: id.clone() })?;
        closure.insert(id.clone());
        closure.extend(store.read_meta(&path)?.dependencies);
    }
    let mut items = Vec::new();
    let mut present = Vec::new();
    for id in closure {
        let entry = cache_dir
            .join(id.name().as_str())
            .join(format!("{}.json", id.hash()));
        if entry.exists() {
            present.push(id);
            continue;
        }
        let path = store
            .resolve(&id)?
            .ok_or_else(|| CacheError::NotInStore { id: id.clone() })?;
        let meta = store.read_meta(&path)?;
        if meta.content_hash.is_none() {
            return Err(CacheError::NoManifest { id });
        }
        let relocation = read_relocation(store, &path, &meta)?;
        if !relocation.relocatable() && !force {
            return Err(CacheError::NotRelocatable {
                id,
                store: relocation.store,
                files: relocation.binary,
            });
        }
        items.push(PushItem {
            id,
            path,
            meta,
            relocation,
        });
    }
    // A dependency's closure is a strict subset of its dependant's.
    items.sort_by_key(|item| item.meta.dependencies.len());
    Ok(PushPlan {
        cache_dir,
        items,
        present,
    })
}

/// The artifact's relocation record; a profile (links only, made by hit) has none and
/// needs none.
fn read_relocation(
    store: &Store,
    path: &Path,
    meta: &ArtifactMeta,
) -> Result<Relocation, CacheError> {
    let file = path.join(META_DIR).join(RELOCATION_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text).map_err(|error| {
            CacheError::Store(crate::store::StoreError::Meta {
                path: file,
                message: error.to_string(),
            })
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound && meta.relocatable == Some(true) => {
            Ok(Relocation {
                store: store.dir().display().to_string(),
                ..Relocation::default()
            })
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(CacheError::NoManifest {
            id: meta.id.clone(),
        }),
        Err(error) => Err(io_error("cannot read", &file)(error)),
    }
}

/// Writes every planned artifact into the cache, on all cores; `done` hears of each.
pub fn apply(
    plan: &PushPlan,
    key: &SecretKey,
    done: &(dyn Fn(&Pushed) + Sync),
) -> Result<Vec<Pushed>, CacheError> {
    let dir = &plan.cache_dir;
    std::fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
    let marker = dir.join(MARKER_FILE);
    if !marker.exists() {
        write_atomically(
            &marker,
            format!("{{\"format\": {CACHE_FORMAT}}}\n").as_bytes(),
        )?;
    }
    plan.items
        .par_iter()
        .map(|item| {
            let pushed = push_one(dir, item, key)?;
            done(&pushed);
            Ok(pushed)
        })
        .collect()
}

fn push_one(cache_dir: &Path, item: &PushItem, key: &SecretKey) -> Result<Pushed, CacheError> {
    let id = &item.id;
    let dir = cache_dir.join(id.name().as_str());
    std::fs::create_dir_all(&dir).map_err(io_error("cannot create", &dir))?;
    let temp = tempfile::Builder::new()
        .prefix(".push-")
        .tempfile_in(&dir)
        .map_err(io_error("cannot create a temp file in", &dir))?;
    let (sha256, size, unpacked) = {
        let mut hashing = Hashing {
            inner: io::BufWriter::with_capacity(256 * 1024, temp.as_file()),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut encoder = zstd::Encoder::new(&mut hashing, ZSTD_LEVEL)
            .map_err(io_error("cannot compress", &item.path))?;
        let unpacked =
            write_tar(&item.path, &mut encoder).map_err(io_error("cannot archive", &item.path))?;
        encoder
            .finish()
            .map_err(io_error("cannot write", temp.path()))?;
        hashing
            .inner
            .flush()
            .map_err(io_error("cannot write", temp.path()))?;
        let sha256 = crate::spec::canonical::hex_lower(&hashing.hasher.finalize());
        (sha256, hashing.bytes, unpacked)
    };
    temp.as_file()
        .sync_all()
        .map_err(io_error("cannot write", temp.path()))?;
    let file = format!("{}-{}.tar.zst", id.hash(), &sha256[..16]);
    let archive = dir.join(&file);
    temp.persist(&archive)
        .map_err(|error| io_error("cannot write", &archive)(error.error))?;
    let mut entry = CacheEntry {
        format: ENTRY_FORMAT,
        id: id.clone(),
        version: item.meta.version.clone(),
        content_hash: item
            .meta
            .content_hash
            .clone()
            .expect("the plan only takes artifacts with a manifest"),
        archive: ArchiveInfo { file, sha256, size },
        unpacked_size: unpacked,
        imports: item.meta.imports.clone(),
        dependencies: item.meta.dependencies.clone(),
        relocation: item.relocation.clone(),
        signatures: Vec::new(),
    };
    entry.sign(key);
    write_atomically(
        &dir.join(format!("{}.json", id.hash())),
        entry.to_json().as_bytes(),
    )?;
    Ok(Pushed {
        id: id.clone(),
        bytes: size,
        unpacked,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let dir = path.parent().expect("cache files are inside the cache");
    let mut temp = tempfile::Builder::new()
        .prefix(".push-")
        .tempfile_in(dir)
        .map_err(io_error("cannot create a temp file in", dir))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(io_error("cannot write", path))?;
    // Readable by everyone who can read the cache, as a web server expects.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))
        .map_err(io_error("cannot write", path))?;
    temp.persist(path)
        .map_err(|error| io_error("cannot write", path)(error.error))?;
    Ok(())
}

/// Counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Tars the artifact at `root` (its entries, `.hit/` included, in name order; owners
/// zeroed, one fixed time, modes 0644 or 0755 as the executable bit says); returns the
/// bytes of file contents.
fn write_tar(root: &Path, out: impl Write) -> io::Result<u64> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    let mut bytes = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(root.join(&relative))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        // Reversed onto the stack, so that directories come out in name order.
        let mut subdirs = Vec::new();
        for name in names {
            let path = relative.join(&name);
            let full = root.join(&path);
            let meta = std::fs::symlink_metadata(&full)?;
            builder.append_path_with_name(&full, &path)?;
            if meta.is_dir() {
                subdirs.push(path);
            } else if meta.is_file() {
                bytes += meta.len();
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    builder.into_inner()?.flush()?;
    Ok(bytes)
}
