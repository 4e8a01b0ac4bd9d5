//! `/v1/client/fs/{ls,stat,cat,readat,stream,logs}/:alloc_id`: an allocation's
//! directory and its tasks' logs, read on this node. Every path goes through
//! [`root::AllocRoot`], so nothing outside the alloc dir is reachable.

pub mod frames;
pub mod root;
pub mod stream;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use self::root::{AllocRoot, FsError};
use self::stream::{Source, StreamRequest};
use super::blocking::by_id_or_prefix;
use super::error::ApiError;
use super::{Api, Reply, Req};
use crate::client::ClientView;
use crate::structs::{Allocation, TASK_STATE_PENDING};

impl From<FsError> for ApiError {
    fn from(e: FsError) -> Self {
        match e {
            FsError::Escapes => ApiError::bad_request(e.to_string()),
            FsError::NotFound { .. } => ApiError::not_found(e.to_string()),
            FsError::Io { .. } => ApiError::internal(e.to_string()),
        }
    }
}

/// `/v1/client/fs/<verb>/<alloc_id>`.
pub async fn handle(
    api: &Api,
    client: &Arc<dyn ClientView>,
    req: &Req,
    verb: &str,
    alloc_id: &str,
) -> Result<Response, ApiError> {
    req.require_get()?;
    let alloc = find_alloc(api, alloc_id);
    let full_id = alloc.as_ref().map_or(alloc_id, |a| a.id.as_str());
    let root = open_root(client.as_ref(), full_id)?;
    let path = req.param("path").unwrap_or("/");
    match verb {
        "ls" => {
            let files = root.list(path)?;
            Ok(Reply::json(req, &files)?.into_response())
        }
        "stat" => {
            let info = root.stat(path)?;
            Ok(Reply::json(req, &info)?.into_response())
        }
        "cat" | "readat" => {
            let info = root.stat(path)?;
            if info.is_dir {
                return Err(ApiError::bad_request(format!(
                    "file {path:?} is a directory"
                )));
            }
            let (offset, limit) = if verb == "readat" {
                let offset = req
                    .u64_param("offset")?
                    .ok_or_else(|| ApiError::bad_request("must provide an offset"))?;
                let limit = req
                    .u64_param("limit")?
                    .ok_or_else(|| ApiError::bad_request("must provide a limit"))?;
                (offset, Some(limit))
            } else {
                (0, None)
            };
            let request = StreamRequest {
                source: Source::File {
                    path: path.to_string(),
                },
                from_end: false,
                offset,
                follow: false,
                plain: true,
                limit,
            };
            Ok(streaming(root, request, "application/octet-stream"))
        }
        "stream" => {
            let request = StreamRequest {
                source: Source::File {
                    path: path.to_string(),
                },
                from_end: origin_is_end(req)?,
                offset: req.u64_param("offset")?.unwrap_or(0),
                follow: req.bool_param("follow")?.unwrap_or(true),
                plain: req.flag("plain")?,
                limit: None,
            };
            root.stat(path)?;
            Ok(stream_response(root, request))
        }
        "logs" => logs(req, alloc.as_deref(), full_id, root),
        _ => Err(ApiError::not_found("resource not found")),
    }
}

fn find_alloc(api: &Api, id: &str) -> Option<Arc<Allocation>> {
    let snap = api.server.state.snapshot();
    by_id_or_prefix(&snap.allocs, id).cloned()
}

fn open_root(client: &dyn ClientView, alloc_id: &str) -> Result<Arc<AllocRoot>, ApiError> {
    let unknown = || ApiError::not_found(format!("Unknown allocation \"{alloc_id}\""));
    let dir = client.alloc_dir(alloc_id).ok_or_else(unknown)?;
    AllocRoot::open(&dir).map(Arc::new).map_err(|_| unknown())
}

fn origin_is_end(req: &Req) -> Result<bool, ApiError> {
    match req.param("origin").unwrap_or("") {
        "" | "start" => Ok(false),
        "end" => Ok(true),
        other => Err(ApiError::bad_request(format!(
            "Origin must be \"start\" or \"end\": {other:?}"
        ))),
    }
}

/// `/v1/client/fs/logs/<alloc>?task=&type=&origin=&offset=&follow=&plain=` (§2.5).
fn logs(
    req: &Req,
    alloc: Option<&Allocation>,
    alloc_id: &str,
    root: Arc<AllocRoot>,
) -> Result<Response, ApiError> {
    let task = req.param_or_empty("task");
    if task.is_empty() {
        return Err(ApiError::bad_request("must provide task name"));
    }
    let kind = req.param_or_empty("type");
    if kind != "stdout" && kind != "stderr" {
        return Err(ApiError::bad_request(format!(
            "illegal log type: {kind:?} (must be \"stdout\" or \"stderr\")"
        )));
    }
    let from_end = origin_is_end(req)?;
    let offset = req.u64_param("offset")?.unwrap_or(0);
    let follow = req.flag("follow")?;
    let plain = req.flag("plain")?;
    let Some(alloc) = alloc else {
        return Err(ApiError::not_found(format!(
            "Unknown allocation \"{alloc_id}\""
        )));
    };
    check_task_started(alloc, task)?;
    let request = StreamRequest {
        source: Source::Logs {
            task: task.to_string(),
            kind: kind.to_string(),
        },
        from_end,
        offset,
        follow,
        plain,
        limit: None,
    };
    let present = request.source.indexes(&root);
    if present.map(|i| i.is_empty()).unwrap_or(true) {
        return Err(ApiError::not_found(format!(
            "log entry for task {task:?} and log type {kind:?} not found"
        )));
    }
    Ok(stream_response(root, request))
}

/// Unknown task 400; a task that never started 404 (Nomad's texts).
pub fn check_task_started(alloc: &Allocation, task: &str) -> Result<(), ApiError> {
    let in_group = alloc
        .job
        .as_ref()
        .and_then(|job| job.task_groups.iter().find(|g| g.name == alloc.task_group))
        .is_some_and(|g| g.tasks.iter().any(|t| t.name == task));
    if !in_group && !alloc.task_states.contains_key(task) {
        return Err(ApiError::bad_request(format!("unknown task name {task:?}")));
    }
    let started = alloc
        .task_states
        .get(task)
        .is_some_and(|s| s.state != TASK_STATE_PENDING || time_is_set(&s.started_at));
    if !started {
        return Err(ApiError::not_found(format!(
            "task {task:?} not started yet. No logs available"
        )));
    }
    Ok(())
}

/// Go's zero time (`0001-01-01T00:00:00Z`) and empty strings are "never".
fn time_is_set(rfc3339: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(rfc3339).is_ok_and(|t| t.timestamp() > 0)
}

fn stream_response(root: Arc<AllocRoot>, request: StreamRequest) -> Response {
    let content_type = if request.plain {
        "text/plain"
    } else {
        "application/json"
    };
    streaming(root, request, content_type)
}

fn streaming(root: Arc<AllocRoot>, request: StreamRequest, content_type: &'static str) -> Response {
    let rx = stream::spawn(root, request);
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{Job, Task, TaskGroup, TaskState};

    #[test]
    fn log_requests_check_the_task_like_nomad() {
        let mut alloc = Allocation {
            task_group: "g".into(),
            job: Some(Arc::new(Job {
                task_groups: vec![TaskGroup {
                    name: "g".into(),
                    tasks: vec![
                        Task {
                            name: "web".into(),
                            ..Task::default()
                        },
                        Task {
                            name: "side".into(),
                            ..Task::default()
                        },
                    ],
                    ..TaskGroup::default()
                }],
                ..Job::default()
            })),
            ..Allocation::default()
        };
        let state = |state: &str, started: &str| TaskState {
            state: state.into(),
            started_at: started.into(),
            ..TaskState::default()
        };
        alloc
            .task_states
            .insert("web".into(), state("running", "2024-05-01T10:00:03Z"));
        alloc
            .task_states
            .insert("side".into(), state("pending", "0001-01-01T00:00:00Z"));
        let cases = [
            ("web", Ok(())),
            (
                "side",
                Err((404, "task \"side\" not started yet. No logs available")),
            ),
            ("nope", Err((400, "unknown task name \"nope\""))),
        ];
        for (task, want) in cases {
            let got = check_task_started(&alloc, task).map_err(|e| (e.code, e.message));
            assert_eq!(
                got,
                want.map_err(|(c, m): (u16, &str)| (c, m.to_string())),
                "{task}"
            );
        }
        // A task that ran and died still has logs.
        alloc
            .task_states
            .insert("side".into(), state("dead", "2024-05-01T10:00:03Z"));
        assert!(check_task_started(&alloc, "side").is_ok());
    }
}
