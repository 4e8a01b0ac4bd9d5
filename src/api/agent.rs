//! The agent's own routes: `/v1/agent/self|members|servers|health`, `/v1/status/*`,
//! `/v1/regions`, and the `/v1/client/*` routes that need a client (not written yet).

use std::collections::BTreeMap;

use axum::extract::State;
use serde::Serialize;
use serde_json::json;

use super::error::ApiError;
use super::{ApiResult, ApiState, Reply, Req};

/// What the agent says about itself, filled in by the agent's wiring.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentInfo {
    pub node_name: String,
    pub region: String,
    pub datacenter: String,
    pub version: String,
    /// The address the API listens on (`127.0.0.1`, `0.0.0.0`).
    pub bind_addr: String,
    /// The address others reach this agent at (the bind address unless it is a wildcard).
    pub advertise_addr: String,
    pub http_port: u16,
    pub rpc_port: u16,
    pub serf_port: u16,
    pub server: bool,
    pub client: bool,
    pub dev: bool,
    pub data_dir: String,
    pub log_level: String,
    /// The server's ID (`Node Id` in the startup banner).
    pub server_id: String,
    /// Config files read at start.
    pub config_files: Vec<String>,
}

impl AgentInfo {
    pub fn rpc_addr(&self) -> String {
        format!("{}:{}", self.advertise_addr, self.rpc_port)
    }

    /// The Serf member name: `<node>.<region>`.
    pub fn member_name(&self) -> String {
        format!("{}.{}", self.node_name, self.region)
    }

    /// `/v1/agent/self`'s `config`: the parts of Nomad's agent config drover has.
    pub fn config_json(&self) -> serde_json::Value {
        json!({
            "Region": self.region,
            "Datacenter": self.datacenter,
            "NodeName": self.node_name,
            "DataDir": self.data_dir,
            "LogLevel": self.log_level,
            "BindAddr": self.bind_addr,
            "DevMode": self.dev,
            "EnableDebug": self.dev,
            "Ports": {"HTTP": self.http_port, "RPC": self.rpc_port, "Serf": self.serf_port},
            "Addresses": {"HTTP": self.bind_addr, "RPC": self.bind_addr, "Serf": self.bind_addr},
            "AdvertiseAddrs": {
                "HTTP": format!("{}:{}", self.advertise_addr, self.http_port),
                "RPC": self.rpc_addr(),
                "Serf": format!("{}:{}", self.advertise_addr, self.serf_port),
            },
            "Server": {"Enabled": self.server, "BootstrapExpect": u8::from(self.server)},
            "Client": {"Enabled": self.client},
            "Version": {"Version": self.version, "VersionPrerelease": "", "VersionMetadata": ""},
            "Files": self.config_files,
        })
    }

    fn member(&self) -> Member {
        let tags: BTreeMap<String, String> = [
            ("role", "nomad"),
            ("region", &self.region),
            ("dc", &self.datacenter),
            ("build", &self.version),
            ("port", &self.rpc_port.to_string()),
            ("bootstrap", "1"),
            ("expect", "1"),
            ("id", &self.server_id),
            ("rpc_addr", &self.advertise_addr),
            ("vsn", "1"),
            ("mvn", "1"),
            ("raft_vsn", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Member {
            name: self.member_name(),
            addr: self.advertise_addr.clone(),
            port: self.serf_port,
            tags,
            status: "alive".into(),
            protocol_min: 1,
            protocol_max: 5,
            protocol_cur: 2,
            delegate_min: 2,
            delegate_max: 5,
            delegate_cur: 4,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Member {
    name: String,
    addr: String,
    port: u16,
    tags: BTreeMap<String, String>,
    status: String,
    protocol_min: u8,
    protocol_max: u8,
    protocol_cur: u8,
    delegate_min: u8,
    delegate_max: u8,
    delegate_cur: u8,
}

/// `GET /v1/agent/self`.
pub async fn agent_self(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    let info = &api.agent;
    let snap = api.server.state.snapshot();
    let mut stats = BTreeMap::new();
    if info.server {
        stats.insert(
            "nomad",
            json!({
                "server": "true",
                "leader": "true",
                "leader_addr": info.rpc_addr(),
                "bootstrap": "true",
                "known_regions": "1",
            }),
        );
        let index = snap.index.to_string();
        stats.insert(
            "raft",
            json!({
                "state": "Leader",
                "applied_index": index,
                "commit_index": index,
                "last_log_index": index,
                "num_peers": "0",
            }),
        );
        stats.insert("serf", json!({"members": "1", "failed": "0", "left": "0"}));
    }
    stats.insert(
        "runtime",
        json!({
            "arch": std::env::consts::ARCH,
            "kernel.name": std::env::consts::OS,
            "cpu_count": std::thread::available_parallelism().map_or(1, |n| n.get()).to_string(),
            "version": format!("drover {}", info.version),
        }),
    );
    let body = json!({
        "config": info.config_json(),
        "member": info.member(),
        "stats": stats,
    });
    Reply::json(&req, &body)
}

/// `GET /v1/agent/members`.
pub async fn members(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    let info = &api.agent;
    let body = json!({
        "ServerName": info.node_name,
        "ServerRegion": info.region,
        "ServerDC": info.datacenter,
        "Members": [info.member()],
    });
    Reply::json(&req, &body)
}

/// `GET /v1/agent/servers`: the servers a client talks to (this one).
pub async fn servers(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    Reply::json(&req, &[api.agent.rpc_addr()])
}

#[derive(Debug, Serialize)]
struct HealthAgent {
    ok: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

#[derive(Debug, Default, Serialize)]
struct Health {
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<HealthAgent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<HealthAgent>,
}

/// `GET /v1/agent/health[?type=client|server]`: 200 when every part asked for is
/// healthy, else 500 with the same JSON.
pub async fn health(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    let types: Vec<&str> = req
        .params
        .iter()
        .filter(|(k, _)| k == "type")
        .map(|(_, v)| v.as_str())
        .collect();
    let wants = |t: &str| types.is_empty() || types.contains(&t);
    let part = |enabled: bool, what: &str| {
        if enabled {
            HealthAgent {
                ok: true,
                message: "ok".into(),
            }
        } else {
            HealthAgent {
                ok: false,
                message: format!("{what} not enabled"),
            }
        }
    };
    let mut health = Health::default();
    if wants("client") && (api.agent.client || !types.is_empty()) {
        health.client = Some(part(api.agent.client, "client"));
    }
    if wants("server") && (api.agent.server || !types.is_empty()) {
        health.server = Some(part(api.agent.server, "server"));
    }
    let ok = [&health.client, &health.server]
        .iter()
        .all(|p| p.as_ref().is_none_or(|p| p.ok));
    if ok {
        Reply::json(&req, &health)
    } else {
        Err(ApiError::internal(
            serde_json::to_string(&health).unwrap_or_default(),
        ))
    }
}

/// `GET /v1/status/leader`: this server, the only one.
pub async fn leader(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    Reply::json(&req, &api.agent.rpc_addr())
}

/// `GET /v1/status/peers`.
pub async fn peers(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    Reply::json(&req, &[api.agent.rpc_addr()])
}

/// `GET /v1/regions`.
pub async fn regions(State(api): ApiState, req: Req) -> ApiResult {
    req.require_get()?;
    Reply::json(&req, &[api.agent.region.as_str()])
}
