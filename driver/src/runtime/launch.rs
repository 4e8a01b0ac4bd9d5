//! Starting a task: prepare on the host side, `clone3` straight into the new namespaces
//! (and, on cgroup v2, straight into the task's cgroup), then wait for the child to
//! either exec (its report pipe closes empty) or say why it could not.
//!
//! Must be called from a single-threaded process (the shim, or `drover container run`):
//! the child runs Rust code between clone and exec.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::cgroup::{Cgroup, CgroupManager, CgroupVersion};

use super::confine;
use super::error::RuntimeError;
use super::init::{self, Join, Prepared};
use super::spec::{Rootfs, TaskSpec};

/// A started task.
#[derive(Debug)]
pub struct Launched {
    /// Host pid of the task's init.
    pub pid: i32,
    /// pidfd of the task (waitable, signal-safe against pid reuse).
    pub pidfd: OwnedFd,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Starts `spec` in `cgroup` (already created) with `stdio` as fds 0, 1, 2.
pub fn launch(
    spec: &TaskSpec,
    cgroup: &Cgroup,
    stdio: [RawFd; 3],
) -> Result<Launched, RuntimeError> {
    let task = spec.id.clone();
    let start_err = |message: String| RuntimeError::Start {
        task: task.clone(),
        message,
    };
    if spec.process.args.is_empty() {
        return Err(start_err("no command to run".into()));
    }
    let v2 = cgroup.version() == CgroupVersion::V2;
    let cgroup_fd = if v2 {
        cgroup.cgroup_fd().map_err(|source| RuntimeError::Cgroup {
            task: task.clone(),
            source,
        })?
    } else {
        None
    };
    let attach = if v2 {
        None
    } else {
        Some(
            cgroup
                .prepare_attach()
                .map_err(|source| RuntimeError::Cgroup {
                    task: task.clone(),
                    source,
                })?,
        )
    };
    let netns = match &spec.netns {
        Some(path) => Some(OwnedFd::from(File::open(path).map_err(|source| {
            RuntimeError::Io {
                task: task.clone(),
                op: "opening network namespace",
                path: path.clone(),
                source,
            }
        })?)),
        None => None,
    };
    let go = match &attach {
        Some(_) => Some(
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| start_err(format!("pipe: {e}")))?,
        ),
        None => None,
    };
    let (joined, go_writer) = match go {
        Some((r, w)) => (
            Some(Join {
                go: r,
                parent_end: w.as_raw_fd(),
            }),
            Some(w),
        ),
        None => (None, None),
    };
    let prepared = Prepared {
        netns,
        stdio,
        joined,
        cgroup2: v2,
        confine: confine::prepare(&spec.security).map_err(&start_err)?,
    };

    let mut flags = libc::CLONE_PIDFD as u64;
    if !matches!(spec.rootfs, Rootfs::Host) {
        flags |= libc::CLONE_NEWNS as u64;
    }
    if spec.pid_namespace {
        flags |= libc::CLONE_NEWPID as u64;
    }
    if spec.ipc_namespace {
        flags |= libc::CLONE_NEWIPC as u64;
    }
    if spec.hostname.is_some() {
        flags |= libc::CLONE_NEWUTS as u64;
    }
    let (report_r, report_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| start_err(format!("pipe: {e}")))?;
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = &cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without a stack behaves like fork; the child only runs `init::run`,
    // which never returns, in a copy of this single-threaded process.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        return Err(start_err(format!(
            "clone3: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        drop(report_r);
        init::run(spec, &prepared, File::from(report_w));
    }
    drop(report_w);
    drop(prepared);
    let mut handover_failed = None;
    if let (Some(attach), Some(go)) = (&attach, go_writer) {
        // The child builds its rootfs meanwhile; it waits for this byte before it makes
        // its cgroup namespace and execs. If the child already failed (and exited), the
        // write fails too: its own report below says why, so it wins.
        if let Err(e) = attach
            .attach_pid(pid as u32)
            .and_then(|()| rustix::io::write(&go, b"1").map(drop).map_err(Into::into))
        {
            handover_failed = Some(e);
        }
        // Dropping `go` here: a child still waiting reads EOF and gives up.
    }
    // SAFETY: clone3 stored a new pidfd we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let mut report = Vec::new();
    let _ = File::from(report_r).read_to_end(&mut report);
    if let Some(e) = handover_failed {
        let mut status = 0;
        // SAFETY: reaping our own child, which has exited or is exiting.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
            libc::waitpid(pid as i32, &mut status, 0);
        }
        let message = match report.split_first() {
            Some((&init::REPORT_SETUP, m)) if !m.is_empty() => {
                String::from_utf8_lossy(m).into_owned()
            }
            _ => format!("moving the task into its cgroup: {e}"),
        };
        return Err(start_err(message));
    }
    if let Some((kind, message)) = report.split_first() {
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid as i32, &mut status, 0) };
        let message = String::from_utf8_lossy(message).into_owned();
        return Err(match *kind {
            init::REPORT_SETUP => start_err(message),
            kind => RuntimeError::Exec {
                task,
                message,
                not_found: kind == init::REPORT_EXEC_NOT_FOUND,
            },
        });
    }
    Ok(Launched {
        pid: pid as i32,
        pidfd,
    })
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitStatus {
    pub code: i32,
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// Decodes a `waitpid` status.
    pub fn from_wait_status(status: i32) -> Self {
        if libc::WIFSIGNALED(status) {
            ExitStatus {
                code: 0,
                signal: Some(libc::WTERMSIG(status)),
            }
        } else {
            ExitStatus {
                code: libc::WEXITSTATUS(status),
                signal: None,
            }
        }
    }

    /// What a shell reports: the code, or 128 + the signal.
    pub fn shell_code(&self) -> i32 {
        self.signal.map_or(self.code, |s| 128 + s)
    }
}

/// Waits for a launched task to exit and reaps it.
pub fn wait(launched: &Launched) -> std::io::Result<ExitStatus> {
    let mut status = 0;
    loop {
        // SAFETY: waiting on our own child.
        let r = unsafe { libc::waitpid(launched.pid, &mut status, 0) };
        if r >= 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(ExitStatus::from_wait_status(status))
}
