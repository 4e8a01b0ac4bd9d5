//! Reads over a snapshot: what the schedulers, endpoints and watchers ask.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{job_key, Tables};
use crate::structs::{
    Allocation, Deployment, Evaluation, Job, Node, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST, ALLOC_CLIENT_PENDING, ALLOC_CLIENT_RUNNING, ALLOC_CLIENT_UNKNOWN,
    JOB_TYPE_SYSTEM,
};

pub const JOB_STATUS_PENDING: &str = "pending";
pub const JOB_STATUS_RUNNING: &str = "running";
pub const JOB_STATUS_DEAD: &str = "dead";

/// `GET /v1/job/:id/summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobSummary {
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub namespace: String,
    pub summary: BTreeMap<String, TaskGroupSummary>,
    pub children: JobChildrenSummary,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroupSummary {
    pub queued: u64,
    pub complete: u64,
    pub failed: u64,
    pub running: u64,
    pub starting: u64,
    pub lost: u64,
    pub unknown: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobChildrenSummary {
    pub pending: u64,
    pub running: u64,
    pub dead: u64,
}

impl Tables {
    pub fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>> {
        self.jobs.get(&job_key(namespace, id)).cloned()
    }

    /// The stored job with its computed `Status` filled in (what the API serves).
    pub fn job_with_status(&self, namespace: &str, id: &str) -> Option<Job> {
        let job = self.job(namespace, id)?;
        let mut out = (*job).clone();
        out.status = self.job_status(&job).into();
        Some(out)
    }

    /// Newest first.
    pub fn job_versions(&self, namespace: &str, id: &str) -> Vec<Arc<Job>> {
        self.job_versions
            .get(&job_key(namespace, id))
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn job_version(&self, namespace: &str, id: &str, version: u64) -> Option<Arc<Job>> {
        self.job_versions(namespace, id)
            .into_iter()
            .find(|j| j.version == version)
    }

    pub fn jobs_in(&self, namespace: &str) -> impl Iterator<Item = &Arc<Job>> + '_ {
        let ns = namespace.to_string();
        self.jobs
            .range((ns.clone(), String::new())..)
            .take_while(move |((n, _), _)| *n == ns)
            .map(|(_, j)| j)
    }

    pub fn job_allocs(&self, namespace: &str, id: &str) -> Vec<Arc<Allocation>> {
        self.allocs_by_job
            .get(&job_key(namespace, id))
            .map(|ids| {
                ids.iter()
                    .filter_map(|a| self.allocs.get(a.as_str()).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The node's allocations and the highest ModifyIndex among them: what a client's
    /// watch waits past, so it wakes only for its own allocations (its reports included).
    pub fn node_allocs_watched(&self, node_id: &str) -> (Vec<Arc<Allocation>>, u64) {
        let allocs = self.node_allocs(node_id);
        let index = allocs
            .iter()
            .map(|a| a.modify_index)
            .max()
            .unwrap_or(self.table_index.allocs);
        (allocs, index)
    }

    pub fn node_allocs(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        self.allocs_by_node
            .get(node_id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|a| self.allocs.get(a.as_str()).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Non-terminal allocations on a node: what holds its capacity.
    pub fn node_live_allocs(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        let mut out = self.node_allocs(node_id);
        out.retain(|a| !a.terminal());
        out
    }

    pub fn job_evals(&self, namespace: &str, id: &str) -> Vec<Arc<Evaluation>> {
        self.evals_by_job
            .get(&job_key(namespace, id))
            .map(|ids| {
                ids.iter()
                    .filter_map(|e| self.evals.get(e).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn job_deployments(&self, namespace: &str, id: &str) -> Vec<Arc<Deployment>> {
        let mut out: Vec<_> = self
            .deployments_by_job
            .get(&job_key(namespace, id))
            .map(|ids| {
                ids.iter()
                    .filter_map(|d| self.deployments.get(d).cloned())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|d| std::cmp::Reverse(d.create_index));
        out
    }

    /// The job's newest deployment, whatever its status.
    pub fn latest_deployment(&self, namespace: &str, id: &str) -> Option<Arc<Deployment>> {
        self.job_deployments(namespace, id).into_iter().next()
    }

    pub fn node(&self, id: &str) -> Option<Arc<Node>> {
        self.nodes.get(id).cloned()
    }

    /// Nomad's job status rules (§3.6 of the reference).
    pub fn job_status(&self, job: &Job) -> &'static str {
        if job.job_type == JOB_TYPE_SYSTEM && job.stop {
            return JOB_STATUS_DEAD;
        }
        if job.periodic.is_some() || job.parameterized_job.is_some() {
            return if job.stop {
                JOB_STATUS_DEAD
            } else {
                JOB_STATUS_RUNNING
            };
        }
        let deployments = self.job_deployments(&job.namespace, &job.id);
        let allocs = self.job_allocs(&job.namespace, &job.id);
        if deployments.iter().any(|d| d.active()) || allocs.iter().any(|a| !a.terminal()) {
            return JOB_STATUS_RUNNING;
        }
        let evals = self.job_evals(&job.namespace, &job.id);
        if evals.iter().any(|e| !e.terminal()) {
            return JOB_STATUS_PENDING;
        }
        if !evals.is_empty() || job.stop {
            return JOB_STATUS_DEAD;
        }
        JOB_STATUS_PENDING
    }

    pub fn job_summary(&self, namespace: &str, id: &str) -> Option<JobSummary> {
        let job = self.job(namespace, id)?;
        let mut summary: BTreeMap<String, TaskGroupSummary> = job
            .task_groups
            .iter()
            .map(|g| (g.name.clone(), TaskGroupSummary::default()))
            .collect();
        for alloc in self.job_allocs(namespace, id) {
            let Some(s) = summary.get_mut(&alloc.task_group) else {
                continue;
            };
            match alloc.client_status.as_str() {
                ALLOC_CLIENT_PENDING if !alloc.server_terminal() => s.starting += 1,
                ALLOC_CLIENT_RUNNING => s.running += 1,
                ALLOC_CLIENT_COMPLETE => s.complete += 1,
                ALLOC_CLIENT_FAILED => s.failed += 1,
                ALLOC_CLIENT_LOST => s.lost += 1,
                ALLOC_CLIENT_UNKNOWN => s.unknown += 1,
                _ => {}
            }
        }
        if let Some(queued) = self.queued.get(&job_key(namespace, id)) {
            for (group, n) in queued {
                if let Some(s) = summary.get_mut(group) {
                    s.queued = *n;
                }
            }
        }
        let mut children = JobChildrenSummary::default();
        if job.periodic.is_some() || job.parameterized_job.is_some() {
            for child in self.jobs_in(namespace).filter(|j| j.parent_id == job.id) {
                match self.job_status(child) {
                    JOB_STATUS_RUNNING => children.running += 1,
                    JOB_STATUS_DEAD => children.dead += 1,
                    _ => children.pending += 1,
                }
            }
        }
        Some(JobSummary {
            job_id: job.id.clone(),
            namespace: job.namespace.clone(),
            summary,
            children,
            create_index: job.create_index,
            modify_index: self.table_index.allocs.max(job.modify_index),
        })
    }
}
