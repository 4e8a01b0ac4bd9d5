//! Putting processes into a cgroup and killing everything in one, shared by v1 and v2.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

use super::error::{CgroupError, Result};

/// How long [`super::Cgroup::kill_all`] keeps killing before it reports
/// [`CgroupError::StillPopulated`]. Processes stuck in uninterruptible sleep (a hung NFS
/// server) can outlast it; the caller decides whether to retry.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a freeze may take before [`super::Cgroup::freeze`] gives up.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the kill loop waits for a freeze before signalling anyway.
pub(crate) const KILL_FREEZE_TIMEOUT: Duration = Duration::from_millis(200);

/// `cgroup.procs` of every hierarchy of a cgroup, opened for writing *before* a fork, so the
/// child can move itself in between `fork` and `exec` with nothing but `write(2)` (no
/// allocation, no locks: safe in `Command::pre_exec`).
///
/// On v2, `clone3(CLONE_INTO_CGROUP)` with [`super::Cgroup::cgroup_fd`] does the same
/// atomically.
///
/// ```no_run
/// # use drover_driver::cgroup::{CgroupConfig, CgroupManager, Cgroups, Resources};
/// use std::os::unix::process::CommandExt;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cgroups = Cgroups::detect(&CgroupConfig::default())?;
/// let mut cgroup = cgroups.task("alloc1.redis")?;
/// cgroup.create(&Resources::default())?;
/// let attach = cgroup.prepare_attach()?;
/// let mut command = std::process::Command::new("/bin/true");
/// // SAFETY: attach_current only calls write(2).
/// unsafe { command.pre_exec(move || attach.attach_current()) };
/// command.status()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CgroupAttach {
    files: Vec<(PathBuf, OwnedFd)>,
}

impl CgroupAttach {
    pub(crate) fn open<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<Self> {
        let files = dirs
            .into_iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
                    .map(|fd| (path.clone(), fd))
                    .map_err(|errno| CgroupError::Open {
                        path,
                        source: errno.into(),
                    })
            })
            .collect::<Result<_>>()?;
        Ok(Self { files })
    }

    /// Moves the calling process into the cgroup (writes `0`, "myself", to each
    /// `cgroup.procs`). Async-signal-safe.
    pub fn attach_current(&self) -> std::io::Result<()> {
        for (_, fd) in &self.files {
            rustix::io::write(fd, b"0")?;
        }
        Ok(())
    }

    /// Moves process `pid` (and its threads) into the cgroup: the parent's side of the
    /// same move, so it can happen while the child does other work.
    pub fn attach_pid(&self, pid: u32) -> std::io::Result<()> {
        let text = pid.to_string();
        for (_, fd) in &self.files {
            rustix::io::write(fd, text.as_bytes())?;
        }
        Ok(())
    }

    /// The `cgroup.procs` files this writes to.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(path, _)| path.as_path())
    }
}

/// Sends `signal` to each pid; a process that is already gone (`ESRCH`) is fine.
pub(crate) fn signal_all(cgroup: &Path, pids: &[u32], signal: Signal) -> Result<()> {
    for &pid in pids {
        let Some(target) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            continue;
        };
        match rustix::process::kill_process(target, signal) {
            Ok(()) | Err(Errno::SRCH) => {}
            Err(errno) => {
                return Err(CgroupError::Signal {
                    path: cgroup.to_path_buf(),
                    pid,
                    signal: signal.as_raw(),
                    source: errno.into(),
                })
            }
        }
    }
    Ok(())
}

/// Optional freezer hooks for [`kill_loop`].
pub(crate) struct FreezeHooks<'a> {
    /// Freezes, waiting at most the given time; an error is logged and ignored.
    pub freeze: &'a dyn Fn(Duration) -> Result<()>,
    /// Thaws.
    pub thaw: &'a dyn Fn() -> Result<()>,
}

/// SIGKILLs every process listed by `list` until the list is empty.
///
/// With a freezer: freeze → list → kill → thaw on each round, so a process cannot fork a
/// child between the listing and the kill (the frozen tasks die as soon as they are
/// thawed). Without one, rounds repeat until no new process shows up. Gives up with
/// [`CgroupError::StillPopulated`] after `timeout`.
pub(crate) fn kill_loop(
    cgroup: &Path,
    list: &dyn Fn() -> Result<Vec<u32>>,
    freezer: Option<FreezeHooks<'_>>,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(hooks) = &freezer {
            if let Err(err) = (hooks.freeze)(KILL_FREEZE_TIMEOUT) {
                tracing::debug!(cgroup = %cgroup.display(), %err, "freeze before kill failed; killing anyway");
            }
        }
        // Thaw whatever happened: the killed tasks only die once they run again.
        let round = list().and_then(|pids| signal_all(cgroup, &pids, Signal::KILL).map(|()| pids));
        if let Some(hooks) = &freezer {
            (hooks.thaw)()?;
        }
        let pids = round?;
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::StillPopulated {
                path: cgroup.to_path_buf(),
                pids: list()?,
                timeout,
            });
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Polls `done` until it returns true or `timeout` passes; returns the last answer.
pub(crate) fn wait_until(timeout: Duration, done: &dyn Fn() -> Result<bool>) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
