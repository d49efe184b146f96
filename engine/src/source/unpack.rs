//! Safe unpacking of source archives.
//!
//! Formats are recognised by their magic bytes, not their names: gzip, bzip2, xz and
//! zstd compressed tarballs, plain tar, and zip. Compressed tarballs are decoded on a
//! thread of their own that feeds the unpacker through a pipe (as fast as `tar xJf`).
//!
//! Safety rules, checked for every member before anything is written:
//!
//! - a member path must be relative and free of `..` components;
//! - nothing is ever written *through* a symlink: every parent directory of a member
//!   must be a real directory (this defeats "symlink, then a file through it");
//! - a symlink's target, read relative to the symlink's own directory, must stay inside
//!   the unpack root, and must not be absolute (except in artifacts from a binary cache,
//!   [`unpack_artifact`], whose links are content and may point anywhere);
//! - a hard link must point at a member already unpacked (inside the root);
//! - devices and FIFOs are refused; setuid/setgid bits are dropped;
//! - at most [`Limits::members`] members and [`Limits::bytes`] bytes of file contents
//!   (defaults: a million members, 64 GiB; `config.yaml` can change them), so an archive
//!   bomb is refused instead of filling the disk or the inode table.
//!
//! Everything is unpacked into a fresh directory inside the target, and moved into the
//! target (merging directories) only when the whole archive was unpacked. An error
//! therefore leaves the target as it was, and names the offending member.
//!
//! Stripping follows HashDist: by default the leading directory that *all* members share
//! is dropped (`zlib-1.2.13/`); `strip: N` drops exactly N components instead.

use crate::spec::Strip;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How much one archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Members (files, directories, links).
    pub members: usize,
    /// Bytes of file contents, all files together.
    pub bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            members: 1_000_000,
            bytes: 64 << 30,
        }
    }
}

/// The archive formats hit unpacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    TarGz,
    TarBz2,
    TarXz,
    TarZst,
    Tar,
    Zip,
}

/// An archive that could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(
        "{path}: not an archive hit can unpack (expected tar.gz, tar.bz2, tar.xz, tar.zst, tar or zip)"
    )]
    UnknownFormat { path: PathBuf },
    #[error("refusing archive member {member:?}: {reason}")]
    Refused { member: String, reason: String },
    #[error(
        "archive has more than {limit} members (the limit is unpack_max_members in config.yaml)"
    )]
    TooManyMembers { limit: usize },
    #[error(
        "archive unpacks to more than {limit} bytes, at member {member:?} (the limit is unpack_max_bytes in config.yaml)"
    )]
    TooLarge { limit: u64, member: String },
    #[error("corrupt archive: {0}")]
    Corrupt(String),
    #[error("unpacking into {path}")]
    Io { path: PathBuf, source: io::Error },
}

/// Which side of a copy failed.
enum CopyFailure {
    Read(io::Error),
    Write(io::Error),
}

/// `io::copy`, telling a failed read (the archive) from a failed write (the disk).
fn copy_member(from: &mut impl Read, to: &mut impl io::Write) -> Result<u64, CopyFailure> {
    let mut buffer = [0u8; 8 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(CopyFailure::Read(error)),
        };
        to.write_all(&buffer[..n]).map_err(CopyFailure::Write)?;
        total += n as u64;
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Recognises an archive by its first bytes.
pub fn detect_format(path: &Path) -> Result<ArchiveFormat, UnpackError> {
    let mut head = [0u8; 262];
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut len = 0;
    while len < head.len() {
        match file.read(&mut head[len..]).map_err(io_error(path))? {
            0 => break,
            n => len += n,
        }
    }
    let head = &head[..len];
    let format = if head.starts_with(&[0x1f, 0x8b]) {
        ArchiveFormat::TarGz
    } else if head.starts_with(b"BZh") {
        ArchiveFormat::TarBz2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        ArchiveFormat::TarXz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ArchiveFormat::TarZst
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        ArchiveFormat::Zip
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        ArchiveFormat::Tar
    } else {
        return Err(UnpackError::UnknownFormat {
            path: path.to_path_buf(),
        });
    };
    Ok(format)
}

/// Unpacks the archive at `archive` into `target` (created if missing).
pub fn unpack_archive(
    archive: &Path,
    target: &Path,
    strip: Strip,
    limits: Limits,
) -> Result<(), UnpackError> {
    unpack_file(archive, target, strip, limits, Links::Inside)
}

/// Unpacks an artifact's archive (a binary cache's `.tar.zst`) into `target`, under the
/// same rules except one: a symlink may point anywhere, since artifacts hold links to
/// other artifacts (`../../zlib/...`) and to the host (`/usr/bin/cc`). A link is only
/// content here; nothing is ever written through one, so where it points is harmless to
/// the unpacking, and the content hash says whether it is the link that was pushed.
pub fn unpack_artifact(archive: &Path, target: &Path, limits: Limits) -> Result<(), UnpackError> {
    unpack_file(
        archive,
        target,
        Strip::Components(0),
        limits,
        Links::Anywhere,
    )
}

fn unpack_file(
    archive: &Path,
    target: &Path,
    strip: Strip,
    limits: Limits,
    links: Links,
) -> Result<(), UnpackError> {
    let format = detect_format(archive)?;
    let file = File::open(archive).map_err(io_error(archive))?;
    let unpacker = || Unpacker::new(target, strip, limits, links);
    match format {
        ArchiveFormat::Zip => unpack_zip(file, unpacker()?),
        ArchiveFormat::Tar => unpack_tar_with(BufReader::new(file), unpacker()?),
        compressed => {
            let unpacker = unpacker()?;
            let (reader, mut writer) = io::pipe().map_err(io_error(archive))?;
            let decoder = std::thread::spawn(move || -> io::Result<()> {
                let input = BufReader::with_capacity(256 * 1024, file);
                match compressed {
                    ArchiveFormat::TarGz => {
                        io::copy(
                            &mut flate2::bufread::MultiGzDecoder::new(input),
                            &mut writer,
                        )?;
                    }
                    ArchiveFormat::TarBz2 => {
                        io::copy(&mut bzip2::bufread::MultiBzDecoder::new(input), &mut writer)?;
                    }
                    ArchiveFormat::TarXz => {
                        io::copy(
                            &mut liblzma::bufread::XzDecoder::new_multi_decoder(input),
                            &mut writer,
                        )?;
                    }
                    _ => copy_zstd_frames(input, &mut writer)?,
                }
                Ok(())
            });
            let result = unpack_tar_with(BufReader::with_capacity(256 * 1024, reader), unpacker);
            // The unpacker has dropped its end of the pipe, so the decoder cannot block.
            let decoded = decoder
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("decoder thread panicked")));
            match (result, decoded) {
                (Err(error), _) => Err(error),
                (Ok(()), Err(error)) => Err(UnpackError::Corrupt(error.to_string())),
                (Ok(()), Ok(())) => Ok(()),
            }
        }
    }
}

/// Decodes every zstd frame of `input` (an archive may be several frames end to end).
fn copy_zstd_frames(input: impl BufRead, output: &mut impl io::Write) -> io::Result<()> {
    io::copy(
        &mut zstd::stream::read::Decoder::with_buffer(input)?,
        output,
    )?;
    Ok(())
}

/// Unpacks a tar stream (plain, already decoded) into `target`.
pub fn unpack_tar(
    reader: impl Read,
    target: &Path,
    strip: Strip,
    limits: Limits,
) -> Result<(), UnpackError> {
    unpack_tar_with(reader, Unpacker::new(target, strip, limits, Links::Inside)?)
}

fn unpack_tar_with(reader: impl Read, mut unpacker: Unpacker) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(reader);
    let corrupt = |error: io::Error| UnpackError::Corrupt(error.to_string());
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw_path = entry.path_bytes().into_owned();
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().ok();
        let kind = header.entry_type();
        let member = Member::new(&raw_path);
        use tar::EntryType;
        match kind {
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => {}
            EntryType::Directory => unpacker.directory(&member, mode)?,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                unpacker.file(&member, &mut entry, mode, mtime)?;
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                unpacker.symlink(&member, &link)?;
            }
            EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                unpacker.hard_link(&member, &link)?;
            }
            other => {
                return Err(member.refuse(format!(
                    "unsupported member type {:?} (devices and FIFOs are not unpacked)",
                    other
                )));
            }
        }
    }
    // Read to the end so that a decoder feeding us through a pipe finishes cleanly.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(corrupt)?;
    unpacker.finish()
}

fn unpack_zip(file: File, mut unpacker: Unpacker) -> Result<(), UnpackError> {
    let corrupt = |error: zip::result::ZipError| UnpackError::Corrupt(error.to_string());
    let mut archive = zip::ZipArchive::new(file).map_err(corrupt)?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(corrupt)?;
        let raw_path = entry.name_raw().to_vec();
        let member = Member::new(&raw_path);
        let mode = entry
            .unix_mode()
            .unwrap_or(if entry.is_dir() { 0o755 } else { 0o644 });
        let mtime = entry.last_modified().and_then(zip_time_to_unix);
        if entry.is_symlink() {
            let mut link = Vec::new();
            entry
                .read_to_end(&mut link)
                .map_err(|e| UnpackError::Corrupt(e.to_string()))?;
            unpacker.symlink(&member, &link)?;
        } else if entry.is_dir() {
            unpacker.directory(&member, mode)?;
        } else {
            unpacker.file(&member, &mut entry, mode, mtime)?;
        }
    }
    unpacker.finish()
}

fn zip_time_to_unix(time: zip::DateTime) -> Option<u64> {
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let (y, m, d) = (
        i64::from(time.year()),
        i64::from(time.month()),
        i64::from(time.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400
        + i64::from(time.hour()) * 3600
        + i64::from(time.minute()) * 60
        + i64::from(time.second());
    u64::try_from(seconds).ok()
}

/// Writes in-memory files (a `files:` pack) into `target` under the same rules as archives.
pub fn unpack_files(files: &[(Vec<u8>, Vec<u8>)], target: &Path) -> Result<(), UnpackError> {
    let mut unpacker = Unpacker::new(
        target,
        Strip::Components(0),
        Limits::default(),
        Links::Inside,
    )?;
    for (name, contents) in files {
        unpacker.file(&Member::new(name), &mut &contents[..], 0o644, None)?;
    }
    unpacker.finish()
}

/// A member's name as the archive spells it, for messages.
struct Member {
    raw: Vec<u8>,
}

impl Member {
    fn new(raw: &[u8]) -> Self {
        Self { raw: raw.to_vec() }
    }

    fn name(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    fn refuse(&self, reason: String) -> UnpackError {
        UnpackError::Refused {
            member: self.name(),
            reason,
        }
    }
}

/// Splits an archive path into safe components, or says why it is unsafe.
fn components(raw: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if raw.starts_with(b"/") {
        return Err("absolute path".into());
    }
    let mut parts = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("path contains `..`".into()),
            part if part.contains(&0) => return Err("path contains a NUL byte".into()),
            part => parts.push(part.to_vec()),
        }
    }
    Ok(parts)
}

/// Where an archive's symlinks may point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Links {
    /// Inside the unpack root, by a relative path (sources).
    Inside,
    /// Anywhere (artifacts; see [`unpack_artifact`]).
    Anywhere,
}

struct Unpacker {
    target: PathBuf,
    links: Links,
    /// Fresh directory inside `target` that receives the members.
    staging: tempfile::TempDir,
    strip: Strip,
    /// With [`Strip::Common`]: the directory components every member shares so far.
    common: Option<Vec<Vec<u8>>>,
    limits: Limits,
    members: usize,
    bytes: u64,
}

impl Unpacker {
    fn new(target: &Path, strip: Strip, limits: Limits, links: Links) -> Result<Self, UnpackError> {
        fs::create_dir_all(target).map_err(io_error(target))?;
        let staging = tempfile::Builder::new()
            .prefix(".hit-unpack-")
            .tempdir_in(target)
            .map_err(io_error(target))?;
        Ok(Self {
            target: target.to_path_buf(),
            links,
            staging,
            strip,
            common: None,
            limits,
            members: 0,
            bytes: 0,
        })
    }

    /// The member's path relative to the staging root, after `strip: N`; `None` when the
    /// member is stripped away entirely.
    fn place(
        &mut self,
        member: &Member,
        is_dir: bool,
    ) -> Result<Option<Vec<Vec<u8>>>, UnpackError> {
        self.members += 1;
        if self.members > self.limits.members {
            return Err(UnpackError::TooManyMembers {
                limit: self.limits.members,
            });
        }
        let parts = components(&member.raw).map_err(|reason| member.refuse(reason))?;
        let parts = self.stripped(parts);
        if let Some(parts) = &parts {
            if parts.is_empty() {
                return Ok(None);
            }
            if self.strip == Strip::Common {
                let dirs = if is_dir {
                    &parts[..]
                } else {
                    &parts[..parts.len() - 1]
                };
                self.common = Some(match self.common.take() {
                    None => dirs.to_vec(),
                    Some(mut common) => {
                        let shared = common.iter().zip(dirs).take_while(|(a, b)| a == b).count();
                        common.truncate(shared);
                        common
                    }
                });
            }
        }
        Ok(parts)
    }

    fn stripped(&self, parts: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
        match self.strip {
            Strip::Common => Some(parts),
            Strip::Components(n) => {
                let n = n as usize;
                (parts.len() > n).then(|| parts[n..].to_vec())
            }
        }
    }

    fn path_of(&self, parts: &[Vec<u8>]) -> PathBuf {
        let mut path = self.staging.path().to_path_buf();
        for part in parts {
            path.push(OsStr::from_bytes(part));
        }
        path
    }

    /// Makes sure every parent of `parts` is a real directory, creating missing ones.
    fn parents(&self, member: &Member, parts: &[Vec<u8>]) -> Result<PathBuf, UnpackError> {
        let mut path = self.staging.path().to_path_buf();
        for part in &parts[..parts.len() - 1] {
            path.push(OsStr::from_bytes(part));
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(member.refuse(format!(
                        "it would be written through the symlink {:?}",
                        String::from_utf8_lossy(part)
                    )));
                }
                Ok(_) => return Err(member.refuse("a parent directory is a file".into())),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&path).map_err(io_error(&path))?;
                }
                Err(error) => return Err(io_error(&path)(error)),
            }
        }
        path.push(OsStr::from_bytes(&parts[parts.len() - 1]));
        Ok(path)
    }

    /// Removes whatever non-directory is at `path` (tar's "later member wins").
    fn clear(&self, member: &Member, path: &Path) -> Result<(), UnpackError> {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                Err(member.refuse("a directory of that name was unpacked before".into()))
            }
            Ok(_) => fs::remove_file(path).map_err(io_error(path)),
            Err(_) => Ok(()),
        }
    }

    fn directory(&mut self, member: &Member, mode: u32) -> Result<(), UnpackError> {
        let Some(parts) = self.place(member, true)? else {
            return Ok(());
        };
        let path = self.parents(member, &parts)?;
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(
                    member.refuse("a file or symlink of that name was unpacked before".into())
                );
            }
            Err(_) => fs::create_dir(&path).map_err(io_error(&path))?,
        }
        fs::set_permissions(&path, fs::Permissions::from_mode((mode & 0o777) | 0o700))
            .map_err(io_error(&path))
    }

    fn file(
        &mut self,
        member: &Member,
        contents: &mut impl Read,
        mode: u32,
        mtime: Option<u64>,
    ) -> Result<(), UnpackError> {
        let Some(parts) = self.place(member, false)? else {
            return Ok(());
        };
        let path = self.parents(member, &parts)?;
        self.clear(member, &path)?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let allowed = self.limits.bytes - self.bytes;
        let written = copy_member(&mut contents.take(allowed.saturating_add(1)), &mut file)
            .map_err(|failure| match failure {
                // A full disk or a quota is not the archive's fault.
                CopyFailure::Write(source) => UnpackError::Io {
                    path: path.clone(),
                    source,
                },
                CopyFailure::Read(error) => {
                    UnpackError::Corrupt(format!("{}: {error}", member.name()))
                }
            })?;
        if written > allowed {
            return Err(UnpackError::TooLarge {
                limit: self.limits.bytes,
                member: member.name(),
            });
        }
        self.bytes += written;
        file.set_permissions(fs::Permissions::from_mode((mode & 0o777) | 0o600))
            .map_err(io_error(&path))?;
        if let Some(mtime) = mtime {
            // Autotools builds compare timestamps: keep the archive's.
            file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
                .map_err(io_error(&path))?;
        }
        Ok(())
    }

    fn symlink(&mut self, member: &Member, link: &[u8]) -> Result<(), UnpackError> {
        let Some(parts) = self.place(member, false)? else {
            return Ok(());
        };
        if link.is_empty() || link.contains(&0) {
            return Err(member.refuse("empty symlink target, or one with a NUL byte".into()));
        }
        if self.links == Links::Inside {
            Self::check_link_inside(member, &parts, link)?;
        }
        let path = self.parents(member, &parts)?;
        self.clear(member, &path)?;
        std::os::unix::fs::symlink(OsStr::from_bytes(link), &path).map_err(io_error(&path))
    }

    fn check_link_inside(
        member: &Member,
        parts: &[Vec<u8>],
        link: &[u8],
    ) -> Result<(), UnpackError> {
        if link.starts_with(b"/") {
            return Err(member.refuse(format!(
                "symlink to {:?} points outside the target",
                String::from_utf8_lossy(link)
            )));
        }
        // Resolve the target lexically from the link's directory; it must not climb out.
        let mut depth = parts.len() as isize - 1;
        for part in link.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => depth -= 1,
                _ => depth += 1,
            }
            if depth < 0 {
                return Err(member.refuse(format!(
                    "symlink to {:?} points outside the target",
                    String::from_utf8_lossy(link)
                )));
            }
        }
        Ok(())
    }

    fn hard_link(&mut self, member: &Member, link: &[u8]) -> Result<(), UnpackError> {
        let Some(parts) = self.place(member, false)? else {
            return Ok(());
        };
        let refuse = |reason: &str| {
            member.refuse(format!(
                "hard link to {:?} {reason}",
                String::from_utf8_lossy(link)
            ))
        };
        let source_parts = components(link).map_err(|_| refuse("points outside the target"))?;
        let source_parts = self
            .stripped(source_parts)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| refuse("points outside the target"))?;
        let source = self.path_of(&source_parts);
        // The source must be a member already unpacked, reached without symlinks.
        let mut walk = self.staging.path().to_path_buf();
        for part in &source_parts[..source_parts.len() - 1] {
            walk.push(OsStr::from_bytes(part));
            if !fs::symlink_metadata(&walk).is_ok_and(|meta| meta.is_dir()) {
                return Err(refuse("does not name an unpacked file"));
            }
        }
        if !fs::symlink_metadata(&source).is_ok_and(|meta| !meta.is_dir()) {
            return Err(refuse("does not name an unpacked file"));
        }
        let path = self.parents(member, &parts)?;
        if path == source {
            return Ok(());
        }
        self.clear(member, &path)?;
        fs::hard_link(&source, &path).map_err(io_error(&path))
    }

    /// Moves the unpacked tree (minus the common leading directory) into the target.
    fn finish(self) -> Result<(), UnpackError> {
        let mut root = self.staging.path().to_path_buf();
        if let Some(common) = &self.common {
            let candidate = self.path_of(common);
            if fs::symlink_metadata(&candidate).is_ok_and(|meta| meta.is_dir()) {
                root = candidate;
            }
        }
        merge_into(&root, &self.target).map_err(io_error(&self.target))?;
        Ok(())
    }
}

/// Moves every entry of `from` into `to`: directories merge, anything else replaces.
/// Never follows a symlink in `to`.
fn merge_into(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let dest = to.join(entry.file_name());
        let source_is_dir = entry.file_type()?.is_dir();
        match fs::symlink_metadata(&dest) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => fs::rename(&source, &dest)?,
            Err(error) => return Err(error),
            Ok(meta) if meta.is_dir() && source_is_dir => merge_into(&source, &dest)?,
            Ok(meta) => {
                if meta.is_dir() {
                    fs::remove_dir_all(&dest)?;
                } else {
                    fs::remove_file(&dest)?;
                }
                fs::rename(&source, &dest)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        assert!(components(b"/etc/passwd").is_err());
        assert!(components(b"a/../../b").is_err());
        assert_eq!(
            components(b"./a//b/").unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
    }

    #[test]
    fn zip_times_convert_to_unix_seconds() {
        let time = zip::DateTime::from_date_and_time(2023, 2, 7, 12, 30, 10).unwrap();
        assert_eq!(zip_time_to_unix(time), Some(1_675_773_010));
    }
}
