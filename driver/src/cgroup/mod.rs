//! cgroups: one interface over cgroup v2 and v1.
//!
//! The shape follows youki's `libcgroups`: one trait, [`CgroupManager`], implemented by the
//! [`V1`] and [`V2`] managers and by the [`Cgroup`] enum that dispatches to them statically
//! (no trait objects). Files are read and written directly; every error carries the file
//! and value ([`CgroupError`]); units live in the types ([`Bytes`], [`Duration`],
//! [`CpuShares`] vs [`CpuWeight`]); files an older kernel lacks are `Option`s, never zeros.
//!
//! ```no_run
//! use drover_driver::cgroup::{CgroupConfig, CgroupManager, Cgroups, CpuSampler, Resources};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cgroups = Cgroups::detect(&CgroupConfig::default())?; // once per agent
//! let mut cgroup = cgroups.task("9f3c1b2a.redis")?;          // <root>/drover/9f3c1b2a.redis
//! cgroup.create(&Resources::from_nomad(500, None, 256, 0)?)?;
//! let child = std::process::Command::new("sleep").arg("10").spawn()?;
//! cgroup.add_pid(child.id())?;
//! let mut sampler = CpuSampler::new();
//! let stats = cgroup.stats()?;
//! let percent = sampler.sample(&stats.cpu);
//! cgroup.destroy()?;
//! # let _ = percent; Ok(()) }
//! ```
//!
//! [`Duration`]: std::time::Duration

mod detect;
mod error;
mod fs;
pub mod parse;
mod procs;
mod resources;
mod stats;
mod v1;
mod v2;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use rustix::process::Signal;

pub use detect::{
    CgroupSetup, CgroupVersion, V1Controller, V1Mounts, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC,
    TMPFS_MAGIC,
};
pub use error::{CgroupError, Result};
pub use procs::{CgroupAttach, FREEZE_TIMEOUT, KILL_TIMEOUT};
pub use resources::{Bytes, CpuLimit, CpuSet, CpuShares, CpuWeight, MemoryLimits, Resources, Swap};
pub use stats::{CpuPercent, CpuSampler, CpuStats, CpuThrottling, MemoryStats, PidsStats, Stats};
pub use v1::V1;
pub use v2::{CONTROLLERS as V2_CONTROLLERS, V2};

/// What every cgroup implementation does for one task's cgroup.
///
/// A manager only names the cgroup until [`create`](Self::create) makes it; all other
/// operations work on an existing one (e.g. after an agent restart, a manager built with
/// the same task id finds the task's cgroup again).
pub trait CgroupManager {
    /// v1 or v2.
    fn version(&self) -> CgroupVersion;

    /// The task id the cgroup is named after.
    fn task_id(&self) -> &str;

    /// The task cgroup's directories: one on v2, one per distinct controller mount on v1.
    fn dirs(&self) -> Vec<PathBuf>;

    /// Creates the cgroup (parents included; an existing directory is reused) and writes
    /// `resources`. `None` fields stay at the kernel default. Swap is disabled unless
    /// `resources.swap` allows it; on v2 `memory.oom.group = 1`. On failure whatever was
    /// created is removed again. Captures the OOM counter so [`oom_killed`](Self::oom_killed)
    /// ignores kills from before.
    fn create(&mut self, resources: &Resources) -> Result<()>;

    /// Moves a process into the cgroup (in every hierarchy on v1). Its children forked
    /// *before* the move stay behind: prefer [`prepare_attach`](Self::prepare_attach) or
    /// [`cgroup_fd`](Self::cgroup_fd), which place the task before it runs.
    fn add_pid(&self, pid: u32) -> Result<()>;

    /// Opens `cgroup.procs` of every hierarchy so a forked child can move itself in before
    /// `exec`.
    fn prepare_attach(&self) -> Result<CgroupAttach>;

    /// v2: a directory fd for `clone3(CLONE_INTO_CGROUP)`. v1: `None`.
    fn cgroup_fd(&self) -> Result<Option<OwnedFd>>;

    /// Processes in the cgroup (`cgroup.procs`; zombies are not listed).
    fn pids(&self) -> Result<Vec<u32>>;

    /// Memory, CPU and pids usage.
    fn stats(&self) -> Result<Stats>;

    /// Whether the OOM killer killed a process of this cgroup since
    /// [`create`](Self::create).
    fn oom_killed(&self) -> Result<bool>;

    /// Freezes every process (v2 `cgroup.freeze`, v1 `freezer.state`) and waits until the
    /// kernel reports it frozen (at most [`FREEZE_TIMEOUT`]; on timeout it thaws again).
    fn freeze(&self) -> Result<()>;

    /// Thaws a frozen cgroup.
    fn thaw(&self) -> Result<()>;

    /// Sends `signal` to every process. For `SIGKILL` it does not return until the cgroup
    /// is empty (or [`KILL_TIMEOUT`] passed): v2 writes `cgroup.kill`; otherwise
    /// freeze → kill → thaw rounds so no process forks its way out of the kill. Other
    /// signals are sent once to each listed process.
    fn kill_all(&self, signal: Signal) -> Result<()>;

    /// Kills everything, then removes the cgroup in every hierarchy (child cgroups too),
    /// retrying while the kernel says it is busy. Idempotent: a missing cgroup is fine. The
    /// parent is left for other tasks ([`Cgroups::remove_parent`]).
    fn destroy(&self) -> Result<()>;
}

/// A task cgroup on whatever this host runs.
#[derive(Debug, Clone)]
pub enum Cgroup {
    /// cgroup v1 (legacy or hybrid host).
    V1(V1),
    /// cgroup v2 (unified host).
    V2(V2),
}

macro_rules! dispatch {
    ($self:ident, $cg:ident => $body:expr) => {
        match $self {
            Cgroup::V1($cg) => $body,
            Cgroup::V2($cg) => $body,
        }
    };
}

impl CgroupManager for Cgroup {
    fn version(&self) -> CgroupVersion {
        dispatch!(self, cg => cg.version())
    }
    fn task_id(&self) -> &str {
        dispatch!(self, cg => cg.task_id())
    }
    fn dirs(&self) -> Vec<PathBuf> {
        dispatch!(self, cg => cg.dirs())
    }
    fn create(&mut self, resources: &Resources) -> Result<()> {
        dispatch!(self, cg => cg.create(resources))
    }
    fn add_pid(&self, pid: u32) -> Result<()> {
        dispatch!(self, cg => cg.add_pid(pid))
    }
    fn prepare_attach(&self) -> Result<CgroupAttach> {
        dispatch!(self, cg => cg.prepare_attach())
    }
    fn cgroup_fd(&self) -> Result<Option<OwnedFd>> {
        dispatch!(self, cg => cg.cgroup_fd())
    }
    fn pids(&self) -> Result<Vec<u32>> {
        dispatch!(self, cg => cg.pids())
    }
    fn stats(&self) -> Result<Stats> {
        dispatch!(self, cg => cg.stats())
    }
    fn oom_killed(&self) -> Result<bool> {
        dispatch!(self, cg => cg.oom_killed())
    }
    fn freeze(&self) -> Result<()> {
        dispatch!(self, cg => cg.freeze())
    }
    fn thaw(&self) -> Result<()> {
        dispatch!(self, cg => cg.thaw())
    }
    fn kill_all(&self, signal: Signal) -> Result<()> {
        dispatch!(self, cg => cg.kill_all(signal))
    }
    fn destroy(&self) -> Result<()> {
        dispatch!(self, cg => cg.destroy())
    }
}

/// Where cgroups live on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupConfig {
    /// The cgroup filesystem root, `/sys/fs/cgroup` (tests may point elsewhere).
    pub root: PathBuf,
    /// Parent of all task cgroups, relative to each hierarchy's root (Nomad's
    /// `cgroup_parent`); default `drover`. Tests use a unique one.
    pub parent: PathBuf,
    /// Where to find v1 mount points, `/proc/self/mountinfo`.
    pub mountinfo: PathBuf,
}

impl Default for CgroupConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/sys/fs/cgroup"),
            parent: PathBuf::from("drover"),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
        }
    }
}

impl CgroupConfig {
    /// The default config with another parent.
    pub fn with_parent(parent: impl Into<PathBuf>) -> Self {
        Self {
            parent: parent.into(),
            ..Self::default()
        }
    }
}

/// The host's cgroup hierarchy as drover uses it: detected once, then asked for task
/// cgroups.
#[derive(Debug, Clone)]
pub struct Cgroups {
    backend: Backend,
    parent: PathBuf,
}

#[derive(Debug, Clone)]
enum Backend {
    V1(V1Mounts),
    V2(PathBuf),
}

impl Cgroups {
    /// Detects the layout under `config.root` ([`CgroupSetup::detect`]): v2 on a unified
    /// host, v1 (controllers from `config.mountinfo`) on hybrid and legacy ones.
    pub fn detect(config: &CgroupConfig) -> Result<Self> {
        let setup = CgroupSetup::detect(&config.root)?;
        tracing::debug!(root = %config.root.display(), ?setup, "detected cgroup layout");
        match setup.version() {
            CgroupVersion::V2 => Self::v2(&config.root, &config.parent),
            CgroupVersion::V1 => Self::v1(
                V1Mounts::from_mountinfo_file(&config.mountinfo, &config.root)?,
                &config.parent,
            ),
        }
    }

    /// cgroup v2 at `mount` (e.g. a hybrid host's `/sys/fs/cgroup/unified`, or a test mount).
    pub fn v2(mount: impl Into<PathBuf>, parent: impl Into<PathBuf>) -> Result<Self> {
        let parent = parent.into();
        validate_parent(&parent)?;
        Ok(Self {
            backend: Backend::V2(mount.into()),
            parent,
        })
    }

    /// cgroup v1 with these controller mounts (memory, cpu and cpuacct are required).
    pub fn v1(mounts: V1Mounts, parent: impl Into<PathBuf>) -> Result<Self> {
        let parent = parent.into();
        validate_parent(&parent)?;
        // Fail here rather than at the first task.
        V1::new(mounts.clone(), parent.clone(), String::new())?;
        Ok(Self {
            backend: Backend::V1(mounts),
            parent,
        })
    }

    /// The implementation in use.
    pub fn version(&self) -> CgroupVersion {
        match self.backend {
            Backend::V1(_) => CgroupVersion::V1,
            Backend::V2(_) => CgroupVersion::V2,
        }
    }

    /// The parent of the task cgroups, relative to each hierarchy root.
    pub fn parent(&self) -> &Path {
        &self.parent
    }

    /// The cgroup of task `task_id`: `<parent>/<task_id>`. Creates nothing.
    pub fn task(&self, task_id: &str) -> Result<Cgroup> {
        validate_name(task_id)?;
        let relative = self.parent.join(task_id);
        Ok(match &self.backend {
            Backend::V1(mounts) => {
                Cgroup::V1(V1::new(mounts.clone(), relative, task_id.to_owned())?)
            }
            Backend::V2(mount) => Cgroup::V2(V2::new(mount.clone(), relative, task_id.to_owned())),
        })
    }

    /// The parent directory in each hierarchy (one on v2).
    pub fn parent_dirs(&self) -> Vec<PathBuf> {
        match &self.backend {
            Backend::V2(mount) => vec![mount.join(&self.parent)],
            Backend::V1(mounts) => {
                let mut dirs: Vec<PathBuf> = Vec::new();
                for (_, mount) in mounts.iter() {
                    let dir = mount.join(&self.parent);
                    if !dirs.contains(&dir) {
                        dirs.push(dir);
                    }
                }
                dirs
            }
        }
    }

    /// Removes the parent directory (its last component only) in every hierarchy. Fails
    /// with [`CgroupError::RemoveDir`] if a task cgroup is still in it; a missing parent is
    /// fine.
    pub fn remove_parent(&self) -> Result<()> {
        for dir in self.parent_dirs() {
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(CgroupError::RemoveDir { path: dir, source }),
            }
        }
        Ok(())
    }
}

/// A task id or parent component must be one plain directory name.
fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name == "." || name == ".." {
        Some("a relative directory reference")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.bytes().any(|b| b == 0 || b == b'\n') {
        Some("contains a NUL or newline")
    } else if name.len() > 255 {
        Some("longer than 255 bytes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CgroupError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn validate_parent(parent: &Path) -> Result<()> {
    let text = parent.to_str().ok_or_else(|| CgroupError::InvalidName {
        name: parent.display().to_string(),
        reason: "not UTF-8",
    })?;
    // Split by hand: `Path::components` would quietly drop `.` and doubled slashes.
    text.split('/').try_for_each(|name| {
        validate_name(name).map_err(|_| CgroupError::InvalidName {
            name: text.to_owned(),
            reason: "must be a relative path of plain directory names",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "9f3c1b2a.redis", "web-1_x+y", "a b"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a\nb", "a\0b"] {
            assert!(
                matches!(validate_name(bad), Err(CgroupError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_name(&"x".repeat(256)).is_err());
        validate_parent(Path::new("drover")).unwrap();
        validate_parent(Path::new("drover/share")).unwrap();
        for bad in ["", "/drover", "../x", "a/./b", "a/../b", "a//b", "a/"] {
            assert!(validate_parent(Path::new(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn task_paths_and_dispatch() {
        let cgroups = Cgroups::v2("/sys/fs/cgroup", "drover").unwrap();
        let cgroup = cgroups.task("a1.web").unwrap();
        assert_eq!(cgroup.version(), CgroupVersion::V2);
        assert_eq!(cgroup.task_id(), "a1.web");
        assert_eq!(
            cgroup.dirs(),
            vec![PathBuf::from("/sys/fs/cgroup/drover/a1.web")]
        );
        assert!(cgroups.task("../escape").is_err());
        assert_eq!(
            cgroups.parent_dirs(),
            vec![PathBuf::from("/sys/fs/cgroup/drover")]
        );

        let mounts = V1Mounts::new(
            V1Controller::ALL
                .into_iter()
                .map(|c| (c, Path::new("/sys/fs/cgroup").join(c.name()))),
        );
        let cgroups = Cgroups::v1(mounts, "drover").unwrap();
        let cgroup = cgroups.task("a1.web").unwrap();
        assert_eq!(cgroup.version(), CgroupVersion::V1);
        assert_eq!(cgroup.dirs().len(), 7);
        assert!(cgroup
            .dirs()
            .contains(&PathBuf::from("/sys/fs/cgroup/freezer/drover/a1.web")));
        assert_eq!(cgroups.parent_dirs().len(), 7);
        assert!(Cgroups::v1(V1Mounts::default(), "drover").is_err());
    }

    #[test]
    fn destroy_of_missing_cgroup_is_fine() {
        let tmp = tempfile::tempdir().unwrap();
        let cgroups = Cgroups::v2(tmp.path(), "drover").unwrap();
        let cgroup = cgroups.task("gone").unwrap();
        cgroup.destroy().unwrap();
        cgroup.destroy().unwrap();
        cgroups.remove_parent().unwrap();
    }
}
