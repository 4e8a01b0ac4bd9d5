//! Running a command inside a running task (Nomad's `alloc exec`): `drover shim exec
//! <state dir> [--tty] -- CMD...`, a fresh single-threaded process that joins the task's
//! cgroup and namespaces, forks (a PID namespace applies to children), and in the child
//! confines itself exactly as the task is confined before exec. It is non-dumpable from
//! the start, so nothing in the task can ptrace it or open its memory while it holds host
//! resources (CVE-2016-9962), and it closes every fd but stdio before exec.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::confine;
use super::driver::TaskHandle;
use super::shim::{ShimSpec, SPEC_FILE};
use super::user;
use crate::cgroup::{CgroupConfig, CgroupManager, Cgroups};

/// Namespaces joined, in order: the mount namespace last, since the others are opened by
/// /proc paths that only the host's mount namespace shows.
const NAMESPACES: &[(&str, i32)] = &[
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
];

/// The command line for `drover shim exec`, to spawn with the stdio of the caller's
/// choice. `shim_exe` is the drover binary.
pub fn command(
    shim_exe: &Path,
    handle: &TaskHandle,
    argv: &[String],
    tty: bool,
) -> std::process::Command {
    let mut c = std::process::Command::new(shim_exe);
    c.arg("shim").arg("exec").arg(&handle.state_dir);
    c.arg(handle.pid.to_string())
        .arg(handle.pid_start.to_string());
    if tty {
        c.arg("--tty");
    }
    c.arg("--").args(argv);
    c
}

fn errno(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// `drover shim exec <state dir> <pid> <start> [--tty] -- CMD...`: returns the exit code.
pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("drover exec: {message}");
            126
        }
    }
}

fn run(args: &[String]) -> Result<i32, String> {
    // SAFETY: prctl with integers.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) } != 0 {
        return Err(errno("prctl(PR_SET_DUMPABLE)"));
    }
    let (state_dir, pid, start) = match args {
        [dir, pid, start, ..] => (
            Path::new(dir),
            pid.parse::<i32>().map_err(|_| "bad pid".to_string())?,
            start
                .parse::<u64>()
                .map_err(|_| "bad start time".to_string())?,
        ),
        _ => return Err("usage: drover shim exec STATE_DIR PID START [--tty] -- CMD...".into()),
    };
    let rest = &args[3..];
    let tty = rest.first().is_some_and(|a| a == "--tty");
    let sep = rest
        .iter()
        .position(|a| a == "--")
        .ok_or("missing -- before the command")?;
    let argv = &rest[sep + 1..];
    if argv.is_empty() {
        return Err("no command given".into());
    }
    let spec_path = state_dir.join(SPEC_FILE);
    let spec: ShimSpec = serde_json::from_slice(
        &std::fs::read(&spec_path).map_err(|e| format!("reading {}: {e}", spec_path.display()))?,
    )
    .map_err(|e| format!("parsing {}: {e}", spec_path.display()))?;

    // Open everything while the pid still names the task, then check it still does.
    let mut ns_files = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = format!("/proc/{pid}/ns/{name}");
        let f = File::open(&path).map_err(|e| format!("{path}: {e} (has the task exited?)"))?;
        ns_files.push((f, *flag, *name));
    }
    if !super::shim::is_running(pid, start) {
        return Err(format!("task {} is not running", spec.task.id));
    }
    let cgroups = Cgroups::detect(&CgroupConfig {
        parent: spec.cgroup_parent.clone(),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let cgroup = cgroups.task(&spec.task.id).map_err(|e| e.to_string())?;
    // Prepared before any namespace changes what the paths mean.
    let confinement = confine::prepare(&spec.task.security)?;
    cgroup
        .prepare_attach()
        .map_err(|e| e.to_string())?
        .attach_current()
        .map_err(|e| format!("joining the task's cgroup: {e}"))?;
    for (f, flag, name) in &ns_files {
        // The host's own namespaces (raw_exec shares them) need no joining; joining
        // them anyway is harmless but for the mount namespace of a chroot-less task.
        // SAFETY: setns with an fd we hold.
        if unsafe { libc::setns(f.as_raw_fd(), *flag) } != 0 {
            return Err(errno(&format!("joining the task's {name} namespace")));
        }
    }
    drop(ns_files);

    let pty = if tty { Some(open_pty()?) } else { None };
    // SAFETY: fork in a single-threaded process.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(errno("fork"));
    }
    if child == 0 {
        let err = child_exec(&spec, &confinement, argv, pty.as_ref().map(|(_, s)| s));
        eprintln!("drover exec: {err}");
        // SAFETY: leaving the forked child without running destructors.
        unsafe { libc::_exit(if err.contains("not found") { 127 } else { 126 }) };
    }
    if let Some((master, slave)) = pty {
        drop(slave);
        relay(&master, child);
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    Ok(super::launch::ExitStatus::from_wait_status(status).shell_code())
}

fn child_exec(
    spec: &ShimSpec,
    confinement: &confine::Confinement,
    argv: &[String],
    tty: Option<&OwnedFd>,
) -> String {
    if let Some(slave) = tty {
        // SAFETY: a new session with the pty as its controlling terminal and stdio.
        unsafe {
            libc::setsid();
            libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0);
            for fd in 0..3 {
                libc::dup2(slave.as_raw_fd(), fd);
            }
        }
    }
    let user = match user::resolve(Path::new("/"), &spec.task.process.user) {
        Ok(u) => u,
        Err(e) => return e,
    };
    let cwd = if spec.task.process.cwd.is_empty() {
        "/"
    } else {
        &spec.task.process.cwd
    };
    if let Err(e) = std::env::set_current_dir(cwd) {
        return format!("working directory {cwd}: {e}");
    }
    // SAFETY: marking every fd above stdio close-on-exec.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    let env: Vec<CString> = spec
        .task
        .process
        .env
        .iter()
        .filter_map(|e| CString::new(e.as_str()).ok())
        .collect();
    let args: Vec<CString> = match argv.iter().map(|a| CString::new(a.as_str())).collect() {
        Ok(a) => a,
        Err(_) => return "argument contains NUL".into(),
    };
    let path_var = spec
        .task
        .process
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="));
    let program = match super::init::lookup(&argv[0], path_var) {
        Some(p) => p,
        None => return format!("exec {:?}: executable file not found in $PATH", argv[0]),
    };
    if let Err(e) = confine::apply(confinement, &user) {
        return e;
    }
    let e = super::init::execve(&program, &args, &env);
    format!("exec {:?}: {e}", argv[0])
}

/// A pty pair from the task's own devpts (we are in its mount namespace now).
fn open_pty() -> Result<(OwnedFd, OwnedFd), String> {
    // SAFETY: openpty writes two fds into the provided ints.
    unsafe {
        let (mut master, mut slave) = (-1, -1);
        if libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        ) != 0
        {
            return Err(errno("openpty"));
        }
        Ok((OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)))
    }
}

/// Copies our stdin to the pty and the pty to our stdout until the command exits.
fn relay(master: &OwnedFd, child: i32) {
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) } < 0 {
            break;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: reading into our buffer, writing what we read.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                unsafe { libc::write(master.as_raw_fd(), buf.as_ptr().cast(), n as usize) };
            } else {
                fds[0].fd = -1;
            }
        }
        if fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // SAFETY: as above.
            let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            unsafe { libc::write(1, buf.as_ptr().cast(), n as usize) };
        }
        // SAFETY: peeking at our child's exit without reaping it (waitid with WNOWAIT).
        let exited = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                child as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            ) == 0
                && info.si_pid() == child
        };
        if exited {
            // Drain what is left, then stop.
            loop {
                let n =
                    unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                unsafe { libc::write(1, buf.as_ptr().cast(), n as usize) };
            }
            break;
        }
    }
}
