//! `service` blocks (group or task level) and their `check`s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{format_duration, ValidationErrors, SECOND};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Service {
    /// Default `<job>-<group>[-<task>]`; `${JOB}`, `${TASKGROUP}`, `${TASK}` and
    /// `${BASE}` are replaced when the job is canonicalized.
    pub name: String,
    pub task_name: String,
    /// A port label from the group network (or a number with `address_mode = "driver"`).
    pub port_label: String,
    /// `auto` (default), `host`, `driver`, `alloc`, `alloc_ipv6`.
    pub address_mode: String,
    pub address: String,
    pub enable_tag_override: bool,
    pub tags: Vec<String>,
    pub canary_tags: Vec<String>,
    pub checks: Vec<ServiceCheck>,
    pub meta: BTreeMap<String, String>,
    pub canary_meta: BTreeMap<String, String>,
    pub tagged_addresses: BTreeMap<String, String>,
    pub namespace: String,
    /// `require_healthy` (default), `ignore_warnings`, `ignore`.
    pub on_update: String,
    /// `consul` (Nomad's default) or `nomad`.
    pub provider: String,
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_restart: Option<CheckRestart>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceCheck {
    pub name: String,
    /// `http`, `tcp`, `grpc`, `script`.
    #[serde(rename = "Type")]
    pub check_type: String,
    pub command: String,
    pub args: Vec<String>,
    pub path: String,
    pub protocol: String,
    pub port_label: String,
    pub expose: bool,
    pub address_mode: String,
    /// Nanoseconds.
    pub interval: i64,
    /// Nanoseconds.
    pub timeout: i64,
    pub initial_status: String,
    #[serde(rename = "TLSServerName")]
    pub tls_server_name: String,
    #[serde(rename = "TLSSkipVerify")]
    pub tls_skip_verify: bool,
    pub method: String,
    pub header: BTreeMap<String, Vec<String>>,
    pub check_restart: Option<CheckRestart>,
    #[serde(rename = "GRPCService")]
    pub grpc_service: String,
    #[serde(rename = "GRPCUseTLS")]
    pub grpc_use_tls: bool,
    pub task_name: String,
    pub success_before_passing: i64,
    pub failures_before_critical: i64,
    pub failures_before_warning: i64,
    pub body: String,
    pub on_update: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CheckRestart {
    pub limit: i64,
    /// Nanoseconds; default 1s.
    pub grace: Option<i64>,
    pub ignore_warnings: bool,
}

pub const PROVIDER_CONSUL: &str = "consul";
pub const PROVIDER_NOMAD: &str = "nomad";
const ON_UPDATE: [&str; 3] = ["require_healthy", "ignore_warnings", "ignore"];
const MIN_CHECK_INTERVAL: i64 = SECOND;

impl Service {
    /// `task` is `None` for a group-level service.
    pub fn canonicalize(&mut self, job: &str, group: &str, task: Option<&str>, namespace: &str) {
        let task_label = task.unwrap_or("group");
        if self.name.is_empty() {
            self.name = match task {
                Some(t) => format!("{job}-{group}-{t}"),
                None => format!("{job}-{group}"),
            };
        }
        if self.task_name.is_empty() {
            if let Some(t) = task {
                self.task_name = t.into();
            }
        }
        let base = format!("{job}-{group}-{task_label}");
        self.name = self
            .name
            .replace("${JOB}", job)
            .replace("${TASKGROUP}", group)
            .replace("${TASK}", task_label)
            .replace("${BASE}", &base);
        if self.address_mode.is_empty() {
            self.address_mode = "auto".into();
        }
        if self.on_update.is_empty() {
            self.on_update = ON_UPDATE[0].into();
        }
        if self.provider.is_empty() {
            self.provider = PROVIDER_CONSUL.into();
        }
        if self.cluster.is_empty() {
            self.cluster = "default".into();
        }
        if self.provider == PROVIDER_NOMAD {
            self.namespace = namespace.into();
        } else if self.namespace.is_empty() {
            self.namespace = "default".into();
        }
        let service_restart = self.check_restart.take();
        for check in &mut self.checks {
            let mut restart = match (&service_restart, check.check_restart.take()) {
                (Some(s), Some(c)) => Some(CheckRestart {
                    limit: if c.limit > 0 { c.limit } else { s.limit },
                    grace: c.grace.or(s.grace),
                    ignore_warnings: c.ignore_warnings || s.ignore_warnings,
                }),
                (s, c) => c.or_else(|| s.clone()),
            };
            if let Some(r) = &mut restart {
                r.grace.get_or_insert(SECOND);
            }
            check.check_restart = restart;
            if check.name.is_empty() {
                check.name = format!("service: {:?} check", self.name);
            }
            if check.task_name.is_empty() {
                if let Some(t) = task {
                    check.task_name = t.into();
                }
            }
            if check.on_update.is_empty() {
                check.on_update.clone_from(&self.on_update);
            }
            check.success_before_passing = check.success_before_passing.max(0);
            check.failures_before_critical = check.failures_before_critical.max(0);
            check.failures_before_warning = check.failures_before_warning.max(0);
        }
    }

    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        if !valid_service_name(&strip_interpolations(&self.name)) {
            errs.push(format!(
                "Service name must be valid per RFC 1123 and can contain only alphanumeric characters or dashes and must be no longer than 63 characters: {:?}",
                self.name
            ));
        }
        match self.address_mode.as_str() {
            "" | "auto" => {}
            "host" | "driver" | "alloc" | "alloc_ipv6" => {
                if !self.address.is_empty() {
                    errs.push("Service address_mode must be \"auto\" if address is set");
                }
            }
            other => errs.push(format!(
                "Service address_mode must be \"auto\", \"host\", or \"driver\"; not {other:?}"
            )),
        }
        if !self.on_update.is_empty() && !ON_UPDATE.contains(&self.on_update.as_str()) {
            errs.push(format!(
                "Service on_update must be \"require_healthy\", \"ignore_warnings\", or \"ignore\"; not {:?}",
                self.on_update
            ));
        }
        let allowed: &[&str] = match self.provider.as_str() {
            PROVIDER_CONSUL => &["grpc", "tcp", "http", "script"],
            PROVIDER_NOMAD => &["tcp", "http"],
            other => {
                errs.push(format!(
                    "Service provider must be \"consul\", or \"nomad\"; not {other:?}"
                ));
                return errs;
            }
        };
        for check in &self.checks {
            if let Err(e) = check.validate(allowed) {
                errs.push(format!("Check {} invalid: {e}", check.name));
            }
        }
        errs
    }
}

impl ServiceCheck {
    fn validate(&self, allowed: &[&str]) -> Result<(), String> {
        let check_type = self.check_type.to_lowercase();
        if !allowed.contains(&check_type.as_str()) {
            return Err(format!(
                "invalid check type ({check_type:?}), must be one of {}",
                allowed.join(", ")
            ));
        }
        match check_type.as_str() {
            "http" if self.path.is_empty() => return Err("http type must have http path".into()),
            "http" if self.path.contains("://") => {
                return Err("http type must have relative http path".into())
            }
            "script" if self.command.is_empty() => {
                return Err("script type must have a valid script path".into())
            }
            _ => {}
        }
        let min = format_duration(MIN_CHECK_INTERVAL);
        if self.interval == 0 {
            return Err(format!(
                "missing required value interval. Interval cannot be less than {min}"
            ));
        } else if self.interval < MIN_CHECK_INTERVAL {
            return Err(format!(
                "interval ({}) cannot be lower than {min}",
                format_duration(self.interval)
            ));
        }
        if self.timeout == 0 {
            return Err(format!(
                "missing required value timeout. Timeout cannot be less than {min}"
            ));
        } else if self.timeout < MIN_CHECK_INTERVAL {
            return Err(format!(
                "timeout ({}) is lower than required minimum timeout {min}",
                format_duration(self.timeout)
            ));
        }
        match self.initial_status.as_str() {
            "" | "passing" | "warning" | "critical" => {}
            other => {
                return Err(format!(
                    "invalid initial check state ({other}), must be one of \"passing\", \"warning\", \"critical\" or empty"
                ))
            }
        }
        if !self.on_update.is_empty() && !ON_UPDATE.contains(&self.on_update.as_str()) {
            return Err(format!(
                "on_update must be \"require_healthy\", \"ignore_warnings\", or \"ignore\"; got {:?}",
                self.on_update
            ));
        }
        Ok(())
    }

    /// Whether the check needs a port (script and most gRPC-less checks do not).
    pub fn requires_port(&self) -> bool {
        matches!(self.check_type.as_str(), "http" | "tcp" | "grpc")
    }
}

/// `${…}` runtime interpolations replaced by a placeholder, as Nomad does before
/// checking a service name.
fn strip_interpolations(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push_str("ENV-VAR");
                rest = &rest[start + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// RFC 1123 label: alphanumerics and dashes, not starting or ending with a dash, ≤ 63.
fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_defaults() {
        let mut s = Service {
            port_label: "db".into(),
            checks: vec![ServiceCheck {
                check_type: "tcp".into(),
                interval: 10 * SECOND,
                timeout: 2 * SECOND,
                ..Default::default()
            }],
            ..Default::default()
        };
        s.canonicalize("redis", "cache", None, "default");
        assert_eq!(s.name, "redis-cache");
        assert_eq!(s.provider, "consul");
        assert_eq!(s.address_mode, "auto");
        assert_eq!(s.checks[0].name, "service: \"redis-cache\" check");
        assert_eq!(s.checks[0].on_update, "require_healthy");
        assert!(s.validate().is_empty(), "{:?}", s.validate());

        let mut s = Service {
            name: "${TASK}-x".into(),
            ..Default::default()
        };
        s.canonicalize("j", "g", Some("web"), "ns");
        assert_eq!(s.name, "web-x");
        assert_eq!(s.task_name, "web");
    }

    #[test]
    fn bad_names_and_checks() {
        let mut s = Service {
            name: "my_service".into(),
            provider: "nomad".into(),
            checks: vec![ServiceCheck {
                name: "c".into(),
                check_type: "script".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        s.canonicalize("j", "g", None, "default");
        let errs = s.validate();
        assert_eq!(errs.0.len(), 2, "{errs:?}");
        assert!(errs.0[0].starts_with("Service name must be valid per RFC 1123"));
        assert_eq!(
            errs.0[1],
            "Check c invalid: invalid check type (\"script\"), must be one of tcp, http"
        );
        let ok = Service {
            name: "api-${NOMAD_ALLOC_INDEX}".into(),
            provider: "nomad".into(),
            ..Default::default()
        };
        assert!(ok.validate().is_empty(), "{:?}", ok.validate());
    }
}
