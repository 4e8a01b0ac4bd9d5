//! The agent's configuration: Nomad's defaults, `-dev`'s, config files (`-config`, HCL
//! or JSON, a file or a directory of them) and command-line flags, merged in that order.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_HTTP_PORT: u16 = 4646;
pub const DEFAULT_RPC_PORT: u16 = 4647;
pub const DEFAULT_SERF_PORT: u16 = 4648;

#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub dev: bool,
    pub server: bool,
    pub client: bool,
    pub bind_addr: String,
    pub http_port: u16,
    pub rpc_port: u16,
    pub serf_port: u16,
    /// `None` in `-dev`: state lives in memory.
    pub data_dir: Option<PathBuf>,
    pub region: String,
    pub datacenter: String,
    pub node_name: String,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`.
    pub log_level: String,
    pub config_files: Vec<PathBuf>,
    /// The `client` block (and what `-dev` sets in it).
    pub client_config: ClientSettings,
}

/// The agent's `client { … }` settings (plus drover's registry settings), already merged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientSettings {
    /// `client { state_dir }`; default `<data_dir>/client`, a temp dir in `-dev`.
    pub state_dir: Option<PathBuf>,
    /// `client { alloc_dir }`; default `<data_dir>/alloc`, a temp dir in `-dev`.
    pub alloc_dir: Option<PathBuf>,
    /// `client { options { "driver.denylist" = "java,exec" … } }`, as given.
    pub options: std::collections::BTreeMap<String, String>,
    /// `client { meta { … } }`.
    pub meta: std::collections::BTreeMap<String, String>,
    /// `client { node_class }`.
    pub node_class: String,
    /// `client { node_pool }`; empty: `default`.
    pub node_pool: String,
    /// `client { network_interface }`: whose address ports are published on.
    pub network_interface: String,
    /// `client { min_dynamic_port / max_dynamic_port }`; 0: Nomad's 20000–32000.
    pub min_dynamic_port: u16,
    pub max_dynamic_port: u16,
    /// `client { reserved { ports = "22,80,8500-8600" } }`.
    pub reserved_ports: String,
    /// `client { reserved { cpu, memory, disk } }` (MHz, MB, MB).
    pub reserved_cpu: u64,
    pub reserved_memory_mb: u64,
    pub reserved_disk_mb: u64,
    /// `client { bridge_network_name }`; empty: `drover`.
    pub bridge_network_name: String,
    /// `client { bridge_network_subnet }`; empty: `172.26.64.0/20`.
    pub bridge_network_subnet: String,
    /// drover's `registry { mirror = "…", insecure = ["host:port"] , auth_file = "…" }`:
    /// where images come from when a reference names no registry, registries spoken to
    /// over plain HTTP, and a Docker `config.json` with credentials.
    pub registry_mirror: Option<String>,
    pub insecure_registries: Vec<String>,
    pub registry_auth_file: Option<PathBuf>,
}

impl ClientSettings {
    /// A client option's value (`driver.denylist`, `driver.raw_exec.enable` …).
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// `driver.denylist` (or the older `driver.blacklist`) as a list.
    pub fn driver_denylist(&self) -> Vec<String> {
        self.option("driver.denylist")
            .or_else(|| self.option("driver.blacklist"))
            .unwrap_or("")
            .split(',')
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .collect()
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            dev: false,
            server: false,
            client: false,
            bind_addr: "0.0.0.0".into(),
            http_port: DEFAULT_HTTP_PORT,
            rpc_port: DEFAULT_RPC_PORT,
            serf_port: DEFAULT_SERF_PORT,
            data_dir: None,
            region: "global".into(),
            datacenter: "dc1".into(),
            node_name: hostname(),
            log_level: "INFO".into(),
            config_files: Vec::new(),
            client_config: ClientSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("Must specify either server, client or dev mode for the agent.")]
    NoRole,
    #[error("Must specify data directory")]
    NoDataDir,
    #[error("Invalid log level: {0:?}. Valid log levels are: [TRACE DEBUG INFO WARN ERROR]")]
    LogLevel(String),
    #[error("Error loading configuration from {path}: {reason}")]
    File { path: String, reason: String },
}

impl AgentConfig {
    /// `-dev`: server and client on loopback, state in memory, DEBUG logs, raw_exec on.
    pub fn dev() -> Self {
        let mut client_config = ClientSettings::default();
        client_config
            .options
            .insert("driver.raw_exec.enable".into(), "true".into());
        client_config
            .options
            .insert("driver.docker.volumes".into(), "true".into());
        client_config.network_interface = "lo".into();
        AgentConfig {
            dev: true,
            server: true,
            client: true,
            bind_addr: "127.0.0.1".into(),
            log_level: "DEBUG".into(),
            client_config,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.dev || self.server || self.client) {
            return Err(ConfigError::NoRole);
        }
        if !self.dev && self.data_dir.is_none() {
            return Err(ConfigError::NoDataDir);
        }
        if !matches!(
            self.log_level.to_ascii_uppercase().as_str(),
            "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR"
        ) {
            return Err(ConfigError::LogLevel(self.log_level.clone()));
        }
        Ok(())
    }

    /// Where the server keeps its state (`<data_dir>/server/state`).
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.data_dir
            .as_ref()
            .map(|d| d.join("server").join("state"))
    }

    /// Merges a config file, or every `.hcl`/`.json` file of a directory in name order.
    pub fn load(&mut self, path: &Path) -> Result<(), ConfigError> {
        let err = |reason: String| ConfigError::File {
            path: path.display().to_string(),
            reason,
        };
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| err(e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("hcl" | "json"))
                })
                .collect();
            files.sort();
            for f in files {
                self.load(&f)?;
            }
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: FileConfig = if path.extension().and_then(|e| e.to_str()) == Some("json") {
            serde_json::from_str(&text).map_err(|e| err(e.to_string()))?
        } else {
            hcl::from_str(&text).map_err(|e| err(e.to_string()))?
        };
        self.merge(file);
        self.config_files.push(path.to_path_buf());
        Ok(())
    }

    fn merge(&mut self, f: FileConfig) {
        let set = |dst: &mut String, src: Option<String>| {
            if let Some(v) = src.filter(|v| !v.is_empty()) {
                *dst = v;
            }
        };
        set(&mut self.region, f.region);
        set(&mut self.datacenter, f.datacenter);
        set(&mut self.node_name, f.name);
        set(&mut self.bind_addr, f.bind_addr);
        set(&mut self.log_level, f.log_level);
        if let Some(dir) = f.data_dir.filter(|d| !d.is_empty()) {
            self.data_dir = Some(PathBuf::from(dir));
        }
        if let Some(ports) = f.ports {
            self.http_port = ports.http.unwrap_or(self.http_port);
            self.rpc_port = ports.rpc.unwrap_or(self.rpc_port);
            self.serf_port = ports.serf.unwrap_or(self.serf_port);
        }
        if let Some(enabled) = f.server.and_then(|s| s.enabled) {
            self.server = enabled;
        }
        if let Some(enabled) = f.client.and_then(|c| c.enabled) {
            self.client = enabled;
        }
    }
}

/// The part of Nomad's agent file drover reads; other keys are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileConfig {
    region: Option<String>,
    datacenter: Option<String>,
    name: Option<String>,
    data_dir: Option<String>,
    bind_addr: Option<String>,
    log_level: Option<String>,
    ports: Option<Ports>,
    server: Option<Enabled>,
    client: Option<Enabled>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Ports {
    http: Option<u16>,
    rpc: Option<u16>,
    serf: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Enabled {
    enabled: Option<bool>,
}

/// The host's name, as Nomad names a node by default.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_data_dir_are_required() {
        let cases = [
            (AgentConfig::default(), Err(ConfigError::NoRole)),
            (
                AgentConfig {
                    server: true,
                    ..Default::default()
                },
                Err(ConfigError::NoDataDir),
            ),
            (
                AgentConfig {
                    server: true,
                    data_dir: Some("/tmp/x".into()),
                    ..Default::default()
                },
                Ok(()),
            ),
            (AgentConfig::dev(), Ok(())),
            (
                AgentConfig {
                    log_level: "LOUD".into(),
                    ..AgentConfig::dev()
                },
                Err(ConfigError::LogLevel("LOUD".into())),
            ),
        ];
        for (config, want) in cases {
            assert_eq!(config.validate(), want, "{config:?}");
        }
    }

    #[test]
    fn files_merge_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.hcl"),
            r#"
region     = "eu"
datacenter = "dc2"
data_dir   = "/var/lib/drover"
ports { http = 5656 }
server { enabled = true }
telemetry { prometheus_metrics = true }
"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"name": "n1", "log_level": "WARN"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "nonsense").unwrap();
        let mut config = AgentConfig::default();
        config.load(dir.path()).unwrap();
        assert_eq!(config.region, "eu");
        assert_eq!(config.datacenter, "dc2");
        assert_eq!(config.node_name, "n1");
        assert_eq!(config.log_level, "WARN");
        assert_eq!(config.http_port, 5656);
        assert_eq!(config.rpc_port, DEFAULT_RPC_PORT);
        assert!(config.server && !config.client);
        assert_eq!(
            config.state_dir().unwrap(),
            Path::new("/var/lib/drover/server/state")
        );
        assert_eq!(config.config_files.len(), 2);
        let err = config.load(&dir.path().join("missing.hcl")).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }));
    }
}
