//! `restart` (a task's restarts in place) and `reschedule` (a failed allocation's
//! replacement) policies, with Nomad's per-job-type defaults (§3.4, §3.5).

use serde::{Deserialize, Serialize};

use super::{format_duration, ValidationErrors, HOUR, JOB_TYPE_BATCH, JOB_TYPE_SERVICE};
use super::{JOB_TYPE_SYSTEM, MINUTE, SECOND};

/// `restart` block (group or task level; a task's block overrides its group's fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub attempts: Option<i64>,
    /// Nanoseconds.
    pub interval: Option<i64>,
    /// Nanoseconds.
    pub delay: Option<i64>,
    /// `fail` or `delay`.
    pub mode: Option<String>,
    pub render_templates: Option<bool>,
}

pub const RESTART_MODE_FAIL: &str = "fail";
pub const RESTART_MODE_DELAY: &str = "delay";
const RESTART_MIN_INTERVAL: i64 = 5 * SECOND;

impl RestartPolicy {
    /// Service and system jobs: 2 attempts in 30m, 15s apart; batch-like jobs: 3 in 24h.
    pub fn default_for(job_type: &str) -> Self {
        let (attempts, interval) = match job_type {
            JOB_TYPE_SERVICE | JOB_TYPE_SYSTEM => (2, 30 * MINUTE),
            _ => (3, 24 * HOUR),
        };
        RestartPolicy {
            attempts: Some(attempts),
            interval: Some(interval),
            delay: Some(15 * SECOND),
            mode: Some(RESTART_MODE_FAIL.into()),
            render_templates: Some(false),
        }
    }

    pub fn merge(&mut self, other: &RestartPolicy) {
        if other.attempts.is_some() {
            self.attempts = other.attempts;
        }
        if other.interval.is_some() {
            self.interval = other.interval;
        }
        if other.delay.is_some() {
            self.delay = other.delay;
        }
        if other.mode.is_some() {
            self.mode.clone_from(&other.mode);
        }
        if other.render_templates.is_some() {
            self.render_templates = other.render_templates;
        }
    }

    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let mode = self.mode.as_deref().unwrap_or_default();
        let attempts = self.attempts.unwrap_or_default();
        let interval = self.interval.unwrap_or_default();
        let delay = self.delay.unwrap_or_default();
        if mode != RESTART_MODE_DELAY && mode != RESTART_MODE_FAIL {
            errs.push(format!("Unsupported restart mode: {mode:?}"));
        }
        if attempts == 0 && mode != RESTART_MODE_FAIL {
            errs.push(format!(
                "Restart policy {mode:?} with {attempts} attempts is ambiguous"
            ));
        }
        if interval < RESTART_MIN_INTERVAL {
            errs.push(format!(
                "Interval can not be less than {} (got {})",
                format_duration(RESTART_MIN_INTERVAL),
                format_duration(interval)
            ));
        }
        if attempts.saturating_mul(delay) > interval {
            errs.push(format!(
                "Nomad can't restart the TaskGroup {attempts} times in an interval of {} with a delay of {}",
                format_duration(interval),
                format_duration(delay)
            ));
        }
        errs
    }
}

/// `reschedule` block (job or group level; not for system or sysbatch jobs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReschedulePolicy {
    pub attempts: Option<i64>,
    /// Nanoseconds.
    pub interval: Option<i64>,
    /// Nanoseconds.
    pub delay: Option<i64>,
    /// `constant`, `exponential` or `fibonacci`.
    pub delay_function: Option<String>,
    /// Nanoseconds.
    pub max_delay: Option<i64>,
    pub unlimited: Option<bool>,
}

pub const DELAY_FUNCTIONS: [&str; 3] = ["constant", "exponential", "fibonacci"];
const RESCHEDULE_MIN_INTERVAL: i64 = 15 * SECOND;
const RESCHEDULE_MIN_DELAY: i64 = 5 * SECOND;

impl ReschedulePolicy {
    /// Service: unlimited, exponential from 30s up to 1h. Batch: once in 24h after 5s.
    /// Other types get an all-zero policy (they do not reschedule).
    pub fn default_for(job_type: &str) -> Self {
        match job_type {
            JOB_TYPE_SERVICE => ReschedulePolicy {
                attempts: Some(0),
                interval: Some(0),
                delay: Some(30 * SECOND),
                delay_function: Some("exponential".into()),
                max_delay: Some(HOUR),
                unlimited: Some(true),
            },
            JOB_TYPE_BATCH => ReschedulePolicy {
                attempts: Some(1),
                interval: Some(24 * HOUR),
                delay: Some(5 * SECOND),
                delay_function: Some("constant".into()),
                max_delay: Some(0),
                unlimited: Some(false),
            },
            _ => ReschedulePolicy {
                attempts: Some(0),
                interval: Some(0),
                delay: Some(0),
                delay_function: Some(String::new()),
                max_delay: Some(0),
                unlimited: Some(false),
            },
        }
    }

    pub fn merge(&mut self, other: &ReschedulePolicy) {
        if other.attempts.is_some() {
            self.attempts = other.attempts;
        }
        if other.interval.is_some() {
            self.interval = other.interval;
        }
        if other.delay.is_some() {
            self.delay = other.delay;
        }
        if other.delay_function.is_some() {
            self.delay_function.clone_from(&other.delay_function);
        }
        if other.max_delay.is_some() {
            self.max_delay = other.max_delay;
        }
        if other.unlimited.is_some() {
            self.unlimited = other.unlimited;
        }
    }

    pub fn fill_defaults(&mut self, job_type: &str) {
        let mut out = Self::default_for(job_type);
        out.merge(self);
        *self = out;
    }

    /// Whether failed allocations are replaced at all.
    pub fn enabled(&self) -> bool {
        self.attempts.unwrap_or_default() > 0 || self.unlimited == Some(true)
    }

    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        if !self.enabled() {
            return errs;
        }
        let attempts = self.attempts.unwrap_or_default();
        let interval = self.interval.unwrap_or_default();
        let delay = self.delay.unwrap_or_default();
        let max_delay = self.max_delay.unwrap_or_default();
        let unlimited = self.unlimited == Some(true);
        let function = self.delay_function.as_deref().unwrap_or_default();
        let d = format_duration;
        if attempts > 0 {
            if interval <= 0 {
                errs.push("Interval must be a non zero value if Attempts > 0");
            }
            if unlimited {
                errs.push(format!(
                    "Reschedule Policy with Attempts = {attempts}, Interval = {}, and Unlimited = true is ambiguous",
                    d(interval)
                ));
                errs.push("If Attempts >0, Unlimited cannot also be set to true");
            }
        }
        if delay < RESCHEDULE_MIN_DELAY {
            errs.push(format!(
                "Delay cannot be less than {} (got {})",
                d(RESCHEDULE_MIN_DELAY),
                d(delay)
            ));
        }
        if !DELAY_FUNCTIONS.contains(&function) {
            errs.push(format!(
                "Invalid delay function {function:?}, must be one of {DELAY_FUNCTIONS:?}"
            ));
        }
        if function != "constant" {
            if max_delay < RESCHEDULE_MIN_DELAY {
                errs.push(format!(
                    "Max Delay cannot be less than {} (got {})",
                    d(RESCHEDULE_MIN_DELAY),
                    d(max_delay)
                ));
            }
            if max_delay < delay {
                errs.push(format!(
                    "Max Delay cannot be less than Delay {} (got {})",
                    d(delay),
                    d(max_delay)
                ));
            }
        }
        if !unlimited && interval < RESCHEDULE_MIN_INTERVAL {
            errs.push(format!(
                "Interval cannot be less than {} (got {})",
                d(RESCHEDULE_MIN_INTERVAL),
                d(interval)
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_job_type() {
        let service = RestartPolicy::default_for("service");
        assert_eq!(
            (service.attempts, service.interval, service.delay),
            (Some(2), Some(30 * MINUTE), Some(15 * SECOND))
        );
        let batch = RestartPolicy::default_for("batch");
        assert_eq!((batch.attempts, batch.interval), (Some(3), Some(24 * HOUR)));
        assert_eq!(RestartPolicy::default_for("system").attempts, Some(2));
        assert_eq!(RestartPolicy::default_for("sysbatch").attempts, Some(3));

        let service = ReschedulePolicy::default_for("service");
        assert_eq!(service.unlimited, Some(true));
        assert_eq!(service.delay_function.as_deref(), Some("exponential"));
        assert_eq!(service.max_delay, Some(HOUR));
        let batch = ReschedulePolicy::default_for("batch");
        assert_eq!(
            (batch.attempts, batch.interval, batch.delay),
            (Some(1), Some(24 * HOUR), Some(5 * SECOND))
        );
        assert!(service.validate().is_empty());
        assert!(batch.validate().is_empty());
    }

    #[test]
    fn restart_validation() {
        assert!(RestartPolicy::default_for("service").validate().is_empty());
        let bad = RestartPolicy {
            attempts: Some(10),
            interval: Some(MINUTE),
            delay: Some(15 * SECOND),
            mode: Some("sometimes".into()),
            render_templates: Some(false),
        };
        let errs = bad.validate();
        assert_eq!(errs.0.len(), 2, "{errs:?}");
        assert_eq!(errs.0[0], "Unsupported restart mode: \"sometimes\"");
        assert_eq!(
            errs.0[1],
            "Nomad can't restart the TaskGroup 10 times in an interval of 1m0s with a delay of 15s"
        );
    }

    #[test]
    fn reschedule_validation() {
        let bad = ReschedulePolicy {
            attempts: Some(3),
            interval: Some(10 * SECOND),
            delay: Some(SECOND),
            delay_function: Some("linear".into()),
            max_delay: Some(0),
            unlimited: Some(false),
        };
        let errs = bad.validate();
        assert!(errs
            .0
            .iter()
            .any(|e| e.starts_with("Delay cannot be less than 5s")));
        assert!(errs
            .0
            .iter()
            .any(|e| e.starts_with("Invalid delay function \"linear\"")));
        assert!(errs
            .0
            .iter()
            .any(|e| e.starts_with("Interval cannot be less than 15s")));
    }
}
