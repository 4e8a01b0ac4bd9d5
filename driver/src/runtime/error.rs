//! Runtime errors: each names the task and what failed, with the path where there is one.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("task {task}: {op} {}: {source}", path.display())]
    Io {
        task: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The task's init failed before exec; the message comes from inside the new
    /// namespaces ("mount target /proc is a symlink", "exec \"redis\": not found" …).
    #[error("task {task}: {message}")]
    Start { task: String, message: String },
    /// Everything was set up but the command could not be executed (not found, not
    /// executable): shells exit 127 or 126 for this.
    #[error("task {task}: {message}")]
    Exec {
        task: String,
        message: String,
        not_found: bool,
    },
    #[error("task {task}: {source}")]
    Cgroup {
        task: String,
        #[source]
        source: crate::cgroup::CgroupError,
    },
    #[error("task {task}: invalid spec: {reason}")]
    Spec { task: String, reason: String },
}
