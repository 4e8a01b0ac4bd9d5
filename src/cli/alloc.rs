//! `drover alloc …`: status, logs, exec, restart, signal, stop.

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct AllocArgs {
    #[command(subcommand)]
    pub command: AllocCommand,
}

#[derive(Debug, Subcommand)]
pub enum AllocCommand {
    /// Show an allocation's status, task events and resource usage
    Status,
}

/// Runs the command; the result is the process's exit code.
pub fn run(args: AllocArgs) -> Result<i32> {
    match args.command {
        AllocCommand::Status => anyhow::bail!("alloc status: not yet"),
    }
}
