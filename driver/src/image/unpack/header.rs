//! What one tar member asks for, read from its header and PAX records and checked before
//! anything touches the filesystem.

use std::ffi::CString;
use std::io::Read;

use rustix::fs::Timespec;
use tar::{Entry, EntryType};

use super::UnpackError;

/// The kinds of member we create. Everything else is refused (sparse files, volume
/// headers, unknown flags) or skipped (PAX global headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char {
        major: u32,
        minor: u32,
    },
    Block {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// PAX global header: carries defaults for the whole archive; ignored like
    /// containerd does.
    GlobalHeader,
}

/// Largest major/minor the kernel's dev_t encoding holds (12 and 20 bits). `mknodat`
/// takes a 32-bit dev, so anything larger would be silently truncated to another
/// device (containerd `handleTarTypeBlockCharFifo` refuses rather than truncate).
const MAX_MAJOR: u64 = 0xfff;
const MAX_MINOR: u64 = 0xf_ffff;

/// Ownership, permissions, times and xattrs of a member.
#[derive(Debug)]
pub(super) struct Meta {
    pub(super) uid: u32,
    pub(super) gid: u32,
    /// Permission bits including setuid/setgid/sticky.
    pub(super) mode: u32,
    pub(super) atime: Timespec,
    pub(super) mtime: Timespec,
    /// Extended attributes from `SCHILY.xattr.*` records that survived [`xattr_allowed`].
    pub(super) xattrs: Vec<(CString, Vec<u8>)>,
}

/// The member's kind, from its type flag.
pub(super) fn kind<R: Read>(entry: &Entry<'_, R>, shown: &str) -> Result<Kind, UnpackError> {
    let header = entry.header();
    let raw_flag = header.as_old().linkflag[0];
    let kind = match header.entry_type() {
        // Old archivers mark directories as type '\0' with a trailing slash (Go's
        // archive/tar reads them the same way).
        EntryType::Regular if raw_flag == 0 && entry.path_bytes().ends_with(b"/") => Kind::Dir,
        EntryType::Regular | EntryType::Continuous => Kind::File,
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink,
        EntryType::Link => Kind::Hardlink,
        EntryType::Fifo => Kind::Fifo,
        EntryType::Char => {
            let (major, minor) = device(entry, shown)?;
            Kind::Char { major, minor }
        }
        EntryType::Block => {
            let (major, minor) = device(entry, shown)?;
            Kind::Block { major, minor }
        }
        EntryType::XGlobalHeader => Kind::GlobalHeader,
        other => {
            let kind = match other {
                EntryType::GNUSparse => "sparse file".to_string(),
                _ => format!("type flag {:?}", char::from(other.as_byte())),
            };
            return Err(unsupported(shown, kind));
        }
    };
    Ok(kind)
}

fn unsupported(shown: &str, kind: String) -> UnpackError {
    UnpackError::UnsupportedEntry {
        entry: shown.to_string(),
        kind,
    }
}

fn invalid(shown: &str, reason: String) -> UnpackError {
    UnpackError::InvalidHeader {
        entry: shown.to_string(),
        reason,
    }
}

/// Major and minor from the raw header fields. The `tar` crate's accessors cast to u32
/// (truncating) and cannot read GNU base-256 numbers, so parse the bytes ourselves and
/// refuse what does not fit.
fn device<R: Read>(entry: &Entry<'_, R>, shown: &str) -> Result<(u32, u32), UnpackError> {
    let header = entry.header();
    let (major, minor) = if let Some(h) = header.as_ustar() {
        (h.dev_major, h.dev_minor)
    } else if let Some(h) = header.as_gnu() {
        (h.dev_major, h.dev_minor)
    } else {
        return Err(invalid(shown, "device entry in a pre-POSIX header".into()));
    };
    let major = numeric(&major).ok_or_else(|| invalid(shown, "unreadable device major".into()))?;
    let minor = numeric(&minor).ok_or_else(|| invalid(shown, "unreadable device minor".into()))?;
    if major > MAX_MAJOR || minor > MAX_MINOR {
        return Err(invalid(
            shown,
            format!("device {major}:{minor} does not fit the kernel's device numbers"),
        ));
    }
    // Both checked against 12/20-bit maxima above.
    Ok((major as u32, minor as u32))
}

/// A tar numeric field: octal text, or GNU base-256 (high bit set). Negative base-256
/// values and unparsable text are `None`.
fn numeric(field: &[u8]) -> Option<u64> {
    let first = *field.first()?;
    if first & 0x80 != 0 {
        if first & 0x40 != 0 {
            return None; // negative
        }
        let mut value: u64 = u64::from(first & 0x3f);
        for b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(value);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|b| *b != 0)
        .filter(|b| *b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// Owner, mode, times and xattrs of the member.
pub(super) fn meta<R: Read>(entry: &mut Entry<'_, R>, shown: &str) -> Result<Meta, UnpackError> {
    let header = entry.header();
    let field = |what: &str, r: std::io::Result<u64>| {
        r.map_err(|e| invalid(shown, format!("unreadable {what}: {e}")))
    };
    // PAX uid/gid were already folded into the header by the tar crate.
    let uid = field("uid", header.uid())?;
    let gid = field("gid", header.gid())?;
    let mode = header
        .mode()
        .map_err(|e| invalid(shown, format!("unreadable mode: {e}")))?
        & 0o7777;
    let header_mtime = field("mtime", header.mtime())?;
    // u32::MAX is chown's "leave unchanged", so it cannot be an owner.
    let id = |what: &str, v: u64| {
        u32::try_from(v)
            .ok()
            .filter(|v| *v != u32::MAX)
            .ok_or_else(|| invalid(shown, format!("{what} {v} is not a valid id")))
    };
    let (uid, gid) = (id("uid", uid)?, id("gid", gid)?);

    let mut mtime = Timespec {
        tv_sec: i64::try_from(header_mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let mut atime = None;
    let mut xattrs = Vec::new();
    let pax = entry
        .pax_extensions()
        .map_err(|e| invalid(shown, format!("unreadable pax records: {e}")))?;
    if let Some(pax) = pax {
        for record in pax {
            let record = record.map_err(|e| invalid(shown, format!("bad pax record: {e}")))?;
            let key = record.key_bytes();
            let value = record.value_bytes();
            if key == b"mtime" {
                mtime = pax_time(value).ok_or_else(|| invalid(shown, "bad pax mtime".into()))?;
            } else if key == b"atime" {
                atime =
                    Some(pax_time(value).ok_or_else(|| invalid(shown, "bad pax atime".into()))?);
            } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if !xattr_allowed(name) {
                    tracing::debug!(
                        entry = shown,
                        xattr = %String::from_utf8_lossy(name),
                        "dropping xattr from image"
                    );
                    continue;
                }
                let name = CString::new(name)
                    .map_err(|_| invalid(shown, "xattr name contains NUL".into()))?;
                xattrs.push((name, value.to_vec()));
            }
        }
    }
    Ok(Meta {
        uid,
        gid,
        mode,
        atime: atime.unwrap_or(mtime),
        mtime,
        xattrs,
    })
}

/// Whether an image may set this xattr. Dropped: `security.selinux` (labels are the
/// runtime's business), `system.nfs4_acl` (meaningless here; umoci refuses both), and
/// overlayfs' own `trusted.overlay.*` / `user.overlay.*`: an image forging `opaque`,
/// `redirect` or `metacopy` would change what the merged rootfs shows. Everything
/// else, notably `security.capability` (file caps, e.g. ping) and `user.*`, is kept.
pub(super) fn xattr_allowed(name: &[u8]) -> bool {
    !(name == b"security.selinux"
        || name == b"system.nfs4_acl"
        || name.starts_with(b"trusted.overlay.")
        || name.starts_with(b"user.overlay."))
}

/// A PAX time: decimal seconds with an optional fraction, possibly negative.
fn pax_time(value: &[u8]) -> Option<Timespec> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for digit in frac.bytes().chain(std::iter::repeat(b'0')).take(9) {
        nanos = nanos * 10 + i64::from(digit - b'0');
    }
    Some(if !negative {
        Timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        }
    } else if nanos == 0 {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - nanos,
        }
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn numeric_fields() {
        assert_eq!(numeric(b"0000017\0"), Some(15));
        assert_eq!(numeric(b"     17 "), Some(15));
        assert_eq!(numeric(b"\0\0\0\0\0\0\0\0"), Some(0));
        assert_eq!(numeric(&[0x80, 0, 0, 1, 0, 0, 0, 0]), Some(1 << 32));
        assert_eq!(
            numeric(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(numeric(b"0000019\0"), None);
    }

    #[test]
    fn pax_times() {
        let t = |s: &str| pax_time(s.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1700000000.5"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(t("1.123456789123"), Some((1, 123_456_789)));
        assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t("-3"), Some((-3, 0)));
        assert_eq!(t("abc"), None);
        assert_eq!(t("1.2x"), None);
        assert_eq!(t(""), None);
    }

    #[test]
    fn xattr_policy() {
        assert!(xattr_allowed(b"security.capability"));
        assert!(xattr_allowed(b"user.foo"));
        assert!(!xattr_allowed(b"security.selinux"));
        assert!(!xattr_allowed(b"system.nfs4_acl"));
        assert!(!xattr_allowed(b"trusted.overlay.opaque"));
        assert!(!xattr_allowed(b"user.overlay.redirect"));
    }
}
