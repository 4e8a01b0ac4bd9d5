//! Ranking one feasible node: does the group fit beside what the node already runs
//! (CPU, memory, disk, ports), and how good a home is it? Nomad's scores, averaged:
//! bin-packing fitness, job anti-affinity, the reschedule penalty and affinities.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::context::EvalContext;
use super::feasible::{
    distinct_hosts_ok, exhausted, filtered, node_feasible, task_cpu_on, GroupAsk, PropertyCounts,
};
use super::operators::resolve_target;
use super::ports::{allocated_network, assign_ports, with_host_ip};
use crate::structs::{
    AllocMetric, AllocatedCpuResources, AllocatedMemoryResources, AllocatedPortMapping,
    AllocatedResources, AllocatedSharedResources, AllocatedTaskResources, Node, NodeScoreMeta,
};

/// The best possible fitness (an exactly full node).
const BIN_PACKING_MAX_FIT: f64 = 18.0;
/// Scores kept per placement in `ScoreMetaData`.
const MAX_RETAINED_SCORES: usize = 5;
const SCORE_NAMES: [&str; 4] = [
    "binpack",
    "job-anti-affinity",
    "node-reschedule-penalty",
    "node-affinity",
];

/// Which scores apply (the system scheduler uses bin-packing alone).
#[derive(Debug, Default)]
pub(crate) struct RankOptions {
    /// Nodes the replaced allocation failed on.
    pub penalty_nodes: HashSet<String>,
    pub system: bool,
}

/// A node that can take the group, with its score and the ports it would give.
#[derive(Debug, Clone)]
pub(crate) struct Ranked {
    pub node: Arc<Node>,
    pub score: f64,
    scores: [f64; 4],
    ports: Vec<AllocatedPortMapping>,
    task_ports: Vec<Vec<AllocatedPortMapping>>,
}

/// Feasibility, fit and score of one node; `None` (with the reason in `metric`) when it
/// cannot take the group.
pub(crate) fn rank_node(
    ctx: &EvalContext,
    ask: &GroupAsk<'_>,
    node: &Arc<Node>,
    props: Option<&PropertyCounts>,
    opts: &RankOptions,
    metric: &mut AllocMetric,
) -> Option<Ranked> {
    if !node_feasible(ctx, ask, node, metric) {
        return None;
    }
    let usage = ctx.usage(node);
    if !distinct_hosts_ok(ask, &usage) {
        filtered(metric, node, super::operators::OP_DISTINCT_HOSTS);
        return None;
    }
    if let Some(Err(reason)) = props.map(|p| p.check(ask, node)) {
        filtered(metric, node, &reason);
        return None;
    }
    if usage.collision() {
        exhausted(metric, node, "network: port collision");
        return None;
    }
    let mut offered = Vec::new();
    let mut rng = ctx.rng.borrow_mut();
    let ports = match ask.network {
        Some(net) => match assign_ports(net, node, &usage, &mut offered, &mut rng) {
            Ok(p) => p,
            Err(e) => {
                exhausted(metric, node, &format!("network: {e}"));
                return None;
            }
        },
        None => Vec::new(),
    };
    let mut task_ports = Vec::with_capacity(ask.tasks.len());
    for task in &ask.tasks {
        let assigned = match task.network {
            Some(net) => match assign_ports(net, node, &usage, &mut offered, &mut rng) {
                Ok(p) => p,
                Err(e) => {
                    exhausted(metric, node, &format!("network: {e}"));
                    return None;
                }
            },
            None => Vec::new(),
        };
        task_ports.push(assigned);
    }
    drop(rng);

    let (avail_cpu, avail_mem) = node.allocatable();
    let util_cpu = usage.cpu + ask.cpu_on(node);
    let util_mem = usage.memory_mb + ask.memory_mb();
    if util_cpu > avail_cpu {
        exhausted(metric, node, "cpu");
        return None;
    }
    if util_mem > avail_mem {
        exhausted(metric, node, "memory");
        return None;
    }
    // A node that reports no disk is not checked for it.
    let disk = node.node_resources.disk.disk_mb;
    if disk > 0 && usage.disk_mb + ask.disk_mb > disk - node.reserved_resources.disk.disk_mb {
        exhausted(metric, node, "disk");
        return None;
    }

    let mut scores = [0.0; 4];
    let mut applied = [true, false, false, false];
    scores[0] = fitness(avail_cpu, avail_mem, util_cpu, util_mem) / BIN_PACKING_MAX_FIT;
    if !opts.system {
        let collisions = usage.group_allocs.get(ask.index).copied().unwrap_or(0);
        if collisions > 0 {
            scores[1] = -f64::from(collisions + 1) / ask.count.max(1) as f64;
            applied[1] = true;
        }
        if opts.penalty_nodes.contains(&node.id) {
            scores[2] = -1.0;
            applied[2] = true;
        }
        if !ask.affinities.is_empty() {
            scores[3] = affinity_score(ctx, ask, node);
            applied[3] = true;
        }
    }
    let used: Vec<f64> = (0..4).filter(|i| applied[*i]).map(|i| scores[i]).collect();
    let score = used.iter().sum::<f64>() / used.len() as f64;
    Some(Ranked {
        node: node.clone(),
        score,
        scores,
        ports,
        task_ports,
    })
}

/// Nomad's BestFit v3: 20 − (10^freeCpu + 10^freeMem), in 0..=18; fuller is better.
pub(crate) fn fitness(avail_cpu: i64, avail_mem: i64, util_cpu: i64, util_mem: i64) -> f64 {
    let free = |util: i64, avail: i64| 1.0 - util as f64 / avail.max(1) as f64;
    let total = 10f64.powf(free(util_cpu, avail_cpu)) + 10f64.powf(free(util_mem, avail_mem));
    (20.0 - total).clamp(0.0, BIN_PACKING_MAX_FIT)
}

/// Matching affinity weights over all weights, in -1..=1.
fn affinity_score(ctx: &EvalContext, ask: &GroupAsk<'_>, node: &Node) -> f64 {
    let weight = |a: &crate::structs::Affinity| a.weight.unwrap_or(50) as f64;
    let total: f64 = ask.affinities.iter().map(|a| weight(a).abs()).sum();
    if total == 0.0 {
        return 0.0;
    }
    let matched: f64 = ask
        .affinities
        .iter()
        .filter(|a| {
            let l = resolve_target(&a.l_target, node);
            let r = resolve_target(&a.r_target, node);
            ctx.ops.check(&a.operand, l, r)
        })
        .map(|a| weight(a))
        .sum();
    matched / total
}

impl Ranked {
    /// What the new allocation holds on the chosen node.
    pub(crate) fn resources(&self, ask: &GroupAsk<'_>) -> AllocatedResources {
        let mut tasks = BTreeMap::new();
        for (task, ports) in ask.tasks.iter().zip(&self.task_ports) {
            let networks = match task.network {
                Some(net) => vec![allocated_network(net, ports, &self.node)],
                None => Vec::new(),
            };
            tasks.insert(
                task.name.to_string(),
                AllocatedTaskResources {
                    cpu: AllocatedCpuResources {
                        cpu_shares: task_cpu_on(task, &self.node),
                        reserved_cores: Vec::new(),
                    },
                    memory: AllocatedMemoryResources {
                        memory_mb: task.memory_mb,
                        memory_max_mb: task.memory_max_mb,
                    },
                    networks,
                },
            );
        }
        let networks = match ask.network {
            Some(net) => vec![allocated_network(net, &self.ports, &self.node)],
            None => Vec::new(),
        };
        AllocatedResources {
            tasks,
            shared: AllocatedSharedResources {
                disk_mb: ask.disk_mb,
                networks,
                ports: with_host_ip(&self.ports, &self.node),
            },
        }
    }
}

/// The best few scores seen while selecting (`ScoreMetaData`), best first.
#[derive(Debug, Default)]
pub(crate) struct TopScores(Vec<Ranked>);

impl TopScores {
    pub(crate) fn record(&mut self, r: &Ranked) {
        if self.0.len() == MAX_RETAINED_SCORES {
            let worst = self.0.last().map_or(f64::MIN, |w| w.score);
            if r.score <= worst {
                return;
            }
            self.0.pop();
        }
        let at = self.0.partition_point(|x| x.score >= r.score);
        self.0.insert(at, r.clone());
    }

    pub(crate) fn into_meta(self) -> Vec<NodeScoreMeta> {
        self.0
            .into_iter()
            .map(|r| NodeScoreMeta {
                node_id: r.node.id.clone(),
                scores: SCORE_NAMES
                    .iter()
                    .zip(r.scores)
                    .map(|(n, s)| (n.to_string(), s))
                    .collect(),
                norm_score: r.score,
            })
            .collect()
    }
}
