//! Resource usage as Nomad reports it: a task's cgroup readings turned into
//! `TaskResourceUsage` (memory names per cgroup version, CPU percent from the delta
//! between two readings, `TotalTicks` in MHz), summed per allocation; and the node's own
//! usage from /proc for `/v1/client/stats`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::SystemTime;

use drover_driver::cgroup::{CgroupVersion, CpuSampler, Stats};

use crate::structs::{
    AllocResourceUsage, CpuStats, HostCpuStats, HostDiskStats, HostMemoryStats, HostStats,
    MemoryStats, ResourceUsage, TaskResourceUsage,
};

/// Unix nanoseconds of `at`.
fn unix_nanos(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Memory as Nomad names it; `Swap` is memory + swap (§4.5), and the `Measured` list
/// is what this cgroup version provides (v2 has no `Max Usage`/`Kernel *` in Nomad).
pub fn memory_stats(stats: &Stats, version: CgroupVersion) -> MemoryStats {
    let m = &stats.memory;
    let mut out = MemoryStats {
        rss: m.rss.0,
        cache: m.cache.0,
        mapped_file: m.mapped_file.0,
        usage: m.usage.0,
        swap: m.nomad_swap().map_or(0, |b| b.0),
        ..MemoryStats::default()
    };
    let mut measured = vec!["RSS", "Cache"];
    if m.swap.is_some() {
        measured.push("Swap");
    }
    measured.push("Usage");
    if version == CgroupVersion::V1 {
        if let Some(max) = m.max_usage {
            out.max_usage = max.0;
            measured.push("Max Usage");
        }
        if let Some(k) = m.kernel_usage {
            out.kernel_usage = k.0;
            measured.push("Kernel Usage");
        }
        if let Some(k) = m.kernel_max_usage {
            out.kernel_max_usage = k.0;
            measured.push("Kernel Max Usage");
        }
    }
    out.measured = measured.into_iter().map(String::from).collect();
    out
}

/// Keeps each task's previous CPU reading, so a reading becomes percentages.
#[derive(Default)]
pub struct StatsTracker {
    samplers: HashMap<(String, String), CpuSampler>,
}

impl StatsTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// One task's usage from a cgroup reading taken at `at`; `mhz_per_core` is the
    /// node's total MHz divided by its cores.
    pub fn task_usage(
        &mut self,
        alloc_id: &str,
        task: &str,
        stats: &Stats,
        version: CgroupVersion,
        mhz_per_core: f64,
        at: SystemTime,
    ) -> TaskResourceUsage {
        let sampler = self
            .samplers
            .entry((alloc_id.to_string(), task.to_string()))
            .or_default();
        let percent = sampler.sample(&stats.cpu);
        let mut cpu = CpuStats {
            system_mode: percent.system,
            user_mode: percent.user,
            percent: percent.total,
            total_ticks: percent.total_ticks(mhz_per_core),
            measured: vec!["System Mode".into(), "User Mode".into()],
            ..CpuStats::default()
        };
        if let Some(t) = stats.cpu.throttling {
            cpu.throttled_periods = t.throttled_periods;
            cpu.throttled_time = t.throttled_time.as_nanos() as u64;
            cpu.measured
                .extend(["Throttled Periods".into(), "Throttled Time".into()]);
        }
        cpu.measured.push("Percent".into());
        TaskResourceUsage {
            resource_usage: ResourceUsage {
                memory_stats: memory_stats(stats, version),
                cpu_stats: cpu,
                device_stats: Vec::new(),
            },
            timestamp: unix_nanos(at),
            pids: BTreeMap::new(),
        }
    }

    /// Drops the readings of an allocation's tasks (it stopped or was collected).
    pub fn forget(&mut self, alloc_id: &str) {
        self.samplers.retain(|(a, _), _| a != alloc_id);
    }
}

/// The allocation's usage: the field-by-field sum of its tasks', `Measured` unioned,
/// the newest timestamp.
pub fn alloc_usage(tasks: BTreeMap<String, TaskResourceUsage>) -> AllocResourceUsage {
    let mut sum = ResourceUsage::default();
    let mut timestamp = 0;
    for t in tasks.values() {
        let (m, c) = (&t.resource_usage.memory_stats, &t.resource_usage.cpu_stats);
        let sm = &mut sum.memory_stats;
        sm.rss += m.rss;
        sm.cache += m.cache;
        sm.swap += m.swap;
        sm.mapped_file += m.mapped_file;
        sm.usage += m.usage;
        sm.max_usage += m.max_usage;
        sm.kernel_usage += m.kernel_usage;
        sm.kernel_max_usage += m.kernel_max_usage;
        union(&mut sm.measured, &m.measured);
        let sc = &mut sum.cpu_stats;
        sc.system_mode += c.system_mode;
        sc.user_mode += c.user_mode;
        sc.percent += c.percent;
        sc.total_ticks += c.total_ticks;
        sc.throttled_periods += c.throttled_periods;
        sc.throttled_time += c.throttled_time;
        union(&mut sc.measured, &c.measured);
        timestamp = timestamp.max(t.timestamp);
    }
    AllocResourceUsage {
        resource_usage: sum,
        tasks,
        timestamp,
    }
}

fn union(into: &mut Vec<String>, names: &[String]) {
    for n in names {
        if !into.contains(n) {
            into.push(n.clone());
        }
    }
}

/// One `/proc/stat` line's jiffies: (user + nice, system + irq + softirq, idle + iowait,
/// total).
type CpuTimes = (u64, u64, u64, u64);

/// The node's usage; keeps the previous `/proc/stat` reading for per-core percentages.
#[derive(Default)]
pub struct HostStatsTracker {
    previous: BTreeMap<String, CpuTimes>,
}

impl HostStatsTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Memory, per-core CPU since the previous call, uptime and the alloc dir's disk.
    pub fn collect(&mut self, alloc_dir: &Path, mhz_per_core: f64) -> HostStats {
        let memory = std::fs::read_to_string("/proc/meminfo")
            .map(|t| parse_meminfo(&t))
            .unwrap_or_default();
        let now = std::fs::read_to_string("/proc/stat")
            .map(|t| parse_proc_stat(&t))
            .unwrap_or_default();
        let cpu = cpu_percentages(&self.previous, &now);
        self.previous = now;
        let ticks = cpu.iter().map(|c| c.total / 100.0 * mhz_per_core).sum();
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0, |s| s as u64);
        let disk = disk_stats(alloc_dir);
        HostStats {
            memory,
            cpu,
            disk_stats: disk.iter().cloned().collect(),
            allocation_dir_stats: disk,
            uptime,
            timestamp: unix_nanos(SystemTime::now()),
            cpu_ticks_consumed: ticks,
        }
    }
}

/// `/proc/meminfo` (kB) in bytes; Used = Total − Available.
pub fn parse_meminfo(text: &str) -> HostMemoryStats {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    let (total, available, free) = (field("MemTotal"), field("MemAvailable"), field("MemFree"));
    HostMemoryStats {
        total,
        available,
        used: total.saturating_sub(available),
        free,
    }
}

/// The per-core `cpuN` lines of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> BTreeMap<String, CpuTimes> {
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?.to_string();
            let v: Vec<u64> = f.filter_map(|x| x.parse().ok()).collect();
            let at = |i: usize| v.get(i).copied().unwrap_or(0);
            // user nice system idle iowait irq softirq steal
            let user = at(0) + at(1);
            let system = at(2) + at(5) + at(6);
            let idle = at(3) + at(4);
            Some((name, (user, system, idle, user + system + idle + at(7))))
        })
        .collect()
}

/// Percent of each core between two readings (a first reading gives 0 % busy).
pub fn cpu_percentages(
    before: &BTreeMap<String, CpuTimes>,
    now: &BTreeMap<String, CpuTimes>,
) -> Vec<HostCpuStats> {
    let mut cores: Vec<(&String, &CpuTimes)> = now.iter().collect();
    cores.sort_by_key(|(name, _)| name[3..].parse::<u32>().unwrap_or(u32::MAX));
    cores
        .into_iter()
        .map(|(name, &(u, s, i, t))| {
            let (pu, ps, pi, pt) = before.get(name).copied().unwrap_or((u, s, i, t));
            let dt = t.saturating_sub(pt) as f64;
            let pct = |now: u64, then: u64| {
                if dt > 0.0 {
                    now.saturating_sub(then) as f64 / dt * 100.0
                } else {
                    0.0
                }
            };
            let idle = if dt > 0.0 { pct(i, pi) } else { 100.0 };
            HostCpuStats {
                cpu: name.clone(),
                user: pct(u, pu),
                system: pct(s, ps),
                idle,
                total: 100.0 - idle,
            }
        })
        .collect()
}

fn disk_stats(path: &Path) -> Option<HostDiskStats> {
    let st = rustix::fs::statvfs(path).ok()?;
    let block = st.f_frsize;
    let size = st.f_blocks * block;
    let available = st.f_bavail * block;
    let used = size.saturating_sub(st.f_bfree * block);
    let percent = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64 * 100.0
        }
    };
    Some(HostDiskStats {
        device: String::new(),
        mountpoint: path.display().to_string(),
        size,
        used,
        available,
        used_percent: percent(used, used + available),
        inodes_used_percent: percent(st.f_files.saturating_sub(st.f_ffree), st.f_files),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_driver::cgroup::{Bytes, CpuThrottling, MemoryStats as CgMemory};
    use std::time::Duration;

    /// A reading as the v1 cgroup of a small redis gave it.
    fn recorded(cpu_ms: u64, v1_extras: bool) -> Stats {
        let opt = |v: u64| v1_extras.then_some(Bytes(v));
        Stats {
            memory: CgMemory {
                usage: Bytes(3 << 20),
                max_usage: opt(4 << 20),
                rss: Bytes(1 << 20),
                cache: Bytes(2 << 20),
                mapped_file: Bytes(4096),
                swap: Some(Bytes(0)),
                kernel_usage: opt(8192),
                kernel_max_usage: opt(16384),
                working_set: Bytes(2 << 20),
            },
            cpu: drover_driver::cgroup::CpuStats {
                total: Duration::from_millis(cpu_ms),
                user: Duration::from_millis(cpu_ms * 3 / 4),
                system: Duration::from_millis(cpu_ms / 4),
                throttling: Some(CpuThrottling {
                    periods: 10,
                    throttled_periods: 2,
                    throttled_time: Duration::from_micros(5),
                }),
            },
            pids: None,
        }
    }

    #[test]
    fn memory_names_follow_the_cgroup_version() {
        let cases: [(CgroupVersion, bool, &[&str]); 3] = [
            (
                CgroupVersion::V1,
                true,
                &[
                    "RSS",
                    "Cache",
                    "Swap",
                    "Usage",
                    "Max Usage",
                    "Kernel Usage",
                    "Kernel Max Usage",
                ],
            ),
            (CgroupVersion::V2, true, &["RSS", "Cache", "Swap", "Usage"]),
            (CgroupVersion::V1, false, &["RSS", "Cache", "Swap", "Usage"]),
        ];
        for (version, extras, want) in cases {
            let m = memory_stats(&recorded(0, extras), version);
            assert_eq!(m.measured, want, "{version} extras={extras}");
            assert_eq!((m.rss, m.cache, m.usage), (1 << 20, 2 << 20, 3 << 20));
            // Nomad's Swap is memory + swap.
            assert_eq!(m.swap, 3 << 20);
        }
        let v1 = memory_stats(&recorded(0, true), CgroupVersion::V1);
        assert_eq!((v1.max_usage, v1.kernel_usage), (4 << 20, 8192));
    }

    #[test]
    fn cpu_percent_comes_from_two_readings_and_sums_per_alloc() {
        let mut tracker = StatsTracker::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let first = tracker.task_usage(
            "a",
            "web",
            &recorded(100, true),
            CgroupVersion::V1,
            2000.0,
            t0,
        );
        assert_eq!(first.resource_usage.cpu_stats.percent, 0.0);
        assert_eq!(
            first.resource_usage.cpu_stats.measured,
            [
                "System Mode",
                "User Mode",
                "Throttled Periods",
                "Throttled Time",
                "Percent"
            ]
        );
        assert_eq!(first.resource_usage.cpu_stats.throttled_time, 5000);
        assert_eq!(first.timestamp, 1_700_000_000_000_000_000);
        // The CPU sampler measures wall time itself: only check the fields' relations.
        std::thread::sleep(Duration::from_millis(20));
        let second = tracker.task_usage(
            "a",
            "web",
            &recorded(200, true),
            CgroupVersion::V1,
            2000.0,
            t0,
        );
        let cpu = &second.resource_usage.cpu_stats;
        assert!(cpu.percent > 0.0, "{cpu:?}");
        assert!((cpu.total_ticks - cpu.percent / 100.0 * 2000.0).abs() < 1e-6);
        assert!((cpu.user_mode + cpu.system_mode - cpu.percent).abs() < 1e-6);
        let other = tracker.task_usage(
            "a",
            "side",
            &recorded(0, false),
            CgroupVersion::V1,
            2000.0,
            t0,
        );
        let alloc = alloc_usage(BTreeMap::from([
            ("web".to_string(), second.clone()),
            ("side".to_string(), other),
        ]));
        let m = &alloc.resource_usage.memory_stats;
        assert_eq!(m.rss, 2 << 20);
        assert_eq!(m.max_usage, 4 << 20);
        assert!(m.measured.contains(&"Kernel Max Usage".to_string()));
        assert_eq!(alloc.resource_usage.cpu_stats.percent, cpu.percent);
        tracker.forget("a");
        assert!(tracker.samplers.is_empty());
    }

    #[test]
    fn host_readings_parse() {
        let mem = parse_meminfo(
            "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    600 kB\n",
        );
        assert_eq!(
            (mem.total, mem.free, mem.available, mem.used),
            (1024000, 102400, 614400, 409600)
        );
        let before = parse_proc_stat(
            "cpu  1 1 1 1 1 0 0 0\ncpu0 100 0 50 800 50 0 0 0 0 0\ncpu1 0 0 0 1000 0 0 0 0\n",
        );
        let now = parse_proc_stat("cpu0 150 0 100 900 50 0 0 0 0 0\ncpu1 0 0 0 1100 0 0 0 0\n");
        let cpus = cpu_percentages(&before, &now);
        let got: Vec<(&str, f64, f64, f64, f64)> = cpus
            .iter()
            .map(|c| (c.cpu.as_str(), c.user, c.system, c.idle, c.total))
            .collect();
        assert_eq!(
            got,
            [
                ("cpu0", 25.0, 25.0, 50.0, 50.0),
                ("cpu1", 0.0, 0.0, 100.0, 0.0)
            ]
        );
        let stats = HostStatsTracker::new().collect(Path::new("/"), 1000.0);
        assert!(stats.memory.total > 0 && stats.uptime > 0 && !stats.cpu.is_empty());
        assert!(stats.allocation_dir_stats.is_some_and(|d| d.size > 0));
    }
}
