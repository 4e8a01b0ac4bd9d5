//! Helpers shared by the schedulers: the destructive-update rule (§3.2), the reschedule
//! arithmetic of failed allocations (§3.5) and which nodes taint their allocations.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::server::state::Tables;
use crate::structs::time::parse_rfc3339;
use crate::structs::{
    Allocation, Job, NetworkResource, Node, RescheduleEvent, ReschedulePolicy, RescheduleTracker,
    Resources, RestartPolicy, Task, TaskGroup, ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST,
    ALLOC_DESIRED_STOP, JOB_TYPE_BATCH, NODE_STATUS_DISCONNECTED, NODE_STATUS_DOWN,
};

/// Reschedule events a new allocation inherits when the policy is unlimited.
const MAX_PAST_RESCHEDULE_EVENTS: usize = 5;

/// Whether allocations of `group` under job `a` must be replaced (not updated in place)
/// to run job `b`.
pub fn tasks_updated(a: &Job, b: &Job, group: &str) -> bool {
    tasks_updated_reason(a, b, group).is_some()
}

/// The first difference that forces a destructive update, named for logs and tests.
pub fn tasks_updated_reason(a: &Job, b: &Job, group: &str) -> Option<&'static str> {
    let ga = find_group(a, group)?;
    let Some(gb) = find_group(b, group) else {
        return Some("task group removed");
    };
    if ga.tasks.len() != gb.tasks.len() {
        return Some("number of tasks");
    }
    if ga.ephemeral_disk != gb.ephemeral_disk {
        return Some("ephemeral disk");
    }
    if let Some(why) = networks_updated(&ga.networks, &gb.networks) {
        return Some(why);
    }
    if ga.volumes != gb.volumes {
        return Some("volume request");
    }
    if render_templates(ga.restart_policy.as_ref()) != render_templates(gb.restart_policy.as_ref())
    {
        return Some("group restart render_templates");
    }
    for ta in &ga.tasks {
        let Some(tb) = gb.tasks.iter().find(|t| t.name == ta.name) else {
            return Some("task deleted");
        };
        if let Some(why) = task_updated(a, b, ga, gb, ta, tb) {
            return Some(why);
        }
    }
    None
}

fn find_group<'a>(job: &'a Job, name: &str) -> Option<&'a TaskGroup> {
    job.task_groups.iter().find(|g| g.name == name)
}

fn task_updated(
    ja: &Job,
    jb: &Job,
    ga: &TaskGroup,
    gb: &TaskGroup,
    ta: &Task,
    tb: &Task,
) -> Option<&'static str> {
    let checks: [(bool, &'static str); 10] = [
        (ta.driver != tb.driver, "task driver"),
        (ta.user != tb.user, "task user"),
        (ta.config != tb.config, "task config"),
        (ta.env != tb.env, "task env"),
        (ta.artifacts != tb.artifacts, "task artifacts"),
        (ta.templates != tb.templates, "task templates"),
        (ta.volume_mounts != tb.volume_mounts, "task volume mounts"),
        (
            combined_meta(ja, ga, ta) != combined_meta(jb, gb, tb),
            "task meta",
        ),
        (
            ta.identity != tb.identity || ta.identities != tb.identities,
            "task identity",
        ),
        (log_disabled(ta) != log_disabled(tb), "task log disabled"),
    ];
    if let Some((_, why)) = checks.iter().find(|(changed, _)| *changed) {
        return Some(why);
    }
    let (ra, rb) = (ta.resources.as_ref(), tb.resources.as_ref());
    let nets = |r: Option<&Resources>| r.map(|r| r.networks.clone()).unwrap_or_default();
    if let Some(why) = networks_updated(&nets(ra), &nets(rb)) {
        return Some(why);
    }
    if let Some(why) = resources_updated(ra, rb) {
        return Some(why);
    }
    if render_templates(ta.restart_policy.as_ref()) != render_templates(tb.restart_policy.as_ref())
    {
        return Some("task restart render_templates");
    }
    None
}

/// Job, group and task meta merged, the inner level winning (what the task sees).
fn combined_meta(job: &Job, group: &TaskGroup, task: &Task) -> BTreeMap<String, String> {
    let mut meta = job.meta.clone();
    meta.extend(group.meta.clone());
    meta.extend(task.meta.clone());
    meta
}

fn log_disabled(task: &Task) -> bool {
    task.log_config
        .as_ref()
        .and_then(|l| l.disabled)
        .unwrap_or(false)
}

fn render_templates(policy: Option<&RestartPolicy>) -> bool {
    policy.and_then(|p| p.render_templates).unwrap_or(false)
}

fn resources_updated(a: Option<&Resources>, b: Option<&Resources>) -> Option<&'static str> {
    let default = Resources::default();
    let (a, b) = (a.unwrap_or(&default), b.unwrap_or(&default));
    let checks = [
        (a.cpu != b.cpu, "task cpu"),
        (a.cores != b.cores, "task cores"),
        (a.memory_mb != b.memory_mb, "task memory"),
        (a.memory_max_mb != b.memory_max_mb, "task memory max"),
        (a.devices != b.devices, "task devices"),
        (a.secrets_mb != b.secrets_mb, "task secrets"),
    ];
    checks.iter().find(|(c, _)| *c).map(|(_, why)| *why)
}

fn networks_updated(a: &[NetworkResource], b: &[NetworkResource]) -> Option<&'static str> {
    if a.len() != b.len() {
        return Some("network lengths");
    }
    for (na, nb) in a.iter().zip(b) {
        let checks = [
            (na.mode != nb.mode, "network mode"),
            (na.mbits != nb.mbits, "network mbits"),
            (na.hostname != nb.hostname, "network hostname"),
            (na.dns != nb.dns, "network dns"),
            (na.cni != nb.cni, "network cni"),
            (port_map(na) != port_map(nb), "network port map"),
        ];
        if let Some((_, why)) = checks.iter().find(|(c, _)| *c) {
            return Some(why);
        }
    }
    None
}

/// (label, value, to, host network) per port; a dynamic port's assigned value does not
/// count as a change.
fn port_map(n: &NetworkResource) -> Vec<(&str, i64, i64, &str)> {
    let reserved = n
        .reserved_ports
        .iter()
        .map(|p| (p.label.as_str(), p.value, p.to, p.host_network.as_str()));
    let dynamic = n
        .dynamic_ports
        .iter()
        .map(|p| (p.label.as_str(), -1, p.to, p.host_network.as_str()));
    reserved.chain(dynamic).collect()
}

/// When an allocation failed (unix ns): the latest `FinishedAt` of its tasks, else its
/// `ModifyTime`.
pub fn alloc_failed_time(alloc: &Allocation) -> i64 {
    alloc
        .task_states
        .values()
        .filter_map(|s| parse_rfc3339(&s.finished_at))
        .max()
        .unwrap_or(alloc.modify_time)
}

/// The reschedule policy of the allocation's own job version.
pub fn alloc_reschedule_policy(alloc: &Allocation) -> Option<&ReschedulePolicy> {
    alloc
        .job
        .as_deref()
        .and_then(|job| find_group(job, &alloc.task_group))
        .and_then(|g| g.reschedule_policy.as_ref())
}

/// Reschedules counted against `policy`'s attempts: events within the interval before
/// `fail_time`.
fn attempts_in_interval(
    tracker: Option<&RescheduleTracker>,
    policy: &ReschedulePolicy,
    fail_time: i64,
) -> i64 {
    let interval = policy.interval.unwrap_or_default();
    let events = tracker.map_or(&[][..], |t| &t.events[..]);
    events
        .iter()
        .filter(|e| fail_time - e.reschedule_time < interval)
        .count() as i64
}

/// Whether the policy allows another reschedule of an allocation that failed at
/// `fail_time` with this reschedule history.
pub fn reschedule_eligible(
    tracker: Option<&RescheduleTracker>,
    policy: &ReschedulePolicy,
    fail_time: i64,
) -> bool {
    if !policy.enabled() {
        return false;
    }
    if policy.unlimited == Some(true) {
        return true;
    }
    attempts_in_interval(tracker, policy, fail_time) < policy.attempts.unwrap_or_default()
}

/// The delay before the next reschedule: the policy's delay function over the previous
/// delays, capped by `max_delay` (and back to `delay` once a capped wait has passed).
pub fn next_reschedule_delay(alloc: &Allocation) -> i64 {
    let Some(policy) = alloc_reschedule_policy(alloc) else {
        return 0;
    };
    let base = policy.delay.unwrap_or_default();
    let events = alloc
        .reschedule_tracker
        .as_ref()
        .map_or(&[][..], |t| &t.events[..]);
    let Some(last) = events.last() else {
        return base;
    };
    let max_delay = policy.max_delay.unwrap_or_default();
    let mut delay = match policy.delay_function.as_deref() {
        Some("exponential") => last.delay.saturating_mul(2),
        Some("fibonacci") if events.len() >= 2 => {
            let before = events[events.len() - 2].delay;
            // A capped series that was reset starts over.
            if before == max_delay && last.delay == base {
                last.delay
            } else {
                last.delay.saturating_add(before)
            }
        }
        Some("fibonacci") => base,
        _ => return base,
    };
    if max_delay > 0 && delay > max_delay {
        delay = max_delay;
        if alloc_failed_time(alloc) - last.reschedule_time > delay {
            delay = base;
        }
    }
    delay
}

/// When a failed (or lost) allocation may be replaced, if its policy still allows it.
pub fn next_reschedule_time(alloc: &Allocation) -> Option<i64> {
    let policy = alloc_reschedule_policy(alloc)?;
    if !policy.enabled() {
        return None;
    }
    let fail_time = alloc_failed_time(alloc);
    let batch_marked = alloc
        .job
        .as_ref()
        .is_some_and(|j| j.job_type == JOB_TYPE_BATCH)
        && alloc.desired_transition.reschedule == Some(true);
    let failed = matches!(
        alloc.client_status.as_str(),
        ALLOC_CLIENT_FAILED | ALLOC_CLIENT_LOST
    );
    if alloc.desired_status == ALLOC_DESIRED_STOP || (!batch_marked && !failed) || fail_time == 0 {
        return None;
    }
    let delay = next_reschedule_delay(alloc);
    let tracker = alloc
        .reschedule_tracker
        .as_ref()
        .filter(|t| !t.events.is_empty());
    let eligible = match tracker {
        _ if policy.unlimited == Some(true) => true,
        None => policy.attempts.unwrap_or_default() > 0,
        Some(t) => {
            attempts_in_interval(Some(t), policy, fail_time) < policy.attempts.unwrap_or_default()
                && delay < policy.interval.unwrap_or_default()
        }
    };
    eligible.then_some(fail_time + delay)
}

/// The reschedule history a replacement of `prev` carries: `prev`'s recent events plus
/// this reschedule (at `now`, with the delay that was waited).
pub fn next_reschedule_tracker(prev: &Allocation, now: i64) -> RescheduleTracker {
    let mut events = Vec::new();
    if let Some(tracker) = &prev.reschedule_tracker {
        let policy = alloc_reschedule_policy(prev);
        let attempts = policy.and_then(|p| p.attempts).unwrap_or_default();
        if attempts > 0 {
            let interval = policy.and_then(|p| p.interval).unwrap_or_default();
            events.extend(
                tracker
                    .events
                    .iter()
                    .filter(|e| interval > 0 && now - e.reschedule_time <= interval)
                    .cloned(),
            );
        } else {
            let skip = tracker
                .events
                .len()
                .saturating_sub(MAX_PAST_RESCHEDULE_EVENTS);
            events.extend(tracker.events.iter().skip(skip).cloned());
        }
    }
    events.push(RescheduleEvent {
        reschedule_time: now,
        prev_alloc_id: prev.id.clone(),
        prev_node_id: prev.node_id.clone(),
        delay: next_reschedule_delay(prev),
    });
    RescheduleTracker { events }
}

/// The nodes of `allocs` that taint them: gone (`None`), down, disconnected or draining.
pub fn tainted_nodes(
    state: &Tables,
    allocs: &[Arc<Allocation>],
) -> BTreeMap<String, Option<Arc<Node>>> {
    let mut out = BTreeMap::new();
    for alloc in allocs {
        if out.contains_key(&alloc.node_id) || alloc.node_id.is_empty() {
            continue;
        }
        match state.node(&alloc.node_id) {
            None => {
                out.insert(alloc.node_id.clone(), None);
            }
            Some(node) if node_taints(&node) => {
                out.insert(alloc.node_id.clone(), Some(node));
            }
            Some(_) => {}
        }
    }
    out
}

fn node_taints(node: &Node) -> bool {
    node.drain || node.status == NODE_STATUS_DOWN || node.status == NODE_STATUS_DISCONNECTED
}

#[cfg(test)]
mod reschedule_tests;
#[cfg(test)]
mod tests;
