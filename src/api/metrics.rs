//! `GET /v1/metrics`: go-metrics' in-memory JSON (`{Timestamp, Gauges, Counters,
//! Samples, Points}`) or, with `?format=prometheus`, Prometheus text. The gauges are
//! computed from the state when asked (job statuses, allocation and node counts, the
//! state index) and from the server's broker.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::Serialize;

use super::{Api, ApiResult, ApiState, Reply, Req};
use crate::server::metrics::{Metric, MetricKind};
use crate::server::state::Tables;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Gauge {
    pub name: String,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
}

impl Gauge {
    fn new(name: &str, value: usize) -> Gauge {
        Gauge {
            name: name.to_string(),
            value: value as f64,
            labels: BTreeMap::new(),
        }
    }

    fn label(mut self, key: &str, value: &str) -> Gauge {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricsSummary {
    /// go-metrics' interval start, `2006-01-02 15:04:05 +0000 UTC`.
    timestamp: String,
    gauges: Vec<Gauge>,
    points: Vec<serde_json::Value>,
    counters: Vec<Sampled>,
    samples: Vec<Sampled>,
}

/// Every gauge the state gives, with Nomad's names where Nomad has one.
pub fn state_gauges(t: &Tables) -> Vec<Gauge> {
    let mut out = Vec::new();
    let mut job_status: BTreeMap<&str, usize> = ["pending", "running", "dead"]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for job in t.jobs.values() {
        *job_status.entry(t.job_status(job)).or_default() += 1;
    }
    for (status, n) in job_status {
        out.push(Gauge::new(&format!("nomad.nomad.job_status.{status}"), n));
    }
    for job in t.jobs.values() {
        let Some(summary) = t.job_summary(&job.namespace, &job.id) else {
            continue;
        };
        for (group, s) in &summary.summary {
            let counts = [
                ("queued", s.queued),
                ("complete", s.complete),
                ("failed", s.failed),
                ("running", s.running),
                ("starting", s.starting),
                ("lost", s.lost),
                ("unknown", s.unknown),
            ];
            for (what, n) in counts {
                out.push(
                    Gauge::new(&format!("nomad.nomad.job_summary.{what}"), n as usize)
                        .label("job", &job.id)
                        .label("task_group", group)
                        .label("namespace", &job.namespace),
                );
            }
        }
    }
    let mut allocs: BTreeMap<&str, usize> = BTreeMap::new();
    for a in t.allocs.values() {
        *allocs.entry(a.client_status.as_str()).or_default() += 1;
    }
    for (status, n) in allocs {
        out.push(Gauge::new("nomad.nomad.allocations", n).label("client_status", status));
    }
    let mut nodes: BTreeMap<&str, usize> = BTreeMap::new();
    for n in t.nodes.values() {
        *nodes.entry(n.status.as_str()).or_default() += 1;
    }
    for (status, n) in nodes {
        out.push(Gauge::new("nomad.nomad.nodes", n).label("status", status));
    }
    let mut evals: BTreeMap<&str, usize> = BTreeMap::new();
    for e in t.evals.values() {
        *evals.entry(e.status.as_str()).or_default() += 1;
    }
    for (status, n) in evals {
        out.push(Gauge::new("nomad.nomad.evaluations", n).label("status", status));
    }
    out.push(Gauge::new("nomad.raft.appliedIndex", t.index as usize));
    out
}

/// A counter or timing from the server, as go-metrics' `SampledValue` (timings in
/// milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sampled {
    pub name: String,
    pub count: u64,
    pub sum: f64,
    pub max: f64,
    pub mean: f64,
    pub labels: BTreeMap<String, String>,
}

impl Sampled {
    fn from_metric(m: &Metric) -> Sampled {
        Sampled {
            name: m.name.clone(),
            count: m.count,
            sum: m.value,
            max: m.max,
            mean: if m.count == 0 {
                0.0
            } else {
                m.value / m.count as f64
            },
            labels: BTreeMap::new(),
        }
    }
}

/// Everything there is to report: the state's gauges and the server's own metrics.
pub struct Metrics {
    pub gauges: Vec<Gauge>,
    pub counters: Vec<Sampled>,
    pub samples: Vec<Sampled>,
}

impl Metrics {
    pub fn gather(api: &Api) -> Metrics {
        let mut gauges = state_gauges(&api.server.state.snapshot());
        let (mut counters, mut samples) = (Vec::new(), Vec::new());
        for m in api.server.metrics() {
            match m.kind {
                MetricKind::Gauge => gauges.push(Gauge {
                    name: m.name.clone(),
                    value: m.value,
                    labels: BTreeMap::new(),
                }),
                MetricKind::Counter => counters.push(Sampled::from_metric(&m)),
                MetricKind::Sample => samples.push(Sampled::from_metric(&m)),
            }
        }
        Metrics {
            gauges,
            counters,
            samples,
        }
    }
}

pub async fn metrics(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    let metrics = Metrics::gather(&api);
    if req.param("format") == Some("prometheus") {
        return Ok(Reply::text(
            "text/plain; version=0.0.4; charset=utf-8",
            prometheus_text(&metrics),
        ));
    }
    let now = chrono::Utc::now();
    let body = MetricsSummary {
        timestamp: now.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        gauges: metrics.gauges,
        points: Vec::new(),
        counters: metrics.counters,
        samples: metrics.samples,
    };
    Reply::json(&req, &body)
}

/// Prometheus' text format: names with `_` for `.`, one TYPE line per name; counters
/// as `_total`-less counters, timings as summaries (`_sum`, `_count`).
pub fn prometheus_text(m: &Metrics) -> String {
    let mut by_name: BTreeMap<String, Vec<&Gauge>> = BTreeMap::new();
    for g in &m.gauges {
        by_name.entry(prometheus_name(&g.name)).or_default().push(g);
    }
    let mut out = String::new();
    for (name, gauges) in by_name {
        out.push_str(&format!("# HELP {name} {name}\n# TYPE {name} gauge\n"));
        for g in gauges {
            out.push_str(&name);
            if !g.labels.is_empty() {
                let labels: Vec<String> = g
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{}=\"{}\"", prometheus_name(k), escape(v)))
                    .collect();
                out.push_str(&format!("{{{}}}", labels.join(",")));
            }
            out.push_str(&format!(" {}\n", g.value));
        }
    }
    for c in &m.counters {
        let name = prometheus_name(&c.name);
        out.push_str(&format!(
            "# HELP {name} {name}\n# TYPE {name} counter\n{name} {}\n",
            c.sum
        ));
    }
    for s in &m.samples {
        let name = prometheus_name(&s.name);
        out.push_str(&format!(
            "# HELP {name} {name}\n# TYPE {name} summary\n{name}_sum {}\n{name}_count {}\n",
            s.sum, s.count
        ));
    }
    out
}

fn prometheus_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::state::job_key;
    use crate::structs::Job;
    use std::sync::Arc;

    #[test]
    fn job_statuses_are_counted() {
        let mut t = Tables::default();
        let job = Job {
            id: "web".into(),
            namespace: "default".into(),
            ..Default::default()
        };
        t.jobs.insert(job_key("default", "web"), Arc::new(job));
        let gauges = state_gauges(&t);
        let get = |name: &str| gauges.iter().find(|g| g.name == name).map(|g| g.value);
        assert_eq!(get("nomad.nomad.job_status.pending"), Some(1.0));
        assert_eq!(get("nomad.nomad.job_status.running"), Some(0.0));
    }

    #[test]
    fn prometheus_lines() {
        let metrics = Metrics {
            gauges: vec![
                Gauge::new("nomad.nomad.job_status.running", 2),
                Gauge::new("nomad.nomad.nodes", 1).label("status", "ready"),
                Gauge::new("nomad.nomad.nodes", 3).label("status", "down\"x"),
            ],
            counters: vec![Sampled::from_metric(&Metric {
                name: "nomad.worker.dequeue_eval".into(),
                kind: MetricKind::Counter,
                value: 4.0,
                count: 4,
                max: 1.0,
            })],
            samples: vec![Sampled::from_metric(&Metric {
                name: "nomad.plan.submit".into(),
                kind: MetricKind::Sample,
                value: 7.5,
                count: 3,
                max: 5.0,
            })],
        };
        let text = prometheus_text(&metrics);
        let want = "\
# HELP nomad_nomad_job_status_running nomad_nomad_job_status_running
# TYPE nomad_nomad_job_status_running gauge
nomad_nomad_job_status_running 2
# HELP nomad_nomad_nodes nomad_nomad_nodes
# TYPE nomad_nomad_nodes gauge
nomad_nomad_nodes{status=\"ready\"} 1
nomad_nomad_nodes{status=\"down\\\"x\"} 3
# HELP nomad_worker_dequeue_eval nomad_worker_dequeue_eval
# TYPE nomad_worker_dequeue_eval counter
nomad_worker_dequeue_eval 4
# HELP nomad_plan_submit nomad_plan_submit
# TYPE nomad_plan_submit summary
nomad_plan_submit_sum 7.5
nomad_plan_submit_count 3
";
        assert_eq!(text, want);
    }
}
