//! The HTTP API: Nomad's `/v1` routes over axum, plus drover's client interface under
//! `/v1/internal/` (see `client.rs`).
//!
//! Reads come straight from a state snapshot (`server.state.snapshot()` and the query
//! helpers of `server::state`); writes call the `Server` endpoint methods on a blocking
//! thread (a durable apply syncs the log). Each route takes every method and answers the
//! ones it does not serve with Nomad's `405 Invalid method`; job, alloc, eval, deployment
//! and node routes match their suffixes by hand, as Nomad's do, because job IDs may
//! contain `/` (dispatched and periodic children). The `/v1/client/*` routes (stats,
//! fs, logs, exec, restart, signal) need the local client and answer 501 without one.

pub mod agent;
pub mod allocs;
pub mod blocking;
pub mod client;
pub mod client_alloc;
pub mod client_exec;
pub mod client_fs;
pub mod deployments;
pub mod error;
pub mod evals;
pub mod events;
pub mod jobs;
mod jobs_write;
pub mod metrics;
pub mod nodes;
pub mod request;
pub mod search;

use std::sync::Arc;

use axum::routing::any;
use axum::Router;

pub use agent::AgentInfo;
pub use error::ApiError;
pub use request::{Reply, Req};

use crate::server::endpoints::RpcError;
use crate::server::Server;

/// What every handler reaches: the server and the agent's own description.
pub struct Api {
    pub server: Arc<Server>,
    pub agent: AgentInfo,
    /// The local client, when this agent runs one (`/v1/client/*`).
    pub client: Option<Arc<dyn crate::client::ClientView>>,
}

pub type ApiState = axum::extract::State<Arc<Api>>;

/// A handler's outcome.
pub type ApiResult = Result<Reply, ApiError>;

impl Api {
    pub fn new(server: Arc<Server>, agent: AgentInfo) -> Arc<Api> {
        Arc::new(Api {
            server,
            agent,
            client: None,
        })
    }

    /// An API that also serves the local client's routes.
    pub fn with_client(
        server: Arc<Server>,
        agent: AgentInfo,
        client: Arc<dyn crate::client::ClientView>,
    ) -> Arc<Api> {
        Arc::new(Api {
            server,
            agent,
            client: Some(client),
        })
    }

    /// Runs a write on a blocking thread: applying a command may wait for the disk.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Server) -> Result<T, RpcError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let server = self.server.clone();
        tokio::task::spawn_blocking(move || f(&server))
            .await
            .map_err(|e| ApiError::internal(format!("write task failed: {e}")))?
            .map_err(ApiError::from)
    }
}

/// Every route of the API.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/jobs", any(jobs::jobs))
        .route("/v1/jobs/parse", any(jobs::parse))
        .route("/v1/job/{*rest}", any(jobs::job_specific))
        .route("/v1/validate/job", any(jobs::validate))
        .route("/v1/allocations", any(allocs::list))
        .route("/v1/allocation/{*rest}", any(allocs::specific))
        .route("/v1/evaluations", any(evals::list))
        .route("/v1/evaluation/{*rest}", any(evals::specific))
        .route("/v1/deployments", any(deployments::list))
        .route("/v1/deployment/{*rest}", any(deployments::specific))
        .route("/v1/nodes", any(nodes::list))
        .route("/v1/node/{*rest}", any(nodes::specific))
        .route("/v1/agent/self", any(agent::agent_self))
        .route("/v1/agent/members", any(agent::members))
        .route("/v1/agent/servers", any(agent::servers))
        .route("/v1/agent/health", any(agent::health))
        .route("/v1/status/leader", any(agent::leader))
        .route("/v1/status/peers", any(agent::peers))
        .route("/v1/regions", any(agent::regions))
        .route("/v1/search", any(search::search))
        .route("/v1/metrics", any(metrics::metrics))
        .route("/v1/client/allocation/{id}/exec", any(client_exec::exec))
        .route("/v1/client/{*rest}", any(client_alloc::handle))
        .merge(client::routes())
        .fallback(any(not_found))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(api)
}

/// Nomad's `request complete` debug line for every request.
async fn log_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(
        %method,
        path = %uri,
        status = resp.status().as_u16(),
        duration = ?start.elapsed(),
        "http: request complete"
    );
    resp
}

/// Nomad answers unknown paths with a bare 404.
async fn not_found() -> axum::http::StatusCode {
    axum::http::StatusCode::NOT_FOUND
}
