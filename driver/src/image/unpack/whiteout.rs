//! OCI whiteouts converted to overlayfs form, for a layer directory used as a lowerdir.
//!
//! `dir/.wh.<name>` becomes a 0:0 character device `dir/<name>`, `dir/.wh..wh..opq`
//! becomes `trusted.overlay.opaque=y` on `dir` (containerd `OverlayConvertWhiteout`,
//! Moby's overlay2 driver). Whiteouts only hide *lower* layers (image-spec layer.md):
//! an entry of this layer with the same name is kept, whatever the member order.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Gid, Mode, Uid};

use super::entry::Ctx;
use super::path;
use super::UnpackError;

const PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
/// `.wh..wh.*` names are reserved for metadata (aufs' `.wh..wh.plnk` and friends).
const META_PREFIX: &[u8] = b".wh..wh.";

/// What a member's final component says about whiteouts.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Marker<'a> {
    /// `.wh..wh..opq`: the directory hides lower layers.
    Opaque,
    /// `.wh..wh.<other>`: reserved, ignored.
    Reserved,
    /// `.wh.<name>`: `name` is deleted from lower layers.
    Whiteout(&'a OsStr),
}

/// Recognises a whiteout marker by its final component; `None` for ordinary members.
pub(super) fn marker(name: &OsStr) -> Option<Marker<'_>> {
    let b = name.as_bytes();
    if b == OPAQUE {
        Some(Marker::Opaque)
    } else if b.starts_with(META_PREFIX) {
        Some(Marker::Reserved)
    } else {
        b.strip_prefix(PREFIX)
            .map(|rest| Marker::Whiteout(OsStr::from_bytes(rest)))
    }
}

/// Records the deletion of `dir/name` from lower layers.
pub(super) fn whiteout(
    root: BorrowedFd<'_>,
    dir: &[OsString],
    name: &OsStr,
    cx: &Ctx<'_>,
) -> Result<(), UnpackError> {
    // containerd validateWhiteout: `.wh.`, `.wh..`, `.wh...` would name the directory
    // itself or its parent, i.e. wipe something outside `dir`.
    if matches!(name.as_bytes(), b"" | b"." | b"..") {
        return Err(UnpackError::Escape {
            entry: cx.shown.to_string(),
            reason: "whiteout names a path outside its directory",
        });
    }
    let parent = path::create_dir_all(root, dir).map_err(cx.io("resolve parent directory"))?;
    let existing =
        path::stat_nofollow(parent.as_fd(), name).map_err(cx.io("inspect existing entry"))?;
    match existing {
        None => {
            rustix::fs::mknodat(
                &parent,
                name,
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| cx.io("create whiteout device")(e.into()))?;
            // Whiteouts belong to root whatever the header says: they are our
            // bookkeeping, not image content.
            rustix::fs::chownat(
                &parent,
                name,
                Some(Uid::ROOT),
                Some(Gid::ROOT),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| cx.io("chown whiteout device")(e.into()))?;
        }
        Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            // This layer's directory stays, but the lower one it replaces must not show
            // through it.
            tracing::debug!(
                entry = cx.shown,
                "whiteout of a directory of this layer: made opaque"
            );
            let fd = path::open_real_dir(parent.as_fd(), name).map_err(cx.io("open directory"))?;
            path::set_opaque(fd.as_fd()).map_err(cx.io("set opaque xattr"))?;
        }
        Some(_) => {
            tracing::debug!(
                entry = cx.shown,
                "whiteout of an entry of this layer: kept the entry"
            );
        }
    }
    Ok(())
}

/// Marks `dir` opaque, creating it if needed. Entries of this layer already under it
/// stay: the marker may come after its siblings in the archive, and opacity only
/// concerns lower layers.
pub(super) fn opaque(
    root: BorrowedFd<'_>,
    dir: &[OsString],
    cx: &Ctx<'_>,
) -> Result<(), UnpackError> {
    let resolved = path::create_dir_all(root, dir).map_err(cx.io("resolve opaque directory"))?;
    let fd = path::open_real_dir(resolved.as_fd(), OsStr::new("."))
        .map_err(cx.io("open opaque directory"))?;
    path::set_opaque(fd.as_fd()).map_err(cx.io("set opaque xattr"))
}
