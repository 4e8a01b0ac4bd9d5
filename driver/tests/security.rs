//! Root integration tests of `drover_driver::runtime::security`: capabilities,
//! no_new_privs and the default seccomp filter applied for real in forked children, then
//! checked from the kernel's side (`/proc/self/status`, syscall results) and with real
//! programs (sh, busybox, python3, redis-server) running under them.
//!
//! Two kinds of child: `forked` runs a closure after `fork` and reports the first failed
//! check by line number over a pipe (the closure makes raw syscalls only: the test
//! harness is multi-threaded, so a forked child must not allocate); `Command` with
//! `pre_exec` applies the same confinement to a program it then execs.
//!
//! They need root. Without it they fail, unless `DROVER_SKIP_ROOT_TESTS=1` is set, in
//! which case each prints that it was skipped. Nothing touches the host: namespaces the
//! checks try to create are refused, and the port-80 bind happens in a fresh network
//! namespace.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_driver::runtime::security::caps::{self, docker_default, nomad_exec_default};
use drover_driver::runtime::security::seccomp::{self, Arch};
use drover_driver::runtime::security::{
    set_no_new_privs, BpfProgram, Cap, CapSet, Hardening, SecurityError, UserIds,
};

fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("DROVER_SKIP_ROOT_TESTS").is_some() {
        eprintln!("SKIPPED {test}: not root and DROVER_SKIP_ROOT_TESTS is set");
        return false;
    }
    panic!("{test} needs root (set DROVER_SKIP_ROOT_TESTS=1 to skip the root tests)");
}

const DOCKER_MASK: u64 = 0xa804_25fb;
const NOBODY: u32 = 65534;

/// The first failed check in a forked child.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Failure {
    line: u32,
    errno: i32,
    ret: i64,
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Fails the child's body unless `$cond`, recording the line, errno and `$ret`.
macro_rules! check {
    ($cond:expr, $ret:expr) => {
        if !$cond {
            return Err(Failure {
                line: line!(),
                errno: errno(),
                ret: $ret as i64,
            });
        }
    };
}

/// A raw syscall: (return value, errno).
fn sys(nr: libc::c_long, a: [u64; 5]) -> (i64, i32) {
    // SAFETY: callers pass arguments the kernel validates (pointers to live statics or
    // stack values, or null); a call that is filtered never runs.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4]) };
    (r, if r < 0 { errno() } else { 0 })
}

/// Fails unless the call fails with `expected`.
macro_rules! expect_errno {
    ($nr:expr, $args:expr, $expected:expr) => {{
        let (r, e) = sys($nr, $args);
        if r == 0 && ($nr == libc::SYS_clone || $nr == libc::SYS_clone3) {
            // A clone that was let through: this is the new process.
            // SAFETY: leaving the grandchild at once.
            unsafe { libc::_exit(99) };
        }
        if r != -1 || e != $expected {
            return Err(Failure {
                line: line!(),
                errno: e,
                ret: r,
            });
        }
    }};
}

/// Runs `body` in a forked child; `Err` describes its failure or abnormal end.
fn forked(body: impl FnOnce() -> Result<(), Failure>) -> Result<(), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a two-int array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the child only runs `body` (raw syscalls) and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let code = match body() {
            Ok(()) => 0,
            Err(f) => {
                // SAFETY: writing a plain struct to the pipe.
                unsafe {
                    libc::write(
                        fds[1],
                        &f as *const Failure as *const libc::c_void,
                        std::mem::size_of::<Failure>(),
                    )
                };
                1
            }
        };
        // SAFETY: no destructors in a forked child.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: closing our copy of the write end; reading into a plain struct.
    let mut f = Failure::default();
    let n = unsafe {
        libc::close(fds[1]);
        let n = libc::read(
            fds[0],
            &mut f as *mut Failure as *mut libc::c_void,
            std::mem::size_of::<Failure>(),
        );
        libc::close(fds[0]);
        n
    };
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    if libc::WIFSIGNALED(status) {
        return Err(format!("child killed by signal {}", libc::WTERMSIG(status)));
    }
    match libc::WEXITSTATUS(status) {
        0 => Ok(()),
        1 if n == std::mem::size_of::<Failure>() as isize => Err(format!(
            "check at tests/security.rs:{} failed: returned {}, errno {} ({})",
            f.line,
            f.ret,
            f.errno,
            io::Error::from_raw_os_error(f.errno)
        )),
        code => Err(format!("child exited {code}")),
    }
}

fn setup_failed(line: u32, e: &SecurityError) -> Failure {
    Failure {
        line,
        errno: e.raw_os_error().unwrap_or(0),
        ret: -1,
    }
}

fn to_io(e: SecurityError) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EINVAL))
}

/// The root task's confinement: Docker's caps, no_new_privs, the default filter.
fn docker_hardening() -> Hardening {
    Hardening::new(docker_default(), false, true, true).unwrap()
}

/// `program args…` with `h` applied (as root, or switching to `user`) just before exec.
fn run_confined(
    h: &Hardening,
    user: Option<UserIds>,
    netns: bool,
    program: &str,
    args: &[&str],
) -> Output {
    let h = h.clone();
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    // SAFETY: the closure makes raw syscalls only (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            if netns && libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            h.apply(user.as_ref()).map_err(to_io)
        });
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running {program} confined: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn describe(o: &Output) -> String {
    format!(
        "status {:?} (signal {:?})\nstdout: {}\nstderr: {}",
        o.status.code(),
        o.status.signal(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A `/proc/<pid>/status` field.
fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("{name} not in status:\n{status}"))
        .trim()
        .to_string()
}

fn hex(status: &str, name: &str) -> u64 {
    u64::from_str_radix(&field(status, name), 16).unwrap()
}

#[test]
fn default_task_has_docker_caps_no_new_privs_and_the_filter() {
    if !root_or_skip("default_task_has_docker_caps_no_new_privs_and_the_filter") {
        return;
    }
    let o = run_confined(
        &docker_hardening(),
        None,
        false,
        "/bin/cat",
        &["/proc/self/status"],
    );
    assert!(o.status.success(), "{}", describe(&o));
    let s = stdout(&o);
    assert_eq!(hex(&s, "CapEff"), DOCKER_MASK, "{s}");
    assert_eq!(hex(&s, "CapPrm"), DOCKER_MASK, "{s}");
    assert_eq!(hex(&s, "CapBnd"), DOCKER_MASK, "{s}");
    assert_eq!(
        hex(&s, "CapInh"),
        0,
        "CVE-2022-29162: inheritable must be empty\n{s}"
    );
    assert_eq!(hex(&s, "CapAmb"), 0, "{s}");
    assert_eq!(field(&s, "NoNewPrivs"), "1");
    assert_eq!(field(&s, "Seccomp"), "2");
    assert_eq!(field(&s, "Seccomp_filters"), "1");
}

#[test]
fn filter_denies_namespaces_keyrings_mounts_and_vsock() {
    if !root_or_skip("filter_denies_namespaces_keyrings_mounts_and_vsock") {
        return;
    }
    let h = docker_hardening();
    let result = forked(|| {
        h.apply(None).map_err(|e| setup_failed(line!(), &e))?;
        const EPERM: i32 = libc::EPERM;
        // CVE-2022-0492's first step and every other namespace.
        expect_errno!(
            libc::SYS_unshare,
            [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0],
            EPERM
        );
        let user_cgroup = (libc::CLONE_NEWUSER | libc::CLONE_NEWCGROUP | libc::CLONE_NEWNS) as u64;
        expect_errno!(libc::SYS_unshare, [user_cgroup, 0, 0, 0, 0], EPERM);
        expect_errno!(
            libc::SYS_unshare,
            [libc::CLONE_NEWNET as u64, 0, 0, 0, 0],
            EPERM
        );
        expect_errno!(libc::SYS_setns, [0, 0, 0, 0, 0], EPERM);
        // Keyrings: KEYCTL_GET_KEYRING_ID of the session keyring, add_key, request_key.
        expect_errno!(libc::SYS_keyctl, [0, (-3i64) as u64, 1, 0, 0], EPERM);
        let (user, desc) = (c"user".as_ptr() as u64, c"drover-test".as_ptr() as u64);
        expect_errno!(libc::SYS_add_key, [user, desc, 0, 0, (-3i64) as u64], EPERM);
        expect_errno!(libc::SYS_request_key, [user, desc, 0, 0, 0], EPERM);
        // Mounts, old and new API.
        let (none, tmp, tmpfs) = (
            c"none".as_ptr() as u64,
            c"/tmp".as_ptr() as u64,
            c"tmpfs".as_ptr() as u64,
        );
        expect_errno!(libc::SYS_mount, [none, tmp, tmpfs, 0, 0], EPERM);
        expect_errno!(libc::SYS_umount2, [tmp, 0, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_fsopen, [tmpfs, 0, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_pivot_root, [tmp, tmp, 0, 0, 0], EPERM);
        // clone with a namespace flag; clone3 answers ENOSYS so libc falls back.
        let newns = (libc::CLONE_NEWNS | libc::SIGCHLD) as u64;
        expect_errno!(libc::SYS_clone, [newns, 0, 0, 0, 0], EPERM);
        let newuser = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
        expect_errno!(libc::SYS_clone, [newuser, 0, 0, 0, 0], EPERM);
        let clone_args = [0u64; 11]; // struct clone_args, flags 0: a plain fork if let through
        let ptr = clone_args.as_ptr() as u64;
        expect_errno!(libc::SYS_clone3, [ptr, 88, 0, 0, 0], libc::ENOSYS);
        // Sockets: AF_VSOCK and AF_ALG no, AF_INET/AF_UNIX yes.
        let stream = libc::SOCK_STREAM as u64;
        expect_errno!(
            libc::SYS_socket,
            [libc::AF_VSOCK as u64, stream, 0, 0, 0],
            EPERM
        );
        let vsock_high = (1u64 << 32) | libc::AF_VSOCK as u64;
        expect_errno!(libc::SYS_socket, [vsock_high, stream, 0, 0, 0], EPERM);
        let seqpacket = libc::SOCK_SEQPACKET as u64;
        expect_errno!(
            libc::SYS_socket,
            [libc::AF_ALG as u64, seqpacket, 0, 0, 0],
            EPERM
        );
        for family in [libc::AF_INET, libc::AF_INET6, libc::AF_UNIX] {
            let (fd, _) = sys(libc::SYS_socket, [family as u64, stream, 0, 0, 0]);
            check!(fd >= 0, fd);
            // SAFETY: closing the socket just made.
            unsafe { libc::close(fd as i32) };
        }
        // personality: the query yes, READ_IMPLIES_EXEC no.
        let (p, _) = sys(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0]);
        check!(p >= 0, p);
        expect_errno!(libc::SYS_personality, [0x40_0000, 0, 0, 0, 0], EPERM);
        // Capability-gated and never-allowed calls.
        expect_errno!(libc::SYS_sethostname, [none, 4, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_bpf, [0, 0, 0, 0, 0], EPERM);
        expect_errno!(
            libc::SYS_perf_event_open,
            [0, 0, u64::MAX, u64::MAX, 0],
            EPERM
        );
        expect_errno!(libc::SYS_syslog, [3, 0, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_io_uring_setup, [1, 0, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_userfaultfd, [0, 0, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_kcmp, [0, 0, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_settimeofday, [0, 0, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_init_module, [0, 0, 0, 0, 0], EPERM);
        expect_errno!(libc::SYS_reboot, [0, 0, 0, 0, 0], EPERM);
        // Newer than the profile: ENOSYS (file_getattr, 468).
        expect_errno!(468, [0, 0, 0, 0, 0], libc::ENOSYS);
        // And what a program needs still works.
        let (pid, _) = sys(libc::SYS_getpid, [0; 5]);
        check!(pid > 0, pid);
        let mut buf = [0u8; 16];
        let (n, _) = sys(libc::SYS_getrandom, [buf.as_mut_ptr() as u64, 16, 0, 0, 0]);
        check!(n == 16, n);
        let (fd, _) = sys(libc::SYS_eventfd2, [0, 0, 0, 0, 0]);
        check!(fd >= 0, fd);
        Ok(())
    });
    result.unwrap();
}

/// Without the filter, the same calls are not refused with EPERM: the filter is what
/// refuses them above (control for the previous test).
#[test]
fn without_the_filter_the_same_calls_get_through() {
    if !root_or_skip("without_the_filter_the_same_calls_get_through") {
        return;
    }
    let h = Hardening::new(docker_default(), false, true, false).unwrap();
    assert!(h.seccomp.is_none());
    let result = forked(|| {
        h.apply(None).map_err(|e| setup_failed(line!(), &e))?;
        let (r, _) = sys(libc::SYS_keyctl, [0, (-3i64) as u64, 1, 0, 0]);
        check!(r > 0, r);
        // clone into a new user namespace (unprivileged-legal, so only the filter
        // refuses it); before the unshare below, whose namespace has no uid mapping.
        let newuser = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
        let (r, _) = sys(libc::SYS_clone, [newuser, 0, 0, 0, 0]);
        if r == 0 {
            // SAFETY: the new process leaves at once.
            unsafe { libc::_exit(0) };
        }
        check!(r > 0, r);
        let mut status = 0;
        // SAFETY: reaping the child just made.
        unsafe { libc::waitpid(r as i32, &mut status, 0) };
        // Unprivileged user namespaces are allowed on this kernel: only the filter stops it.
        let (r, _) = sys(libc::SYS_unshare, [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0]);
        check!(r == 0, r);
        let clone_args = [0u64; 11];
        let (r, e) = sys(libc::SYS_clone3, [clone_args.as_ptr() as u64, 88, 0, 0, 0]);
        if r == 0 {
            // SAFETY: the new process leaves at once.
            unsafe { libc::_exit(0) };
        }
        check!(r > 0 && e == 0, r);
        // SAFETY: reaping the child just made.
        unsafe { libc::waitpid(r as i32, &mut status, 0) };
        // AF_VSOCK: created, or refused by the kernel for its own reasons, not EPERM.
        let stream = libc::SOCK_STREAM as u64;
        let (r, e) = sys(libc::SYS_socket, [libc::AF_VSOCK as u64, stream, 0, 0, 0]);
        check!(r >= 0 || e != libc::EPERM, r);
        let (r, _) = sys(libc::SYS_personality, [0x40_0000, 0, 0, 0, 0]);
        check!(r >= 0, r);
        Ok(())
    });
    result.unwrap();
}

#[test]
fn seccomp_without_no_new_privs_or_cap_sys_admin_is_refused() {
    if !root_or_skip("seccomp_without_no_new_privs_or_cap_sys_admin_is_refused") {
        return;
    }
    let filter = seccomp::filter_for(docker_default()).unwrap();
    let result = forked(|| {
        caps::apply(docker_default(), false).map_err(|e| setup_failed(line!(), &e.into()))?;
        match seccomp::install(&filter) {
            Err(seccomp::SeccompError::NeedsNoNewPrivs { .. }) => Ok(()),
            Err(e) => Err(setup_failed(line!(), &e.into())),
            Ok(()) => Err(Failure {
                line: line!(),
                ..Failure::default()
            }),
        }
    });
    result.unwrap();
}

#[test]
fn unshare_and_the_cgroup_release_agent_escape_fail() {
    if !root_or_skip("unshare_and_the_cgroup_release_agent_escape_fail") {
        return;
    }
    let h = docker_hardening();
    let o = run_confined(&h, None, false, "/usr/bin/unshare", &["-U", "true"]);
    assert!(!o.status.success(), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Operation not permitted"),
        "{}",
        describe(&o)
    );
    // CVE-2022-0492's recipe.
    let args = [
        "-UrmC", "mount", "-t", "cgroup", "-o", "rdma", "cgroup", "/mnt",
    ];
    let o = run_confined(&h, None, false, "/usr/bin/unshare", &args);
    assert!(!o.status.success(), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Operation not permitted"),
        "{}",
        describe(&o)
    );
}

#[test]
fn shell_and_busybox_work_under_the_filter() {
    if !root_or_skip("shell_and_busybox_work_under_the_filter") {
        return;
    }
    let h = docker_hardening();
    let o = run_confined(
        &h,
        None,
        false,
        "/bin/sh",
        &["-c", "ls / >/dev/null && echo ok"],
    );
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(stdout(&o), "ok\n");
    // A pipeline: fork, pipe, wait; a subshell; a file in /tmp.
    let script = "d=$(mktemp -d) && echo hi > $d/f && cat $d/f | tr a-z A-Z && rm -r $d";
    let o = run_confined(&h, None, false, "/bin/sh", &["-c", script]);
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(stdout(&o), "HI\n");
    let o = run_confined(
        &h,
        None,
        false,
        "/usr/bin/busybox",
        &[
            "sh",
            "-c",
            "busybox ls / >/dev/null && busybox ps >/dev/null && echo ok",
        ],
    );
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(stdout(&o), "ok\n");
}

const PYTHON_WORKLOAD: &str = r#"
import os, select, socket, subprocess, threading
# Threads: glibc tries clone3 (ENOSYS under the filter) and falls back to clone.
results = []
def work(i):
    results.append(sum(range(1000 * i)))
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert len(results) == 8
# A TCP echo over loopback, served from a thread.
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0)); srv.listen(1)
def serve():
    c, _ = srv.accept(); c.sendall(c.recv(64).upper()); c.close()
t = threading.Thread(target=serve); t.start()
cli = socket.create_connection(srv.getsockname())
cli.sendall(b"ping"); assert cli.recv(64) == b"PING"; t.join()
a, b = socket.socketpair(); a.sendall(b"x"); assert b.recv(1) == b"x"
ep = select.epoll(); ep.register(a.fileno(), select.EPOLLOUT); assert ep.poll(1)
assert len(os.getrandom(8)) == 8
assert subprocess.run(["/bin/true"]).returncode == 0
print("ok")
"#;

#[test]
fn python_threads_sockets_and_subprocesses_work_under_the_filter() {
    if !root_or_skip("python_threads_sockets_and_subprocesses_work_under_the_filter") {
        return;
    }
    let o = run_confined(
        &docker_hardening(),
        None,
        false,
        "/usr/bin/python3",
        &["-c", PYTHON_WORKLOAD],
    );
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(stdout(&o), "ok\n");
}

#[test]
fn redis_server_runs_under_the_filter() {
    if !root_or_skip("redis_server_runs_under_the_filter") {
        return;
    }
    let h = docker_hardening();
    let o = run_confined(&h, None, false, "/usr/bin/redis-server", &["--version"]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(
        stdout(&o).starts_with("Redis server v="),
        "{}",
        describe(&o)
    );

    // A real server: background threads, epoll, a unix socket; PING it.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("redis.sock");
    let h2 = h.clone();
    let mut cmd = Command::new("/usr/bin/redis-server");
    cmd.args([
        "--port",
        "0",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ])
    .arg("--unixsocket")
    .arg(&sock)
    .arg("--dir")
    .arg(dir.path())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // SAFETY: raw syscalls only.
    unsafe { cmd.pre_exec(move || h2.apply(None).map_err(to_io)) };
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        if let Ok(mut c) = UnixStream::connect(&sock) {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"PING\r\nINFO server\r\n").unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("redis_version") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "redis closed the connection");
                got.extend_from_slice(&buf[..n]);
            }
            break String::from_utf8_lossy(&got).into_owned();
        }
        if let Some(status) = child.try_wait().unwrap() {
            let o = child.wait_with_output().unwrap();
            panic!("redis-server exited {status:?}: {}", describe(&o));
        }
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(reply.starts_with("+PONG\r\n"), "{reply}");
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{}", describe(&o));
}

/// The task's status lines and whether it could bind port 80 in its own network namespace.
const BIND_80: &str = r#"
import os, socket
s = socket.socket()
try:
    s.bind(("0.0.0.0", 80)); print("bound")
except PermissionError:
    print("denied")
print(os.getuid(), os.getgid(), os.getgroups())
print(open("/proc/self/status").read())
"#;

fn nobody() -> Option<UserIds> {
    Some(UserIds {
        uid: NOBODY,
        gid: NOBODY,
        groups: vec![],
    })
}

#[test]
fn non_root_user_keeps_cap_added_net_bind_service_in_ambient() {
    if !root_or_skip("non_root_user_keeps_cap_added_net_bind_service_in_ambient") {
        return;
    }
    let d = nomad_exec_default();
    let set = caps::resolve(d, d, &["net_bind_service"], &["all"]).unwrap();
    assert_eq!(set, CapSet::of(&[Cap::NetBindService]));
    let bit = 1u64 << Cap::NetBindService.number();

    let h = Hardening::new(set, true, true, true).unwrap();
    let o = run_confined(&h, nobody(), true, "/usr/bin/python3", &["-c", BIND_80]);
    assert!(o.status.success(), "{}", describe(&o));
    let s = stdout(&o);
    assert!(s.starts_with("bound\n65534 65534 []\n"), "{s}");
    assert_eq!(hex(&s, "CapAmb"), bit, "{s}");
    assert_eq!(hex(&s, "CapEff"), bit, "{s}");
    assert_eq!(hex(&s, "CapPrm"), bit, "{s}");
    assert_eq!(hex(&s, "CapBnd"), bit, "{s}");
    assert_eq!(hex(&s, "CapInh"), bit, "ambient needs inheritable\n{s}");
    assert_eq!(field(&s, "NoNewPrivs"), "1");
    assert_eq!(field(&s, "Seccomp"), "2");

    // Without keep_for_non_root the user has nothing after exec.
    let h = Hardening::new(set, false, true, true).unwrap();
    let o = run_confined(&h, nobody(), true, "/usr/bin/python3", &["-c", BIND_80]);
    assert!(o.status.success(), "{}", describe(&o));
    let s = stdout(&o);
    assert!(s.starts_with("denied\n65534 65534 []\n"), "{s}");
    for name in ["CapAmb", "CapEff", "CapPrm", "CapInh"] {
        assert_eq!(hex(&s, name), 0, "{name}\n{s}");
    }
    assert_eq!(hex(&s, "CapBnd"), bit, "{s}");
}

#[test]
fn non_root_user_with_docker_defaults_and_groups() {
    if !root_or_skip("non_root_user_with_docker_defaults_and_groups") {
        return;
    }
    let h = Hardening::new(docker_default(), true, true, true).unwrap();
    let user = UserIds {
        uid: 1234,
        gid: 2345,
        groups: vec![3456, 4567],
    };
    let o = run_confined(&h, Some(user), false, "/bin/cat", &["/proc/self/status"]);
    assert!(o.status.success(), "{}", describe(&o));
    let s = stdout(&o);
    assert_eq!(
        field(&s, "Uid").split_whitespace().collect::<Vec<_>>(),
        ["1234"; 4]
    );
    assert_eq!(
        field(&s, "Gid").split_whitespace().collect::<Vec<_>>(),
        ["2345"; 4]
    );
    assert_eq!(field(&s, "Groups"), "3456 4567");
    for name in ["CapAmb", "CapEff", "CapPrm", "CapBnd", "CapInh"] {
        assert_eq!(hex(&s, name), DOCKER_MASK, "{name}\n{s}");
    }
    // Staying root: no ambient even when asked (root keeps its set through bounding).
    let o = run_confined(
        &h,
        Some(UserIds {
            uid: 0,
            gid: 0,
            groups: vec![],
        }),
        false,
        "/bin/cat",
        &["/proc/self/status"],
    );
    assert!(o.status.success(), "{}", describe(&o));
    let s = stdout(&o);
    assert_eq!(hex(&s, "CapEff"), DOCKER_MASK, "{s}");
    assert_eq!(hex(&s, "CapAmb"), 0, "{s}");
    assert_eq!(hex(&s, "CapInh"), 0, "{s}");
}

#[test]
fn cap_sys_admin_task_may_mount_and_clone_namespaces() {
    if !root_or_skip("cap_sys_admin_task_may_mount_and_clone_namespaces") {
        return;
    }
    let h = Hardening::new(docker_default().with(Cap::SysAdmin), false, true, true).unwrap();
    let result = forked(|| {
        h.apply(None).map_err(|e| setup_failed(line!(), &e))?;
        // A private mount namespace for this child, then a tmpfs on /tmp inside it.
        let (r, _) = sys(libc::SYS_unshare, [libc::CLONE_NEWNS as u64, 0, 0, 0, 0]);
        check!(r == 0, r);
        let (r, _) = sys(
            libc::SYS_mount,
            [
                c"none".as_ptr() as u64,
                c"/".as_ptr() as u64,
                0,
                libc::MS_REC | libc::MS_PRIVATE,
                0,
            ],
        );
        check!(r == 0, r);
        let (r, _) = sys(
            libc::SYS_mount,
            [
                c"none".as_ptr() as u64,
                c"/tmp".as_ptr() as u64,
                c"tmpfs".as_ptr() as u64,
                0,
                0,
            ],
        );
        check!(r == 0, r);
        // clone3 is let through with CAP_SYS_ADMIN.
        let clone_args = [0u64; 11];
        let (r, _) = sys(libc::SYS_clone3, [clone_args.as_ptr() as u64, 88, 0, 0, 0]);
        if r == 0 {
            // SAFETY: the new process leaves at once.
            unsafe { libc::_exit(0) };
        }
        check!(r > 0, r);
        let mut status = 0;
        // SAFETY: reaping the child just made.
        unsafe { libc::waitpid(r as i32, &mut status, 0) };
        // Keyrings stay closed whatever the capabilities.
        expect_errno!(libc::SYS_keyctl, [0, (-3i64) as u64, 1, 0, 0], libc::EPERM);
        Ok(())
    });
    result.unwrap();
}

fn nanos_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Times (ns) of apply, no_new_privs and install in a forked child, as a `Failure`'s
/// fields can't carry three numbers: the child writes them to a pipe itself.
fn child_timings(h: &Hardening, prog: &Arc<BpfProgram>) -> [u64; 3] {
    let mut fds = [0; 2];
    // SAFETY: fds is a two-int array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let result = forked(|| {
        let t0 = nanos_now();
        caps::apply(h.caps, false).map_err(|e| setup_failed(line!(), &e.into()))?;
        let t1 = nanos_now();
        set_no_new_privs().map_err(|e| setup_failed(line!(), &e.into()))?;
        let t2 = nanos_now();
        seccomp::install(prog).map_err(|e| setup_failed(line!(), &e.into()))?;
        let t3 = nanos_now();
        let times = [t1 - t0, t2 - t1, t3 - t2];
        // SAFETY: writing a plain array to the pipe.
        unsafe { libc::write(fds[1], times.as_ptr() as *const libc::c_void, 24) };
        Ok(())
    });
    result.unwrap();
    let mut times = [0u64; 3];
    // SAFETY: reading a plain array from the pipe; closing both ends.
    unsafe {
        libc::close(fds[1]);
        assert_eq!(
            libc::read(fds[0], times.as_mut_ptr() as *mut libc::c_void, 24),
            24
        );
        libc::close(fds[0]);
    }
    times
}

#[test]
fn timings() {
    if !root_or_skip("timings") {
        return;
    }
    let arch = Arch::NATIVE.unwrap();
    let caps = docker_default();
    let t = Instant::now();
    let first = seccomp::compile(caps, arch).unwrap();
    let first_compile = t.elapsed();
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(seccomp::compile(caps, arch).unwrap());
    }
    let compile = t.elapsed() / n;
    // A cap set no other test uses, so the first filter_for compiles.
    let odd = CapSet::of(&[Cap::SysBoot, Cap::SysTime, Cap::Syslog, Cap::Chown]);
    let t = Instant::now();
    let prog = seccomp::filter_for(odd).unwrap();
    let miss = t.elapsed();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(seccomp::filter_for(odd).unwrap());
    }
    let hit = t.elapsed() / n;
    let h = docker_hardening();
    let docker_prog = h.seccomp.clone().unwrap();
    let [apply, nnp, install] = child_timings(&h, &docker_prog);
    println!(
        "seccomp filter: {} instructions (docker default caps); {} with {odd}",
        first.len(),
        prog.len()
    );
    println!(
        "compile: first {first_compile:?}, mean of {n} {compile:?}; filter_for: miss {miss:?}, \
         cached {hit:?}"
    );
    println!(
        "in the child: caps::apply {:?}, no_new_privs {:?}, install {:?}",
        Duration::from_nanos(apply),
        Duration::from_nanos(nnp),
        Duration::from_nanos(install)
    );
}
