//! Paths inside a task's rootfs, which the image controls. Every lookup goes through
//! `openat2(RESOLVE_IN_ROOT)` from a dirfd of the rootfs, so a symlink in the image can
//! never send a mount or a write to the host (CVE-2021-30465, CVE-2024-45310,
//! CVE-2026-41579); mount targets must be real directories or files, never symlinks
//! (CVE-2019-19921, CVE-2023-27561); mounts go onto the fd we checked, by
//! `/proc/self/fd/N`, so nothing can swap the path in between.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// The kind of mount target to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

fn components(path: &str) -> io::Result<Vec<&str>> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path}: `..` is not allowed"),
        ));
    }
    Ok(parts)
}

fn open_dir(root: BorrowedFd, rel: &str) -> io::Result<OwnedFd> {
    let rel = if rel.is_empty() { "." } else { rel };
    rfs::openat2(
        root,
        rel,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    )
    .map_err(io::Error::from)
}

/// Opens the parent directory of `path` inside `root`, creating missing directories
/// (0755) one at a time, each below a directory already resolved in-root.
fn parent_dir<'p>(root: BorrowedFd, path: &'p str) -> io::Result<(OwnedFd, &'p str)> {
    let parts = components(path)?;
    let Some((name, parents)) = parts.split_last() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the rootfs itself is not a mount target",
        ));
    };
    let mut dir = open_dir(root, "")?;
    let mut prefix = String::new();
    for comp in parents {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(comp);
        dir = match open_dir(root, &prefix) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                match rfs::mkdirat(&dir, *comp, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                open_dir(root, &prefix)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok((dir, name))
}

/// An O_PATH fd of `path` inside `root`, created as `kind` if missing. An existing
/// symlink, or an entry of the other kind, is an error naming the path.
pub fn ensure(root: BorrowedFd, path: &str, kind: Kind) -> io::Result<OwnedFd> {
    let (dir, name) = parent_dir(root, path)?;
    let open = || {
        rfs::openat(
            &dir,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let fd = match open() {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => {
            match kind {
                Kind::Dir => match rfs::mkdirat(&dir, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                },
                Kind::File => {
                    let flags = OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC;
                    match rfs::openat(&dir, name, flags, Mode::from_raw_mode(0o644)) {
                        Ok(_) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            open()?
        }
        Err(e) => return Err(e.into()),
    };
    let st = rfs::fstat(&fd)?;
    let ft = rfs::FileType::from_raw_mode(st.st_mode);
    let ok = match kind {
        Kind::Dir => ft == rfs::FileType::Directory,
        Kind::File => ft != rfs::FileType::Directory && ft != rfs::FileType::Symlink,
    };
    if !ok {
        let what = if ft == rfs::FileType::Symlink {
            "a symlink"
        } else {
            "of the wrong type"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("mount target {path} is {what}"),
        ));
    }
    Ok(fd)
}

/// An O_PATH fd of an existing `path` inside `root` (final component not followed), or
/// `None` if it does not exist.
pub fn open_existing(root: BorrowedFd, path: &str) -> io::Result<Option<OwnedFd>> {
    let parts = components(path)?;
    let rel = parts.join("/");
    match rfs::openat2(
        root,
        rel.as_str(),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `/proc/self/fd/N`: how a mount syscall names exactly the inode we checked.
pub fn fd_path(fd: impl AsFd) -> String {
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn creates_inside_and_refuses_symlinked_targets() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root_path.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // An image's absolute symlink resolves inside the root, never to the host.
        symlink(&outside, root_path.join("escape")).unwrap();
        symlink("/tmp/fakeproc", root_path.join("proc")).unwrap();
        let root = rfs::open(&root_path, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();

        ensure(root.as_fd(), "/alloc/data", Kind::Dir).unwrap();
        assert!(root_path.join("alloc/data").is_dir());
        // Through a symlink whose in-root target is missing: refused or created inside,
        // never outside.
        if ensure(root.as_fd(), "/escape/x", Kind::Dir).is_ok() {
            assert!(root_path
                .join(outside.strip_prefix("/").unwrap())
                .join("x")
                .is_dir());
        }
        assert!(
            !outside.join("x").exists(),
            "a symlink led outside the root"
        );
        let err = ensure(root.as_fd(), "/proc", Kind::Dir).unwrap_err();
        assert!(
            err.to_string().contains("mount target /proc is a symlink"),
            "{err}"
        );
        ensure(root.as_fd(), "/etc/hosts", Kind::File).unwrap();
        assert!(root_path.join("etc/hosts").is_file());
        let err = ensure(root.as_fd(), "/etc", Kind::File).unwrap_err();
        assert!(err.to_string().contains("wrong type"), "{err}");
        assert!(ensure(root.as_fd(), "/a/../../b", Kind::Dir).is_err());
        assert!(open_existing(root.as_fd(), "/nope/x").unwrap().is_none());
        assert!(open_existing(root.as_fd(), "/etc/hosts").unwrap().is_some());
    }
}
