//! Supervising a task from a single-threaded parent: signals meant for the task are
//! blocked in the parent (before launching, so none is lost) and received synchronously
//! with `sigwaitinfo`, together with SIGCHLD: no handlers, no threads. The task's init
//! unblocks them again before exec.

use super::launch::{ExitStatus, Launched};

/// Signals a supervisor passes on to its task.
pub const FORWARDED: &[i32] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

fn set_of(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data initialised by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

fn watched() -> libc::sigset_t {
    let mut all = FORWARDED.to_vec();
    all.push(libc::SIGCHLD);
    set_of(&all)
}

/// Blocks the forwarded signals and SIGCHLD in this (single-threaded) process. Call
/// before [`launch`](super::launch).
pub fn block_signals() {
    let set = watched();
    // SAFETY: a valid set; changing our own mask.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Waits for the task to exit, calling `on_signal(signal, count)` for every forwarded
/// signal received meanwhile (`count` starts at 1).
pub fn wait_forwarding(
    task: &Launched,
    mut on_signal: impl FnMut(i32, u32),
) -> std::io::Result<ExitStatus> {
    let set = watched();
    let mut received = 0;
    loop {
        let mut status = 0;
        // SAFETY: polling our own child.
        let r = unsafe { libc::waitpid(task.pid, &mut status, libc::WNOHANG) };
        if r == task.pid {
            return Ok(ExitStatus::from_wait_status(status));
        }
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a valid set; the info pointer may be null.
        let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if sig > 0 && sig != libc::SIGCHLD {
            received += 1;
            on_signal(sig, received);
        }
    }
}

/// Sends `signal` to the task's init through its pidfd (never a recycled pid).
pub fn signal(task: &Launched, signal: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal with a pidfd we own and no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            task.pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
