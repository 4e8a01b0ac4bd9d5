//! `update` (rolling deployments) and `migrate` (node drains) strategies.

use serde::{Deserialize, Serialize};

use super::{format_duration, ValidationErrors, MINUTE, SECOND};

/// `update` block, at job or group level. Every field is optional so a group's block can
/// override only what it sets of the job's (Nomad's merge), then defaults fill the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateStrategy {
    /// Nanoseconds. Legacy; Nomad keeps it at 30s.
    pub stagger: Option<i64>,
    pub max_parallel: Option<i64>,
    /// `checks`, `task_states` or `manual`.
    pub health_check: Option<String>,
    /// Nanoseconds.
    pub min_healthy_time: Option<i64>,
    /// Nanoseconds.
    pub healthy_deadline: Option<i64>,
    /// Nanoseconds; 0 disables the deadline.
    pub progress_deadline: Option<i64>,
    pub canary: Option<i64>,
    pub auto_revert: Option<bool>,
    pub auto_promote: Option<bool>,
}

pub const HEALTH_CHECK_CHECKS: &str = "checks";
pub const HEALTH_CHECK_TASK_STATES: &str = "task_states";
pub const HEALTH_CHECK_MANUAL: &str = "manual";

impl UpdateStrategy {
    /// What a service job gets without an `update` block (§3.1).
    pub fn default_strategy() -> Self {
        UpdateStrategy {
            stagger: Some(30 * SECOND),
            max_parallel: Some(1),
            health_check: Some(HEALTH_CHECK_CHECKS.into()),
            min_healthy_time: Some(10 * SECOND),
            healthy_deadline: Some(5 * MINUTE),
            progress_deadline: Some(10 * MINUTE),
            canary: Some(0),
            auto_revert: Some(false),
            auto_promote: Some(false),
        }
    }

    /// `other`'s set fields win.
    pub fn merge(&mut self, other: &UpdateStrategy) {
        macro_rules! take {
            ($($f:ident),*) => {$(if other.$f.is_some() { self.$f = other.$f.clone(); })*};
        }
        take!(
            stagger,
            max_parallel,
            health_check,
            min_healthy_time,
            healthy_deadline,
            progress_deadline,
            canary,
            auto_revert,
            auto_promote
        );
    }

    pub fn fill_defaults(&mut self) {
        let mut out = Self::default_strategy();
        out.merge(self);
        *self = out;
    }

    /// Nomad's `Empty`: nothing set to a non-zero value. A job-level strategy that is
    /// empty is not inherited by groups.
    pub fn is_empty(&self) -> bool {
        let nz = |v: Option<i64>| v.is_some_and(|v| v != 0);
        !(nz(self.stagger)
            || nz(self.max_parallel)
            || self.health_check.as_deref().is_some_and(|h| !h.is_empty())
            || nz(self.min_healthy_time)
            || nz(self.healthy_deadline)
            || nz(self.progress_deadline)
            || self.auto_revert == Some(true)
            || self.auto_promote == Some(true)
            || nz(self.canary))
    }

    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let health_check = self.health_check.as_deref().unwrap_or_default();
        let max_parallel = self.max_parallel.unwrap_or_default();
        let canary = self.canary.unwrap_or_default();
        let min_healthy = self.min_healthy_time.unwrap_or_default();
        let healthy_deadline = self.healthy_deadline.unwrap_or_default();
        let progress_deadline = self.progress_deadline.unwrap_or_default();
        let d = format_duration;
        if ![
            HEALTH_CHECK_CHECKS,
            HEALTH_CHECK_TASK_STATES,
            HEALTH_CHECK_MANUAL,
        ]
        .contains(&health_check)
        {
            errs.push(format!("Invalid health check given: {health_check:?}"));
        }
        if max_parallel < 0 {
            errs.push(format!(
                "Max parallel can not be less than zero: {max_parallel} < 0"
            ));
        }
        if canary < 0 {
            errs.push(format!(
                "Canary count can not be less than zero: {canary} < 0"
            ));
        }
        if canary == 0 && self.auto_promote == Some(true) {
            errs.push("Auto Promote requires a Canary count greater than zero");
        }
        if min_healthy < 0 {
            errs.push(format!(
                "Minimum healthy time may not be less than zero: {}",
                d(min_healthy)
            ));
        }
        if healthy_deadline <= 0 {
            errs.push(format!(
                "Healthy deadline must be greater than zero: {}",
                d(healthy_deadline)
            ));
        }
        if progress_deadline < 0 {
            errs.push(format!(
                "Progress deadline must be zero or greater: {}",
                d(progress_deadline)
            ));
        }
        if min_healthy >= healthy_deadline {
            errs.push(format!(
                "Minimum healthy time must be less than healthy deadline: {} > {}",
                d(min_healthy),
                d(healthy_deadline)
            ));
        }
        if progress_deadline != 0 && healthy_deadline >= progress_deadline {
            errs.push(format!(
                "Healthy deadline must be less than progress deadline: {} > {}",
                d(healthy_deadline),
                d(progress_deadline)
            ));
        }
        if self.stagger.unwrap_or_default() <= 0 {
            errs.push(format!(
                "Stagger must be greater than zero: {}",
                d(self.stagger.unwrap_or_default())
            ));
        }
        errs
    }
}

/// `migrate` block: how allocations leave a draining node (service jobs only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MigrateStrategy {
    pub max_parallel: Option<i64>,
    pub health_check: Option<String>,
    /// Nanoseconds.
    pub min_healthy_time: Option<i64>,
    /// Nanoseconds.
    pub healthy_deadline: Option<i64>,
}

impl MigrateStrategy {
    pub fn default_strategy() -> Self {
        MigrateStrategy {
            max_parallel: Some(1),
            health_check: Some(HEALTH_CHECK_CHECKS.into()),
            min_healthy_time: Some(10 * SECOND),
            healthy_deadline: Some(5 * MINUTE),
        }
    }

    pub fn merge(&mut self, other: &MigrateStrategy) {
        if other.max_parallel.is_some() {
            self.max_parallel = other.max_parallel;
        }
        if other.health_check.is_some() {
            self.health_check.clone_from(&other.health_check);
        }
        if other.min_healthy_time.is_some() {
            self.min_healthy_time = other.min_healthy_time;
        }
        if other.healthy_deadline.is_some() {
            self.healthy_deadline = other.healthy_deadline;
        }
    }

    pub fn fill_defaults(&mut self) {
        let mut out = Self::default_strategy();
        out.merge(self);
        *self = out;
    }

    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let max_parallel = self.max_parallel.unwrap_or_default();
        if max_parallel < 0 {
            errs.push(format!("MaxParallel must be >= 0 but found {max_parallel}"));
        }
        match self.health_check.as_deref().unwrap_or_default() {
            HEALTH_CHECK_CHECKS | HEALTH_CHECK_TASK_STATES => {}
            "" if max_parallel > 0 => errs.push("Missing HealthCheck"),
            "" => {}
            other => errs.push(format!("Invalid HealthCheck: {other:?}")),
        }
        let min_healthy = self.min_healthy_time.unwrap_or_default();
        if min_healthy < 0 {
            errs.push(format!(
                "MinHealthyTime is {} and must be >= 0",
                format_duration(min_healthy)
            ));
        }
        let deadline = self.healthy_deadline.unwrap_or_default();
        if deadline < 0 {
            errs.push(format!(
                "HealthyDeadline is {} and must be >= 0",
                format_duration(deadline)
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_values_override_job_values_then_defaults_fill() {
        let mut job = UpdateStrategy {
            max_parallel: Some(2),
            min_healthy_time: Some(30 * SECOND),
            ..Default::default()
        };
        let group = UpdateStrategy {
            max_parallel: Some(3),
            canary: Some(1),
            ..Default::default()
        };
        job.merge(&group);
        job.fill_defaults();
        assert_eq!(job.max_parallel, Some(3));
        assert_eq!(job.canary, Some(1));
        assert_eq!(job.min_healthy_time, Some(30 * SECOND));
        assert_eq!(job.healthy_deadline, Some(5 * MINUTE));
        assert_eq!(job.health_check.as_deref(), Some("checks"));
        assert_eq!(job.stagger, Some(30 * SECOND));
    }

    #[test]
    fn emptiness_is_nomads() {
        assert!(UpdateStrategy::default().is_empty());
        let zeros = UpdateStrategy {
            max_parallel: Some(0),
            ..Default::default()
        };
        assert!(zeros.is_empty());
        assert!(!UpdateStrategy::default_strategy().is_empty());
    }

    #[test]
    fn validation_catches_deadline_order() {
        assert!(UpdateStrategy::default_strategy().validate().is_empty());
        let bad = UpdateStrategy {
            min_healthy_time: Some(10 * MINUTE),
            ..UpdateStrategy::default_strategy()
        };
        let errs = bad.validate();
        assert!(
            errs.0
                .iter()
                .any(|e| e
                    == "Minimum healthy time must be less than healthy deadline: 10m0s > 5m0s"),
            "{errs:?}"
        );
        let bad = UpdateStrategy {
            health_check: Some("nope".into()),
            auto_promote: Some(true),
            ..UpdateStrategy::default_strategy()
        };
        assert_eq!(bad.validate().0.len(), 2, "{:?}", bad.validate());
    }
}
