//! Usage of one task's cgroup, with units in the types, and the CPU-percent sampler that
//! turns two readings into Nomad's `Percent` and `TotalTicks`.
//!
//! Fields the kernel may not provide (older kernels, swap accounting off, controller not
//! enabled) are `Option`s: `None` means "not measured", never 0.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::resources::Bytes;

/// One reading of a task cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Memory usage.
    pub memory: MemoryStats,
    /// CPU time.
    pub cpu: CpuStats,
    /// Process count; `None` without the pids controller.
    pub pids: Option<PidsStats>,
}

/// Memory usage of a task cgroup.
///
/// | field | v2 | v1 |
/// |---|---|---|
/// | `usage` | `memory.current` | `memory.usage_in_bytes` |
/// | `max_usage` | `memory.peak` (≥ 5.19) | `memory.max_usage_in_bytes` |
/// | `rss` | `memory.stat anon` | `memory.stat total_rss` |
/// | `cache` | `memory.stat file` | `memory.stat total_cache` |
/// | `mapped_file` | `memory.stat file_mapped` | `memory.stat total_mapped_file` |
/// | `swap` | `memory.swap.current` | `memory.stat total_swap` (swap accounting on) |
/// | `kernel_usage` | `memory.stat kernel` (≥ 5.18) | `memory.kmem.usage_in_bytes` |
/// | `kernel_max_usage` | — | `memory.kmem.max_usage_in_bytes` |
/// | `working_set` | `usage − inactive_file` | `usage − total_inactive_file` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// All memory charged to the cgroup, page cache and kernel memory included.
    pub usage: Bytes,
    /// Peak of `usage`.
    pub max_usage: Option<Bytes>,
    /// Anonymous memory (Nomad's `RSS`).
    pub rss: Bytes,
    /// Page cache (Nomad's `Cache`).
    pub cache: Bytes,
    /// Page cache mapped into processes.
    pub mapped_file: Bytes,
    /// Swap used, swap only. Nomad's `Swap` field is memory + swap (v1 `memsw`, and runc
    /// emulates that on v2): see [`MemoryStats::nomad_swap`].
    pub swap: Option<Bytes>,
    /// Kernel memory charged to the cgroup.
    pub kernel_usage: Option<Bytes>,
    /// Peak of kernel memory (v1 only).
    pub kernel_max_usage: Option<Bytes>,
    /// `usage` minus inactive page cache: what Docker, cAdvisor and the kubelet call the
    /// working set.
    pub working_set: Bytes,
}

impl MemoryStats {
    /// The value Nomad reports as `Swap`: memory + swap usage, as v1's
    /// `memory.memsw.usage_in_bytes` and runc's v2 emulation give it.
    pub fn nomad_swap(&self) -> Option<Bytes> {
        self.swap
            .map(|swap| Bytes(self.usage.0.saturating_add(swap.0)))
    }
}

/// CPU time consumed by a task cgroup, all in [`Duration`]s whatever unit the kernel used
/// (v2 `cpu.stat` µs; v1 `cpuacct.usage` ns, `cpuacct.stat` USER_HZ ticks, `cpu.stat`
/// `throttled_time` ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time.
    pub total: Duration,
    /// Time in user mode.
    pub user: Duration,
    /// Time in kernel mode.
    pub system: Duration,
    /// CFS bandwidth throttling; `None` when the kernel does not report it (v2 without the
    /// cpu controller enabled).
    pub throttling: Option<CpuThrottling>,
}

/// CFS bandwidth-control counters (only move when a hard CPU limit is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuThrottling {
    /// Enforcement periods elapsed while the cgroup was runnable (`nr_periods`).
    pub periods: u64,
    /// Periods in which the cgroup hit its quota (`nr_throttled`; Nomad's
    /// `ThrottledPeriods`).
    pub throttled_periods: u64,
    /// Total time spent throttled (Nomad's `ThrottledTime`).
    pub throttled_time: Duration,
}

/// Process count of a task cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Tasks (threads included) in the cgroup now (`pids.current`).
    pub current: u64,
    /// `pids.max`; `None` = unlimited.
    pub limit: Option<u64>,
    /// How many forks failed because of `pids.max` (`pids.events max`), when reported.
    pub limit_hits: Option<u64>,
}

/// CPU use over the time between two samples, in percent of one core (100 = one full
/// core; 150 = one and a half), like Nomad's `CpuStats.Percent`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuPercent {
    /// User + system.
    pub total: f64,
    /// User mode.
    pub user: f64,
    /// Kernel mode.
    pub system: f64,
}

impl CpuPercent {
    /// Nomad's `TotalTicks`, the "MHz used" of `nomad alloc status`:
    /// `total / 100 × mhz_per_core`, where Nomad takes `mhz_per_core` = the node's total
    /// compute (MHz) divided by its core count.
    ///
    /// ```
    /// use drover_driver::cgroup::CpuPercent;
    /// let p = CpuPercent { total: 50.0, user: 40.0, system: 10.0 };
    /// assert_eq!(p.total_ticks(2400.0), 1200.0);
    /// ```
    pub fn total_ticks(&self, mhz_per_core: f64) -> f64 {
        self.total / 100.0 * mhz_per_core
    }
}

/// Keeps the previous CPU reading of one task and turns the next one into a [`CpuPercent`].
///
/// The first sample (and a sample after the counters went backwards, i.e. a new cgroup)
/// gives 0 %, as Nomad does.
///
/// ```
/// use std::time::{Duration, Instant};
/// use drover_driver::cgroup::{CpuSampler, CpuStats};
/// let at = Instant::now();
/// let cpu = |ms| CpuStats {
///     total: Duration::from_millis(ms),
///     user: Duration::from_millis(ms),
///     system: Duration::ZERO,
///     throttling: None,
/// };
/// let mut sampler = CpuSampler::new();
/// assert_eq!(sampler.sample_at(&cpu(0), at).total, 0.0);
/// let second = sampler.sample_at(&cpu(500), at + Duration::from_secs(1));
/// assert_eq!(second.total, 50.0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CpuSampler {
    previous: Option<Sample>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    total: Duration,
    user: Duration,
    system: Duration,
}

impl CpuSampler {
    /// A sampler with no previous reading.
    pub fn new() -> Self {
        Self::default()
    }

    /// Percentages since the previous sample, taking `cpu` as read now.
    pub fn sample(&mut self, cpu: &CpuStats) -> CpuPercent {
        self.sample_at(cpu, Instant::now())
    }

    /// Percentages since the previous sample, taking `cpu` as read at `at`.
    pub fn sample_at(&mut self, cpu: &CpuStats, at: Instant) -> CpuPercent {
        let current = Sample {
            at,
            total: cpu.total,
            user: cpu.user,
            system: cpu.system,
        };
        let previous = self.previous.replace(current);
        let Some(previous) = previous else {
            return CpuPercent::default();
        };
        let wall = at.saturating_duration_since(previous.at);
        if wall.is_zero() || cpu.total < previous.total {
            return CpuPercent::default();
        }
        let percent = |now: Duration, before: Duration| {
            now.saturating_sub(before).as_secs_f64() / wall.as_secs_f64() * 100.0
        };
        CpuPercent {
            total: percent(current.total, previous.total),
            user: percent(current.user, previous.user),
            system: percent(current.system, previous.system),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(total_ms: u64, user_ms: u64, system_ms: u64) -> CpuStats {
        CpuStats {
            total: Duration::from_millis(total_ms),
            user: Duration::from_millis(user_ms),
            system: Duration::from_millis(system_ms),
            throttling: None,
        }
    }

    #[test]
    fn sampler_percent_of_one_core() {
        let start = Instant::now();
        let mut sampler = CpuSampler::new();
        assert_eq!(
            sampler.sample_at(&cpu(100, 60, 40), start),
            CpuPercent::default()
        );

        // 1.5 s of CPU over 1 s of wall time: one and a half cores.
        let p = sampler.sample_at(&cpu(1600, 1260, 340), start + Duration::from_secs(1));
        assert!((p.total - 150.0).abs() < 1e-9, "{p:?}");
        assert!((p.user - 120.0).abs() < 1e-9, "{p:?}");
        assert!((p.system - 30.0).abs() < 1e-9, "{p:?}");
        assert!((p.total_ticks(2000.0) - 3000.0).abs() < 1e-9);

        // Idle for 2 s.
        let idle = sampler.sample_at(&cpu(1600, 1260, 340), start + Duration::from_secs(3));
        assert_eq!(idle.total, 0.0);

        // 250 ms over 500 ms.
        let half = sampler.sample_at(&cpu(1850, 1460, 390), start + Duration::from_millis(3500));
        assert!((half.total - 50.0).abs() < 1e-9, "{half:?}");
    }

    #[test]
    fn sampler_resets_on_counter_going_back_and_zero_wall_time() {
        let start = Instant::now();
        let mut sampler = CpuSampler::new();
        sampler.sample_at(&cpu(5000, 4000, 1000), start);
        let same_instant = sampler.sample_at(&cpu(6000, 5000, 1000), start);
        assert_eq!(same_instant, CpuPercent::default());
        let reset = sampler.sample_at(&cpu(10, 10, 0), start + Duration::from_secs(1));
        assert_eq!(reset, CpuPercent::default());
        let next = sampler.sample_at(&cpu(510, 10, 500), start + Duration::from_secs(2));
        assert!((next.total - 50.0).abs() < 1e-9);
        assert!((next.system - 50.0).abs() < 1e-9);
    }

    #[test]
    fn nomad_swap_is_memory_plus_swap() {
        let stats = MemoryStats {
            usage: Bytes(100),
            max_usage: None,
            rss: Bytes(60),
            cache: Bytes(40),
            mapped_file: Bytes(0),
            swap: Some(Bytes(7)),
            kernel_usage: None,
            kernel_max_usage: None,
            working_set: Bytes(90),
        };
        assert_eq!(stats.nomad_swap(), Some(Bytes(107)));
        assert_eq!(
            MemoryStats {
                swap: None,
                ..stats
            }
            .nomad_swap(),
            None
        );
    }
}
