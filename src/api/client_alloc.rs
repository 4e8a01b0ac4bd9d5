//! `/v1/client/*`: what this agent's client serves about its own allocations (stats,
//! restart, signal, fs and logs, exec) and the node's usage (`/v1/client/stats`).
//! Without a client every route answers 501.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::{client_fs, Api, ApiState, Reply, Req};
use crate::client::{ClientError, ClientView};

/// Nomad's text when an agent without a client is asked for client data.
pub const NO_CLIENT: &str = "the agent runs no client";

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        let code = match e {
            ClientError::UnknownAlloc(_) => 404,
            ClientError::UnknownTask(_)
            | ClientError::TaskNotRunning(_)
            | ClientError::BadRequest(_) => 400,
            ClientError::Internal(_) => 500,
        };
        ApiError::new(code, e.to_string())
    }
}

/// Every `/v1/client/…` path but exec (a websocket, routed on its own).
pub async fn handle(State(api): ApiState, req: Req) -> Response {
    match route(&api, &req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// The local client, or Nomad's 501.
pub fn client_of(api: &Api) -> Result<&Arc<dyn ClientView>, ApiError> {
    api.client
        .as_ref()
        .ok_or_else(|| ApiError::new(501, NO_CLIENT))
}

/// The full ID of an allocation named by a unique prefix (the client knows full IDs).
pub fn full_alloc_id(api: &Api, id: &str) -> String {
    let snap = api.server.state.snapshot();
    super::blocking::by_id_or_prefix(&snap.allocs, id)
        .map_or_else(|| id.to_string(), |a| a.id.clone())
}

async fn route(api: &Api, req: &Req) -> Result<Response, ApiError> {
    let rest = req.path.strip_prefix("/v1/client/").unwrap_or_default();
    let tokens: Vec<&str> = rest.split('/').collect();
    let client = client_of(api)?;
    match tokens.as_slice() {
        ["stats"] => {
            req.require_get()?;
            let client = client.clone();
            let stats = tokio::task::spawn_blocking(move || client.host_stats())
                .await
                .map_err(|e| ApiError::internal(format!("host stats: {e}")))?;
            Ok(Reply::json(req, &stats)?.into_response())
        }
        ["fs", verb, alloc_id] => client_fs::handle(api, client, req, verb, alloc_id).await,
        ["allocation", id, "stats"] => {
            req.require_get()?;
            let mut usage = client.alloc_stats(&full_alloc_id(api, id))?;
            if let Some(task) = req.param("task").filter(|t| !t.is_empty()) {
                usage.tasks.retain(|name, _| name == task);
            }
            Ok(Reply::json(req, &usage)?.into_response())
        }
        ["allocation", id, "restart"] => {
            req.require_write()?;
            let body: RestartRequest = req.json_body_or_default()?;
            let task = (!body.all_tasks && !body.task_name.is_empty()).then_some(body.task_name);
            let (client, id) = (client.clone(), full_alloc_id(api, id));
            blocking(move || client.restart_alloc(&id, task.as_deref())).await?;
            Ok(Reply::json(req, &serde_json::json!({}))?.into_response())
        }
        ["allocation", id, "signal"] => {
            req.require_write()?;
            let body: SignalRequest = req.json_body_or_default()?;
            let task = (!body.task.is_empty()).then_some(body.task);
            let (client, id) = (client.clone(), full_alloc_id(api, id));
            blocking(move || client.signal_alloc(&id, task.as_deref(), &body.signal)).await?;
            Ok(Reply::json(req, &serde_json::json!({}))?.into_response())
        }
        // Terminal allocations are collected by the client on its own; Nomad's GC calls
        // are accepted and do nothing more.
        ["allocation", _, "gc"] | ["gc"] => {
            Ok(Reply::json(req, &serde_json::json!({}))?.into_response())
        }
        _ => Err(ApiError::not_found("resource not found")),
    }
}

async fn blocking(
    f: impl FnOnce() -> Result<(), ClientError> + Send + 'static,
) -> Result<(), ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("client call failed: {e}")))?
        .map_err(ApiError::from)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartRequest {
    task_name: String,
    all_tasks: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SignalRequest {
    task: String,
    signal: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_keep_nomad_codes() {
        let cases = [
            (
                ClientError::UnknownAlloc("x".into()),
                404,
                "Unknown allocation \"x\"",
            ),
            (
                ClientError::UnknownTask("web".into()),
                400,
                "unknown task name \"web\"",
            ),
            (
                ClientError::TaskNotRunning("web".into()),
                400,
                "Task not running",
            ),
            (ClientError::BadRequest("bad".into()), 400, "bad"),
            (ClientError::Internal("boom".into()), 500, "boom"),
        ];
        for (e, code, text) in cases {
            let api: ApiError = e.into();
            assert_eq!((api.code, api.message.as_str()), (code, text));
        }
    }
}
