//! The client interface over HTTP: the four calls a client node makes to its servers,
//! under drover's own `/v1/internal/` prefix (Nomad makes them over its RPC port).
//!
//! ```text
//! PUT /v1/internal/node/register          body: Node            -> NodeUpdateResponse
//!     Registers (or re-registers) the node; the reply's HeartbeatTTL (ns) says how soon
//!     the next heartbeat must come. Re-registering keeps the operator's drain and
//!     eligibility decisions.
//! PUT /v1/internal/node/:id/heartbeat                           -> NodeUpdateResponse
//!     "Still alive"; a node that misses its TTL is marked down and its allocations lost.
//! PUT /v1/internal/node/:id/status        body: {"Status": s}   -> NodeUpdateResponse
//!     The node's own status change (`initializing` -> `ready`).
//! GET /v1/internal/node/:id/allocations?index=N&wait=D          -> [Allocation]
//!     The node's allocations, full objects with their Job: a blocking query that
//!     returns once one of them changes past index N (X-Nomad-Index is the highest
//!     ModifyIndex among them, so the client's own reports wake it too). The client
//!     diffs them against what it runs by AllocModifyIndex (server-side changes).
//! PUT /v1/internal/allocations/update     body: [AllocUpdate]   -> {"Index": n}
//!     What the client saw happen: per allocation {ID, ClientStatus, ClientDescription,
//!     TaskStates, DeploymentStatus}; full Allocation objects are accepted too (other
//!     fields are ignored). A newly failed allocation gets its job re-evaluated.
//! ```
//!
//! In `agent -dev` the client calls the same `Server` methods in process; these routes
//! are the same interface for a client on another machine.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::any;
use axum::Router;
use serde::{Deserialize, Serialize};

use super::blocking::{blocking, QueryOptions};
use super::error::ApiError;
use super::nodes::node_allocations;
use super::{Api, ApiResult, ApiState, Reply, Req};
use crate::server::endpoints::{NodeUpdateResponse, RpcError};
use crate::server::state::AllocClientUpdate;
use crate::server::Server;
use crate::structs::{AllocDeploymentStatus, Node, TaskState};

pub fn routes() -> Router<std::sync::Arc<Api>> {
    Router::new()
        .route("/v1/internal/node/register", any(register))
        .route("/v1/internal/node/{*rest}", any(node_specific))
        .route("/v1/internal/allocations/update", any(update_allocs))
}

/// One allocation's report, in the Allocation's own field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocUpdate {
    #[serde(rename = "ID")]
    pub id: String,
    pub client_status: String,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    pub deployment_status: Option<AllocDeploymentStatus>,
}

impl From<AllocUpdate> for AllocClientUpdate {
    fn from(u: AllocUpdate) -> Self {
        AllocClientUpdate {
            alloc_id: u.id,
            client_status: u.client_status,
            client_description: u.client_description,
            task_states: u.task_states,
            deployment_status: u.deployment_status,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StatusRequest {
    status: String,
}

async fn register(State(api): ApiState, req: Req) -> ApiResult {
    req.require_write()?;
    let node: Node = req.json_body()?;
    if node.id.is_empty() {
        return Err(ApiError::bad_request(
            "missing node ID for client registration",
        ));
    }
    let resp = api.write(move |s| s.register_node(node)).await?;
    Ok(Reply::json(&req, &resp)?.index(resp.index))
}

async fn node_specific(State(api): ApiState, req: Req) -> ApiResult {
    let path = req
        .path
        .strip_prefix("/v1/internal/node/")
        .unwrap_or_default();
    if let Some(id) = path.strip_suffix("/heartbeat") {
        req.require_write()?;
        let id = id.to_string();
        let resp = api.write(move |s| heartbeat(s, &id)).await?;
        return Ok(Reply::json(&req, &resp)?.index(resp.index));
    }
    if let Some(id) = path.strip_suffix("/allocations") {
        return allocations(&api, &req, id).await;
    }
    if let Some(id) = path.strip_suffix("/status") {
        req.require_write()?;
        let body: StatusRequest = req.json_body()?;
        if body.status.is_empty() {
            return Err(ApiError::bad_request(
                "missing status for node status update",
            ));
        }
        let id = id.to_string();
        let resp = api
            .write(move |s| s.node_update_status(&id, &body.status))
            .await?;
        return Ok(Reply::json(&req, &resp)?.index(resp.index));
    }
    Err(ApiError::not_found("resource not found"))
}

/// Resets the node's heartbeat timer; the reply carries the TTL until the next one.
fn heartbeat(server: &Server, node_id: &str) -> Result<NodeUpdateResponse, RpcError> {
    let ttl = server.node_heartbeat(node_id)?;
    let snap = server.state.snapshot();
    Ok(NodeUpdateResponse {
        heartbeat_ttl: ttl.as_nanos() as i64,
        node_modify_index: snap.node(node_id).map_or(0, |n| n.modify_index),
        index: snap.index,
        ..Default::default()
    })
}

async fn allocations(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (allocs, index) = blocking(&api.server.state, &opts, |t| {
        (node_allocations(t, id), t.node_allocs_watched(id).1)
    })
    .await;
    Ok(Reply::json(req, &allocs)?.read(index))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IndexResponse {
    index: u64,
}

async fn update_allocs(State(api): ApiState, req: Req) -> ApiResult {
    req.require_write()?;
    let updates: Vec<AllocUpdate> = req.json_body()?;
    if let Some(bad) = updates.iter().find(|u| u.id.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "allocation update without an ID (status {:?})",
            bad.client_status
        )));
    }
    let updates: Vec<AllocClientUpdate> = updates.into_iter().map(Into::into).collect();
    let index = api.write(move |s| s.client_update_allocs(updates)).await?;
    Ok(Reply::json(&req, &IndexResponse { index })?.index(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_allocations_decode_as_updates() {
        let body = r#"[{"ID": "a1", "Name": "x.y[0]", "ClientStatus": "running",
            "TaskStates": {"redis": {"State": "running", "Events": null}},
            "DeploymentStatus": {"Healthy": true, "Timestamp": "2024-05-01T10:00:00Z"},
            "Job": {"ID": "x"}}]"#;
        let req = Req::new(axum::http::Method::PUT, "/", &[], body);
        let updates: Vec<AllocUpdate> = req.json_body().unwrap();
        let update: AllocClientUpdate = updates[0].clone().into();
        assert_eq!(update.alloc_id, "a1");
        assert_eq!(update.client_status, "running");
        assert_eq!(update.task_states["redis"].state, "running");
        assert_eq!(update.deployment_status.unwrap().healthy, Some(true));
    }
}
