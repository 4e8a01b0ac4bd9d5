//! `drover agent`: runs the server and its HTTP API until SIGINT or SIGTERM, printing
//! Nomad's startup banner (`==> ` lines on stdout; logs go to stderr).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use drover::agent::{Agent, AgentConfig};

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Development mode: a server on 127.0.0.1 with its state in memory
    #[arg(long)]
    pub dev: bool,
    /// Run a server (needs -data-dir)
    #[arg(long)]
    pub server: bool,
    /// Run a client (not available yet)
    #[arg(long)]
    pub client: bool,
    /// The address the HTTP API listens on (default 0.0.0.0; 127.0.0.1 with -dev)
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// The HTTP API's port (default 4646; 0 picks a free one)
    #[arg(long = "http-port", value_name = "PORT")]
    pub http_port: Option<u16>,
    /// Where the server keeps its state (<dir>/server/state)
    #[arg(long = "data-dir", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub region: Option<String>,
    /// The datacenter
    #[arg(long)]
    pub dc: Option<String>,
    /// The node's name (default: the host name)
    #[arg(long)]
    pub node: Option<String>,
    /// TRACE, DEBUG, INFO, WARN or ERROR (default INFO; DEBUG with -dev)
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// A config file (HCL or JSON) or a directory of them (repeatable)
    #[arg(long = "config", value_name = "PATH")]
    pub config: Vec<PathBuf>,
}

impl AgentArgs {
    /// Defaults, then `-dev`'s, then config files, then flags.
    pub fn agent_config(&self) -> Result<AgentConfig> {
        let mut config = if self.dev {
            AgentConfig::dev()
        } else {
            AgentConfig::default()
        };
        for path in &self.config {
            config.load(path)?;
        }
        config.server |= self.server;
        config.client |= self.client;
        let set = |dst: &mut String, src: &Option<String>| {
            if let Some(v) = src {
                *dst = v.clone();
            }
        };
        set(&mut config.bind_addr, &self.bind);
        set(&mut config.region, &self.region);
        set(&mut config.datacenter, &self.dc);
        set(&mut config.node_name, &self.node);
        set(&mut config.log_level, &self.log_level);
        if let Some(port) = self.http_port {
            config.http_port = port;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if config.client && !config.dev {
            anyhow::bail!(
                "the client is not available yet: run a server (-server -data-dir DIR) or -dev"
            );
        }
        config.validate()?;
        Ok(config)
    }

    /// The tracing filter for the agent's log level, from the flags and config files
    /// (`DROVER_LOG` still wins). A bad config is refused later, with its message.
    pub fn log_filter(&self) -> String {
        let level = match self.agent_config() {
            Ok(config) => config.log_level.to_ascii_lowercase(),
            Err(_) if self.dev => "debug".into(),
            Err(_) => "info".into(),
        };
        format!("warn,drover={level}")
    }
}

pub async fn run(args: AgentArgs) -> Result<()> {
    let config = args.agent_config()?;
    if config.config_files.is_empty() {
        println!("==> No configuration files loaded");
    } else {
        for f in &config.config_files {
            println!("==> Loaded configuration from {}", f.display());
        }
    }
    println!("==> Starting drover agent...");
    let agent = Agent::start(config).await?;
    print_banner(&agent);
    println!("==> drover agent started! Log data will stream in below:\n");
    let signal = wait_for_signal().await?;
    println!("==> Caught signal: {signal}");
    println!("==> Gracefully shutting down agent...");
    agent.shutdown().await
}

fn print_banner(agent: &Agent) {
    let info = &agent.info;
    let host = &info.advertise_addr;
    let mut rows = vec![
        (
            "Advertise Addrs",
            format!(
                "HTTP: {host}:{}; RPC: {host}:{}; Serf: {host}:{}",
                info.http_port, info.rpc_port, info.serf_port
            ),
        ),
        (
            "Bind Addrs",
            format!(
                "HTTP: [{}]; RPC: {}:{}; Serf: {}:{}",
                agent.http_addr, info.bind_addr, info.rpc_port, info.bind_addr, info.serf_port
            ),
        ),
        ("Client", info.client.to_string()),
        ("Log Level", info.log_level.clone()),
        ("Node Id", info.server_id.clone()),
        (
            "Region",
            format!("{} (DC: {})", info.region, info.datacenter),
        ),
        ("Server", info.server.to_string()),
        ("Version", info.version.clone()),
    ];
    if !info.data_dir.is_empty() {
        rows.push(("Data Dir", info.data_dir.clone()));
    }
    rows.sort_by(|a, b| a.0.cmp(b.0));
    println!("==> drover agent configuration:\n");
    for (key, value) in rows {
        println!("    {key:>18}: {value}");
    }
    println!();
}

async fn wait_for_signal() -> Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(tokio::select! {
        _ = interrupt.recv() => "interrupt",
        _ = terminate.recv() => "terminated",
    })
}
