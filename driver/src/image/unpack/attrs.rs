//! Applying a member's ownership, mode, xattrs and times to what was just created.
//!
//! Order matters: chown first, because chown clears setuid/setgid (and file
//! capabilities), then chmod with the full mode (no umask: we set it explicitly, like
//! containerd), then xattrs, then times last. Symlinks are never chmod'ed (Linux has no
//! lchmod, and chmod through a link is CVE-2021-32760).

use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timestamps, Uid, XattrFlags, CWD};
use rustix::io::Errno;

use super::header::Meta;

fn owner(meta: &Meta) -> (Option<Uid>, Option<Gid>) {
    (Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)))
}

pub(super) fn times(meta: &Meta) -> Timestamps {
    Timestamps {
        last_access: meta.atime,
        last_modification: meta.mtime,
    }
}

/// Owner, mode and xattrs through an fd we opened ourselves (regular files and
/// directories): nothing is looked up by name, so nothing can be swapped underneath.
/// `op` names the failed step for the error.
pub(super) fn apply_fd(fd: BorrowedFd<'_>, meta: &Meta) -> Result<(), (&'static str, io::Error)> {
    let (uid, gid) = owner(meta);
    rustix::fs::fchown(fd, uid, gid).map_err(|e| ("chown", e.into()))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(|e| ("chmod", e.into()))?;
    for (name, value) in &meta.xattrs {
        let r = rustix::fs::fsetxattr(fd, name.as_c_str(), value, XattrFlags::empty());
        tolerate_xattr(r, name, true)?;
    }
    Ok(())
}

/// Owner, xattrs, and (unless it is a symlink) mode of `name` in `parent`, for symlinks,
/// devices and fifos, which we cannot (or must not) open for writing.
pub(super) fn apply_at(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    meta: &Meta,
    expect: FileType,
) -> Result<(), (&'static str, io::Error)> {
    let (uid, gid) = owner(meta);
    rustix::fs::chownat(parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| ("chown", e.into()))?;
    if expect != FileType::Symlink {
        chmod_node(parent, name, meta.mode, expect).map_err(|e| ("chmod", e))?;
    }
    if !meta.xattrs.is_empty() {
        // lsetxattr on "/proc/self/fd/<parent>/<name>": the magic link lands on the
        // parent we already resolved in-root, and `name` itself is not followed.
        let mut path = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
        path.extend_from_slice(name.as_bytes());
        let path = OsString::from_vec(path);
        for (xname, value) in &meta.xattrs {
            let r = rustix::fs::lsetxattr(&path, xname.as_c_str(), value, XattrFlags::empty());
            tolerate_xattr(r, xname, false)?;
        }
    }
    Ok(())
}

/// chmod of a device node or fifo without following a symlink: open it O_PATH|O_NOFOLLOW,
/// check it is what we created, and chmod the inode through its `/proc/self/fd` magic
/// link (fchmod does not take O_PATH fds, and fchmodat has no working
/// AT_SYMLINK_NOFOLLOW before fchmodat2). The node is never opened for I/O.
fn chmod_node(parent: BorrowedFd<'_>, name: &OsStr, mode: u32, expect: FileType) -> io::Result<()> {
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != expect {
        return Err(io::Error::other("node changed type before chmod"));
    }
    let path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    rustix::fs::chmodat(
        CWD,
        path.as_str(),
        Mode::from_raw_mode(mode),
        AtFlags::empty(),
    )?;
    Ok(())
}

/// Filesystems without xattr support are fine (the image still runs); `user.*` is
/// refused by the kernel on anything but files and directories, which is fine too.
fn tolerate_xattr(
    r: rustix::io::Result<()>,
    name: &CStr,
    file_or_dir: bool,
) -> Result<(), (&'static str, io::Error)> {
    match r {
        Ok(()) => Ok(()),
        Err(Errno::OPNOTSUPP) => {
            tracing::debug!(xattr = ?name, "filesystem does not support xattr, skipped");
            Ok(())
        }
        Err(Errno::PERM) if !file_or_dir && name.to_bytes().starts_with(b"user.") => Ok(()),
        Err(e) => Err(("set xattr", e.into())),
    }
}
