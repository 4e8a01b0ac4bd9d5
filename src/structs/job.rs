//! The job: Nomad's top-level object.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::constraint::validate_placement;
use super::{
    Affinity, Constraint, MigrateStrategy, ReschedulePolicy, Spread, TaskGroup, UpdateStrategy,
    ValidationErrors, JOB_TYPE_BATCH, JOB_TYPE_SERVICE, JOB_TYPE_SYSBATCH, JOB_TYPE_SYSTEM,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Job {
    pub stop: bool,
    pub region: String,
    pub namespace: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    pub name: String,
    #[serde(rename = "Type")]
    pub job_type: String,
    pub priority: i64,
    pub all_at_once: bool,
    pub datacenters: Vec<String>,
    pub node_pool: String,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
    pub spreads: Vec<Spread>,
    pub task_groups: Vec<TaskGroup>,
    pub update: Option<UpdateStrategy>,
    pub periodic: Option<PeriodicConfig>,
    pub parameterized_job: Option<ParameterizedJobConfig>,
    /// Job-level `reschedule`, merged into each group's policy.
    pub reschedule: Option<ReschedulePolicy>,
    /// Job-level `migrate`, merged into each group's strategy.
    pub migrate: Option<MigrateStrategy>,
    pub dispatched: bool,
    /// A dispatch retried with the same token returns the child it created.
    pub dispatch_idempotency_token: String,
    /// Base64 (Go's `[]byte`).
    pub payload: Option<String>,
    pub meta: BTreeMap<String, String>,
    pub consul_namespace: String,
    pub vault_namespace: String,
    #[serde(rename = "NomadTokenID")]
    pub nomad_token_id: String,
    pub status: String,
    pub status_description: String,
    pub stable: bool,
    pub version: u64,
    /// Unix nanoseconds.
    pub submit_time: i64,
    pub create_index: u64,
    pub modify_index: u64,
    pub job_modify_index: u64,
    #[serde(rename = "UI")]
    pub ui: Option<JobUiConfig>,
}

/// `periodic` block: a cron-launched batch job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeriodicConfig {
    /// Default true.
    pub enabled: Option<bool>,
    /// `cron = "…"` (deprecated single form).
    pub spec: String,
    /// `crons = [...]`.
    pub specs: Vec<String>,
    pub spec_type: String,
    pub prohibit_overlap: bool,
    /// Default `UTC`.
    pub time_zone: String,
}

/// `parameterized` block: a job that runs when dispatched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ParameterizedJobConfig {
    /// `optional` (default), `required` or `forbidden`.
    pub payload: String,
    pub meta_required: Vec<String>,
    pub meta_optional: Vec<String>,
}

/// `ui` block: what the web UI shows for the job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobUiConfig {
    pub description: String,
    pub links: Vec<JobUiLink>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobUiLink {
    pub label: String,
    #[serde(rename = "URL")]
    pub url: String,
}

/// The API's request body: `{"Job": {...}}` (`PUT /v1/jobs`, `job run -output`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobRequest {
    pub job: Job,
}

pub const DEFAULT_NAMESPACE: &str = "default";
pub const DEFAULT_REGION: &str = "global";
pub const DEFAULT_NODE_POOL: &str = "default";
pub const DEFAULT_PRIORITY: i64 = 50;
pub const MAX_PRIORITY: i64 = 100;

/// A job object as API clients send it: Go clients write `null` for every unset pointer,
/// so nulls are dropped (the field takes its default) before decoding.
/// Errors carry the path of the field that did not decode (`TaskGroups[0].Count`).
pub fn job_from_api_json(
    mut value: serde_json::Value,
) -> Result<Job, serde_path_to_error::Error<serde_json::Error>> {
    strip_nulls(&mut value);
    serde_path_to_error::deserialize(value)
}

fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

impl Job {
    /// Fills in Nomad's defaults (what the server stores): names, namespace, region,
    /// type, priority, datacenters, node pool, the update strategy of service and system
    /// jobs, and every group's and task's defaults.
    pub fn canonicalize(&mut self) {
        if self.name.is_empty() {
            self.name.clone_from(&self.id);
        }
        if self.namespace.is_empty() {
            self.namespace = DEFAULT_NAMESPACE.into();
        }
        if self.region.is_empty() {
            self.region = DEFAULT_REGION.into();
        }
        if self.job_type.is_empty() {
            self.job_type = JOB_TYPE_SERVICE.into();
        }
        if self.priority == 0 {
            self.priority = DEFAULT_PRIORITY;
        }
        if self.datacenters.is_empty() {
            self.datacenters = vec!["*".into()];
        }
        if self.node_pool.is_empty() {
            self.node_pool = DEFAULT_NODE_POOL.into();
        }
        if let Some(periodic) = &mut self.periodic {
            periodic.enabled.get_or_insert(true);
            if periodic.spec_type.is_empty() {
                periodic.spec_type = "cron".into();
            }
            if periodic.time_zone.is_empty() {
                periodic.time_zone = "UTC".into();
            }
        }
        if let Some(parameterized) = &mut self.parameterized_job {
            if parameterized.payload.is_empty() {
                parameterized.payload = "optional".into();
            }
        }
        match &mut self.update {
            Some(update) => update.fill_defaults(),
            None if self.job_type == JOB_TYPE_SERVICE || self.job_type == JOB_TYPE_SYSTEM => {
                self.update = Some(UpdateStrategy::default_strategy());
            }
            None => {}
        }
        let mut groups = std::mem::take(&mut self.task_groups);
        for group in &mut groups {
            group.canonicalize(self);
        }
        self.task_groups = groups;
        for spread in &mut self.spreads {
            spread.canonicalize();
        }
        for a in &mut self.affinities {
            a.canonicalize();
        }
    }

    /// Nomad's checks of a canonical job, every problem found (not just the first).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.region.is_empty() {
            errs.push("Missing job region");
        }
        if self.id.is_empty() {
            errs.push("Missing job ID");
        } else if self.id.contains(' ') {
            errs.push("Job ID contains a space");
        } else if self.id.contains('\0') {
            errs.push("Job ID contains a null character");
        }
        if self.name.is_empty() {
            errs.push("Missing job name");
        } else if self.name.contains('\0') {
            errs.push("Job Name contains a null character");
        }
        if self.namespace.is_empty() {
            errs.push("Job must be in a namespace");
        }
        match self.job_type.as_str() {
            JOB_TYPE_SERVICE | JOB_TYPE_BATCH | JOB_TYPE_SYSTEM | JOB_TYPE_SYSBATCH => {}
            "" => errs.push("Missing job type"),
            other => errs.push(format!("Invalid job type: {other:?}")),
        }
        if !(1..=MAX_PRIORITY).contains(&self.priority) {
            errs.push(format!("Job priority must be between [1, {MAX_PRIORITY}]"));
        }
        if self.datacenters.is_empty() {
            errs.push("Missing job datacenters");
        } else if self.datacenters.iter().any(String::is_empty) {
            errs.push("Job datacenter must be non-empty string");
        }
        if self.task_groups.is_empty() {
            errs.push("Missing job task groups");
        }
        validate_placement(
            &mut errs,
            &self.job_type,
            &self.constraints,
            &self.affinities,
            &self.spreads,
        );
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, group) in self.task_groups.iter().enumerate() {
            if group.name.is_empty() {
                errs.push(format!("Job task group {} missing name", i + 1));
            } else if let Some(first) = names.get(group.name.as_str()) {
                errs.push(format!(
                    "Job task group {} redefines '{}' from group {}",
                    i + 1,
                    group.name,
                    first + 1
                ));
            } else {
                names.insert(&group.name, i);
            }
            if group.shutdown_delay.is_some_and(|d| d < 0) {
                errs.push("ShutdownDelay must be a positive value");
            }
            let count = group.count.unwrap_or_default();
            if self.job_type == JOB_TYPE_SYSTEM && count > 1 {
                errs.push(format!(
                    "Job task group {} has count {count}. Count cannot exceed 1 with system scheduler",
                    group.name
                ));
            }
        }
        for group in &self.task_groups {
            errs.nest(
                &format!("Task group {} validation failed", group.name),
                group.validate(self),
            );
        }
        let batch_like = self.job_type == JOB_TYPE_BATCH || self.job_type == JOB_TYPE_SYSBATCH;
        if let Some(periodic) = self.periodic.as_ref().filter(|p| p.enabled != Some(false)) {
            if !batch_like {
                errs.push("Periodic can only be used with \"batch\" or \"sysbatch\" scheduler");
            }
            if !periodic.spec.is_empty() && !periodic.specs.is_empty() {
                errs.push("Only cron or crons may be used");
            }
            if periodic.spec.is_empty() && periodic.specs.is_empty() {
                errs.push("Must specify a spec");
            }
            if periodic.spec_type != "cron" && periodic.spec_type != "test" {
                errs.push(format!(
                    "Unknown periodic specification type {:?}",
                    periodic.spec_type
                ));
            }
        }
        if let Some(parameterized) = self.parameterized_job.as_ref().filter(|_| !self.dispatched) {
            if !batch_like {
                errs.push(
                    "Parameterized job can only be used with \"batch\" or \"sysbatch\" scheduler",
                );
            }
            match parameterized.payload.as_str() {
                "optional" | "required" | "forbidden" => {}
                other => errs.push(format!("Unknown payload requirement: {other:?}")),
            }
            let both: Vec<&String> = parameterized
                .meta_required
                .iter()
                .filter(|k| parameterized.meta_optional.contains(k))
                .collect();
            if !both.is_empty() {
                errs.push(format!(
                    "Required and optional meta keys should be disjoint. Following keys exist in both: {both:?}"
                ));
            }
        }
        errs.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Resources, Task, MINUTE, SECOND};
    use super::*;

    fn redis() -> Job {
        Job {
            id: "redis".into(),
            task_groups: vec![TaskGroup {
                name: "cache".into(),
                tasks: vec![Task {
                    name: "redis".into(),
                    driver: "container".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn canonical_service_job() {
        let mut job = redis();
        job.canonicalize();
        assert_eq!(job.name, "redis");
        assert_eq!(job.namespace, "default");
        assert_eq!(job.region, "global");
        assert_eq!(job.job_type, "service");
        assert_eq!(job.priority, 50);
        assert_eq!(job.datacenters, vec!["*"]);
        assert_eq!(job.node_pool, "default");
        assert_eq!(job.update, Some(UpdateStrategy::default_strategy()));
        let group = &job.task_groups[0];
        assert_eq!(group.count, Some(1));
        assert_eq!(group.update, Some(UpdateStrategy::default_strategy()));
        assert_eq!(
            group.restart_policy,
            Some(super::super::RestartPolicy::default_for("service"))
        );
        assert_eq!(
            group.reschedule_policy,
            Some(ReschedulePolicy::default_for("service"))
        );
        assert_eq!(group.migrate, Some(MigrateStrategy::default_strategy()));
        assert_eq!(group.ephemeral_disk.as_ref().unwrap().size_mb, Some(300));
        let task = &group.tasks[0];
        assert_eq!(task.kill_timeout, 5 * SECOND);
        assert_eq!(task.kill_signal, "");
        let resources = task.resources.as_ref().unwrap();
        assert_eq!((resources.cpu, resources.memory_mb), (Some(100), Some(300)));
        let logs = task.log_config.as_ref().unwrap();
        assert_eq!(
            (logs.max_files, logs.max_file_size_mb),
            (Some(10), Some(10))
        );
        assert_eq!(task.restart_policy, group.restart_policy);
        assert!(job.validate().is_ok(), "{:?}", job.validate());
    }

    #[test]
    fn batch_and_system_defaults() {
        let mut job = redis();
        job.job_type = "batch".into();
        job.canonicalize();
        assert_eq!(job.update, None);
        let group = &job.task_groups[0];
        assert_eq!(group.update, None);
        assert_eq!(group.migrate, None);
        assert_eq!(group.restart_policy.as_ref().unwrap().attempts, Some(3));
        assert_eq!(group.reschedule_policy.as_ref().unwrap().attempts, Some(1));
        assert!(job.validate().is_ok(), "{:?}", job.validate());

        let mut job = redis();
        job.job_type = "system".into();
        job.canonicalize();
        assert!(job.update.is_some());
        assert_eq!(job.task_groups[0].reschedule_policy, None);
        assert!(job.validate().is_ok(), "{:?}", job.validate());
    }

    #[test]
    fn group_update_overrides_job_update() {
        let mut job = redis();
        job.update = Some(UpdateStrategy {
            max_parallel: Some(2),
            healthy_deadline: Some(3 * MINUTE),
            ..Default::default()
        });
        job.task_groups[0].update = Some(UpdateStrategy {
            max_parallel: Some(4),
            ..Default::default()
        });
        job.canonicalize();
        let update = job.task_groups[0].update.as_ref().unwrap();
        assert_eq!(update.max_parallel, Some(4));
        assert_eq!(update.healthy_deadline, Some(3 * MINUTE));
        assert_eq!(update.min_healthy_time, Some(10 * SECOND));
    }

    #[test]
    fn validation_lists_every_error() {
        let mut job = redis();
        job.id = String::new();
        job.job_type = "web".into();
        job.task_groups[0].count = Some(-1);
        job.task_groups[0].tasks[0].driver = String::new();
        job.task_groups[0].tasks[0].resources = Some(Resources {
            cpu: Some(0),
            memory_mb: Some(4),
            cores: Some(0),
            ..Default::default()
        });
        let dup = job.task_groups[0].clone();
        job.task_groups.push(dup);
        job.canonicalize();
        let errs = job.validate().unwrap_err();
        let want = [
            "Missing job ID",
            "Invalid job type: \"web\"",
            "Job task group 2 redefines 'cache' from group 1",
            "Task group cache validation failed: Task group count can't be negative",
            "Task group cache validation failed: Task redis validation failed: Missing task driver",
            "Task group cache validation failed: Task redis validation failed: minimum CPU value is 1; got 0",
            "Task group cache validation failed: Task redis validation failed: minimum MemoryMB value is 10; got 4",
        ];
        for w in want {
            assert!(errs.0.iter().any(|e| e == w), "missing {w:?} in {errs:#?}");
        }
    }

    #[test]
    fn api_json_with_nulls_decodes() {
        let json = serde_json::json!({
            "ID": "x", "Name": null, "Region": null, "Priority": null, "Datacenters": null,
            "TaskGroups": [{"Name": "g", "Count": null, "Tasks": [{"Name": "t", "Driver": "exec",
                "Config": {"command": "/bin/true", "args": null}, "KillTimeout": null}]}],
            "SomethingNew": {"Whatever": 1}
        });
        let mut job = job_from_api_json(json).unwrap();
        job.canonicalize();
        assert_eq!(job.name, "x");
        assert_eq!(job.task_groups[0].count, Some(1));
        assert_eq!(job.task_groups[0].tasks[0].config["command"], "/bin/true");
        assert!(job.validate().is_ok());
    }
}
