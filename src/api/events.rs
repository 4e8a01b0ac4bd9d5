//! Task events' `DisplayMessage`: Nomad fills it in as it serves an allocation, from the
//! event's type and its legacy fields, so every client shows the same sentence.

use crate::structs::{format_duration, Allocation, AllocationListStub, TaskEvent, TaskState};

/// Nomad's `ReasonWithinPolicy`: a restart this ordinary is not worth naming.
const RESTART_WITHIN_POLICY: &str = "Restart within policy";

pub fn display_message(e: &TaskEvent) -> String {
    match e.event_type.as_str() {
        "Task Setup" => e.message.clone(),
        "Started" => "Task started by client".into(),
        "Received" => "Task received by client".into(),
        "Failed Validation" => or(&e.validation_error, "Validation of task failed"),
        "Setup Failure" => or(&e.setup_error, "Task setup failed"),
        "Driver Failure" => or(&e.driver_error, "Failed to start task"),
        "Downloading Artifacts" => "Client is downloading artifacts".into(),
        "Failed Artifact Download" => or(&e.download_error, "Failed to download artifacts"),
        "Killing" if !e.kill_reason.is_empty() => e.kill_reason.clone(),
        "Killing" if e.kill_timeout != 0 => format!(
            "Sent interrupt. Waiting {} before force killing",
            format_duration(e.kill_timeout)
        ),
        "Killing" => "Sent interrupt".into(),
        "Killed" => or(&e.kill_error, "Task successfully killed"),
        "Terminated" => {
            let mut parts = vec![format!("Exit Code: {}", e.exit_code)];
            if e.signal != 0 {
                parts.push(format!("Signal: {}", e.signal));
            }
            if !e.message.is_empty() {
                parts.push(format!("Exit Message: {:?}", e.message));
            }
            parts.join(", ")
        }
        "Restarting" => {
            let delay = format!("Task restarting in {}", format_duration(e.start_delay));
            if e.restart_reason.is_empty() || e.restart_reason == RESTART_WITHIN_POLICY {
                delay
            } else {
                format!("{} - {delay}", e.restart_reason)
            }
        }
        "Not Restarting" => or(&e.restart_reason, "Task exceeded restart policy"),
        "Sibling Task Failed" if !e.failed_sibling.is_empty() => {
            format!("Task's sibling {:?} failed", e.failed_sibling)
        }
        "Sibling Task Failed" => "Task's sibling failed".into(),
        "Signaling" => match (e.task_signal.as_str(), e.task_signal_reason.as_str()) {
            ("", "") => "Task being sent a signal".into(),
            ("", reason) => reason.into(),
            (sig, "") => format!("Task being sent signal {sig}"),
            (sig, reason) => format!("Task being sent signal {sig}: {reason}"),
        },
        "Restart Signaled" => or(&e.restart_reason, "Task signaled to restart"),
        "Driver" => e.driver_message.clone(),
        "Leader Task Dead" => "Leader Task in Group dead".into(),
        "Main Tasks Dead" => "Main tasks in the group died".into(),
        "Reconnected" => "Client reconnected".into(),
        _ => e.message.clone(),
    }
}

fn or(value: &str, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value.to_string()
    }
}

fn fill_states<'a>(states: impl Iterator<Item = &'a mut TaskState>) {
    for state in states {
        for event in &mut state.events {
            if event.display_message.is_empty() {
                event.display_message = display_message(event);
            }
        }
    }
}

/// Fills every event's `DisplayMessage` that the client left empty.
pub fn fill_alloc(alloc: &mut Allocation) {
    fill_states(alloc.task_states.values_mut());
}

/// The list form of an allocation as the list endpoints serve it: task states included,
/// display messages filled.
pub fn alloc_stub(alloc: &Allocation) -> AllocationListStub {
    let mut stub = alloc.stub(false, true);
    fill_stub(&mut stub);
    stub
}

pub fn fill_stub(stub: &mut AllocationListStub) {
    if let Some(states) = stub.task_states.as_mut() {
        fill_states(states.values_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::SECOND;

    #[test]
    fn messages_follow_nomad() {
        let ev = |t: &str| TaskEvent {
            event_type: t.into(),
            ..Default::default()
        };
        let cases = [
            (ev("Received"), "Task received by client"),
            (
                TaskEvent {
                    message: "Building Task Directory".into(),
                    ..ev("Task Setup")
                },
                "Building Task Directory",
            ),
            (ev("Started"), "Task started by client"),
            (
                TaskEvent {
                    kill_timeout: 5 * SECOND,
                    ..ev("Killing")
                },
                "Sent interrupt. Waiting 5s before force killing",
            ),
            (ev("Killing"), "Sent interrupt"),
            (ev("Killed"), "Task successfully killed"),
            (
                TaskEvent {
                    exit_code: 137,
                    signal: 9,
                    ..ev("Terminated")
                },
                "Exit Code: 137, Signal: 9",
            ),
            (
                TaskEvent {
                    message: "oom".into(),
                    ..ev("Terminated")
                },
                "Exit Code: 0, Exit Message: \"oom\"",
            ),
            (
                TaskEvent {
                    start_delay: 15 * SECOND,
                    restart_reason: RESTART_WITHIN_POLICY.into(),
                    ..ev("Restarting")
                },
                "Task restarting in 15s",
            ),
            (
                TaskEvent {
                    start_delay: 15 * SECOND,
                    restart_reason: "Exceeded allowed attempts, applying a delay".into(),
                    ..ev("Restarting")
                },
                "Exceeded allowed attempts, applying a delay - Task restarting in 15s",
            ),
            (ev("Not Restarting"), "Task exceeded restart policy"),
            (
                TaskEvent {
                    failed_sibling: "web".into(),
                    ..ev("Sibling Task Failed")
                },
                "Task's sibling \"web\" failed",
            ),
            (
                TaskEvent {
                    driver_message: "Downloading image".into(),
                    ..ev("Driver")
                },
                "Downloading image",
            ),
            (
                TaskEvent {
                    message: "custom".into(),
                    ..ev("Task hook message")
                },
                "custom",
            ),
        ];
        for (event, want) in cases {
            assert_eq!(display_message(&event), want, "{}", event.event_type);
        }
    }

    #[test]
    fn filling_keeps_the_clients_own_text() {
        let mut alloc = Allocation::default();
        let state = alloc.task_states.entry("redis".into()).or_default();
        state.events.push(TaskEvent {
            event_type: "Started".into(),
            ..Default::default()
        });
        state.events.push(TaskEvent {
            event_type: "Started".into(),
            display_message: "mine".into(),
            ..Default::default()
        });
        fill_alloc(&mut alloc);
        let events = &alloc.task_states["redis"].events;
        assert_eq!(events[0].display_message, "Task started by client");
        assert_eq!(events[1].display_message, "mine");
    }
}
