//! The plan queue and the plan applier. Workers schedule in parallel against
//! snapshots; one applier takes their plans in priority order and re-checks each node
//! against the newest state (capacity, ports, node status) before committing, so two
//! workers can never both fill the same room. What does not fit is refused and the
//! worker re-plans against a newer snapshot (`refresh_index`).

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::plan::{Plan, PlanResult};
use super::state::{AllocStop, Command, PlanApply, StateError, Tables};
use super::Core;
use crate::structs::{Allocation, Node, NODE_STATUS_DISCONNECTED, NODE_STATUS_DOWN};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("plan queue is disabled")]
    Disabled,
    #[error("plan applier stopped before answering")]
    Dropped,
    #[error("applying plan: {0}")]
    State(#[from] StateError),
}

/// Plans waiting for the applier, highest priority first, then in arrival order.
pub struct PlanQueue {
    inner: Mutex<QueueInner>,
    cv: Condvar,
}

#[derive(Default)]
struct QueueInner {
    enabled: bool,
    seq: u64,
    heap: BinaryHeap<PendingPlan>,
    /// The applier holds a plan it has not answered yet.
    applying: bool,
}

pub(crate) struct PendingPlan {
    seq: u64,
    pub(crate) plan: Plan,
    reply: Reply,
}

type Reply = mpsc::SyncSender<Result<PlanResult, PlanError>>;

impl PendingPlan {
    pub(crate) fn respond(self, result: Result<PlanResult, PlanError>) {
        // The worker may have given up (shutdown); nobody to tell then.
        let _ = self.reply.send(result);
    }

    pub(crate) fn split(self) -> (Plan, Reply) {
        (self.plan, self.reply)
    }
}

impl Ord for PendingPlan {
    fn cmp(&self, other: &Self) -> Ordering {
        self.plan
            .priority
            .cmp(&other.plan.priority)
            .then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for PendingPlan {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PendingPlan {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for PendingPlan {}

/// The applier's answer to one submitted plan.
pub struct PlanFuture(mpsc::Receiver<Result<PlanResult, PlanError>>);

impl PlanFuture {
    pub fn wait(self) -> Result<PlanResult, PlanError> {
        self.0.recv().unwrap_or(Err(PlanError::Dropped))
    }
}

impl Default for PlanQueue {
    fn default() -> Self {
        PlanQueue {
            inner: Mutex::new(QueueInner::default()),
            cv: Condvar::new(),
        }
    }
}

impl PlanQueue {
    /// Disabling answers every queued plan with [`PlanError::Disabled`].
    pub fn set_enabled(&self, enabled: bool) {
        let mut g = self.inner.lock();
        g.enabled = enabled;
        if enabled {
            return;
        }
        let queued = std::mem::take(&mut g.heap);
        drop(g);
        self.cv.notify_all();
        for p in queued {
            p.respond(Err(PlanError::Disabled));
        }
    }

    pub fn submit(&self, plan: Plan) -> Result<PlanFuture, PlanError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let mut g = self.inner.lock();
        if !g.enabled {
            return Err(PlanError::Disabled);
        }
        g.seq += 1;
        let seq = g.seq;
        g.heap.push(PendingPlan {
            seq,
            plan,
            reply: tx,
        });
        drop(g);
        self.cv.notify_one();
        Ok(PlanFuture(rx))
    }

    /// The next plan, waiting up to `timeout`; `None` on timeout or when disabled.
    pub(crate) fn dequeue(&self, timeout: Duration) -> Option<PendingPlan> {
        let deadline = Instant::now() + timeout;
        let mut g = self.inner.lock();
        loop {
            if !g.enabled {
                return None;
            }
            if let Some(p) = g.heap.pop() {
                g.applying = true;
                return Some(p);
            }
            if self.cv.wait_until(&mut g, deadline).timed_out() {
                return None;
            }
        }
    }

    pub(crate) fn done_applying(&self) {
        self.inner.lock().applying = false;
    }

    pub fn depth(&self) -> usize {
        self.inner.lock().heap.len()
    }

    /// Nothing queued and nothing being applied.
    pub fn idle(&self) -> bool {
        let g = self.inner.lock();
        g.heap.is_empty() && !g.applying
    }
}

/// Per node: accepted, or refused with a reason.
pub struct Verdict {
    pub accepted: Vec<String>,
    pub refused: Vec<(String, String)>,
}

/// Checks every node of `plan` against `snap`. Stops always fit; an `all_at_once` plan
/// is accepted whole or refused whole.
pub fn check_plan(snap: &Tables, plan: &Plan) -> Verdict {
    let stopping: HashSet<&str> = plan
        .node_update
        .values()
        .flatten()
        .map(|s| s.alloc_id.as_str())
        .collect();
    let nodes: BTreeSet<&String> = plan
        .node_update
        .keys()
        .chain(plan.node_allocation.keys())
        .collect();
    let mut verdict = Verdict {
        accepted: Vec::with_capacity(nodes.len()),
        refused: Vec::new(),
    };
    for node_id in nodes {
        let allocs = plan.node_allocation.get(node_id).map_or(&[][..], |v| v);
        let stops = plan.node_update.get(node_id).map_or(&[][..], |v| v);
        match evaluate_node(snap, node_id, allocs, stops, &stopping) {
            Ok(()) => verdict.accepted.push(node_id.clone()),
            Err(reason) => {
                verdict.refused.push((node_id.clone(), reason));
                if plan.all_at_once {
                    verdict.accepted.clear();
                    break;
                }
            }
        }
    }
    verdict
}

/// A plan checked against a state: what to report, the command that commits the
/// accepted nodes (`None` when nothing is left), and the refused nodes with reasons.
pub struct Evaluated {
    pub result: PlanResult,
    pub command: Option<Command>,
    pub refused: Vec<(String, String)>,
}

/// Checks `plan` against `snap` and splits it into what is committed and what is not.
/// The command takes the plan's own allocations; the result names them only.
pub fn evaluate_plan(snap: &Tables, mut plan: Plan) -> Evaluated {
    let verdict = check_plan(snap, &plan);
    let mut result = result_frame(snap, &plan, &verdict);
    let (mut stops, mut allocs) = (Vec::new(), Vec::new());
    for node in verdict.accepted {
        if let Some(s) = plan.node_update.remove(&node).filter(|s| !s.is_empty()) {
            stops.extend(s.iter().cloned());
            result.node_update.insert(node.clone(), s);
        }
        if let Some(a) = plan.node_allocation.remove(&node).filter(|a| !a.is_empty()) {
            result
                .node_allocation
                .insert(node, a.iter().map(committed_identity).collect());
            allocs.extend(a);
        }
    }
    let command = commit_command(&plan, stops, allocs, &result);
    Evaluated {
        result,
        command,
        refused: verdict.refused,
    }
}

/// The result without its per-node changes.
fn result_frame(snap: &Tables, plan: &Plan, verdict: &Verdict) -> PlanResult {
    let refused_all = plan.all_at_once && !verdict.refused.is_empty();
    PlanResult {
        deployment: plan.deployment.clone().filter(|_| !refused_all),
        deployment_updates: if refused_all {
            Vec::new()
        } else {
            plan.deployment_updates.clone()
        },
        refresh_index: if verdict.refused.is_empty() {
            0
        } else {
            snap.index.max(1)
        },
        ..Default::default()
    }
}

/// Why the allocations `plan_allocs` cannot go on the node, if they cannot.
fn evaluate_node(
    snap: &Tables,
    node_id: &str,
    plan_allocs: &[Allocation],
    node_stops: &[AllocStop],
    stopping: &HashSet<&str>,
) -> Result<(), String> {
    if plan_allocs.is_empty() {
        return Ok(());
    }
    let Some(node) = snap.node(node_id) else {
        return Err("node does not exist".into());
    };
    let stored: Vec<Option<&Arc<Allocation>>> = plan_allocs
        .iter()
        .map(|a| snap.allocs.get(a.id.as_str()))
        .collect();
    // Only changes to allocations already there (marking them lost, recording a
    // follow-up eval, in-place updates) may touch a node that takes no new work.
    let all_existing = stored.iter().all(Option::is_some);
    match node.status.as_str() {
        NODE_STATUS_DOWN | NODE_STATUS_DISCONNECTED if all_existing => return Ok(()),
        NODE_STATUS_DOWN | NODE_STATUS_DISCONNECTED => {
            return Err(format!("node is {} and the plan places on it", node.status))
        }
        _ if !node.ready() => return Err("node is not ready for placements".into()),
        _ => {}
    }
    if !all_existing && !node.schedulable() {
        return Err("node is not eligible".into());
    }
    // Start from the node's running totals (kept by the state store) and take out what
    // this plan stops or replaces: one lookup instead of a walk over the node's allocations.
    let base = snap.node_usage.get(node_id).cloned().unwrap_or_default();
    let mut usage = Usage {
        cpu: base.cpu,
        memory_mb: base.memory_mb,
        disk_mb: base.disk_mb,
    };
    let mut ports: HashMap<i64, u32> = HashMap::new();
    for port in &base.ports {
        *ports.entry(i64::from(*port)).or_default() += 1;
    }
    let mut released: HashSet<&str> = HashSet::new();
    let replaced = plan_allocs.iter().map(|a| a.id.as_str());
    let stopped = node_stops.iter().map(|s| s.alloc_id.as_str());
    for id in replaced.chain(stopped) {
        let Some(old) = snap.allocs.get(id) else {
            continue;
        };
        if old.node_id != node_id || old.terminal() || !released.insert(id) {
            continue;
        }
        usage.remove(old);
        for port in alloc_ports(old) {
            if let Some(n) = ports.get_mut(&port) {
                *n = n.saturating_sub(1);
            }
        }
    }
    if plan_allocs.iter().any(|a| alloc_ports(a).next().is_some()) {
        for port in node.reserved_ports() {
            *ports.entry(port).or_default() += 1;
        }
    }
    for (alloc, stored) in plan_allocs.iter().zip(stored) {
        if stopping.contains(alloc.id.as_str()) || !holds_resources(alloc, stored) {
            continue;
        }
        usage.add(alloc);
        let mut own: Vec<i64> = alloc_ports(alloc).collect();
        own.sort_unstable();
        own.dedup();
        for port in own {
            let held = ports.entry(port).or_default();
            if *held > 0 {
                return Err(format!("network: port collision on port {port}"));
            }
            *held = 1;
        }
    }
    usage.fits(&node)
}

/// An allocation of the plan holds resources unless it is stopped by the server, or by
/// its client (whose status the stored copy has: plans never change it).
fn holds_resources(alloc: &Allocation, stored: Option<&Arc<Allocation>>) -> bool {
    if alloc.server_terminal() {
        return false;
    }
    match stored {
        Some(stored) => !stored.client_terminal(),
        None => !alloc.client_terminal(),
    }
}

fn alloc_ports(alloc: &Allocation) -> impl Iterator<Item = i64> + '_ {
    alloc
        .allocated_resources
        .iter()
        .flat_map(|r| r.host_ports())
        .filter(|p| *p > 0)
}

#[derive(Default)]
struct Usage {
    cpu: i64,
    memory_mb: i64,
    disk_mb: i64,
}

impl Usage {
    fn add(&mut self, alloc: &Allocation) {
        if let Some(r) = &alloc.allocated_resources {
            self.cpu += r.cpu();
            self.memory_mb += r.memory_mb();
            self.disk_mb += r.shared.disk_mb;
        }
    }

    fn remove(&mut self, alloc: &Allocation) {
        if let Some(r) = &alloc.allocated_resources {
            self.cpu -= r.cpu();
            self.memory_mb -= r.memory_mb();
            self.disk_mb -= r.shared.disk_mb;
        }
    }

    fn fits(&self, node: &Node) -> Result<(), String> {
        let (cpu, memory_mb) = node.allocatable();
        let disk_mb = node.node_resources.disk.disk_mb - node.reserved_resources.disk.disk_mb;
        for (dimension, used, available) in [
            ("cpu", self.cpu, cpu),
            ("memory", self.memory_mb, memory_mb),
            ("disk", self.disk_mb, disk_mb),
        ] {
            if used > available {
                return Err(format!("{dimension} exhausted ({used} > {available})"));
            }
        }
        Ok(())
    }
}

fn commit_command(
    plan: &Plan,
    stops: Vec<AllocStop>,
    mut allocs: Vec<Allocation>,
    result: &PlanResult,
) -> Option<Command> {
    if stops.is_empty()
        && allocs.is_empty()
        && result.deployment.is_none()
        && result.deployment_updates.is_empty()
    {
        return None;
    }
    for a in &mut allocs {
        let same_version = match (&a.job, &plan.job) {
            (Some(own), Some(planned)) => {
                own.version == planned.version && own.job_modify_index == planned.job_modify_index
            }
            _ => false,
        };
        if same_version {
            a.job = None;
        }
    }
    Some(Command::PlanApply(Box::new(PlanApply {
        eval_id: plan.eval_id.clone(),
        job: plan.job.as_deref().cloned(),
        allocs,
        stops,
        deployment: result.deployment.clone(),
        deployment_updates: result.deployment_updates.clone(),
        evals: Vec::new(),
    })))
}

impl Core {
    /// The plan applier's loop; returns when `stop` is set.
    pub(crate) fn run_applier(&self, stop: &AtomicBool) {
        while !stop.load(SeqCst) {
            let Some(pending) = self.plan_queue.dequeue(Duration::from_millis(500)) else {
                continue;
            };
            let (plan, reply) = pending.split();
            let result = self.apply_plan(plan);
            self.plan_queue.done_applying();
            // The worker may have given up (shutdown); nobody to tell then.
            let _ = reply.send(result);
        }
    }

    /// Checks `plan` against the newest state and commits what fits in one command.
    pub(crate) fn apply_plan(&self, plan: Plan) -> Result<PlanResult, PlanError> {
        let start = Instant::now();
        let eval_id = plan.eval_id.clone();
        let Evaluated {
            mut result,
            command,
            refused,
        } = evaluate_plan(&self.state.snapshot(), plan);
        if !refused.is_empty() {
            self.metrics.plan_node_rejected.add(refused.len() as u64);
            log_refused(&eval_id, &refused);
        }
        self.metrics.plan_evaluate.record(start.elapsed());
        if let Some(command) = command {
            let start = Instant::now();
            result.alloc_index = self.apply(command)?;
            self.metrics.plan_apply.record(start.elapsed());
        }
        Ok(result)
    }
}

/// What the result says of a committed allocation: who it is, not its whole body (the
/// state has that); copying every placement's metrics back doubled the applier's work.
fn committed_identity(a: &Allocation) -> Allocation {
    Allocation {
        id: a.id.clone(),
        name: a.name.clone(),
        namespace: a.namespace.clone(),
        job_id: a.job_id.clone(),
        node_id: a.node_id.clone(),
        task_group: a.task_group.clone(),
        desired_status: a.desired_status.clone(),
        ..Default::default()
    }
}

/// Per-node reasons of the last refusals, for logs.
pub(crate) fn log_refused(eval_id: &str, refused: &[(String, String)]) {
    let by_node: HashMap<&str, &str> = refused
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    for (node, reason) in by_node {
        tracing::debug!(eval_id, node_id = node, reason, "plan for node refused");
    }
}

#[cfg(test)]
mod tests;
