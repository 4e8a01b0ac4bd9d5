//! `/v1/evaluations` and `/v1/evaluation/:id[/allocations]`.

use std::collections::BTreeSet;

use axum::extract::State;

use super::blocking::{blocking, by_id_or_prefix, paginate, with_prefix, QueryOptions};
use super::error::ApiError;
use super::events::alloc_stub;
use super::{Api, ApiResult, ApiState, Reply, Req};
use crate::server::state::Tables;
use crate::structs::{Evaluation, EvaluationStub};

/// `GET /v1/evaluations?prefix=&job=&status=`, oldest first (Nomad's create order).
pub async fn list(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(&req)?;
    let job = req.param_or_empty("job").to_string();
    let status = req.param_or_empty("status").to_string();
    let (evals, index) = blocking(&api.server.state, &opts, |t| {
        let mut evals: Vec<_> = with_prefix(&t.evals, &opts.prefix)
            .filter(|e| {
                opts.in_namespace(&e.namespace)
                    && (job.is_empty() || e.job_id == job)
                    && (status.is_empty() || e.status == status)
            })
            .cloned()
            .collect();
        evals.sort_by(|a, b| (a.create_index, &a.id).cmp(&(b.create_index, &b.id)));
        (evals, t.table_index.evals)
    })
    .await;
    let (page, next) = paginate(evals, &opts, |e| page_key(e.create_index, &e.id));
    Ok(Reply::json(&req, &page)?.read(index).next_token(next))
}

/// Sorts as the list does, so tokens compare as strings.
fn page_key(create_index: u64, id: &str) -> String {
    format!("{create_index:020}.{id}")
}

/// `/v1/evaluation/:id`, `/v1/evaluation/:id/allocations`.
pub async fn specific(State(api): ApiState, req: Req) -> ApiResult {
    let rest = req.path.strip_prefix("/v1/evaluation/").unwrap_or_default();
    match rest.strip_suffix("/allocations") {
        Some(id) => allocations(&api, &req, id).await,
        None => get(&api, &req, rest).await,
    }
}

async fn get(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let related = req.param("related") == Some("true");
    let (eval, index) = blocking(&api.server.state, &opts, |t| {
        match by_id_or_prefix(&t.evals, id) {
            Some(e) => {
                let mut eval: Evaluation = (**e).clone();
                if related {
                    eval.related_evals = Some(related_evals(t, &eval.id));
                }
                (Some(eval), e.modify_index)
            }
            None => (None, t.table_index.evals),
        }
    })
    .await;
    match eval {
        Some(eval) => Ok(Reply::json(req, &eval)?.read(index)),
        None => Err(ApiError::not_found("eval not found").with_index(index)),
    }
}

/// Every eval linked to `id` through next, previous and blocked links, transitively.
pub fn related_evals(t: &Tables, id: &str) -> Vec<EvaluationStub> {
    let mut seen = BTreeSet::from([id.to_string()]);
    let mut queue = vec![id.to_string()];
    let mut out = Vec::new();
    while let Some(current) = queue.pop() {
        let Some(eval) = t.evals.get(&current) else {
            continue;
        };
        if current != id {
            out.push(eval.stub());
        }
        for link in [&eval.next_eval, &eval.previous_eval, &eval.blocked_eval] {
            if !link.is_empty() && seen.insert(link.clone()) {
                queue.push(link.clone());
            }
        }
    }
    out.sort_by(|a, b| (a.create_index, &a.id).cmp(&(b.create_index, &b.id)));
    out
}

async fn allocations(api: &Api, req: &Req, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (stubs, index) = blocking(&api.server.state, &opts, |t| {
        let stubs: Vec<_> = t
            .allocs
            .values()
            .filter(|a| a.eval_id == id)
            .map(|a| alloc_stub(a))
            .collect();
        (stubs, t.table_index.allocs)
    })
    .await;
    Ok(Reply::json(req, &stubs)?.read(index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn related_evals_follow_links_both_ways() {
        let mut t = Tables::default();
        let mut put = |id: &str, next: &str, prev: &str, blocked: &str, ci: u64| {
            let e = Evaluation {
                id: id.into(),
                next_eval: next.into(),
                previous_eval: prev.into(),
                blocked_eval: blocked.into(),
                create_index: ci,
                ..Default::default()
            };
            t.evals.insert(id.into(), Arc::new(e));
        };
        put("a", "b", "", "", 1);
        put("b", "", "a", "c", 2);
        put("c", "", "b", "", 3);
        put("lonely", "", "", "", 4);
        let ids = |from: &str| -> Vec<String> {
            related_evals(&t, from).into_iter().map(|s| s.id).collect()
        };
        assert_eq!(ids("a"), ["b", "c"]);
        assert_eq!(ids("c"), ["a", "b"]);
        assert!(ids("lonely").is_empty());
    }
}
