//! Deployment health, judged on the client as Nomad does for `health_check =
//! "task_states"` (and `checks`, which without service checks is the same): the
//! allocation is healthy once all its tasks have run for `min_healthy_time` without a
//! restart, and unhealthy if that has not happened by `healthy_deadline` or a task dies.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::alloc_runner::AllocRunner;
use crate::structs::{UpdateStrategy, HEALTH_CHECK_MANUAL, TASK_STATE_DEAD, TASK_STATE_RUNNING};

/// How often task states are looked at while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Nomad's defaults when the strategy leaves them out.
const DEFAULT_MIN_HEALTHY: Duration = Duration::from_secs(10);
const DEFAULT_HEALTHY_DEADLINE: Duration = Duration::from_secs(300);

/// `Some(healthy)` once decided; `None` when this allocation's health is not the
/// client's to judge (no deployment, manual health, already reported).
pub async fn watch(runner: Arc<AllocRunner>) -> Option<bool> {
    let alloc = runner.alloc();
    if alloc.deployment_id.is_empty()
        || runner
            .deployment_status()
            .is_some_and(|d| d.healthy.is_some())
    {
        return None;
    }
    let strategy = alloc
        .job
        .as_ref()?
        .task_groups
        .iter()
        .find(|g| g.name == alloc.task_group)?
        .update
        .clone()?;
    if strategy.health_check.as_deref() == Some(HEALTH_CHECK_MANUAL) {
        return None;
    }
    let (min_healthy, deadline) = timers(&strategy);
    let deadline = Instant::now() + deadline;
    loop {
        let states: Vec<_> = runner.health_tasks().iter().map(|t| t.state()).collect();
        if states
            .iter()
            .any(|s| s.failed || s.state == TASK_STATE_DEAD)
        {
            return Some(false);
        }
        if !states.is_empty() && states.iter().all(|s| s.state == TASK_STATE_RUNNING) {
            let restarts: u64 = states.iter().map(|s| s.restarts).sum();
            let healthy_at = Instant::now() + min_healthy;
            // Still running, without a restart, all along the window?
            let steady = loop {
                if Instant::now() >= healthy_at {
                    break true;
                }
                if Instant::now() >= deadline {
                    return Some(false);
                }
                let now: Vec<_> = runner.health_tasks().iter().map(|t| t.state()).collect();
                if now.iter().any(|s| s.state != TASK_STATE_RUNNING)
                    || now.iter().map(|s| s.restarts).sum::<u64>() != restarts
                {
                    break false;
                }
                tokio::time::sleep(POLL.min(healthy_at - Instant::now())).await;
            };
            if steady {
                return Some(true);
            }
        }
        if Instant::now() >= deadline {
            return Some(false);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn timers(s: &UpdateStrategy) -> (Duration, Duration) {
    let ns = |v: Option<i64>, d: Duration| match v {
        Some(n) if n >= 0 => Duration::from_nanos(n as u64),
        _ => d,
    };
    (
        ns(s.min_healthy_time, DEFAULT_MIN_HEALTHY),
        ns(s.healthy_deadline, DEFAULT_HEALTHY_DEADLINE),
    )
}
