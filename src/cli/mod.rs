//! The command line: one module per command group.

pub mod agent;
pub mod agent_info;
pub mod alloc;
pub mod args;
pub mod completions;
pub mod container;
pub mod deployment;
pub mod eval;
pub mod format;
pub mod http;
pub mod image;
pub mod job;
pub mod lookup;
pub mod node;
pub mod plan_diff;
pub mod progress;
pub mod status;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    version = concat!("v", env!("CARGO_PKG_VERSION")),
    about = "A workload orchestrator that speaks Nomad and runs OCI images without Docker",
    after_help = ALIASES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: a server and the HTTP API (-dev: in memory, on 127.0.0.1)
    Agent(agent::AgentArgs),
    /// Pull, list and remove images in the local store
    Image(image::ImageArgs),
    /// Validate, plan, run, inspect and stop jobs
    Job(job::JobArgs),
    /// Show a job (ID or prefix; all jobs without one), or the allocation, evaluation,
    /// node or deployment an ID prefix names
    Status(job::StatusArgs),
    /// Inspect allocations: status, logs, exec, restart, signal, stop
    Alloc(alloc::AllocArgs),
    /// Stream a task's logs (like alloc logs)
    Logs(alloc::LogsArgs),
    /// List and inspect client nodes; eligibility and drain
    Node(node::NodeArgs),
    /// List, inspect, promote, fail, pause and resume deployments
    Deployment(deployment::DeploymentArgs),
    /// Inspect the scheduler's evaluations
    Eval(eval::EvalArgs),
    /// Show the agent's own statistics
    #[command(name = "agent-info")]
    AgentInfo(agent_info::AgentInfoArgs),
    /// Show the servers of the region
    #[command(subcommand)]
    Server(ServerCommand),
    /// Print drover's version
    Version,
    /// Print a shell completion script (bash, zsh, fish)
    Completions(completions::CompletionsArgs),
    /// Run one task in the foreground (for debugging and benchmarks)
    #[command(subcommand)]
    Container(ContainerCommand),
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// List the servers and their status
    Members(agent_info::MembersArgs),
}

/// The shortcuts `args::normalise` expands, listed after the commands in `--help`.
const ALIASES: &str = "\
Aliases (as in Nomad):
  run, plan, stop, inspect, validate  drover job <command> ...
  status                              drover job status ... (\"status job redis\" works too)";

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Run IMAGE [CMD...] in namespaces under a cgroup; exits with the task's code
    Run(container::RunArgs),
}

/// Root is needed to unpack images (ownership, device nodes) and, later, to run tasks in
/// namespaces and cgroups; say so instead of failing on the first EPERM.
pub fn require_root(what: &str) -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        anyhow::bail!(
            "{what} must run as root: drover unpacks image layers with their owners and device \
             nodes, and runs tasks in namespaces and cgroups (try: sudo drover …)"
        );
    }
    Ok(())
}
