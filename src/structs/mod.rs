//! Nomad's API objects as drover stores and serves them: the JSON shape of Nomad's HTTP
//! API (PascalCase names, durations as integer nanoseconds), with Nomad's defaults
//! (`Job::canonicalize`) and checks (`Job::validate`).
//!
//! Decoding is lenient the way Nomad's is: unknown fields are ignored (API clients send
//! more than drover models) and absent fields take their zero value. Go clients send
//! `null` for unset pointers, so JSON from outside goes through [`job_from_api_json`],
//! which drops nulls before decoding. Fields whose "unset" differs from zero (a group's
//! `Count`, policy fields merged from job to group, resources) are `Option`s; after
//! `canonicalize` they are all `Some`.

mod alloc;
mod constraint;
mod deployment;
pub mod diff;
mod eval;
mod files;
mod group;
mod job;
mod network;
mod node;
mod policy;
mod resources;
mod service;
mod stats;
mod task;
pub mod time;
mod update;
mod validate;

pub use alloc::*;
pub use constraint::{Affinity, Constraint, Spread, SpreadTarget};
pub use deployment::*;
pub use eval::*;
pub use files::{ChangeScript, TaskArtifact, Template, WaitConfig};
pub use group::{DisconnectStrategy, EphemeralDisk, ScalingPolicy, TaskGroup, VolumeRequest};
pub use job::{
    job_from_api_json, Job, JobRequest, JobUiConfig, JobUiLink, ParameterizedJobConfig,
    PeriodicConfig,
};
pub use network::{CniConfig, DnsConfig, NetworkResource, Port};
pub use node::*;
pub use policy::{ReschedulePolicy, RestartPolicy, RESTART_MODE_DELAY, RESTART_MODE_FAIL};
pub use resources::{RequestedDevice, Resources};
pub use service::{CheckRestart, Service, ServiceCheck};
pub use stats::*;
pub use task::{
    DispatchPayloadConfig, LogConfig, Task, TaskLifecycle, VolumeMount, WorkloadIdentity,
};
pub use update::{
    MigrateStrategy, UpdateStrategy, HEALTH_CHECK_CHECKS, HEALTH_CHECK_MANUAL,
    HEALTH_CHECK_TASK_STATES,
};
pub use validate::ValidationErrors;

/// Go's `time.Duration` units, for the integer-nanosecond fields.
pub const SECOND: i64 = 1_000_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;

/// Job types (`Job.Type`).
pub const JOB_TYPE_SERVICE: &str = "service";
pub const JOB_TYPE_BATCH: &str = "batch";
pub const JOB_TYPE_SYSTEM: &str = "system";
pub const JOB_TYPE_SYSBATCH: &str = "sysbatch";

/// Formats nanoseconds the way Go's `time.Duration.String` does (`1h0m0s`, `10s`,
/// `1.5s`, `300ms`): validation messages quote durations in this form.
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, div) = match u {
            0..=999 => ("ns", 1),
            1_000..=999_999 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        out.push_str(&fraction(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let s_ns = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h{m}m"));
        } else if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&fraction(s_ns, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `n / div` with the fraction's trailing zeros dropped (`1500, 1000` -> `1.5`).
fn fraction(n: u64, div: u64) -> String {
    let whole = n / div;
    let rest = n % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (0, "0s"),
            (10 * SECOND, "10s"),
            (5 * MINUTE, "5m0s"),
            (HOUR, "1h0m0s"),
            (24 * HOUR, "24h0m0s"),
            (1_500_000_000, "1.5s"),
            (300_000_000, "300ms"),
            (1_500, "1.5µs"),
            (-15 * SECOND, "-15s"),
            (90 * MINUTE + 5 * SECOND, "1h30m5s"),
        ];
        for (ns, want) in cases {
            assert_eq!(format_duration(ns), want, "{ns}");
        }
    }
}
