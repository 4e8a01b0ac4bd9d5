//! The agent: a server (the client comes later) and the HTTP API, wired from an
//! [`AgentConfig`]. `drover agent` (src/cli/agent.rs) prints the banner and waits for a
//! signal; tests and benchmarks can start one in process.

pub mod config;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{AgentConfig, ConfigError};

use crate::api::{self, AgentInfo, Api};
use crate::client::{Client, ClientConfig, InProcess};
use crate::server::state::{Command, StateStore};
use crate::server::{Server, ServerConfig};

/// How long requests in flight may take to finish at shutdown.
const HTTP_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Agent {
    pub config: AgentConfig,
    pub server: Arc<Server>,
    /// The client, when this agent runs one (`-dev`, `-client`).
    pub client: Option<Arc<Client>>,
    /// `-dev` without a data dir: the client's temp dir, removed at shutdown.
    client_tmp: Option<PathBuf>,
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
        let mut info = agent_info(&config, &server_id, http_addr.port());
        let (client, client_tmp) = if config.client {
            let (client_config, tmp) = client_config(&config, http_addr)?;
            let conn = Arc::new(InProcess(server.clone()));
            let client = Client::start(client_config, conn)
                .await
                .context("starting the client")?;
            info.client = true;
            (Some(client), tmp)
        } else {
            (None, None)
        };
        let api = match &client {
            Some(c) => Api::with_client(server.clone(), info.clone(), c.clone()),
            None => Api::new(server.clone(), info.clone()),
        };
        let router = api::router(api);
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
            client,
            client_tmp,
            info,
            http_addr,
            stop_http: Some(stop_http),
            http: Some(http),
        })
    }

    /// Stops the client (in `-dev` its allocations too), then serving (requests in
    /// flight get a few seconds; log streams that follow would never end), then the
    /// server.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(client) = self.client.take() {
            // -dev destroys its allocations (Nomad's dev mode); otherwise they run on.
            client.shutdown(self.config.dev).await;
        }
        if let Some(tmp) = self.client_tmp.take() {
            let _ = std::fs::remove_dir_all(tmp);
        }
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        if let Some(mut http) = self.http.take() {
            match tokio::time::timeout(HTTP_DRAIN, &mut http).await {
                Ok(served) => served
                    .context("the HTTP API task")?
                    .context("serving the HTTP API")?,
                Err(_) => http.abort(),
            }
        }
        let server = self.server.clone();
        tokio::task::spawn_blocking(move || server.shutdown())
            .await
            .context("stopping the server")?;
        Ok(())
    }
}

/// Where the client keeps its state, allocations and images. `-dev` without a data dir
/// uses a temp dir (Nomad's `NomadClient*`); images always go to the shared store
/// (`<data_dir>/image`, else `$DROVER_DATA_DIR/image` or /var/lib/drover/image, which
/// `drover image pull` fills too).
fn client_config(
    config: &AgentConfig,
    http_addr: SocketAddr,
) -> Result<(ClientConfig, Option<PathBuf>)> {
    let settings = config.client_config.clone();
    let (base, tmp) = match &config.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let tmp = std::env::temp_dir().join(format!(
                "DroverClient{}",
                &uuid::Uuid::new_v4().simple().to_string()[..10]
            ));
            (tmp.clone(), Some(tmp))
        }
    };
    let image_base = match &config.data_dir {
        Some(d) => d.clone(),
        None => std::env::var_os("DROVER_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/drover")),
    };
    let client = ClientConfig {
        node_name: config.node_name.clone(),
        datacenter: config.datacenter.clone(),
        region: config.region.clone(),
        state_dir: settings
            .state_dir
            .clone()
            .unwrap_or_else(|| base.join("client")),
        alloc_dir: settings
            .alloc_dir
            .clone()
            .unwrap_or_else(|| base.join("alloc")),
        image_dir: image_base.join("image"),
        settings,
        dev: config.dev,
        http_addr: http_addr.to_string(),
        cgroup_parent: PathBuf::from("drover"),
    };
    Ok((client, tmp))
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
