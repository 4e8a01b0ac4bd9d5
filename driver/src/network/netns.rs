//! Named network namespaces the way iproute2 keeps them: a namespace is kept alive by
//! a bind mount of its nsfs file at `/var/run/netns/<name>`, so tools (`ip netns`)
//! see it and it outlives the thread that made it and the agent.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::mount::{MountPropagationFlags, UnmountFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use super::error::NetworkError;
use super::netlink::Netlink;

pub(crate) const NETNS_DIR: &str = "/var/run/netns";
const NSFS_MAGIC: i64 = 0x6e73_6673;

fn ns_err(path: &Path, step: &'static str, source: io::Error) -> NetworkError {
    NetworkError::Netns {
        path: path.to_path_buf(),
        step,
        source,
    }
}

/// Makes `/var/run/netns` a shared mount point (as iproute2 does), so the bind mounts
/// below it propagate to mount namespaces created later (tasks' own namespaces).
fn ensure_dir() -> Result<(), NetworkError> {
    let dir = Path::new(NETNS_DIR);
    std::fs::create_dir_all(dir).map_err(|e| ns_err(dir, "create directory", e))?;
    let shared = MountPropagationFlags::SHARED | MountPropagationFlags::REC;
    match rustix::mount::mount_change(dir, shared) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) => {
            // Not a mount point yet: bind it onto itself first.
            rustix::mount::mount_bind(dir, dir)
                .map_err(|e| ns_err(dir, "bind mount onto itself", e.into()))?;
            rustix::mount::mount_change(dir, shared)
                .map_err(|e| ns_err(dir, "make shared", e.into()))
        }
        Err(e) => Err(ns_err(dir, "make shared", e.into())),
    }
}

pub(crate) fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Creates the named namespace (with loopback up) and returns its path. An existing
/// one of that name is refused (EEXIST), so a half-finished earlier attempt is seen.
pub(crate) fn create(name: &str) -> Result<PathBuf, NetworkError> {
    ensure_dir()?;
    let target = path(name);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&target)
        .map_err(|e| ns_err(&target, "create mount point", e))?;
    let t = target.clone();
    // unshare(CLONE_NEWNET) moves only the calling thread: a throwaway thread makes the
    // namespace, pins it with the bind mount and brings loopback up, then exits.
    let made = std::thread::spawn(move || -> Result<(), NetworkError> {
        // SAFETY: NEWNET does not unshare the file table, the only unsafe case.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
            .map_err(|e| ns_err(&t, "unshare", e.into()))?;
        rustix::mount::mount_bind("/proc/thread-self/ns/net", &t)
            .map_err(|e| ns_err(&t, "bind mount", e.into()))?;
        let mut nl = Netlink::open().map_err(|e| ns_err(&t, "netlink socket", e))?;
        nl.set_up("lo")
    })
    .join()
    .unwrap_or_else(|_| Err(ns_err(&target, "thread", io::ErrorKind::Other.into())));
    if let Err(e) = made {
        let _ = remove(&target);
        return Err(e);
    }
    Ok(target)
}

/// Opens a namespace file, checking it still is a namespace (a mount that went away
/// leaves a plain empty file behind).
pub(crate) fn open(path: &Path) -> Result<OwnedFd, NetworkError> {
    let file = File::open(path).map_err(|e| ns_err(path, "open", e))?;
    let st = rustix::fs::fstatfs(&file).map_err(|e| ns_err(path, "statfs", e.into()))?;
    if st.f_type as i64 != NSFS_MAGIC {
        return Err(ns_err(
            path,
            "check",
            io::Error::new(io::ErrorKind::NotFound, "not a mounted network namespace"),
        ));
    }
    Ok(file.into())
}

/// A netlink socket inside the namespace at `path` (opened on a thread that entered it).
pub(crate) fn netlink_in(path: &Path) -> Result<Netlink, NetworkError> {
    let fd = open(path)?;
    let p = path.to_path_buf();
    std::thread::spawn(move || -> Result<Netlink, NetworkError> {
        rustix::thread::move_into_link_name_space(fd.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| ns_err(&p, "setns", e.into()))?;
        Netlink::open().map_err(|e| ns_err(&p, "netlink socket", e))
    })
    .join()
    .unwrap_or_else(|_| Err(ns_err(path, "thread", io::ErrorKind::Other.into())))
}

/// Unmounts and unlinks a named namespace; a missing one is fine. The namespace itself
/// dies with its last user (a task still inside keeps it until it exits).
pub(crate) fn remove(path: &Path) -> Result<(), NetworkError> {
    match rustix::mount::unmount(path, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(ns_err(path, "unmount", e.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ns_err(path, "unlink", e)),
    }
}

/// Names of the namespaces under `/var/run/netns` starting with `prefix`.
pub(crate) fn list(prefix: &str) -> Result<Vec<String>, NetworkError> {
    let dir = Path::new(NETNS_DIR);
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ns_err(dir, "list", e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ns_err(dir, "list", e))?;
        if let Some(name) = entry.file_name().to_str() {
            if name.starts_with(prefix) {
                names.push(name.to_string());
            }
        }
    }
    Ok(names)
}
