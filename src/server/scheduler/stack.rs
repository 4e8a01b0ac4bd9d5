//! Choosing one node for one group placement (Nomad's generic stack): walk the job's
//! candidate nodes in a shuffled order, continuing where the previous placement
//! stopped, rank the feasible ones and keep the best of the first few (the limit), so a
//! placement costs a handful of nodes however large the cluster.

use std::sync::Arc;

use super::candidates::{candidates, Candidates, LazyShuffle};
use super::context::EvalContext;
use super::feasible::{GroupAsk, PropertyCounts};
use super::rank::{rank_node, RankOptions, Ranked, TopScores};
use crate::structs::{AllocMetric, Job, Node};

/// Candidates with a score at or below this are set aside while better ones are sought.
const SKIP_SCORE_THRESHOLD: f64 = 0.0;
/// How many such low scorers are set aside at most.
const MAX_SKIP: usize = 3;
/// With affinities or spreads, this many candidates are compared (Nomad's default).
const AFFINITY_LIMIT: usize = 100;

pub(crate) struct Stack {
    candidates: Arc<Candidates>,
    order: LazyShuffle,
    offset: usize,
    limit: usize,
}

impl Stack {
    /// The ready, eligible nodes in the job's datacenters and pool, in an order of this
    /// evaluation's own. Batch placements compare two candidates (power of two
    /// choices), service ones log2(n).
    pub(crate) fn new(ctx: &EvalContext, job: &Job, batch: bool) -> Stack {
        let candidates = candidates(&ctx.snapshot.nodes, job);
        let n = candidates.nodes.len();
        let mut limit = 2;
        if !batch && n > 0 {
            limit = limit.max((n as f64).log2().ceil() as usize);
        }
        Stack {
            order: LazyShuffle::new(n),
            candidates,
            offset: 0,
            limit,
        }
    }

    /// The best node for one placement of `ask`, and the metrics of the search. A
    /// `preferred` node (sticky disk) is tried alone first.
    pub(crate) fn select(
        &mut self,
        ctx: &EvalContext,
        ask: &GroupAsk<'_>,
        opts: &RankOptions,
        preferred: Option<&Arc<Node>>,
    ) -> (Option<Ranked>, AllocMetric) {
        let started = std::time::Instant::now();
        let props =
            (!ask.distinct_properties.is_empty()).then(|| PropertyCounts::collect(ctx, ask));
        let mut metric = AllocMetric::default();
        let mut top = TopScores::default();
        let mut chosen = None;
        if let Some(node) = preferred {
            metric.nodes_evaluated += 1;
            chosen = rank_node(ctx, ask, node, props.as_ref(), opts, &mut metric);
            if let Some(r) = &chosen {
                top.record(r);
            }
        }
        if chosen.is_none() {
            chosen = self.walk(ctx, ask, props.as_ref(), opts, &mut metric, &mut top);
        }
        metric.nodes_available = self.candidates.by_dc.clone();
        metric.nodes_in_pool = self.candidates.nodes.len() as u64;
        metric.score_meta_data = top.into_meta();
        metric.allocation_time = started.elapsed().as_nanos() as i64;
        (chosen, metric)
    }

    /// Nomad's limit and max-score iterators over the ranked walk.
    fn walk(
        &mut self,
        ctx: &EvalContext,
        ask: &GroupAsk<'_>,
        props: Option<&PropertyCounts>,
        opts: &RankOptions,
        metric: &mut AllocMetric,
        top: &mut TopScores,
    ) -> Option<Ranked> {
        let limit = if ask.affinities.is_empty() && ask.group.spreads.is_empty() {
            self.limit
        } else {
            AFFINITY_LIMIT.max(usize::try_from(ask.count).unwrap_or(0))
        };
        let mut walker = Walker {
            stack: self,
            seen: 0,
        };
        let mut skipped: Vec<Ranked> = Vec::new();
        let mut skipped_taken = 0;
        let mut best: Option<Ranked> = None;
        let mut returned = 0;
        while returned < limit {
            let mut option = walker.next(ctx, ask, props, opts, metric, top);
            while skipped.len() < MAX_SKIP
                && option
                    .as_ref()
                    .is_some_and(|o| o.score <= SKIP_SCORE_THRESHOLD)
            {
                skipped.extend(option.take());
                option = walker.next(ctx, ask, props, opts, metric, top);
            }
            // Low scorers are used only once nothing else is left.
            if option.is_none() && skipped_taken < skipped.len() {
                option = Some(skipped[skipped_taken].clone());
                skipped_taken += 1;
            }
            let Some(option) = option else {
                break;
            };
            returned += 1;
            if best.as_ref().is_none_or(|b| option.score > b.score) {
                best = Some(option);
            }
        }
        best
    }
}

/// One pass over the candidates, from the stack's offset, each node at most once.
struct Walker<'s> {
    stack: &'s mut Stack,
    seen: usize,
}

impl Walker<'_> {
    fn next(
        &mut self,
        ctx: &EvalContext,
        ask: &GroupAsk<'_>,
        props: Option<&PropertyCounts>,
        opts: &RankOptions,
        metric: &mut AllocMetric,
        top: &mut TopScores,
    ) -> Option<Ranked> {
        let n = self.stack.candidates.nodes.len();
        while self.seen < n {
            let at = self
                .stack
                .order
                .at(self.stack.offset, &mut ctx.rng.borrow_mut());
            let node = &self.stack.candidates.nodes[at];
            self.stack.offset = (self.stack.offset + 1) % n;
            self.seen += 1;
            metric.nodes_evaluated += 1;
            if let Some(r) = rank_node(ctx, ask, node, props, opts, metric) {
                top.record(&r);
                return Some(r);
            }
        }
        None
    }
}
