//! `group` blocks: the unit of placement.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::constraint::validate_placement;
use super::network::validate_networks;
use super::{
    Affinity, Constraint, Job, MigrateStrategy, NetworkResource, ReschedulePolicy, RestartPolicy,
    Service, Spread, Task, UpdateStrategy, ValidationErrors, JOB_TYPE_BATCH, JOB_TYPE_SERVICE,
    JOB_TYPE_SYSBATCH, JOB_TYPE_SYSTEM,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroup {
    pub name: String,
    /// Default 1 (or `scaling.min`); 0 is a valid count (no allocations).
    pub count: Option<i64>,
    pub update: Option<UpdateStrategy>,
    pub migrate: Option<MigrateStrategy>,
    pub constraints: Vec<Constraint>,
    pub scaling: Option<ScalingPolicy>,
    pub restart_policy: Option<RestartPolicy>,
    pub tasks: Vec<Task>,
    pub ephemeral_disk: Option<EphemeralDisk>,
    pub meta: BTreeMap<String, String>,
    pub reschedule_policy: Option<ReschedulePolicy>,
    pub affinities: Vec<Affinity>,
    pub spreads: Vec<Spread>,
    pub networks: Vec<NetworkResource>,
    pub services: Vec<Service>,
    pub volumes: BTreeMap<String, VolumeRequest>,
    /// Nanoseconds.
    pub shutdown_delay: Option<i64>,
    /// Nanoseconds.
    pub stop_after_client_disconnect: Option<i64>,
    /// Nanoseconds.
    pub max_client_disconnect: Option<i64>,
    /// Nanoseconds (batch and sysbatch jobs only).
    pub max_run_duration: Option<i64>,
    pub prevent_reschedule_on_lost: bool,
    pub disconnect: Option<DisconnectStrategy>,
}

/// `ephemeral_disk` block: the allocation directory's size and stickiness.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EphemeralDisk {
    #[serde(rename = "Sticky")]
    pub sticky: bool,
    /// MB; default 300, minimum 10.
    #[serde(rename = "SizeMB")]
    pub size_mb: Option<i64>,
    #[serde(rename = "Migrate")]
    pub migrate: bool,
}

pub const DEFAULT_DISK_MB: i64 = 300;

/// `volume "name" {}` at group level: a host or CSI volume the tasks may mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeRequest {
    pub name: String,
    #[serde(rename = "Type")]
    pub volume_type: String,
    pub source: String,
    pub read_only: bool,
    pub sticky: bool,
    pub access_mode: String,
    pub attachment_mode: String,
    pub per_alloc: bool,
}

/// `scaling` block (for the autoscaler): bounds on the group's count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScalingPolicy {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Type")]
    pub policy_type: String,
    pub target: BTreeMap<String, String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub policy: serde_json::Map<String, serde_json::Value>,
    pub enabled: Option<bool>,
}

/// `disconnect` block: what happens to allocations on a node that stops heartbeating.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DisconnectStrategy {
    /// Nanoseconds.
    pub lost_after: i64,
    pub replace: Option<bool>,
    pub reconcile: String,
    /// Nanoseconds.
    pub stop_on_client_after: Option<i64>,
}

impl TaskGroup {
    /// Nomad's defaults for a group of `job` (whose own fields are canonical already):
    /// count, disk, update/reschedule/migrate inherited from the job and completed,
    /// restart policy by job type, then every task.
    pub(crate) fn canonicalize(&mut self, job: &Job) {
        let job_type = job.job_type.as_str();
        if self.count.is_none() {
            self.count = Some(self.scaling.as_ref().and_then(|s| s.min).unwrap_or(1));
        }
        if let Some(scaling) = &mut self.scaling {
            if scaling.policy_type.is_empty() {
                scaling.policy_type = "horizontal".into();
            }
            scaling.enabled.get_or_insert(true);
            scaling.min.get_or_insert(self.count.unwrap_or(1));
        }
        self.ephemeral_disk
            .get_or_insert_with(EphemeralDisk::default)
            .size_mb
            .get_or_insert(DEFAULT_DISK_MB);

        self.update = match (&job.update, self.update.take()) {
            (Some(job_update), Some(own)) => {
                let mut merged = job_update.clone();
                merged.merge(&own);
                Some(merged)
            }
            (Some(job_update), None) if !job_update.is_empty() => Some(job_update.clone()),
            (_, own) => own,
        };
        if let Some(update) = &mut self.update {
            update.fill_defaults();
        }

        self.reschedule_policy = match (&job.reschedule, self.reschedule_policy.take()) {
            (Some(job_policy), Some(own)) => {
                let mut merged = job_policy.clone();
                merged.merge(&own);
                Some(merged)
            }
            (Some(job_policy), None) => Some(job_policy.clone()),
            (None, own) => own,
        };
        if self.reschedule_policy.is_none()
            && job_type != JOB_TYPE_SYSTEM
            && job_type != JOB_TYPE_SYSBATCH
        {
            self.reschedule_policy = Some(ReschedulePolicy::default_for(job_type));
        }
        if let Some(policy) = &mut self.reschedule_policy {
            policy.fill_defaults(job_type);
        }

        self.migrate = match (&job.migrate, self.migrate.take()) {
            (Some(job_migrate), Some(own)) => {
                let mut merged = job_migrate.clone();
                merged.merge(&own);
                Some(merged)
            }
            (Some(job_migrate), None) => Some(job_migrate.clone()),
            (None, own) => own,
        };
        if self.migrate.is_none() && job_type == JOB_TYPE_SERVICE {
            self.migrate = Some(MigrateStrategy::default());
        }
        if let Some(migrate) = &mut self.migrate {
            migrate.fill_defaults();
        }

        let mut restart = RestartPolicy::default_for(job_type);
        if let Some(own) = &self.restart_policy {
            restart.merge(own);
        }
        self.restart_policy = Some(restart);

        if let Some(disconnect) = &mut self.disconnect {
            disconnect.replace.get_or_insert(true);
            if disconnect.reconcile.is_empty() {
                disconnect.reconcile = "best_score".into();
            }
        }
        for task in &mut self.tasks {
            task.canonicalize(job, &self.name, self.restart_policy.as_ref());
        }
        for spread in &mut self.spreads {
            spread.canonicalize();
        }
        for a in &mut self.affinities {
            a.canonicalize();
        }
        for net in &mut self.networks {
            net.canonicalize();
        }
        for service in &mut self.services {
            service.canonicalize(&job.name, &self.name, None, &job.namespace);
        }
    }

    pub(crate) fn validate(&self, job: &Job) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let job_type = job.job_type.as_str();
        if self.name.is_empty() {
            errs.push("Missing task group name");
        } else if self.name.contains('\0') {
            errs.push("Task group name contains null character");
        }
        if self.count.unwrap_or_default() < 0 {
            errs.push("Task group count can't be negative");
        }
        if self.tasks.is_empty() {
            errs.push("Missing tasks for task group");
        }
        if let Some(max_run) = self.max_run_duration {
            if max_run <= 0 {
                errs.push("MaxRunDuration must be greater than zero");
            }
            if job_type != JOB_TYPE_BATCH && job_type != JOB_TYPE_SYSBATCH {
                errs.push(format!(
                    "Job type {job_type:?} does not allow max_run_duration"
                ));
            }
        }
        validate_placement(
            &mut errs,
            job_type,
            &self.constraints,
            &self.affinities,
            &self.spreads,
        );
        match &self.restart_policy {
            Some(policy) => errs.0.extend(policy.validate().0),
            None => errs.push(format!(
                "Task Group {} should have a restart policy",
                self.name
            )),
        }
        if job_type == JOB_TYPE_SYSTEM || job_type == JOB_TYPE_SYSBATCH {
            if self.reschedule_policy.is_some() {
                errs.push("System or sysbatch jobs should not have a reschedule policy");
            }
        } else {
            match &self.reschedule_policy {
                Some(policy) => errs.0.extend(policy.validate().0),
                None => errs.push(format!(
                    "Task Group {} should have a reschedule policy",
                    self.name
                )),
            }
        }
        match &self.ephemeral_disk {
            Some(disk) if disk.size_mb.unwrap_or_default() < 10 => errs.push(format!(
                "minimum DiskMB value is 10; got {}",
                disk.size_mb.unwrap_or_default()
            )),
            Some(_) => {}
            None => errs.push(format!(
                "Task Group {} should have an ephemeral disk object",
                self.name
            )),
        }
        if let Some(update) = &self.update {
            if job_type != JOB_TYPE_SERVICE && job_type != JOB_TYPE_SYSTEM {
                errs.push(format!("Job type {job_type:?} does not allow update block"));
            }
            errs.0.extend(update.validate().0);
        }
        if let Some(migrate) = &self.migrate {
            if job_type == JOB_TYPE_SERVICE {
                errs.0.extend(migrate.validate().0);
            } else {
                errs.push(format!(
                    "Job type {job_type:?} does not allow migrate block"
                ));
            }
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut leaders = 0;
        for (i, task) in self.tasks.iter().enumerate() {
            if task.name.is_empty() {
                errs.push(format!("Task {} missing name", i + 1));
            } else if let Some(first) = names.get(task.name.as_str()) {
                errs.push(format!(
                    "Task {} redefines '{}' from task {}",
                    i + 1,
                    task.name,
                    first + 1
                ));
            } else {
                names.insert(&task.name, i);
            }
            leaders += usize::from(task.leader);
        }
        if leaders > 1 {
            errs.push("Only one task may be marked as leader");
        }
        if !self.tasks.is_empty() && !self.tasks.iter().any(Task::is_main) {
            errs.push(format!(
                "Task group {} must have at least one main task",
                self.name
            ));
        }
        for (name, volume) in &self.volumes {
            let mut inner = ValidationErrors::default();
            match volume.volume_type.as_str() {
                "host" | "csi" => {}
                other => inner.push(format!("volume has unrecognized type {other}")),
            }
            if volume.source.is_empty() {
                inner.push("volume has an empty source");
            }
            errs.nest(
                &format!("Task group volume validation for {name} failed"),
                inner,
            );
        }
        let task_nets: Vec<(&str, &[NetworkResource])> = self
            .tasks
            .iter()
            .filter_map(|t| {
                t.resources
                    .as_ref()
                    .map(|r| (t.name.as_str(), &r.networks[..]))
            })
            .collect();
        errs.nest(
            "Task group network validation failed",
            validate_networks(&self.networks, &task_nets),
        );
        errs.nest(
            "Task group service validation failed",
            self.validate_services(),
        );
        if let Some(scaling) = &self.scaling {
            let mut inner = ValidationErrors::default();
            let (min, max) = (scaling.min.unwrap_or_default(), scaling.max);
            if min < 0 {
                inner.push("minimum count must be specified and non-negative");
            }
            match max {
                None => inner.push("maximum count must be specified"),
                Some(max) if max < min => inner.push(format!(
                    "maximum count must not be less than minimum count: {max} < {min}"
                )),
                Some(max) => {
                    let count = self.count.unwrap_or_default();
                    if count < min || count > max {
                        inner.push(format!(
                            "task group count must be between minimum and maximum count: {count} not in [{min},{max}]"
                        ));
                    }
                }
            }
            errs.nest("Task group scaling policy validation failed", inner);
        }
        for task in &self.tasks {
            errs.nest(
                &format!("Task {} validation failed", task.name),
                task.validate(job_type, self),
            );
        }
        errs
    }

    /// Group services: each valid, unique per (name, task, port), one provider, checks
    /// naming existing tasks, and port labels that exist in the group network.
    fn validate_services(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let mut providers = std::collections::BTreeSet::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut duplicates = std::collections::BTreeSet::new();
        for task in &self.tasks {
            for service in &task.services {
                if !service.task_name.is_empty() && service.task_name != task.name {
                    errs.push(format!(
                        "Service {} is invalid: may only specify task the service belongs to, got {:?}",
                        service.name, service.task_name
                    ));
                }
                let id = (
                    service.name.clone(),
                    task.name.clone(),
                    service.port_label.clone(),
                );
                if !seen.insert(id.clone()) {
                    duplicates.insert(id);
                }
                providers.insert(service.provider.clone());
            }
        }
        let labels: Vec<&str> = self
            .networks
            .first()
            .into_iter()
            .flat_map(|n| n.ports().map(|p| p.label.as_str()))
            .collect();
        for (i, service) in self.services.iter().enumerate() {
            let id = (
                service.name.clone(),
                "group".to_string(),
                service.port_label.clone(),
            );
            if !seen.insert(id.clone()) {
                duplicates.insert(id);
            }
            providers.insert(service.provider.clone());
            let inner = service.validate();
            if !inner.is_empty() {
                errs.nest(
                    &format!("Service[{i}] {} validation failed", service.name),
                    inner,
                );
                continue;
            }
            if service.address_mode == "driver" {
                errs.push(format!(
                    "service {:?} cannot use address_mode=\"driver\", only services defined in a \"task\" block can use this mode",
                    service.name
                ));
            }
            if !service.port_label.is_empty()
                && service.port_label.parse::<u16>().is_err()
                && !labels.contains(&service.port_label.as_str())
            {
                errs.push(format!(
                    "port label {:?} referenced by services {} does not exist",
                    service.port_label, service.name
                ));
            }
            for check in &service.checks {
                if !check.task_name.is_empty()
                    && !self.tasks.iter().any(|t| t.name == check.task_name)
                {
                    errs.push(format!(
                        "Check {} invalid: refers to non-existent task {}",
                        check.name, check.task_name
                    ));
                }
            }
        }
        if !duplicates.is_empty() {
            let list: Vec<String> = duplicates
                .iter()
                .map(|(name, task, port)| {
                    let mut s = format!("{task}->{name}");
                    if !port.is_empty() {
                        s.push(':');
                        s.push_str(port);
                    }
                    s
                })
                .collect();
            errs.push(format!("Services are not unique: {}", list.join(", ")));
        }
        if providers.len() > 1 {
            errs.push(
                "Multiple service providers used: task group services must use the same provider",
            );
        }
        errs
    }
}
