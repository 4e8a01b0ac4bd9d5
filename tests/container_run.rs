//! `drover container run` as a user runs it, as root, against the real kernel: what a task
//! can see and reach (namespaces, /proc, /sys, /dev, fds, users, exit codes), and what
//! hostile tasks and images cannot do to the host (runtime.md §2.1–2.2). A claim about the
//! host is checked on the host side.
//!
//! Every run is checked for leftovers when drover has exited: its cgroups
//! (`/sys/fs/cgroup/*/drover/run-<drover pid>-*`), its `containers/` directory and image
//! lease in the data dir, and host mounts naming the data dir.
//!
//! `confinement_cases` holds what `runtime::security` provides (Docker's 14 capabilities,
//! the seccomp filter, no namespaces or mounts of the task's own).
//!
//! A test that makes a task attack host state (hostname, core_pattern) puts the state
//! back if the attack worked, then fails.

mod common;

use common::registry;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// Docker's default capability set (runtime.md §2.2) as `/proc/self/status` shows it.
const DOCKER_CAPS: &str = "00000000a80425fb";
/// What `ls -A /dev` shows in a task: the OCI default devices, runc's links, the mounts.
const DEFAULT_DEV: &str =
    "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero";
/// The fd number at which `a_leaked_host_fd_is_unreachable` hands drover a host directory.
const LEAKED: i32 = 47;
/// No run of a well-behaved drover takes this long; past it the run is killed and fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The fork bomb and the OOM test run alone: they load the machine, and the other tests'
/// timings should not depend on them.
static HEAVY: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    HEAVY.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    HEAVY.write().unwrap_or_else(|e| e.into_inner())
}

fn evil(name: &str) -> String {
    format!("{}/drover-test/evil-{name}:latest", registry())
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

// ---------------------------------------------------------------------------------------
// Running drover.

/// A data dir of its own per test, with busybox already pulled (so no pull output mixes
/// with the first task's).
struct Data(tempfile::TempDir);

impl Data {
    fn new() -> Self {
        let data = Data(
            tempfile::Builder::new()
                .prefix("drover-test-run-")
                .tempdir_in("/var/tmp")
                .unwrap(),
        );
        data.pull("busybox");
        data
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn drover(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_drover"));
        c.args(args);
        c.arg(format!("-data-dir={}", self.path().display()));
        c.args(["-registry-mirror", &format!("docker.io={}", registry())]);
        c.env("HOME", self.path());
        c
    }

    fn pull(&self, image: &str) {
        let out = self
            .drover(&["image", "pull", "-q", image])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pulling {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `drover container run FLAGS IMAGE ARGV`, not started yet.
    fn cmd(&self, flags: &[&str], image: &str, argv: &[&str]) -> Command {
        let mut c = self.drover(&["container", "run"]);
        c.args(flags).arg(image).args(argv);
        c
    }

    /// Starts `cmd` with its stdio piped to the test.
    fn start(&self, mut cmd: Command) -> Live<'_> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let out = std::thread::spawn(move || {
            let mut all = String::new();
            let mut line = String::new();
            while stdout.read_line(&mut line).unwrap_or(0) > 0 {
                all.push_str(&line);
                let _ = tx.send(line.trim_end_matches('\n').to_string());
                line.clear();
            }
            all
        });
        let mut stderr = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        Live {
            data: self,
            pid: child.id(),
            child,
            stdin,
            lines,
            out,
            err,
            started: Instant::now(),
        }
    }

    /// Runs to the end with stdin at EOF; panics on leftovers.
    fn run(&self, flags: &[&str], image: &str, argv: &[&str]) -> Run {
        self.start(self.cmd(flags, image, argv)).finish()
    }

    /// `busybox sh -c SCRIPT`.
    fn sh(&self, flags: &[&str], script: &str) -> Run {
        self.run(flags, "busybox", &["sh", "-c", script])
    }

    /// What a run left behind: cgroups, its container dir, its lease, host mounts.
    fn leftovers(&self, pid: u32) -> Vec<String> {
        let prefix = format!("run-{pid}-");
        let mut found = Vec::new();
        let mut parents = vec![PathBuf::from("/sys/fs/cgroup/drover")];
        if let Ok(dir) = std::fs::read_dir("/sys/fs/cgroup") {
            parents.extend(dir.flatten().map(|e| e.path().join("drover")));
        }
        parents.push(self.path().join("containers"));
        parents.push(self.path().join("image/leases"));
        for parent in parents {
            let Ok(dir) = std::fs::read_dir(&parent) else {
                continue;
            };
            for entry in dir.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    found.push(entry.path().display().to_string());
                }
            }
        }
        let data = self.path().display().to_string();
        for line in std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
        {
            if line.contains(&data) {
                found.push(format!("host mount: {line}"));
            }
        }
        found
    }

    /// The store's copy of `path` in the image's (only or top) layer that has it.
    fn layer_file(&self, path: &str) -> PathBuf {
        let layers = self.path().join("image/layers/sha256");
        for layer in std::fs::read_dir(&layers).unwrap().flatten() {
            let candidate = layer.path().join("fs").join(path);
            if candidate.symlink_metadata().is_ok() {
                return candidate;
            }
        }
        panic!("no layer under {} has {path}", layers.display())
    }
}

/// A running `drover container run`.
struct Live<'d> {
    data: &'d Data,
    pid: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    out: JoinHandle<String>,
    err: JoinHandle<String>,
    started: Instant,
}

impl Live<'_> {
    /// Waits for a stdout line equal to `want`; `false` if drover exits or time runs out.
    fn wait_for(&self, want: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == want => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    fn signal(&self, sig: Signal) {
        rustix::process::kill_process(Pid::from_raw(self.pid as i32).unwrap(), sig).unwrap();
    }

    /// Host pid of the task's init: drover's only child.
    fn task_pid(&self) -> Option<i32> {
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid)).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Closes stdin and waits (killing drover after [`TIMEOUT`]); panics on leftovers.
    fn finish(mut self) -> Run {
        drop(self.stdin.take());
        let deadline = self.started + TIMEOUT;
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let run = Run {
            code: status.code(),
            out: self.out.join().unwrap(),
            err: self.err.join().unwrap(),
            elapsed: self.started.elapsed(),
        };
        assert!(
            !timed_out,
            "drover ran longer than {TIMEOUT:?}: {}",
            run.text()
        );
        let left = self.data.leftovers(self.pid);
        assert!(
            left.is_empty(),
            "the run left behind: {left:#?}\n{}",
            run.text()
        );
        run
    }
}

/// A finished run.
struct Run {
    /// drover's exit code (`None`: drover itself was killed by a signal).
    code: Option<i32>,
    out: String,
    err: String,
    elapsed: Duration,
}

impl Run {
    fn text(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.out, self.err
        )
    }

    fn has_line(&self, want: &str) -> bool {
        self.out.lines().any(|l| l == want)
    }

    /// The value of the first stdout line `KEY=value`.
    fn value(&self, key: &str) -> Option<&str> {
        self.out
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }
}

// ---------------------------------------------------------------------------------------
// Tables.

/// A check of a finished run; `Err` says what is wrong.
type Check = fn(&Run) -> Result<(), String>;

/// One task and what must come of it (containerd-style: name, command, expected outcome).
struct Case {
    name: &'static str,
    flags: Vec<String>,
    image: String,
    argv: Vec<String>,
    code: i32,
    /// Lines stdout must contain.
    lines: Vec<String>,
    /// Text stdout or stderr must contain.
    contains: Vec<String>,
    /// Further checks, some against the host.
    check: Option<Check>,
}

/// A `busybox sh -c SCRIPT` case that exits 0.
fn case(name: &'static str, script: &str) -> Case {
    Case {
        name,
        flags: Vec::new(),
        image: "busybox".into(),
        argv: vec!["sh".into(), "-c".into(), script.into()],
        code: 0,
        lines: Vec::new(),
        contains: Vec::new(),
        check: None,
    }
}

impl Case {
    fn argv(mut self, argv: &[&str]) -> Self {
        self.argv = argv.iter().map(|s| s.to_string()).collect();
        self
    }
    fn flags(mut self, flags: &[&str]) -> Self {
        self.flags = flags.iter().map(|s| s.to_string()).collect();
        self
    }
    fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
    fn lines(mut self, lines: &[&str]) -> Self {
        self.lines.extend(lines.iter().map(|s| s.to_string()));
        self
    }
    fn contains(mut self, text: &[&str]) -> Self {
        self.contains.extend(text.iter().map(|s| s.to_string()));
        self
    }
    fn check(mut self, check: Check) -> Self {
        self.check = Some(check);
        self
    }

    fn verdict(&self, run: &Run) -> Result<(), String> {
        if run.code != Some(self.code) {
            return Err(format!("exit {:?}, want {}", run.code, self.code));
        }
        for line in &self.lines {
            if !run.has_line(line) {
                return Err(format!("no line {line:?}"));
            }
        }
        for text in &self.contains {
            if !run.out.contains(text) && !run.err.contains(text) {
                return Err(format!("no {text:?} in the output"));
            }
        }
        self.check.map_or(Ok(()), |check| check(run))
    }
}

/// Runs every case, then fails naming each case that did not hold.
fn run_table(cases: Vec<Case>) {
    let _shared = shared();
    let data = Data::new();
    let mut failed = Vec::new();
    for c in &cases {
        let flags: Vec<&str> = c.flags.iter().map(String::as_str).collect();
        let argv: Vec<&str> = c.argv.iter().map(String::as_str).collect();
        let run = data.run(&flags, &c.image, &argv);
        match c.verdict(&run) {
            Ok(()) => eprintln!("ok   {}", c.name),
            Err(why) => {
                eprintln!("FAIL {}: {why}", c.name);
                failed.push(format!("{}: {why}\n{}", c.name, run.text()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// The host's core_pattern, to compare after a task tried to change it.
struct CorePattern(Vec<u8>);

impl CorePattern {
    const PATH: &'static str = "/proc/sys/kernel/core_pattern";

    fn save() -> Self {
        CorePattern(std::fs::read(Self::PATH).unwrap())
    }

    /// Restores it if it changed, then fails.
    fn assert_unchanged(&self) {
        let now = std::fs::read(Self::PATH).unwrap();
        if now != self.0 {
            std::fs::write(Self::PATH, &self.0).unwrap();
            panic!(
                "a task changed the host's core_pattern to {:?} (restored)",
                String::from_utf8_lossy(&now)
            );
        }
    }
}

fn host_hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// What a task sees of its namespaces and the kernel interfaces runc hides or protects.
#[test]
fn isolation_cases() {
    run_table(vec![
        case(
            "pid namespace: pid 1 is the task and only its processes are visible",
            r#"sleep 60 & set -- /proc/[0-9]*; echo "pids=$*"; echo "sleeper=$!"; echo "self=$$"; echo "init=$(tr '\0' ' ' < /proc/1/cmdline)""#,
        )
        .lines(&["self=1"])
        .check(|run| {
            let sleeper = run.value("sleeper").ok_or("no sleeper line")?;
            let want = format!("/proc/1 /proc/{sleeper}");
            if run.value("pids") != Some(want.as_str()) {
                return Err(format!("pids {:?}, want {want:?}", run.value("pids")));
            }
            match run.value("init") {
                Some(init) if init.starts_with("sh -c sleep 60 &") => Ok(()),
                other => Err(format!("pid 1 runs {other:?}, not the task")),
            }
        }),
        case(
            "uts namespace: the hostname is the task's",
            r#"echo "hostname=$(hostname)"; echo "env=$HOSTNAME""#,
        )
        .check(|run| {
            let name = run.value("hostname").ok_or("no hostname line")?;
            if !name.starts_with("run-") || name == host_hostname() {
                return Err(format!("hostname {name:?} is not the task's"));
            }
            if run.value("env") != Some(name) {
                return Err(format!("HOSTNAME={:?}, hostname {name:?}", run.value("env")));
            }
            Ok(())
        }),
        case(
            "/proc/sys is read-only",
            r#"echo drover-test > /proc/sys/kernel/hostname; echo "write=$?"
               p=$(cat /proc/sys/kernel/core_pattern); echo "$p" > /proc/sys/kernel/core_pattern; echo "core=$?"
               awk '$2 == "/proc/sys" { print "mount=" $4 }' /proc/mounts"#,
        )
        .lines(&["write=1", "core=1"])
        .contains(&["Read-only file system"])
        .check(|run| match run.value("mount") {
            Some(opts) if opts.starts_with("ro,") => Ok(()),
            other => Err(format!("/proc/sys mounted {other:?}")),
        }),
        // `h` (help to the kernel log) is the one harmless sysrq, should a write get through.
        case(
            "/proc/sysrq-trigger cannot be written",
            r#"echo h > /proc/sysrq-trigger; echo "write=$?""#,
        )
        .lines(&["write=1"])
        .check(|run| {
            // This kernel may have no sysrq; where it has, the file must be read-only.
            if Path::new("/proc/sysrq-trigger").exists() && !run.err.contains("Read-only") {
                return Err("the host has /proc/sysrq-trigger; the write did not fail EROFS".into());
            }
            Ok(())
        }),
        case(
            "masked /proc files (kcore, keys, timer_list, interrupts …) read as nothing",
            r#"for f in /proc/kcore /proc/keys /proc/timer_list /proc/interrupts /proc/sched_debug /proc/latency_stats /proc/timer_stats; do
                   [ -e "$f" ] && echo "$f=$(wc -c < "$f")"
               done
               echo "acpi=$(ls -A /proc/acpi 2>/dev/null | wc -l)""#,
        )
        .lines(&["acpi=0"])
        .check(|run| {
            let interrupts = std::fs::read_to_string("/proc/interrupts").unwrap_or_default();
            if interrupts.is_empty() {
                return Err("precondition: the host's /proc/interrupts is empty".into());
            }
            for f in [
                "/proc/kcore",
                "/proc/keys",
                "/proc/timer_list",
                "/proc/interrupts",
                "/proc/sched_debug",
                "/proc/latency_stats",
                "/proc/timer_stats",
            ] {
                let seen = run.value(f);
                if Path::new(f).exists() && seen != Some("0") {
                    return Err(format!("{f} reads {seen:?} bytes in the task, want 0"));
                }
                if seen.is_some_and(|n| n != "0") {
                    return Err(format!("{f} reads {seen:?} bytes in the task"));
                }
            }
            Ok(())
        }),
        case(
            "/sys is read-only",
            r#"touch /sys/drover-test; echo "touch=$?"
               cat /sys/class/net/lo/mtu > /sys/class/net/lo/mtu; echo "write=$?"
               awk '$2 == "/sys" { print "mount=" $4 }' /proc/mounts"#,
        )
        .lines(&["touch=1", "write=1"])
        .contains(&["Read-only file system"])
        .check(|run| match run.value("mount") {
            Some(opts) if opts.starts_with("ro,") => Ok(()),
            other => Err(format!("/sys mounted {other:?}")),
        }),
        case(
            "/sys/firmware is empty",
            r#"echo "firmware=$(ls -A /sys/firmware | wc -l)""#,
        )
        .lines(&["firmware=0"])
        .check(|_| {
            let host = std::fs::read_dir("/sys/firmware").map_or(0, |d| d.count());
            if host == 0 {
                return Err("precondition: the host's /sys/firmware is empty".into());
            }
            Ok(())
        }),
        case(
            "/dev holds only the default devices",
            r#"echo dev=$(ls -A /dev)
               stat -c '%n %F %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
               echo "ptmx=$(readlink /dev/ptmx)""#,
        )
        .lines(&[
            &format!("dev={DEFAULT_DEV}"),
            "/dev/null character special file 1:3",
            "/dev/zero character special file 1:5",
            "/dev/full character special file 1:7",
            "/dev/random character special file 1:8",
            "/dev/urandom character special file 1:9",
            "/dev/tty character special file 5:0",
            "ptmx=pts/ptmx",
        ]),
        // The sleeper inherits exactly what pid 1 holds (sh's own redirections would
        // show up in pid 1's fd table itself); ls holds its directory as fd 3.
        case(
            "no fds leak into the task and its cwd is in its root (CVE-2024-21626)",
            r#"sleep 60 & ls /proc/$!/fd > /tmp/fds; echo init-fds=$(cat /tmp/fds)
               ls /proc/self/fd > /tmp/fds; echo ls-fds=$(cat /tmp/fds)
               echo "cwd=$(readlink /proc/1/cwd)""#,
        )
        .lines(&["init-fds=0 1 2", "ls-fds=0 1 2 3", "cwd=/"]),
        case(
            "inheritable and ambient capabilities are empty (CVE-2022-29162)",
            "grep -E '^Cap(Inh|Amb)' /proc/self/status",
        )
        .lines(&["CapInh:\t0000000000000000", "CapAmb:\t0000000000000000"]),
        case("no_new_privs is set", "grep NoNewPrivs /proc/self/status")
            .lines(&["NoNewPrivs:\t1"]),
        case(
            "environment: PATH, HOME, HOSTNAME and -e",
            r#"echo "PATH=$PATH"; echo "HOME=$HOME"; echo "DROVER_TEST=$DROVER_TEST"
               [ -n "$HOSTNAME" ] && [ "$HOSTNAME" = "$(hostname)" ] && echo hostname-matches"#,
        )
        .flags(&["-e", "DROVER_TEST=yes"])
        .lines(&[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "DROVER_TEST=yes",
            "hostname-matches",
        ]),
        case(
            "-user 65534 runs as nobody with no capabilities",
            r#"echo "ids=$(id -u):$(id -g)"; echo "HOME=$HOME"; grep -E '^Cap(Prm|Eff|Amb)' /proc/self/status"#,
        )
        .flags(&["-user", "65534"])
        .lines(&[
            "ids=65534:65534",
            "HOME=/nonexistent",
            "CapPrm:\t0000000000000000",
            "CapEff:\t0000000000000000",
            "CapAmb:\t0000000000000000",
        ]),
        case(
            "-user nobody resolves from the image's /etc/passwd",
            r#"echo "ids=$(id -u):$(id -g)"; grep CapEff /proc/self/status"#,
        )
        .flags(&["-user", "nobody"])
        .lines(&["ids=65534:65534", "CapEff:\t0000000000000000"]),
        case("exit 3 exits 3", "exit 3").code(3),
        case(
            "a process killed by SIGKILL reports 137",
            r#"sh -c 'kill -9 $$'; exit $?"#,
        )
        .code(137),
        // The kernel protects a pid namespace's init from its own namespace: the
        // 137 of a task killed from outside is tested in exit_codes_and_signals.
        case(
            "kill -9 from inside cannot kill the task's pid 1",
            r#"kill -9 $$; echo still-here"#,
        )
        .lines(&["still-here"]),
        case("a command not found exits 127", "")
            .argv(&["drover-test-nonexistent"])
            .code(127)
            .contains(&["drover-test-nonexistent", "executable file not found in $PATH"]),
        case("a file that cannot be executed exits 126", "")
            .argv(&["/etc/passwd"])
            .code(126)
            .contains(&["Permission denied"]),
        // Docker's capabilities include CAP_MKNOD: making the node works, opening it
        // (for writing: reading needs CAP_SYSLOG) must not. /dev/kmsg here; on other hosts
        // the same goes for the root disk.
        case(
            "a mknod'ed device outside the default set cannot be opened",
            r#"mknod /tmp/kmsg c 1 11 && echo made-tmp
               (exec 3> /tmp/kmsg) && echo opened-tmp
               mknod /dev/kmsg2 c 1 11 && echo made-dev
               (exec 3> /dev/kmsg2) && echo opened-dev
               echo x > /dev/null && echo null-works
               [ "$(head -c 3 /dev/zero | wc -c)" = 3 ] && echo zero-works
               (exec 3<> /dev/ptmx) && echo ptmx-works"#,
        )
        .lines(&["made-tmp", "made-dev", "null-works", "zero-works", "ptmx-works"])
        .check(|run| {
            if run.has_line("opened-tmp") || run.has_line("opened-dev") {
                return Err("the task opened /dev/kmsg through a device node it made".into());
            }
            Ok(())
        }),
    ]);
}

/// What `runtime::security` adds (runtime.md §2.2): Docker's capabilities, the seccomp
/// filter. Fails until it is wired into `confine.rs`.
#[test]
fn confinement_cases() {
    run_table(vec![
        case(
            "capabilities are Docker's 14",
            "grep -E '^Cap(Prm|Eff|Bnd|Inh|Amb)' /proc/self/status",
        )
        .lines(&[
            &format!("CapPrm:\t{DOCKER_CAPS}"),
            &format!("CapEff:\t{DOCKER_CAPS}"),
            &format!("CapBnd:\t{DOCKER_CAPS}"),
            "CapInh:\t0000000000000000",
            "CapAmb:\t0000000000000000",
        ]),
        case(
            "-user 65534 keeps only Docker's bounding set",
            "grep -E '^Cap(Eff|Bnd)' /proc/self/status",
        )
        .flags(&["-user", "65534"])
        .lines(&["CapEff:\t0000000000000000", &format!("CapBnd:\t{DOCKER_CAPS}")]),
        case("the seccomp filter is installed", "grep -E '^Seccomp:' /proc/self/status")
            .lines(&["Seccomp:\t2"]),
        case(
            "unshare -U is refused",
            r#"unshare -U true && echo unshared || echo refused"#,
        )
        .lines(&["refused"])
        .contains(&["Operation not permitted"]),
        case(
            "unshare -m is refused",
            r#"unshare -m true && echo unshared || echo refused"#,
        )
        .lines(&["refused"])
        .contains(&["Operation not permitted"]),
        case(
            "mount -t tmpfs is refused",
            r#"mkdir -p /tmp/m; mount -t tmpfs drover-test /tmp/m && echo mounted || echo refused"#,
        )
        .lines(&["refused"]),
        case(
            "a cgroup v1 hierarchy cannot be mounted, in a user namespace or not (CVE-2022-0492)",
            r#"mkdir -p /tmp/cg
               mount -t cgroup -o none,name=drover-test cgroup /tmp/cg && echo mounted || echo refused
               unshare -rm sh -c 'mount -t cgroup -o none,name=drover-test cgroup /tmp/cg' && echo mounted-userns || echo refused-userns"#,
        )
        .lines(&["refused", "refused-userns"]),
        case(
            "sethostname is refused",
            r#"hostname drover-test-renamed && echo renamed || echo refused"#,
        )
        .lines(&["refused"]),
        case(
            "loading a kernel module is refused with EPERM",
            r#"insmod /bin/busybox; modprobe drover-test-module; echo done"#,
        )
        .lines(&["done"])
        .contains(&["Operation not permitted"]),
    ]);
}

// ---------------------------------------------------------------------------------------
// Host-side checks.

/// The task cannot see or signal a host process.
#[test]
fn host_processes_cannot_be_seen_or_signalled() {
    let _shared = shared();
    let data = Data::new();
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let host = sleeper.id();
    let script = format!(
        r#"kill -9 {host}; echo "kill=$?"; [ -e /proc/{host} ] && echo visible || echo invisible
           ps -o pid,args"#
    );
    let run = data.sh(&[], &script);
    let alive = sleeper.try_wait().unwrap().is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(
        run.has_line("kill=1") && run.has_line("invisible"),
        "{}",
        run.text()
    );
    assert!(alive, "the task killed host process {host}");
    assert!(
        !run.out.contains("sleep 60"),
        "ps in the task shows the host's sleep: {}",
        run.text()
    );
}

/// Mounts in the task — the runtime's own (rootfs overlay, /proc, /dev) and any the task
/// manages to make — never show in the host's mount table.
#[test]
fn mounts_in_the_task_never_reach_the_host() {
    let _shared = shared();
    let data = Data::new();
    let probe = format!("drover-test-probe-{}", nanos());
    let script = format!(
        r#"mkdir -p /tmp/m
           mount -t tmpfs {probe} /tmp/m && echo mount=ok || echo mount=refused
           echo ready; read line || true"#
    );
    let live = data.start(data.cmd(&[], "busybox", &["sh", "-c", &script]));
    let ready = live.wait_for("ready", Duration::from_secs(20));
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let init = std::fs::read_to_string("/proc/1/mountinfo").unwrap();
    let run = live.finish();
    assert!(ready, "the task did not start: {}", run.text());
    assert_eq!(run.code, Some(0), "{}", run.text());
    let data_dir = data.path().display().to_string();
    for (table, text) in [
        ("/proc/self/mountinfo", &host),
        ("/proc/1/mountinfo", &init),
    ] {
        for line in text.lines() {
            assert!(
                !line.contains(&probe) && !line.contains(&data_dir),
                "a task's mount shows in the host's {table}: {line}"
            );
        }
    }
}

/// Writes through /proc, hostname changes, device writes and writes to the host's
/// resolv.conf (bound read-only into the task) change nothing on the host.
#[test]
fn hostile_writes_leave_the_host_unchanged() {
    let _shared = shared();
    let data = Data::new();
    let hostname = host_hostname();
    let core_pattern = CorePattern::save();
    let resolv = std::fs::read("/etc/resolv.conf").ok();
    let nonce = format!("drover-test-kmsg-{}", nanos());
    let script = format!(
        r#"hostname drover-test-renamed
           echo '|/tmp/drover-test-pwned' > /proc/sys/kernel/core_pattern
           echo drover-test > /proc/sys/kernel/hostname
           echo h > /proc/sysrq-trigger
           mknod /tmp/kmsg c 1 11 && echo {nonce} > /tmp/kmsg
           mknod /dev/kmsg c 1 11 && echo {nonce} > /dev/kmsg
           echo 'nameserver 192.0.2.66' >> /etc/resolv.conf
           umount /etc/resolv.conf && echo 'nameserver 192.0.2.66' >> /etc/resolv.conf
           echo done"#
    );
    let run = data.sh(&[], &script);
    assert!(run.has_line("done"), "{}", run.text());
    core_pattern.assert_unchanged();
    let resolv_now = std::fs::read("/etc/resolv.conf").ok();
    if resolv_now != resolv {
        if let Some(r) = &resolv {
            std::fs::write("/etc/resolv.conf", r).unwrap();
        }
        panic!("the task changed the host's /etc/resolv.conf (restored)");
    }
    let renamed = host_hostname();
    if renamed != hostname {
        rustix::system::sethostname(hostname.as_bytes()).unwrap();
        panic!("the task renamed the host to {renamed:?} (restored)");
    }
    let dmesg = Command::new("dmesg").output().unwrap();
    assert!(dmesg.status.success());
    assert!(
        !String::from_utf8_lossy(&dmesg.stdout).contains(&nonce),
        "the task wrote to the host's kernel log through a device node it made"
    );
}

/// CVE-2019-5736: the task cannot write any executable it can reach through
/// `/proc/*/exe`; the drover binary and the image's layer are unchanged.
#[test]
fn the_host_binary_cannot_be_overwritten_through_proc_exe() {
    let _shared = shared();
    let data = Data::new();
    let drover = Path::new(env!("CARGO_BIN_EXE_drover"));
    let fingerprint = |path: &Path| {
        let meta = std::fs::metadata(path).unwrap();
        let sum = Command::new("sha256sum").arg(path).output().unwrap();
        assert!(sum.status.success());
        let sum = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        (sum, meta.len(), meta.modified().unwrap())
    };
    let before = fingerprint(drover);
    let busybox = data.layer_file("bin/busybox");
    let busybox_before = fingerprint(&busybox);
    let script = r#"
        for e in /proc/[0-9]*/exe /proc/self/exe; do
            if (echo drover-test-5736 >> "$e") 2>/dev/null; then echo "wrote $e"; fi
            if (exec 3< "$e"; echo drover-test-5736 > /proc/self/fd/3) 2>/dev/null; then echo "reopened $e"; fi
            if (exec 3< "$e"; dd if=/dev/zero of=/proc/self/fd/3 bs=1 count=1 conv=notrunc) 2>/dev/null; then echo "dd $e"; fi
        done
        echo "exe=$(sha256sum /proc/1/exe | cut -d' ' -f1)"
        echo done"#;
    let run = data.sh(&[], script);
    assert!(run.has_line("done"), "{}", run.text());
    for verb in ["wrote", "reopened", "dd"] {
        assert!(
            !run.out.lines().any(|l| l.starts_with(verb)),
            "the task wrote an executable through /proc: {}",
            run.text()
        );
    }
    assert_ne!(
        run.value("exe"),
        Some(before.0.as_str()),
        "the task's pid 1 is the drover binary"
    );
    assert_eq!(fingerprint(drover), before, "the drover binary changed");
    assert_eq!(
        fingerprint(&busybox),
        busybox_before,
        "the image's busybox changed in the store"
    );
}

/// The task's writes land in its own upper directory: the store's layer is unchanged and
/// the next task sees the image as it was.
#[test]
fn writes_stay_in_the_tasks_own_layer() {
    let _shared = shared();
    let data = Data::new();
    let passwd = data.layer_file("etc/passwd");
    let original = std::fs::read(&passwd).unwrap();
    let run = data.sh(
        &[],
        "echo drover-test-pwned >> /etc/passwd && echo x > /bin/drover-test-file && rm /bin/sh && echo done",
    );
    assert!(run.has_line("done"), "{}", run.text());
    assert_eq!(std::fs::read(&passwd).unwrap(), original);
    assert!(data.layer_file("bin/sh").symlink_metadata().is_ok());
    let run = data.run(
        &[],
        "busybox",
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "cat /etc/passwd; ls /bin/drover-test-file; ls /bin/sh",
        ],
    );
    assert!(!run.out.contains("drover-test-pwned"), "{}", run.text());
    assert!(run.err.contains("drover-test-file"), "{}", run.text());
    assert!(run.has_line("/bin/sh"), "{}", run.text());
}

/// CVE-2024-21626: a directory fd drover inherits (here: a host directory with a secret)
/// never reaches the task, and a working directory through `/proc/self/fd/N` either fails
/// to start or stays inside the root.
#[test]
fn a_leaked_host_fd_is_unreachable() {
    let _shared = shared();
    let data = Data::new();
    let probe = tempfile::Builder::new()
        .prefix("drover-test-leak-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::write(probe.path().join("secret"), "drover-test-secret\n").unwrap();
    let dir = std::fs::File::open(probe.path()).unwrap();
    let n = dir.as_raw_fd();
    let inherit = |cmd: &mut Command| {
        // SAFETY: only dup2, async-signal-safe, between fork and exec; `dir` outlives
        // every child. dup2 leaves the copy without FD_CLOEXEC: drover inherits it.
        unsafe {
            cmd.pre_exec(move || {
                let mut leaked = OwnedFd::from_raw_fd(LEAKED);
                let r = rustix::io::dup2(BorrowedFd::borrow_raw(n), &mut leaked);
                std::mem::forget(leaked);
                r.map_err(std::io::Error::from)
            });
        }
    };
    // The mechanism works: a host process started the same way holds the directory.
    let mut check = Command::new("readlink");
    check.arg(format!("/proc/self/fd/{LEAKED}"));
    inherit(&mut check);
    let out = check.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        probe.path().display().to_string()
    );

    let script = format!(
        r#"ls /proc/self/fd > /tmp/fds; echo fds=$(cat /tmp/fds)
           cat /proc/self/fd/{LEAKED}/secret /proc/1/fd/{LEAKED}/secret"#
    );
    let mut cmd = data.cmd(&[], "busybox", &["sh", "-c", &script]);
    inherit(&mut cmd);
    let run = data.start(cmd).finish();
    assert!(run.has_line("fds=0 1 2 3"), "{}", run.text());
    assert!(!run.out.contains("drover-test-secret"), "{}", run.text());

    for fd in (3..=16).chain([LEAKED]) {
        let workdir = format!("/proc/self/fd/{fd}");
        let mut cmd = data.cmd(
            &["-workdir", &workdir],
            "busybox",
            &["sh", "-c", "echo \"pwd=$(pwd)\"; cat secret ../secret"],
        );
        inherit(&mut cmd);
        let run = data.start(cmd).finish();
        assert!(
            !run.out.contains("drover-test-secret"),
            "-workdir {workdir} reached the host: {}",
            run.text()
        );
        match run.code {
            Some(125) => assert!(
                run.err.contains("working directory"),
                "-workdir {workdir}: {}",
                run.text()
            ),
            Some(0) => {
                let pwd = run.value("pwd").unwrap_or_default();
                assert!(
                    pwd.starts_with('/') && !pwd.contains("drover-test-leak"),
                    "-workdir {workdir}: cwd {pwd:?} is outside the root"
                );
            }
            other => panic!("-workdir {workdir}: exit {other:?}: {}", run.text()),
        }
    }
    drop(dir);
}

/// Exit codes: a task killed from outside reports 137; signals reach the task; a second
/// interrupt kills it; a drover error is 125.
#[test]
fn exit_codes_and_signals() {
    let _shared = shared();
    let data = Data::new();

    let live = data.start(data.cmd(&[], "busybox", &["sh", "-c", "echo ready; sleep 60"]));
    assert!(live.wait_for("ready", Duration::from_secs(20)));
    let task = live.task_pid().expect("the task is drover's child");
    rustix::process::kill_process(Pid::from_raw(task).unwrap(), Signal::KILL).unwrap();
    let run = live.finish();
    assert_eq!(run.code, Some(137), "SIGKILL from the host: {}", run.text());

    let script = r#"trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done"#;
    let live = data.start(data.cmd(&[], "busybox", &["sh", "-c", script]));
    assert!(live.wait_for("ready", Duration::from_secs(20)));
    live.signal(Signal::TERM);
    let run = live.finish();
    assert_eq!(run.code, Some(7), "SIGTERM passed on: {}", run.text());
    assert!(run.has_line("got-term"), "{}", run.text());

    // A task that ignores SIGINT: the first interrupt is passed on and changes nothing,
    // the second kills the task.
    let mut live = data.start(data.cmd(
        &[],
        "busybox",
        &["sh", "-c", "trap '' INT; echo ready; sleep 60"],
    ));
    assert!(live.wait_for("ready", Duration::from_secs(20)));
    live.signal(Signal::INT);
    std::thread::sleep(Duration::from_millis(300));
    if !live.running() {
        panic!(
            "one interrupt ended a task that ignores it: {}",
            live.finish().text()
        );
    }
    live.signal(Signal::INT);
    let run = live.finish();
    assert_eq!(run.code, Some(137), "second interrupt: {}", run.text());
    assert!(run.elapsed < Duration::from_secs(20), "{}", run.text());

    let missing = format!("{}/drover-test/missing:1", registry());
    let run = data.run(&[], &missing, &["true"]);
    assert_eq!(run.code, Some(125), "{}", run.text());
    assert!(run.err.contains("drover-test/missing:1"), "{}", run.text());
}

/// A task over its memory limit is OOM-killed: 137 and drover says so.
#[test]
fn a_task_over_its_memory_limit_is_oom_killed() {
    let _exclusive = exclusive();
    let data = Data::new();
    let run = data.sh(
        &["-memory", "32"],
        r#"x=$(head -c 200000000 /dev/zero | tr '\0' a); echo "length=${#x}""#,
    );
    assert_eq!(run.code, Some(137), "{}", run.text());
    assert!(
        run.err.contains("was OOM killed (memory limit 32 MB)"),
        "{}",
        run.text()
    );
    assert!(run.value("length").is_none(), "{}", run.text());
}

/// The task's cgroup in the pids hierarchy (v1) or the unified one (v2).
fn pids_cgroup(drover: u32) -> Option<PathBuf> {
    let prefix = format!("run-{drover}-");
    ["/sys/fs/cgroup/pids/drover", "/sys/fs/cgroup/drover"]
        .iter()
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flat_map(|dir| dir.flatten())
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
}

/// A fork bomb stops at the task's pids limit (`-pids`, default 4096), inside its
/// cgroup, and the host stays responsive.
#[test]
fn a_fork_bomb_is_stopped_by_the_pids_limit() {
    let _exclusive = exclusive();
    let data = Data::new();
    let read_max = |live: &Live| {
        pids_cgroup(live.pid)
            .and_then(|cg| std::fs::read_to_string(cg.join("pids.max")).ok())
            .map(|s| s.trim().to_string())
    };

    let live = data.start(data.cmd(
        &[],
        "busybox",
        &["sh", "-c", "echo ready; read line || true"],
    ));
    assert!(live.wait_for("ready", Duration::from_secs(20)));
    let default = read_max(&live);
    live.finish();
    assert_eq!(default.as_deref(), Some("4096"), "default pids.max");

    const LIMIT: usize = 128;
    // Every bomber forks two more, then blocks on a fifo that never has data: the bomb
    // holds whatever it gets instead of dying out between samples. pid 1 waits with a
    // builtin (`read -t` on stdin) since it cannot fork once the cgroup is full; its exit
    // ends the bomb (the kernel kills the whole pid namespace).
    let script = r#"mkfifo /tmp/hold
                    sh -c 'exec 3<> /tmp/hold; b() { b & b & read x <&3; }; b' &
                    echo bombed; read -t 5 line; echo survived"#;
    let mut live = data.start(data.cmd(
        &["-pids", &LIMIT.to_string(), "-memory", "256"],
        "busybox",
        &["sh", "-c", script],
    ));
    let pid_max: usize = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (mut limit, mut max_tasks, mut max_host_procs, mut slowest) = (None, 0, 0, Duration::ZERO);
    while live.running() && live.started.elapsed() < TIMEOUT {
        if let Some(cg) = pids_cgroup(live.pid) {
            if limit.is_none() {
                limit = std::fs::read_to_string(cg.join("pids.max")).ok();
            }
            if let Some(n) = std::fs::read_to_string(cg.join("pids.current"))
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
            {
                max_tasks = max_tasks.max(n);
            }
        }
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap();
        let total: usize = loadavg
            .split_whitespace()
            .nth(3)
            .and_then(|f| f.split('/').nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        max_host_procs = max_host_procs.max(total);
        let t = Instant::now();
        assert!(Command::new("true").status().unwrap().success());
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = live.finish();
    eprintln!(
        "fork bomb: at most {max_tasks} tasks in the task's cgroup, {max_host_procs} \
         processes on the host; slowest host spawn {slowest:?}"
    );
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(
        run.has_line("bombed") && run.has_line("survived"),
        "{}",
        run.text()
    );
    assert_eq!(limit.as_deref().map(str::trim), Some("128"), "pids.max");
    assert!(
        (LIMIT - 8..=LIMIT).contains(&max_tasks),
        "the bomb reached {max_tasks} tasks, want close to the limit {LIMIT}"
    );
    assert!(
        max_host_procs < pid_max / 2,
        "the host ran to {max_host_procs} processes of {pid_max}"
    );
    assert!(
        slowest < Duration::from_secs(3),
        "the host took {slowest:?} to start a process"
    );
}

// ---------------------------------------------------------------------------------------
// Hostile images (scripts/testenv/mkimage.py: evil-*).

/// CVE-2019-19921: an image whose /proc is a symlink does not start, and says why.
#[test]
fn an_image_with_a_symlinked_proc_does_not_start() {
    let _shared = shared();
    let data = Data::new();
    let image = evil("proc");
    data.pull(&image);
    let run = data.run(&[], &image, &["sh", "-c", "echo started"]);
    assert_eq!(run.code, Some(125), "{}", run.text());
    assert!(
        run.err.contains("mount target /proc is a symlink"),
        "{}",
        run.text()
    );
    assert!(!Path::new("/tmp/drover-test-fakeproc").exists());
}

/// CVE-2026-41579: an image whose /dev points at a host directory does not start, and
/// the host directory is untouched.
#[test]
fn an_image_with_a_symlinked_dev_leaves_the_host_dir_untouched() {
    let _shared = shared();
    let data = Data::new();
    let image = evil("dev");
    data.pull(&image);
    let hostdev = Path::new("/tmp/drover-test-hostdev");
    let _ = std::fs::remove_dir_all(hostdev);
    std::fs::create_dir(hostdev).unwrap();
    std::fs::write(hostdev.join("ptmx"), "drover-test\n").unwrap();
    let run = data.run(&[], &image, &["sh", "-c", "echo started"]);
    let listing: BTreeSet<String> = std::fs::read_dir(hostdev)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let ptmx = std::fs::read_to_string(hostdev.join("ptmx"));
    std::fs::remove_dir_all(hostdev).unwrap();
    assert_eq!(
        listing,
        BTreeSet::from(["ptmx".to_string()]),
        "the runtime wrote into the host directory"
    );
    assert_eq!(ptmx.unwrap(), "drover-test\n");
    assert_eq!(run.code, Some(125), "{}", run.text());
    assert!(
        run.err.contains("mount target /dev is a symlink"),
        "{}",
        run.text()
    );
}

/// CVE-2025-31133: an image's /dev/null pointing at core_pattern changes nothing: the
/// task gets a real null device, masking still hides what it should, and the host's
/// core_pattern is unchanged.
#[test]
fn an_image_with_a_symlinked_dev_null_cannot_redirect_masking() {
    let _shared = shared();
    let data = Data::new();
    let image = evil("devnull");
    data.pull(&image);
    let core_pattern = CorePattern::save();
    let script = r#"stat -c '%n %F %t:%T' /dev/null
                    echo "interrupts=$(wc -c < /proc/interrupts)"
                    echo '|/tmp/drover-test-pwned' > /dev/null && echo written"#;
    let run = data.run(&[], &image, &["sh", "-c", script]);
    core_pattern.assert_unchanged();
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(
        run.has_line("/dev/null character special file 1:3")
            && run.has_line("interrupts=0")
            && run.has_line("written"),
        "{}",
        run.text()
    );
}

/// A bind-mount target that is a symlink into procfs (/etc/hosts -> core_pattern): the
/// task does not start (the error names the path) or the bind lands inside the root; the
/// host's core_pattern is unchanged either way.
#[test]
fn an_image_with_a_symlinked_bind_target_cannot_redirect_the_bind() {
    let _shared = shared();
    let data = Data::new();
    let image = evil("hosts");
    data.pull(&image);
    let core_pattern = CorePattern::save();
    let run = data.run(&[], &image, &["sh", "-c", "cat /etc/hosts"]);
    core_pattern.assert_unchanged();
    match run.code {
        Some(125) => assert!(
            run.err.contains("mount target /etc/hosts is a symlink"),
            "{}",
            run.text()
        ),
        Some(0) => assert!(run.out.contains("localhost"), "{}", run.text()),
        _ => panic!("{}", run.text()),
    }
}

/// Arguments after the image belong to the task: the CLI's rewriting of Nomad-style
/// `-flag` must not touch them.
#[test]
fn task_arguments_reach_the_task_unchanged() {
    let _shared = shared();
    let data = Data::new();
    let run = data.run(&[], "busybox", &["echo", "-ne", "a", "-data-dir", "--x"]);
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert_eq!(run.out, "a -data-dir --x", "{}", run.text());
}

/// `-net PATH` joins a network namespace made for the task (here one the test creates):
/// the task sees only its interfaces, and the host's are untouched.
#[test]
fn a_task_joins_the_network_namespace_it_is_given() {
    let _shared = shared();
    let data = Data::new();
    let name = format!("drover-test-net-{}", std::process::id());
    let ip = |args: &[&str]| Command::new("ip").args(args).status().unwrap().success();
    assert!(ip(&["netns", "add", &name]), "ip netns add {name}");
    let path = format!("/var/run/netns/{name}");
    let inside = data.sh(
        &["-net", &path],
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
    );
    let host = data.sh(
        &[],
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
    );
    assert!(ip(&["netns", "del", &name]));
    assert_eq!(inside.code, Some(0), "{}", inside.text());
    assert_eq!(
        inside.out.trim(),
        "lo",
        "only the namespace's loopback: {}",
        inside.text()
    );
    assert!(
        host.out.lines().count() > 1,
        "the host network has more than lo: {}",
        host.text()
    );
    let missing = data.sh(&["-net", "/var/run/netns/drover-test-no-such-ns"], "true");
    assert_eq!(missing.code, Some(125), "{}", missing.text());
    assert!(
        missing.err.contains("drover-test-no-such-ns"),
        "{}",
        missing.text()
    );
}
