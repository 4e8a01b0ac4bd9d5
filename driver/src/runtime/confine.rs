//! The last steps before exec, which take privileges away: capabilities, the user
//! switch, no_new_privs and the seccomp filter (installed last). What can be computed
//! before cloning is (`prepare`), so the child only makes syscalls (`apply`).

use super::spec::Security;
use super::user::User;

/// Everything `apply` needs, computed on the host side.
pub struct Confinement {
    no_new_privileges: bool,
}

pub fn prepare(security: &Security) -> Result<Confinement, String> {
    Ok(Confinement {
        no_new_privileges: security.no_new_privileges,
    })
}

fn errno(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Switches to the task's user and confines it. Runs in the task's init.
pub fn apply(c: &Confinement, user: &User) -> Result<(), String> {
    let groups: Vec<libc::gid_t> = user.groups.clone();
    // SAFETY: plain syscalls with valid arguments in the single-threaded init.
    unsafe {
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
            return Err(errno("setgroups"));
        }
        if libc::setresgid(user.gid, user.gid, user.gid) != 0 {
            return Err(errno("setresgid"));
        }
        if libc::setresuid(user.uid, user.uid, user.uid) != 0 {
            return Err(errno("setresuid"));
        }
        if c.no_new_privileges && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(errno("prctl(PR_SET_NO_NEW_PRIVS)"));
        }
    }
    Ok(())
}
