//! Which cgroup layout the host has, and where the v1 controllers are mounted.
//!
//! Like youki's `get_cgroup_setup_with_root`: `statfs(root)` magic `CGROUP2_SUPER_MAGIC` →
//! unified (v2); `TMPFS_MAGIC` → hybrid when `<root>/unified` is a cgroup2 mount, else
//! legacy. Hybrid is treated as v1 for resource control (its cgroup2 mount has no
//! controllers). v1 controller mount points come from `/proc/self/mountinfo`, never from
//! assumed paths: distributions co-mount `cpu,cpuacct` under different names.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{CgroupError, Result};
use super::fs;

/// `CGROUP2_SUPER_MAGIC` from `linux/magic.h`.
pub const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
/// `CGROUP_SUPER_MAGIC` (a v1 hierarchy mounted directly at the root).
pub const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;
/// `TMPFS_MAGIC`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;

/// The cgroup layout of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupSetup {
    /// Pure cgroup v2 (`/sys/fs/cgroup` is cgroup2).
    Unified,
    /// v1 controllers plus a controller-less cgroup2 mount at `<root>/unified`.
    Hybrid,
    /// v1 only.
    Legacy,
}

impl CgroupSetup {
    /// Classifies the root from its statfs magic and (for tmpfs) the magic of
    /// `<root>/unified`, if it exists.
    pub fn from_magic(root: &Path, magic: u64, unified_magic: Option<u64>) -> Result<Self> {
        match magic {
            CGROUP2_SUPER_MAGIC => Ok(Self::Unified),
            TMPFS_MAGIC if unified_magic == Some(CGROUP2_SUPER_MAGIC) => Ok(Self::Hybrid),
            TMPFS_MAGIC | CGROUP_SUPER_MAGIC => Ok(Self::Legacy),
            other => Err(CgroupError::NotCgroupFs {
                path: root.to_path_buf(),
                magic: other,
            }),
        }
    }

    /// Looks at the real filesystem under `root` (normally `/sys/fs/cgroup`).
    pub fn detect(root: &Path) -> Result<Self> {
        let magic = statfs_magic(root)?;
        let unified_magic = if magic == TMPFS_MAGIC {
            statfs_magic(&root.join("unified")).ok()
        } else {
            None
        };
        Self::from_magic(root, magic, unified_magic)
    }

    /// The implementation used for this layout.
    pub fn version(self) -> CgroupVersion {
        match self {
            Self::Unified => CgroupVersion::V2,
            Self::Hybrid | Self::Legacy => CgroupVersion::V1,
        }
    }
}

/// Which implementation manages a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CgroupVersion {
    /// Per-controller v1 hierarchies.
    V1,
    /// The unified v2 hierarchy.
    V2,
}

impl fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        })
    }
}

fn statfs_magic(path: &Path) -> Result<u64> {
    let stat = rustix::fs::statfs(path).map_err(|errno| CgroupError::Statfs {
        path: path.to_path_buf(),
        source: errno.into(),
    })?;
    Ok(stat.f_type as u64)
}

/// The v1 controllers drover uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum V1Controller {
    /// Memory limits and usage.
    Memory,
    /// CPU shares and CFS quota; throttling counters.
    Cpu,
    /// CPU time accounting.
    Cpuacct,
    /// CPU (and memory node) pinning.
    Cpuset,
    /// Process count limit.
    Pids,
    /// Freezing, used to kill without fork races.
    Freezer,
    /// Device access rules (written by the runtime module).
    Devices,
}

impl V1Controller {
    /// Every controller, in creation order.
    pub const ALL: [V1Controller; 7] = [
        Self::Memory,
        Self::Cpu,
        Self::Cpuacct,
        Self::Cpuset,
        Self::Pids,
        Self::Freezer,
        Self::Devices,
    ];

    /// The kernel's name, as in mount options and `/proc/<pid>/cgroup`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Cpu => "cpu",
            Self::Cpuacct => "cpuacct",
            Self::Cpuset => "cpuset",
            Self::Pids => "pids",
            Self::Freezer => "freezer",
            Self::Devices => "devices",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Where each v1 controller's hierarchy is mounted. Co-mounted controllers (`cpu,cpuacct`)
/// share a mount point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Mounts {
    mounts: BTreeMap<V1Controller, PathBuf>,
}

impl V1Mounts {
    /// Mount points given explicitly (tests, unusual hosts).
    pub fn new(mounts: impl IntoIterator<Item = (V1Controller, PathBuf)>) -> Self {
        Self {
            mounts: mounts.into_iter().collect(),
        }
    }

    /// Reads `mountinfo` (normally `/proc/self/mountinfo`); when a controller is mounted
    /// more than once, a mount under `prefer_under` (normally `/sys/fs/cgroup`) wins, else
    /// the first one.
    pub fn from_mountinfo_file(mountinfo: &Path, prefer_under: &Path) -> Result<Self> {
        Self::parse_mountinfo(mountinfo, &fs::read(mountinfo)?, prefer_under)
    }

    /// Parses mountinfo text (see `proc(5)`): fields 5 (mount point) and, after the `-`
    /// separator, the filesystem type `cgroup` and the super options naming the controllers.
    pub fn parse_mountinfo(path: &Path, content: &str, prefer_under: &Path) -> Result<Self> {
        let mut mounts: BTreeMap<V1Controller, PathBuf> = BTreeMap::new();
        for line in content.lines().filter(|l| !l.trim().is_empty()) {
            let bad = || CgroupError::Parse {
                path: path.to_path_buf(),
                line: line.to_owned(),
            };
            let (before, after) = line.split_once(" - ").ok_or_else(bad)?;
            let mount_point = before.split(' ').nth(4).ok_or_else(bad)?;
            let mut after = after.split(' ');
            let (Some(fs_type), Some(_source), Some(super_options)) =
                (after.next(), after.next(), after.next())
            else {
                return Err(bad());
            };
            if fs_type != "cgroup" {
                continue;
            }
            let mount_point = PathBuf::from(unescape_mount_path(mount_point));
            for option in super_options.split(',') {
                let Some(controller) = V1Controller::from_name(option) else {
                    continue;
                };
                let replace = match mounts.get(&controller) {
                    None => true,
                    Some(existing) => {
                        !existing.starts_with(prefer_under) && mount_point.starts_with(prefer_under)
                    }
                };
                if replace {
                    mounts.insert(controller, mount_point.clone());
                }
            }
        }
        Ok(Self { mounts })
    }

    /// The mount point of `controller`, if mounted.
    pub fn get(&self, controller: V1Controller) -> Option<&Path> {
        self.mounts.get(&controller).map(PathBuf::as_path)
    }

    /// Every mounted controller and its mount point.
    pub fn iter(&self) -> impl Iterator<Item = (V1Controller, &Path)> {
        self.mounts.iter().map(|(c, p)| (*c, p.as_path()))
    }
}

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash).
fn unescape_mount_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This project's CI machine: hybrid, `cpu` and `cpuacct` mounted separately.
    const HYBRID: &str = "\
24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd legacy host: co-mounted `cpu,cpuacct`, optional fields before `-`, and a
    /// second (bind) mount of memory elsewhere that must not win.
    const SYSTEMD_LEGACY: &str = "\
25 0 252:1 / / rw,relatime shared:1 - ext4 /dev/root rw
90 25 0:40 / /srv/memory\\040copy rw shared:50 - cgroup cgroup rw,memory
26 25 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
27 26 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,name=systemd
30 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 master:2 - cgroup cgroup rw,cpu,cpuacct
31 26 0:40 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory
32 26 0:29 / /sys/fs/cgroup/net_cls,net_prio rw shared:15 - cgroup cgroup rw,net_cls,net_prio
";

    #[test]
    fn mountinfo_hybrid_separate_cpu_and_cpuacct() {
        let mounts =
            V1Mounts::parse_mountinfo(Path::new("mi"), HYBRID, Path::new("/sys/fs/cgroup"))
                .unwrap();
        assert_eq!(
            mounts.get(V1Controller::Cpu),
            Some(Path::new("/sys/fs/cgroup/cpu"))
        );
        assert_eq!(
            mounts.get(V1Controller::Cpuacct),
            Some(Path::new("/sys/fs/cgroup/cpuacct"))
        );
        assert_eq!(mounts.iter().count(), 7);
        assert_eq!(
            mounts.get(V1Controller::Freezer),
            Some(Path::new("/sys/fs/cgroup/freezer"))
        );
    }

    #[test]
    fn mountinfo_comounted_and_preferred_root() {
        let mounts =
            V1Mounts::parse_mountinfo(Path::new("mi"), SYSTEMD_LEGACY, Path::new("/sys/fs/cgroup"))
                .unwrap();
        let cpu = Path::new("/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(mounts.get(V1Controller::Cpu), Some(cpu));
        assert_eq!(mounts.get(V1Controller::Cpuacct), Some(cpu));
        assert_eq!(
            mounts.get(V1Controller::Memory),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(mounts.get(V1Controller::Pids), None);

        // Without a preference the first mount (with its escaped space) is used.
        let first =
            V1Mounts::parse_mountinfo(Path::new("mi"), SYSTEMD_LEGACY, Path::new("/nowhere"))
                .unwrap();
        assert_eq!(
            first.get(V1Controller::Memory),
            Some(Path::new("/srv/memory copy"))
        );
    }

    #[test]
    fn mountinfo_rejects_garbage() {
        let err = V1Mounts::parse_mountinfo(Path::new("mi"), "not a mount line\n", Path::new("/"))
            .unwrap_err();
        assert!(matches!(err, CgroupError::Parse { .. }), "{err}");
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_mount_path("/a\\040b"), "/a b");
        assert_eq!(unescape_mount_path("/a\\134b"), "/a\\b");
        assert_eq!(unescape_mount_path("/a\\"), "/a\\");
        assert_eq!(unescape_mount_path("/a\\09"), "/a\\09");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
    }

    #[test]
    fn setup_from_magic() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(
            CgroupSetup::from_magic(root, CGROUP2_SUPER_MAGIC, None).unwrap(),
            CgroupSetup::Unified
        );
        assert_eq!(
            CgroupSetup::from_magic(root, TMPFS_MAGIC, Some(CGROUP2_SUPER_MAGIC)).unwrap(),
            CgroupSetup::Hybrid
        );
        assert_eq!(
            CgroupSetup::from_magic(root, TMPFS_MAGIC, None).unwrap(),
            CgroupSetup::Legacy
        );
        assert_eq!(CgroupSetup::Hybrid.version(), CgroupVersion::V1);
        assert_eq!(CgroupSetup::Unified.version(), CgroupVersion::V2);
        let err = CgroupSetup::from_magic(root, 0xef53, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/sys/fs/cgroup is not a cgroup mount (filesystem magic 0xef53)"
        );
    }
}
