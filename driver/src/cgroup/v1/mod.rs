//! cgroup v1: one directory per controller hierarchy (`<mount>/<parent>/<task id>` in each of
//! memory, cpu, cpuacct, cpuset, pids, freezer, devices), written to and read from
//! separately.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::Signal;

use super::detect::{CgroupVersion, V1Controller, V1Mounts};
use super::error::{CgroupError, Result};
use super::fs;
use super::parse::{self, FlatKeyed};
use super::procs::{self, CgroupAttach, FreezeHooks, FREEZE_TIMEOUT, KILL_TIMEOUT};
use super::resources::{Bytes, Resources, Swap};
use super::stats::{CpuStats, CpuThrottling, MemoryStats, PidsStats, Stats};
use super::CgroupManager;

/// Controllers a v1 task cgroup cannot do without: memory and CPU usage are what every
/// task reports. The others are needed only by the features that use them.
const REQUIRED: [V1Controller; 3] = [
    V1Controller::Memory,
    V1Controller::Cpu,
    V1Controller::Cpuacct,
];

/// The OOM counter a v1 kernel offers, captured at [`V1::create`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OomCounter {
    /// `memory.oom_control` `oom_kill` (Linux ≥ 4.13): processes of this cgroup killed by
    /// the OOM killer. Exact.
    Kills(u64),
    /// `memory.failcnt`: times usage hit the limit. Older kernels only; it also counts
    /// limit hits that reclaim resolved, so it over-reports (see [`V1::oom_killed`]).
    Failcnt(u64),
}

/// A task cgroup on a v1 (legacy or hybrid) host.
#[derive(Debug, Clone)]
pub struct V1 {
    task_id: String,
    relative: PathBuf,
    mounts: V1Mounts,
    clock_ticks: u64,
    oom_baseline: Option<OomCounter>,
    /// Whether the task joins the cpuset hierarchy (only with reserved cores).
    cpuset: bool,
}

impl V1 {
    /// Names the cgroup `<parent>/<task_id>` below each mount; creates nothing. `relative`
    /// must be validated by the caller ([`super::Cgroups::task`] does).
    pub(crate) fn new(mounts: V1Mounts, relative: PathBuf, task_id: String) -> Result<Self> {
        for controller in REQUIRED {
            if mounts.get(controller).is_none() {
                return Err(CgroupError::MissingController {
                    name: controller.name(),
                    path: PathBuf::from("/proc/self/mountinfo"),
                });
            }
        }
        Ok(Self {
            task_id,
            relative,
            mounts,
            clock_ticks: clock_ticks_per_second(),
            oom_baseline: None,
            cpuset: false,
        })
    }

    /// Overrides USER_HZ (normally `sysconf(_SC_CLK_TCK)`), for fixtures.
    pub fn with_clock_ticks(mut self, ticks_per_second: u64) -> Self {
        self.clock_ticks = ticks_per_second.max(1);
        self
    }

    /// The task cgroup's directory in `controller`'s hierarchy, if that controller is mounted.
    pub fn dir(&self, controller: V1Controller) -> Option<PathBuf> {
        self.mounts
            .get(controller)
            .map(|mount| mount.join(&self.relative))
    }

    fn required_dir(&self, controller: V1Controller) -> Result<PathBuf> {
        self.dir(controller)
            .ok_or_else(|| CgroupError::MissingController {
                name: controller.name(),
                path: PathBuf::from("/proc/self/mountinfo"),
            })
    }

    /// Distinct mount points (co-mounted controllers share one), with whether they hold the
    /// cpuset controller.
    fn distinct_mounts(&self) -> Vec<(PathBuf, bool)> {
        let cpuset = self.mounts.get(V1Controller::Cpuset);
        let mut out: Vec<(PathBuf, bool)> = Vec::new();
        for (_, mount) in self.mounts.iter() {
            if !out.iter().any(|(m, _)| m == mount) {
                out.push((mount.to_path_buf(), Some(mount) == cpuset));
            }
        }
        out
    }

    /// The directory whose `cgroup.procs` we list and kill from: the freezer's, so a frozen
    /// set and the listed set are the same hierarchy.
    fn procs_dir(&self) -> PathBuf {
        self.dir(V1Controller::Freezer)
            .or_else(|| self.dir(V1Controller::Memory))
            .expect("memory is a required controller")
    }

    /// The hierarchies a task joins. Every v1 join is a `cgroup.procs` write that waits for
    /// an RCU grace period (milliseconds each), so only the ones in use: not `devices`
    /// (device rules are not written yet), `cpuset` only for reserved cores. `dirs()`
    /// still lists all, so destroy finds whatever an earlier agent created.
    fn member_mounts(&self) -> Vec<(PathBuf, bool)> {
        let devices = self
            .mounts
            .get(V1Controller::Devices)
            .map(Path::to_path_buf);
        let shared = |mount: &PathBuf| {
            self.mounts.iter().any(|(c, m)| {
                m == mount.as_path() && c != V1Controller::Devices && c != V1Controller::Cpuset
            })
        };
        self.distinct_mounts()
            .into_iter()
            .filter(|(mount, is_cpuset)| {
                // Another process (the shim) may attach a cgroup this one created: the
                // cpuset directory's existence says whether cores were reserved.
                if *is_cpuset && !self.cpuset && !mount.join(&self.relative).is_dir() {
                    return shared(mount);
                }
                devices.as_ref() != Some(mount) || shared(mount)
            })
            .collect()
    }

    fn create_dirs(&self) -> Result<()> {
        for (mount, is_cpuset) in self.member_mounts() {
            let mut dir = mount;
            for component in self.relative.components() {
                dir.push(component);
                fs::mkdir(&dir)?;
                if is_cpuset {
                    inherit_cpuset(&dir)?;
                }
            }
        }
        Ok(())
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        if resources.cpu_shares.is_some() || resources.cpu_limit.is_some() {
            let cpu = self.required_dir(V1Controller::Cpu)?;
            if let Some(shares) = resources.cpu_shares {
                fs::write(&cpu.join("cpu.shares"), &shares.get().to_string())?;
            }
            if let Some(limit) = resources.cpu_limit {
                let period = limit.period().as_micros().to_string();
                let quota = limit.quota().as_micros().to_string();
                fs::write(&cpu.join("cpu.cfs_period_us"), &period)?;
                fs::write(&cpu.join("cpu.cfs_quota_us"), &quota)?;
            }
        }
        if let Some(cpus) = &resources.cpuset {
            let cpuset = self.required_dir(V1Controller::Cpuset)?;
            fs::write(&cpuset.join("cpuset.cpus"), cpus.as_str())?;
        }
        let memory = self.required_dir(V1Controller::Memory)?;
        if let Some(reservation) = resources.memory.reservation {
            fs::write(
                &memory.join("memory.soft_limit_in_bytes"),
                &reservation.get().to_string(),
            )?;
        }
        if let Some(hard) = resources.memory.hard {
            set_hard_limit(&memory, hard, resources.swap)?;
        }
        if resources.swap == Swap::Disabled {
            disable_swappiness(&memory)?;
        }
        if let Some(max) = resources.pids_max {
            let pids = self.required_dir(V1Controller::Pids)?;
            fs::write(&pids.join("pids.max"), &max.to_string())?;
        }
        Ok(())
    }

    fn oom_counter(&self) -> Result<OomCounter> {
        let memory = self.required_dir(V1Controller::Memory)?;
        let control = fs::read_flat(&memory.join("memory.oom_control"))?;
        match control.get("oom_kill") {
            Some(kills) => Ok(OomCounter::Kills(kills)),
            None => Ok(OomCounter::Failcnt(fs::read_u64(
                &memory.join("memory.failcnt"),
            )?)),
        }
    }

    fn freezer_state(&self) -> Result<(PathBuf, PathBuf)> {
        let dir = self.required_dir(V1Controller::Freezer)?;
        let state = dir.join("freezer.state");
        Ok((dir, state))
    }

    fn set_freezer(&self, wanted: &'static str, timeout: Duration) -> Result<()> {
        let (_, state) = self.freezer_state()?;
        fs::write(&state, wanted)?;
        let reached = procs::wait_until(timeout, &|| Ok(fs::read(&state)?.trim() == wanted))?;
        if reached {
            return Ok(());
        }
        Err(CgroupError::FreezeTimeout {
            last: fs::read(&state)?.trim().to_owned(),
            path: state,
            wanted,
            timeout,
        })
    }

    fn freeze_within(&self, timeout: Duration) -> Result<()> {
        let result = self.set_freezer("FROZEN", timeout);
        if result.is_err() {
            // Do not leave a half-frozen task behind.
            let _ = self.set_freezer("THAWED", FREEZE_TIMEOUT);
        }
        result
    }

    fn memory_stats(&self) -> Result<MemoryStats> {
        let dir = self.required_dir(V1Controller::Memory)?;
        let stat = fs::read_flat(&dir.join("memory.stat"))?;
        let usage = Bytes(fs::read_u64(&dir.join("memory.usage_in_bytes"))?);
        let inactive_file = Bytes(hierarchical(&stat, "inactive_file")?);
        Ok(MemoryStats {
            usage,
            max_usage: fs::read_u64_optional(&dir.join("memory.max_usage_in_bytes"))?.map(Bytes),
            rss: Bytes(hierarchical(&stat, "rss")?),
            cache: Bytes(hierarchical(&stat, "cache")?),
            mapped_file: Bytes(hierarchical(&stat, "mapped_file")?),
            // Only with swap accounting (CONFIG_MEMCG_SWAP and swapaccount=1).
            swap: stat
                .get("total_swap")
                .or_else(|| stat.get("swap"))
                .map(Bytes),
            // kmem files are gone from newer kernels' v1 memory controller.
            kernel_usage: fs::read_u64_optional(&dir.join("memory.kmem.usage_in_bytes"))?
                .map(Bytes),
            kernel_max_usage: fs::read_u64_optional(&dir.join("memory.kmem.max_usage_in_bytes"))?
                .map(Bytes),
            working_set: usage.saturating_sub(inactive_file),
        })
    }

    fn cpu_stats(&self) -> Result<CpuStats> {
        let acct = self.required_dir(V1Controller::Cpuacct)?;
        let total = Duration::from_nanos(fs::read_u64(&acct.join("cpuacct.usage"))?);
        let times = fs::read_flat(&acct.join("cpuacct.stat"))?;
        let cpu = self.required_dir(V1Controller::Cpu)?;
        let throttling = fs::read_flat_optional(&cpu.join("cpu.stat"))?.and_then(|stat| {
            Some(CpuThrottling {
                periods: stat.get("nr_periods")?,
                throttled_periods: stat.get("nr_throttled")?,
                throttled_time: Duration::from_nanos(stat.get("throttled_time")?),
            })
        });
        Ok(CpuStats {
            total,
            user: ticks_to_duration(times.require("user")?, self.clock_ticks),
            system: ticks_to_duration(times.require("system")?, self.clock_ticks),
            throttling,
        })
    }

    fn pids_stats(&self) -> Result<Option<PidsStats>> {
        let Some(dir) = self.dir(V1Controller::Pids) else {
            return Ok(None);
        };
        let limit_path = dir.join("pids.max");
        Ok(Some(PidsStats {
            current: fs::read_u64(&dir.join("pids.current"))?,
            limit: parse::parse_limit(&limit_path, &fs::read(&limit_path)?)?,
            limit_hits: fs::read_flat_optional(&dir.join("pids.events"))?
                .and_then(|events| events.get("max")),
        }))
    }
}

impl CgroupManager for V1 {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V1
    }

    fn task_id(&self) -> &str {
        &self.task_id
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.distinct_mounts()
            .into_iter()
            .map(|(mount, _)| mount.join(&self.relative))
            .collect()
    }

    fn create(&mut self, resources: &Resources) -> Result<()> {
        resources.validate()?;
        let needed = [
            (
                resources.cpu_shares.is_some() || resources.cpu_limit.is_some(),
                V1Controller::Cpu,
            ),
            (resources.cpuset.is_some(), V1Controller::Cpuset),
            (resources.pids_max.is_some(), V1Controller::Pids),
        ];
        for (wanted, controller) in needed {
            if wanted {
                self.required_dir(controller)?;
            }
        }
        self.cpuset = resources.cpuset.is_some();
        tracing::debug!(task = %self.task_id, cgroup = %self.relative.display(), "creating v1 cgroup");
        let created = fs::retry_vanished(|| self.create_dirs())
            .and_then(|()| self.apply(resources))
            .and_then(|()| self.oom_counter());
        match created {
            Ok(counter) => {
                self.oom_baseline = Some(counter);
                Ok(())
            }
            Err(err) => {
                if let Err(cleanup) = self.destroy() {
                    tracing::warn!(task = %self.task_id, %cleanup, "removing half-created cgroup");
                }
                Err(err)
            }
        }
    }

    fn add_pid(&self, pid: u32) -> Result<()> {
        for (mount, _) in self.member_mounts() {
            let dir = mount.join(&self.relative);
            fs::write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn prepare_attach(&self) -> Result<CgroupAttach> {
        let dirs: Vec<PathBuf> = self
            .member_mounts()
            .into_iter()
            .map(|(mount, _)| mount.join(&self.relative))
            .collect();
        CgroupAttach::open(dirs.iter().map(PathBuf::as_path))
    }

    fn cgroup_fd(&self) -> Result<Option<OwnedFd>> {
        Ok(None)
    }

    fn pids(&self) -> Result<Vec<u32>> {
        fs::read_pids(&self.procs_dir())
    }

    fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            memory: self.memory_stats()?,
            cpu: self.cpu_stats()?,
            pids: self.pids_stats()?,
        })
    }

    /// Compares `memory.oom_control` `oom_kill` with its value at [`create`](Self::create).
    ///
    /// Kernels before 4.13 have no `oom_kill` line; then `memory.failcnt` is compared,
    /// which also counts limit hits that reclaim resolved without killing anything (page
    /// cache pressure). Callers should then only believe it together with a SIGKILL exit.
    fn oom_killed(&self) -> Result<bool> {
        let now = self.oom_counter()?;
        Ok(match (self.oom_baseline, now) {
            (Some(OomCounter::Kills(before)), OomCounter::Kills(after))
            | (Some(OomCounter::Failcnt(before)), OomCounter::Failcnt(after)) => after > before,
            (_, OomCounter::Kills(after)) | (_, OomCounter::Failcnt(after)) => after > 0,
        })
    }

    fn freeze(&self) -> Result<()> {
        self.freeze_within(FREEZE_TIMEOUT)
    }

    fn thaw(&self) -> Result<()> {
        self.set_freezer("THAWED", FREEZE_TIMEOUT)
    }

    fn kill_all(&self, signal: Signal) -> Result<()> {
        let procs_dir = self.procs_dir();
        let list = || fs::read_pids_or_empty(&procs_dir);
        if signal != Signal::KILL {
            return procs::signal_all(&procs_dir, &list()?, signal);
        }
        let has_freezer = self.dir(V1Controller::Freezer).is_some_and(|d| d.is_dir());
        let freeze = |timeout| self.freeze_within(timeout);
        let thaw = || self.thaw();
        let hooks = has_freezer.then_some(FreezeHooks {
            freeze: &freeze,
            thaw: &thaw,
        });
        procs::kill_loop(&procs_dir, &list, hooks, KILL_TIMEOUT)
    }

    fn destroy(&self) -> Result<()> {
        let dirs = self.dirs();
        if !dirs.iter().any(|d| d.exists()) {
            return Ok(());
        }
        tracing::debug!(task = %self.task_id, cgroup = %self.relative.display(), "destroying v1 cgroup");
        let killed = self.kill_all(Signal::KILL);
        let mut first_error = killed.err();
        for dir in dirs {
            if let Err(err) = fs::remove_cgroup_dir(&dir) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// `total_<key>` (hierarchical, includes child cgroups) when the kernel reports it, else
/// `<key>`.
fn hierarchical(stat: &FlatKeyed, key: &str) -> Result<u64> {
    match stat.get(&format!("total_{key}")) {
        Some(value) => Ok(value),
        None => stat.require(key),
    }
}

/// A new v1 cpuset cgroup starts with empty `cpuset.cpus`/`cpuset.mems` (unless the parent
/// has `cgroup.clone_children`), and adding a process to it then fails with `ENOSPC`: copy
/// the parent's.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let parent = dir.parent().expect("a cgroup below a mount has a parent");
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        if fs::read(&own)?.trim().is_empty() {
            let inherited = fs::read(&parent.join(file))?;
            fs::write(&own, inherited.trim())?;
        }
    }
    Ok(())
}

/// Writes the hard limit. With swap disabled and swap accounting present, the memory+swap
/// limit is set to the same value (no room for swap); `memsw` must never be below
/// `limit_in_bytes`, so the order of the two writes depends on the direction of change.
fn set_hard_limit(memory: &Path, hard: Bytes, swap: Swap) -> Result<()> {
    let limit = memory.join("memory.limit_in_bytes");
    let memsw = memory.join("memory.memsw.limit_in_bytes");
    let value = hard.get().to_string();
    let current_memsw = match swap {
        Swap::Disabled => fs::read_u64_optional(&memsw)?,
        Swap::Allowed => None,
    };
    match current_memsw {
        Some(current) if hard.get() > current => {
            fs::write(&memsw, &value)?;
            fs::write(&limit, &value)
        }
        Some(_) => {
            fs::write(&limit, &value)?;
            fs::write(&memsw, &value)
        }
        None => fs::write(&limit, &value),
    }
}

/// `memory.swappiness = 0`, as Nomad does, when the kernel lets us: some kernels refuse it
/// (`EINVAL`) for cgroups in a hierarchy, and the file is absent without swap support.
fn disable_swappiness(memory: &Path) -> Result<()> {
    let path = memory.join("memory.swappiness");
    match fs::write_raw(&path, "0") {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err)
            if matches!(
                err.raw_os_error(),
                Some(libc::EINVAL | libc::EPERM | libc::EACCES)
            ) =>
        {
            tracing::warn!(path = %path.display(), %err, "cannot set memory.swappiness to 0");
            Ok(())
        }
        Err(source) => Err(CgroupError::Write {
            path,
            value: "0".into(),
            source,
        }),
    }
}

/// USER_HZ, the unit of `cpuacct.stat`.
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(per_second);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
