//! `/v1/nodes` and `/v1/node/:id[/...]`: reads and the operator's node actions (drain,
//! eligibility, evaluate, purge). What clients themselves call is in `client.rs`.

use axum::extract::State;
use serde::Deserialize;

use super::blocking::{blocking, by_id_or_prefix, paginate, with_prefix, QueryOptions};
use super::error::ApiError;
use super::events::fill_alloc;
use super::{Api, ApiResult, ApiState, Reply, Req};
use crate::structs::{Allocation, NODE_ELIGIBLE, NODE_INELIGIBLE};

/// `GET /v1/nodes?prefix=&resources=&os=`.
pub async fn list(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(&req)?;
    let resources = req.flag("resources")?;
    let os = req.flag("os")?;
    let (stubs, index) = blocking(&api.server.state, &opts, |t| {
        let stubs: Vec<_> = with_prefix(&t.nodes, &opts.prefix)
            .map(|n| n.stub(resources, os))
            .collect();
        (stubs, t.table_index.nodes)
    })
    .await;
    let (page, next) = paginate(stubs, &opts, |n| n.id.clone());
    Ok(Reply::json(&req, &page)?.read(index).next_token(next))
}

/// `/v1/node/:id[/evaluate|/allocations|/drain|/eligibility|/purge]`.
pub async fn specific(State(api): ApiState, req: Req) -> ApiResult {
    let path = req.path.strip_prefix("/v1/node/").unwrap_or_default();
    for (suffix, action) in [
        ("/evaluate", Action::Evaluate),
        ("/allocations", Action::Allocations),
        ("/drain", Action::Drain),
        ("/eligibility", Action::Eligibility),
        ("/purge", Action::Purge),
    ] {
        if let Some(id) = path.strip_suffix(suffix) {
            return action.run(&api, &req, id).await;
        }
    }
    get(&api, &req, path).await
}

enum Action {
    Evaluate,
    Allocations,
    Drain,
    Eligibility,
    Purge,
}

impl Action {
    async fn run(self, api: &Api, req: &Req, id: &str) -> ApiResult {
        if let Action::Allocations = self {
            return allocations(api, req, id).await;
        }
        req.require_write()?;
        let id = resolve(api, id);
        let resp = match self {
            Action::Evaluate => api.write(move |s| s.node_evaluate(&id)).await?,
            Action::Purge => api.write(move |s| s.node_purge(&id)).await?,
            Action::Drain => {
                let body: DrainRequest = req.json_body()?;
                let drain = body.drain_spec.is_some();
                api.write(move |s| s.node_drain(&id, drain)).await?
            }
            Action::Eligibility => {
                let body: EligibilityRequest = req.json_body()?;
                let eligible = match body.eligibility.as_str() {
                    NODE_ELIGIBLE => true,
                    NODE_INELIGIBLE => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "invalid scheduling eligibility {other:?}"
                        )))
                    }
                };
                api.write(move |s| s.node_eligibility(&id, eligible))
                    .await?
            }
            Action::Allocations => unreachable!("handled above"),
        };
        Ok(Reply::json(req, &resp)?.index(resp.index))
    }
}

/// `PUT /v1/node/:id/drain`: a `DrainSpec` starts a drain, none (or null) ends it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DrainRequest {
    drain_spec: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EligibilityRequest {
    eligibility: String,
}

fn resolve(api: &Api, id: &str) -> String {
    let snap = api.server.state.snapshot();
    by_id_or_prefix(&snap.nodes, id).map_or_else(|| id.to_string(), |n| n.id.clone())
}

async fn get(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (node, index) = blocking(&api.server.state, &opts, |t| {
        match by_id_or_prefix(&t.nodes, id) {
            Some(n) => (Some(n.clone()), n.modify_index),
            None => (None, t.table_index.nodes),
        }
    })
    .await;
    match node {
        Some(n) => Ok(Reply::json(req, &n)?.read(index)),
        None => Err(ApiError::not_found("node not found").with_index(index)),
    }
}

/// A node's allocations, full objects with their jobs; blocking on the allocs table.
pub fn node_allocations(t: &crate::server::state::Tables, id: &str) -> Vec<Allocation> {
    t.node_allocs(id)
        .iter()
        .map(|a| {
            let mut alloc = (**a).clone();
            fill_alloc(&mut alloc);
            alloc
        })
        .collect()
}

async fn allocations(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (allocs, index) = blocking(&api.server.state, &opts, |t| {
        let full = by_id_or_prefix(&t.nodes, id).map_or(id.to_string(), |n| n.id.clone());
        (node_allocations(t, &full), t.table_index.allocs)
    })
    .await;
    Ok(Reply::json(req, &allocs)?.read(index))
}
