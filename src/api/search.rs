//! `PUT /v1/search`: IDs starting with a prefix, per context (`nomad status <id>` asks
//! with context `all` and picks the command from where the match is).

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::blocking::with_prefix;
use super::error::ApiError;
use super::request::DEFAULT_NAMESPACE;
use super::{ApiResult, ApiState, Reply, Req};
use crate::server::state::Tables;

/// At most this many IDs per context; `Truncations[ctx]` says when there were more.
pub const TRUNCATE_LIMIT: usize = 20;

/// The contexts `all` searches, with Nomad's names (`deployment` is singular).
pub const CONTEXTS: &[&str] = &[
    "allocs",
    "deployment",
    "evals",
    "jobs",
    "namespaces",
    "node_pools",
    "nodes",
];

/// Contexts Nomad has that drover holds nothing for: searched, never matched.
const EMPTY_CONTEXTS: &[&str] = &["plugins", "volumes", "scaling_policy", "vars", "quotas"];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SearchRequest {
    prefix: String,
    context: String,
    namespace: String,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SearchResponse {
    pub matches: BTreeMap<String, Vec<String>>,
    pub truncations: BTreeMap<String, bool>,
    pub index: u64,
    pub last_contact: u64,
    pub known_leader: bool,
    pub next_token: String,
}

pub async fn search(State(api): ApiState, req: Req) -> ApiResult {
    req.require_write()?;
    let body: SearchRequest = req.json_body()?;
    let namespace = if body.namespace.is_empty() {
        req.namespace()
    } else {
        body.namespace.clone()
    };
    let contexts: Vec<&str> = match body.context.as_str() {
        "all" | "" => CONTEXTS.to_vec(),
        c if CONTEXTS.contains(&c) || EMPTY_CONTEXTS.contains(&c) => vec![c],
        c => {
            return Err(ApiError::bad_request(format!(
                "context must be one of {CONTEXTS:?} or 'all' for all contexts; got {c:?}"
            )))
        }
    };
    let snap = api.server.state.snapshot();
    let resp = prefix_search(&snap, &namespace, &body.prefix, &contexts);
    Ok(Reply::json(&req, &resp)?.read(resp.index))
}

pub fn prefix_search(t: &Tables, ns: &str, prefix: &str, contexts: &[&str]) -> SearchResponse {
    let in_ns = |n: &str| ns == "*" || ns == n;
    let mut resp = SearchResponse {
        known_leader: true,
        ..Default::default()
    };
    for ctx in contexts {
        let ids: Vec<String> = match *ctx {
            "allocs" => with_prefix(&t.allocs, prefix)
                .filter(|a| in_ns(&a.namespace))
                .map(|a| a.id.clone())
                .collect(),
            "deployment" => with_prefix(&t.deployments, prefix)
                .filter(|d| in_ns(&d.namespace))
                .map(|d| d.id.clone())
                .collect(),
            "evals" => with_prefix(&t.evals, prefix)
                .filter(|e| in_ns(&e.namespace))
                .map(|e| e.id.clone())
                .collect(),
            "jobs" => t
                .jobs
                .values()
                .filter(|j| in_ns(&j.namespace) && j.id.starts_with(prefix))
                .map(|j| j.id.clone())
                .collect(),
            "nodes" => with_prefix(&t.nodes, prefix)
                .map(|n| n.id.clone())
                .collect(),
            "namespaces" => [DEFAULT_NAMESPACE]
                .into_iter()
                .filter(|n| n.starts_with(prefix))
                .map(String::from)
                .collect(),
            "node_pools" => ["all", "default"]
                .into_iter()
                .filter(|n| n.starts_with(prefix))
                .map(String::from)
                .collect(),
            _ => Vec::new(),
        };
        let truncated = ids.len() > TRUNCATE_LIMIT;
        let mut ids = ids;
        ids.truncate(TRUNCATE_LIMIT);
        resp.matches.insert(ctx.to_string(), ids);
        resp.truncations.insert(ctx.to_string(), truncated);
        let i = t.table_index;
        let index = match *ctx {
            "allocs" => i.allocs,
            "deployment" => i.deployments,
            "evals" => i.evals,
            "jobs" => i.jobs,
            "nodes" => i.nodes,
            _ => 0,
        };
        resp.index = resp.index.max(index);
    }
    resp.index = resp.index.max(1);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::state::job_key;
    use crate::structs::{Evaluation, Job};
    use std::sync::Arc;

    #[test]
    fn matches_per_context_with_truncation() {
        let mut t = Tables::default();
        for i in 0..25 {
            let id = format!("web-{i:02}");
            let job = Job {
                id: id.clone(),
                namespace: "default".into(),
                ..Default::default()
            };
            t.jobs.insert(job_key("default", &id), Arc::new(job));
        }
        let eval = Evaluation {
            id: "we11-0000".into(),
            namespace: "default".into(),
            ..Default::default()
        };
        t.evals.insert(eval.id.clone(), Arc::new(eval));
        let resp = prefix_search(&t, "default", "we", CONTEXTS);
        assert_eq!(resp.matches["jobs"].len(), TRUNCATE_LIMIT);
        assert!(resp.truncations["jobs"]);
        assert_eq!(resp.matches["evals"], ["we11-0000"]);
        assert!(!resp.truncations["evals"]);
        assert!(resp.matches["allocs"].is_empty());
        let resp = prefix_search(&t, "other", "web", &["jobs"]);
        assert!(resp.matches["jobs"].is_empty());
        let resp = prefix_search(&t, "default", "def", CONTEXTS);
        assert_eq!(resp.matches["namespaces"], ["default"]);
        assert_eq!(resp.matches["node_pools"], ["default"]);
    }
}
