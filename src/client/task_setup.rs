//! A task's prestart, as Nomad's task runner hooks do it: the task directory, the
//! environment, the interpolated driver config, the image (container/docker), and from
//! them the driver's start request.

use std::path::Path;
use std::sync::Arc;

use drover_driver::cgroup::Resources;
use drover_driver::image::{Credentials, ImageRef, NoProgress};
use drover_driver::runtime::drivers::{
    container_spec, exec_spec, raw_exec_spec, ContainerTask, DriverKind, ExecTask, RawExecTask,
};
use drover_driver::runtime::{BindMount, DriverError, LogConfig, Rootfs, StartRequest, TaskSpec};

use super::alloc_runner::AllocShared;
use super::task_config::{self, TaskDriverConfig};
use super::taskenv::{EnvDirs, TaskEnv, TaskEnvInput};
use super::ClientCtx;
use crate::structs::{Task, TaskEvent};

/// Most processes a task may have unless the job says otherwise: a fork bomb stops here.
const DEFAULT_PIDS_MAX: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The task's own definition is wrong; restarting cannot help.
    #[error("{0}")]
    Validation(String),
    /// Building the task directory or its files failed.
    #[error("{0}")]
    Setup(String),
    /// The driver could not start the task (image pull, exec failure …).
    #[error("{message}")]
    Driver { message: String, recoverable: bool },
}

impl SetupError {
    pub fn recoverable(&self) -> bool {
        match self {
            SetupError::Validation(_) => false,
            SetupError::Setup(_) => true,
            SetupError::Driver { recoverable, .. } => *recoverable,
        }
    }

    pub fn event(&self) -> TaskEvent {
        match self {
            SetupError::Validation(m) => super::events::failed_validation(m),
            SetupError::Setup(m) => super::events::setup_failure(m),
            SetupError::Driver { message, .. } => super::events::driver_failure(message),
        }
    }

    pub fn from_driver(e: DriverError) -> Self {
        // A command that does not exist will not appear by restarting.
        let recoverable = !matches!(
            e,
            DriverError::Start {
                not_found: true,
                ..
            }
        );
        SetupError::Driver {
            message: e.to_string(),
            recoverable,
        }
    }
}

/// Everything up to the driver's start: returns the request to start with.
pub async fn prepare(
    ctx: &Arc<ClientCtx>,
    alloc: &Arc<AllocShared>,
    task: &Task,
    driver_message: impl Fn(&str),
) -> Result<StartRequest, SetupError> {
    let allocation = alloc.alloc();
    let task_id = format!("{}.{}", allocation.id, task.name);
    let kind = DriverKind::parse(&task.driver).ok_or_else(|| {
        SetupError::Validation(format!("driver \"{}\" is not supported", task.driver))
    })?;
    alloc
        .dir
        .build_task(&task.name)
        .map_err(|e| SetupError::Setup(format!("building the task directory: {e}")))?;
    let env = task_env(ctx, alloc, task, kind);
    let config = env.interpolate_json(&serde_json::Value::Object(task.config.clone()));
    let config = match config {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("an object interpolates to an object"),
    };
    let parsed = task_config::parse_task(task, &config)
        .map_err(|e| SetupError::Validation(e.to_string()))?;
    let dirs = alloc.dir.task_dirs(&task.name);
    let state_dir = alloc.dir.task_state(&task.name);
    let netns = alloc.netns();
    let mut env_vec = env.to_vec();

    let spec: TaskSpec = match (kind, parsed) {
        (DriverKind::Container, TaskDriverConfig::Container(c)) => {
            let reference = ImageRef::parse(&c.image).map_err(|e| SetupError::Driver {
                message: format!("image {:?}: {e}", c.image),
                recoverable: false,
            })?;
            let record = match ctx.images.store().resolve(&reference) {
                Ok(Some(r))
                    if !c.force_pull
                        && r.layers
                            .iter()
                            .all(|l| ctx.images.store().has_layer(&l.diff_id)) =>
                {
                    r
                }
                _ => {
                    driver_message("Downloading image");
                    let creds = c.auth.as_ref().map(|a| Credentials {
                        username: a.username.clone(),
                        password: a.password.clone(),
                    });
                    ctx.images
                        .pull(&reference, creds.as_ref(), Arc::new(NoProgress))
                        .await
                        .map_err(|e| SetupError::Driver {
                            message: format!("Failed to pull `{}`: {e}", c.image),
                            recoverable: true,
                        })?
                        .record
                }
            };
            ctx.images
                .store()
                .lease(&task_id, &record.manifest_digest)
                .map_err(|e| SetupError::Setup(e.to_string()))?;
            let rootfs = Rootfs::Overlay {
                layers: record
                    .layers
                    .iter()
                    .map(|l| ctx.images.store().layer_fs(&l.diff_id))
                    .collect(),
                upper: state_dir.join("upper"),
                work: state_dir.join("work"),
                target: state_dir.join("rootfs"),
            };
            let hostname: String = allocation.id.chars().take(12).collect();
            let mounts = container_mounts(&state_dir, &hostname, alloc.alloc_ip().as_deref())
                .map_err(|e| SetupError::Setup(format!("writing /etc/hosts: {e}")))?;
            env_vec.retain(|e| !e.starts_with("PATH="));
            let t = ContainerTask {
                id: task_id.clone(),
                command: c.command.clone(),
                args: c.args.clone(),
                entrypoint: c.entrypoint.clone(),
                work_dir: c.work_dir.clone(),
                user: c.user.clone(),
                env: env_vec,
                volumes: c.volumes.clone(),
                hostname: Some(c.hostname.clone().unwrap_or(hostname)),
                cap_add: c.cap_add.clone(),
                cap_drop: c.cap_drop.clone(),
                privileged: c.privileged,
                netns,
                task_dir: alloc.dir.task(&task.name),
                mounts: [dirs.mounts(), vec![logs_readonly(&dirs)], mounts].concat(),
            };
            container_spec(&t, &record.config.config, rootfs)
                .map_err(|e| SetupError::Validation(format!("task \"{}\": {e}", task.name)))?
        }
        (DriverKind::Exec, TaskDriverConfig::Exec(c)) => {
            let root = state_dir.join("root");
            std::fs::create_dir_all(&root)
                .map_err(|e| SetupError::Setup(format!("creating {}: {e}", root.display())))?;
            let mut spec = exec_spec(&ExecTask {
                id: task_id.clone(),
                command: c.command.clone(),
                args: c.args.clone(),
                env: env_vec,
                user: (!task.user.is_empty()).then(|| task.user.clone()),
                work_dir: c.work_dir.clone(),
                cap_add: c.cap_add.clone(),
                cap_drop: c.cap_drop.clone(),
                chroot_env: None,
                root,
                image_rootfs: None,
                dirs: dirs.clone(),
            })
            .map_err(|e| SetupError::Validation(format!("task \"{}\": {e}", task.name)))?;
            spec.netns = netns;
            spec.mounts.push(logs_readonly(&dirs));
            spec
        }
        (DriverKind::RawExec, TaskDriverConfig::RawExec(c)) => {
            if !ctx.raw_exec_enabled() {
                return Err(SetupError::Validation(
                    "raw_exec is disabled on this node (client option driver.raw_exec.enable)"
                        .into(),
                ));
            }
            raw_exec_spec(&RawExecTask {
                id: task_id.clone(),
                command: c.command.clone(),
                args: c.args.clone(),
                env: env_vec,
                user: (!task.user.is_empty()).then(|| task.user.clone()),
                work_dir: c
                    .work_dir
                    .as_ref()
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(|| alloc.dir.task(&task.name)),
            })
        }
        (_, _) => {
            return Err(SetupError::Validation(format!(
                "task \"{}\": config does not match driver \"{}\"",
                task.name, task.driver
            )))
        }
    };
    Ok(StartRequest {
        spec,
        resources: resources(&allocation, task)?,
        logs: log_config(alloc.dir.logs(), task),
        state_dir: state_dir.join("shim"),
    })
}

/// `/alloc/logs` read-only over the task's `/alloc`: the shim writes there as root,
/// so the task must not be able to swap its log files for symlinks.
fn logs_readonly(dirs: &drover_driver::runtime::drivers::TaskDirs) -> BindMount {
    BindMount {
        source: dirs.alloc.join("logs"),
        target: "/alloc/logs".into(),
        readonly: true,
        noexec: true,
    }
}

/// `/etc/hosts` naming the task, and the host's resolver config, read-only.
fn container_mounts(
    state_dir: &Path,
    hostname: &str,
    ip: Option<&str>,
) -> std::io::Result<Vec<BindMount>> {
    let hosts = state_dir.join("hosts");
    let own = ip.unwrap_or("127.0.1.1");
    std::fs::write(
        &hosts,
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}\t{hostname}\n"
        ),
    )?;
    let mut mounts = vec![BindMount {
        source: hosts,
        target: "/etc/hosts".into(),
        readonly: true,
        noexec: false,
    }];
    if Path::new("/etc/resolv.conf").exists() {
        mounts.push(BindMount {
            source: "/etc/resolv.conf".into(),
            target: "/etc/resolv.conf".into(),
            readonly: true,
            noexec: false,
        });
    }
    Ok(mounts)
}

/// The limits the scheduler allocated to the task.
fn resources(alloc: &crate::structs::Allocation, task: &Task) -> Result<Resources, SetupError> {
    let allocated = alloc
        .allocated_resources
        .as_ref()
        .and_then(|r| r.tasks.get(&task.name));
    let (cpu, memory, memory_max) = match allocated {
        Some(r) => (
            r.cpu.cpu_shares.max(0) as u64,
            r.memory.memory_mb.max(0) as u64,
            r.memory.memory_max_mb,
        ),
        None => {
            let r = task.resources.clone().unwrap_or_default();
            (
                r.cpu.unwrap_or(100).max(0) as u64,
                r.memory_mb.unwrap_or(300).max(0) as u64,
                r.memory_max_mb,
            )
        }
    };
    let mut res = Resources::from_nomad(cpu, None, memory, memory_max)
        .map_err(|e| SetupError::Validation(format!("task \"{}\": {e}", task.name)))?;
    res.pids_max = Some(DEFAULT_PIDS_MAX);
    Ok(res)
}

/// Nomad's `logs` block: 10 files of 10 MB unless the task says otherwise.
fn log_config(dir: std::path::PathBuf, task: &Task) -> LogConfig {
    let mut logs = LogConfig::new(dir, task.name.clone());
    if let Some(c) = &task.log_config {
        if let Some(n) = c.max_files.filter(|n| *n > 0) {
            logs.max_files = n as u32;
        }
        if let Some(mb) = c.max_file_size_mb.filter(|n| *n > 0) {
            logs.max_file_size = (mb as u64) << 20;
        }
    }
    logs
}

/// The task's environment: Nomad's runtime variables, the port variables of the
/// allocation's network, and the task's `env` block (interpolated).
fn task_env(ctx: &ClientCtx, alloc: &AllocShared, task: &Task, kind: DriverKind) -> TaskEnv {
    let allocation = alloc.alloc();
    let node = ctx.node();
    let dirs = alloc.dir.task_dirs(&task.name);
    let mut input = TaskEnvInput::new(&allocation, task, &node, EnvDirs::for_driver(kind, &dirs));
    input.region = &ctx.region;
    input.extra = alloc.port_env();
    TaskEnv::build(&input)
}
