//! `/v1/deployments` and `/v1/deployment/...`: reads, promote, fail, pause and manual
//! allocation health.

use axum::extract::State;
use serde::Deserialize;

use super::blocking::{blocking, by_id_or_prefix, paginate, with_prefix, QueryOptions};
use super::error::ApiError;
use super::events::alloc_stub;
use super::request::decode_value;
use super::{Api, ApiResult, ApiState, Reply, Req};

/// `GET /v1/deployments?prefix=`.
pub async fn list(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(&req)?;
    let (list, index) = blocking(&api.server.state, &opts, |t| {
        let list: Vec<_> = with_prefix(&t.deployments, &opts.prefix)
            .filter(|d| opts.in_namespace(&d.namespace))
            .cloned()
            .collect();
        (list, t.table_index.deployments)
    })
    .await;
    let (page, next) = paginate(list, &opts, |d| d.id.clone());
    Ok(Reply::json(&req, &page)?.read(index).next_token(next))
}

/// `/v1/deployment/<action>/:id` or `/v1/deployment/:id`.
pub async fn specific(State(api): ApiState, req: Req) -> ApiResult {
    let rest = req.path.strip_prefix("/v1/deployment/").unwrap_or_default();
    let (action, id) = match rest.split_once('/') {
        Some((action, id)) => (action, id),
        None => ("", rest),
    };
    match action {
        "allocations" => allocations(&api, &req, id).await,
        "fail" => fail(&api, &req, id).await,
        "pause" => pause(&api, &req, id).await,
        "promote" => promote(&api, &req, id).await,
        "allocation-health" => alloc_health(&api, &req, id).await,
        "unblock" => {
            req.require_write()?;
            Err(ApiError::bad_request(
                "deployment unblock is only for multiregion deployments",
            ))
        }
        "" => get(&api, &req, id).await,
        _ => Err(ApiError::not_found("deployment not found")),
    }
}

async fn get(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (found, index) = blocking(&api.server.state, &opts, |t| {
        match by_id_or_prefix(&t.deployments, id) {
            Some(d) => (Some(d.clone()), d.modify_index),
            None => (None, t.table_index.deployments),
        }
    })
    .await;
    match found {
        Some(d) => Ok(Reply::json(req, &d)?.read(index)),
        None => Err(ApiError::not_found("deployment not found").with_index(index)),
    }
}

async fn allocations(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (stubs, index) = blocking(&api.server.state, &opts, |t| {
        let full = by_id_or_prefix(&t.deployments, id).map_or(id.to_string(), |d| d.id.clone());
        let stubs: Vec<_> = t
            .allocs
            .values()
            .filter(|a| a.deployment_id == full)
            .map(|a| alloc_stub(a))
            .collect();
        (stubs, t.table_index.allocs)
    })
    .await;
    Ok(Reply::json(req, &stubs)?.read(index))
}

/// The body's `DeploymentID` must be given and be the URL's.
fn check_body_id(value: &serde_json::Value, id: &str) -> Result<(), ApiError> {
    match value.get("DeploymentID").and_then(|v| v.as_str()) {
        None | Some("") => Err(ApiError::bad_request("DeploymentID must be specified")),
        Some(body_id) if body_id != id => {
            Err(ApiError::bad_request("Deployment ID does not match"))
        }
        _ => Ok(()),
    }
}

/// The full ID when `id` is a unique prefix.
fn resolve(api: &Api, id: &str) -> String {
    let snap = api.server.state.snapshot();
    by_id_or_prefix(&snap.deployments, id).map_or_else(|| id.to_string(), |d| d.id.clone())
}

async fn fail(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_write()?;
    let id = resolve(api, id);
    let resp = api.write(move |s| s.deployment_fail(&id)).await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PauseRequest {
    pause: bool,
}

async fn pause(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_write()?;
    let value = req.json_value()?;
    check_body_id(&value, id)?;
    let body: PauseRequest = decode_value(value)?;
    let id = resolve(api, id);
    let resp = api
        .write(move |s| s.deployment_pause(&id, body.pause))
        .await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PromoteRequest {
    all: bool,
    groups: Vec<String>,
}

async fn promote(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_write()?;
    let value = req.json_value()?;
    check_body_id(&value, id)?;
    let body: PromoteRequest = decode_value(value)?;
    let id = resolve(api, id);
    let resp = api
        .write(move |s| s.deployment_promote(&id, body.all, body.groups))
        .await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct AllocHealthRequest {
    #[serde(rename = "HealthyAllocationIDs")]
    healthy: Vec<String>,
    #[serde(rename = "UnhealthyAllocationIDs")]
    unhealthy: Vec<String>,
}

async fn alloc_health(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_write()?;
    let value = req.json_value()?;
    check_body_id(&value, id)?;
    let body: AllocHealthRequest = decode_value(value)?;
    let id = resolve(api, id);
    let resp = api
        .write(move |s| s.deployment_set_alloc_health(&id, body.healthy, body.unhealthy))
        .await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}
