//! One task's life on this node, as Nomad's task runner: prestart (task directory,
//! image, spec), start under its shim, wait, and then the restart policy decides —
//! restart after a delay, or stay dead. A kill (the allocation is stopped, or the
//! agent in `-dev` shuts down) ends the loop from any point. Every step is a task event.

use std::sync::Arc;
use std::time::Duration;

use drover_driver::runtime::{Recovered, TaskExit, TaskHandle};
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use super::alloc_runner::AllocShared;
use super::events;
use super::restarts::{Decision, ExitInfo, RestartTracker};
use super::task_setup::{self, SetupError};
use super::ClientCtx;
use crate::structs::time::{now_ns, rfc3339};
use crate::structs::{RestartPolicy, TASK_STATE_RUNNING};
use crate::structs::{Task, TaskEvent, TaskState, TASK_STATE_DEAD, TASK_STATE_PENDING};

/// Nomad's default kill timeout.
const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a task is being killed; `None` while it may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kill {
    /// The allocation is stopping (Nomad's alloc kill).
    Stop(String),
    /// A sibling failed: Nomad kills the rest of the group.
    SiblingFailed(String),
    /// The group's leader task ended: the others follow it.
    LeaderDead,
}

pub struct TaskRunner {
    pub name: String,
    ctx: Arc<ClientCtx>,
    alloc: Arc<AllocShared>,
    state: Mutex<TaskState>,
    handle: Mutex<Option<TaskHandle>>,
    kill: watch::Sender<Option<Kill>>,
    /// Opened by the alloc runner when the task's lifecycle phase comes (prestart tasks
    /// before main tasks, poststop after them); a task never starts before.
    gate: watch::Sender<bool>,
    /// `alloc restart`: stop and start again, not counted against the policy.
    restart: Notify,
}

enum Outcome {
    Exited(TaskExit),
    Killed(Kill),
    RestartRequested,
}

impl TaskRunner {
    pub fn new(
        name: &str,
        ctx: Arc<ClientCtx>,
        alloc: Arc<AllocShared>,
        state: TaskState,
        handle: Option<TaskHandle>,
    ) -> Arc<Self> {
        Arc::new(TaskRunner {
            name: name.to_string(),
            ctx,
            alloc,
            state: Mutex::new(state),
            handle: Mutex::new(handle),
            kill: watch::channel(None).0,
            gate: watch::channel(false).0,
            restart: Notify::new(),
        })
    }

    pub fn state(&self) -> TaskState {
        self.state.lock().clone()
    }

    pub fn handle(&self) -> Option<TaskHandle> {
        self.handle.lock().clone()
    }

    pub fn is_dead(&self) -> bool {
        self.state.lock().state == TASK_STATE_DEAD
    }

    pub fn kill(&self, why: Kill) {
        self.kill.send_if_modified(|k| {
            if k.is_none() {
                *k = Some(why);
                true
            } else {
                false
            }
        });
    }

    /// Records an event that changes nothing else (Received …).
    pub fn record(&self, event: TaskEvent) {
        self.emit(event, |_| {});
    }

    /// The allocation could not be set up (its network): the task never starts.
    pub fn fail_setup(&self, message: &str) {
        self.emit(events::setup_failure(message), |s| dead(s, true));
    }

    pub fn record_signal(&self, signal: &str) {
        self.emit(events::signaling(signal, "User requested signal"), |_| {});
    }

    /// Lets the task start (its lifecycle phase has come).
    pub fn open_gate(&self) {
        self.gate
            .send_if_modified(|open| !std::mem::replace(open, true));
    }

    pub fn request_restart(&self) {
        self.restart.notify_one();
    }

    fn task(&self) -> Option<Task> {
        let alloc = self.alloc.alloc();
        let job = alloc.job.as_ref()?;
        let group = job
            .task_groups
            .iter()
            .find(|g| g.name == alloc.task_group)?;
        group.tasks.iter().find(|t| t.name == self.name).cloned()
    }

    fn task_id(&self) -> String {
        format!("{}.{}", self.alloc.id, self.name)
    }

    /// Records an event (and optionally a state change) and lets the alloc runner know.
    fn emit(&self, event: TaskEvent, change: impl FnOnce(&mut TaskState)) {
        {
            let mut st = self.state.lock();
            change(&mut st);
            events::append(&mut st, event);
        }
        self.alloc.changed();
    }

    fn set_handle(&self, handle: Option<TaskHandle>) {
        *self.handle.lock() = handle;
        self.alloc.changed();
    }

    /// The whole life of the task. `restored`: a handle from before an agent restart.
    pub async fn run(self: Arc<Self>) {
        let Some(task) = self.task() else {
            self.emit(
                events::setup_failure("the allocation's job has no such task"),
                |s| dead(s, true),
            );
            return;
        };
        let job_type = self
            .alloc
            .alloc()
            .job
            .as_ref()
            .map(|j| j.job_type.clone())
            .unwrap_or_default();
        let policy = task
            .restart_policy
            .clone()
            .unwrap_or_else(|| RestartPolicy::default_for(&job_type));
        let mut tracker =
            RestartTracker::new(&policy, &job_type).with_lifecycle(task.lifecycle.as_ref());
        let mut kill_rx = self.kill.subscribe();

        // Reattach to a task that kept running while the agent was away.
        let mut handle = self.handle();
        let mut pending_exit = None;
        if let Some(h) = &handle {
            match self.ctx.driver.recover(h) {
                Ok(Recovered::Running) => {
                    tracing::info!(task = %self.task_id(), "client: reattached to task");
                }
                Ok(Recovered::Exited(exit)) => pending_exit = Some(exit),
                Err(e) => {
                    tracing::warn!(task = %self.task_id(), error = %e, "client: task lost while the agent was away");
                    handle = None;
                    self.set_handle(None);
                }
            }
        } else if self.state.lock().state == TASK_STATE_DEAD {
            return; // finished before the agent restarted
        } else {
            // Wait for this task's lifecycle phase, unless it is killed first.
            let mut gate = self.gate.subscribe();
            tokio::select! {
                _ = gate.wait_for(|open| *open) => {}
                _ = kill_rx.wait_for(|k| k.is_some()) => {}
            }
        }

        loop {
            let killed = kill_rx.borrow().clone();
            if let Some(why) = killed {
                if handle.is_none() {
                    self.finish_killed(&why, None).await;
                    return;
                }
            }
            let h = match handle.take() {
                Some(h) => h,
                None => match self.start(&task).await {
                    Ok(h) => h,
                    Err(err) => {
                        let recoverable = err.recoverable();
                        self.emit(err.event(), |_| {});
                        let decision =
                            tracker.on_start_error(recoverable, std::time::Instant::now());
                        if !self.apply_decision(decision, &mut kill_rx).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            let killed = kill_rx.borrow().clone();
            let outcome = match (pending_exit.take(), killed) {
                // Stopped while the agent was away: it ended because we stopped it.
                (Some(_), Some(why)) => Outcome::Killed(why),
                (Some(exit), None) => Outcome::Exited(exit),
                (None, _) => {
                    tokio::select! {
                        exit = self.ctx.driver.wait(&h) => match exit {
                            Ok(exit) => Outcome::Exited(exit),
                            Err(e) => Outcome::Exited(lost_exit(&e.to_string())),
                        },
                        k = kill_rx.wait_for(|k| k.is_some()) => {
                            let why = k.ok().and_then(|k| k.clone());
                            Outcome::Killed(why.unwrap_or(Kill::Stop("agent is shutting down".into())))
                        }
                        _ = self.restart.notified() => Outcome::RestartRequested,
                    }
                }
            };
            match outcome {
                Outcome::Killed(why) => {
                    self.finish_killed(&why, Some((&task, h))).await;
                    return;
                }
                Outcome::RestartRequested => {
                    self.emit(
                        events::restart_signaled("User requested task to restart"),
                        |_| {},
                    );
                    let exit = self.stop_task(&task, &h, None).await;
                    self.emit(terminated_event(&exit), |_| {});
                    self.release(&h);
                    // Outside the policy: immediate, not counted against attempts.
                    if let Some(e) = tracker.on_restart_requested().event() {
                        self.emit(e, |s| s.state = TASK_STATE_PENDING.into());
                    }
                    continue;
                }
                Outcome::Exited(exit) => {
                    self.emit(terminated_event(&exit), |_| {});
                    self.release(&h);
                    let info = ExitInfo {
                        code: exit.code as i64,
                        signal: exit.signal.unwrap_or(0) as i64,
                        oom: exit.oom_killed,
                        killed_by_us: false,
                    };
                    let decision = tracker.on_exit(info, std::time::Instant::now());
                    if !self.apply_decision(decision, &mut kill_rx).await {
                        return;
                    }
                }
            }
        }
    }

    /// Restart (after the delay, unless killed meanwhile: true) or stay dead (false).
    async fn apply_decision(
        &self,
        decision: Decision,
        kill_rx: &mut watch::Receiver<Option<Kill>>,
    ) -> bool {
        let event = decision.event();
        match decision {
            Decision::Restart { delay, .. } => {
                if let Some(e) = event {
                    self.emit(e, |s| s.state = TASK_STATE_PENDING.into());
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = kill_rx.wait_for(|k| k.is_some()) => {}
                }
                let killed = kill_rx.borrow().clone();
                if let Some(why) = killed {
                    self.finish_killed(&why, None).await;
                    return false;
                }
                // The Restarting event counted the restart (events::append).
                true
            }
            Decision::NoRestart { failed, .. } => {
                match event {
                    Some(e) => self.emit(e, |s| dead(s, failed)),
                    None => {
                        dead(&mut self.state.lock(), failed);
                        self.alloc.changed();
                    }
                }
                false
            }
            Decision::Killed => {
                self.emit(events::killed(None), |s| dead(s, false));
                false
            }
        }
    }

    /// Prestart and start: task dir, image, spec, then the driver.
    async fn start(&self, task: &Task) -> Result<TaskHandle, SetupError> {
        if self
            .state
            .lock()
            .events
            .iter()
            .all(|e| e.event_type != "Task Setup")
        {
            self.emit(events::task_setup("Building Task Directory"), |_| {});
        }
        let request = task_setup::prepare(&self.ctx, &self.alloc, task, |msg| {
            self.emit(events::driver_message(msg), |_| {});
        })
        .await?;
        let driver = self.ctx.driver.clone();
        let handle = tokio::task::spawn_blocking(move || driver.start(request))
            .await
            .map_err(|e| SetupError::Driver {
                message: format!("starting the task: {e}"),
                recoverable: true,
            })?
            .map_err(SetupError::from_driver)?;
        *self.handle.lock() = Some(handle.clone());
        self.emit(events::started(), |s| {
            s.state = TASK_STATE_RUNNING.into();
            s.failed = false;
            if crate::structs::time::parse_rfc3339(&s.started_at).is_none() {
                s.started_at = rfc3339(now_ns());
            }
            s.finished_at = crate::structs::time::ZERO_TIME.into();
        });
        Ok(handle)
    }

    /// Sends the kill signal, waits `kill_timeout`, then kills what is left.
    async fn stop_task(&self, task: &Task, h: &TaskHandle, reason: Option<&str>) -> TaskExit {
        let timeout = match task.kill_timeout {
            t if t > 0 => Duration::from_nanos(t as u64),
            _ => DEFAULT_KILL_TIMEOUT,
        };
        let signal = parse_signal(&task.kill_signal).unwrap_or(libc::SIGINT);
        self.emit(events::killing(timeout.as_nanos() as i64, reason), |_| {});
        match self.ctx.driver.stop(h, signal, timeout).await {
            Ok(exit) => exit,
            Err(e) => lost_exit(&e.to_string()),
        }
    }

    /// The task ends for good because it was killed: stop it if it runs, record the end.
    async fn finish_killed(&self, why: &Kill, running: Option<(&Task, TaskHandle)>) {
        // A plain stop shows Nomad's "Sent interrupt…"; a sibling's failure says so.
        let reason = match why {
            Kill::Stop(_) => None,
            Kill::SiblingFailed(name) => {
                self.emit(events::sibling_failed(name), |_| {});
                Some(format!("Task's sibling \"{name}\" failed"))
            }
            Kill::LeaderDead => {
                self.emit(events::leader_dead(), |_| {});
                Some("Leader Task in Group dead".to_string())
            }
        };
        if let Some((task, h)) = running {
            let exit = self.stop_task(task, &h, reason.as_deref()).await;
            self.emit(terminated_event(&exit), |_| {});
            self.release(&h);
        }
        self.emit(events::killed(None), |s| dead(s, false));
    }

    /// Removes the task's cgroup and driver state and releases its image.
    fn release(&self, h: &TaskHandle) {
        if let Err(e) = self.ctx.driver.destroy(h) {
            tracing::warn!(task = %self.task_id(), error = %e, "client: cleaning up the task");
        }
        let _ = self.ctx.images.store().release(&self.task_id());
        self.set_handle(None);
    }
}

fn dead(s: &mut TaskState, failed: bool) {
    s.state = TASK_STATE_DEAD.into();
    s.failed |= failed;
    s.finished_at = rfc3339(now_ns());
}

fn terminated_event(exit: &TaskExit) -> TaskEvent {
    events::terminated(
        exit.code as i64,
        exit.signal.unwrap_or(0) as i64,
        exit.oom_killed,
    )
}

/// The shim went away without recording the exit: treated as a failed exit.
fn lost_exit(message: &str) -> TaskExit {
    tracing::warn!(error = %message, "client: task exit not recorded");
    TaskExit {
        code: 255,
        signal: None,
        oom_killed: false,
        finished_at: 0,
    }
}

/// `SIGINT`, `INT`, `sigterm`, `15` → the signal number.
pub fn parse_signal(name: &str) -> Option<i32> {
    let n = name.trim().to_ascii_uppercase();
    if n.is_empty() {
        return None;
    }
    if let Ok(num) = n.parse::<i32>() {
        return Some(num);
    }
    let n = n.strip_prefix("SIG").unwrap_or(&n);
    Some(match n {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signals_by_any_name() {
        for (name, want) in [
            ("SIGINT", Some(libc::SIGINT)),
            ("int", Some(libc::SIGINT)),
            ("SIGUSR1", Some(libc::SIGUSR1)),
            ("9", Some(9)),
            ("", None),
            ("SIGBOGUS", None),
        ] {
            assert_eq!(parse_signal(name), want, "{name}");
        }
    }
}
