//! The agent's configuration: Nomad's defaults, `-dev`'s, config files (`-config`, HCL
//! or JSON, a file or a directory of them) and command-line flags, merged in that order.
//! Files are parsed by `hcl1` (Nomad's agent files are HCL 1) and applied by `decode`.

mod decode;
mod hcl1;

use std::path::{Path, PathBuf};

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
    #[error("{name} must be given as an absolute path: got {path}")]
    RelativePath { name: &'static str, path: String },
    #[error("Error loading configuration from {path}: {reason}")]
    File { path: String, reason: String },
    /// What is wrong in one file, each problem with its line (`line 12: …`).
    #[error("Error loading configuration from {path}:\n{}", .problems.join("\n"))]
    Invalid { path: String, problems: Vec<String> },
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
        // As Nomad: a relative directory would move with the agent's working directory.
        let dirs = [
            ("data-dir", &self.data_dir),
            ("state-dir", &self.client_config.state_dir),
            ("alloc-dir", &self.client_config.alloc_dir),
        ];
        for (name, dir) in dirs {
            if let Some(dir) = dir.as_ref().filter(|d| !d.is_absolute()) {
                return Err(ConfigError::RelativePath {
                    name,
                    path: dir.display().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Where the server keeps its state (`<data_dir>/server/state`).
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.data_dir
            .as_ref()
            .map(|d| d.join("server").join("state"))
    }

    /// Merges a config file, or every `.hcl`/`.json` file of a directory in name order
    /// (editor backups skipped, as Nomad does). A file merges whole or not at all.
    pub fn load(&mut self, path: &Path) -> Result<(), ConfigError> {
        let err = |reason: String| ConfigError::File {
            path: path.display().to_string(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.is_dir() {
            for f in config_dir_files(path).map_err(|e| err(e.to_string()))? {
                self.load(&f)?;
            }
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let root = if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| err(format!("line {}, column {}: {e}", e.line(), e.column())))?;
            hcl1::from_json(value)
        } else {
            hcl1::parse(&text).map_err(|e| err(e.to_string()))?
        };
        let mut next = self.clone();
        let decoded = decode::apply(&mut next, &root);
        if !decoded.problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                problems: decoded.problems,
            });
        }
        for key in decoded.ignored {
            tracing::debug!(
                file = %path.display(),
                "agent config: {key}: a Nomad setting drover does not use, ignored"
            );
        }
        *self = next;
        self.config_files.push(path.to_path_buf());
        Ok(())
    }
}

/// A config directory's `.hcl` and `.json` files, sorted by name; not subdirectories, not
/// editor backups (`x.hcl~`, `.#x.hcl`, `#x.hcl#`), not `x.hcl.new`.
pub fn config_dir_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = (name.ends_with(".hcl") || name.ends_with(".json"))
            && !name.starts_with(".#")
            && !(name.starts_with('#') && name.ends_with('#'));
        if wanted && std::fs::metadata(entry.path())?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The host's name, as Nomad names a node by default.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests;
