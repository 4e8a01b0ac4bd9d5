//! The driver API with real shims (the `drover` binary), real namespaces and cgroups, and
//! images from the test registry: start, logs, exit, stop, stats, OOM, and tasks that
//! outlive the process that started them.

mod common;

use common::registry;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drover_driver::cgroup::{Bytes, MemoryLimits, Resources};
use drover_driver::image::{ImageRef, ImageStore, StoreLimits};
use drover_driver::runtime::{
    Driver, DriverConfig, LogConfig, Process, Recovered, Rootfs, Security, StartRequest,
    TaskHandle, TaskSpec,
};

struct Env {
    dir: tempfile::TempDir,
    driver: Driver,
    /// Unique per test: tests run in parallel threads of one process.
    parent: String,
}

impl Drop for Env {
    fn drop(&mut self) {
        // Tasks are destroyed by each test; a test that failed half-way may leave some:
        // kill and remove whatever is under the test-unique parent, then the parent.
        let parent = &self.parent;
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = hierarchy.path().join(parent);
            for task in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if task.path().is_dir() {
                    let procs = std::fs::read_to_string(task.path().join("cgroup.procs"))
                        .unwrap_or_default();
                    for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                        // SAFETY: kill takes no pointers.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = hierarchy.path().join(parent);
            for task in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let _ = std::fs::remove_dir(task.path());
            }
        }
        let _ = self.driver.cleanup();
    }
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("drover-test-driver-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["image", "pull", "-q", "--data-dir"])
            .arg(dir.path())
            .arg(format!("{}/library/busybox:latest", registry()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parent = format!("drover-test-{}-{n}", std::process::id());
        let driver = Driver::new(DriverConfig {
            shim_exe: PathBuf::from(env!("CARGO_BIN_EXE_drover-shim")),
            cgroup_parent: parent.clone().into(),
        })
        .unwrap();
        Env {
            dir,
            driver,
            parent,
        }
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    /// A busybox task running `sh -c script`.
    fn request(&self, name: &str, script: &str, resources: Resources) -> StartRequest {
        let store = ImageStore::open(self.data().join("image"), StoreLimits::default()).unwrap();
        let image = ImageRef::parse(&format!("{}/library/busybox:latest", registry())).unwrap();
        let record = store.resolve(&image).unwrap().expect("busybox pulled");
        let state = self.data().join("tasks").join(name);
        StartRequest {
            spec: TaskSpec {
                id: format!("{name}-{}", std::process::id()),
                rootfs: Rootfs::Overlay {
                    layers: record
                        .layers
                        .iter()
                        .map(|l| store.layer_fs(&l.diff_id))
                        .collect(),
                    upper: state.join("upper"),
                    work: state.join("work"),
                    target: state.join("rootfs"),
                },
                process: Process {
                    args: vec!["sh".into(), "-c".into(), script.into()],
                    env: vec!["PATH=/bin".into()],
                    cwd: "/".into(),
                    user: String::new(),
                    nofile: None,
                },
                hostname: Some(name.into()),
                mounts: vec![],
                netns: None,
                pid_namespace: true,
                ipc_namespace: true,
                security: Security::container_default(),
            },
            resources,
            logs: LogConfig::new(self.data().join("alloc/logs"), name),
            state_dir: state,
        }
    }

    fn log(&self, name: &str, stream: &str) -> String {
        std::fs::read_to_string(self.data().join(format!("alloc/logs/{name}.{stream}.0")))
            .unwrap_or_default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_task_runs_logs_its_output_and_reports_its_exit() {
    let env = Env::new();
    let fp = env.driver.fingerprint();
    assert!(fp.healthy, "{fp:?}");
    let handle = env
        .driver
        .start(env.request(
            "hello",
            "echo out; echo err >&2; hostname; exit 7",
            Resources::default(),
        ))
        .unwrap();
    let exit = runtime().block_on(env.driver.wait(&handle)).unwrap();
    assert_eq!((exit.code, exit.signal, exit.oom_killed), (7, None, false));
    assert_eq!(env.log("hello", "stdout"), "out\nhello\n");
    assert_eq!(env.log("hello", "stderr"), "err\n");
    env.driver.destroy(&handle).unwrap();
    assert!(!handle.state_dir.exists());

    // A command that is not in the image fails the start, with the reason.
    let mut req = env.request("missing2", "", Resources::default());
    req.spec.process.args = vec!["no-such-program".into()];
    let err2 = env.driver.start(req).unwrap_err().to_string();
    assert!(
        err2.contains("no-such-program") && err2.contains("not found"),
        "{err2}"
    );
}

#[test]
fn stop_sends_the_kill_signal_then_kills_after_the_timeout() {
    let env = Env::new();
    let rt = runtime();
    let polite = env
        .driver
        .start(env.request(
            "polite",
            "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.05; done",
            Resources::default(),
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let exit = rt
        .block_on(
            env.driver
                .stop(&polite, libc::SIGTERM, Duration::from_secs(5)),
        )
        .unwrap();
    assert_eq!((exit.code, exit.signal), (0, None));
    assert!(env.log("polite", "stdout").contains("got TERM"));

    let stubborn = env
        .driver
        .start(env.request(
            "stubborn",
            "trap '' TERM INT; while true; do sleep 0.05; done",
            Resources::default(),
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let exit = rt
        .block_on(
            env.driver
                .stop(&stubborn, libc::SIGTERM, Duration::from_millis(500)),
        )
        .unwrap();
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    assert!(started.elapsed() >= Duration::from_millis(500));
    for h in [polite, stubborn] {
        env.driver.destroy(&h).unwrap();
    }
}

#[test]
fn stats_come_from_cgroup_files_and_oom_kills_are_reported() {
    let env = Env::new();
    let busy = env
        .driver
        .start(env.request(
            "busy",
            "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5",
            Resources::default(),
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let stats = env.driver.stats(&busy).unwrap();
    assert!(stats.cpu.total > Duration::from_millis(50), "{stats:?}");
    assert!(stats.memory.usage.0 > 0, "{stats:?}");
    env.driver.destroy(&busy).unwrap();

    let limits = Resources {
        memory: MemoryLimits {
            hard: Some(Bytes::from_mib(32)),
            reservation: None,
        },
        ..Default::default()
    };
    let hog = env
        .driver
        .start(env.request(
            "hog",
            "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}",
            limits,
        ))
        .unwrap();
    let exit = runtime().block_on(env.driver.wait(&hog)).unwrap();
    assert!(exit.oom_killed, "{exit:?}");
    env.driver.destroy(&hog).unwrap();
}

/// The process that started a task goes away (as an agent killed with -9 does): the task
/// keeps running and logging under its shim, a new driver recovers it from the handle,
/// and an exit that happened meanwhile is reported afterwards.
#[test]
fn tasks_outlive_the_process_that_started_them() {
    let env = Env::new();
    let start_detached = |script: &str| -> TaskHandle {
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["container", "run", "-detach", "--data-dir"])
            .arg(env.data())
            .arg(format!("{}/library/busybox:latest", registry()))
            .args(["sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // The starter has exited: the shim now belongs to init, in its own session.
    let running = start_detached("i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", running.shim_pid)).unwrap();
    let ppid: i32 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, std::process::id() as i32);

    let driver = Driver::new(DriverConfig {
        shim_exe: PathBuf::from(env!("CARGO_BIN_EXE_drover-shim")),
        cgroup_parent: "drover".into(),
    })
    .unwrap();
    assert_eq!(driver.recover(&running).unwrap(), Recovered::Running);
    let log = running.state_dir.join("logs/task.stdout.0");
    let before = std::fs::read_to_string(&log).unwrap().lines().count();
    std::thread::sleep(Duration::from_millis(500));
    let after = std::fs::read_to_string(&log).unwrap();
    assert!(after.lines().count() > before, "logs stopped flowing");
    // No line lost: the counter runs without gaps.
    for (i, line) in after.lines().enumerate() {
        assert_eq!(line, format!("line {i}"));
    }
    let exit = runtime()
        .block_on(driver.stop(&running, libc::SIGKILL, Duration::from_secs(5)))
        .unwrap();
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    driver.destroy(&running).unwrap();

    let finished = start_detached("sleep 0.3; exit 3");
    std::thread::sleep(Duration::from_millis(1500));
    match driver.recover(&finished).unwrap() {
        Recovered::Exited(exit) => assert_eq!(exit.code, 3),
        other => panic!("expected an exit, got {other:?}"),
    }
    driver.destroy(&finished).unwrap();
    // The parent detached tasks share; gone once no task of another test is in it.
    let _ = driver.cleanup();
}

fn read_log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.stdout.0"))).unwrap_or_default()
}

/// Nomad's exec driver: a host command in a task dir whose chroot_env directories are
/// bound read-only, as `nobody`, in its own PID namespace, with /alloc, /local, /secrets.
#[test]
fn exec_tasks_run_host_commands_in_a_read_only_chroot() {
    use drover_driver::runtime::drivers::{exec_spec, ExecTask, TaskDirs};
    let env = Env::new();
    let base = env.data().join("alloc-exec");
    let dirs = TaskDirs {
        alloc: base.join("alloc"),
        local: base.join("t/local"),
        secrets: base.join("t/secrets"),
    };
    for d in [&dirs.alloc, &dirs.local, &dirs.secrets] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(dirs.local.join("hello"), "from local\n").unwrap();
    let root = base.join("t/root");
    std::fs::create_dir_all(&root).unwrap();
    let marker = format!("/usr/drover-test-exec-{}", std::process::id());
    let spec = exec_spec(&ExecTask {
        id: format!("exec-{}", std::process::id()),
        command: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            format!("id -u; cat /local/hello; echo $$; touch {marker} 2>/dev/null || echo ro; ls /alloc >/dev/null && echo alloc; grep CapEff /proc/self/status"),
        ],
        env: vec!["PATH=/usr/bin:/bin".into()],
        user: None,
        work_dir: None,
        cap_add: vec![],
        cap_drop: vec![],
        chroot_env: None,
        root,
        image_rootfs: None,
        dirs,
    })
    .unwrap();
    let logs = env.data().join("exec-logs");
    let handle = env
        .driver
        .start(StartRequest {
            spec,
            resources: Resources::default(),
            logs: LogConfig::new(&logs, "exec"),
            state_dir: env.data().join("tasks/exec"),
        })
        .unwrap();
    let exit = runtime().block_on(env.driver.wait(&handle)).unwrap();
    let out = read_log(&logs, "exec");
    assert_eq!(exit.code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "65534", "runs as nobody: {out}");
    assert_eq!(lines[1], "from local");
    assert_eq!(lines[2], "1", "PID 1 of its own namespace: {out}");
    assert_eq!(lines[3], "ro", "chroot_env is read-only: {out}");
    assert_eq!(lines[4], "alloc");
    // Nomad puts the exec caps in the ambient set of a non-root user (13 caps, no NET_RAW).
    assert!(lines[5].ends_with("00000000a80405fb"), "{out}");
    assert!(!Path::new(&marker).exists());
    env.driver.destroy(&handle).unwrap();
}

/// raw_exec: the host's filesystem and PID namespace; only the cgroup is the task's.
#[test]
fn raw_exec_tasks_share_the_host_but_have_their_cgroup() {
    use drover_driver::runtime::drivers::{raw_exec_spec, RawExecTask};
    let env = Env::new();
    let out_file = env.data().join("raw-out");
    let spec = raw_exec_spec(&RawExecTask {
        id: format!("raw-{}", std::process::id()),
        command: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            format!("echo $$ > {}; cat /proc/self/cgroup", out_file.display()),
        ],
        env: vec!["PATH=/usr/bin:/bin".into()],
        user: None,
        work_dir: env.data().to_path_buf(),
    });
    let logs = env.data().join("raw-logs");
    let handle = env
        .driver
        .start(StartRequest {
            spec,
            resources: Resources::default(),
            logs: LogConfig::new(&logs, "raw"),
            state_dir: env.data().join("tasks/raw"),
        })
        .unwrap();
    let exit = runtime().block_on(env.driver.wait(&handle)).unwrap();
    assert_eq!(exit.code, 0);
    let pid: i32 = std::fs::read_to_string(&out_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, handle.pid, "host PID namespace");
    let cgroups = read_log(&logs, "raw");
    assert!(
        cgroups.contains(&format!("raw-{}", std::process::id())),
        "{cgroups}"
    );
    env.driver.destroy(&handle).unwrap();
}

/// `alloc exec`: a command inside the running task sees its PID namespace, hostname,
/// root, user and confinement, and returns its own exit code.
#[test]
fn exec_runs_commands_inside_a_running_task() {
    let env = Env::new();
    let handle = env
        .driver
        .start(env.request(
            "target",
            "echo task-was-here > /tmp/mark; sleep 30",
            Resources::default(),
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let script = "echo $$; hostname; cat /tmp/mark; cat /proc/1/cmdline | tr '\\0' ' '; echo; grep -E 'CapEff|Seccomp:' /proc/self/status";
    let out = env
        .driver
        .exec_command(&handle, &["sh".into(), "-c".into(), script.into()], false)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let pid: i32 = lines[0].parse().unwrap();
    assert!(
        pid > 1 && pid < 100,
        "a pid of the task's namespace: {text}"
    );
    assert_eq!(lines[1], "target");
    assert_eq!(lines[2], "task-was-here", "the task's own root");
    // busybox sh execs its last command, so the task's PID 1 is now `sleep`.
    assert_eq!(lines[3].trim(), "sleep 30", "{text}");
    assert!(
        lines[4].ends_with("00000000a80425fb"),
        "confined like the task: {text}"
    );
    assert!(lines[5].ends_with('2'), "seccomp: {text}");

    let code = env
        .driver
        .exec_command(&handle, &["sh".into(), "-c".into(), "exit 5".into()], false)
        .status()
        .unwrap();
    assert_eq!(code.code(), Some(5));
    let missing = env
        .driver
        .exec_command(&handle, &["no-such-cmd".into()], false)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-cmd"));

    runtime()
        .block_on(
            env.driver
                .stop(&handle, libc::SIGKILL, Duration::from_secs(5)),
        )
        .unwrap();
    let gone = env
        .driver
        .exec_command(&handle, &["true".into()], false)
        .output()
        .unwrap();
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("not running")
            || String::from_utf8_lossy(&gone.stderr).contains("exited")
    );
    env.driver.destroy(&handle).unwrap();
}
