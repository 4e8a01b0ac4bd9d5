//! The agent: a server (the client comes later) and the HTTP API, wired from an
//! [`AgentConfig`]. `drover agent` (src/cli/agent.rs) prints the banner and waits for a
//! signal; tests and benchmarks can start one in process.

pub mod config;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{AgentConfig, ConfigError};

use crate::api::{self, AgentInfo, Api};
use crate::server::state::{Command, StateStore};
use crate::server::{Server, ServerConfig};

pub struct Agent {
    pub config: AgentConfig,
    pub server: Arc<Server>,
    pub info: AgentInfo,
    /// Where the API listens (the real port when the config asked for port 0).
    pub http_addr: SocketAddr,
    stop_http: Option<oneshot::Sender<()>>,
    http: Option<JoinHandle<std::io::Result<()>>>,
}

impl Agent {
    /// Opens the state, starts the server and serves the API.
    pub async fn start(config: AgentConfig) -> Result<Agent> {
        config.validate()?;
        let state = match config.state_dir().filter(|_| !config.dev) {
            Some(dir) => StateStore::open(&dir)
                .with_context(|| format!("opening the server state in {}", dir.display()))?,
            None => StateStore::in_memory(),
        };
        let server_id = match config.data_dir.as_deref().filter(|_| !config.dev) {
            Some(dir) => persistent_id(&dir.join("server").join("node-id"))?,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let server = Server::new(
            state,
            ServerConfig {
                region: config.region.clone(),
                datacenter: config.datacenter.clone(),
                ..Default::default()
            },
        );
        bootstrap(&server)?;
        server.start();
        let bind = format!("{}:{}", config.bind_addr, config.http_port);
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .with_context(|| format!("binding the HTTP API to {bind}"))?;
        let http_addr = listener.local_addr().context("the HTTP API's address")?;
        let info = agent_info(&config, &server_id, http_addr.port());
        let router = api::router(Api::new(server.clone(), info.clone()));
        let (stop_http, stopped) = oneshot::channel::<()>();
        let http = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(address = %http_addr, "agent: HTTP API started");
        Ok(Agent {
            config,
            server,
            info,
            http_addr,
            stop_http: Some(stop_http),
            http: Some(http),
        })
    }

    /// Stops serving (requests in flight finish), then stops the server.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        if let Some(http) = self.http.take() {
            http.await
                .context("the HTTP API task")?
                .context("serving the HTTP API")?;
        }
        let server = self.server.clone();
        tokio::task::spawn_blocking(move || server.shutdown())
            .await
            .context("stopping the server")?;
        Ok(())
    }
}

/// A fresh state's first entry, like the configuration entry that opens a Raft log:
/// empty tables then report index 1 (Nomad never reports 0) and the first real write
/// lands after it, so a blocking query sent with index 1 wakes for that write.
fn bootstrap(server: &Server) -> Result<()> {
    if server.state.index() == 0 {
        server
            .apply(Command::EvalUpsert { evals: Vec::new() })
            .context("writing the state's first entry")?;
    }
    Ok(())
}

fn agent_info(config: &AgentConfig, server_id: &str, http_port: u16) -> AgentInfo {
    let advertise = match config.bind_addr.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1".to_string(),
        addr => addr.to_string(),
    };
    AgentInfo {
        node_name: config.node_name.clone(),
        region: config.region.clone(),
        datacenter: config.datacenter.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        bind_addr: config.bind_addr.clone(),
        advertise_addr: advertise,
        http_port,
        rpc_port: config.rpc_port,
        serf_port: config.serf_port,
        server: config.server || config.dev,
        client: false,
        dev: config.dev,
        data_dir: config
            .data_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        log_level: config.log_level.to_ascii_uppercase(),
        server_id: server_id.to_string(),
        config_files: config
            .config_files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    }
}

/// An ID made once and kept in `path` (Nomad's `server/node-id`).
fn persistent_id(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let id = uuid::Uuid::new_v4().to_string();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &id).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_id_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server").join("node-id");
        let first = persistent_id(&path).unwrap();
        assert_eq!(persistent_id(&path).unwrap(), first);
        assert_eq!(first.len(), 36);
    }

    #[tokio::test]
    async fn a_dev_agent_serves_and_stops() {
        let config = AgentConfig {
            http_port: 0,
            ..AgentConfig::dev()
        };
        let agent = Agent::start(config).await.unwrap();
        assert!(agent.http_addr.ip().is_loopback());
        assert_ne!(agent.http_addr.port(), 0);
        let stream = tokio::net::TcpStream::connect(agent.http_addr).await;
        assert!(stream.is_ok());
        drop(stream);
        agent.shutdown().await.unwrap();
    }
}
