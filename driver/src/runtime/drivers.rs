//! Nomad's task drivers as drover runs them, each a way of filling a [`TaskSpec`]:
//! `container` (and `docker`, so existing job files run unchanged) from an image;
//! `exec`, a host command isolated in a task directory whose `chroot_env` directories are
//! bind-mounted read-only (nothing is copied, so it starts in milliseconds); `raw_exec`,
//! no isolation but the cgroup, for accounting and kill.

use std::path::{Path, PathBuf};

use super::security::caps::{self, CapError, CapSet};
use super::spec::{BindMount, Process, Rootfs, Security, TaskSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    Container,
    Exec,
    RawExec,
}

impl DriverKind {
    /// A job's `driver = "…"`; `docker` runs on the native container driver.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "container" | "docker" => Some(DriverKind::Container),
            "exec" => Some(DriverKind::Exec),
            "raw_exec" => Some(DriverKind::RawExec),
            _ => None,
        }
    }
}

/// Nomad's default `chroot_env`: host path → path in the task's root.
pub const CHROOT_ENV: &[(&str, &str)] = &[
    ("/bin", "/bin"),
    ("/etc", "/etc"),
    ("/lib", "/lib"),
    ("/lib32", "/lib32"),
    ("/lib64", "/lib64"),
    ("/run/resolvconf", "/run/resolvconf"),
    ("/sbin", "/sbin"),
    ("/usr", "/usr"),
    ("/run/systemd/resolve", "/run/systemd/resolve"),
];

/// A task's directories on the host (Nomad's alloc dir layout).
#[derive(Debug, Clone)]
pub struct TaskDirs {
    /// `<alloc>/alloc`, shared by the allocation's tasks: `/alloc` inside.
    pub alloc: PathBuf,
    /// `<alloc>/<task>/local`: `/local` inside.
    pub local: PathBuf,
    /// `<alloc>/<task>/secrets`: `/secrets` inside, noexec.
    pub secrets: PathBuf,
}

impl TaskDirs {
    fn mounts(&self) -> Vec<BindMount> {
        let bind = |source: &Path, target: &str, noexec: bool| BindMount {
            source: source.to_path_buf(),
            target: target.into(),
            readonly: false,
            noexec,
        };
        vec![
            bind(&self.alloc, "/alloc", false),
            bind(&self.local, "/local", false),
            bind(&self.secrets, "/secrets", true),
        ]
    }
}

/// An `exec` task: `command`/`args` from the host, run as `user` (default `nobody`).
#[derive(Debug, Clone)]
pub struct ExecTask {
    pub id: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub work_dir: Option<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `None`: Nomad's default [`CHROOT_ENV`].
    pub chroot_env: Option<Vec<(String, String)>>,
    /// The empty directory that becomes the task's `/`.
    pub root: PathBuf,
    pub dirs: TaskDirs,
}

/// Nomad's exec driver semantics: the task dir as `/` with `chroot_env` bound read-only,
/// private PID and IPC namespaces (no UTS: the host's name), Nomad's capability set
/// (Docker's minus NET_RAW, `cap_add` only within it) in the ambient set for non-root.
pub fn exec_spec(t: &ExecTask) -> Result<TaskSpec, CapError> {
    let default = caps::nomad_exec_default();
    let caps = caps::resolve(default, default, &t.cap_add, &t.cap_drop)?;
    let mut mounts: Vec<BindMount> = match &t.chroot_env {
        Some(list) => list.clone(),
        None => CHROOT_ENV
            .iter()
            .map(|(h, c)| (h.to_string(), c.to_string()))
            .collect(),
    }
    .into_iter()
    .filter(|(host, _)| Path::new(host).exists())
    .map(|(host, inside)| BindMount {
        source: host.into(),
        target: inside,
        readonly: true,
        noexec: false,
    })
    .collect();
    mounts.extend(t.dirs.mounts());
    let mut args = vec![t.command.clone()];
    args.extend(t.args.iter().cloned());
    Ok(TaskSpec {
        id: t.id.clone(),
        rootfs: Rootfs::Directory(t.root.clone()),
        process: Process {
            args,
            env: t.env.clone(),
            cwd: t.work_dir.clone().unwrap_or_else(|| "/".into()),
            user: t.user.clone().unwrap_or_else(|| "nobody".into()),
            nofile: None,
        },
        hostname: None,
        mounts,
        netns: None,
        pid_namespace: true,
        ipc_namespace: true,
        security: Security {
            capabilities: Some(caps_names(caps)),
            ambient_for_non_root: true,
            no_new_privileges: true,
            seccomp: true,
            harden_proc: true,
        },
    })
}

/// A `raw_exec` task: the host's filesystem, namespaces and privileges; only the cgroup
/// (for limits, stats and a clean kill) is its own.
#[derive(Debug, Clone)]
pub struct RawExecTask {
    pub id: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub work_dir: PathBuf,
}

pub fn raw_exec_spec(t: &RawExecTask) -> TaskSpec {
    let mut args = vec![t.command.clone()];
    args.extend(t.args.iter().cloned());
    TaskSpec {
        id: t.id.clone(),
        rootfs: Rootfs::Host,
        process: Process {
            args,
            env: t.env.clone(),
            cwd: t.work_dir.display().to_string(),
            user: t.user.clone().unwrap_or_default(),
            nofile: None,
        },
        hostname: None,
        mounts: Vec::new(),
        netns: None,
        pid_namespace: false,
        ipc_namespace: false,
        security: Security {
            capabilities: None,
            ambient_for_non_root: false,
            no_new_privileges: false,
            seccomp: false,
            harden_proc: false,
        },
    }
}

fn caps_names(set: CapSet) -> Vec<String> {
    set.iter().map(|c| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_jobs_run_on_the_container_driver() {
        assert_eq!(DriverKind::parse("docker"), Some(DriverKind::Container));
        assert_eq!(DriverKind::parse("raw_exec"), Some(DriverKind::RawExec));
        assert_eq!(DriverKind::parse("java"), None);
    }

    #[test]
    fn exec_follows_nomads_capability_rules() {
        let dirs = TaskDirs {
            alloc: "/a".into(),
            local: "/l".into(),
            secrets: "/s".into(),
        };
        let mut t = ExecTask {
            id: "t".into(),
            command: "/bin/true".into(),
            args: vec![],
            env: vec![],
            user: None,
            work_dir: None,
            cap_add: vec![],
            cap_drop: vec!["chown".into()],
            chroot_env: None,
            root: "/r".into(),
            dirs,
        };
        let spec = exec_spec(&t).unwrap();
        let caps = spec.security.capabilities.clone().unwrap();
        assert_eq!(caps.len(), 12, "{caps:?}");
        assert!(!caps
            .iter()
            .any(|c| c.contains("NET_RAW") || c.contains("CHOWN")));
        assert_eq!(spec.process.user, "nobody");
        assert!(spec.mounts.iter().any(|m| m.target == "/usr" && m.readonly));
        assert!(spec
            .mounts
            .iter()
            .any(|m| m.target == "/secrets" && m.noexec));
        t.cap_add = vec!["sys_admin".into()];
        let err = exec_spec(&t).unwrap_err().to_string();
        assert!(
            err.contains("driver does not allow the following capabilities: sys_admin"),
            "{err}"
        );
    }
}
