//! The driver API the client uses: fingerprint, start → handle, wait, signal, stop,
//! stats, recover, destroy. Each task runs under its own shim (`shim.rs`); the handle
//! serialises, so an agent that restarts finds its tasks again by pid + start time.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::logs::LogConfig;
use super::shim::{self, ShimSpec, TaskExit, EXIT_FILE, SPEC_FILE};
use super::spec::TaskSpec;
use crate::cgroup::{
    Cgroup, CgroupConfig, CgroupError, CgroupManager, Cgroups, Resources, Signal, Stats,
};

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("task {task}: {op} {}: {source}", path.display())]
    Io {
        task: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("task {task}: {source}")]
    Cgroup {
        task: String,
        #[source]
        source: CgroupError,
    },
    /// The task could not be started; `message` says why (from inside its namespaces).
    #[error("task {task}: {message}")]
    Start {
        task: String,
        message: String,
        not_found: bool,
    },
    /// The shim died without recording how the task ended.
    #[error("task {task}: its shim exited without recording the task's exit (see {})", log.display())]
    Lost { task: String, log: PathBuf },
}

/// How the driver finds its shim and places cgroups.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The `drover` binary (it runs `drover shim`).
    pub shim_exe: PathBuf,
    /// Parent of task cgroups; default `drover`.
    pub cgroup_parent: PathBuf,
}

/// What the driver reports about this host (Nomad's driver fingerprint attributes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub healthy: bool,
    pub description: String,
    pub cgroup_version: String,
    pub kernel: String,
    pub overlayfs: bool,
}

/// Everything needed to find a running task again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskHandle {
    pub task_id: String,
    pub state_dir: PathBuf,
    pub shim_pid: i32,
    pub shim_start: u64,
    pub pid: i32,
    pub pid_start: u64,
}

/// A start request: the task, its limits, where its logs and state go.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub spec: TaskSpec,
    pub resources: Resources,
    pub logs: LogConfig,
    /// Private to the driver: spec, shim log, exit record.
    pub state_dir: PathBuf,
}

/// What `recover` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    Running,
    /// It ended while nobody watched; this is how.
    Exited(TaskExit),
}

pub struct Driver {
    config: DriverConfig,
    cgroups: Cgroups,
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes no pointers; a new fd is ours on success.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A pidfd for `pid` only if it is still the process that started at `start`.
fn pidfd_of(pid: i32, start: u64) -> Option<OwnedFd> {
    let fd = pidfd_open(pid).ok()?;
    // Checked after opening: the fd now pins the process, so a match cannot go stale.
    (shim::start_time(pid) == Some(start)).then_some(fd)
}

impl Driver {
    pub fn new(config: DriverConfig) -> Result<Self, CgroupError> {
        let cgroups = Cgroups::detect(&CgroupConfig {
            parent: config.cgroup_parent.clone(),
            ..Default::default()
        })?;
        Ok(Driver { config, cgroups })
    }

    /// Healthy when running as root with cgroups and overlayfs: what the container driver
    /// needs. Nomad re-fingerprints periodically; this is cheap.
    pub fn fingerprint(&self) -> Fingerprint {
        let root = rustix::process::geteuid().is_root();
        let overlayfs =
            std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.contains("\toverlay\n"));
        let kernel = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        let healthy = root && overlayfs;
        let description = match (root, overlayfs) {
            (true, true) => "Healthy".to_string(),
            (false, _) => "drover must run as root to isolate tasks".to_string(),
            (true, false) => "the kernel lacks overlayfs".to_string(),
        };
        Fingerprint {
            healthy,
            description,
            cgroup_version: format!("{:?}", self.cgroups.version()).to_lowercase(),
            kernel,
            overlayfs,
        }
    }

    /// v1 or v2: what the task stats mean depends on it.
    pub fn cgroup_version(&self) -> crate::cgroup::CgroupVersion {
        self.cgroups.version()
    }

    fn cgroup(&self, task: &str) -> Result<Cgroup, DriverError> {
        self.cgroups
            .task(task)
            .map_err(|source| DriverError::Cgroup {
                task: task.to_string(),
                source,
            })
    }

    /// Creates the task's cgroup, starts its shim and waits for the task to be running
    /// (or for the reason it could not start). Blocking; call from a blocking thread.
    pub fn start(&self, req: StartRequest) -> Result<TaskHandle, DriverError> {
        let task = req.spec.id.clone();
        let io = |op: &'static str, path: PathBuf| {
            let task = task.clone();
            move |source| DriverError::Io {
                task,
                op,
                path,
                source,
            }
        };
        std::fs::create_dir_all(&req.state_dir).map_err(io("creating", req.state_dir.clone()))?;
        if let super::spec::Rootfs::Overlay {
            upper,
            work,
            target,
            ..
        } = &req.spec.rootfs
        {
            for dir in [upper, work, target] {
                std::fs::create_dir_all(dir).map_err(io("creating", dir.clone()))?;
            }
        }
        let _ = std::fs::remove_file(req.state_dir.join(EXIT_FILE));
        let spec = ShimSpec {
            task: req.spec.clone(),
            cgroup_parent: self.config.cgroup_parent.clone(),
            logs: req.logs.clone(),
        };
        let spec_path = req.state_dir.join(SPEC_FILE);
        let json = serde_json::to_vec_pretty(&spec).expect("shim spec serialises");
        shim::write_durable(&spec_path, &json).map_err(io("writing", spec_path))?;

        let mut cgroup = self.cgroup(&task)?;
        cgroup
            .create(&req.resources)
            .map_err(|source| DriverError::Cgroup {
                task: task.clone(),
                source,
            })?;
        let log_path = req.state_dir.join("shim.log");
        let started = (|| {
            let log = std::fs::File::create(&log_path).map_err(io("creating", log_path.clone()))?;
            let mut command = Command::new(&self.config.shim_exe);
            command
                .arg("shim")
                .arg(&req.state_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log);
            // SAFETY: setsid is async-signal-safe. Its own session: signals for the
            // agent's process group (Ctrl-C, a service manager's stop) never reach it.
            unsafe {
                command.pre_exec(|| {
                    rustix::process::setsid()?;
                    Ok(())
                });
            }
            let mut child = command
                .spawn()
                .map_err(io("starting the shim", self.config.shim_exe.clone()))?;
            let shim_pid = child.id() as i32;
            let shim_start = shim::start_time(shim_pid).unwrap_or(0);
            let mut line = String::new();
            let stdout = child.stdout.take().expect("piped stdout");
            let _ = BufReader::new(stdout).read_line(&mut line);
            let mut words = line.trim_end().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("started"), Some(pid), Some(start)) => Ok(TaskHandle {
                    task_id: task.clone(),
                    state_dir: req.state_dir.clone(),
                    shim_pid,
                    shim_start,
                    pid: pid.parse().unwrap_or(0),
                    pid_start: start.parse().unwrap_or(0),
                }),
                (Some("error"), kind, message) => {
                    let _ = child.wait();
                    Err(DriverError::Start {
                        task: task.clone(),
                        message: message.unwrap_or("").to_string(),
                        not_found: kind == Some("notfound"),
                    })
                }
                _ => {
                    let _ = child.wait();
                    Err(DriverError::Lost {
                        task: task.clone(),
                        log: log_path.clone(),
                    })
                }
            }
        })();
        if started.is_err() {
            let _ = cgroup.destroy();
        }
        started
    }

    /// Waits until the task exits and returns how. Works for shims this process started
    /// and for recovered ones.
    pub async fn wait(&self, handle: &TaskHandle) -> Result<TaskExit, DriverError> {
        if let Some(fd) = pidfd_of(handle.shim_pid, handle.shim_start) {
            // SAFETY: the AsyncFd owns the OwnedFd, which stays open until it is dropped.
            let afd = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
            }
            .map_err(|e| DriverError::Io {
                task: handle.task_id.clone(),
                op: "watching the shim",
                path: handle.state_dir.clone(),
                source: e.into(),
            })?;
            let _ = afd.readable().await;
            // Reap it if it is our child; a recovered shim belongs to init.
            // SAFETY: non-blocking wait on a specific pid.
            unsafe { libc::waitpid(handle.shim_pid, std::ptr::null_mut(), libc::WNOHANG) };
        }
        self.read_exit(handle)
    }

    fn read_exit(&self, handle: &TaskHandle) -> Result<TaskExit, DriverError> {
        let path = handle.state_dir.join(EXIT_FILE);
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| DriverError::Lost {
                task: handle.task_id.clone(),
                log: handle.state_dir.join("shim.log"),
            })
    }

    /// Sends `signal` to the task's main process (never to a recycled pid).
    pub fn signal(&self, handle: &TaskHandle, signal: i32) -> Result<(), DriverError> {
        let Some(fd) = pidfd_of(handle.pid, handle.pid_start) else {
            return Ok(()); // already gone
        };
        // SAFETY: pidfd_send_signal with a valid pidfd and no siginfo.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r != 0 {
            let source = std::io::Error::last_os_error();
            if source.raw_os_error() != Some(libc::ESRCH) {
                return Err(DriverError::Io {
                    task: handle.task_id.clone(),
                    op: "signalling",
                    path: handle.state_dir.clone(),
                    source,
                });
            }
        }
        Ok(())
    }

    /// Nomad's stop: `kill_signal`, then after `kill_timeout` SIGKILL to everything in
    /// the task's cgroup.
    pub async fn stop(
        &self,
        handle: &TaskHandle,
        signal: i32,
        timeout: Duration,
    ) -> Result<TaskExit, DriverError> {
        self.signal(handle, signal)?;
        match tokio::time::timeout(timeout, self.wait(handle)).await {
            Ok(exit) => exit,
            Err(_) => {
                let cgroup = self.cgroup(&handle.task_id)?;
                cgroup
                    .kill_all(Signal::KILL)
                    .map_err(|source| DriverError::Cgroup {
                        task: handle.task_id.clone(),
                        source,
                    })?;
                self.wait(handle).await
            }
        }
    }

    /// A command that runs `argv` inside the running task (its namespaces, cgroup, user
    /// and confinement), with or without a TTY; the caller picks its stdio and spawns it.
    /// Its exit code is the command's.
    pub fn exec_command(&self, handle: &TaskHandle, argv: &[String], tty: bool) -> Command {
        super::exec::command(&self.config.shim_exe, handle, argv, tty)
    }

    /// Memory, CPU and pids usage from the task's cgroup files.
    pub fn stats(&self, handle: &TaskHandle) -> Result<Stats, DriverError> {
        self.cgroup(&handle.task_id)?
            .stats()
            .map_err(|source| DriverError::Cgroup {
                task: handle.task_id.clone(),
                source,
            })
    }

    /// After an agent restart: is the task still running under its shim, or did it end
    /// meanwhile (and how)? A shim that vanished without a record means the task is lost:
    /// whatever is left of it is killed.
    pub fn recover(&self, handle: &TaskHandle) -> Result<Recovered, DriverError> {
        if shim::is_running(handle.shim_pid, handle.shim_start) {
            return Ok(Recovered::Running);
        }
        match self.read_exit(handle) {
            Ok(exit) => Ok(Recovered::Exited(exit)),
            Err(lost) => {
                let _ = self.cgroup(&handle.task_id)?.kill_all(Signal::KILL);
                Err(lost)
            }
        }
    }

    /// Removes the parent of task cgroups if no task is left in it (agent shutdown).
    pub fn cleanup(&self) -> Result<(), CgroupError> {
        self.cgroups.remove_parent()
    }

    /// Kills whatever is left and removes the task's cgroup and state (not its logs).
    /// Blocking: it waits (up to 10 s) for the shim to record the exit and leave.
    /// Call [`cleanup`](Self::cleanup) when the last task is gone.
    pub fn destroy(&self, handle: &TaskHandle) -> Result<(), DriverError> {
        self.cgroup(&handle.task_id)?
            .destroy()
            .map_err(|source| DriverError::Cgroup {
                task: handle.task_id.clone(),
                source,
            })?;
        if let Some(fd) = pidfd_of(handle.shim_pid, handle.shim_start) {
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; then a non-blocking reap of our own child, if it is.
            unsafe {
                libc::poll(&mut pfd, 1, 10_000);
                libc::waitpid(handle.shim_pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
        match std::fs::remove_dir_all(&handle.state_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DriverError::Io {
                task: handle.task_id.clone(),
                op: "removing",
                path: handle.state_dir.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}
