//! Entry paths: lexical normalisation, and resolution of directories *inside* the layer
//! directory with the kernel's `openat2(RESOLVE_IN_ROOT)`.
//!
//! Why in-root resolution: a layer may contain `link -> /etc` followed by `link/passwd`
//! (CVE-2014-6407, containerd `TestBreakouts`). Treating every symlink met on the way to
//! an entry's parent as rooted at the layer directory means no entry can be written
//! outside it, whatever the links say, and without racy userspace symlink walks
//! (CVE-2018-15664). The final component of an entry is never resolved: callers use
//! `*at(parent_fd, name)` calls that do not follow it.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// `..` clamps at the layer root; magic links (procfs) and mount crossings are refused.
const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Like Linux's MAXSYMLINKS: following more links than this while creating parents is
/// a loop.
const MAX_SYMLINK_HOPS: u32 = 40;

/// The name overlayfs reads to decide that a directory hides lower layers.
pub(super) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// A path inside the layer, as components without `.`, `..` or empty parts. No
/// components means the layer root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RelPath(Vec<OsString>);

/// Why a path could not be normalised.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BadPath {
    /// A `..` would climb above the layer root.
    Escape,
    /// The path contains a NUL byte, which no file name can hold.
    Nul,
}

impl RelPath {
    /// Normalises an archive path: strips leading `/` and `./`, drops `.` and empty
    /// components, resolves `..` lexically. A `..` that would climb above the root is
    /// refused outright (containerd would clamp it to the root; an image that needs
    /// that is broken or hostile, so saying so is clearer).
    pub(super) fn normalise(raw: &[u8]) -> Result<RelPath, BadPath> {
        if raw.contains(&0) {
            return Err(BadPath::Nul);
        }
        let mut comps: Vec<OsString> = Vec::new();
        for part in raw.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if comps.pop().is_none() {
                        return Err(BadPath::Escape);
                    }
                }
                name => comps.push(OsString::from_vec(name.to_vec())),
            }
        }
        Ok(RelPath(comps))
    }

    /// The directory holding this entry (the root for top-level entries).
    pub(super) fn parent(&self) -> &[OsString] {
        &self.0[..self.0.len().saturating_sub(1)]
    }

    /// The final component; `None` for the root.
    pub(super) fn name(&self) -> Option<&OsStr> {
        self.0.last().map(OsString::as_os_str)
    }

    /// All components.
    pub(super) fn components(&self) -> &[OsString] {
        &self.0
    }
}

fn join(comps: &[OsString]) -> Vec<u8> {
    if comps.is_empty() {
        return b".".to_vec();
    }
    let mut out = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c.as_bytes());
    }
    out
}

/// Opens (O_PATH) the directory `comps` inside `root`, following symlinks as if `root`
/// were `/`. The fd is only used as the dirfd of `*at()` calls.
pub(super) fn open_dir(root: BorrowedFd<'_>, comps: &[OsString]) -> io::Result<OwnedFd> {
    let path = OsString::from_vec(join(comps));
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::openat2(
        root,
        &path,
        flags,
        Mode::empty(),
        IN_ROOT,
    )?)
}

/// Like [`open_dir`], creating missing directories (mode 0755, owner root) one
/// component at a time, each time resolving again in-root from the root. A dangling
/// symlink on the way is followed in-root and its target created, as containerd's
/// `RootPath` + `MkdirAll` do; the created directories are always inside `root`. A
/// whiteout device from this layer in the way becomes an opaque directory (the layer
/// deleted the lower directory and then created entries in a new one).
pub(super) fn create_dir_all(root: BorrowedFd<'_>, comps: &[OsString]) -> io::Result<OwnedFd> {
    let mut comps: Vec<OsString> = comps.to_vec();
    let mut hops = 0;
    // Every round makes progress (a mkdir, a replaced whiteout, a followed link), so
    // rounds are bounded by the path length plus the hop limit; the cap is a backstop.
    for _ in 0..8192 {
        match open_dir(root, &comps) {
            Ok(fd) => return Ok(fd),
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(e),
        }
        // Find the first prefix that does not resolve; `parent` is the one before it.
        let mut parent = open_dir(root, &[])?;
        let mut missing = None;
        for i in 0..comps.len() {
            match open_dir(root, &comps[..=i]) {
                Ok(fd) => parent = fd,
                Err(e) if is_missing(&e) => {
                    missing = Some(i);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let Some(i) = missing else { continue }; // appeared meanwhile: resolve again
        let name = comps[i].as_os_str();
        match stat_nofollow(parent.as_fd(), name)? {
            None => match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            },
            Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Errno::LOOP.into());
                }
                let target = rustix::fs::readlinkat(&parent, name, Vec::new())?;
                let target = target.as_bytes();
                // Relative targets resolve from the link's directory, which
                // `comps[..i]` resolves to; handing the kernel that prefix plus the
                // link text (with any `..`) reproduces exactly what following the link
                // does, clamped at the root. Absolute targets start at the root.
                let mut next: Vec<OsString> = if target.starts_with(b"/") {
                    Vec::new()
                } else {
                    comps[..i].to_vec()
                };
                next.extend(
                    target
                        .split(|b| *b == b'/')
                        .filter(|p| !p.is_empty() && *p != b".")
                        .map(|p| OsString::from_vec(p.to_vec())),
                );
                next.extend(comps[i + 1..].iter().cloned());
                comps = next;
            }
            Some(st) if is_whiteout(&st) => {
                rustix::fs::unlinkat(&parent, name, AtFlags::empty())?;
                rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))?;
                let dir = open_real_dir(parent.as_fd(), name)?;
                set_opaque(dir.as_fd())?;
            }
            Some(_) => return Err(Errno::NOTDIR.into()),
        }
    }
    Err(Errno::LOOP.into())
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(e),
        Some(Errno::NOENT) | Some(Errno::NOTDIR)
    )
}

/// `lstat` of `name` in `dir`; `None` if it does not exist.
pub(super) fn stat_nofollow(
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// True for an overlayfs whiteout: a character device 0:0.
pub(super) fn is_whiteout(st: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

/// Opens the directory `name` in `dir` for reading and fd-based metadata calls, never
/// following a symlink.
pub(super) fn open_real_dir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// Marks a directory opaque for overlayfs: lower layers' entries under it are hidden.
pub(super) fn set_opaque(dir: BorrowedFd<'_>) -> io::Result<()> {
    rustix::fs::fsetxattr(dir, OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty())?;
    Ok(())
}

/// Removes `name` in `dir` and, when it is a directory, everything below it. Nothing is
/// followed: children are opened with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` from
/// `dir`, and symlinks are unlinked, not entered. Iterative, one fd open at a time, so a
/// deep tree neither overflows the stack nor runs out of fds.
pub(super) fn remove_all(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match stat_nofollow(dir, name)? {
        None => return Ok(()),
        Some(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => {
            rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
            return Ok(());
        }
        Some(_) => {}
    }
    // (path relative to `dir`, children already removed)
    let mut stack: Vec<(Vec<u8>, bool)> = vec![(name.as_bytes().to_vec(), false)];
    while let Some((rel, emptied)) = stack.pop() {
        let (holder_path, last) = match rel.iter().rposition(|b| *b == b'/') {
            Some(pos) => (&rel[..pos], &rel[pos + 1..]),
            None => (&b"."[..], &rel[..]),
        };
        let holder = rustix::fs::openat2(
            dir,
            OsStr::from_bytes(holder_path),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
        )?;
        let last = OsStr::from_bytes(last);
        if emptied {
            rustix::fs::unlinkat(&holder, last, AtFlags::REMOVEDIR)?;
            continue;
        }
        let fd = open_real_dir(holder.as_fd(), last)?;
        let mut children = Vec::new();
        let mut listing = rustix::fs::Dir::read_from(&fd)?;
        while let Some(ent) = listing.read() {
            let ent = ent?;
            let child = ent.file_name().to_bytes();
            if child == b"." || child == b".." {
                continue;
            }
            children.push((child.to_vec(), ent.file_type()));
        }
        let mut subdirs = Vec::new();
        for (child, ftype) in children {
            let child_name = OsStr::from_bytes(&child);
            let is_dir = match ftype {
                FileType::Directory => true,
                FileType::Unknown => stat_nofollow(fd.as_fd(), child_name)?
                    .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
                _ => false,
            };
            if is_dir {
                let mut sub = rel.clone();
                sub.push(b'/');
                sub.extend_from_slice(&child);
                subdirs.push((sub, false));
            } else {
                rustix::fs::unlinkat(&fd, child_name, AtFlags::empty())?;
            }
        }
        stack.push((rel, true));
        stack.extend(subdirs);
    }
    Ok(())
}
