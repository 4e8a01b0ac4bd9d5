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
    pub fn mounts(&self) -> Vec<BindMount> {
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
    /// With the job's `image`: that image's rootfs instead of `root` + `chroot_env`.
    pub image_rootfs: Option<Rootfs>,
    pub dirs: TaskDirs,
}

/// Nomad's exec driver semantics: the task dir as `/` with `chroot_env` bound read-only,
/// private PID and IPC namespaces (no UTS: the host's name), Nomad's capability set
/// (Docker's minus NET_RAW, `cap_add` only within it) in the ambient set for non-root.
pub fn exec_spec(t: &ExecTask) -> Result<TaskSpec, CapError> {
    let default = caps::nomad_exec_default();
    let caps = caps::resolve(default, default, &t.cap_add, &t.cap_drop)?;
    let chroot_env = match (&t.image_rootfs, &t.chroot_env) {
        (Some(_), _) => Vec::new(),
        (None, Some(list)) => list.clone(),
        (None, None) => CHROOT_ENV
            .iter()
            .map(|(h, c)| (h.to_string(), c.to_string()))
            .collect(),
    };
    let mut mounts: Vec<BindMount> = chroot_env
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
        rootfs: t
            .image_rootfs
            .clone()
            .unwrap_or_else(|| Rootfs::Directory(t.root.clone())),
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
            image_rootfs: None,
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
        let image = Rootfs::Overlay {
            layers: vec!["/l/fs".into()],
            upper: "/u".into(),
            work: "/w".into(),
            target: "/t".into(),
        };
        let with_image = exec_spec(&ExecTask {
            image_rootfs: Some(image),
            ..t.clone()
        })
        .unwrap();
        assert!(matches!(with_image.rootfs, Rootfs::Overlay { .. }));
        assert!(
            !with_image.mounts.iter().any(|m| m.target == "/usr"),
            "no chroot_env with an image"
        );
        t.cap_add = vec!["sys_admin".into()];
        let err = exec_spec(&t).unwrap_err().to_string();
        assert!(
            err.contains("driver does not allow the following capabilities: sys_admin"),
            "{err}"
        );
    }
}

/// A `container` (or `docker`) task's config, as Nomad's docker driver reads it.
#[derive(Debug, Clone, Default)]
pub struct ContainerTask {
    pub id: String,
    /// Replaces the image's Cmd (with `args` after it).
    pub command: Option<String>,
    /// After `command`, or alone in place of the image's Cmd.
    pub args: Vec<String>,
    /// Replaces the image's Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    pub work_dir: Option<String>,
    pub user: Option<String>,
    /// `KEY=value`; they override the image's.
    pub env: Vec<String>,
    /// Docker-style `host:container[:ro]`; a relative host path is relative to `task_dir`.
    pub volumes: Vec<String>,
    pub hostname: Option<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub netns: Option<PathBuf>,
    /// The task's directory on the host (volumes resolve against it).
    pub task_dir: PathBuf,
    /// Extra binds: alloc dirs, /etc/hosts, resolv.conf.
    pub mounts: Vec<BindMount>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContainerConfigError {
    #[error("privileged containers are not supported by drover's container driver")]
    Privileged,
    #[error("volume {0:?} is not host:container[:ro]")]
    Volume(String),
    #[error("image has no entrypoint or command; give one in the task config")]
    NoCommand,
    #[error(transparent)]
    Caps(#[from] CapError),
}

/// The container driver: an image's rootfs (`rootfs`, from the store), its config
/// overridden by the task's, Docker's capabilities (`cap_add` only within them),
/// no_new_privs and the default seccomp filter.
pub fn container_spec(
    t: &ContainerTask,
    image: &crate::image::manifest::ContainerConfig,
    rootfs: Rootfs,
) -> Result<TaskSpec, ContainerConfigError> {
    if t.privileged {
        return Err(ContainerConfigError::Privileged);
    }
    let mut argv = t
        .entrypoint
        .clone()
        .or_else(|| image.entrypoint.clone())
        .unwrap_or_default();
    match (&t.command, t.args.is_empty()) {
        (Some(c), _) => {
            argv.push(c.clone());
            argv.extend(t.args.iter().cloned());
        }
        (None, false) => argv.extend(t.args.iter().cloned()),
        // An explicit entrypoint drops the image's Cmd, as Docker does.
        (None, true) if t.entrypoint.is_none() => {
            argv.extend(image.cmd.clone().unwrap_or_default())
        }
        (None, true) => {}
    }
    if argv.is_empty() {
        return Err(ContainerConfigError::NoCommand);
    }
    let mut env = image.env.clone().unwrap_or_default();
    for e in &t.env {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    let hostname = t
        .hostname
        .clone()
        .unwrap_or_else(|| t.id.chars().take(12).collect());
    env.push(format!("HOSTNAME={hostname}"));
    let mut mounts = t.mounts.clone();
    for v in &t.volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (host, inside, readonly) = match parts.as_slice() {
            [h, c] => (*h, *c, false),
            [h, c, "ro"] => (*h, *c, true),
            [h, c, "rw"] => (*h, *c, false),
            _ => return Err(ContainerConfigError::Volume(v.clone())),
        };
        if host.is_empty() || !inside.starts_with('/') {
            return Err(ContainerConfigError::Volume(v.clone()));
        }
        let source = if host.starts_with('/') {
            PathBuf::from(host)
        } else {
            t.task_dir.join(host)
        };
        mounts.push(BindMount {
            source,
            target: inside.into(),
            readonly,
            noexec: false,
        });
    }
    // Nomad's docker driver: `allow_caps` defaults to Docker's set, and cap_add must
    // stay within it.
    let default = caps::docker_default();
    let caps = caps::resolve(default, default, &t.cap_add, &t.cap_drop)?;
    Ok(TaskSpec {
        id: t.id.clone(),
        rootfs,
        process: Process {
            args: argv,
            env,
            cwd: t
                .work_dir
                .clone()
                .or_else(|| image.working_dir.clone())
                .unwrap_or_else(|| "/".into()),
            user: t
                .user
                .clone()
                .or_else(|| image.user.clone())
                .unwrap_or_default(),
            nofile: None,
        },
        hostname: Some(hostname),
        mounts,
        netns: t.netns.clone(),
        pid_namespace: true,
        ipc_namespace: true,
        security: Security {
            capabilities: Some(caps_names(caps)),
            ..Security::container_default()
        },
    })
}

#[cfg(test)]
mod container_tests {
    use super::*;
    use crate::image::manifest::ContainerConfig;

    fn redis_image() -> ContainerConfig {
        ContainerConfig {
            entrypoint: Some(vec!["docker-entrypoint.sh".into()]),
            cmd: Some(vec!["redis-server".into()]),
            env: Some(vec!["PATH=/usr/bin".into(), "A=image".into()]),
            working_dir: Some("/data".into()),
            user: None,
            ..Default::default()
        }
    }

    fn spec(t: &ContainerTask) -> Result<TaskSpec, ContainerConfigError> {
        container_spec(t, &redis_image(), Rootfs::Host)
    }

    #[test]
    fn task_config_overrides_the_image_like_nomads_docker_driver() {
        let base = ContainerTask {
            id: "0123456789abcdef.redis".into(),
            task_dir: "/t".into(),
            ..Default::default()
        };
        let cases: Vec<(ContainerTask, Vec<&str>)> = vec![
            (base.clone(), vec!["docker-entrypoint.sh", "redis-server"]),
            (
                ContainerTask {
                    command: Some("redis-server".into()),
                    args: vec!["--port".into(), "7000".into()],
                    ..base.clone()
                },
                vec!["docker-entrypoint.sh", "redis-server", "--port", "7000"],
            ),
            (
                ContainerTask {
                    args: vec!["--appendonly".into()],
                    ..base.clone()
                },
                vec!["docker-entrypoint.sh", "--appendonly"],
            ),
            (
                ContainerTask {
                    entrypoint: Some(vec!["/bin/sh".into()]),
                    ..base.clone()
                },
                vec!["/bin/sh"],
            ),
        ];
        for (t, want) in cases {
            assert_eq!(spec(&t).unwrap().process.args, want, "{t:?}");
        }
        let s = spec(&ContainerTask {
            env: vec!["A=job".into()],
            work_dir: Some("/w".into()),
            volumes: vec!["data:/data".into(), "/etc/ssl:/ssl:ro".into()],
            cap_drop: vec!["net_raw".into()],
            ..base.clone()
        })
        .unwrap();
        assert!(
            s.process.env.contains(&"A=job".to_string())
                && !s.process.env.contains(&"A=image".to_string())
        );
        assert!(s.process.env.contains(&"HOSTNAME=0123456789ab".to_string()));
        assert_eq!(s.process.cwd, "/w");
        assert_eq!(s.mounts[0].source, PathBuf::from("/t/data"));
        assert!(s.mounts[1].readonly);
        let caps = s.security.capabilities.unwrap();
        assert_eq!(caps.len(), 13);
        assert!(!caps.iter().any(|c| c.contains("NET_RAW")));
        let err = spec(&ContainerTask {
            cap_add: vec!["sys_admin".into()],
            ..base.clone()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("driver does not allow the following capabilities: sys_admin"),
            "{err}"
        );
        assert!(matches!(
            spec(&ContainerTask {
                privileged: true,
                ..base.clone()
            }),
            Err(ContainerConfigError::Privileged)
        ));
        assert!(matches!(
            spec(&ContainerTask {
                volumes: vec!["nocolon".into()],
                ..base
            }),
            Err(ContainerConfigError::Volume(_))
        ));
    }
}
