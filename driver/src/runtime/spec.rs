//! What to run and how to isolate it: everything the launcher needs, serialisable so the
//! shim can read it from its state directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One task's process and isolation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Task id (Nomad: `<alloc id>.<task>`); names the cgroup.
    pub id: String,
    pub rootfs: Rootfs,
    pub process: Process,
    /// UTS namespace hostname; `None` keeps the host's name (and no UTS namespace).
    pub hostname: Option<String>,
    /// Bind mounts into the rootfs: alloc/task dirs, volumes, /etc/hosts, resolv.conf.
    pub mounts: Vec<BindMount>,
    /// Network namespace to join (a path under /var/run/netns or /proc/PID/ns/net);
    /// `None` shares the host's network.
    pub netns: Option<PathBuf>,
    /// Private PID namespace (the task is PID 1), as Nomad's `pid_mode = "private"`.
    pub pid_namespace: bool,
    /// Private IPC namespace, as Nomad's `ipc_mode = "private"`.
    pub ipc_namespace: bool,
    pub security: Security,
}

/// Where the task's `/` comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Rootfs {
    /// An image: overlay of its layer directories (bottom first), with the task's own
    /// upper and work directories, mounted at `target` inside the task's mount namespace.
    Overlay {
        layers: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        target: PathBuf,
    },
    /// A directory prepared by the caller (the exec driver's task dir with its
    /// read-only `chroot_env` binds among `mounts`).
    Directory(PathBuf),
    /// No filesystem isolation (raw_exec): the host's `/`, no pivot_root.
    Host,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Process {
    /// argv; `argv[0]` is looked up in the task's `PATH` when it has no `/`.
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// Working directory inside the rootfs.
    pub cwd: String,
    /// `uid`, `uid:gid`, `name` or `name:group`, resolved from the rootfs's own
    /// /etc/passwd and /etc/group (never the host's NSS: CVE-2019-14271). Empty = root.
    pub user: String,
    /// File descriptor limit (soft, hard); `None` inherits.
    pub nofile: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindMount {
    pub source: PathBuf,
    /// Path inside the rootfs.
    pub target: String,
    pub readonly: bool,
    /// Mount options like a tmpfs `secrets` dir: `noexec,nosuid,nodev`.
    pub noexec: bool,
}

/// Capabilities and syscall filtering.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Security {
    /// Capability names the task keeps (`CAP_CHOWN` …); `None` = all (privileged, for
    /// raw_exec which runs as the agent does).
    pub capabilities: Option<Vec<String>>,
    /// Also raise them into the ambient set for a non-root user, as Nomad's exec driver
    /// does; Docker (and the container driver) does not.
    #[serde(default)]
    pub ambient_for_non_root: bool,
    pub no_new_privileges: bool,
    /// Install the default seccomp filter.
    pub seccomp: bool,
    /// Mask and make read-only the kernel interfaces runc does (`/proc/kcore`,
    /// `/proc/sys` …); off only without filesystem isolation.
    pub harden_proc: bool,
}

/// Docker's and containerd's default capability set (runtime.md §2.2).
pub const DOCKER_DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

impl Security {
    /// What an image task gets by default: Docker's capabilities, no_new_privs, the
    /// default seccomp filter, masked and read-only kernel paths.
    pub fn container_default() -> Self {
        Security {
            capabilities: Some(
                DOCKER_DEFAULT_CAPABILITIES
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
            ),
            ambient_for_non_root: false,
            no_new_privileges: true,
            seccomp: true,
            harden_proc: true,
        }
    }
}
