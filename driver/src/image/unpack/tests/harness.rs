//! Test scaffolding: a sandbox with a probe directory outside the layer, a tar writer
//! that can produce hostile members, the table runner and file assertions.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::super::{apply_layer, Applied, Limits, UnpackError};

/// Fixed mtime of test members unless a case sets one.
pub(super) const MTIME: u64 = 1_600_000_000;

/// `base/dest` is the (empty) layer directory, `base/probe` a sibling holding files a
/// breakout would touch. Cases write absolute link targets as paths into the probe
/// ([`Sandbox::abs`]) and relative ones as enough `..` to climb to `/` and descend into
/// the probe ([`Sandbox::up`]): resolved on the host they land in the probe, resolved
/// in-root they land under `dest/<probe path>` ([`Sandbox::inside`]).
pub(super) struct Sandbox {
    _base: tempfile::TempDir,
    pub(super) base: PathBuf,
    pub(super) dest: PathBuf,
    pub(super) probe: PathBuf,
}

impl Sandbox {
    pub(super) fn new() -> Sandbox {
        assert!(
            rustix::process::geteuid().is_root(),
            "the unpack tests need root (mknod, chown, trusted.* xattrs)"
        );
        let base = tempfile::Builder::new()
            .prefix("unpack-")
            .tempdir()
            .unwrap();
        let path = base.path().to_path_buf();
        let dest = path.join("dest");
        let probe = path.join("probe");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&probe).unwrap();
        let file = |rel: &str, content: &str, mode: u32| {
            let p = probe.join(rel);
            fs::write(&p, content).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        };
        fs::create_dir(probe.join("etc")).unwrap();
        file("etc/passwd", "outside", 0o644);
        file("etc/emptied", "outside", 0o644);
        file("perm400", "...", 0o400);
        file("also-exists-outside-root", "...", 0o640);
        file("victim", "outside", 0o644);
        fs::create_dir(probe.join("dir")).unwrap();
        fs::set_permissions(probe.join("dir"), fs::Permissions::from_mode(0o755)).unwrap();
        file("dir/f", "f", 0o644);
        Sandbox {
            _base: base,
            base: path,
            dest,
            probe,
        }
    }

    /// Absolute host path of `p` in the probe (`p` may be empty for the probe itself).
    pub(super) fn abs(&self, p: &str) -> String {
        let probe = self.probe.to_str().unwrap();
        if p.is_empty() {
            probe.to_string()
        } else {
            format!("{probe}/{p}")
        }
    }

    /// [`Sandbox::abs`] without the leading `/`: the member path that puts `p` where the
    /// in-root resolution of `abs(p)` lands.
    pub(super) fn rel(&self, p: &str) -> String {
        self.abs(p).trim_start_matches('/').to_string()
    }

    /// A relative link text that climbs far above any directory of the layer and then
    /// descends to `p` in the probe.
    pub(super) fn up(&self, p: &str) -> String {
        format!("{}{}", "../".repeat(24), self.rel(p))
    }

    /// Where `abs(p)` / `up(p)` land when resolved inside the layer.
    pub(super) fn inside(&self, p: &str) -> PathBuf {
        self.dest.join(self.rel(p))
    }

    /// `dest/p`.
    pub(super) fn at(&self, p: &str) -> PathBuf {
        self.dest.join(p)
    }

    pub(super) fn apply(&self, tar: &[u8]) -> Result<Applied, UnpackError> {
        apply_layer(tar, &self.dest, &Limits::default())
    }
}

/// The probe tree, the names next to `dest`, and the metadata of `dest`'s parent (an
/// unchecked `..` as a final component would land on it).
fn outside(sb: &Sandbox) -> (BTreeMap<PathBuf, String>, Vec<std::ffi::OsString>, String) {
    let mut names: Vec<_> = fs::read_dir(&sb.base)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let md = fs::symlink_metadata(&sb.base).unwrap();
    let base = format!(
        "mode={:o} uid={} gid={} mtime={}.{} xattrs={:?}",
        md.mode(),
        md.uid(),
        md.gid(),
        md.mtime(),
        md.mtime_nsec(),
        xattrs(&sb.base)
    );
    (snapshot(&sb.probe), names, base)
}

/// Everything observable about a tree, for before/after comparison.
pub(super) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let detail = if ft.is_file() {
            format!("file {:?}", fs::read(&p).unwrap())
        } else if ft.is_symlink() {
            format!("symlink {:?}", fs::read_link(&p).unwrap())
        } else if ft.is_dir() {
            for child in fs::read_dir(&p).unwrap() {
                todo.push(child.unwrap().path());
            }
            "dir".to_string()
        } else {
            format!("special rdev={}", md.rdev())
        };
        let line = format!(
            "{detail} mode={:o} uid={} gid={} nlink={} mtime={}.{} xattrs={:?}",
            md.mode(),
            md.uid(),
            md.gid(),
            md.nlink(),
            md.mtime(),
            md.mtime_nsec(),
            xattrs(&p)
        );
        out.insert(p, line);
    }
    out
}

/// All xattrs of `p` (not following a final symlink).
pub(super) fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut names = vec![0u8; 65536];
    let n = rustix::fs::llistxattr(p, &mut names[..]).unwrap();
    names[..n]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let name = String::from_utf8_lossy(name).into_owned();
            (name.clone(), xattr(p, &name).unwrap_or_default())
        })
        .collect()
}

/// One xattr of `p`, `None` if absent.
pub(super) fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    match rustix::fs::lgetxattr(p, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("lgetxattr {} {name}: {e}", p.display()),
    }
}

/// What a case expects from `apply_layer`.
pub(super) enum Expect {
    /// Success, then this validator (which panics on failure).
    Ok(fn(&Sandbox)),
    /// An error this predicate accepts, then this validator of what is left.
    Err(fn(&UnpackError) -> bool, fn(&Sandbox)),
}

/// One row of a table: a tar built for the sandbox and what must happen.
pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) tar: fn(&Sandbox) -> Vec<u8>,
    pub(super) expect: Expect,
}

/// A validator for cases where only the error and the untouched probe matter.
pub(super) fn nothing(_: &Sandbox) {}

/// Runs every case in its own sandbox, checks the probe and the sandbox base after
/// each, and reports all failing cases at once.
pub(super) fn run_table(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(case)));
        if let Err(panic) = outcome {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

fn run_case(case: &Case) {
    let sb = Sandbox::new();
    let before = outside(&sb);
    let tar = (case.tar)(&sb);
    let result = sb.apply(&tar);
    match (&case.expect, result) {
        (Expect::Ok(validate), Ok(_)) => validate(&sb),
        (Expect::Ok(_), Err(e)) => panic!("unexpected error: {e}"),
        (Expect::Err(accept, validate), Err(e)) => {
            assert!(accept(&e), "wrong error: {e} ({e:?})");
            validate(&sb);
        }
        (Expect::Err(..), Ok(applied)) => panic!("expected an error, got {applied:?}"),
    }
    assert_eq!(before, outside(&sb), "something outside the layer changed");
    let dest = fs::symlink_metadata(&sb.dest).unwrap();
    assert!(dest.is_dir(), "the layer root is no longer a directory");
}

/// Writes tars member by member with raw names (no path validation, so `..`, `/abs`,
/// `` and `.` can be produced), GNU long names/links when they do not fit.
pub(super) struct TarW {
    b: tar::Builder<Vec<u8>>,
}

impl TarW {
    pub(super) fn new() -> TarW {
        TarW {
            b: tar::Builder::new(Vec::new()),
        }
    }

    /// A fresh GNU header: root-owned, [`MTIME`].
    pub(super) fn header(kind: EntryType, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(0);
        h
    }

    /// Appends `h` for `path` (and `link`) with `data`, via GNU `L`/`K` members when a
    /// name does not fit the 100-byte fields.
    pub(super) fn raw(
        &mut self,
        mut h: Header,
        path: &[u8],
        link: Option<&[u8]>,
        data: &[u8],
    ) -> &mut Self {
        if path.len() > 100 {
            self.long(EntryType::GNULongName, path);
        }
        if let Some(link) = link {
            if link.len() > 100 {
                self.long(EntryType::GNULongLink, link);
            }
            let field = &mut h.as_old_mut().linkname;
            field.fill(0);
            let n = link.len().min(100);
            field[..n].copy_from_slice(&link[..n]);
        }
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        let n = path.len().min(100);
        field[..n].copy_from_slice(&path[..n]);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    fn long(&mut self, kind: EntryType, name: &[u8]) {
        let mut h = Self::header(kind, 0o644);
        let mut data = name.to_vec();
        data.push(0);
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..13].copy_from_slice(b"././@LongLink");
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, &data[..]).unwrap();
    }

    /// A PAX extended header applying to the next member.
    pub(super) fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            let body_len = 1 + key.len() + 1 + value.len() + 1; // " key=value\n"
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            data.extend_from_slice(len.to_string().as_bytes());
            data.push(b' ');
            data.extend_from_slice(key.as_bytes());
            data.push(b'=');
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let h = Self::header(EntryType::XHeader, 0o644);
        self.raw(h, b"././@PaxHeader", None, &data)
    }

    pub(super) fn dir(&mut self, p: &str, mode: u32) -> &mut Self {
        self.raw(
            Self::header(EntryType::Directory, mode),
            p.as_bytes(),
            None,
            b"",
        )
    }

    pub(super) fn file(&mut self, p: &str, data: &str, mode: u32) -> &mut Self {
        let h = Self::header(EntryType::Regular, mode);
        self.raw(h, p.as_bytes(), None, data.as_bytes())
    }

    pub(super) fn symlink(&mut self, p: &str, target: &str) -> &mut Self {
        let h = Self::header(EntryType::Symlink, 0o777);
        self.raw(h, p.as_bytes(), Some(target.as_bytes()), b"")
    }

    pub(super) fn link(&mut self, p: &str, target: &str) -> &mut Self {
        let h = Self::header(EntryType::Link, 0o644);
        self.raw(h, p.as_bytes(), Some(target.as_bytes()), b"")
    }

    /// A member of `kind` at `p` after `tweak` has edited its header.
    pub(super) fn with(
        &mut self,
        kind: EntryType,
        p: &str,
        mode: u32,
        tweak: impl FnOnce(&mut Header),
    ) -> &mut Self {
        let mut h = Self::header(kind, mode);
        tweak(&mut h);
        let link = h.link_name_bytes().map(|l| l.into_owned());
        self.raw(h, p.as_bytes(), link.as_deref(), b"")
    }

    /// A regular file at `p` after `tweak` has edited its header.
    pub(super) fn file_with(
        &mut self,
        p: &str,
        data: &str,
        mode: u32,
        tweak: impl FnOnce(&mut Header),
    ) -> &mut Self {
        let mut h = Self::header(EntryType::Regular, mode);
        tweak(&mut h);
        self.raw(h, p.as_bytes(), None, data.as_bytes())
    }

    /// The archive with its two end-of-archive blocks.
    pub(super) fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

// ---- assertions on the layer ----

pub(super) fn assert_file(p: &Path, content: &str) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(md.is_file(), "{} is not a regular file", p.display());
    assert_eq!(
        fs::read_to_string(p).unwrap(),
        content,
        "content of {}",
        p.display()
    );
}

pub(super) fn assert_symlink(p: &Path, target: &str) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        md.file_type().is_symlink(),
        "{} is not a symlink",
        p.display()
    );
    assert_eq!(
        fs::read_link(p).unwrap(),
        Path::new(target),
        "target of {}",
        p.display()
    );
}

pub(super) fn assert_dir(p: &Path) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(md.is_dir(), "{} is not a directory", p.display());
}

pub(super) fn assert_absent(p: &Path) {
    assert!(fs::symlink_metadata(p).is_err(), "{} exists", p.display());
}

pub(super) fn assert_whiteout(p: &Path) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        md.file_type().is_char_device(),
        "{} is not a char device",
        p.display()
    );
    assert_eq!(md.rdev(), 0, "{} is not device 0:0", p.display());
    assert_eq!(
        (md.uid(), md.gid()),
        (0, 0),
        "{} is not owned by root",
        p.display()
    );
}

/// Same inode, without following a final symlink.
pub(super) fn assert_same_inode(a: &Path, b: &Path) {
    let (ma, mb) = (
        fs::symlink_metadata(a).unwrap(),
        fs::symlink_metadata(b).unwrap(),
    );
    assert_eq!(
        (ma.dev(), ma.ino()),
        (mb.dev(), mb.ino()),
        "{} and {} are not the same file",
        a.display(),
        b.display()
    );
}

pub(super) fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

pub(super) fn opaque(p: &Path) -> bool {
    xattr(p, "trusted.overlay.opaque").as_deref() == Some(b"y")
}
