//! `/v1/allocations` and `/v1/allocation/:id[/stop]`.

use axum::extract::State;

use super::blocking::{blocking, by_id_or_prefix, paginate, with_prefix, QueryOptions};
use super::error::ApiError;
use super::events::{fill_alloc, fill_stub};
use super::{Api, ApiResult, ApiState, Reply, Req};
use crate::structs::Allocation;

/// `GET /v1/allocations?prefix=&resources=&task_states=`.
pub async fn list(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(&req)?;
    let resources = req.flag("resources")?;
    let task_states = req.bool_param("task_states")?.unwrap_or(true);
    let (stubs, index) = blocking(&api.server.state, &opts, |t| {
        let stubs: Vec<_> = with_prefix(&t.allocs, &opts.prefix)
            .filter(|a| opts.in_namespace(&a.namespace))
            .map(|a| {
                let mut stub = a.stub(resources, task_states);
                fill_stub(&mut stub);
                stub
            })
            .collect();
        (stubs, t.table_index.allocs)
    })
    .await;
    let (page, next) = paginate(stubs, &opts, |s| s.id.clone());
    Ok(Reply::json(&req, &page)?.read(index).next_token(next))
}

/// `/v1/allocation/:id`, `/v1/allocation/:id/stop`.
pub async fn specific(State(api): ApiState, req: Req) -> ApiResult {
    let rest = req.path.strip_prefix("/v1/allocation/").unwrap_or_default();
    let tokens: Vec<&str> = rest.split('/').collect();
    match tokens.as_slice() {
        [id] => get(&api, &req, id).await,
        [id, "stop"] => stop(&api, &req, id).await,
        // Nomad's service checks and registrations: drover has none yet.
        [_, "checks"] => {
            req.require_get()?;
            Reply::json(&req, &serde_json::Map::new())
        }
        [_, "services"] => {
            req.require_get()?;
            Reply::json(&req, &Vec::<()>::new())
        }
        _ => Err(ApiError::not_found("resource not found")),
    }
}

async fn get(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (alloc, index) = blocking(&api.server.state, &opts, |t| {
        match by_id_or_prefix(&t.allocs, id) {
            Some(a) => (Some(a.clone()), a.modify_index),
            None => (None, t.table_index.allocs),
        }
    })
    .await;
    let Some(alloc) = alloc else {
        return Err(ApiError::not_found("alloc not found").with_index(index));
    };
    let mut alloc: Allocation = (*alloc).clone();
    fill_alloc(&mut alloc);
    Ok(Reply::json(req, &alloc)?.read(index))
}

/// The full ID for `id`, which may be a unique prefix.
fn resolve(api: &Api, id: &str) -> String {
    let snap = api.server.state.snapshot();
    by_id_or_prefix(&snap.allocs, id).map_or_else(|| id.to_string(), |a| a.id.clone())
}

async fn stop(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_write()?;
    let no_shutdown_delay = req.flag("no_shutdown_delay")?;
    req.bool_param("reschedule")?;
    let id = resolve(api, id);
    let resp = api
        .write(move |s| s.stop_alloc(&id, no_shutdown_delay))
        .await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}
