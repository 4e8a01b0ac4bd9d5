//! `task` blocks and what hangs off them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::constraint::{OP_DISTINCT_HOSTS, OP_DISTINCT_PROPERTY};
use super::files::escapes_alloc_dir;
use super::{
    Affinity, Constraint, EphemeralDisk, Job, Resources, RestartPolicy, Service, TaskGroup,
    ValidationErrors, JOB_TYPE_SERVICE, JOB_TYPE_SYSTEM, SECOND,
};
use super::{TaskArtifact, Template};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Task {
    pub name: String,
    pub driver: String,
    pub user: String,
    /// The driver's own configuration, free-form (blocks inside `config` become lists of
    /// objects, as in Nomad).
    pub config: serde_json::Map<String, serde_json::Value>,
    pub env: BTreeMap<String, String>,
    pub services: Vec<Service>,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
    pub resources: Option<Resources>,
    pub restart_policy: Option<RestartPolicy>,
    pub dispatch_payload: Option<DispatchPayloadConfig>,
    pub lifecycle: Option<TaskLifecycle>,
    pub meta: BTreeMap<String, String>,
    /// Nanoseconds between the kill signal and SIGKILL; default 5s.
    pub kill_timeout: i64,
    pub log_config: Option<LogConfig>,
    pub artifacts: Vec<TaskArtifact>,
    pub templates: Vec<Template>,
    pub leader: bool,
    /// Nanoseconds.
    pub shutdown_delay: i64,
    pub volume_mounts: Vec<VolumeMount>,
    /// Empty: the driver's default (SIGINT, as Nomad).
    pub kill_signal: String,
    pub kind: String,
    pub identity: Option<WorkloadIdentity>,
    pub identities: Vec<WorkloadIdentity>,
}

/// `logs` block: rotation of the task's stdout/stderr files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    #[serde(rename = "MaxFiles")]
    pub max_files: Option<i64>,
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: Option<i64>,
    #[serde(rename = "Disabled")]
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskLifecycle {
    /// `prestart`, `poststart` or `poststop`.
    pub hook: String,
    pub sidecar: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DispatchPayloadConfig {
    pub file: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeMount {
    pub volume: String,
    pub destination: String,
    pub read_only: bool,
    pub propagation_mode: String,
    #[serde(rename = "SELinuxLabel")]
    pub selinux_label: String,
}

/// `identity` block. drover keeps it for compatibility; it issues no tokens yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WorkloadIdentity {
    pub name: String,
    pub audience: Vec<String>,
    pub change_mode: String,
    pub change_signal: String,
    pub env: bool,
    pub file: bool,
    pub filepath: String,
    pub service_name: String,
    /// Nanoseconds.
    #[serde(rename = "TTL")]
    pub ttl: i64,
}

pub const DEFAULT_KILL_TIMEOUT: i64 = 5 * SECOND;
pub const DEFAULT_LOG_MAX_FILES: i64 = 10;
pub const DEFAULT_LOG_MAX_FILE_SIZE_MB: i64 = 10;

impl LogConfig {
    pub fn fill_defaults(&mut self) {
        self.max_files.get_or_insert(DEFAULT_LOG_MAX_FILES);
        self.max_file_size_mb
            .get_or_insert(DEFAULT_LOG_MAX_FILE_SIZE_MB);
        self.disabled.get_or_insert(false);
    }

    fn validate(&self, disk: Option<&EphemeralDisk>) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let files = self.max_files.unwrap_or_default();
        let size = self.max_file_size_mb.unwrap_or_default();
        if files < 1 {
            errs.push(format!("minimum number of files is 1; got {files}"));
        }
        if size < 1 {
            errs.push(format!("minimum file size is 1MB; got {size}"));
        }
        if let Some(disk) = disk {
            let disk_mb = disk.size_mb.unwrap_or_default();
            let usage = files * size;
            if disk_mb <= usage {
                errs.push(format!(
                    "log storage ({usage} MB) must be less than requested disk capacity ({disk_mb} MB)"
                ));
            }
        }
        errs
    }
}

impl Task {
    /// Whether this is a main task (no lifecycle hook).
    pub fn is_main(&self) -> bool {
        self.lifecycle.as_ref().is_none_or(|l| l.hook.is_empty())
    }

    pub(crate) fn canonicalize(
        &mut self,
        job: &Job,
        group_name: &str,
        group_restart: Option<&RestartPolicy>,
    ) {
        self.resources
            .get_or_insert_with(Resources::default)
            .canonicalize();
        if self.kill_timeout == 0 {
            self.kill_timeout = DEFAULT_KILL_TIMEOUT;
        }
        self.log_config
            .get_or_insert_with(LogConfig::default)
            .fill_defaults();
        for artifact in &mut self.artifacts {
            artifact.canonicalize();
        }
        for template in &mut self.templates {
            template.canonicalize();
        }
        for service in &mut self.services {
            service.canonicalize(&job.name, group_name, Some(&self.name), &job.namespace);
        }
        for a in &mut self.affinities {
            a.canonicalize();
        }
        if let Some(identity) = self.identity.as_mut().filter(|i| i.name.is_empty()) {
            identity.name = "default".into();
        }
        for mount in &mut self.volume_mounts {
            if mount.propagation_mode.is_empty() {
                mount.propagation_mode = "private".into();
            }
        }
        let mut restart = group_restart.cloned().unwrap_or_default();
        if let Some(own) = &self.restart_policy {
            restart.merge(own);
        }
        self.restart_policy = Some(restart);
    }

    pub(crate) fn validate(&self, job_type: &str, group: &TaskGroup) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        if self.name.is_empty() {
            errs.push("Missing task name");
        }
        if self.name == "alloc" {
            errs.push("Task cannot be named \"alloc\"");
        }
        if self.name.contains(['/', '\\']) {
            errs.push("Task name cannot include slashes");
        } else if self.name.contains('\0') {
            errs.push("Task name cannot include null characters");
        }
        if self.driver.is_empty() {
            errs.push("Missing task driver");
        }
        if self.kill_timeout < 0 {
            errs.push("KillTimeout must be a positive value");
        } else if let Some(progress) = group
            .update
            .as_ref()
            .and_then(|u| u.progress_deadline)
            .filter(|p| *p > 0 && job_type == JOB_TYPE_SERVICE)
        {
            if self.kill_timeout > progress {
                errs.push(format!(
                    "KillTimout ({}) longer than the group's ProgressDeadline ({})",
                    super::format_duration(self.kill_timeout),
                    super::format_duration(progress)
                ));
            }
        }
        if self.shutdown_delay < 0 {
            errs.push("ShutdownDelay must be a positive value");
        }
        match &self.resources {
            None => errs.push("Missing task resources"),
            Some(r) => errs.0.extend(r.validate().0),
        }
        match &self.log_config {
            None => errs.push("Missing Log Config"),
            Some(l) => errs.0.extend(l.validate(group.ephemeral_disk.as_ref()).0),
        }
        for (i, c) in self.constraints.iter().enumerate() {
            errs.nest(
                &format!("Constraint {} validation failed", i + 1),
                c.validate(),
            );
            if c.operand == OP_DISTINCT_HOSTS || c.operand == OP_DISTINCT_PROPERTY {
                errs.push(format!(
                    "Constraint {} has disallowed Operand at task level: {}",
                    i + 1,
                    c.operand
                ));
            }
        }
        if job_type == JOB_TYPE_SYSTEM {
            if !self.affinities.is_empty() {
                errs.push("System jobs may not have an affinity block");
            }
        } else {
            for (i, a) in self.affinities.iter().enumerate() {
                errs.nest(
                    &format!("Affinity {} validation failed", i + 1),
                    a.validate(),
                );
            }
        }
        errs.0.extend(self.validate_services(group).0);
        self.validate_container_ports(group, &mut errs);
        for (i, artifact) in self.artifacts.iter().enumerate() {
            errs.nest(
                &format!("Artifact {} validation failed", i + 1),
                artifact.validate(),
            );
        }
        let mut destinations: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, template) in self.templates.iter().enumerate() {
            errs.nest(
                &format!("Template {} validation failed", i + 1),
                template.validate(),
            );
            if let Some(other) = destinations.get(template.dest_path.as_str()) {
                errs.push(format!(
                    "Template {} has same destination as {other}",
                    i + 1
                ));
            } else {
                destinations.insert(&template.dest_path, i + 1);
            }
        }
        if let Some(payload) = &self.dispatch_payload {
            if escapes_alloc_dir(2, &payload.file) {
                errs.push(
                    "Dispatch Payload validation failed: destination escapes allocation directory",
                );
            }
        }
        if let Some(lifecycle) = &self.lifecycle {
            match lifecycle.hook.as_str() {
                "prestart" | "poststart" | "poststop" => {}
                "" => errs.push("Lifecycle validation failed: no lifecycle hook provided"),
                other => errs.push(format!(
                    "Lifecycle validation failed: invalid hook: {other}"
                )),
            }
        }
        for (i, mount) in self.volume_mounts.iter().enumerate() {
            if !group.volumes.contains_key(&mount.volume) {
                errs.push(format!(
                    "Volume Mount ({i}) references undefined volume {}",
                    mount.volume
                ));
            }
        }
        errs
    }

    /// Nomad's `validateServices` for a task: unique names per port, checks that need a
    /// port have one, and every port label referenced exists in the group network.
    fn validate_services(&self, group: &TaskGroup) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut known = std::collections::HashSet::new();
        for (i, service) in self.services.iter().enumerate() {
            let inner = service.validate();
            if !inner.is_empty() {
                errs.nest(
                    &format!("service[{i}] {:?} validation failed", service.name),
                    inner,
                );
            }
            if service.address_mode == "alloc" || service.address_mode == "alloc_ipv6" {
                errs.push(format!(
                    "service {:?} cannot use address_mode=\"{}\", only services defined in a \"group\" block can use this mode",
                    service.name, service.address_mode
                ));
            }
            if !known.insert(format!("{}{}", service.name, service.port_label)) {
                errs.push(format!("service {:?} is duplicate", service.name));
            }
            let numeric = |label: &str| label.parse::<i64>().is_ok();
            let numeric_driver_port =
                service.address_mode == "driver" && numeric(&service.port_label);
            if !service.port_label.is_empty() && !numeric_driver_port {
                used.entry(service.port_label.clone())
                    .or_default()
                    .push(service.name.clone());
            }
            let mut checks = std::collections::HashSet::new();
            for check in &service.checks {
                if !checks.insert(check.name.as_str()) {
                    errs.push(format!("check {:?} is duplicate", check.name));
                }
                if !check.requires_port() {
                    continue;
                }
                let port = if check.port_label.is_empty() {
                    &service.port_label
                } else {
                    &check.port_label
                };
                if port.is_empty() {
                    errs.push(format!("check {:?} is missing a port", check.name));
                } else if numeric(port) {
                    if check.address_mode != "driver" {
                        errs.push(format!(
                            "check {:?} cannot use a numeric port {port} without setting address_mode=\"driver\"",
                            check.name
                        ));
                    }
                } else {
                    used.entry(port.clone())
                        .or_default()
                        .push(service.name.clone());
                }
            }
        }
        let labels = self.port_labels(group);
        for (label, mut services) in used {
            if !labels.contains(&label) {
                services.sort();
                services.dedup();
                errs.push(format!(
                    "port label {label:?} referenced by services {} does not exist",
                    services.join(", ")
                ));
            }
        }
        errs
    }

    /// The container driver (and `docker`) publishes `config.ports` by label: each must
    /// name a port of the group network (Nomad's docker driver refuses to start otherwise).
    fn validate_container_ports(&self, group: &TaskGroup, errs: &mut ValidationErrors) {
        if self.driver != "container" && self.driver != "docker" {
            return;
        }
        let Some(serde_json::Value::Array(ports)) = self.config.get("ports") else {
            return;
        };
        let labels = self.port_labels(group);
        for port in ports {
            match port.as_str() {
                Some(label) if labels.iter().any(|l| l == label) => {}
                Some(label) => errs.push(format!("Port {label:?} not found, check network block")),
                None => errs.push(format!(
                    "config.ports must list port labels (strings), got {port}"
                )),
            }
        }
    }

    fn port_labels(&self, group: &TaskGroup) -> Vec<String> {
        let group_nets = group.networks.first().into_iter();
        let task_nets = self.resources.iter().flat_map(|r| &r.networks);
        group_nets
            .chain(task_nets)
            .flat_map(|n| n.ports().map(|p| p.label.clone()))
            .collect()
    }
}
