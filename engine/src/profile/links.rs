//! Profile links (`./small`), their generations, and the gc roots that keep them alive.
//!
//! hit manages each profile link through a *record* in the gc roots dir:
//!
//! ```text
//! <gc_roots>/<link name>-<16 chars of the hash of the link's absolute path>/
//!   link      -> /abs/path/small               the profile link this record manages
//!   1, 2, ... -> <store>/profile-small/<short>  generations: the profiles the link has had
//!   current   -> 2                              the generation the link points at
//! <locks>/link-<record name>.lock               held while the record or its link changes
//! ```
//!
//! Every generation is a gc root, so going back never needs a rebuild; dropping
//! generations (`hit generations --delete`) is what lets gc free them.
//!
//! **Switching** ([`ProfileLinks::switch`]) to a profile the link does not point at yet adds
//! generation `max + 1` *first*, then points the link at the profile (a new symlink renamed
//! over the old one: at every instant the link names a complete tree), then moves
//! `current`. A process killed in between leaves at worst a generation that was never
//! current, and the link itself decides which generation is current: `current` is trusted
//! only while its generation is what the link points at, else the newest generation that
//! is.
//!
//! A record whose link was deleted, moved, or re-pointed outside the store by hand is
//! *stale*: listings say so and gc drops it (with its generations).
//!
//! Older stores have a bare symlink to the link instead of a record directory; it is read
//! as a record without generations and upgraded on the next switch.

use super::ProfileError;
use crate::home::SyncPolicy;
use crate::spec::canonical::base32_lower;
use crate::store::{FileLock, Store};
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One generation of a profile link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u32,
    /// The profile artifact's path in the store.
    pub target: PathBuf,
    /// When the generation was made.
    pub created: SystemTime,
}

/// What a profile link is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// A symlink to this path.
    Points(PathBuf),
    /// Deleted or moved away.
    Missing,
    /// Something else is there now.
    NotALink,
}

/// A managed profile link and its generations.
#[derive(Debug, Clone)]
pub struct LinkRecord {
    /// The record's directory in the gc roots dir.
    pub dir: PathBuf,
    pub link: PathBuf,
    pub state: LinkState,
    /// Oldest first.
    pub generations: Vec<Generation>,
    /// The generation the link points at, if it points at one.
    pub current: Option<u32>,
}

impl LinkRecord {
    /// Why the record no longer manages a live profile link, if it does not.
    pub fn stale_reason(&self, store: &Store) -> Option<String> {
        let link = self.link.display();
        match &self.state {
            LinkState::Missing => Some(format!("{link} no longer exists")),
            LinkState::NotALink => Some(format!("{link} is no longer a symlink")),
            LinkState::Points(target) if !target.starts_with(store.dir()) => Some(format!(
                "{link} points outside the store, at {}",
                target.display()
            )),
            LinkState::Points(_) => None,
        }
    }

    pub fn generation(&self, number: u32) -> Option<&Generation> {
        self.generations.iter().find(|g| g.number == number)
    }
}

/// Which generations `hit generations --delete` drops; the current one never goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// These numbers (naming the current one is an error).
    Numbers(Vec<u32>),
    /// Every generation but the current one (`old`).
    AllButCurrent,
    /// All but the newest N, and the current one (`+N`).
    KeepNewest(u32),
    /// Those made more than this long ago, but the current one (`30d`).
    OlderThan(Duration),
}

impl Selector {
    /// Parses `old`, `+N`, `Nd`, or generation numbers and ranges (`3`, `1-4`).
    pub fn parse(words: &[String]) -> Result<Self, String> {
        if let [word] = words {
            if word == "old" {
                return Ok(Self::AllButCurrent);
            }
            if let Some(n) = word.strip_prefix('+') {
                return n
                    .parse()
                    .map(Self::KeepNewest)
                    .map_err(|_| format!("{word:?}: +N keeps the newest N generations"));
            }
            if let Some(days) = word.strip_suffix('d') {
                return days
                    .parse::<u64>()
                    .map(|days| Self::OlderThan(Duration::from_secs(days * 86_400)))
                    .map_err(|_| format!("{word:?}: Nd drops generations older than N days"));
            }
        }
        if words.is_empty() {
            return Err("say which generations: numbers, ranges (2-5), old, +N or Nd".into());
        }
        let mut numbers = Vec::new();
        for word in words {
            let bad = || {
                format!("{word:?} is not a generation: give numbers, ranges (2-5), old, +N or Nd")
            };
            match word.split_once('-') {
                Some((from, to)) => {
                    let (from, to): (u32, u32) = (
                        from.parse().map_err(|_| bad())?,
                        to.parse().map_err(|_| bad())?,
                    );
                    if from > to {
                        return Err(bad());
                    }
                    numbers.extend(from..=to);
                }
                None => numbers.push(word.parse().map_err(|_| bad())?),
            }
        }
        Ok(Self::Numbers(numbers))
    }
}

/// A profile link operation that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{link} is not a profile link hit manages{}", known_links(.known))]
    NotManaged { link: PathBuf, known: Vec<PathBuf> },
    #[error("{link} does not point at any of its generations (changed by hand?)")]
    NoCurrent { link: PathBuf },
    #[error("{link} has no generation before {current}")]
    NoEarlier { link: PathBuf, current: u32 },
    #[error("{link} has no generation {number}")]
    NoGeneration { link: PathBuf, number: u32 },
    #[error("generation {number} of {link} is the current one; switch away from it first")]
    IsCurrent { link: PathBuf, number: u32 },
    #[error("generation {number} of {link} is gone from the store ({target}); run `hit verify`")]
    Vanished {
        link: PathBuf,
        number: u32,
        target: PathBuf,
    },
    #[error("{0} is not a symlink to a profile in the store")]
    NotAProfile(PathBuf),
    #[error("{0} exists; remove it or pick another name")]
    Exists(PathBuf),
    #[error("{0} is a profile link hit manages; `hit rm` it first")]
    ManagedTarget(PathBuf),
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

fn known_links(known: &[PathBuf]) -> String {
    if known.is_empty() {
        return " (it manages none yet: `hit build` a profile)".into();
    }
    let names: Vec<String> = known.iter().map(|p| p.display().to_string()).collect();
    format!(" (it manages: {})", names.join(", "))
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ProfileError + 'a {
    super::io_error(what, path)
}

/// The profile links of one home.
#[derive(Debug, Clone)]
pub struct ProfileLinks {
    roots: PathBuf,
    locks: PathBuf,
    sync: SyncPolicy,
}

/// What [`ProfileLinks::switch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switched {
    /// The generation the link points at now.
    pub generation: u32,
    /// Whether that generation is new.
    pub new: bool,
}

impl ProfileLinks {
    pub fn new(gc_roots: PathBuf, locks: PathBuf) -> Self {
        Self {
            roots: gc_roots,
            locks,
            sync: SyncPolicy::Link,
        }
    }

    pub fn for_home(home: &crate::home::Home) -> Self {
        Self {
            sync: home.config().sync,
            ..Self::new(home.gc_roots_dir(), home.locks_dir())
        }
    }

    /// The gc roots dir the records live in.
    pub fn roots_dir(&self) -> &Path {
        &self.roots
    }

    /// The record directory for a link (absolute, lexically).
    fn record_dir(&self, link: &Path) -> PathBuf {
        let name = link
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let digest = Sha256::digest(link.as_os_str().as_encoded_bytes());
        self.roots
            .join(format!("{name}-{}", &base32_lower(&digest)[..16]))
    }

    fn lock(&self, record: &Path) -> Result<FileLock, ProfileError> {
        let name = record
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = self.locks.join(format!("link-{name}.lock"));
        std::fs::create_dir_all(&self.locks).map_err(io_error("cannot create", &self.locks))?;
        FileLock::acquire(&path).map_err(io_error("cannot lock", &path))
    }

    /// Every record, sorted by link.
    pub fn records(&self) -> Result<Vec<LinkRecord>, ProfileError> {
        let entries = match std::fs::read_dir(&self.roots) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error("cannot read", &self.roots)(error)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error("cannot read", &self.roots))?;
            // The marker, records being removed, and whatever hit did not make.
            if !crate::ownership::is_record_name(&entry.file_name().to_string_lossy()) {
                continue;
            }
            if let Some(record) = read_record(&entry.path())? {
                records.push(record);
            }
        }
        records.sort_by(|a, b| a.link.cmp(&b.link));
        Ok(records)
    }

    /// The record of `link`, if hit manages it.
    pub fn record(&self, link: &Path) -> Result<Option<LinkRecord>, ProfileError> {
        let link = absolute(link)?;
        read_record(&self.record_dir(&link))
    }

    /// The record of `link`, or an error listing the links hit manages.
    pub fn managed(&self, link: &Path) -> Result<LinkRecord, LinkError> {
        match self.record(link)? {
            Some(record) => Ok(record),
            None => Err(LinkError::NotManaged {
                link: link.to_path_buf(),
                known: self.records()?.into_iter().map(|r| r.link).collect(),
            }),
        }
    }

    /// Points `link` at the profile `target`, adding a generation if that is a change (see
    /// the module doc).
    pub fn switch(&self, link: &Path, target: &Path) -> Result<Switched, ProfileError> {
        let link = absolute(link)?;
        if let Ok(meta) = std::fs::symlink_metadata(&link)
            && !meta.file_type().is_symlink()
        {
            return Err(ProfileError::NotALink(link));
        }
        let dir = self.record_dir(&link);
        let _lock = self.lock(&dir)?;
        self.switch_locked(&dir, &link, target)
    }

    /// [`ProfileLinks::switch`] with the record's lock held.
    fn switch_locked(
        &self,
        dir: &Path,
        link: &Path,
        target: &Path,
    ) -> Result<Switched, ProfileError> {
        let record = self.ensure_record(dir, link)?;
        if let Some(current) = record.current.and_then(|n| record.generation(n))
            && current.target == target
        {
            return Ok(Switched {
                generation: current.number,
                new: false,
            });
        }
        // The artifacts the new profile names reach the disk before any link to them (see
        // "Durability" in the store's module doc).
        if self.sync != SyncPolicy::None {
            crate::store::sync_filesystem(target).map_err(io_error("cannot sync", target))?;
        }
        let number = record.generations.last().map_or(1, |g| g.number + 1);
        let entry = dir.join(number.to_string());
        std::os::unix::fs::symlink(target, &entry).map_err(io_error("cannot create", &entry))?;
        replace_symlink(link, target)?;
        replace_symlink(&dir.join("current"), Path::new(&number.to_string()))?;
        Ok(Switched {
            generation: number,
            new: true,
        })
    }

    /// Makes sure `dir` is a record of `link` (creating it, or upgrading a bare symlink).
    fn ensure_record(&self, dir: &Path, link: &Path) -> Result<LinkRecord, ProfileError> {
        if let Some(record) = read_record(dir)?
            && std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
        {
            return Ok(record);
        }
        std::fs::create_dir_all(&self.roots).map_err(io_error("cannot create", &self.roots))?;
        let temp = tempfile::Builder::new()
            .prefix(".new-")
            .tempdir_in(&self.roots)
            .map_err(io_error("cannot create a temp dir in", &self.roots))?;
        let link_entry = temp.path().join("link");
        std::os::unix::fs::symlink(link, &link_entry)
            .map_err(io_error("cannot create", &link_entry))?;
        // A bare symlink of an older store, or a record that is not a directory.
        if std::fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(dir).map_err(io_error("cannot replace", dir))?;
        }
        let temp = temp.keep();
        std::fs::rename(&temp, dir).map_err(io_error("cannot create", dir))?;
        read_record(dir)?.ok_or_else(|| {
            io_error("cannot read", dir)(io::Error::new(
                io::ErrorKind::NotFound,
                "the new record vanished",
            ))
        })
    }

    /// Points `link` back at an earlier generation: the one before the current, or `to`.
    pub fn rollback(&self, link: &Path, to: Option<u32>) -> Result<Generation, LinkError> {
        let record = self.managed(link)?;
        let _lock = self.lock(&record.dir)?;
        let record = read_record(&record.dir)?.ok_or_else(|| LinkError::NotManaged {
            link: link.to_path_buf(),
            known: Vec::new(),
        })?;
        let link = record.link.clone();
        let generation = match to {
            Some(number) => record
                .generation(number)
                .ok_or(LinkError::NoGeneration {
                    link: link.clone(),
                    number,
                })?
                .clone(),
            None => {
                let current = record
                    .current
                    .ok_or(LinkError::NoCurrent { link: link.clone() })?;
                record
                    .generations
                    .iter()
                    .rev()
                    .find(|g| g.number < current)
                    .ok_or(LinkError::NoEarlier {
                        link: link.clone(),
                        current,
                    })?
                    .clone()
            }
        };
        if !generation.target.join(crate::store::META_DIR).is_dir() {
            return Err(LinkError::Vanished {
                link,
                number: generation.number,
                target: generation.target,
            });
        }
        replace_symlink(&link, &generation.target)?;
        replace_symlink(
            &record.dir.join("current"),
            Path::new(&generation.number.to_string()),
        )?;
        Ok(generation)
    }

    /// Drops generations of `link`; returns the numbers dropped.
    pub fn delete_generations(
        &self,
        link: &Path,
        selector: &Selector,
        now: SystemTime,
    ) -> Result<Vec<u32>, LinkError> {
        let record = self.managed(link)?;
        let _lock = self.lock(&record.dir)?;
        let Some(record) = read_record(&record.dir)? else {
            return Ok(Vec::new());
        };
        let current = record.current;
        let numbers: Vec<u32> = record.generations.iter().map(|g| g.number).collect();
        let doomed: Vec<u32> = match selector {
            Selector::Numbers(wanted) => {
                for &number in wanted {
                    if Some(number) == current {
                        return Err(LinkError::IsCurrent {
                            link: record.link,
                            number,
                        });
                    }
                    if !numbers.contains(&number) {
                        return Err(LinkError::NoGeneration {
                            link: record.link,
                            number,
                        });
                    }
                }
                wanted.clone()
            }
            Selector::AllButCurrent => numbers,
            Selector::KeepNewest(keep) => {
                let cut = numbers.len().saturating_sub(*keep as usize);
                numbers[..cut].to_vec()
            }
            Selector::OlderThan(age) => record
                .generations
                .iter()
                .filter(|g| now.duration_since(g.created).is_ok_and(|d| d > *age))
                .map(|g| g.number)
                .collect(),
        };
        let mut dropped = Vec::new();
        for number in doomed {
            if Some(number) == current || dropped.contains(&number) {
                continue;
            }
            let entry = record.dir.join(number.to_string());
            std::fs::remove_file(&entry).map_err(io_error("cannot remove", &entry))?;
            dropped.push(number);
        }
        dropped.sort_unstable();
        Ok(dropped)
    }

    /// `hit cp`: a new profile link `to` pointing where `from` points, with its own record.
    pub fn copy(&self, store: &Store, from: &Path, to: &Path) -> Result<Switched, LinkError> {
        let target = profile_target(store, from)?;
        self.check_free(to)?;
        Ok(self.switch(to, &target)?)
    }

    /// `hit mv`: renames the profile link `from` to `to`, generations and all.
    pub fn rename(&self, store: &Store, from: &Path, to: &Path) -> Result<(), LinkError> {
        let target = profile_target(store, from)?;
        self.check_free(to)?;
        let (from, to) = (absolute(from)?, absolute(to)?);
        let old_dir = self.record_dir(&from);
        let new_dir = self.record_dir(&to);
        let _old = self.lock(&old_dir)?;
        let _new = self.lock(&new_dir)?;
        // The new link first, then the record, then the old link: a process killed between
        // any two steps leaves every artifact rooted.
        if std::fs::symlink_metadata(&old_dir).is_ok_and(|m| m.is_dir()) {
            replace_symlink(&to, &target)?;
            std::fs::rename(&old_dir, &new_dir).map_err(io_error("cannot move", &old_dir))?;
            replace_symlink(&new_dir.join("link"), &to)?;
        } else {
            // Not managed yet (or an older store's bare root): `to` gets a new record.
            self.switch_locked(&new_dir, &to, &target)?;
            remove_record(&old_dir)?;
        }
        std::fs::remove_file(&from).map_err(io_error("cannot remove", &from))?;
        Ok(())
    }

    /// `hit rm`: removes a profile link and its generations; returns how many generations
    /// went (gc frees their artifacts). A link already deleted by hand only loses its record.
    pub fn remove(&self, link: &Path) -> Result<usize, LinkError> {
        let record = self.managed(link)?;
        let _lock = self.lock(&record.dir)?;
        if let LinkState::Points(_) = record.state {
            std::fs::remove_file(&record.link).map_err(io_error("cannot remove", &record.link))?;
        }
        remove_record(&record.dir)?;
        Ok(record.generations.len())
    }

    /// Drops one generation whose profile is gone (verify's repair).
    pub fn drop_generation(&self, record: &Path, number: u32) -> Result<(), ProfileError> {
        let _lock = self.lock(record)?;
        let entry = record.join(number.to_string());
        match std::fs::remove_file(&entry) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                Err(io_error("cannot remove", &entry)(error))
            }
            _ => Ok(()),
        }
    }

    /// Drops a stale record (gc).
    pub fn drop_record(&self, record: &LinkRecord) -> Result<(), ProfileError> {
        let _lock = self.lock(&record.dir)?;
        remove_record(&record.dir)
    }

    /// `to` must not exist, unless it is a dangling or foreign symlink nobody manages.
    fn check_free(&self, to: &Path) -> Result<(), LinkError> {
        if self.record(to)?.is_some() {
            return Err(LinkError::ManagedTarget(to.to_path_buf()));
        }
        if std::fs::symlink_metadata(to).is_ok() {
            return Err(LinkError::Exists(to.to_path_buf()));
        }
        Ok(())
    }
}

/// Where a profile link points, checked to be a profile artifact of `store`.
fn profile_target(store: &Store, link: &Path) -> Result<PathBuf, LinkError> {
    let not_a_profile = || LinkError::NotAProfile(link.to_path_buf());
    let target = std::fs::read_link(link).map_err(|_| not_a_profile())?;
    let meta = store.read_meta(&target).map_err(|_| not_a_profile())?;
    if !target.starts_with(store.dir()) || !meta.name.starts_with("profile-") {
        return Err(not_a_profile());
    }
    Ok(target)
}

fn remove_record(dir: &Path) -> Result<(), ProfileError> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        // Renamed away first, so no reader sees half a record.
        let parent = dir.parent().unwrap_or(Path::new("."));
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let trash = parent.join(format!(".gone-{name}-{}", std::process::id()));
        std::fs::rename(dir, &trash).map_err(io_error("cannot remove", dir))?;
        std::fs::remove_dir_all(&trash).map_err(io_error("cannot remove", &trash))
    } else {
        match std::fs::remove_file(dir) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                Err(io_error("cannot remove", dir)(error))
            }
            _ => Ok(()),
        }
    }
}

/// A link's path as records name it: its directory resolved (`..`, symlinks), its own name
/// kept (the link itself is not followed), so `p`, `./p` and `sub/../p` are one link.
fn absolute(path: &Path) -> Result<PathBuf, ProfileError> {
    let absolute = std::path::absolute(path).map_err(io_error("cannot resolve", path))?;
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => Ok(std::fs::canonicalize(parent)
            .unwrap_or_else(|_| parent.to_path_buf())
            .join(name)),
        _ => Ok(absolute),
    }
}

/// Reads a record dir (or an older store's bare symlink); `None` if there is none.
fn read_record(dir: &Path) -> Result<Option<LinkRecord>, ProfileError> {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(None);
    };
    let (link, mut generations, mut pointer) = if meta.file_type().is_symlink() {
        let link = std::fs::read_link(dir).map_err(io_error("cannot read", dir))?;
        (link, Vec::new(), None)
    } else if meta.is_dir() {
        let link_entry = dir.join("link");
        let Ok(link) = std::fs::read_link(&link_entry) else {
            return Ok(None);
        };
        let mut generations = Vec::new();
        let mut pointer = None;
        for entry in std::fs::read_dir(dir).map_err(io_error("cannot read", dir))? {
            let entry = entry.map_err(io_error("cannot read", dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == "current" {
                pointer = std::fs::read_link(entry.path())
                    .ok()
                    .and_then(|t| t.to_str()?.parse::<u32>().ok());
                continue;
            }
            let Ok(number) = name.parse::<u32>() else {
                continue;
            };
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let created = std::fs::symlink_metadata(entry.path())
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            generations.push(Generation {
                number,
                target,
                created,
            });
        }
        generations.sort_by_key(|g| g.number);
        (link, generations, pointer)
    } else {
        return Ok(None);
    };
    let state = match std::fs::read_link(&link) {
        Ok(target) => LinkState::Points(target),
        Err(_) if std::fs::symlink_metadata(&link).is_err() => LinkState::Missing,
        Err(_) => LinkState::NotALink,
    };
    let current = match &state {
        LinkState::Points(target) => {
            let at_target = |g: &&Generation| &g.target == target;
            pointer
                .take()
                .filter(|n| generations.iter().filter(at_target).any(|g| g.number == *n))
                .or_else(|| generations.iter().rev().find(at_target).map(|g| g.number))
        }
        _ => None,
    };
    generations.shrink_to_fit();
    Ok(Some(LinkRecord {
        dir: dir.to_path_buf(),
        link,
        state,
        generations,
        current,
    }))
}

/// Makes `link` a symlink to `target` with no instant where it is missing. The caller
/// holds the record's lock, so the temporary name is fixed: a killed switch leaves no
/// debris the next one does not reuse.
fn replace_symlink(link: &Path, target: &Path) -> Result<(), ProfileError> {
    let parent = link.parent().unwrap_or(Path::new("."));
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = parent.join(format!(".{name}.hit-new"));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp).map_err(io_error("cannot create", &temp))?;
    std::fs::rename(&temp, link).map_err(io_error("cannot switch", link))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn selectors_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!(Selector::parse(&words("old")), Ok(Selector::AllButCurrent));
        assert_eq!(Selector::parse(&words("+3")), Ok(Selector::KeepNewest(3)));
        assert_eq!(
            Selector::parse(&words("30d")),
            Ok(Selector::OlderThan(Duration::from_secs(30 * 86_400)))
        );
        assert_eq!(
            Selector::parse(&words("1 4-6")),
            Ok(Selector::Numbers(vec![1, 4, 5, 6]))
        );
        for bad in ["x", "6-4", "+x", "old 3", "-1"] {
            let error = Selector::parse(&words(bad)).unwrap_err();
            assert!(
                error.contains("generation") || error.contains("+N"),
                "{bad}: {error}"
            );
        }
        assert!(Selector::parse(&[]).is_err());
    }

    #[test]
    fn switch_adds_generations_rollback_goes_back_and_current_follows_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let links = ProfileLinks::new(dir.path().join("roots"), dir.path().join("locks"));
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(a.join(".hit")).unwrap();
        std::fs::create_dir_all(b.join(".hit")).unwrap();
        let link = dir.path().join("p");
        let first = links.switch(&link, &a).unwrap();
        assert_eq!(
            first,
            Switched {
                generation: 1,
                new: true
            }
        );
        assert!(!links.switch(&link, &a).unwrap().new);
        assert_eq!(links.switch(&link, &b).unwrap().generation, 2);
        assert_eq!(std::fs::read_link(&link).unwrap(), b);

        let back = links.rollback(&link, None).unwrap();
        assert_eq!(
            (back.number, std::fs::read_link(&link).unwrap()),
            (1, a.clone())
        );
        assert!(matches!(
            links.rollback(&link, None),
            Err(LinkError::NoEarlier { current: 1, .. })
        ));
        // Building b again after a rollback makes a new generation.
        assert_eq!(links.switch(&link, &b).unwrap().generation, 3);
        // Re-pointed by hand at generation 1's target: current follows the link.
        replace_symlink(&link, &a).unwrap();
        assert_eq!(links.managed(&link).unwrap().current, Some(1));

        let dropped = links
            .delete_generations(&link, &Selector::AllButCurrent, SystemTime::now())
            .unwrap();
        assert_eq!(dropped, vec![2, 3]);
        assert!(matches!(
            links.delete_generations(&link, &Selector::Numbers(vec![1]), SystemTime::now()),
            Err(LinkError::IsCurrent { number: 1, .. })
        ));
        std::fs::remove_file(&link).unwrap();
        let record = links.managed(&link).unwrap();
        assert_eq!(record.state, LinkState::Missing);
        assert_eq!(record.current, None);
    }
}
