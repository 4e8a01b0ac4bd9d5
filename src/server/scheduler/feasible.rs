//! Feasibility: can a node run a task group at all, regardless of what else runs there?
//! Node status and placement scope (datacenters, pool), task drivers, constraints of the
//! job, group and tasks; and the placement-wide rules `distinct_hosts` and
//! `distinct_property`. Each refusal is counted in the placement's [`AllocMetric`].

use std::collections::HashMap;

use super::context::EvalContext;
use super::operators::{
    node_pool, resolve_target, NODE_POOL_ALL, OP_DISTINCT_HOSTS, OP_DISTINCT_PROPERTY,
};
use super::usage::NodeUsage;
use crate::structs::{Affinity, AllocMetric, Constraint, Job, NetworkResource, Node, TaskGroup};

pub(crate) const FILTER_MISSING_DRIVERS: &str = "missing drivers";
pub(crate) const FILTER_MISSING_NETWORK: &str = "missing network";

/// A task driver a node may serve under another name: drover runs `docker` tasks on its
/// own `container` driver.
const DRIVER_ALIASES: [(&str, &str); 1] = [("docker", "container")];

/// What placing one group asks of a node, gathered once per evaluation.
#[derive(Debug)]
pub(crate) struct GroupAsk<'j> {
    pub group: &'j TaskGroup,
    /// Position in the job's `task_groups`.
    pub index: usize,
    pub job_constraints: Vec<&'j Constraint>,
    /// Group and task constraints (the placement-wide operators are apart).
    pub constraints: Vec<&'j Constraint>,
    pub drivers: Vec<&'j str>,
    pub job_distinct_hosts: bool,
    pub distinct_hosts: bool,
    /// `distinct_property` constraints: (constraint, whether it is the job's).
    pub distinct_properties: Vec<(&'j Constraint, bool)>,
    pub affinities: Vec<&'j Affinity>,
    pub network: Option<&'j NetworkResource>,
    pub tasks: Vec<TaskAsk<'j>>,
    pub disk_mb: i64,
    pub count: i64,
}

#[derive(Debug)]
pub(crate) struct TaskAsk<'j> {
    pub name: &'j str,
    pub cpu: i64,
    pub cores: i64,
    pub memory_mb: i64,
    pub memory_max_mb: i64,
    pub network: Option<&'j NetworkResource>,
}

impl<'j> GroupAsk<'j> {
    pub(crate) fn new(job: &'j Job, index: usize) -> GroupAsk<'j> {
        let group = &job.task_groups[index];
        let placement_wide =
            |c: &&Constraint| c.operand == OP_DISTINCT_HOSTS || c.operand == OP_DISTINCT_PROPERTY;
        let mut constraints: Vec<&Constraint> = group.constraints.iter().collect();
        let mut drivers: Vec<&str> = Vec::new();
        let mut affinities: Vec<&Affinity> =
            job.affinities.iter().chain(&group.affinities).collect();
        let mut tasks = Vec::with_capacity(group.tasks.len());
        for task in &group.tasks {
            constraints.extend(task.constraints.iter());
            affinities.extend(task.affinities.iter());
            if !drivers.contains(&task.driver.as_str()) {
                drivers.push(&task.driver);
            }
            let r = task.resources.as_ref();
            tasks.push(TaskAsk {
                name: &task.name,
                cpu: r.and_then(|r| r.cpu).unwrap_or(0),
                cores: r.and_then(|r| r.cores).unwrap_or(0),
                memory_mb: r.and_then(|r| r.memory_mb).unwrap_or(0) + r.map_or(0, |r| r.secrets_mb),
                memory_max_mb: r.map_or(0, |r| r.memory_max_mb),
                network: r.and_then(|r| r.networks.first()),
            });
        }
        let mut distinct_properties: Vec<(&Constraint, bool)> = job
            .constraints
            .iter()
            .filter(|c| c.operand == OP_DISTINCT_PROPERTY)
            .map(|c| (c, true))
            .collect();
        distinct_properties.extend(
            constraints
                .iter()
                .filter(|c| c.operand == OP_DISTINCT_PROPERTY)
                .map(|c| (*c, false)),
        );
        let distinct_hosts = constraints.iter().any(|c| distinct_hosts_on(c));
        constraints.retain(|c| !placement_wide(c));
        GroupAsk {
            group,
            index,
            job_constraints: job
                .constraints
                .iter()
                .filter(|c| !placement_wide(c))
                .collect(),
            constraints,
            drivers,
            job_distinct_hosts: job.constraints.iter().any(distinct_hosts_on),
            distinct_hosts,
            distinct_properties,
            affinities,
            network: group.networks.first(),
            tasks,
            disk_mb: group
                .ephemeral_disk
                .as_ref()
                .and_then(|d| d.size_mb)
                .unwrap_or(0),
            count: group.count.unwrap_or(1),
        }
    }

    /// MHz the group asks of `node` (reserved cores count at the node's MHz per core).
    pub(crate) fn cpu_on(&self, node: &Node) -> i64 {
        self.tasks.iter().map(|t| task_cpu_on(t, node)).sum()
    }

    pub(crate) fn memory_mb(&self) -> i64 {
        self.tasks.iter().map(|t| t.memory_mb).sum()
    }
}

pub(crate) fn task_cpu_on(task: &TaskAsk<'_>, node: &Node) -> i64 {
    if task.cores > 0 {
        let cpu = &node.node_resources.cpu;
        let per_core = cpu.cpu_shares / i64::try_from(cpu.total_cpu_cores.max(1)).unwrap_or(1);
        task.cpu + task.cores * per_core
    } else {
        task.cpu
    }
}

fn distinct_hosts_on(c: &Constraint) -> bool {
    // Nomad: an unparsable value counts as true.
    c.operand == OP_DISTINCT_HOSTS && !matches!(c.r_target.parse::<bool>(), Ok(false))
}

/// Datacenter globs: `*` matches any run of characters.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let (middle, last) = rest.rsplit_once('*').unwrap_or(("", rest));
    for part in middle.split('*').filter(|p| !p.is_empty()) {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// Is `node` in the job's datacenters and node pool?
pub(crate) fn in_scope(node: &Node, job: &Job) -> bool {
    let pool_ok = job.node_pool.is_empty()
        || job.node_pool == NODE_POOL_ALL
        || node_pool(node) == job.node_pool;
    pool_ok
        && job
            .datacenters
            .iter()
            .any(|dc| glob_match(dc, &node.datacenter))
}

/// Does the node offer every driver (detected and healthy)?
pub(crate) fn has_drivers(node: &Node, drivers: &[&str]) -> bool {
    drivers.iter().all(|d| {
        let alias = DRIVER_ALIASES.iter().find(|(a, _)| a == d).map(|(_, n)| *n);
        let info = node
            .drivers
            .get(*d)
            .or_else(|| alias.and_then(|a| node.drivers.get(a)));
        match info {
            Some(info) => info.detected && info.healthy,
            None => node
                .attributes
                .get(&format!("driver.{d}"))
                .is_some_and(|v| v.parse::<bool>() == Ok(true) || v == "1"),
        }
    })
}

/// Counts a node refused by a constraint (and by its class, as Nomad does).
pub(crate) fn filtered(metric: &mut AllocMetric, node: &Node, reason: &str) {
    metric.filter_constraint(reason);
    if !node.node_class.is_empty() {
        *metric
            .class_filtered
            .entry(node.node_class.clone())
            .or_default() += 1;
    }
}

/// Counts a node that could run the group but has no room for it.
pub(crate) fn exhausted(metric: &mut AllocMetric, node: &Node, dimension: &str) {
    metric.exhausted(dimension);
    if !node.node_class.is_empty() {
        *metric
            .class_exhausted
            .entry(node.node_class.clone())
            .or_default() += 1;
    }
}

/// The node-only checks (no other placements involved), recording the first refusal.
pub(crate) fn node_feasible(
    ctx: &EvalContext,
    ask: &GroupAsk<'_>,
    node: &Node,
    metric: &mut AllocMetric,
) -> bool {
    for c in &ask.job_constraints {
        if !meets(ctx, c, node) {
            filtered(metric, node, &constraint_string(c));
            return false;
        }
    }
    if !has_drivers(node, &ask.drivers) {
        filtered(metric, node, FILTER_MISSING_DRIVERS);
        return false;
    }
    for c in &ask.constraints {
        if !meets(ctx, c, node) {
            filtered(metric, node, &constraint_string(c));
            return false;
        }
    }
    if let Some(net) = ask.network {
        if !has_network_mode(node, &net.mode) {
            filtered(metric, node, FILTER_MISSING_NETWORK);
            return false;
        }
    }
    true
}

fn meets(ctx: &EvalContext, c: &Constraint, node: &Node) -> bool {
    let l = resolve_target(&c.l_target, node);
    let r = resolve_target(&c.r_target, node);
    ctx.ops.check(&c.operand, l, r)
}

/// Nomad's `Constraint.String()`: the key of `ConstraintFiltered`.
pub(crate) fn constraint_string(c: &Constraint) -> String {
    format!("{} {} {}", c.l_target, c.operand, c.r_target)
}

/// A node that lists no networks is taken to offer host networking (clients that do not
/// fingerprint networks yet); one that lists some must offer the mode asked for.
fn has_network_mode(node: &Node, mode: &str) -> bool {
    let want = if mode.is_empty() { "host" } else { mode };
    if want == "none" || node.node_resources.networks.is_empty() {
        return true;
    }
    node.node_resources.networks.iter().any(|n| {
        let m = if n.mode.is_empty() { "host" } else { &n.mode };
        m == want
    })
}

/// `distinct_hosts`: no other allocation of the job (job-level) or of the group on the
/// node, counting the plan's placements.
pub(crate) fn distinct_hosts_ok(ask: &GroupAsk<'_>, usage: &NodeUsage) -> bool {
    if ask.job_distinct_hosts && usage.job_allocs > 0 {
        return false;
    }
    !(ask.distinct_hosts && usage.group_allocs.get(ask.index).is_some_and(|n| *n > 0))
}

/// How many of the job's proposed allocations (of the group, for a group constraint) sit
/// on nodes with each value of a `distinct_property` target.
pub(crate) struct PropertyCounts {
    counts: Vec<HashMap<String, u64>>,
}

impl PropertyCounts {
    pub(crate) fn collect(ctx: &EvalContext, ask: &GroupAsk<'_>) -> PropertyCounts {
        let mut counts = vec![HashMap::new(); ask.distinct_properties.len()];
        if counts.is_empty() {
            return PropertyCounts { counts };
        }
        let snap = &ctx.snapshot;
        let key = crate::server::state::job_key(&ctx.job.namespace, &ctx.job.job_id);
        let stored = snap
            .allocs_by_job
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|id| !ctx.is_removed(id))
            .filter_map(|id| snap.allocs.get(id.as_str()))
            .filter(|a| !a.terminal())
            .map(|a| (a.node_id.as_str(), a.task_group.as_str()));
        let planned = ctx
            .plan
            .node_allocation
            .values()
            .flatten()
            .filter(|a| !a.terminal() && a.job_id == ctx.job.job_id)
            .map(|a| (a.node_id.as_str(), a.task_group.as_str()));
        for (node_id, group) in stored.chain(planned) {
            let Some(node) = snap.nodes.get(node_id) else {
                continue;
            };
            for (i, (c, job_level)) in ask.distinct_properties.iter().enumerate() {
                if !job_level && group != ask.group.name {
                    continue;
                }
                if let Some(v) = resolve_target(&c.l_target, node) {
                    *counts[i].entry(v.to_string()).or_default() += 1;
                }
            }
        }
        PropertyCounts { counts }
    }

    /// `Ok` or the reason the node is refused.
    pub(crate) fn check(&self, ask: &GroupAsk<'_>, node: &Node) -> Result<(), String> {
        for (i, (c, _)) in ask.distinct_properties.iter().enumerate() {
            let Some(value) = resolve_target(&c.l_target, node) else {
                return Err(format!("missing property {:?}", c.l_target));
            };
            let allowed = c.r_target.parse::<u64>().unwrap_or(1).max(1);
            let used = self.counts[i].get(value).copied().unwrap_or(0);
            if used >= allowed {
                return Err(format!(
                    "distinct_property: {}={value} used by {used} allocs",
                    c.l_target
                ));
            }
        }
        Ok(())
    }
}
