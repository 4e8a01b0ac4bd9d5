//! Linux capabilities: the set a task keeps, Nomad's rules for computing it, and the
//! syscalls that give it to the task's init.
//!
//! A [`CapSet`] is a bitmask over capabilities 0..=40 (`CAP_CHOWN` …
//! `CAP_CHECKPOINT_RESTORE`). Names parse case-insensitively, with or without the
//! `CAP_` prefix; `all` means every capability.
//!
//! # Which set
//!
//! [`resolve`] is Nomad's exec-driver rule (`drivers/shared/capabilities.Calculate`):
//! `(default ∩ allow) − cap_drop ∪ cap_add`, where a `cap_add` outside `allow` is an
//! error and `cap_drop = ["all"]` empties the set before the adds. Nomad gives a task
//! whose user is `root` [`nomad_root_legacy`] instead, whatever the task asked.
//!
//! # Applying it
//!
//! [`apply`] (task stays the user it is) and [`switch_user`] (task becomes another
//! user) run in the forked child, after the mounts and before `no_new_privs` and the
//! seccomp filter. They make only raw syscalls and never allocate, so they are safe
//! after `fork` in a multi-threaded parent. The result:
//!
//! - **bounding** = the set (`PR_CAPBSET_DROP` of everything else, including
//!   capabilities newer than this list that the kernel knows), so no later `execve` of a
//!   setuid-root or file-capability binary can get more;
//! - **permitted** = **effective** = the set;
//! - **inheritable** and **ambient** empty (CVE-2022-29162 / CVE-2022-24769: a
//!   non-empty inheritable set let an exec of a binary with inheritable file
//!   capabilities gain them).
//!
//! A root task keeps the set across `execve` through the bounding set (root's exec
//! gives it `bounding ∪ inheritable`, and under `no_new_privs` never more than it had).
//! A non-root task loses permitted and effective at `execve`; what survives is the
//! ambient set, so `keep_for_non_root` puts the set into inheritable and ambient (the
//! kernel only lets a capability into ambient when it is in both permitted and
//! inheritable), as Nomad does for non-root exec tasks. With `no_new_privs` set, that is
//! the only way a non-root task holds a capability after exec. Inheritable then equals
//! the set, which is already the task's: an exec of a file with inheritable file
//! capabilities can gain nothing beyond it.

use std::fmt;
use std::io;
use std::str::FromStr;

macro_rules! capabilities {
    ($($variant:ident = $number:literal, $name:literal;)*) => {
        /// One Linux capability (`include/uapi/linux/capability.h`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Cap {
            $($variant = $number,)*
        }

        impl Cap {
            /// Every capability this crate knows, by number.
            pub const ALL: [Cap; 41] = [$(Cap::$variant,)*];

            /// The kernel's name: `CAP_CHOWN`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Cap::$variant => $name,)*
                }
            }
        }
    };
}

capabilities! {
    Chown = 0, "CAP_CHOWN";
    DacOverride = 1, "CAP_DAC_OVERRIDE";
    DacReadSearch = 2, "CAP_DAC_READ_SEARCH";
    Fowner = 3, "CAP_FOWNER";
    Fsetid = 4, "CAP_FSETID";
    Kill = 5, "CAP_KILL";
    Setgid = 6, "CAP_SETGID";
    Setuid = 7, "CAP_SETUID";
    Setpcap = 8, "CAP_SETPCAP";
    LinuxImmutable = 9, "CAP_LINUX_IMMUTABLE";
    NetBindService = 10, "CAP_NET_BIND_SERVICE";
    NetBroadcast = 11, "CAP_NET_BROADCAST";
    NetAdmin = 12, "CAP_NET_ADMIN";
    NetRaw = 13, "CAP_NET_RAW";
    IpcLock = 14, "CAP_IPC_LOCK";
    IpcOwner = 15, "CAP_IPC_OWNER";
    SysModule = 16, "CAP_SYS_MODULE";
    SysRawio = 17, "CAP_SYS_RAWIO";
    SysChroot = 18, "CAP_SYS_CHROOT";
    SysPtrace = 19, "CAP_SYS_PTRACE";
    SysPacct = 20, "CAP_SYS_PACCT";
    SysAdmin = 21, "CAP_SYS_ADMIN";
    SysBoot = 22, "CAP_SYS_BOOT";
    SysNice = 23, "CAP_SYS_NICE";
    SysResource = 24, "CAP_SYS_RESOURCE";
    SysTime = 25, "CAP_SYS_TIME";
    SysTtyConfig = 26, "CAP_SYS_TTY_CONFIG";
    Mknod = 27, "CAP_MKNOD";
    Lease = 28, "CAP_LEASE";
    AuditWrite = 29, "CAP_AUDIT_WRITE";
    AuditControl = 30, "CAP_AUDIT_CONTROL";
    Setfcap = 31, "CAP_SETFCAP";
    MacOverride = 32, "CAP_MAC_OVERRIDE";
    MacAdmin = 33, "CAP_MAC_ADMIN";
    Syslog = 34, "CAP_SYSLOG";
    WakeAlarm = 35, "CAP_WAKE_ALARM";
    BlockSuspend = 36, "CAP_BLOCK_SUSPEND";
    AuditRead = 37, "CAP_AUDIT_READ";
    Perfmon = 38, "CAP_PERFMON";
    Bpf = 39, "CAP_BPF";
    CheckpointRestore = 40, "CAP_CHECKPOINT_RESTORE";
}

impl Cap {
    /// The kernel's number for it.
    pub const fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(number: u8) -> Option<Cap> {
        Cap::ALL.get(usize::from(number)).copied()
    }

    /// The name as Nomad prints it: lower case, no prefix (`net_raw`).
    pub fn short_name(self) -> String {
        self.name()["CAP_".len()..].to_ascii_lowercase()
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cap {
    type Err = CapError;

    /// `CAP_NET_RAW`, `net_raw`, ` Net_Raw ` …; not `all` (that is a set).
    fn from_str(s: &str) -> Result<Cap, CapError> {
        let trimmed = s.trim();
        let bare = match trimmed.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("cap_") => &trimmed[4..],
            _ => trimmed,
        };
        Cap::ALL
            .into_iter()
            .find(|c| c.name()[4..].eq_ignore_ascii_case(bare))
            .ok_or_else(|| CapError::Unknown {
                name: s.to_string(),
            })
    }
}

/// A set of capabilities: bit `n` is capability `n`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);
    const KNOWN: u64 = (1 << Cap::ALL.len()) - 1;

    /// Every capability this crate knows (0..=40).
    pub const fn all() -> CapSet {
        CapSet(Self::KNOWN)
    }

    /// The set with these bits, ignoring bits of capabilities this crate does not know.
    pub const fn from_bits_truncate(bits: u64) -> CapSet {
        CapSet(bits & Self::KNOWN)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    pub const fn of(caps: &[Cap]) -> CapSet {
        let mut bits = 0;
        let mut i = 0;
        while i < caps.len() {
            bits |= 1 << caps[i] as u8;
            i += 1;
        }
        CapSet(bits)
    }

    pub const fn contains(self, cap: Cap) -> bool {
        self.0 & (1 << cap as u8) != 0
    }

    pub const fn with(self, cap: Cap) -> CapSet {
        CapSet(self.0 | 1 << cap as u8)
    }

    pub const fn without(self, cap: Cap) -> CapSet {
        CapSet(self.0 & !(1 << cap as u8))
    }

    pub fn insert(&mut self, cap: Cap) {
        *self = self.with(cap);
    }

    pub fn remove(&mut self, cap: Cap) {
        *self = self.without(cap);
    }

    pub const fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    pub const fn intersection(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    /// The capabilities of `self` not in `other`.
    pub const fn difference(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// In number order.
    pub fn iter(self) -> impl Iterator<Item = Cap> {
        Cap::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// Parses names as Nomad's `allow_caps`/`cap_add`/`cap_drop` lists take them: any
    /// case, with or without `CAP_`, and `all` for every capability. Blank entries are
    /// ignored, as Nomad does.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<CapSet, CapError> {
        let mut set = CapSet::EMPTY;
        for name in names {
            let name = name.as_ref();
            if name.trim().is_empty() {
                continue;
            }
            if name.trim().eq_ignore_ascii_case("all") {
                set = CapSet::all();
            } else {
                set.insert(name.parse()?);
            }
        }
        Ok(set)
    }

    /// `net_raw, sys_admin`: lower case, no prefix, sorted by name, as Nomad's messages.
    pub fn nomad_list(self) -> String {
        let mut names: Vec<String> = self.iter().map(Cap::short_name).collect();
        names.sort();
        names.join(", ")
    }
}

impl FromIterator<Cap> for CapSet {
    fn from_iter<I: IntoIterator<Item = Cap>>(iter: I) -> CapSet {
        iter.into_iter().fold(CapSet::EMPTY, CapSet::with)
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CapSet({:#x} ", self.0)?;
        f.debug_list()
            .entries(self.iter().map(Cap::name))
            .finish()?;
        f.write_str(")")
    }
}

/// `CAP_CHOWN, CAP_KILL`, in number order; `none` when empty.
impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, cap) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(cap.name())?;
        }
        Ok(())
    }
}

/// Docker's, Moby's and containerd's default set, 14 capabilities (mask `0xa80425fb`).
pub const fn docker_default() -> CapSet {
    CapSet::of(&[
        Cap::Chown,
        Cap::DacOverride,
        Cap::Fsetid,
        Cap::Fowner,
        Cap::Mknod,
        Cap::NetRaw,
        Cap::Setgid,
        Cap::Setuid,
        Cap::Setfcap,
        Cap::Setpcap,
        Cap::NetBindService,
        Cap::SysChroot,
        Cap::Kill,
        Cap::AuditWrite,
    ])
}

/// Nomad's exec-driver default and default `allow_caps`: Docker's without `NET_RAW`, 13
/// capabilities (mask `0xa80405fb`).
pub const fn nomad_exec_default() -> CapSet {
    docker_default().without(Cap::NetRaw)
}

/// What Nomad's exec driver gives a task running as `root`, ignoring `cap_add` and
/// `cap_drop` (`capabilities.LegacySupported`): the 38 capabilities up to
/// `CAP_AUDIT_READ`, the full set when that behaviour was introduced.
pub const fn nomad_root_legacy() -> CapSet {
    CapSet::from_bits_truncate((1 << (Cap::AuditRead as u8 + 1)) - 1)
}

/// Nomad's rule for a task's set: `(default ∩ allow) − cap_drop ∪ cap_add`.
///
/// `default` is the driver's basis ([`nomad_exec_default`]), `allow` its `allow_caps`
/// (which defaults to the same set). A `cap_add` not in `allow` is an error naming
/// every such capability, with Nomad's text. `cap_drop = ["all"]` followed by adds is
/// the way to keep only a few; adds win over drops.
pub fn resolve<A: AsRef<str>, D: AsRef<str>>(
    default: CapSet,
    allow: CapSet,
    cap_add: &[A],
    cap_drop: &[D],
) -> Result<CapSet, CapError> {
    let add = CapSet::parse_list(cap_add)?;
    let drop = CapSet::parse_list(cap_drop)?;
    let missing = add.difference(allow);
    if !missing.is_empty() {
        return Err(CapError::NotAllowed { caps: missing });
    }
    Ok(default.intersection(allow).difference(drop).union(add))
}

#[derive(Debug, thiserror::Error)]
pub enum CapError {
    #[error("unknown capability {name:?}")]
    Unknown { name: String },
    /// Nomad's exact message, so jobs written for Nomad fail the same way.
    #[error("driver does not allow the following capabilities: {}", caps.nomad_list())]
    NotAllowed { caps: CapSet },
    /// The process applying the set does not hold these (the agent itself runs with a
    /// reduced set).
    #[error("cannot grant {caps}: the task's init does not hold them")]
    NotHeld { caps: CapSet },
    #[error("dropping {} from the bounding set (prctl(PR_CAPBSET_DROP)): {source}", cap_name(*cap))]
    DropBounding {
        cap: u8,
        #[source]
        source: io::Error,
    },
    #[error("reading the bounding set (prctl(PR_CAPBSET_READ)): {source}")]
    ReadBounding {
        #[source]
        source: io::Error,
    },
    #[error("capget: {source}")]
    Capget {
        #[source]
        source: io::Error,
    },
    #[error("setting permitted/effective/inheritable to {caps} (capset): {source}")]
    Capset {
        caps: CapSet,
        #[source]
        source: io::Error,
    },
    #[error("clearing the ambient set (prctl(PR_CAP_AMBIENT_CLEAR_ALL)): {source}")]
    ClearAmbient {
        #[source]
        source: io::Error,
    },
    #[error("raising {cap} into the ambient set (prctl(PR_CAP_AMBIENT_RAISE)): {source}")]
    RaiseAmbient {
        cap: Cap,
        #[source]
        source: io::Error,
    },
    #[error("prctl(PR_SET_KEEPCAPS): {source}")]
    KeepCaps {
        #[source]
        source: io::Error,
    },
    #[error("setgroups to {count} groups: {source}")]
    Setgroups {
        count: usize,
        #[source]
        source: io::Error,
    },
    #[error("setresgid({gid}): {source}")]
    Setresgid {
        gid: u32,
        #[source]
        source: io::Error,
    },
    #[error("setresuid({uid}): {source}")]
    Setresuid {
        uid: u32,
        #[source]
        source: io::Error,
    },
}

impl CapError {
    /// The errno of a failed syscall, for a forked child that reports failure by number
    /// (formatting the message allocates).
    pub fn raw_os_error(&self) -> Option<i32> {
        use std::error::Error;
        self.source()
            .and_then(|e| e.downcast_ref::<io::Error>())
            .and_then(io::Error::raw_os_error)
    }
}

fn cap_name(number: u8) -> String {
    match Cap::from_number(number) {
        Some(cap) => cap.name().to_string(),
        None => format!("capability {number}"),
    }
}

// ---- the kernel side: raw syscalls only, no allocation ----

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's sets as bitmasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadCaps {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

fn last_errno() -> io::Error {
    io::Error::last_os_error()
}

/// The calling thread's effective, permitted and inheritable sets (`capget`).
pub fn current() -> Result<ThreadCaps, CapError> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as version 3 requires.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(CapError::Capget {
            source: last_errno(),
        });
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | u64::from(hi) << 32;
    Ok(ThreadCaps {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |bits: u64| (bits as u32, (bits >> 32) as u32);
    let (e, e_hi) = split(effective);
    let (p, p_hi) = split(permitted);
    let (i, i_hi) = split(inheritable);
    let data = [
        CapData {
            effective: e,
            permitted: p,
            inheritable: i,
        },
        CapData {
            effective: e_hi,
            permitted: p_hi,
            inheritable: i_hi,
        },
    ];
    // SAFETY: header and a two-element data array, as version 3 requires.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> io::Result<i32> {
    // SAFETY: the prctl options used here take integers only.
    let r = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(r)
}

/// Bitmask of the capabilities the running kernel knows (`PR_CAPBSET_READ` answers
/// `EINVAL` past the last), and the calling thread's bounding set.
fn kernel_and_bounding() -> Result<(u64, u64), CapError> {
    let (mut known, mut bounding) = (0u64, 0u64);
    for n in 0..64u32 {
        match prctl(libc::PR_CAPBSET_READ, n.into(), 0) {
            Ok(present) => {
                known |= 1 << n;
                if present == 1 {
                    bounding |= 1 << n;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(source) => return Err(CapError::ReadBounding { source }),
        }
    }
    Ok((known, bounding))
}

/// The capabilities the running kernel supports, among those this crate knows.
pub fn supported() -> Result<CapSet, CapError> {
    kernel_and_bounding().map(|(known, _)| CapSet::from_bits_truncate(known))
}

/// Gives the calling thread exactly `set`, without changing its user: drops everything
/// else from the bounding set, sets permitted = effective = `set`, and inheritable =
/// ambient = empty, or = `set` when `keep_for_non_root` (how a non-root user keeps
/// capabilities across `execve`, see the module docs). Capabilities the running kernel
/// does not know are left out of `set`.
///
/// Needs `CAP_SETPCAP` in the effective set when there is anything to drop from the
/// bounding set (root has it). Raw syscalls only: safe in a forked child.
pub fn apply(set: CapSet, keep_for_non_root: bool) -> Result<(), CapError> {
    let (known, bounding) = kernel_and_bounding()?;
    let set = set.bits() & known;
    let held = current()?;
    let missing = set & !held.permitted;
    if missing != 0 {
        return Err(CapError::NotHeld {
            caps: CapSet::from_bits_truncate(missing),
        });
    }
    for n in 0..64u8 {
        let bit = 1u64 << n;
        if bounding & bit != 0 && set & bit == 0 {
            prctl(libc::PR_CAPBSET_DROP, n.into(), 0)
                .map_err(|source| CapError::DropBounding { cap: n, source })?;
        }
    }
    let inheritable = if keep_for_non_root { set } else { 0 };
    capset(set, set, inheritable).map_err(|source| CapError::Capset {
        caps: CapSet::from_bits_truncate(set),
        source,
    })?;
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    )
    .map_err(|source| CapError::ClearAmbient { source })?;
    if keep_for_non_root {
        for cap in CapSet::from_bits_truncate(set).iter() {
            prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap.number().into(),
            )
            .map_err(|source| CapError::RaiseAmbient { cap, source })?;
        }
    }
    Ok(())
}

/// Becomes `uid`/`gid` with supplementary `groups`, then [`apply`]s `caps`; what a
/// root task init does to run the task as its user. One step rather than two because
/// the order is delicate:
///
/// 1. `PR_SET_KEEPCAPS` so the permitted set survives the uid change (the kernel clears
///    effective and ambient whenever the uids leave 0, and permitted too without it);
/// 2. `setgroups`, `setresgid`, `setresuid` as raw syscalls: only this thread changes,
///    with no libc set-id broadcast (the caller is a single-threaded child);
/// 3. keepcaps off again, effective raised back to permitted so `CAP_SETPCAP` can
///    shrink the bounding set;
/// 4. [`apply`], with ambient raised only when `keep_for_non_root` and `uid != 0`
///    (root keeps its set through the bounding set; Nomad gives root no ambient).
///
/// Needs `CAP_SETUID`, `CAP_SETGID` and `CAP_SETPCAP`: call it as root, before
/// `no_new_privs` and the seccomp filter. For `uid == 0` it still sets the gid and
/// groups. Raw syscalls only: safe in a forked child.
pub fn switch_user(
    uid: u32,
    gid: u32,
    groups: &[u32],
    caps: CapSet,
    keep_for_non_root: bool,
) -> Result<(), CapError> {
    prctl(libc::PR_SET_KEEPCAPS, 1, 0).map_err(|source| CapError::KeepCaps { source })?;
    // SAFETY: raw set-id syscalls; `groups` is a valid slice of gid_t (u32).
    unsafe {
        if libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) != 0 {
            return Err(CapError::Setgroups {
                count: groups.len(),
                source: last_errno(),
            });
        }
        if libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0 {
            return Err(CapError::Setresgid {
                gid,
                source: last_errno(),
            });
        }
        if libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0 {
            return Err(CapError::Setresuid {
                uid,
                source: last_errno(),
            });
        }
    }
    prctl(libc::PR_SET_KEEPCAPS, 0, 0).map_err(|source| CapError::KeepCaps { source })?;
    let held = current()?;
    capset(held.permitted, held.permitted, held.inheritable).map_err(|source| {
        CapError::Capset {
            caps: CapSet::from_bits_truncate(held.permitted),
            source,
        }
    })?;
    apply(caps, keep_for_non_root && uid != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_spelling() {
        for s in [
            "CAP_NET_RAW",
            "net_raw",
            "NET_RAW",
            "cap_net_raw",
            " Cap_Net_Raw ",
        ] {
            assert_eq!(s.parse::<Cap>().unwrap(), Cap::NetRaw, "{s:?}");
        }
        assert_eq!("CHECKPOINT_RESTORE".parse::<Cap>().unwrap().number(), 40);
        assert_eq!("cap_chown".parse::<Cap>().unwrap().number(), 0);
        for bad in [
            "",
            "CAP_",
            "net-raw",
            "CAP_NET_RAWX",
            "all",
            "cap_cap_chown",
        ] {
            let err = bad.parse::<Cap>().unwrap_err();
            assert!(matches!(err, CapError::Unknown { .. }), "{bad:?}: {err}");
        }
        assert_eq!(
            "frob".parse::<Cap>().unwrap_err().to_string(),
            "unknown capability \"frob\""
        );
    }

    #[test]
    fn numbers_and_names_agree_with_the_kernel_header() {
        for (i, cap) in Cap::ALL.iter().enumerate() {
            assert_eq!(usize::from(cap.number()), i);
            assert_eq!(cap.name().parse::<Cap>().unwrap(), *cap);
            assert_eq!(Cap::from_number(i as u8), Some(*cap));
        }
        assert_eq!(Cap::from_number(41), None);
        // A few fixed points from include/uapi/linux/capability.h.
        assert_eq!(Cap::SysAdmin.number(), 21);
        assert_eq!(Cap::NetBindService.number(), 10);
        assert_eq!(Cap::AuditRead.number(), 37);
        assert_eq!(Cap::Perfmon.number(), 38);
        assert_eq!(Cap::Bpf.number(), 39);
        assert_eq!(Cap::Setfcap.number(), 31);
        assert_eq!(Cap::Mknod.number(), 27);
    }

    #[test]
    fn default_sets() {
        let docker = docker_default();
        assert_eq!(docker.len(), 14);
        assert_eq!(docker.bits(), 0xa804_25fb, "Docker's well-known CapEff");
        let nomad = nomad_exec_default();
        assert_eq!(nomad.len(), 13);
        assert_eq!(nomad, docker.without(Cap::NetRaw));
        let literal = [
            "AUDIT_WRITE",
            "CHOWN",
            "DAC_OVERRIDE",
            "FOWNER",
            "FSETID",
            "KILL",
            "MKNOD",
            "NET_BIND_SERVICE",
            "SETFCAP",
            "SETGID",
            "SETPCAP",
            "SETUID",
            "SYS_CHROOT",
        ];
        assert_eq!(CapSet::parse_list(&literal).unwrap(), nomad);
        let legacy = nomad_root_legacy();
        assert_eq!(legacy.len(), 38);
        assert!(legacy.contains(Cap::SysAdmin) && legacy.contains(Cap::AuditRead));
        assert!(!legacy.contains(Cap::Perfmon) && !legacy.contains(Cap::Bpf));
        assert_eq!(CapSet::all().len(), 41);
    }

    #[test]
    fn lists_and_all() {
        assert_eq!(CapSet::parse_list(&["all"]).unwrap(), CapSet::all());
        assert_eq!(
            CapSet::parse_list(&["ALL", "chown"]).unwrap(),
            CapSet::all()
        );
        assert_eq!(CapSet::parse_list::<&str>(&[]).unwrap(), CapSet::EMPTY);
        assert_eq!(
            CapSet::parse_list(&["", " ", "kill"]).unwrap(),
            CapSet::of(&[Cap::Kill])
        );
        let err = CapSet::parse_list(&["chown", "bogus"]).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability \"bogus\"");
        let set = CapSet::of(&[Cap::SysAdmin, Cap::NetRaw, Cap::Chown]);
        assert_eq!(set.to_string(), "CAP_CHOWN, CAP_NET_RAW, CAP_SYS_ADMIN");
        assert_eq!(set.nomad_list(), "chown, net_raw, sys_admin");
        assert_eq!(CapSet::EMPTY.to_string(), "none");
        assert_eq!(set.iter().collect::<CapSet>(), set);
        assert_eq!(CapSet::from_bits_truncate(u64::MAX), CapSet::all());
    }

    #[test]
    fn resolve_follows_nomad() {
        let d = nomad_exec_default();
        let none: [&str; 0] = [];
        // Nothing asked: the defaults.
        assert_eq!(resolve(d, d, &none, &none).unwrap(), d);
        // allow_caps narrows the defaults.
        let allow = CapSet::parse_list(&["chown", "kill"]).unwrap();
        assert_eq!(resolve(d, allow, &none, &none).unwrap(), allow);
        // Drops, then adds (adds win).
        let r = resolve(d, d, &["kill"], &["kill", "CAP_CHOWN"]).unwrap();
        assert_eq!(r, d.without(Cap::Chown));
        // drop all, add back a few.
        let r = resolve(d, d, &["chown", "NET_BIND_SERVICE"], &["all"]).unwrap();
        assert_eq!(r, CapSet::of(&[Cap::Chown, Cap::NetBindService]));
        assert_eq!(resolve(d, d, &none, &["ALL"]).unwrap(), CapSet::EMPTY);
        // An allowed add beyond the defaults.
        let allow = d.with(Cap::NetRaw).with(Cap::SysTime);
        let r = resolve(d, allow, &["net_raw"], &none).unwrap();
        assert_eq!(r, d.with(Cap::NetRaw));
    }

    #[test]
    fn resolve_rejects_adds_outside_allow_caps_with_nomads_text() {
        let d = nomad_exec_default();
        let err = resolve(d, d, &["SYS_ADMIN", "net_raw", "chown"], &["all"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "driver does not allow the following capabilities: net_raw, sys_admin"
        );
        assert!(matches!(err, CapError::NotAllowed { caps } if caps.len() == 2));
        // cap_add = all needs allow_caps = all.
        let err = resolve(d, d, &["all"], &["all"]).unwrap_err();
        assert!(matches!(err, CapError::NotAllowed { caps } if caps.len() == 28));
        assert_eq!(
            resolve(d, CapSet::all(), &["all"], &["all"]).unwrap(),
            CapSet::all()
        );
        // Unknown names are an error of their own.
        assert!(matches!(
            resolve(d, d, &["nope"], &["all"]).unwrap_err(),
            CapError::Unknown { name } if name == "nope"
        ));
    }
}
