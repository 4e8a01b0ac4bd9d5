//! Limits for one task, with their units in the types, and the conversions from Nomad's
//! `resources` block (`cpu` MHz, `cores`, `memory`, `memory_max`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{CgroupError, Result};

/// A size in bytes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Bytes(pub u64);

impl Bytes {
    /// `mib` mebibytes (Nomad's `memory = 256` is 256 MiB), saturating.
    ///
    /// ```
    /// use drover_driver::cgroup::Bytes;
    /// assert_eq!(Bytes::from_mib(32).get(), 32 * 1024 * 1024);
    /// ```
    pub const fn from_mib(mib: u64) -> Self {
        Self(mib.saturating_mul(1024 * 1024))
    }

    /// The number of bytes.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self - other`, or zero.
    pub const fn saturating_sub(self, other: Bytes) -> Bytes {
        Bytes(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}

/// v1 CPU shares (`cpu.shares`): a relative weight in [2, 262144], default 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CpuShares(u64);

impl CpuShares {
    /// The smallest value the kernel accepts.
    pub const MIN: u64 = 2;
    /// The largest value the kernel accepts.
    pub const MAX: u64 = 262_144;
    /// The kernel's default.
    pub const DEFAULT: CpuShares = CpuShares(1024);

    /// Shares from a Nomad task's `cpu` (MHz): Nomad writes the MHz value as the shares,
    /// clamped to what the kernel accepts.
    ///
    /// (Nomad also scales shares down when the node's total MHz exceeds 262,144 so that
    /// relative weights stay proportional; that is the client's job, which knows the node.)
    ///
    /// ```
    /// use drover_driver::cgroup::CpuShares;
    /// assert_eq!(CpuShares::from_mhz(500).get(), 500);
    /// assert_eq!(CpuShares::from_mhz(1).get(), 2);
    /// assert_eq!(CpuShares::from_mhz(1_000_000).get(), 262_144);
    /// ```
    pub const fn from_mhz(mhz: u64) -> Self {
        Self(if mhz < Self::MIN {
            Self::MIN
        } else if mhz > Self::MAX {
            Self::MAX
        } else {
            mhz
        })
    }

    /// The raw value written to v1 `cpu.shares`.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The v2 `cpu.weight` for these shares, with the conversion of runc ≥ 1.3.2 /
    /// opencontainers/cgroups ≥ 0.0.3 (which Nomad ≥ 1.11.3 bundles):
    /// `ceil(10^((L² + 125·L)/612 − 7/34))` with `L = log2(shares)`, which maps the three
    /// anchors exactly: 2 → 1, 1024 (both defaults) → 100, 262144 → 10000.
    ///
    /// ```
    /// use drover_driver::cgroup::CpuShares;
    /// assert_eq!(CpuShares::from_mhz(1024).to_weight().get(), 100);
    /// assert_eq!(CpuShares::from_mhz(500).to_weight().get(), 58);
    /// ```
    pub fn to_weight(self) -> CpuWeight {
        if self.0 <= Self::MIN {
            return CpuWeight(CpuWeight::MIN);
        }
        if self.0 >= Self::MAX {
            return CpuWeight(CpuWeight::MAX);
        }
        let l = (self.0 as f64).log2();
        let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
        let weight = 10f64.powf(exponent).ceil() as u64;
        CpuWeight(weight.clamp(CpuWeight::MIN, CpuWeight::MAX))
    }
}

/// v2 CPU weight (`cpu.weight`): a relative weight in [1, 10000], default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CpuWeight(u64);

impl CpuWeight {
    /// The smallest value the kernel accepts.
    pub const MIN: u64 = 1;
    /// The largest value the kernel accepts.
    pub const MAX: u64 = 10_000;

    /// The raw value written to `cpu.weight`.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A hard CPU cap: at most `quota` of CPU time per `period` (v2 `cpu.max`, v1
/// `cpu.cfs_quota_us` / `cpu.cfs_period_us`). Nomad itself sets no cap; this is for drivers
/// or operators that want one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuLimit {
    quota: Duration,
    period: Duration,
}

impl CpuLimit {
    /// The kernel's default period (100 ms).
    pub const DEFAULT_PERIOD: Duration = Duration::from_millis(100);
    /// Smallest quota and period the kernel accepts (1 ms).
    pub const MIN: Duration = Duration::from_millis(1);
    /// Largest period the kernel accepts (1 s).
    pub const MAX_PERIOD: Duration = Duration::from_secs(1);

    /// `quota` of CPU time every `period`; both whole microseconds, `period` in [1 ms, 1 s],
    /// `quota` ≥ 1 ms (it may exceed the period: 200 ms per 100 ms is two cores).
    pub fn new(quota: Duration, period: Duration) -> Result<Self> {
        let invalid = |reason: String| Err(CgroupError::InvalidResources { reason });
        if period < Self::MIN || period > Self::MAX_PERIOD {
            return invalid(format!("cpu period {period:?} is outside [1ms, 1s]"));
        }
        if quota < Self::MIN {
            return invalid(format!("cpu quota {quota:?} is below 1ms"));
        }
        let whole_micros = |d: Duration| d.subsec_nanos() == d.subsec_micros() * 1000;
        if !whole_micros(quota) || !whole_micros(period) {
            return invalid(format!(
                "cpu quota {quota:?} and period {period:?} must be whole microseconds"
            ));
        }
        Ok(Self { quota, period })
    }

    /// A cap of `cores` CPUs (e.g. 0.5 = half a core) over the default 100 ms period.
    ///
    /// ```
    /// use std::time::Duration;
    /// use drover_driver::cgroup::CpuLimit;
    /// let half = CpuLimit::cores(0.5).unwrap();
    /// assert_eq!(half.quota(), Duration::from_millis(50));
    /// ```
    pub fn cores(cores: f64) -> Result<Self> {
        if !cores.is_finite() || cores <= 0.0 {
            return Err(CgroupError::InvalidResources {
                reason: format!("cpu limit of {cores} cores"),
            });
        }
        let period_us = Self::DEFAULT_PERIOD.as_micros() as f64;
        let quota = Duration::from_micros((cores * period_us).round() as u64);
        Self::new(quota, Self::DEFAULT_PERIOD)
    }

    /// CPU time allowed per period.
    pub fn quota(&self) -> Duration {
        self.quota
    }

    /// The accounting period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// A CPU list in the kernel's `cpuset.cpus` syntax, e.g. `0-3,6` (Nomad's `cores` become one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CpuSet(String);

impl CpuSet {
    /// Checks the syntax (`N`, `N-M` with N ≤ M, comma separated, no spaces).
    ///
    /// ```
    /// use drover_driver::cgroup::CpuSet;
    /// assert_eq!(CpuSet::parse("0-1,3").unwrap().as_str(), "0-1,3");
    /// assert!(CpuSet::parse("1-0").is_err());
    /// ```
    pub fn parse(list: &str) -> Result<Self> {
        let invalid = || CgroupError::InvalidResources {
            reason: format!("cpuset {list:?} is not a cpu list like \"0-2,4\""),
        };
        if list.is_empty() {
            return Err(invalid());
        }
        for part in list.split(',') {
            let (low, high) = part.split_once('-').unwrap_or((part, part));
            let low: u32 = parse_cpu(low).ok_or_else(invalid)?;
            let high: u32 = parse_cpu(high).ok_or_else(invalid)?;
            if low > high {
                return Err(invalid());
            }
        }
        Ok(Self(list.to_owned()))
    }

    /// The list for these CPU ids, ranges collapsed (`[0, 1, 2, 5]` → `0-2,5`).
    ///
    /// ```
    /// use drover_driver::cgroup::CpuSet;
    /// assert_eq!(CpuSet::from_cores(&[5, 0, 1, 2]).unwrap().as_str(), "0-2,5");
    /// ```
    pub fn from_cores(cores: &[u32]) -> Result<Self> {
        let mut cores = cores.to_vec();
        cores.sort_unstable();
        cores.dedup();
        let mut parts = Vec::new();
        let mut iter = cores.into_iter().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            parts.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
        }
        Self::parse(&parts.join(","))
    }

    /// The list as written to `cpuset.cpus`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_cpu(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl TryFrom<String> for CpuSet {
    type Error = CgroupError;
    fn try_from(list: String) -> Result<Self> {
        Self::parse(&list)
    }
}

impl From<CpuSet> for String {
    fn from(set: CpuSet) -> String {
        set.0
    }
}

impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Memory limits of a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryLimits {
    /// Hard limit: the task is OOM-killed above it (v2 `memory.max`, v1
    /// `memory.limit_in_bytes`). `None` = unlimited.
    pub hard: Option<Bytes>,
    /// Soft reservation (v2 `memory.low`, v1 `memory.soft_limit_in_bytes`): with
    /// oversubscription this is what the scheduler reserved. `None` = not set.
    ///
    /// The two versions differ: v2 `memory.low` *protects* this much memory from reclaim;
    /// v1's soft limit is where reclaim *prefers* to push the group back to under pressure.
    pub reservation: Option<Bytes>,
}

impl MemoryLimits {
    /// Nomad's mapping of `memory` / `memory_max` (both MiB):
    /// - `memory_max = 0` (not set): hard limit = `memory`, no reservation;
    /// - `memory_max > 0`: hard limit = `memory_max`, reservation = `memory`;
    /// - `memory_max = -1`: no hard limit, reservation = `memory`.
    ///
    /// Other negative values are refused (Nomad's job validation refuses them too).
    ///
    /// ```
    /// use drover_driver::cgroup::{Bytes, MemoryLimits};
    /// let m = MemoryLimits::from_nomad(256, 1024).unwrap();
    /// assert_eq!(m.hard, Some(Bytes::from_mib(1024)));
    /// assert_eq!(m.reservation, Some(Bytes::from_mib(256)));
    /// ```
    pub fn from_nomad(memory_mb: u64, memory_max_mb: i64) -> Result<Self> {
        let memory = Bytes::from_mib(memory_mb);
        match memory_max_mb {
            0 => Ok(Self {
                hard: Some(memory),
                reservation: None,
            }),
            -1 => Ok(Self {
                hard: None,
                reservation: Some(memory),
            }),
            max if max > 0 => Ok(Self {
                hard: Some(Bytes::from_mib(max as u64)),
                reservation: Some(memory),
            }),
            other => Err(CgroupError::InvalidResources {
                reason: format!("memory_max {other} (must be -1, 0 or a size in MiB)"),
            }),
        }
    }
}

/// Whether the task may use swap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Swap {
    /// No swap (the default, as in Nomad): v2 `memory.swap.max = 0`; v1
    /// `memory.swappiness = 0` (what Nomad writes) and, when swap accounting exists and
    /// there is a hard limit, `memory.memsw.limit_in_bytes` = the hard limit, which rules
    /// swap out entirely rather than only discouraging it.
    #[default]
    Disabled,
    /// Leave the kernel's defaults (swap allowed).
    Allowed,
}

/// Everything [`super::Cgroup::create`] writes. `None` fields are left at the kernel's
/// defaults (unlimited / inherited).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Relative CPU weight (v1 `cpu.shares`, v2 `cpu.weight` converted).
    pub cpu_shares: Option<CpuShares>,
    /// Hard CPU cap.
    pub cpu_limit: Option<CpuLimit>,
    /// CPUs the task may run on (Nomad `cores`).
    pub cpuset: Option<CpuSet>,
    /// Memory limits.
    pub memory: MemoryLimits,
    /// Swap policy.
    pub swap: Swap,
    /// Maximum number of processes/threads (`pids.max`).
    pub pids_max: Option<u64>,
}

impl Resources {
    /// Resources for a Nomad task: `cpu` MHz → shares, reserved `cores` → cpuset,
    /// `memory`/`memory_max` MiB → [`MemoryLimits::from_nomad`], swap disabled.
    pub fn from_nomad(
        cpu_mhz: u64,
        cores: Option<CpuSet>,
        memory_mb: u64,
        memory_max_mb: i64,
    ) -> Result<Self> {
        Ok(Self {
            cpu_shares: Some(CpuShares::from_mhz(cpu_mhz)),
            cpuset: cores,
            memory: MemoryLimits::from_nomad(memory_mb, memory_max_mb)?,
            ..Self::default()
        })
    }

    /// Checks combinations the types cannot express.
    pub fn validate(&self) -> Result<()> {
        if let (Some(hard), Some(reservation)) = (self.memory.hard, self.memory.reservation) {
            if reservation > hard {
                return Err(CgroupError::InvalidResources {
                    reason: format!(
                        "memory reservation {reservation} is above the hard limit {hard}"
                    ),
                });
            }
        }
        if self.pids_max == Some(0) {
            return Err(CgroupError::InvalidResources {
                reason: "pids_max 0 would not even allow the task's first process".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_anchors_and_reference_values() {
        let weight = |shares| CpuShares::from_mhz(shares).to_weight().get();
        // Anchors of the runc >= 1.3.2 formula: both defaults and both ends.
        assert_eq!(weight(1024), 100);
        assert_eq!(weight(2), 1);
        assert_eq!(weight(262_144), 10_000);
        // Values from the reference (the old linear formula gave 39, 19, 4).
        assert_eq!(weight(500), 58);
        assert_eq!(weight(100), 17);
        // Clamped inputs.
        assert_eq!(weight(0), 1);
        assert_eq!(weight(1), 1);
        assert_eq!(weight(10_000_000), 10_000);
        assert_eq!(weight(262_143), 10_000);
        // Monotonic over the whole range.
        let mut last = 0;
        for shares in (2..=262_144).step_by(97) {
            let w = weight(shares);
            assert!(w >= last, "weight({shares}) = {w} < {last}");
            assert!((1..=10_000).contains(&w));
            last = w;
        }
    }

    #[test]
    fn shares_clamp_like_nomad() {
        assert_eq!(CpuShares::from_mhz(0).get(), 2);
        assert_eq!(CpuShares::from_mhz(2).get(), 2);
        assert_eq!(CpuShares::from_mhz(262_144).get(), 262_144);
        assert_eq!(CpuShares::from_mhz(262_145).get(), 262_144);
        assert_eq!(CpuShares::DEFAULT.to_weight().get(), 100);
    }

    #[test]
    fn cpu_limit_bounds() {
        let limit = CpuLimit::new(Duration::from_millis(200), Duration::from_millis(100)).unwrap();
        assert_eq!(limit.quota(), Duration::from_millis(200));
        assert!(CpuLimit::new(Duration::from_micros(999), CpuLimit::DEFAULT_PERIOD).is_err());
        assert!(CpuLimit::new(Duration::from_millis(5), Duration::from_secs(2)).is_err());
        assert!(CpuLimit::new(Duration::from_nanos(1_000_500), CpuLimit::DEFAULT_PERIOD).is_err());
        assert_eq!(
            CpuLimit::cores(1.5).unwrap().quota(),
            Duration::from_millis(150)
        );
        assert!(CpuLimit::cores(0.0).is_err());
        assert!(CpuLimit::cores(f64::NAN).is_err());
    }

    #[test]
    fn cpusets() {
        for ok in ["0", "0-1", "0,2", "0-3,5,7-8", "12"] {
            assert_eq!(CpuSet::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "a", "0-", "-1", "1-0", "0,,1", "0 1", "0-1-2", "+1"] {
            assert!(CpuSet::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(CpuSet::from_cores(&[3]).unwrap().as_str(), "3");
        assert_eq!(
            CpuSet::from_cores(&[0, 1, 1, 3, 4, 6]).unwrap().as_str(),
            "0-1,3-4,6"
        );
        assert!(CpuSet::from_cores(&[]).is_err());
    }

    #[test]
    fn nomad_memory_mapping() {
        let plain = MemoryLimits::from_nomad(300, 0).unwrap();
        assert_eq!(plain.hard, Some(Bytes::from_mib(300)));
        assert_eq!(plain.reservation, None);

        let over = MemoryLimits::from_nomad(256, 512).unwrap();
        assert_eq!(over.hard, Some(Bytes(512 << 20)));
        assert_eq!(over.reservation, Some(Bytes(256 << 20)));

        let unlimited = MemoryLimits::from_nomad(256, -1).unwrap();
        assert_eq!(unlimited.hard, None);
        assert_eq!(unlimited.reservation, Some(Bytes(256 << 20)));

        assert!(MemoryLimits::from_nomad(256, -2).is_err());
    }

    #[test]
    fn validation() {
        let mut resources = Resources::from_nomad(500, None, 512, 256).unwrap();
        let err = resources.validate().unwrap_err();
        assert!(err.to_string().contains("above the hard limit"), "{err}");
        resources.memory = MemoryLimits::from_nomad(256, 512).unwrap();
        resources.validate().unwrap();
        resources.pids_max = Some(0);
        assert!(resources.validate().is_err());
        assert_eq!(resources.swap, Swap::Disabled);
    }
}
