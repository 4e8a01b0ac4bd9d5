//! Secure layer extraction into overlayfs-form layer directories.
//!
//! Each image layer is unpacked into its own, initially empty, directory; a task's rootfs
//! is later an overlay mount with these directories as lowerdirs. [`apply_layer`]
//! therefore extracts one (already decompressed) tar and converts OCI whiteouts to
//! overlayfs form instead of applying them to a merged tree.
//!
//! The `tar` crate is used only as a parser (RUSTSEC-2018-0002, -2021-0080, -2026-0067
//! were all in its `unpack`). Every write is an `*at()` call relative to a directory fd
//! of `dest`; parents are resolved with `openat2(RESOLVE_IN_ROOT)` so symlinks in the
//! layer can never lead outside it (CVE-2014-6407), final components are never
//! followed. The rules and the incidents behind them: `runtime.md` §2.1, §3.5 and §3.8
//! in the project's shared references (`../shared/reference/`).

mod attrs;
mod entry;
mod error;
mod header;
mod meter;
mod path;
mod whiteout;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};

pub use error::UnpackError;

use entry::Ctx;
use header::Kind;
use meter::{Meter, Metered};
use path::{BadPath, RelPath};
use whiteout::Marker;

/// Upper bounds for one layer, so a hostile or broken image cannot fill the disk or keep
/// the unpacker busy forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes read from the (decompressed) tar stream, trailing padding included.
    /// Checked while streaming: a decompression bomb stops here.
    pub max_layer_bytes: u64,
    /// Most tar members (extension headers not counted).
    pub max_entries: u64,
}

impl Default for Limits {
    /// 8 GiB and one million entries: far above real images, far below a full disk.
    fn default() -> Self {
        Limits {
            max_layer_bytes: 8 << 30,
            max_entries: 1_000_000,
        }
    }
}

/// What [`apply_layer`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Tar members processed (including whiteouts and skipped ones).
    pub entries: u64,
    /// Bytes read from the reader, up to its EOF (the diff_id covers all of them).
    pub tar_bytes: u64,
    /// Bytes of regular-file content written.
    pub regular_bytes: u64,
}

/// Bounded chunk for copying file contents: big enough for throughput, small enough to
/// never matter for memory (one buffer per call).
const COPY_CHUNK: usize = 1 << 20;

/// Extracts one layer tar into the empty directory `dest`, converting whiteouts to
/// overlayfs form (0:0 character devices and `trusted.overlay.opaque=y`).
///
/// Reads `tar` to EOF, past the end-of-archive blocks, so a digest computed by a
/// wrapping reader covers the whole blob. Blocking; call it from a blocking thread. On
/// error `dest` holds a partial layer and must be discarded.
///
/// ```no_run
/// use drover_driver::image::unpack::{apply_layer, Limits};
/// let tar = std::fs::File::open("layer.tar")?;
/// let dest = std::path::Path::new("/var/lib/drover/layers/x");
/// let applied = apply_layer(tar, dest, &Limits::default())?;
/// println!("{} entries", applied.entries);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn apply_layer<R: Read>(tar: R, dest: &Path, limits: &Limits) -> Result<Applied, UnpackError> {
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Io {
        entry: dest.display().to_string(),
        op: "open layer directory",
        source: e.into(),
    })?;
    let meter = Meter::new(limits.max_layer_bytes);
    let mut archive = tar::Archive::new(Metered::new(tar, &meter));
    let mut layer = Layer {
        root,
        buf: vec![0; COPY_CHUNK],
        dir_times: HashMap::new(),
        applied: Applied::default(),
    };
    {
        let mut entries = archive.entries().map_err(UnpackError::Tar)?;
        loop {
            // Whatever the parser reads before handing out the next member is headers
            // and extension records, which it buffers: bound them.
            meter.begin_headers();
            let next = entries.next();
            meter.end_headers();
            let mut member = match next {
                None => break,
                Some(Ok(member)) => member,
                Some(Err(e)) => return Err(meter.classify(e, UnpackError::Tar)),
            };
            layer.applied.entries += 1;
            if layer.applied.entries > limits.max_entries {
                return Err(UnpackError::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
            layer.apply(&mut member, &meter)?;
        }
    }
    // The tar ends at its first zero block; the second one and the record padding are
    // still in the reader and belong to the blob the caller is hashing.
    let mut reader = archive.into_inner();
    loop {
        match reader.read(&mut layer.buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(meter.classify(e, UnpackError::Tar)),
        }
    }
    layer.apply_dir_times()?;
    layer.applied.tar_bytes = meter.total();
    Ok(layer.applied)
}

/// State of one `apply_layer` call.
struct Layer {
    /// `dest`, opened for reading so it serves both as dirfd and for fd-based metadata.
    root: OwnedFd,
    buf: Vec<u8>,
    /// Directory times, applied after all members because creating children changes
    /// them. Keyed by path so a repeated directory member's last values win.
    dir_times: HashMap<Vec<OsString>, (Timespec, Timespec)>,
    applied: Applied,
}

impl Layer {
    fn apply<R: Read>(
        &mut self,
        member: &mut tar::Entry<'_, R>,
        meter: &Meter,
    ) -> Result<(), UnpackError> {
        let raw = member.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let cx = Ctx { shown: &shown };
        let read_err = |e: io::Error| {
            meter.classify(e, |source| UnpackError::ReadEntry {
                entry: shown.clone(),
                source,
            })
        };
        let size = member.size();
        let kind = header::kind(member, &shown)?;
        if kind == Kind::GlobalHeader {
            tracing::debug!(entry = %shown, "ignoring pax global header");
            return self.skip_data(member, size, &read_err);
        }
        let path = RelPath::normalise(&raw).map_err(|e| bad_path(&shown, e))?;
        let meta = header::meta(member, &shown)?;
        let root = self.root.as_fd();

        if let Some(marker) = path.name().and_then(whiteout::marker) {
            match marker {
                Marker::Opaque => whiteout::opaque(root, path.parent(), &cx)?,
                Marker::Whiteout(name) => whiteout::whiteout(root, path.parent(), name, &cx)?,
                Marker::Reserved => {
                    tracing::debug!(entry = %shown, "ignoring reserved whiteout metadata name");
                }
            }
            return self.skip_data(member, size, &read_err);
        }

        let Some(name) = path.name() else {
            // The layer root itself (`.`, `./`, `/`). Only a directory may describe
            // it; a symlink or file here is how umoci applied later layers to a host
            // directory (CVE-2021-29136), so the root is never replaced.
            if kind == Kind::Dir {
                attrs::apply_fd(root, &meta).map_err(|(op, e)| cx.io(op)(e))?;
                self.dir_times.insert(Vec::new(), (meta.atime, meta.mtime));
            } else {
                tracing::warn!(entry = %shown, ?kind, "skipping non-directory layer root entry");
            }
            return self.skip_data(member, size, &read_err);
        };

        // A hardlink target that climbs out is refused before anything is created for
        // the link; its existence is checked when linking.
        let link_target = if kind == Kind::Hardlink {
            let raw_target = member
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let target_shown = String::from_utf8_lossy(&raw_target).into_owned();
            let target = RelPath::normalise(&raw_target).map_err(|e| bad_path(&shown, e))?;
            Some((target, target_shown))
        } else {
            None
        };

        let parent =
            path::create_dir_all(root, path.parent()).map_err(cx.io("resolve parent directory"))?;
        let parent = parent.as_fd();
        match kind {
            Kind::File => {
                let data = entry::Data {
                    reader: member,
                    size,
                    buf: &mut self.buf,
                    read_err: &read_err,
                };
                let written = entry::file(parent, name, data, &meta, &cx)?;
                self.applied.regular_bytes += written;
                return Ok(()); // all data consumed
            }
            Kind::Dir => {
                entry::dir(parent, name, &meta, &cx)?;
                self.dir_times
                    .insert(path.components().to_vec(), (meta.atime, meta.mtime));
            }
            Kind::Symlink => {
                let target = member
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                entry::symlink(parent, name, &target, &meta, &cx)?;
            }
            Kind::Hardlink => {
                if let Some((target, target_shown)) = &link_target {
                    entry::hardlink(root, parent, name, target, target_shown, &cx)?;
                }
            }
            Kind::Char { major, minor } => {
                let dev = rustix::fs::makedev(major, minor);
                entry::node(parent, name, FileType::CharacterDevice, dev, &meta, &cx)?;
            }
            Kind::Block { major, minor } => {
                let dev = rustix::fs::makedev(major, minor);
                entry::node(parent, name, FileType::BlockDevice, dev, &meta, &cx)?;
            }
            Kind::Fifo => entry::node(parent, name, FileType::Fifo, 0, &meta, &cx)?,
            Kind::GlobalHeader => {}
        }
        self.skip_data(member, size, &read_err)
    }

    /// Consumes a member's data we do not store (links, directories and markers may
    /// carry some), exactly, so a truncated archive is noticed here.
    fn skip_data(
        &mut self,
        member: &mut dyn Read,
        size: u64,
        read_err: &dyn Fn(io::Error) -> UnpackError,
    ) -> Result<(), UnpackError> {
        let data = entry::Data {
            reader: member,
            size,
            buf: &mut self.buf,
            read_err,
        };
        entry::copy_exact(data, &mut |_| Ok(()))
            .map(|_| ())
            .map_err(|e| match e {
                entry::CopyError::Read(e) => e,
                entry::CopyError::Write(e) => UnpackError::Tar(e),
            })
    }

    /// Directory times last, deepest first, each directory found again in-root and only
    /// touched if it is still a directory.
    fn apply_dir_times(&mut self) -> Result<(), UnpackError> {
        let mut dirs: Vec<_> = self.dir_times.drain().collect();
        dirs.sort_by_key(|(comps, _)| std::cmp::Reverse(comps.len()));
        let root = self.root.as_fd();
        for (comps, (atime, mtime)) in dirs {
            let times = Timestamps {
                last_access: atime,
                last_modification: mtime,
            };
            let shown = comps
                .iter()
                .map(|c| c.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let err = |source: io::Error| UnpackError::Io {
                entry: shown.clone(),
                op: "set directory times",
                source,
            };
            let Some((name, parent)) = comps.split_last() else {
                rustix::fs::futimens(root, &times).map_err(|e| err(e.into()))?;
                continue;
            };
            let parent = match path::open_dir(root, parent) {
                Ok(fd) => fd,
                Err(_) => continue, // replaced by a later member
            };
            match path::stat_nofollow(parent.as_fd(), name).map_err(err)? {
                Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                    rustix::fs::utimensat(&parent, name, &times, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| err(e.into()))?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn bad_path(shown: &str, e: BadPath) -> UnpackError {
    match e {
        BadPath::Escape => UnpackError::Escape {
            entry: shown.to_string(),
            reason: "`..` climbs above the layer root",
        },
        BadPath::Nul => UnpackError::InvalidPath {
            entry: shown.to_string(),
            reason: "path contains a NUL byte",
        },
    }
}
