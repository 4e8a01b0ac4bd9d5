//! The allocation directory as the fs endpoints see it: every path is resolved with
//! `openat2(RESOLVE_BENEATH)` below a dirfd of the alloc dir, so neither `..` nor a
//! symlink a task planted (to `/etc/shadow`, to another allocation) leads outside it.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use serde::Serialize;

/// Symlinks inside the alloc dir resolve; absolute ones, `..` above the root and
/// /proc magic links fail with EXDEV/ELOOP.
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// Nomad's text for a path that leaves the allocation directory.
pub const ESCAPES: &str = "Path escapes the alloc directory";

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{ESCAPES}")]
    Escapes,
    #[error("open {path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

impl FsError {
    fn io(path: &str, source: impl Into<io::Error>) -> FsError {
        let source = source.into();
        match source.raw_os_error() {
            Some(libc::EXDEV) | Some(libc::ELOOP) => FsError::Escapes,
            Some(libc::ENOENT) => FsError::NotFound {
                path: path.to_string(),
            },
            _ => FsError::Io {
                path: path.to_string(),
                source,
            },
        }
    }
}

/// Nomad's `AllocFileInfo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocFileInfo {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    /// Go's `FileMode.String()`: `drwxr-xr-x`, `-rw-r--r--`, `Lrwxrwxrwx`.
    pub file_mode: String,
    /// RFC 3339 with nanoseconds, as Go marshals `time.Time`.
    pub mod_time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content_type: String,
}

/// A dirfd of one allocation's directory.
pub struct AllocRoot {
    dir: OwnedFd,
    pub path: PathBuf,
}

impl AllocRoot {
    pub fn open(path: &Path) -> io::Result<AllocRoot> {
        let dir = rfs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(AllocRoot {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// `path` as given by a request (`/`, `/alloc/logs`, `alloc/logs/x.stdout.0`),
    /// relative to the root.
    fn relative(path: &str) -> &str {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            "."
        } else {
            rel
        }
    }

    fn open_at(&self, path: &str, flags: OFlags) -> Result<OwnedFd, FsError> {
        let rel = Self::relative(path);
        // O_PATH takes no other flags with openat2.
        let extra = if flags.contains(OFlags::PATH) {
            OFlags::CLOEXEC
        } else {
            OFlags::CLOEXEC | OFlags::NOCTTY
        };
        rfs::openat2(&self.dir, rel, flags | extra, Mode::empty(), RESOLVE)
            .map_err(|e| FsError::io(path, e))
    }

    /// A regular file (or a directory, for listing) for reading.
    pub fn open_file(&self, path: &str) -> Result<File, FsError> {
        Ok(File::from(self.open_at(path, OFlags::RDONLY)?))
    }

    /// `stat` of the path (after in-root resolution).
    pub fn stat(&self, path: &str) -> Result<AllocFileInfo, FsError> {
        let fd = self.open_at(path, OFlags::PATH)?;
        let st = rfs::fstat(&fd).map_err(|e| FsError::io(path, e))?;
        let name = Path::new(Self::relative(path))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".to_string());
        let mut info = file_info(name, &st);
        if !info.is_dir {
            info.content_type = content_type(self, path);
        }
        Ok(info)
    }

    /// The entries of a directory, sorted by name (symlinks reported as links, not
    /// followed).
    pub fn list(&self, path: &str) -> Result<Vec<AllocFileInfo>, FsError> {
        let fd = self.open_at(path, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut dir = rfs::Dir::read_from(&fd).map_err(|e| FsError::io(path, e))?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| FsError::io(path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            // A file removed meanwhile is simply not listed.
            let Ok(st) = rfs::statat(&fd, entry.file_name(), rfs::AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            out.push(file_info(name, &st));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

fn file_info(name: String, st: &rfs::Stat) -> AllocFileInfo {
    let mode = st.st_mode;
    let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
    let ns = st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64;
    AllocFileInfo {
        name,
        is_dir,
        size: st.st_size as u64,
        file_mode: go_file_mode(mode),
        mod_time: rfc3339_nanos(ns),
        content_type: String::new(),
    }
}

/// Go's `FileMode.String()` for a Unix `st_mode`: type and special letters in Go's
/// order (`d L D p S u g c t`), `-` when none, then the permission bits.
pub fn go_file_mode(mode: u32) -> String {
    let kind = mode & libc::S_IFMT;
    let letters = [
        (kind == libc::S_IFDIR, 'd'),
        (kind == libc::S_IFLNK, 'L'),
        (kind == libc::S_IFBLK || kind == libc::S_IFCHR, 'D'),
        (kind == libc::S_IFIFO, 'p'),
        (kind == libc::S_IFSOCK, 'S'),
        (mode & libc::S_ISUID != 0, 'u'),
        (mode & libc::S_ISGID != 0, 'g'),
        (kind == libc::S_IFCHR, 'c'),
        (mode & libc::S_ISVTX != 0, 't'),
    ];
    let mut out: String = letters
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
    if out.is_empty() {
        out.push('-');
    }
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        out.push(if mode & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    out
}

fn rfc3339_nanos(ns: i64) -> String {
    chrono::DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    .unwrap_or_default()
}

/// A short guess at a file's type from its first bytes (Go's `DetectContentType` in
/// its simplest cases: text vs. binary).
fn content_type(root: &AllocRoot, path: &str) -> String {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = root
        .open_file(path)
        .and_then(|mut f| f.read(&mut head).map_err(|e| FsError::io(path, e)))
        .unwrap_or(0);
    let head = &head[..n];
    if head.is_empty() || std::str::from_utf8(head).is_ok_and(|t| !t.contains('\0')) {
        "text/plain; charset=utf-8".to_string()
    } else {
        "application/octet-stream".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An alloc dir with a task-planted escape next to it.
    fn alloc_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("alloc-1");
        std::fs::create_dir_all(root.join("alloc/logs")).unwrap();
        std::fs::create_dir_all(root.join("web/local")).unwrap();
        std::fs::write(root.join("alloc/logs/web.stdout.0"), "hello\n").unwrap();
        std::fs::write(tmp.path().join("outside"), "secret").unwrap();
        let link =
            |target: &str, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
        link("/etc/shadow", "web/local/shadow");
        link("/etc", "web/local/etc");
        link("../../../outside", "web/local/up");
        link("../../alloc/logs/web.stdout.0", "web/local/inside");
        tmp
    }

    #[test]
    fn paths_stay_inside_the_alloc_dir() {
        let tmp = alloc_dir();
        let root = AllocRoot::open(&tmp.path().join("alloc-1")).unwrap();
        let escapes = [
            "../outside",
            "/../outside",
            "alloc/../../outside",
            "web/local/shadow",
            "web/local/etc/passwd",
            "web/local/up",
        ];
        for path in escapes {
            let got = root.open_file(path);
            assert!(
                matches!(got, Err(FsError::Escapes)),
                "{path} must be refused: {got:?}"
            );
            assert!(matches!(root.stat(path), Err(FsError::Escapes)), "{path}");
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut root.open_file("/web/local/inside").unwrap(), &mut text)
            .unwrap();
        assert_eq!(text, "hello\n");
        assert!(matches!(
            root.open_file("alloc/nope"),
            Err(FsError::NotFound { .. })
        ));
    }

    #[test]
    fn lists_and_stats_like_nomad() {
        let tmp = alloc_dir();
        let root = AllocRoot::open(&tmp.path().join("alloc-1")).unwrap();
        let names: Vec<(String, bool)> = root
            .list("/")
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.is_dir))
            .collect();
        assert_eq!(names, [("alloc".into(), true), ("web".into(), true)]);
        let links = root.list("web/local").unwrap();
        let shadow = links.iter().find(|f| f.name == "shadow").unwrap();
        assert!(shadow.file_mode.starts_with('L'), "{}", shadow.file_mode);
        let st = root.stat("alloc/logs/web.stdout.0").unwrap();
        assert_eq!(
            (st.name.as_str(), st.size, st.is_dir),
            ("web.stdout.0", 6, false)
        );
        assert_eq!(st.content_type, "text/plain; charset=utf-8");
        assert!(st.mod_time.contains('T'), "{}", st.mod_time);
        assert!(root.list("../").is_err());
    }

    #[test]
    fn file_modes_read_like_go() {
        let cases = [
            (libc::S_IFDIR | 0o755, "drwxr-xr-x"),
            (libc::S_IFREG | 0o644, "-rw-r--r--"),
            (libc::S_IFLNK | 0o777, "Lrwxrwxrwx"),
            (libc::S_IFREG | libc::S_ISUID | 0o755, "urwxr-xr-x"),
            (libc::S_IFCHR | 0o666, "Dcrw-rw-rw-"),
            (libc::S_IFDIR | libc::S_ISVTX | 0o777, "dtrwxrwxrwx"),
        ];
        for (mode, want) in cases {
            assert_eq!(go_file_mode(mode), want, "{mode:o}");
        }
    }
}
