//! The task's init: what the cloned child does in its new namespaces before it becomes
//! the task. Order matters and follows runc/youki: cgroup namespace, network, rootfs and
//! pivot, hostname, fds, user lookup, working directory, then capabilities, user switch,
//! no_new_privs and seccomp last, right before `execve`.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use super::confine;
use super::rootfs;
use super::spec::TaskSpec;
use super::user;

/// What the parent prepared for the child before cloning (opening files after the
/// pivot would reach the image's files instead of the host's).
pub struct Prepared {
    pub netns: Option<OwnedFd>,
    pub stdio: [i32; 3],
    /// v1: the parent moves the child into its cgroup while the child builds its
    /// rootfs (each v1 join waits for an RCU grace period). v2: `None`, the child was
    /// born in its cgroup.
    pub joined: Option<Join>,
    pub cgroup2: bool,
    pub confine: confine::Confinement,
}

/// The first byte of a failure report: set-up failed, or only the exec itself.
pub const REPORT_SETUP: u8 = b'S';
pub const REPORT_EXEC_NOT_FOUND: u8 = b'N';
pub const REPORT_EXEC: u8 = b'X';

/// The v1 hand-over: the parent writes one byte to `go` once the child is in its cgroup.
pub struct Join {
    pub go: OwnedFd,
    /// The parent's end's fd number, which the child closes.
    pub parent_end: i32,
}

/// Runs in the child; never returns. Failures go to `report` (the launcher reads them)
/// and the child exits 127.
pub fn run(spec: &TaskSpec, prepared: &Prepared, mut report: File) -> ! {
    let Err((kind, message)) = init(spec, prepared).map_err(|m| match m {
        Failure::Setup(m) => (REPORT_SETUP, m),
        Failure::NotFound(m) => (REPORT_EXEC_NOT_FOUND, m),
        Failure::Exec(m) => (REPORT_EXEC, m),
    });
    let _ = report.write_all(&[kind]);
    let _ = report.write_all(message.as_bytes());
    // SAFETY: _exit is always safe; no destructors should run in the forked child.
    unsafe { libc::_exit(127) }
}

fn errno(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

enum Failure {
    Setup(String),
    NotFound(String),
    Exec(String),
}

impl From<String> for Failure {
    fn from(m: String) -> Self {
        Failure::Setup(m)
    }
}

fn init(spec: &TaskSpec, p: &Prepared) -> Result<Infallible, Failure> {
    // SAFETY: plain syscalls on this single-threaded child.
    unsafe {
        // The task dies with its supervisor rather than run unobserved.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err(errno("prctl(PR_SET_PDEATHSIG)").into());
        }
    }
    // SAFETY: setns takes no pointers.
    if let Some(ns) = &p.netns {
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(errno("joining the network namespace").into());
        }
    }
    match &p.joined {
        // v2: born in its cgroup; the namespace must exist before cgroupfs is mounted.
        None => {
            enter_cgroup_namespace(spec)?;
            rootfs::enter(spec, p.cgroup2)?;
        }
        Some(join) => {
            // SAFETY: closing our copy of the parent's end, so a dead parent reads as EOF.
            unsafe { libc::close(join.parent_end) };
            rootfs::enter(spec, p.cgroup2)?;
            let mut byte = [0u8; 1];
            if !matches!(rustix::io::read(&join.go, &mut byte), Ok(1)) {
                return Err("the supervisor could not move the task into its cgroup"
                    .to_string()
                    .into());
            }
            enter_cgroup_namespace(spec)?;
        }
    }
    // The supervisor blocks signals to forward them; the task starts with none blocked.
    // SAFETY: an empty, initialised signal set.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    if let Some(name) = &spec.hostname {
        rustix::system::sethostname(name.as_bytes()).map_err(|e| format!("sethostname: {e}"))?;
    }
    // SAFETY: dup2 onto the standard fds; the sources stay valid until exec.
    unsafe {
        for (target, fd) in p.stdio.iter().enumerate() {
            if *fd != target as i32 && libc::dup2(*fd, target as i32) < 0 {
                return Err(errno("setting up stdio").into());
            }
        }
        // Nothing of the supervisor's reaches the task (CVE-2024-21626): every fd above
        // stdio closes at exec, including the report pipe, whose closing says "started".
        if libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            return Err(errno("close_range").into());
        }
    }
    if let Some((soft, hard)) = spec.process.nofile {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: lim is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(errno("setrlimit(RLIMIT_NOFILE)").into());
        }
    }
    let user = user::resolve(Path::new("/"), &spec.process.user)?;
    let cwd = if spec.process.cwd.is_empty() {
        "/"
    } else {
        spec.process.cwd.as_str()
    };
    std::env::set_current_dir(cwd).map_err(|e| format!("working directory {cwd:?}: {e}"))?;
    // A cwd outside the mount namespace's root reads as "(unreachable)…" (CVE-2024-21626).
    let real = std::env::current_dir().map_err(|e| format!("working directory {cwd:?}: {e}"))?;
    if !real.starts_with("/") {
        return Err(format!("working directory {cwd:?} is outside the task's root").into());
    }

    let args: Vec<CString> = spec
        .process
        .args
        .iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| format!("argument {a:?} contains NUL")))
        .collect::<Result<_, _>>()?;
    let mut env = spec.process.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let env: Vec<CString> = env
        .iter()
        .map(|e| {
            CString::new(e.as_str()).map_err(|_| format!("environment entry {e:?} contains NUL"))
        })
        .collect::<Result<_, _>>()?;
    let program = find_program(spec).map_err(Failure::NotFound)?;

    confine::apply(&p.confine, &user)?;

    let e = execve(&program, &args, &env);
    let message = format!("exec {:?}: {e}", spec.process.args[0]);
    Err(if e.kind() == std::io::ErrorKind::NotFound {
        Failure::NotFound(message)
    } else {
        Failure::Exec(message)
    })
}

/// `execve` with argv and envp built from `args` and `env`; returns only on failure.
pub(super) fn execve(program: &CString, args: &[CString], env: &[CString]) -> std::io::Error {
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    std::io::Error::last_os_error()
}

/// In its cgroup now, the task makes that its cgroup root (CVE-2022-0492). Not for
/// raw_exec, which is not isolated at all.
fn enter_cgroup_namespace(spec: &TaskSpec) -> Result<(), String> {
    if matches!(spec.rootfs, super::spec::Rootfs::Host) {
        return Ok(());
    }
    // SAFETY: unshare takes no pointers.
    if unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
        return Err(errno("unshare(CLONE_NEWCGROUP)"));
    }
    Ok(())
}

/// `argv[0]` as given if it has a `/`, else the first executable match in the task's
/// `PATH` (looked up inside the task's root, after the pivot).
fn find_program(spec: &TaskSpec) -> Result<CString, String> {
    let arg0 = spec.process.args.first().ok_or("no command to run")?;
    let path = spec
        .process
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="));
    lookup(arg0, path).ok_or_else(|| {
        format!(
            "exec {arg0:?}: executable file not found in $PATH ({})",
            path.unwrap_or(DEFAULT_PATH)
        )
    })
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `arg0` itself if it has a `/`, else its first executable match in `path` (the
/// task's `PATH`, or the usual default), as execvp does. Looks in the current root.
pub(super) fn lookup(arg0: &str, path: Option<&str>) -> Option<CString> {
    if arg0.contains('/') {
        return CString::new(arg0).ok();
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(':')
        .filter(|d| !d.is_empty())
        .find_map(|dir| {
            let c = CString::new(format!("{dir}/{arg0}")).ok()?;
            // SAFETY: c is a valid C string.
            (unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0).then_some(c)
        })
}
