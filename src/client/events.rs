//! Nomad's task events: the `Type` strings, the fields each one carries (duplicated into
//! `Details` as Nomad's setters do) and the `DisplayMessage` Nomad's client fills in, so
//! `alloc status` reads the same as with Nomad.

use crate::structs::time::now_ns;
use crate::structs::{format_duration, TaskEvent, TaskState};

pub const TASK_RECEIVED: &str = "Received";
pub const TASK_SETUP: &str = "Task Setup";
pub const TASK_DRIVER_MESSAGE: &str = "Driver";
pub const TASK_STARTED: &str = "Started";
pub const TASK_TERMINATED: &str = "Terminated";
pub const TASK_RESTARTING: &str = "Restarting";
pub const TASK_NOT_RESTARTING: &str = "Not Restarting";
pub const TASK_KILLING: &str = "Killing";
pub const TASK_KILLED: &str = "Killed";
pub const TASK_DRIVER_FAILURE: &str = "Driver Failure";
pub const TASK_SETUP_FAILURE: &str = "Setup Failure";
pub const TASK_FAILED_VALIDATION: &str = "Failed Validation";
pub const TASK_SIBLING_FAILED: &str = "Sibling Task Failed";
pub const TASK_RESTART_SIGNAL: &str = "Restart Signaled";
pub const TASK_SIGNALING: &str = "Signaling";
pub const TASK_LEADER_DEAD: &str = "Leader Task Dead";
pub const TASK_MAIN_DEAD: &str = "Main Tasks Dead";
pub const TASK_RESTORE_FAILED: &str = "Failed Restoring Task";
pub const TASK_CLIENT_RECONNECTED: &str = "Reconnected";
pub const TASK_HOOK_FAILED: &str = "Task hook failed";

/// The `Task Setup` message of the task directory hook.
pub const BUILDING_TASK_DIR: &str = "Building Task Directory";
/// The docker driver's message while it pulls; drover's container driver says the same.
pub const DOWNLOADING_IMAGE: &str = "Downloading image";
/// The exit message the docker driver gives an OOM-killed container.
pub const OOM_KILLED: &str = "OOM Killed";

/// Restart reasons given to the user (`client/allocrunner/taskrunner/restarts`).
pub const REASON_WITHIN_POLICY: &str = "Restart within policy";
pub const REASON_NO_RESTARTS_ALLOWED: &str = "Policy allows no restarts";
pub const REASON_UNRECOVERABLE: &str = "Error was unrecoverable";
pub const REASON_DELAY: &str = "Exceeded allowed attempts, applying a delay";
pub const REASON_SUCCESSFUL_EXIT: &str = "Restart unnecessary as task terminated successfully";

/// Nomad keeps this many events per task; the oldest go first.
pub const MAX_TASK_EVENTS: usize = 10;

fn event(event_type: &str) -> TaskEvent {
    TaskEvent {
        event_type: event_type.to_string(),
        time: now_ns(),
        ..Default::default()
    }
}

fn detail(e: &mut TaskEvent, key: &str, value: impl Into<String>) {
    e.details.insert(key.to_string(), value.into());
}

/// Fills `DisplayMessage` from the other fields unless already set (Nomad's
/// `PopulateEventDisplayMessage`).
pub fn populate_display_message(e: &mut TaskEvent) {
    if e.display_message.is_empty() {
        e.display_message = display_message(e);
    }
}

fn or(value: &str, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value.to_string()
    }
}

/// What Nomad prints for an event whose `DisplayMessage` is empty.
pub fn display_message(e: &TaskEvent) -> String {
    match e.event_type.as_str() {
        TASK_SETUP => e.message.clone(),
        TASK_STARTED => "Task started by client".into(),
        TASK_RECEIVED => "Task received by client".into(),
        TASK_FAILED_VALIDATION => or(&e.validation_error, "Validation of task failed"),
        TASK_SETUP_FAILURE => or(&e.setup_error, "Task setup failed"),
        TASK_DRIVER_FAILURE => or(&e.driver_error, "Failed to start task"),
        "Downloading Artifacts" => "Client is downloading artifacts".into(),
        "Failed Artifact Download" => or(&e.download_error, "Failed to download artifacts"),
        TASK_KILLING if !e.kill_reason.is_empty() => e.kill_reason.clone(),
        TASK_KILLING if e.kill_timeout != 0 => format!(
            "Sent interrupt. Waiting {} before force killing",
            format_duration(e.kill_timeout)
        ),
        TASK_KILLING => "Sent interrupt".into(),
        TASK_KILLED => or(&e.kill_error, "Task successfully killed"),
        TASK_TERMINATED => {
            let mut parts = vec![format!("Exit Code: {}", e.exit_code)];
            if e.signal != 0 {
                parts.push(format!("Signal: {}", e.signal));
            }
            if !e.message.is_empty() {
                parts.push(format!("Exit Message: {:?}", e.message));
            }
            parts.join(", ")
        }
        TASK_RESTARTING => {
            let delay = format!("Task restarting in {}", format_duration(e.start_delay));
            if e.restart_reason.is_empty() || e.restart_reason == REASON_WITHIN_POLICY {
                delay
            } else {
                format!("{} - {delay}", e.restart_reason)
            }
        }
        TASK_NOT_RESTARTING => or(&e.restart_reason, "Task exceeded restart policy"),
        TASK_SIBLING_FAILED if e.failed_sibling.is_empty() => "Task's sibling failed".into(),
        TASK_SIBLING_FAILED => format!("Task's sibling {:?} failed", e.failed_sibling),
        TASK_SIGNALING => match (e.task_signal.as_str(), e.task_signal_reason.as_str()) {
            ("", "") => "Task being sent a signal".into(),
            ("", reason) => reason.into(),
            (sig, "") => format!("Task being sent signal {sig}"),
            (sig, reason) => format!("Task being sent signal {sig}: {reason}"),
        },
        TASK_RESTART_SIGNAL => or(&e.restart_reason, "Task signaled to restart"),
        TASK_DRIVER_MESSAGE => e.driver_message.clone(),
        TASK_LEADER_DEAD => "Leader Task in Group dead".into(),
        TASK_MAIN_DEAD => "Main tasks in the group died".into(),
        TASK_CLIENT_RECONNECTED => "Client reconnected".into(),
        _ => e.message.clone(),
    }
}

fn done(mut e: TaskEvent) -> TaskEvent {
    populate_display_message(&mut e);
    e
}

pub fn received() -> TaskEvent {
    done(event(TASK_RECEIVED))
}

/// `Task Setup` with a message, normally [`BUILDING_TASK_DIR`].
pub fn task_setup(message: &str) -> TaskEvent {
    let mut e = event(TASK_SETUP);
    e.message = message.to_string();
    detail(&mut e, "message", message);
    done(e)
}

/// A `Driver` event, e.g. [`DOWNLOADING_IMAGE`].
pub fn driver_message(message: &str) -> TaskEvent {
    let mut e = event(TASK_DRIVER_MESSAGE);
    e.driver_message = message.to_string();
    detail(&mut e, "driver_message", message);
    done(e)
}

pub fn started() -> TaskEvent {
    done(event(TASK_STARTED))
}

/// The task's process ended. An OOM kill carries the docker driver's `OOM Killed` exit
/// message (shown as `Exit Code: 137, Exit Message: "OOM Killed"`).
pub fn terminated(exit_code: i64, signal: i64, oom_killed: bool) -> TaskEvent {
    let message = oom_killed.then_some(OOM_KILLED);
    terminated_with_message(exit_code, signal, oom_killed, message)
}

/// [`terminated`] with the driver's own exit message (Nomad's `ExitResult.Err`).
pub fn terminated_with_message(
    exit_code: i64,
    signal: i64,
    oom_killed: bool,
    message: Option<&str>,
) -> TaskEvent {
    let mut e = event(TASK_TERMINATED);
    e.exit_code = exit_code;
    detail(&mut e, "exit_code", exit_code.to_string());
    e.signal = signal;
    detail(&mut e, "signal", signal.to_string());
    detail(&mut e, "oom_killed", oom_killed.to_string());
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        e.message = m.to_string();
        detail(&mut e, "exit_message", m);
    }
    done(e)
}

/// The restart tracker chose to restart after `delay_ns`.
pub fn restarting(delay_ns: i64, reason: &str) -> TaskEvent {
    let mut e = event(TASK_RESTARTING);
    e.start_delay = delay_ns;
    detail(&mut e, "start_delay", delay_ns.to_string());
    set_restart_reason(&mut e, reason);
    done(e)
}

/// The restart tracker gave up; `fails` marks the task failed (Nomad always sets it on
/// this event type when it comes from the tracker).
pub fn not_restarting(reason: &str, fails: bool) -> TaskEvent {
    let mut e = event(TASK_NOT_RESTARTING);
    set_restart_reason(&mut e, reason);
    if fails {
        set_fails_task(&mut e);
    }
    done(e)
}

/// About to send the kill signal; the task gets `kill_timeout_ns` before SIGKILL. A
/// reason replaces the default text.
pub fn killing(kill_timeout_ns: i64, reason: Option<&str>) -> TaskEvent {
    let mut e = event(TASK_KILLING);
    e.kill_timeout = kill_timeout_ns;
    detail(&mut e, "kill_timeout", format_duration(kill_timeout_ns));
    if let Some(r) = reason.filter(|r| !r.is_empty()) {
        e.kill_reason = r.to_string();
        detail(&mut e, "kill_reason", r);
    }
    done(e)
}

/// The task is gone after a kill; `error` when killing it failed.
pub fn killed(error: Option<&str>) -> TaskEvent {
    let mut e = event(TASK_KILLED);
    if let Some(err) = error.filter(|s| !s.is_empty()) {
        e.kill_error = err.to_string();
        detail(&mut e, "kill_error", err);
    }
    done(e)
}

/// The driver could not start the task.
pub fn driver_failure(error: &str) -> TaskEvent {
    let mut e = event(TASK_DRIVER_FAILURE);
    if !error.is_empty() {
        e.driver_error = error.to_string();
        detail(&mut e, "driver_error", error);
    }
    done(e)
}

/// A prestart step failed (task dir, image, config); it fails the task.
pub fn setup_failure(error: &str) -> TaskEvent {
    let mut e = event(TASK_SETUP_FAILURE);
    if !error.is_empty() {
        e.setup_error = error.to_string();
        detail(&mut e, "setup_error", error);
    }
    set_fails_task(&mut e);
    done(e)
}

/// The task's config could not be decoded or validated.
pub fn failed_validation(error: &str) -> TaskEvent {
    let mut e = event(TASK_FAILED_VALIDATION);
    if !error.is_empty() {
        e.validation_error = error.to_string();
        detail(&mut e, "validation_error", error);
    }
    done(e)
}

/// Emitted on the live tasks of an allocation when task `sibling` failed.
pub fn sibling_failed(sibling: &str) -> TaskEvent {
    let mut e = event(TASK_SIBLING_FAILED);
    e.failed_sibling = sibling.to_string();
    detail(&mut e, "failed_sibling", sibling);
    done(e)
}

/// The group's leader task died, so the others are stopped.
pub fn leader_dead() -> TaskEvent {
    done(event(TASK_LEADER_DEAD))
}

/// A restart was requested (`alloc restart`: "User requested task to restart").
pub fn restart_signaled(reason: &str) -> TaskEvent {
    let mut e = event(TASK_RESTART_SIGNAL);
    if !reason.is_empty() {
        set_restart_reason(&mut e, reason);
    }
    done(e)
}

/// A signal is being sent to the task. `signal` is a name such as `SIGHUP` (shown the
/// way Go prints signals, `hangup`); either part may be empty.
pub fn signaling(signal: &str, reason: &str) -> TaskEvent {
    let mut e = event(TASK_SIGNALING);
    if !signal.is_empty() {
        let text = go_signal_text(signal);
        e.task_signal = text.clone();
        detail(&mut e, "task_signal", text);
    }
    if !reason.is_empty() {
        e.task_signal_reason = reason.to_string();
        detail(&mut e, "task_signal_reason", reason);
    }
    done(e)
}

/// `alloc signal`: Nomad records only the requested signal's text in `Details`, so the
/// event reads "Task being sent a signal".
pub fn signal_requested(signal: &str) -> TaskEvent {
    let mut e = event(TASK_SIGNALING);
    detail(&mut e, "signal", signal);
    done(e)
}

fn set_restart_reason(e: &mut TaskEvent, reason: &str) {
    e.restart_reason = reason.to_string();
    detail(e, "restart_reason", reason);
}

fn set_fails_task(e: &mut TaskEvent) {
    e.fails_task = true;
    detail(e, "fails_task", "true");
}

/// Go's `syscall.Signal.String()` for the common signals; other names unchanged.
fn go_signal_text(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let text = match bare {
        "HUP" => "hangup",
        "INT" => "interrupt",
        "QUIT" => "quit",
        "KILL" => "killed",
        "USR1" => "user defined signal 1",
        "USR2" => "user defined signal 2",
        "TERM" => "terminated",
        "ALRM" => "alarm clock",
        "CHLD" => "child exited",
        "CONT" => "continued",
        "STOP" => "stopped (signal)",
        "TSTP" => "stopped",
        "WINCH" => "window changed",
        "PIPE" => "broken pipe",
        "ABRT" => "aborted",
        _ => return name.to_string(),
    };
    text.to_string()
}

/// Appends an event to a task's state the way Nomad's task runner does: a failing event
/// marks the task failed, a `Restarting` one counts a restart, and only the newest
/// [`MAX_TASK_EVENTS`] are kept.
pub fn append(state: &mut TaskState, mut event: TaskEvent) {
    populate_display_message(&mut event);
    if event.fails_task {
        state.failed = true;
    }
    if event.event_type == TASK_RESTARTING {
        state.restarts += 1;
        state.last_restart = crate::structs::time::rfc3339(event.time);
    }
    if state.events.len() >= MAX_TASK_EVENTS {
        let excess = state.events.len() + 1 - MAX_TASK_EVENTS;
        state.events.drain(..excess);
    }
    state.events.push(event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::SECOND;

    #[test]
    fn display_messages_are_nomads() {
        let cases: Vec<(TaskEvent, &str, &str)> = vec![
            (received(), "Received", "Task received by client"),
            (
                task_setup(BUILDING_TASK_DIR),
                "Task Setup",
                "Building Task Directory",
            ),
            (
                driver_message(DOWNLOADING_IMAGE),
                "Driver",
                "Downloading image",
            ),
            (started(), "Started", "Task started by client"),
            (terminated(0, 0, false), "Terminated", "Exit Code: 0"),
            (
                terminated(130, 2, false),
                "Terminated",
                "Exit Code: 130, Signal: 2",
            ),
            (
                terminated(137, 0, true),
                "Terminated",
                "Exit Code: 137, Exit Message: \"OOM Killed\"",
            ),
            (
                terminated_with_message(
                    1,
                    0,
                    false,
                    Some("Docker container exited with non-zero exit code: 1"),
                ),
                "Terminated",
                "Exit Code: 1, Exit Message: \"Docker container exited with non-zero exit code: 1\"",
            ),
            (
                restarting(15 * SECOND + SECOND / 2, REASON_WITHIN_POLICY),
                "Restarting",
                "Task restarting in 15.5s",
            ),
            (
                restarting(29 * 60 * SECOND, REASON_DELAY),
                "Restarting",
                "Exceeded allowed attempts, applying a delay - Task restarting in 29m0s",
            ),
            (
                not_restarting(
                    "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"",
                    true,
                ),
                "Not Restarting",
                "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"",
            ),
            (
                not_restarting("", true),
                "Not Restarting",
                "Task exceeded restart policy",
            ),
            (
                killing(5 * SECOND, None),
                "Killing",
                "Sent interrupt. Waiting 5s before force killing",
            ),
            (killing(0, None), "Killing", "Sent interrupt"),
            (
                killing(5 * SECOND, Some("max_run_duration exceeded")),
                "Killing",
                "max_run_duration exceeded",
            ),
            (killed(None), "Killed", "Task successfully killed"),
            (killed(Some("no such process")), "Killed", "no such process"),
            (
                driver_failure("image not found"),
                "Driver Failure",
                "image not found",
            ),
            (driver_failure(""), "Driver Failure", "Failed to start task"),
            (setup_failure(""), "Setup Failure", "Task setup failed"),
            (
                failed_validation("bad config"),
                "Failed Validation",
                "bad config",
            ),
            (
                failed_validation(""),
                "Failed Validation",
                "Validation of task failed",
            ),
            (
                sibling_failed("web"),
                "Sibling Task Failed",
                "Task's sibling \"web\" failed",
            ),
            (leader_dead(), "Leader Task Dead", "Leader Task in Group dead"),
            (
                restart_signaled("User requested task to restart"),
                "Restart Signaled",
                "User requested task to restart",
            ),
            (
                restart_signaled(""),
                "Restart Signaled",
                "Task signaled to restart",
            ),
            (
                signaling("SIGHUP", "Template re-rendered"),
                "Signaling",
                "Task being sent signal hangup: Template re-rendered",
            ),
            (
                signaling("SIGUSR1", ""),
                "Signaling",
                "Task being sent signal user defined signal 1",
            ),
            (
                signal_requested("SIGHUP"),
                "Signaling",
                "Task being sent a signal",
            ),
        ];
        for (e, ty, msg) in cases {
            assert_eq!(e.event_type, ty);
            assert_eq!(e.display_message, msg, "{ty}");
            assert!(e.time > 0);
        }
    }

    #[test]
    fn fields_and_details_follow_nomads_setters() {
        let t = terminated(137, 9, true);
        assert_eq!((t.exit_code, t.signal), (137, 9));
        assert_eq!(t.details["oom_killed"], "true");
        assert_eq!(t.details["exit_code"], "137");
        assert_eq!(t.details["exit_message"], "OOM Killed");
        assert!(!t.fails_task);
        assert_eq!(terminated(0, 0, false).details["oom_killed"], "false");

        let n = not_restarting(REASON_NO_RESTARTS_ALLOWED, true);
        assert!(n.fails_task);
        assert_eq!(n.details["fails_task"], "true");
        assert_eq!(n.details["restart_reason"], REASON_NO_RESTARTS_ALLOWED);
        assert!(!not_restarting("x", false).fails_task);

        let k = killing(5 * SECOND, None);
        assert_eq!(k.kill_timeout, 5 * SECOND);
        assert_eq!(k.details["kill_timeout"], "5s");

        let r = restarting(15 * SECOND, REASON_WITHIN_POLICY);
        assert_eq!(r.start_delay, 15 * SECOND);
        assert_eq!(r.details["start_delay"], "15000000000");

        assert!(setup_failure("x").fails_task);
        assert_eq!(sibling_failed("a").failed_sibling, "a");
        assert_eq!(signal_requested("SIGHUP").details["signal"], "SIGHUP");
        assert_eq!(display_message(&TaskEvent::default()), "");
    }

    #[test]
    fn append_keeps_the_newest_ten_and_updates_the_state() {
        let mut state = TaskState::default();
        for code in 0..12 {
            append(&mut state, terminated(code, 0, false));
        }
        assert_eq!(state.events.len(), MAX_TASK_EVENTS);
        assert_eq!(state.events[0].exit_code, 2, "the oldest two were dropped");
        assert_eq!(state.events[9].exit_code, 11);
        assert!(!state.failed);

        append(&mut state, restarting(SECOND, REASON_WITHIN_POLICY));
        assert_eq!(state.restarts, 1);
        assert_ne!(state.last_restart, "");
        assert_eq!(state.events.len(), MAX_TASK_EVENTS);

        append(&mut state, not_restarting(REASON_UNRECOVERABLE, true));
        assert!(state.failed);

        // An event built by hand gets its display message on the way in.
        let mut state = TaskState::default();
        append(
            &mut state,
            TaskEvent {
                event_type: TASK_STARTED.into(),
                ..Default::default()
            },
        );
        assert_eq!(state.events[0].display_message, "Task started by client");
    }
}
