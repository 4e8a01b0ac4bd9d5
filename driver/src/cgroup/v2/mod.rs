//! cgroup v2: one directory `<mount>/<parent>/<task id>` in the unified hierarchy.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use rustix::process::Signal;

use super::detect::CgroupVersion;
use super::error::{CgroupError, Result};
use super::fs;
use super::parse;
use super::procs::{self, CgroupAttach, FreezeHooks, FREEZE_TIMEOUT, KILL_TIMEOUT};
use super::resources::{Bytes, Resources, Swap};
use super::stats::{CpuStats, CpuThrottling, MemoryStats, PidsStats, Stats};
use super::CgroupManager;

/// Controllers enabled in the `cgroup.subtree_control` of every ancestor of a task cgroup,
/// when the ancestor has them (Nomad enables the same set on `nomad.slice`).
pub const CONTROLLERS: [&str; 5] = ["cpu", "memory", "pids", "cpuset", "io"];

/// A task cgroup in a cgroup v2 hierarchy.
#[derive(Debug, Clone)]
pub struct V2 {
    task_id: String,
    mount: PathBuf,
    relative: PathBuf,
    path: PathBuf,
    oom_baseline: Option<u64>,
}

impl V2 {
    /// Names the cgroup `<mount>/<relative>`; creates nothing. `relative` must be validated
    /// by the caller ([`super::Cgroups::task`] does).
    pub(crate) fn new(mount: PathBuf, relative: PathBuf, task_id: String) -> Self {
        let path = mount.join(&relative);
        Self {
            task_id,
            mount,
            relative,
            path,
            oom_baseline: None,
        }
    }

    /// The task cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Controllers enabled for this cgroup (its `cgroup.controllers`).
    pub fn controllers(&self) -> Result<Vec<String>> {
        read_words(&self.path.join("cgroup.controllers"))
    }

    fn require_controller(&self, available: &[String], name: &'static str) -> Result<()> {
        if available.iter().any(|c| c == name) {
            Ok(())
        } else {
            Err(CgroupError::MissingController {
                name,
                path: self.path.clone(),
            })
        }
    }

    /// mkdir each level below the mount, enabling controllers in each *ancestor's*
    /// `cgroup.subtree_control` first. Never in the leaf: a cgroup with controllers enabled
    /// for its children cannot hold processes ("no internal processes" rule, `EBUSY`).
    fn create_dirs(&self) -> Result<()> {
        let mut dir = self.mount.clone();
        for component in self.relative.components() {
            enable_controllers(&dir)?;
            dir.push(component);
            fs::mkdir(&dir)?;
        }
        Ok(())
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        let available = self.controllers()?;
        let file = |name: &str| self.path.join(name);
        if resources.cpu_shares.is_some() || resources.cpu_limit.is_some() {
            self.require_controller(&available, "cpu")?;
        }
        if let Some(shares) = resources.cpu_shares {
            fs::write(&file("cpu.weight"), &shares.to_weight().get().to_string())?;
        }
        if let Some(limit) = resources.cpu_limit {
            let value = format!(
                "{} {}",
                limit.quota().as_micros(),
                limit.period().as_micros()
            );
            fs::write(&file("cpu.max"), &value)?;
        }
        if let Some(cpus) = &resources.cpuset {
            self.require_controller(&available, "cpuset")?;
            fs::write(&file("cpuset.cpus"), cpus.as_str())?;
        }
        let memory = resources.memory;
        if memory.hard.is_some() || memory.reservation.is_some() {
            self.require_controller(&available, "memory")?;
        }
        if let Some(reservation) = memory.reservation {
            fs::write(&file("memory.low"), &reservation.get().to_string())?;
        }
        if let Some(hard) = memory.hard {
            fs::write(&file("memory.max"), &hard.get().to_string())?;
        }
        if available.iter().any(|c| c == "memory") {
            if resources.swap == Swap::Disabled {
                // Absent without swap support (CONFIG_SWAP off or swap accounting disabled):
                // then there is no swap to disable.
                fs::write_if_exists(&file("memory.swap.max"), "0")?;
            }
            // One OOM kill takes the whole task down instead of leaving it half alive.
            fs::write_if_exists(&file("memory.oom.group"), "1")?;
        }
        if let Some(max) = resources.pids_max {
            self.require_controller(&available, "pids")?;
            fs::write(&file("pids.max"), &max.to_string())?;
        }
        Ok(())
    }

    /// `oom_kill + oom_group_kill` from `memory.events.local` (Linux ≥ 5.2: this cgroup
    /// only) or else `memory.events` (hierarchical; same thing for a leaf).
    fn oom_count(&self) -> Result<u64> {
        let events = match fs::read_flat_optional(&self.path.join("memory.events.local"))? {
            Some(events) => events,
            None => fs::read_flat_optional(&self.path.join("memory.events"))?.ok_or_else(|| {
                CgroupError::MissingController {
                    name: "memory",
                    path: self.path.clone(),
                }
            })?,
        };
        // oom_group_kill exists from Linux 5.17 on.
        Ok(events
            .require("oom_kill")?
            .saturating_add(events.get("oom_group_kill").unwrap_or(0)))
    }

    fn set_frozen(&self, frozen: bool, timeout: Duration) -> Result<()> {
        let freeze = self.path.join("cgroup.freeze");
        let value = if frozen { "1" } else { "0" };
        if !fs::write_if_exists(&freeze, value)? {
            return Err(CgroupError::MissingController {
                name: "freezer",
                path: self.path.clone(),
            });
        }
        let events = self.path.join("cgroup.events");
        let wanted = u64::from(frozen);
        let reached = procs::wait_until(timeout, &|| {
            Ok(fs::read_flat(&events)?.require("frozen")? == wanted)
        })?;
        if reached {
            return Ok(());
        }
        let last = fs::read(&events)?;
        Err(CgroupError::FreezeTimeout {
            path: events,
            wanted: if frozen { "frozen 1" } else { "frozen 0" },
            last: last.trim().to_owned(),
            timeout,
        })
    }

    fn freeze_within(&self, timeout: Duration) -> Result<()> {
        let result = self.set_frozen(true, timeout);
        if result.is_err() {
            let _ = self.set_frozen(false, FREEZE_TIMEOUT);
        }
        result
    }

    /// `cgroup.events populated 0`, or the cgroup is gone.
    fn unpopulated(&self) -> Result<bool> {
        Ok(
            match fs::read_flat_optional(&self.path.join("cgroup.events"))? {
                Some(events) => events.require("populated")? == 0,
                None => true,
            },
        )
    }

    fn memory_stats(&self) -> Result<MemoryStats> {
        let usage = fs::read_u64_optional(&self.path.join("memory.current"))?
            .map(Bytes)
            .ok_or_else(|| CgroupError::MissingController {
                name: "memory",
                path: self.path.clone(),
            })?;
        let stat = fs::read_flat(&self.path.join("memory.stat"))?;
        let inactive_file = Bytes(stat.require("inactive_file")?);
        Ok(MemoryStats {
            usage,
            // memory.peak: Linux >= 5.19.
            max_usage: fs::read_u64_optional(&self.path.join("memory.peak"))?.map(Bytes),
            rss: Bytes(stat.require("anon")?),
            cache: Bytes(stat.require("file")?),
            mapped_file: Bytes(stat.require("file_mapped")?),
            swap: fs::read_u64_optional(&self.path.join("memory.swap.current"))?.map(Bytes),
            // The `kernel` key: Linux >= 5.18.
            kernel_usage: stat.get("kernel").map(Bytes),
            kernel_max_usage: None,
            working_set: usage.saturating_sub(inactive_file),
        })
    }

    fn cpu_stats(&self) -> Result<CpuStats> {
        // cpu.stat exists in every v2 cgroup (core accounting); the throttling keys only
        // when the cpu controller is enabled.
        let stat = fs::read_flat(&self.path.join("cpu.stat"))?;
        let micros = |key: &str| stat.require(key).map(Duration::from_micros);
        Ok(CpuStats {
            total: micros("usage_usec")?,
            user: micros("user_usec")?,
            system: micros("system_usec")?,
            throttling: match (
                stat.get("nr_periods"),
                stat.get("nr_throttled"),
                stat.get("throttled_usec"),
            ) {
                (Some(periods), Some(throttled_periods), Some(throttled_usec)) => {
                    Some(CpuThrottling {
                        periods,
                        throttled_periods,
                        throttled_time: Duration::from_micros(throttled_usec),
                    })
                }
                _ => None,
            },
        })
    }

    fn pids_stats(&self) -> Result<Option<PidsStats>> {
        let Some(current) = fs::read_u64_optional(&self.path.join("pids.current"))? else {
            return Ok(None);
        };
        let limit_path = self.path.join("pids.max");
        Ok(Some(PidsStats {
            current,
            limit: parse::parse_limit(&limit_path, &fs::read(&limit_path)?)?,
            limit_hits: fs::read_flat_optional(&self.path.join("pids.events"))?
                .and_then(|events| events.get("max")),
        }))
    }
}

impl CgroupManager for V2 {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V2
    }

    fn task_id(&self) -> &str {
        &self.task_id
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }

    fn create(&mut self, resources: &Resources) -> Result<()> {
        resources.validate()?;
        tracing::debug!(task = %self.task_id, cgroup = %self.path.display(), "creating v2 cgroup");
        let created = fs::retry_vanished(|| self.create_dirs())
            .and_then(|()| self.apply(resources))
            .and_then(|()| {
                // Without the memory controller there is no OOM counter to compare with;
                // oom_killed() then reports MissingController.
                match self.oom_count() {
                    Ok(count) => Ok(Some(count)),
                    Err(CgroupError::MissingController { .. }) => Ok(None),
                    Err(err) => Err(err),
                }
            });
        match created {
            Ok(baseline) => {
                self.oom_baseline = baseline;
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
        fs::write(&self.path.join("cgroup.procs"), &pid.to_string())
    }

    fn prepare_attach(&self) -> Result<CgroupAttach> {
        CgroupAttach::open([self.path.as_path()])
    }

    /// A directory fd of the cgroup for `clone3(CLONE_INTO_CGROUP)` (Linux ≥ 5.7). Opened
    /// `O_RDONLY`, not `O_PATH`: the kernel refuses `O_PATH` fds there.
    fn cgroup_fd(&self) -> Result<Option<OwnedFd>> {
        rustix::fs::open(
            &self.path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(Some)
        .map_err(|errno| CgroupError::Open {
            path: self.path.clone(),
            source: errno.into(),
        })
    }

    fn pids(&self) -> Result<Vec<u32>> {
        fs::read_pids(&self.path)
    }

    fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            memory: self.memory_stats()?,
            cpu: self.cpu_stats()?,
            pids: self.pids_stats()?,
        })
    }

    fn oom_killed(&self) -> Result<bool> {
        let now = self.oom_count()?;
        Ok(now > self.oom_baseline.unwrap_or(0))
    }

    fn freeze(&self) -> Result<()> {
        self.freeze_within(FREEZE_TIMEOUT)
    }

    fn thaw(&self) -> Result<()> {
        self.set_frozen(false, FREEZE_TIMEOUT)
    }

    /// SIGKILL: `cgroup.kill` (Linux ≥ 5.14, kills descendants too, no fork race), then
    /// waits for `populated 0`; without it, the freeze → kill → thaw loop as on v1.
    fn kill_all(&self, signal: Signal) -> Result<()> {
        let list = || fs::read_pids_or_empty(&self.path);
        if signal != Signal::KILL {
            return procs::signal_all(&self.path, &list()?, signal);
        }
        if self.path.join("cgroup.kill").exists() {
            fs::write(&self.path.join("cgroup.kill"), "1")?;
            if procs::wait_until(KILL_TIMEOUT, &|| self.unpopulated())? {
                return Ok(());
            }
            return Err(CgroupError::StillPopulated {
                path: self.path.clone(),
                pids: list()?,
                timeout: KILL_TIMEOUT,
            });
        }
        let freeze = |timeout| self.freeze_within(timeout);
        let thaw = || self.thaw();
        let hooks = self
            .path
            .join("cgroup.freeze")
            .exists()
            .then_some(FreezeHooks {
                freeze: &freeze,
                thaw: &thaw,
            });
        procs::kill_loop(&self.path, &list, hooks, KILL_TIMEOUT)
    }

    fn destroy(&self) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        tracing::debug!(task = %self.task_id, cgroup = %self.path.display(), "destroying v2 cgroup");
        let killed = self.kill_all(Signal::KILL);
        let removed = fs::remove_cgroup_dir(&self.path);
        killed.and(removed)
    }
}

/// Enables in `dir`'s `cgroup.subtree_control` each of [`CONTROLLERS`] that `dir` has and
/// has not enabled yet. One write per controller, so one the kernel refuses (e.g. `cpu`
/// with real-time tasks in the hierarchy) does not block the others; a limit that needs a
/// missing controller fails later with [`CgroupError::MissingController`].
fn enable_controllers(dir: &Path) -> Result<()> {
    let available = read_words(&dir.join("cgroup.controllers"))?;
    let subtree = dir.join("cgroup.subtree_control");
    let enabled = read_words(&subtree)?;
    for controller in controllers_to_enable(&available, &enabled) {
        let value = format!("+{controller}");
        if let Err(err) = fs::write_raw(&subtree, &value) {
            tracing::warn!(path = %subtree.display(), %value, %err, "cannot enable cgroup controller");
        }
    }
    Ok(())
}

fn controllers_to_enable(available: &[String], enabled: &[String]) -> Vec<&'static str> {
    CONTROLLERS
        .into_iter()
        .filter(|c| available.iter().any(|a| a == c) && !enabled.iter().any(|e| e == c))
        .collect()
}

fn read_words(path: &Path) -> Result<Vec<String>> {
    Ok(fs::read(path)?
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests;
