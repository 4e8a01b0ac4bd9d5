//! Capabilities and seccomp for task processes: the last steps of a task's init, which
//! take privileges away.
//!
//! # Order of operations in the init
//!
//! ```text
//! (parent, before fork)  caps = caps::resolve(...)           which set; Nomad's rules
//!                        filter = seccomp::filter_for(caps)  compiled once, cached
//! (child)                namespaces, mounts, pivot_root, hostname, fds, cwd ...
//!                        caps::switch_user(uid, gid, groups, caps, keep_for_non_root)
//!                          or caps::apply(caps, ..) when the user stays root
//!                          = bounding drop, user switch, permitted/effective/ambient
//!                        set_no_new_privs()
//!                        seccomp::install(&filter)           LAST, right before execve
//!                        execve
//! ```
//!
//! - Capabilities before `no_new_privs` and seccomp: the user switch and the bounding
//!   drop need `CAP_SETUID`/`CAP_SETGID`/`CAP_SETPCAP`, and the filter denies nothing
//!   they use, but keeping seccomp last means the init's own setup never runs filtered.
//! - `no_new_privs` before the filter: the kernel only lets a process without
//!   `CAP_SYS_ADMIN` install a filter under `no_new_privs`, and with it no later exec of
//!   a setuid or file-capability binary can gain anything.
//! - The filter last: every syscall after it is filtered, including the init's own;
//!   between `install` and `execve` there must be nothing but `execve`.
//!
//! Everything that allocates or locks ([`caps::resolve`], [`seccomp::filter_for`],
//! [`Hardening::new`]) runs in the parent; everything in the child ([`Hardening::apply`]
//! and the functions it calls) makes raw syscalls only, so it is safe after `fork` in a
//! multi-threaded process.

pub mod caps;
mod profile;
pub mod seccomp;
mod syscalls;

use std::io;
use std::sync::Arc;

pub use caps::{Cap, CapError, CapSet};
pub use profile::{Action, CLONE_NAMESPACE_FLAGS, NEVER};
pub use seccomp::{Arch, BpfProgram, SeccompError};

/// Sets `no_new_privs` on the calling thread: from now on `execve` grants no
/// privileges (setuid bits and file capabilities are ignored) and a seccomp filter can
/// be installed without `CAP_SYS_ADMIN`. Irreversible, inherited by children.
pub fn set_no_new_privs() -> Result<(), SeccompError> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_NO_NEW_PRIVS,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r != 0 {
        return Err(SeccompError::NoNewPrivs {
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// The task's user, as the init switches to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// Everything the init applies after its mounts, prepared in the parent.
#[derive(Debug, Clone)]
pub struct Hardening {
    pub caps: CapSet,
    /// Raise `caps` into the ambient set when the task's user is not root (Nomad's exec
    /// driver does): without it a non-root task has no capabilities after `execve`.
    pub keep_for_non_root: bool,
    pub no_new_privs: bool,
    /// The filter to install last; `None` runs unfiltered.
    pub seccomp: Option<Arc<BpfProgram>>,
}

impl Hardening {
    /// Compiles (or fetches from the cache) the default filter for `caps` when `seccomp`
    /// is set. The filter needs `no_new_privs` unless `caps` has `CAP_SYS_ADMIN`.
    pub fn new(
        caps: CapSet,
        keep_for_non_root: bool,
        no_new_privs: bool,
        seccomp: bool,
    ) -> Result<Hardening, SeccompError> {
        let seccomp = if seccomp {
            Some(seccomp::filter_for(caps)?)
        } else {
            None
        };
        Ok(Hardening {
            caps,
            keep_for_non_root,
            no_new_privs,
            seccomp,
        })
    }

    /// In the task's init, right before `execve`: capabilities (switching to `user` if
    /// given), `no_new_privs`, the filter. No allocation.
    pub fn apply(&self, user: Option<&UserIds>) -> Result<(), SecurityError> {
        match user {
            Some(u) => {
                caps::switch_user(u.uid, u.gid, &u.groups, self.caps, self.keep_for_non_root)?
            }
            None => caps::apply(self.caps, false)?,
        }
        if self.no_new_privs {
            set_no_new_privs()?;
        }
        if let Some(filter) = &self.seccomp {
            seccomp::install(filter)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error(transparent)]
    Caps(#[from] CapError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
}

impl SecurityError {
    /// The errno of the failed syscall, if one failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            SecurityError::Caps(e) => e.raw_os_error(),
            SecurityError::Seccomp(e) => e.raw_os_error(),
        }
    }
}
