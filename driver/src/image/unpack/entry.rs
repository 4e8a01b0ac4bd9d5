//! Creating one member as `name` in its (already in-root resolved) parent directory.
//!
//! The final component is never followed. Whatever already exists there came from an
//! earlier member of this layer; if either it or the new member is not a directory it is
//! removed first and the new one created exclusively. That is the defence against
//! duplicate-entry tricks: a symlink followed by a file of the same name
//! (RUSTSEC-2018-0002) or by a directory of the same name whose mode would otherwise be
//! applied to the link's target (RUSTSEC-2026-0067).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::attrs;
use super::header::Meta;
use super::path::{self, RelPath};
use super::UnpackError;

/// Names the member in errors.
pub(super) struct Ctx<'a> {
    pub(super) shown: &'a str,
}

impl Ctx<'_> {
    pub(super) fn io(&self, op: &'static str) -> impl FnOnce(io::Error) -> UnpackError + '_ {
        move |source| UnpackError::Io {
            entry: self.shown.to_string(),
            op,
            source,
        }
    }

    fn rustix(&self, op: &'static str) -> impl FnOnce(rustix::io::Errno) -> UnpackError + '_ {
        move |e| self.io(op)(e.into())
    }

    fn attr_err(&self, (op, source): (&'static str, io::Error)) -> UnpackError {
        self.io(op)(source)
    }
}

/// Removes whatever is at `name` (a whole tree for a directory) so a non-directory
/// member can be created there exclusively.
fn clear_for_non_dir(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    cx: &Ctx<'_>,
) -> Result<(), UnpackError> {
    // remove_all never follows symlinks; a plain file or link is just unlinked.
    path::remove_all(parent, name).map_err(cx.io("remove existing entry"))
}

/// A regular file: created O_EXCL|O_NOFOLLOW (mode 0600 until its metadata is applied),
/// filled from `data` in `buf`-sized chunks (never buffered whole: microsandbox#790's
/// `read_to_end` went quadratic on 100 MB files). Returns the bytes written.
pub(super) fn file(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    data: Data<'_>,
    meta: &Meta,
    cx: &Ctx<'_>,
) -> Result<u64, UnpackError> {
    clear_for_non_dir(parent, name, cx)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o600))
        .map_err(cx.rustix("create file"))?;
    let mut out = File::from(fd);
    let written = copy_exact(data, &mut |chunk| out.write_all(chunk)).map_err(|e| match e {
        CopyError::Read(e) => e,
        CopyError::Write(e) => cx.io("write file")(e),
    })?;
    attrs::apply_fd(out.as_fd(), meta).map_err(|e| cx.attr_err(e))?;
    // Times after the content, or the writes would bump mtime again.
    rustix::fs::futimens(&out, &attrs::times(meta)).map_err(cx.rustix("set times"))?;
    Ok(written)
}

/// A member's data: the reader positioned at it, its size, the copy buffer, and how to
/// report read errors (which may really be a limit hit).
pub(super) struct Data<'a> {
    pub(super) reader: &'a mut dyn Read,
    pub(super) size: u64,
    pub(super) buf: &'a mut [u8],
    pub(super) read_err: &'a dyn Fn(io::Error) -> UnpackError,
}

pub(super) enum CopyError {
    Read(UnpackError),
    Write(io::Error),
}

/// Copies exactly `size` bytes of `data` through `sink` in `buf`-sized chunks; a short
/// stream is a truncated archive.
pub(super) fn copy_exact(
    data: Data<'_>,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64, CopyError> {
    let Data {
        reader,
        size,
        buf,
        read_err,
    } = data;
    let mut done = 0u64;
    while done < size {
        let want = buf
            .len()
            .min(usize::try_from(size - done).unwrap_or(usize::MAX));
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => {
                let eof = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "archive ends inside entry data",
                );
                return Err(CopyError::Read(read_err(eof)));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(read_err(e))),
        };
        sink(&buf[..n]).map_err(CopyError::Write)?;
        done += n as u64;
    }
    Ok(done)
}

/// A directory: an existing directory is kept (only its metadata is updated, like a
/// merge); anything else there is replaced. Times are left to the caller, which applies
/// all directory times at the end.
pub(super) fn dir(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    meta: &Meta,
    cx: &Ctx<'_>,
) -> Result<(), UnpackError> {
    let existing = path::stat_nofollow(parent, name).map_err(cx.io("inspect existing entry"))?;
    let is_dir = |st: &rustix::fs::Stat| FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    let mut opaque = false;
    match existing {
        Some(st) if is_dir(&st) => {}
        other => {
            if let Some(st) = other {
                // A whiteout from this layer replaced by a directory: the layer removed
                // the lower directory and made a new one, so lower entries stay hidden
                // (overlayfs marks such directories opaque itself when they are created
                // through a mount).
                opaque = path::is_whiteout(&st);
                // A symlink here is unlinked, not followed: RUSTSEC-2026-0067.
                clear_for_non_dir(parent, name, cx)?;
            }
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                .map_err(cx.rustix("create directory"))?;
        }
    }
    let fd = path::open_real_dir(parent, name).map_err(cx.io("open directory"))?;
    attrs::apply_fd(fd.as_fd(), meta).map_err(|e| cx.attr_err(e))?;
    if opaque {
        path::set_opaque(fd.as_fd()).map_err(cx.io("set opaque xattr"))?;
    }
    Ok(())
}

/// A symlink, its text stored as-is: it is harmless because nothing during extraction
/// follows it out of the layer (parents resolve in-root, final components never).
pub(super) fn symlink(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    target: &[u8],
    meta: &Meta,
    cx: &Ctx<'_>,
) -> Result<(), UnpackError> {
    if target.is_empty() || target.contains(&0) {
        return Err(UnpackError::InvalidHeader {
            entry: cx.shown.to_string(),
            reason: "symlink target is empty or contains NUL".into(),
        });
    }
    clear_for_non_dir(parent, name, cx)?;
    rustix::fs::symlinkat(OsStr::from_bytes(target), parent, name)
        .map_err(cx.rustix("create symlink"))?;
    attrs::apply_at(parent, name, meta, FileType::Symlink).map_err(|e| cx.attr_err(e))?;
    rustix::fs::utimensat(parent, name, &attrs::times(meta), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(cx.rustix("set times"))?;
    Ok(())
}

/// A device node or fifo. Block/char numbers were range-checked when parsing.
pub(super) fn node(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    ftype: FileType,
    dev: rustix::fs::Dev,
    meta: &Meta,
    cx: &Ctx<'_>,
) -> Result<(), UnpackError> {
    clear_for_non_dir(parent, name, cx)?;
    rustix::fs::mknodat(parent, name, ftype, Mode::from_raw_mode(0o600), dev)
        .map_err(cx.rustix("create device node"))?;
    attrs::apply_at(parent, name, meta, ftype).map_err(|e| cx.attr_err(e))?;
    rustix::fs::utimensat(parent, name, &attrs::times(meta), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(cx.rustix("set times"))?;
    Ok(())
}

/// A hardlink to `target`, a member of this layer. The target's parent resolves in-root
/// and its final component is not followed (`linkat` without AT_SYMLINK_FOLLOW): a link
/// to a symlink is a second name for the symlink, never for what it points to. No
/// metadata is applied: the inode already has the target's, and chmod/chown on a link
/// name is how CVE-2021-32760 changed a host file.
pub(super) fn hardlink(
    root: BorrowedFd<'_>,
    parent: BorrowedFd<'_>,
    name: &OsStr,
    target: &RelPath,
    target_shown: &str,
    cx: &Ctx<'_>,
) -> Result<(), UnpackError> {
    let missing = || UnpackError::HardlinkTargetMissing {
        entry: cx.shown.to_string(),
        target: target_shown.to_string(),
    };
    let Some(target_name) = target.name() else {
        return Err(UnpackError::InvalidHeader {
            entry: cx.shown.to_string(),
            reason: "hardlink to the layer root".into(),
        });
    };
    let target_parent = match path::open_dir(root, target.parent()) {
        Ok(fd) => fd,
        Err(e) if matches!(Errno::from_io_error(&e), Some(Errno::NOENT | Errno::NOTDIR)) => {
            return Err(missing())
        }
        Err(e) => return Err(cx.io("resolve hardlink target")(e)),
    };
    let Some(target_st) = path::stat_nofollow(target_parent.as_fd(), target_name)
        .map_err(cx.io("inspect hardlink target"))?
    else {
        return Err(missing());
    };
    if FileType::from_raw_mode(target_st.st_mode) == FileType::Directory {
        return Err(UnpackError::InvalidHeader {
            entry: cx.shown.to_string(),
            reason: format!("hardlink target {target_shown:?} is a directory"),
        });
    }
    if let Some(st) = path::stat_nofollow(parent, name).map_err(cx.io("inspect existing entry"))? {
        if st.st_dev == target_st.st_dev && st.st_ino == target_st.st_ino {
            return Ok(()); // already this link (e.g. a member linking to itself)
        }
    }
    clear_for_non_dir(parent, name, cx)?;
    rustix::fs::linkat(&target_parent, target_name, parent, name, AtFlags::empty())
        .map_err(cx.rustix("create hardlink"))?;
    Ok(())
}
