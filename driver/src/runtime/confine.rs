//! The last steps before exec, which take privileges away: capabilities, the user
//! switch, no_new_privs and the seccomp filter (installed last). What can be computed
//! before cloning is (`prepare`: parsing, compiling the filter), so the child only makes
//! raw syscalls (`apply`), in the order `security` documents.

use super::security::{caps, CapSet, Hardening, UserIds};
use super::spec::Security;
use super::user::User;

/// Everything `apply` needs, computed on the host side.
pub struct Confinement {
    hardening: Hardening,
}

pub fn prepare(security: &Security) -> Result<Confinement, String> {
    let caps = match &security.capabilities {
        Some(names) => CapSet::parse_list(names).map_err(|e| e.to_string())?,
        // No list: what the supervisor itself holds (raw_exec runs as the agent would).
        None => CapSet::from_bits_truncate(caps::current().map_err(|e| e.to_string())?.permitted),
    };
    let hardening = Hardening::new(
        caps,
        security.ambient_for_non_root,
        security.no_new_privileges,
        security.seccomp,
    )
    .map_err(|e| format!("seccomp: {e}"))?;
    Ok(Confinement { hardening })
}

/// Switches to the task's user and confines it. Runs in the task's init; after it only
/// `execve` may follow.
pub fn apply(c: &Confinement, user: &User) -> Result<(), String> {
    let ids = UserIds {
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
    };
    c.hardening.apply(Some(&ids)).map_err(|e| e.to_string())?;
    Ok(())
}
