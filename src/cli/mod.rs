//! The command line: one module per command group.

pub mod agent;
pub mod alloc;
pub mod args;
pub mod container;
pub mod format;
pub mod http;
pub mod image;
pub mod job;
pub mod plan_diff;
pub mod progress;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    version,
    about = "A workload orchestrator that speaks Nomad and runs OCI images without Docker"
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
    /// Show one job (ID or prefix) or list them all (like job status)
    Status(job::StatusArgs),
    /// Inspect allocations: status, logs, exec, restart, signal, stop
    Alloc(alloc::AllocArgs),
    /// Run one task in the foreground (for debugging and benchmarks)
    #[command(subcommand)]
    Container(ContainerCommand),
}

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
