//! Fixture tests of the v1 manager: kernel files written into a tempdir.

use super::*;
use std::fs as stdfs;

const MEMORY_STAT_V1: &str = "\
cache 1048576
rss 2097152
rss_huge 0
shmem 0
mapped_file 4096
dirty 0
writeback 0
swap 0
pgpgin 100
pgpgout 50
pgfault 300
pgmajfault 0
inactive_anon 2097152
active_anon 0
inactive_file 524288
active_file 524288
unevictable 0
hierarchical_memory_limit 33554432
hierarchical_memsw_limit 33554432
total_cache 1052672
total_rss 2101248
total_rss_huge 0
total_shmem 0
total_mapped_file 8192
total_dirty 0
total_writeback 0
total_swap 4096
total_pgpgin 100
total_pgpgout 50
total_pgfault 300
total_pgmajfault 0
total_inactive_anon 2097152
total_active_anon 0
total_inactive_file 528384
total_active_file 524288
total_unevictable 0
";

struct Fixture {
    _tmp: tempfile::TempDir,
    cgroup: V1,
}

fn set(dir: &Path, file: &str, content: &str) {
    stdfs::create_dir_all(dir).unwrap();
    stdfs::write(dir.join(file), content).unwrap();
}

/// A fake v1 layout: one directory per controller with `drover/t1` below it.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let mounts = V1Mounts::new(
        V1Controller::ALL
            .into_iter()
            .map(|c| (c, tmp.path().join(c.name()))),
    );
    let cgroup = V1::new(mounts, PathBuf::from("drover/t1"), "t1".into())
        .unwrap()
        .with_clock_ticks(100);
    let memory = cgroup.dir(V1Controller::Memory).unwrap();
    set(&memory, "memory.stat", MEMORY_STAT_V1);
    set(&memory, "memory.usage_in_bytes", "4194304\n");
    set(&memory, "memory.max_usage_in_bytes", "8388608\n");
    set(&memory, "memory.kmem.usage_in_bytes", "65536\n");
    set(
        &memory,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    );
    let acct = cgroup.dir(V1Controller::Cpuacct).unwrap();
    set(&acct, "cpuacct.usage", "2500000000\n");
    set(&acct, "cpuacct.stat", "user 150\nsystem 75\n");
    let cpu = cgroup.dir(V1Controller::Cpu).unwrap();
    set(
        &cpu,
        "cpu.stat",
        "nr_periods 40\nnr_throttled 12\nthrottled_time 345000000\nnr_bursts 0\nburst_time 0\n",
    );
    let pids = cgroup.dir(V1Controller::Pids).unwrap();
    set(&pids, "pids.current", "3\n");
    set(&pids, "pids.max", "max\n");
    Fixture { _tmp: tmp, cgroup }
}

#[test]
fn stats_from_v1_files() {
    let f = fixture();
    let stats = f.cgroup.stats().unwrap();
    let m = stats.memory;
    assert_eq!(m.usage, Bytes(4_194_304));
    assert_eq!(m.max_usage, Some(Bytes(8_388_608)));
    // Hierarchical totals win over the cgroup-local values.
    assert_eq!(m.rss, Bytes(2_101_248));
    assert_eq!(m.cache, Bytes(1_052_672));
    assert_eq!(m.mapped_file, Bytes(8192));
    assert_eq!(m.swap, Some(Bytes(4096)));
    assert_eq!(m.kernel_usage, Some(Bytes(65_536)));
    // Absent file (newer kernels dropped it): not measured, not zero.
    assert_eq!(m.kernel_max_usage, None);
    assert_eq!(m.working_set, Bytes(4_194_304 - 528_384));

    let c = stats.cpu;
    assert_eq!(c.total, Duration::from_millis(2500));
    // 150 and 75 ticks of 1/100 s.
    assert_eq!(c.user, Duration::from_millis(1500));
    assert_eq!(c.system, Duration::from_millis(750));
    let t = c.throttling.unwrap();
    assert_eq!(t.periods, 40);
    assert_eq!(t.throttled_periods, 12);
    assert_eq!(t.throttled_time, Duration::from_millis(345));

    let p = stats.pids.unwrap();
    assert_eq!(p.current, 3);
    assert_eq!(p.limit, None);
    assert_eq!(p.limit_hits, None);
}

#[test]
fn cpuacct_ticks_follow_user_hz() {
    let f = fixture();
    let at_250 = f.cgroup.clone().with_clock_ticks(250);
    let cpu = at_250.stats().unwrap().cpu;
    assert_eq!(cpu.user, Duration::from_millis(600));
    assert_eq!(cpu.system, Duration::from_millis(300));
    assert_eq!(ticks_to_duration(1, 3), Duration::from_nanos(333_333_333));
    assert_eq!(
        ticks_to_duration(u64::MAX, 1),
        Duration::from_nanos(u64::MAX)
    );
}

#[test]
fn local_keys_and_no_swap_accounting() {
    let f = fixture();
    let memory = f.cgroup.dir(V1Controller::Memory).unwrap();
    set(
        &memory,
        "memory.stat",
        "cache 10\nrss 20\nmapped_file 5\ninactive_file 4\n",
    );
    let m = f.cgroup.stats().unwrap().memory;
    assert_eq!(
        (m.rss, m.cache, m.mapped_file),
        (Bytes(20), Bytes(10), Bytes(5))
    );
    assert_eq!(m.swap, None);
    assert_eq!(m.working_set, Bytes(4_194_304 - 4));

    set(
        &memory,
        "memory.stat",
        "cache 10\nmapped_file 5\ninactive_file 4\n",
    );
    let err = f.cgroup.stats().unwrap_err();
    assert!(
        matches!(&err, CgroupError::MissingKey { key, path } if key == "rss" && path.ends_with("drover/t1/memory.stat")),
        "{err}"
    );
}

#[test]
fn missing_required_file_is_an_error_naming_it() {
    let f = fixture();
    let acct = f.cgroup.dir(V1Controller::Cpuacct).unwrap();
    stdfs::remove_file(acct.join("cpuacct.usage")).unwrap();
    let err = f.cgroup.stats().unwrap_err();
    assert!(err.to_string().starts_with("read "), "{err}");
    assert!(err.to_string().contains("cpuacct.usage"), "{err}");
}

#[test]
fn oom_kill_counter_against_baseline() {
    let mut f = fixture();
    let memory = f.cgroup.dir(V1Controller::Memory).unwrap();
    set(
        &memory,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    f.cgroup.oom_baseline = Some(f.cgroup.oom_counter().unwrap());
    assert!(!f.cgroup.oom_killed().unwrap());
    set(
        &memory,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 1\noom_kill 3\n",
    );
    assert!(f.cgroup.oom_killed().unwrap());
}

#[test]
fn oom_failcnt_fallback_on_old_kernels() {
    let mut f = fixture();
    let memory = f.cgroup.dir(V1Controller::Memory).unwrap();
    set(
        &memory,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\n",
    );
    set(&memory, "memory.failcnt", "0\n");
    f.cgroup.oom_baseline = Some(f.cgroup.oom_counter().unwrap());
    assert!(!f.cgroup.oom_killed().unwrap());
    set(&memory, "memory.failcnt", "17\n");
    assert!(f.cgroup.oom_killed().unwrap());
}

#[test]
fn missing_required_controller() {
    let mounts = V1Mounts::new([
        (V1Controller::Memory, PathBuf::from("/m")),
        (V1Controller::Cpu, PathBuf::from("/c")),
    ]);
    let err = V1::new(mounts, PathBuf::from("d/t"), "t".into()).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::MissingController {
                name: "cpuacct",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn comounted_controllers_share_a_directory() {
    let mount = PathBuf::from("/sys/fs/cgroup/cpu,cpuacct");
    let mounts = V1Mounts::new([
        (V1Controller::Memory, PathBuf::from("/sys/fs/cgroup/memory")),
        (V1Controller::Cpu, mount.clone()),
        (V1Controller::Cpuacct, mount.clone()),
    ]);
    let cgroup = V1::new(mounts, PathBuf::from("drover/t"), "t".into()).unwrap();
    assert_eq!(
        cgroup.dirs(),
        vec![
            PathBuf::from("/sys/fs/cgroup/memory/drover/t"),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/drover/t"),
        ]
    );
}
