//! The per-task shim: `drover shim <state dir>`. One small synchronous process per task,
//! outside the task's cgroup, in its own session. It launches the task (so it is the
//! task's parent), copies the task's stdout and stderr into rotating log files, reaps the
//! task and records how it ended in `exit.json` before exiting itself. The agent may die
//! and come back meanwhile: nothing here depends on it.
//!
//! Start-up handshake: the shim writes one line to its stdout, `started <pid> <start
//! time>` or `error <kind> <message>`, then points stdout at /dev/null.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::launch::{self, ExitStatus, Launched};
use super::logs::{LogConfig, RotatingWriter};
use super::spec::TaskSpec;
use super::RuntimeError;
use crate::cgroup::{CgroupConfig, CgroupManager, Cgroups};

/// The shim executable to run: `drover-shim` beside the running binary (small: one per
/// task), else the running binary itself (`drover shim …` works too).
pub fn locate_shim() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let small = exe.with_file_name("drover-shim");
    Ok(if small.is_file() { small } else { exe })
}

/// What the shim is asked to do, as `spec.json` in its state directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimSpec {
    pub task: TaskSpec,
    /// Parent of task cgroups (the cgroup itself is created by the driver).
    pub cgroup_parent: PathBuf,
    pub logs: LogConfig,
}

/// How a task ended, as the shim recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskExit {
    pub code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    /// Milliseconds since the epoch.
    pub finished_at: u64,
}

pub const SPEC_FILE: &str = "spec.json";
pub const EXIT_FILE: &str = "exit.json";

/// The start time of a process (clock ticks since boot, /proc/PID/stat field 22): with
/// the pid it names one process even after the pid is reused.
pub fn start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// State letter and start time from /proc/PID/stat.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// Whether `pid` is still the process that started at `start` and has not exited (a
/// zombie has exited: an orphaned shim stays one until init reaps it).
pub fn is_running(pid: i32, start: u64) -> bool {
    proc_stat(pid).is_some_and(|(state, s)| s == start && state != 'Z' && state != 'X')
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes a file whole or not at all, and makes it durable: the agent may read it after
/// a crash of anything, including the machine.
pub fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The shim's `main`. Returns the process exit code.
pub fn main(state_dir: &Path) -> i32 {
    let mut handshake = io::stdout();
    match run(state_dir, &mut handshake) {
        Ok(()) => 0,
        Err(message) => {
            // Before the handshake this reaches the driver; after it, the shim's log.
            let _ = writeln!(handshake, "error {message}");
            let _ = handshake.flush();
            eprintln!("drover shim: {message}");
            1
        }
    }
}

fn run(state_dir: &Path, handshake: &mut io::Stdout) -> Result<(), String> {
    let spec_path = state_dir.join(SPEC_FILE);
    let text = std::fs::read(&spec_path)
        .map_err(|e| format!("start reading {}: {e}", spec_path.display()))?;
    let spec: ShimSpec = serde_json::from_slice(&text)
        .map_err(|e| format!("start parsing {}: {e}", spec_path.display()))?;
    let mut out_log =
        RotatingWriter::open(&spec.logs, "stdout").map_err(|e| format!("start log files: {e}"))?;
    let mut err_log =
        RotatingWriter::open(&spec.logs, "stderr").map_err(|e| format!("start log files: {e}"))?;
    let cgroups = Cgroups::detect(&CgroupConfig {
        parent: spec.cgroup_parent.clone(),
        ..Default::default()
    })
    .map_err(|e| format!("start {e}"))?;
    let cgroup = cgroups
        .task(&spec.task.id)
        .map_err(|e| format!("start {e}"))?;

    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("start pipe: {e}"))
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let null = File::open("/dev/null").map_err(|e| format!("start /dev/null: {e}"))?;
    let task = launch::launch(
        &spec.task,
        &cgroup,
        [null.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()],
    )
    .map_err(|e| match e {
        RuntimeError::Exec {
            not_found: true,
            message,
            ..
        } => format!("notfound {message}"),
        RuntimeError::Exec { message, .. } => format!("exec {message}"),
        other => format!("start {other}"),
    })?;
    drop((out_w, err_w));
    let started = start_time(task.pid).unwrap_or(0);
    writeln!(handshake, "started {} {started}", task.pid)
        .map_err(|e| format!("start handshake: {e}"))?;
    let _ = handshake.flush();
    // The driver may be gone from now on; nothing more goes to its pipe.
    // SAFETY: dup2 of a valid fd onto stdout.
    unsafe { libc::dup2(null.as_raw_fd(), 1) };

    let status = pump(&task, &out_r, &err_r, &mut out_log, &mut err_log);
    let exit = TaskExit {
        code: status.code,
        signal: status.signal,
        oom_killed: cgroup.oom_killed().unwrap_or(false),
        finished_at: now_ms(),
    };
    let json = serde_json::to_vec(&exit).expect("exit serialises");
    write_durable(&state_dir.join(EXIT_FILE), &json).map_err(|e| format!("recording the exit: {e}"))
}

/// Copies the task's output to its logs until it exits, then drains what is left.
fn pump(
    task: &Launched,
    out: &OwnedFd,
    err: &OwnedFd,
    out_log: &mut RotatingWriter,
    err_log: &mut RotatingWriter,
) -> ExitStatus {
    let mut buf = vec![0u8; 64 * 1024];
    let mut open = [true, true];
    let mut exited = false;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: out.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: err.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: task.pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        for (i, o) in open.iter().enumerate() {
            if !o {
                fds[i].fd = -1;
            }
        }
        if exited {
            fds[2].fd = -1;
        }
        // After the task exits, children outside a PID namespace may hold the pipes open:
        // give them a moment, not forever.
        let timeout = if exited { 200 } else { -1 };
        // SAFETY: fds is a valid array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if n == 0 && exited {
            break;
        }
        for (i, (fd, log)) in [(out.as_fd(), &mut *out_log), (err.as_fd(), &mut *err_log)]
            .into_iter()
            .enumerate()
        {
            if fds[i].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                match read_some(fd, &mut buf) {
                    Ok(0) | Err(_) => open[i] = false,
                    Ok(k) => {
                        let _ = log.write_all(&buf[..k]);
                    }
                }
            }
        }
        if fds[2].revents & libc::POLLIN != 0 {
            exited = true;
        }
        if exited && !open[0] && !open[1] {
            break;
        }
    }
    launch::wait(task).unwrap_or(ExitStatus {
        code: 255,
        signal: None,
    })
}

fn read_some(fd: BorrowedFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(rustix::io::read(fd, buf)?)
}
