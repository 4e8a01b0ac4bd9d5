//! Fixture tests of the v2 manager: kernel files written into a tempdir.

use super::*;
use std::fs as stdfs;

const MEMORY_STAT_V2: &str = "\
anon 2097152
file 1048576
kernel 196608
kernel_stack 32768
pagetables 65536
sec_pagetables 0
percpu 0
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 8192
file_dirty 0
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon 2093056
active_anon 4096
inactive_file 524288
active_file 524288
unevictable 0
slab_reclaimable 40000
slab_unreclaimable 50000
slab 90000
workingset_refault_anon 0
pgfault 1500
pgmajfault 2
";

const CPU_STAT_V2: &str = "\
usage_usec 2500000
user_usec 1500000
system_usec 1000000
core_sched.force_idle_usec 0
nr_periods 40
nr_throttled 12
throttled_usec 345000
nr_bursts 0
burst_usec 0
";

fn set(dir: &Path, file: &str, content: &str) {
    stdfs::write(dir.join(file), content).unwrap();
}

fn fixture() -> (tempfile::TempDir, V2) {
    let tmp = tempfile::tempdir().unwrap();
    let cgroup = V2::new(
        tmp.path().to_path_buf(),
        PathBuf::from("drover/t1"),
        "t1".into(),
    );
    stdfs::create_dir_all(cgroup.path()).unwrap();
    let dir = cgroup.path().to_path_buf();
    set(&dir, "memory.current", "4194304\n");
    set(&dir, "memory.stat", MEMORY_STAT_V2);
    set(&dir, "cpu.stat", CPU_STAT_V2);
    set(&dir, "pids.current", "3\n");
    set(&dir, "pids.max", "20\n");
    set(&dir, "pids.events", "max 5\n");
    set(
        &dir,
        "memory.events",
        "low 0\nhigh 0\nmax 7\noom 1\noom_kill 0\noom_group_kill 0\n",
    );
    (tmp, cgroup)
}

#[test]
fn stats_from_v2_files() {
    let (_tmp, cgroup) = fixture();
    let stats = cgroup.stats().unwrap();
    let m = stats.memory;
    assert_eq!(m.usage, Bytes(4_194_304));
    assert_eq!(m.rss, Bytes(2_097_152));
    assert_eq!(m.cache, Bytes(1_048_576));
    assert_eq!(m.mapped_file, Bytes(8192));
    assert_eq!(m.kernel_usage, Some(Bytes(196_608)));
    assert_eq!(m.working_set, Bytes(4_194_304 - 524_288));
    // memory.peak / memory.swap.current absent (old kernel, no swap): not measured.
    assert_eq!(m.max_usage, None);
    assert_eq!(m.swap, None);
    assert_eq!(m.kernel_max_usage, None);

    let c = stats.cpu;
    assert_eq!(c.total, Duration::from_millis(2500));
    assert_eq!(c.user, Duration::from_millis(1500));
    assert_eq!(c.system, Duration::from_millis(1000));
    let t = c.throttling.unwrap();
    assert_eq!(
        (t.periods, t.throttled_periods, t.throttled_time),
        (40, 12, Duration::from_millis(345))
    );

    let p = stats.pids.unwrap();
    assert_eq!((p.current, p.limit, p.limit_hits), (3, Some(20), Some(5)));
}

#[test]
fn optional_v2_files_when_present() {
    let (_tmp, cgroup) = fixture();
    set(cgroup.path(), "memory.peak", "9000000\n");
    set(cgroup.path(), "memory.swap.current", "4096\n");
    set(cgroup.path(), "pids.max", "max\n");
    // Older kernel without the `kernel` key; cpu controller not enabled.
    set(
        cgroup.path(),
        "memory.stat",
        "anon 1\nfile 2\nfile_mapped 3\ninactive_file 1\n",
    );
    set(
        cgroup.path(),
        "cpu.stat",
        "usage_usec 10\nuser_usec 6\nsystem_usec 4\n",
    );
    let stats = cgroup.stats().unwrap();
    assert_eq!(stats.memory.max_usage, Some(Bytes(9_000_000)));
    assert_eq!(stats.memory.swap, Some(Bytes(4096)));
    assert_eq!(stats.memory.nomad_swap(), Some(Bytes(4_194_304 + 4096)));
    assert_eq!(stats.memory.kernel_usage, None);
    assert_eq!(stats.cpu.throttling, None);
    assert_eq!(stats.cpu.total, Duration::from_micros(10));
    assert_eq!(stats.pids.unwrap().limit, None);
}

#[test]
fn without_memory_controller_stats_say_so() {
    let (_tmp, cgroup) = fixture();
    stdfs::remove_file(cgroup.path().join("memory.current")).unwrap();
    let err = cgroup.stats().unwrap_err();
    assert!(
        matches!(err, CgroupError::MissingController { name: "memory", .. }),
        "{err}"
    );
    stdfs::remove_file(cgroup.path().join("memory.events")).unwrap();
    assert!(matches!(
        cgroup.oom_killed(),
        Err(CgroupError::MissingController { name: "memory", .. })
    ));
}

#[test]
fn oom_events_against_baseline() {
    let (_tmp, mut cgroup) = fixture();
    // A leftover cgroup that already saw two kills before this task started.
    set(
        cgroup.path(),
        "memory.events",
        "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n",
    );
    cgroup.oom_baseline = Some(cgroup.oom_count().unwrap());
    assert!(!cgroup.oom_killed().unwrap());
    set(
        cgroup.path(),
        "memory.events",
        "low 0\nhigh 0\nmax 12\noom 3\noom_kill 3\noom_group_kill 1\n",
    );
    assert!(cgroup.oom_killed().unwrap());
}

#[test]
fn oom_prefers_local_events() {
    let (_tmp, cgroup) = fixture();
    // Hierarchical counter moved (a host-wide OOM in a child, say), local did not.
    set(
        cgroup.path(),
        "memory.events",
        "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n",
    );
    set(
        cgroup.path(),
        "memory.events.local",
        "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    );
    assert!(!cgroup.oom_killed().unwrap());
    set(
        cgroup.path(),
        "memory.events.local",
        "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n",
    );
    assert!(cgroup.oom_killed().unwrap());
}

#[test]
fn malformed_memory_events_is_an_error() {
    let (_tmp, cgroup) = fixture();
    set(cgroup.path(), "memory.events", "oom_kill one\n");
    let err = cgroup.oom_killed().unwrap_err();
    assert!(matches!(err, CgroupError::Parse { .. }), "{err}");
    set(cgroup.path(), "memory.events", "oom 1\n");
    let err = cgroup.oom_killed().unwrap_err();
    assert!(
        matches!(&err, CgroupError::MissingKey { key, .. } if key == "oom_kill"),
        "{err}"
    );
}

#[test]
fn enables_only_available_controllers_not_yet_enabled() {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        controllers_to_enable(
            &words("cpuset cpu io memory hugetlb pids"),
            &words("memory")
        ),
        ["cpu", "pids", "cpuset", "io"]
    );
    // The hybrid host's controller-less cgroup2 mount.
    assert!(controllers_to_enable(&words("hugetlb"), &[]).is_empty());
    assert!(controllers_to_enable(
        &words("cpu memory pids cpuset io"),
        &words("cpu memory pids cpuset io")
    )
    .is_empty());
}
