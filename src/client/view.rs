//! What the HTTP API's `/v1/client/*` routes need from the local client: one narrow
//! trait, so the routes know nothing of runners and the client nothing of HTTP.

use std::path::PathBuf;

use crate::structs::{AllocResourceUsage, HostStats};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    /// Not an allocation of this node (404).
    #[error("Unknown allocation \"{0}\"")]
    UnknownAlloc(String),
    /// The allocation has no such task (400).
    #[error("unknown task name \"{0}\"")]
    UnknownTask(String),
    /// The task is not running, so it cannot be signalled, restarted or exec'ed into (400).
    #[error("Task not running")]
    TaskNotRunning(String),
    /// A request that cannot be carried out as asked (400).
    #[error("{0}")]
    BadRequest(String),
    /// Anything else (500).
    #[error("{0}")]
    Internal(String),
}

/// The local client as the API sees it. Blocking methods are cheap (file reads);
/// callers on async threads may call them directly.
pub trait ClientView: Send + Sync {
    /// This node's ID.
    fn node_id(&self) -> String;

    /// The allocation's directory on this node (it holds `alloc/logs`, `alloc/data`
    /// and one directory per task), if the allocation is (or was) run here.
    fn alloc_dir(&self, alloc_id: &str) -> Option<PathBuf>;

    /// Memory and CPU of the allocation's running tasks, read from their cgroups.
    fn alloc_stats(&self, alloc_id: &str) -> Result<AllocResourceUsage, ClientError>;

    /// The node's own usage (`/v1/client/stats`).
    fn host_stats(&self) -> HostStats;

    /// Restarts one task (`task`), or every running task (`None`); the restart does
    /// not count against the restart policy. Nomad's `Restart Signaled` event.
    fn restart_alloc(&self, alloc_id: &str, task: Option<&str>) -> Result<(), ClientError>;

    /// Sends `signal` (`SIGHUP`, `HUP` …; empty: `SIGKILL`) to one task or all of them.
    fn signal_alloc(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<(), ClientError>;

    /// A command that runs `argv` inside the running task (namespaces, cgroup, user,
    /// confinement), with or without a TTY; the caller sets its stdio and spawns it.
    fn exec_command(
        &self,
        alloc_id: &str,
        task: &str,
        argv: &[String],
        tty: bool,
    ) -> Result<std::process::Command, ClientError>;
}
