//! Running tasks: namespaces, rootfs, security, the shim.
//!
//! `launch` clones a task's init into new namespaces and its cgroup; `init` (in the
//! child) builds the rootfs (`rootfs`, with `inroot` for every path the image controls),
//! resolves the user from the image (`user`), confines the process (`confine`, using
//! `security`) and execs.

mod confine;
pub mod driver;
pub mod drivers;
pub mod error;
pub mod exec;
mod init;
pub mod inroot;
pub mod launch;
pub mod logs;
mod rootfs;
pub mod security;
pub mod shim;
pub mod spec;
pub mod supervise;
pub mod user;

pub use driver::{
    Driver, DriverConfig, DriverError, Fingerprint, Recovered, StartRequest, TaskHandle,
};
pub use error::RuntimeError;
pub use launch::{launch, wait, ExitStatus, Launched};
pub use logs::LogConfig;
pub use shim::TaskExit;
pub use spec::{BindMount, Process, Rootfs, Security, TaskSpec};
