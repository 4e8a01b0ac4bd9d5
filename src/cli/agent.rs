//! `drover agent`: runs the server and its HTTP API until SIGINT or SIGTERM, printing
//! Nomad's startup banner (`==> ` lines on stdout; logs go to stderr).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use drover::agent::{Agent, AgentConfig};

/// A line on stdout; a closed stdout (`| head`) must not take the agent down.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Development mode: server and client on 127.0.0.1, state in memory (needs root)
    #[arg(long)]
    pub dev: bool,
    /// Run a server (needs -data-dir)
    #[arg(long)]
    pub server: bool,
    /// Run a client: this node runs tasks (needs root and -data-dir)
    #[arg(long)]
    pub client: bool,
    /// The address the HTTP API listens on (default 0.0.0.0; 127.0.0.1 with -dev)
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// The HTTP API's port (default 4646; 0 picks a free one)
    #[arg(long = "http-port", value_name = "PORT")]
    pub http_port: Option<u16>,
    /// Where the agent keeps its state: server state, client state, allocations
    #[arg(long = "data-dir", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The region (default global)
    #[arg(long)]
    pub region: Option<String>,
    /// The datacenter (default dc1)
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
    check_root(&config)?;
    if config.config_files.is_empty() {
        out!("==> No configuration files loaded");
    } else {
        for f in &config.config_files {
            out!("==> Loaded configuration from {}", f.display());
        }
    }
    out!("==> Starting drover agent...");
    // Before the agent starts: a signal during start-up is not lost (or fatal, for HUP).
    let mut signals = Signals::new()?;
    let agent = Agent::start(config).await?;
    print_banner(&agent);
    out!("==> drover agent started! Log data will stream in below:\n");
    loop {
        let signal = signals.next().await;
        out!("==> Caught signal: {signal}");
        if signal != "hangup" {
            break;
        }
        reload(&args, &agent.config);
    }
    out!("==> Gracefully shutting down agent...");
    agent.shutdown().await
}

/// SIGHUP (`systemctl reload drover`): re-reads the config files and reports. The agent
/// keeps running as configured; a change takes effect at the next restart, which tasks
/// survive.
fn reload(args: &AgentArgs, running: &AgentConfig) {
    out!("==> Reloading configuration...");
    match args.agent_config() {
        Ok(config) if config == *running => {
            tracing::info!("agent: configuration reloaded, nothing changed");
        }
        Ok(_) => tracing::warn!(
            "agent: the configuration changed; it takes effect when the agent restarts \
             (systemctl restart drover: running tasks are not touched)"
        ),
        Err(e) => {
            tracing::error!("agent: reloading the configuration: {e:#}; keeping the running one")
        }
    }
}

/// A client needs root; a server alone does not (it only keeps state and serves the API).
fn check_root(config: &AgentConfig) -> Result<()> {
    if (config.client || config.dev) && !rustix::process::geteuid().is_root() {
        let mode = if config.dev { "-dev" } else { "the client" };
        anyhow::bail!(
            "drover agent must run as root for {mode}: the client runs each task in its own \
             namespaces and cgroup, mounts its image's layers as an overlay root filesystem \
             and unpacks image layers with their owners and device nodes, all of which need \
             root. Run it with sudo (sudo drover agent ...), or run only a server \
             (drover agent -server -data-dir DIR), which does not need root."
        );
    }
    Ok(())
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
    out!("==> drover agent configuration:\n");
    for (key, value) in rows {
        out!("    {key:>18}: {value}");
    }
    out!();
}

/// The signals the agent acts on, registered once for its whole life.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupt",
            _ = self.terminate.recv() => "terminated",
            _ = self.hangup.recv() => "hangup",
        }
    }
}
