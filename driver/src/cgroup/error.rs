//! The one error type of the cgroup module: every variant names the file, directory or
//! value that failed.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while managing or reading a cgroup.
///
/// Messages are lower-case without a trailing period and always name the path (and the
/// value written, when there was one), so a log line says which file to look at.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Reading a cgroup file failed.
    #[error("read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing a value to a cgroup file failed (the kernel rejects bad values with
    /// `EINVAL`, values it cannot satisfy right now with `EBUSY`).
    #[error("write {value:?} to {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Opening a cgroup file or directory failed.
    #[error("open {}: {source}", path.display())]
    Open {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Creating a cgroup directory failed.
    #[error("create cgroup directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Removing a cgroup directory failed, after retries when it was busy.
    #[error("remove cgroup directory {}: {source}", path.display())]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `statfs` of the cgroup root failed.
    #[error("statfs {}: {source}", path.display())]
    Statfs {
        /// The path given to statfs.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The cgroup root is neither a cgroup2 mount nor a tmpfs of v1 mounts.
    #[error("{} is not a cgroup mount (filesystem magic {magic:#x})", path.display())]
    NotCgroupFs {
        /// The root that was examined.
        path: PathBuf,
        /// The filesystem magic statfs reported.
        magic: u64,
    },
    /// A line of a cgroup file did not have the expected shape.
    #[error("parse {}: unexpected line {line:?}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending line (or the whole content of a single-value file).
        line: String,
    },
    /// A key that must be in a keyed file is not there.
    #[error("{}: missing key {key:?}", path.display())]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A controller needed for the requested operation is not mounted (v1) or not
    /// enabled for this cgroup (v2).
    #[error("cgroup controller {name} is not available in {}", path.display())]
    MissingController {
        /// The controller, e.g. `memory` or `freezer`.
        name: &'static str,
        /// The cgroup (or v1 mount root) where it was looked for.
        path: PathBuf,
    },
    /// A task id or parent name cannot be used as a cgroup directory name.
    #[error("invalid cgroup name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The requested resources are inconsistent (e.g. a reservation above the hard limit).
    #[error("invalid cgroup resources: {reason}")]
    InvalidResources {
        /// What is wrong.
        reason: String,
    },
    /// Sending a signal to a process of the cgroup failed (other than `ESRCH`).
    #[error("send signal {signal} to pid {pid} of {}: {source}", path.display())]
    Signal {
        /// The cgroup.
        path: PathBuf,
        /// The process.
        pid: u32,
        /// The raw signal number.
        signal: i32,
        /// The underlying error.
        source: io::Error,
    },
    /// Processes were still in the cgroup after they were killed and the deadline passed.
    #[error("{} still has processes {pids:?} after {timeout:?}", path.display())]
    StillPopulated {
        /// The cgroup.
        path: PathBuf,
        /// The processes left.
        pids: Vec<u32>,
        /// How long we waited.
        timeout: Duration,
    },
    /// The freezer did not reach the requested state in time.
    #[error("{} did not reach freezer state {wanted} within {timeout:?} (last: {last:?})", path.display())]
    FreezeTimeout {
        /// The freezer state file.
        path: PathBuf,
        /// `FROZEN`/`THAWED` (v1) or `frozen 1`/`frozen 0` (v2).
        wanted: &'static str,
        /// The last state read.
        last: String,
        /// How long we waited.
        timeout: Duration,
    },
}

/// Result alias of the cgroup module.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
