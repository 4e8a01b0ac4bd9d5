//! The default seccomp filter: the policy in [`super::profile`] (Moby's default
//! profile), resolved against the task's capabilities and compiled to classic BPF here,
//! without libseccomp.
//!
//! # The program
//!
//! ```text
//! arch != native                      -> KILL_PROCESS  (no other ABI is filtered)
//! nr: binary search over ranges of numbers with one outcome
//!   plain ranges                      -> ALLOW | ERRNO(EPERM)
//!   socket, clone, personality        -> argument checks, then ALLOW or ERRNO(EPERM)
//!   clone3 (no CAP_SYS_ADMIN)         -> ERRNO(ENOSYS)
//!   above every call the profile names -> ERRNO(ENOSYS)
//! ```
//!
//! The dispatch reads only the architecture and the number for every call whose outcome
//! does not depend on its arguments, so the kernel's seccomp action cache (5.11+)
//! answers those without running the program at all.
//!
//! # Cost
//!
//! Compiling takes tens of microseconds; [`filter_for`] still compiles once per distinct
//! outcome and caches, keyed by the capabilities the policy looks at. Call it before
//! forking (it allocates and locks); in the child, [`install`] is one syscall.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use super::caps::CapSet;
use super::profile::{Action, ArgCheck, Cmp, Gate, Rule, EPERM, RULES};
use super::syscalls::SYSCALLS;

/// An architecture the filter can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this crate was built for, if the filter supports it.
    pub const NATIVE: Option<Arch> = if cfg!(target_arch = "x86_64") {
        Some(Arch::X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(Arch::Aarch64)
    } else {
        None
    };

    /// `AUDIT_ARCH_*`, what `seccomp_data.arch` holds.
    pub const fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 => 0xC000_003E,
            Arch::Aarch64 => 0xC000_00B7,
        }
    }

    /// The call's number on this architecture, if it has the call.
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        let i = SYSCALLS.binary_search_by(|(n, _, _)| (*n).cmp(name)).ok()?;
        let (_, x86_64, aarch64) = SYSCALLS[i];
        let nr = match self {
            Arch::X86_64 => x86_64,
            Arch::Aarch64 => aarch64,
        };
        u32::try_from(nr).ok()
    }

    /// The name of call `nr` on this architecture.
    pub fn syscall_name(self, nr: u32) -> Option<&'static str> {
        SYSCALLS.iter().find_map(|(name, x86_64, aarch64)| {
            let n = match self {
                Arch::X86_64 => *x86_64,
                Arch::Aarch64 => *aarch64,
            };
            (i64::from(n) == i64::from(nr)).then_some(*name)
        })
    }
}

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// A compiled filter, ready for [`install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfProgram {
    insns: Box<[Insn]>,
    arch: Arch,
}

impl BpfProgram {
    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("no seccomp filter for this architecture ({arch})")]
    UnsupportedArch { arch: &'static str },
    #[error("seccomp profile: syscall {syscall} has conflicting unconditional actions")]
    Conflict { syscall: &'static str },
    #[error("seccomp filter has {len} instructions; the kernel takes at most {BPF_MAXINSNS}")]
    TooLarge { len: usize },
    #[error("seccomp filter built for {built:?} cannot be installed on {native:?}")]
    WrongArch { built: Arch, native: Option<Arch> },
    #[error("prctl(PR_SET_NO_NEW_PRIVS): {source}")]
    NoNewPrivs {
        #[source]
        source: io::Error,
    },
    #[error(
        "installing the seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER) needs no_new_privs \
         or CAP_SYS_ADMIN: {source}"
    )]
    NeedsNoNewPrivs {
        #[source]
        source: io::Error,
    },
    #[error("installing the seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER): {source}")]
    Install {
        #[source]
        source: io::Error,
    },
}

impl SeccompError {
    /// The errno of a failed syscall, for a forked child that reports failure by number.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            SeccompError::NoNewPrivs { source }
            | SeccompError::NeedsNoNewPrivs { source }
            | SeccompError::Install { source } => source.raw_os_error(),
            _ => None,
        }
    }
}

const BPF_MAXINSNS: usize = 4096;

// Classic BPF opcodes (linux/bpf_common.h, linux/filter.h).
// BPF_LD | BPF_W | BPF_ABS, the first two being 0.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x04 | 0x50;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGT_K: u16 = 0x05 | 0x20;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;

// seccomp return values (linux/seccomp.h).
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const ENOSYS: u16 = 38;

// struct seccomp_data offsets.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const fn arg_low_offset(index: u8) -> u32 {
    let base = 16 + 8 * index as u32;
    if cfg!(target_endian = "big") {
        base + 4
    } else {
        base
    }
}

impl Action {
    /// The filter's return value.
    pub const fn ret(self) -> u32 {
        match self {
            Action::Allow => SECCOMP_RET_ALLOW,
            Action::Errno(e) => SECCOMP_RET_ERRNO | e as u32,
        }
    }
}

/// The capabilities the policy looks at: two sets that agree on these compile to the
/// same program.
pub const POLICY_CAPS: CapSet = policy_caps();

const fn policy_caps() -> CapSet {
    let mut set = CapSet::EMPTY;
    let mut i = 0;
    while i < RULES.len() {
        match RULES[i].gate {
            Gate::With(cap) | Gate::Without(cap) => set = set.with(cap),
            Gate::Always => {}
        }
        i += 1;
    }
    set
}

impl Gate {
    fn holds(self, caps: CapSet) -> bool {
        match self {
            Gate::Always => true,
            Gate::With(cap) => caps.contains(cap),
            Gate::Without(cap) => !caps.contains(cap),
        }
    }
}

/// What one call resolves to for a given capability set.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    /// Conditional rules in order, then EPERM.
    Checks(Vec<(&'static [ArgCheck], Action)>),
}

#[derive(Default)]
struct Entry {
    unconditional: Option<Action>,
    conditional: Vec<(&'static [ArgCheck], Action)>,
}

/// The profile's calls resolved to numbers on one architecture, once: every compile
/// then only walks this list.
struct Numbered {
    /// The highest number of a call the profile names; above it is ENOSYS.
    max: u32,
    calls: Vec<(u32, &'static str, &'static Rule)>,
}

fn numbered(arch: Arch) -> &'static Numbered {
    static X86_64: OnceLock<Numbered> = OnceLock::new();
    static AARCH64: OnceLock<Numbered> = OnceLock::new();
    let cell = match arch {
        Arch::X86_64 => &X86_64,
        Arch::Aarch64 => &AARCH64,
    };
    cell.get_or_init(|| {
        let calls: Vec<(u32, &'static str, &'static Rule)> = RULES
            .iter()
            .flat_map(|rule| rule.names.iter().map(move |name| (name, rule)))
            .filter_map(|(name, rule)| Some((arch.syscall_number(name)?, *name, rule)))
            .collect();
        let max = calls.iter().map(|c| c.0).max().unwrap_or(0);
        Numbered { max, calls }
    })
}

fn resolve(caps: CapSet, arch: Arch) -> Result<Vec<Outcome>, SeccompError> {
    let numbered = numbered(arch);
    let mut entries: Vec<Entry> = (0..=numbered.max).map(|_| Entry::default()).collect();
    for &(nr, name, rule) in &numbered.calls {
        if !rule.gate.holds(caps) {
            continue;
        }
        let entry = &mut entries[nr as usize];
        if rule.args.is_empty() {
            match entry.unconditional {
                Some(a) if a != rule.action => {
                    return Err(SeccompError::Conflict { syscall: name })
                }
                _ => entry.unconditional = Some(rule.action),
            }
        } else {
            entry.conditional.push((rule.args, rule.action));
        }
    }
    let deny = Action::Errno(EPERM).ret();
    let mut outcomes: Vec<Outcome> = entries
        .into_iter()
        .map(|e| match (e.unconditional, e.conditional.is_empty()) {
            (Some(a), _) => Outcome::Ret(a.ret()),
            (None, true) => Outcome::Ret(deny),
            (None, false) => Outcome::Checks(e.conditional),
        })
        .collect();
    // Everything above: ENOSYS.
    outcomes.push(Outcome::Ret(Action::Errno(ENOSYS).ret()));
    Ok(outcomes)
}

/// Emits a program back to front, so every jump target (always forward) is already
/// placed. A label is an instruction's distance from the end of the program.
struct Emitter {
    rev: Vec<Insn>,
}

type Label = usize;

impl Emitter {
    fn push(&mut self, insn: Insn) -> Label {
        self.rev.push(insn);
        self.rev.len() - 1
    }

    fn stmt(&mut self, code: u16, k: u32) -> Label {
        self.push(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        })
    }

    /// Offset from the next instruction to be emitted to `target`.
    fn distance(&self, target: Label) -> usize {
        self.rev.len() - target - 1
    }

    fn ja(&mut self, target: Label) -> Label {
        let k = self.distance(target) as u32;
        self.stmt(BPF_JMP_JA, k)
    }

    /// A conditional jump; a target beyond the 8-bit offset goes through a `JA`. The
    /// false target is settled first with a margin of one, for the `JA` the true target
    /// may still need.
    fn cond(&mut self, code: u16, k: u32, jt: Label, jf: Label) -> Label {
        let jf = if self.distance(jf) > 254 {
            self.ja(jf)
        } else {
            jf
        };
        let jt = if self.distance(jt) > 255 {
            self.ja(jt)
        } else {
            jt
        };
        let offset = |d: usize| u8::try_from(d).expect("trampolines keep offsets in range");
        let (t, f) = (offset(self.distance(jt)), offset(self.distance(jf)));
        self.push(Insn {
            code,
            jt: t,
            jf: f,
            k,
        })
    }

    /// Code testing `check`, continuing at `yes` or `no`.
    fn check(&mut self, check: &ArgCheck, yes: Label, no: Label) -> Label {
        match check.cmp {
            Cmp::Eq(v) => self.cond(BPF_JMP_JEQ_K, v, yes, no),
            Cmp::Gt(v) => self.cond(BPF_JMP_JGT_K, v, yes, no),
            Cmp::Lt(v) => self.cond(BPF_JMP_JGE_K, v, no, yes),
            Cmp::MaskedEq { mask, value } => {
                self.cond(BPF_JMP_JEQ_K, value, yes, no);
                self.stmt(BPF_ALU_AND_K, mask)
            }
        };
        self.stmt(BPF_LD_W_ABS, arg_low_offset(check.index))
    }

    fn outcome(&mut self, outcome: &Outcome) -> Label {
        match outcome {
            Outcome::Ret(k) => self.stmt(BPF_RET_K, *k),
            Outcome::Checks(rules) => {
                let mut next = self.stmt(BPF_RET_K, Action::Errno(EPERM).ret());
                for (checks, action) in rules.iter().rev() {
                    let mut target = self.stmt(BPF_RET_K, action.ret());
                    for check in checks.iter().rev() {
                        target = self.check(check, target, next);
                    }
                    next = target;
                }
                next
            }
        }
    }

    /// Binary search over `runs` (first number, outcome), sorted by number.
    fn dispatch(&mut self, runs: &[(u32, &Outcome)]) -> Label {
        if let [(_, outcome)] = runs {
            return self.outcome(outcome);
        }
        let mid = runs.len() / 2;
        let upper = self.dispatch(&runs[mid..]);
        let lower = self.dispatch(&runs[..mid]);
        self.cond(BPF_JMP_JGE_K, runs[mid].0, upper, lower)
    }
}

/// Compiles the default policy for a task holding `caps`, for `arch`. Uncached: see
/// [`filter_for`].
pub fn compile(caps: CapSet, arch: Arch) -> Result<BpfProgram, SeccompError> {
    emit(&resolve(caps, arch)?, arch)
}

/// The program for `outcomes[nr]` per call number, the last one for every number above.
fn emit(outcomes: &[Outcome], arch: Arch) -> Result<BpfProgram, SeccompError> {
    let mut runs: Vec<(u32, &Outcome)> = Vec::new();
    for (nr, outcome) in outcomes.iter().enumerate() {
        let merge = matches!(runs.last(), Some((_, prev)) if *prev == outcome)
            && matches!(outcome, Outcome::Ret(_));
        if !merge {
            runs.push((nr as u32, outcome));
        }
    }
    let mut e = Emitter {
        rev: Vec::with_capacity(4 * runs.len() + 8),
    };
    let tree = e.dispatch(&runs);
    let load_nr = e.stmt(BPF_LD_W_ABS, DATA_NR);
    debug_assert_eq!(tree + 1, load_nr);
    let kill = e.stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS);
    e.cond(BPF_JMP_JEQ_K, arch.audit_arch(), load_nr, kill);
    e.stmt(BPF_LD_W_ABS, DATA_ARCH);
    if e.rev.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLarge { len: e.rev.len() });
    }
    e.rev.reverse();
    Ok(BpfProgram {
        insns: e.rev.into_boxed_slice(),
        arch,
    })
}

type Cache = Mutex<HashMap<(Arch, u64), Arc<BpfProgram>>>;

/// The default filter for a task holding `caps`, compiled once per distinct outcome
/// (the capabilities in [`POLICY_CAPS`]) and shared. Call before forking.
pub fn filter_for(caps: CapSet) -> Result<Arc<BpfProgram>, SeccompError> {
    let arch = Arch::NATIVE.ok_or(SeccompError::UnsupportedArch {
        arch: std::env::consts::ARCH,
    })?;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (arch, caps.intersection(POLICY_CAPS).bits());
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(prog) = cache.get(&key) {
        return Ok(Arc::clone(prog));
    }
    let prog = Arc::new(compile(caps, arch)?);
    cache.insert(key, Arc::clone(&prog));
    Ok(prog)
}

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const Insn,
}

/// Installs `prog` on the calling thread (no TSYNC: a task's init is single-threaded).
/// Set no_new_privs first ([`super::set_no_new_privs`]) unless the caller keeps
/// `CAP_SYS_ADMIN`. One syscall, no allocation: safe in a forked child. Every syscall
/// after this one is filtered, so it comes last, right before `execve`.
pub fn install(prog: &BpfProgram) -> Result<(), SeccompError> {
    if Arch::NATIVE != Some(prog.arch) {
        return Err(SeccompError::WrongArch {
            built: prog.arch,
            native: Arch::NATIVE,
        });
    }
    let fprog = SockFprog {
        len: prog.insns.len() as libc::c_ushort,
        filter: prog.insns.as_ptr(),
    };
    // SAFETY: fprog points at `len` instructions laid out as struct sock_filter, alive
    // for the call; the kernel copies them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &fprog as *const SockFprog,
        )
    };
    if r != 0 {
        let source = io::Error::last_os_error();
        if source.raw_os_error() == Some(libc::EACCES) {
            return Err(SeccompError::NeedsNoNewPrivs { source });
        }
        return Err(SeccompError::Install { source });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::caps::{docker_default, nomad_exec_default, nomad_root_legacy, Cap};
    use super::super::profile::{CLONE_NAMESPACE_FLAGS, NEVER};
    use super::*;

    /// Runs a seccomp BPF program the way the kernel does, for the opcodes the compiler
    /// emits (anything else fails the test).
    fn run(prog: &BpfProgram, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let insns = prog.instructions();
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = insns[pc];
            pc += 1;
            let jump = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
            match i.code {
                BPF_LD_W_ABS => {
                    let o = i.k as usize;
                    acc = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
                }
                BPF_ALU_AND_K => acc &= i.k,
                BPF_JMP_JA => pc += i.k as usize,
                BPF_JMP_JEQ_K => pc += jump(acc == i.k),
                BPF_JMP_JGT_K => pc += jump(acc > i.k),
                BPF_JMP_JGE_K => pc += jump(acc >= i.k),
                BPF_RET_K => return i.k,
                other => panic!("unexpected opcode {other:#x} at {}", pc - 1),
            }
            assert!(pc < insns.len(), "ran off the end of the program");
        }
    }

    /// The highest number of a call the profile names on `arch`.
    fn max_known(arch: Arch) -> u32 {
        RULES
            .iter()
            .flat_map(|r| r.names.iter())
            .filter_map(|n| arch.syscall_number(n))
            .max()
            .unwrap()
    }

    /// The policy evaluated directly from the rule table, independently of the compiler.
    fn expected(caps: CapSet, arch: Arch, max_known: u32, nr: u32, args: [u64; 6]) -> u32 {
        if nr > max_known {
            return Action::Errno(ENOSYS).ret();
        }
        let Some(name) = arch.syscall_name(nr) else {
            return Action::Errno(EPERM).ret();
        };
        let applicable: Vec<&Rule> = RULES
            .iter()
            .filter(|r| r.names.contains(&name) && r.gate.holds(caps))
            .collect();
        if let Some(r) = applicable.iter().find(|r| r.args.is_empty()) {
            return r.action.ret();
        }
        for r in &applicable {
            if r.args
                .iter()
                .all(|c| c.cmp.holds(args[usize::from(c.index)]))
            {
                return r.action.ret();
            }
        }
        Action::Errno(EPERM).ret()
    }

    fn cap_sets() -> Vec<CapSet> {
        let mut sets = vec![
            CapSet::EMPTY,
            docker_default(),
            nomad_exec_default(),
            nomad_root_legacy(),
            CapSet::all(),
        ];
        sets.extend(POLICY_CAPS.iter().map(|c| CapSet::EMPTY.with(c)));
        sets.extend(POLICY_CAPS.iter().map(|c| CapSet::all().without(c)));
        sets
    }

    fn arg_vectors() -> Vec<[u64; 6]> {
        let mut firsts: Vec<u64> = vec![
            0,
            1,
            2,
            10,
            37,
            38,
            39,
            40,
            41,
            44,
            8,
            0x2_0000,
            0x2_0008,
            0xffff_ffff,
            0x1_0000_0028, // AF_VSOCK with a high garbage bit: still AF_VSOCK
            0x1_0000_0000,
            u64::MAX,
            0x0001_1200 | 17, // fork-like clone flags
            0x003d_0f00,      // pthread_create's clone flags
        ];
        for bit in 0..32 {
            if CLONE_NAMESPACE_FLAGS & (1 << bit) != 0 {
                firsts.push(1 << bit);
                firsts.push((1 << bit) | 0x003d_0f00);
            }
        }
        firsts.into_iter().map(|a| [a, 0, 0, 0, 0, 0]).collect()
    }

    #[test]
    fn compiled_program_matches_the_policy_for_every_call() {
        let all_args = arg_vectors();
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let max = max_known(arch);
            for caps in cap_sets() {
                let prog = compile(caps, arch).unwrap();
                let mut numbers: Vec<u32> = (0..600).collect();
                numbers.extend([0x4000_0000, 0x4000_0000 + 41, 0xffff_ffff, 1 << 31]);
                for nr in numbers {
                    // Arguments matter only to the calls with argument checks.
                    let checked = arch.syscall_name(nr).is_some_and(|n| {
                        RULES
                            .iter()
                            .any(|r| !r.args.is_empty() && r.names.contains(&n))
                    });
                    let vectors = if checked {
                        all_args.clone()
                    } else {
                        vec![[0; 6], [u64::MAX; 6]]
                    };
                    for args in vectors {
                        let got = run(&prog, arch.audit_arch(), nr, args);
                        let want = expected(caps, arch, max, nr, args);
                        assert_eq!(
                            got,
                            want,
                            "{arch:?} caps {caps:?} nr {nr} ({:?}) args {:#x}",
                            arch.syscall_name(nr),
                            args[0]
                        );
                    }
                }
            }
        }
    }

    fn verdict(caps: CapSet, name: &str, arg0: u64) -> u32 {
        let arch = Arch::X86_64;
        let prog = compile(caps, arch).unwrap();
        let nr = arch.syscall_number(name).unwrap();
        run(&prog, arch.audit_arch(), nr, [arg0, 0, 0, 0, 0, 0])
    }

    const ALLOW: u32 = SECCOMP_RET_ALLOW;
    const EPERM_RET: u32 = SECCOMP_RET_ERRNO | 1;
    const ENOSYS_RET: u32 = SECCOMP_RET_ERRNO | 38;

    #[test]
    fn the_notable_rules() {
        let d = docker_default();
        let admin = d.with(Cap::SysAdmin);
        // clone: threads and forks yes, namespaces no, unless CAP_SYS_ADMIN.
        assert_eq!(verdict(d, "clone", 0x003d_0f00), ALLOW);
        assert_eq!(verdict(d, "clone", 0x0001_1200 | 17), ALLOW);
        assert_eq!(verdict(d, "clone", 0x0002_0000 | 17), EPERM_RET); // CLONE_NEWNS
        assert_eq!(verdict(d, "clone", 0x1000_0000), EPERM_RET); // CLONE_NEWUSER
        assert_eq!(verdict(admin, "clone", 0x1000_0000), ALLOW);
        assert_eq!(verdict(d, "clone3", 0), ENOSYS_RET);
        assert_eq!(verdict(admin, "clone3", 0), ALLOW);
        // socket: all but AF_ALG and AF_VSOCK.
        for family in [1, 2, 10, 16, 17, 37, 39, 41, 44] {
            assert_eq!(verdict(d, "socket", family), ALLOW, "family {family}");
        }
        for family in [38, 40, 0x1_0000_0028] {
            assert_eq!(
                verdict(d, "socket", family),
                EPERM_RET,
                "family {family:#x}"
            );
        }
        // personality: only Moby's values.
        for p in [0, 8, 0x2_0000, 0x2_0008, 0xffff_ffff] {
            assert_eq!(verdict(d, "personality", p), ALLOW, "{p:#x}");
        }
        assert_eq!(verdict(d, "personality", 0x40_0000), EPERM_RET); // READ_IMPLIES_EXEC
                                                                     // Gated on their capability.
        for (name, cap) in [
            ("mount", Cap::SysAdmin),
            ("umount2", Cap::SysAdmin),
            ("unshare", Cap::SysAdmin),
            ("setns", Cap::SysAdmin),
            ("fsopen", Cap::SysAdmin),
            ("open_tree", Cap::SysAdmin),
            ("sethostname", Cap::SysAdmin),
            ("bpf", Cap::Bpf),
            ("perf_event_open", Cap::Perfmon),
            ("syslog", Cap::Syslog),
            ("reboot", Cap::SysBoot),
            ("finit_module", Cap::SysModule),
            ("acct", Cap::SysPacct),
            ("settimeofday", Cap::SysTime),
            ("clock_settime", Cap::SysTime),
            ("iopl", Cap::SysRawio),
            ("kcmp", Cap::SysPtrace),
            ("pidfd_getfd", Cap::SysPtrace),
            ("open_by_handle_at", Cap::DacReadSearch),
            ("vhangup", Cap::SysTtyConfig),
            ("mbind", Cap::SysNice),
        ] {
            assert_eq!(verdict(d, name, 0), EPERM_RET, "{name} without {cap}");
            assert_eq!(verdict(d.with(cap), name, 0), ALLOW, "{name} with {cap}");
        }
        assert_eq!(
            verdict(d, "chroot", 0),
            ALLOW,
            "docker default has SYS_CHROOT"
        );
        assert_eq!(verdict(CapSet::EMPTY, "chroot", 0), EPERM_RET);
        // Never, even with every capability.
        for name in NEVER {
            if let Some(nr) = Arch::X86_64.syscall_number(name) {
                let prog = compile(CapSet::all(), Arch::X86_64).unwrap();
                let got = run(&prog, Arch::X86_64.audit_arch(), nr, [0; 6]);
                assert_eq!(got, EPERM_RET, "{name}");
            }
        }
        // Everyday calls.
        for name in [
            "read",
            "write",
            "openat",
            "openat2",
            "statx",
            "newfstatat",
            "futex",
            "rseq",
            "epoll_pwait",
            "eventfd2",
            "getrandom",
            "faccessat2",
            "close_range",
            "pidfd_open",
            "prlimit64",
            "sched_getaffinity",
            "membarrier",
            "set_robust_list",
            "arch_prctl",
            "madvise",
            "mprotect",
            "mremap",
            "memfd_create",
            "copy_file_range",
            "splice",
            "sendfile",
            "socketpair",
            "accept4",
            "execve",
            "exit_group",
            "wait4",
            "ptrace",
            "name_to_handle_at",
            "adjtimex",
            "uretprobe",
            "process_vm_readv",
        ] {
            assert_eq!(verdict(CapSet::EMPTY, name, 0), ALLOW, "{name}");
        }
        // io_uring and keyrings.
        for name in [
            "io_uring_setup",
            "keyctl",
            "add_key",
            "userfaultfd",
            "pivot_root",
        ] {
            assert_eq!(verdict(CapSet::all(), name, 0), EPERM_RET, "{name}");
        }
        // Newer than the profile: ENOSYS so libc falls back.
        for name in ["file_getattr", "open_tree_attr", "listns"] {
            assert_eq!(verdict(CapSet::all(), name, 0), ENOSYS_RET, "{name}");
        }
    }

    /// Programs longer than an 8-bit jump reach their targets through `JA` trampolines
    /// (the default policy is too small to need them).
    #[test]
    fn long_programs_use_trampolines() {
        let ret = |nr: u32| Action::Errno((nr % 7 + 1) as u16).ret();
        let socket_rules: Vec<(&'static [ArgCheck], Action)> = RULES
            .iter()
            .filter(|r| r.names == ["socket"])
            .map(|r| (r.args, r.action))
            .collect();
        let mut outcomes: Vec<Outcome> = (0..1500u32)
            .map(|nr| {
                if nr % 50 == 0 {
                    Outcome::Checks(socket_rules.clone())
                } else {
                    Outcome::Ret(ret(nr))
                }
            })
            .collect();
        outcomes.push(Outcome::Ret(Action::Allow.ret()));
        let prog = emit(&outcomes, Arch::X86_64).unwrap();
        assert!(prog.len() > 2000, "{}", prog.len());
        assert!(prog.instructions().iter().any(|i| i.code == BPF_JMP_JA));
        let audit = Arch::X86_64.audit_arch();
        for nr in 0..1600u32 {
            for family in [2u64, 38, 39, 40, 41] {
                let got = run(&prog, audit, nr, [family, 0, 0, 0, 0, 0]);
                let want = if nr >= 1500 {
                    Action::Allow.ret()
                } else if nr % 50 == 0 {
                    if family == 38 || family == 40 {
                        EPERM_RET
                    } else {
                        ALLOW
                    }
                } else {
                    ret(nr)
                };
                assert_eq!(got, want, "nr {nr} family {family}");
            }
        }
    }

    #[test]
    fn other_abis_are_killed() {
        let prog = compile(docker_default(), Arch::X86_64).unwrap();
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        assert_eq!(
            run(&prog, AUDIT_ARCH_I386, 0, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(
            run(&prog, Arch::Aarch64.audit_arch(), 63, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
    }

    #[test]
    fn every_name_in_the_policy_is_a_real_call() {
        for rule in RULES {
            for name in rule.names {
                assert!(
                    Arch::X86_64.syscall_number(name).is_some()
                        || Arch::Aarch64.syscall_number(name).is_some(),
                    "{name} is on neither architecture"
                );
            }
        }
        // Sorted, so the binary search finds everything.
        assert!(SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn syscall_numbers_agree_with_libc() {
        #[cfg(target_arch = "x86_64")]
        let (arch, table) = (
            Arch::X86_64,
            [
                ("read", libc::SYS_read),
                ("open", libc::SYS_open),
                ("clone", libc::SYS_clone),
                ("clone3", libc::SYS_clone3),
                ("socket", libc::SYS_socket),
                ("personality", libc::SYS_personality),
                ("unshare", libc::SYS_unshare),
                ("keyctl", libc::SYS_keyctl),
                ("mount", libc::SYS_mount),
                ("newfstatat", libc::SYS_newfstatat),
                ("arch_prctl", libc::SYS_arch_prctl),
                ("rseq", libc::SYS_rseq),
                ("openat2", libc::SYS_openat2),
                ("futex_waitv", libc::SYS_futex_waitv),
                ("mseal", libc::SYS_mseal),
                ("io_uring_setup", libc::SYS_io_uring_setup),
            ],
        );
        #[cfg(target_arch = "aarch64")]
        let (arch, table) = (
            Arch::Aarch64,
            [
                ("read", libc::SYS_read),
                ("openat", libc::SYS_openat),
                ("clone", libc::SYS_clone),
                ("clone3", libc::SYS_clone3),
                ("socket", libc::SYS_socket),
                ("personality", libc::SYS_personality),
                ("unshare", libc::SYS_unshare),
                ("keyctl", libc::SYS_keyctl),
                ("mount", libc::SYS_mount),
                ("newfstatat", libc::SYS_newfstatat),
                ("fstat", libc::SYS_fstat),
                ("rseq", libc::SYS_rseq),
                ("openat2", libc::SYS_openat2),
                ("futex_waitv", libc::SYS_futex_waitv),
                ("mseal", libc::SYS_mseal),
                ("io_uring_setup", libc::SYS_io_uring_setup),
            ],
        );
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        for (name, nr) in table {
            assert_eq!(arch.syscall_number(name), Some(nr as u32), "{name}");
        }
    }

    #[test]
    fn cache_shares_programs_by_the_caps_that_matter() {
        if Arch::NATIVE.is_none() {
            return;
        }
        let a = filter_for(docker_default()).unwrap();
        let b = filter_for(nomad_exec_default()).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "NET_RAW does not change the filter");
        let c = filter_for(docker_default().with(Cap::SysAdmin)).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_ne!(*a, *c);
        assert!(a.len() < 400, "{} instructions", a.len());
    }
}
