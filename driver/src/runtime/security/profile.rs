//! The default seccomp policy as data: Moby's default profile
//! (`profiles/seccomp/default.json`, moby/profiles v0.2.3), restated for the 64-bit
//! x86_64 and aarch64 ABIs.
//!
//! Calls a rule does not name fail with `EPERM`. Calls with a number above every call
//! the profile names on the architecture fail with `ENOSYS` instead, as runc does, so a
//! libc that probes a newer call than this table knows falls back to an older one.
//!
//! Differences from Moby, all because only one 64-bit ABI is filtered: the 32-bit-only
//! names (`chown32`, `_llseek`, `socketcall` …) are left out, and the filter kills a
//! process that makes a call through another ABI (i386 `int 0x80`, arm32) rather than
//! filtering that ABI too. Moby's `ptrace`/`process_vm_*` rule needs kernel 4.8, which
//! everything drover runs on has.

use super::caps::Cap;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Fail with this errno without running the call.
    Errno(u16),
}

/// When a rule applies, judged against the task's capability set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    Always,
    With(Cap),
    Without(Cap),
}

/// A comparison of the low 32 bits of an argument. Every argument the policy looks at
/// is an `int`/`unsigned int` (socket's family, personality's persona) or, for `clone`'s
/// flags, an `unsigned long` of which the kernel uses only the low 32 bits
/// (`lower_32_bits(clone_flags)`); comparing 64 bits would let high garbage bits slip a
/// family past a `>` test that the kernel then truncates away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq(u32),
    Lt(u32),
    Gt(u32),
    /// `arg & mask == value`.
    MaskedEq {
        mask: u32,
        value: u32,
    },
}

#[cfg(test)]
impl Cmp {
    pub(super) fn holds(self, arg: u64) -> bool {
        let a = arg as u32;
        match self {
            Cmp::Eq(v) => a == v,
            Cmp::Lt(v) => a < v,
            Cmp::Gt(v) => a > v,
            Cmp::MaskedEq { mask, value } => a & mask == value,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ArgCheck {
    pub index: u8,
    pub cmp: Cmp,
}

/// `action` for each of `names` when `gate` holds and every check in `args` does.
/// Several rules may name one call: an unconditional one decides it; otherwise the
/// first whose checks all hold, in table order; otherwise `EPERM`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rule {
    pub names: &'static [&'static str],
    pub gate: Gate,
    pub args: &'static [ArgCheck],
    pub action: Action,
}

const fn allow(names: &'static [&'static str]) -> Rule {
    Rule {
        names,
        gate: Gate::Always,
        args: &[],
        action: Action::Allow,
    }
}

const fn allow_with(cap: Cap, names: &'static [&'static str]) -> Rule {
    Rule {
        names,
        gate: Gate::With(cap),
        args: &[],
        action: Action::Allow,
    }
}

const fn allow_if(names: &'static [&'static str], args: &'static [ArgCheck]) -> Rule {
    Rule {
        names,
        gate: Gate::Always,
        args,
        action: Action::Allow,
    }
}

const fn arg0(cmp: Cmp) -> ArgCheck {
    ArgCheck { index: 0, cmp }
}

const AF_ALG: u32 = 38;
const AF_VSOCK: u32 = 40;
/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
/// CLONE_NEWPID | CLONE_NEWNET.
pub const CLONE_NAMESPACE_FLAGS: u32 = 0x7E02_0000;
const ENOSYS: u16 = 38;

pub(super) const RULES: &[Rule] = &[
    // Processes, threads, exit.
    allow(&[
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "fork",
        "vfork",
        "wait4",
        "waitid",
        "kill",
        "tkill",
        "tgkill",
        "getpid",
        "getppid",
        "gettid",
        "getpgid",
        "setpgid",
        "getpgrp",
        "getsid",
        "setsid",
        "set_tid_address",
        "set_robust_list",
        "get_robust_list",
        "rseq",
        "arch_prctl",
        "modify_ldt",
        "get_thread_area",
        "set_thread_area",
        "prctl",
        "seccomp",
        "pidfd_open",
        "pidfd_send_signal",
        "process_mrelease",
        "restart_syscall",
        "uname",
        "sysinfo",
        "getcpu",
        "getrandom",
        "uretprobe",
    ]),
    // Identity and limits (the kernel checks CAP_SETUID etc. itself).
    allow(&[
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "getresuid",
        "getresgid",
        "getgroups",
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setfsuid",
        "setfsgid",
        "setgroups",
        "capget",
        "capset",
        "getrlimit",
        "setrlimit",
        "prlimit64",
        "getrusage",
        "getpriority",
        "setpriority",
        "times",
    ]),
    // Scheduling.
    allow(&[
        "sched_yield",
        "sched_getaffinity",
        "sched_setaffinity",
        "sched_getattr",
        "sched_setattr",
        "sched_getparam",
        "sched_setparam",
        "sched_getscheduler",
        "sched_setscheduler",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_rr_get_interval",
        "ioprio_get",
        "ioprio_set",
    ]),
    // Memory.
    allow(&[
        "brk",
        "mmap",
        "munmap",
        "mremap",
        "mprotect",
        "madvise",
        "mincore",
        "msync",
        "mlock",
        "mlock2",
        "mlockall",
        "munlock",
        "munlockall",
        "remap_file_pages",
        "membarrier",
        "memfd_create",
        "memfd_secret",
        "mseal",
        "map_shadow_stack",
        "pkey_alloc",
        "pkey_free",
        "pkey_mprotect",
    ]),
    // Futexes and signals.
    allow(&[
        "futex",
        "futex_wait",
        "futex_wake",
        "futex_requeue",
        "futex_waitv",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "rt_sigpending",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "rt_sigqueueinfo",
        "rt_tgsigqueueinfo",
        "sigaltstack",
        "signalfd",
        "signalfd4",
        "pause",
    ]),
    // Time (setting the clock is gated below; adjtimex/clock_adjtime only read without
    // CAP_SYS_TIME, which the kernel checks).
    allow(&[
        "time",
        "gettimeofday",
        "clock_gettime",
        "clock_getres",
        "clock_nanosleep",
        "nanosleep",
        "adjtimex",
        "clock_adjtime",
        "alarm",
        "getitimer",
        "setitimer",
        "timer_create",
        "timer_delete",
        "timer_gettime",
        "timer_settime",
        "timer_getoverrun",
        "timerfd_create",
        "timerfd_gettime",
        "timerfd_settime",
    ]),
    // File descriptors and I/O.
    allow(&[
        "read",
        "write",
        "readv",
        "writev",
        "pread64",
        "pwrite64",
        "preadv",
        "preadv2",
        "pwritev",
        "pwritev2",
        "lseek",
        "close",
        "close_range",
        "dup",
        "dup2",
        "dup3",
        "fcntl",
        "ioctl",
        "flock",
        "pipe",
        "pipe2",
        "splice",
        "tee",
        "vmsplice",
        "sendfile",
        "copy_file_range",
        "readahead",
        "fadvise64",
        "fallocate",
        "fsync",
        "fdatasync",
        "sync",
        "syncfs",
        "sync_file_range",
        "ftruncate",
        "eventfd",
        "eventfd2",
    ]),
    // Polling, AIO (io_uring is not allowed: Moby removed it).
    allow(&[
        "select",
        "pselect6",
        "poll",
        "ppoll",
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_ctl_old",
        "epoll_wait",
        "epoll_wait_old",
        "epoll_pwait",
        "epoll_pwait2",
        "inotify_init",
        "inotify_init1",
        "inotify_add_watch",
        "inotify_rm_watch",
        "fanotify_mark",
        "io_setup",
        "io_destroy",
        "io_submit",
        "io_cancel",
        "io_getevents",
        "io_pgetevents",
    ]),
    // Paths: open, stat, directories, links.
    allow(&[
        "open",
        "openat",
        "openat2",
        "creat",
        "name_to_handle_at",
        "access",
        "faccessat",
        "faccessat2",
        "stat",
        "lstat",
        "fstat",
        "newfstatat",
        "statx",
        "statfs",
        "fstatfs",
        "getdents",
        "getdents64",
        "getcwd",
        "chdir",
        "fchdir",
        "mkdir",
        "mkdirat",
        "rmdir",
        "mknod",
        "mknodat",
        "link",
        "linkat",
        "symlink",
        "symlinkat",
        "unlink",
        "unlinkat",
        "rename",
        "renameat",
        "renameat2",
        "readlink",
        "readlinkat",
        "truncate",
        "umask",
        "cachestat",
        "statmount",
        "listmount",
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
    ]),
    // Ownership, modes, times, extended attributes.
    allow(&[
        "chmod",
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "chown",
        "fchown",
        "lchown",
        "fchownat",
        "utime",
        "utimes",
        "utimensat",
        "futimesat",
        "getxattr",
        "lgetxattr",
        "fgetxattr",
        "getxattrat",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "setxattrat",
        "listxattr",
        "llistxattr",
        "flistxattr",
        "listxattrat",
        "removexattr",
        "lremovexattr",
        "fremovexattr",
        "removexattrat",
    ]),
    // Sockets (`socket` itself below).
    allow(&[
        "socketpair",
        "bind",
        "listen",
        "accept",
        "accept4",
        "connect",
        "shutdown",
        "getsockname",
        "getpeername",
        "getsockopt",
        "setsockopt",
        "sendto",
        "sendmsg",
        "sendmmsg",
        "recvfrom",
        "recvmsg",
        "recvmmsg",
    ]),
    // System V and POSIX IPC (scoped by the IPC namespace).
    allow(&[
        "msgget",
        "msgsnd",
        "msgrcv",
        "msgctl",
        "semget",
        "semop",
        "semtimedop",
        "semctl",
        "shmget",
        "shmat",
        "shmdt",
        "shmctl",
        "mq_open",
        "mq_unlink",
        "mq_timedsend",
        "mq_timedreceive",
        "mq_notify",
        "mq_getsetattr",
    ]),
    // Since kernel 4.8 ptrace cannot be used to bypass seccomp; the PID namespace keeps
    // the tracees to the task's own processes.
    allow(&["ptrace", "process_vm_readv", "process_vm_writev"]),
    // Every family except AF_ALG (38) and AF_VSOCK (40).
    allow_if(&["socket"], &[arg0(Cmp::Lt(AF_ALG))]),
    allow_if(&["socket"], &[arg0(Cmp::Eq(AF_ALG + 1))]),
    allow_if(&["socket"], &[arg0(Cmp::Gt(AF_VSOCK))]),
    // PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE, both, and the query 0xffffffff.
    allow_if(&["personality"], &[arg0(Cmp::Eq(0x0))]),
    allow_if(&["personality"], &[arg0(Cmp::Eq(0x8))]),
    allow_if(&["personality"], &[arg0(Cmp::Eq(0x2_0000))]),
    allow_if(&["personality"], &[arg0(Cmp::Eq(0x2_0008))]),
    allow_if(&["personality"], &[arg0(Cmp::Eq(0xffff_ffff))]),
    // Namespaces, mounts, BPF, perf, LSM attributes: CAP_SYS_ADMIN.
    allow_with(
        Cap::SysAdmin,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    // Without CAP_SYS_ADMIN: clone only without namespace flags; clone3, whose flags
    // live in memory a filter cannot read, fails with ENOSYS so libc falls back to clone.
    Rule {
        names: &["clone"],
        gate: Gate::Without(Cap::SysAdmin),
        args: &[arg0(Cmp::MaskedEq {
            mask: CLONE_NAMESPACE_FLAGS,
            value: 0,
        })],
        action: Action::Allow,
    },
    Rule {
        names: &["clone3"],
        gate: Gate::Without(Cap::SysAdmin),
        args: &[],
        action: Action::Errno(ENOSYS),
    },
    allow_with(Cap::DacReadSearch, &["open_by_handle_at"]),
    allow_with(Cap::SysBoot, &["reboot"]),
    allow_with(Cap::SysChroot, &["chroot"]),
    allow_with(
        Cap::SysModule,
        &["init_module", "finit_module", "delete_module"],
    ),
    allow_with(Cap::SysPacct, &["acct"]),
    allow_with(
        Cap::SysPtrace,
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    allow_with(Cap::SysRawio, &["iopl", "ioperm"]),
    allow_with(Cap::SysTime, &["settimeofday", "clock_settime"]),
    allow_with(Cap::SysTtyConfig, &["vhangup"]),
    allow_with(
        Cap::SysNice,
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    allow_with(Cap::Syslog, &["syslog"]),
    allow_with(Cap::Bpf, &["bpf"]),
    allow_with(Cap::Perfmon, &["perf_event_open"]),
    // Never allowed, whatever the capabilities (named here so the list is explicit; an
    // unnamed call fails the same way): keyrings are not namespaced, io_uring bypasses
    // the filter's view of I/O, the rest change the host.
    Rule {
        names: NEVER,
        gate: Gate::Always,
        args: &[],
        action: Action::Errno(EPERM),
    },
];

pub(super) const EPERM: u16 = 1;

/// Calls denied to every task. Moby names none of them (its default action denies
/// them); listing them keeps the policy readable and their numbers within the "known"
/// range, so they fail with `EPERM`, not `ENOSYS`.
pub const NEVER: &[&str] = &[
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "pivot_root",
    "swapon",
    "swapoff",
    "kexec_load",
    "kexec_file_load",
    "_sysctl",
    "sysfs",
    "ustat",
    "uselib",
    "migrate_pages",
    "move_pages",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "afs_syscall",
    "tuxcall",
    "security",
    "vserver",
    "getpmsg",
    "putpmsg",
    "uprobe",
];
