//! Task events' `DisplayMessage`: Nomad fills it in as it serves an allocation, from the
//! event's type and its legacy fields, so every client shows the same sentence.

use crate::structs::{Allocation, AllocationListStub, TaskState};

/// One sentence per event type, as Nomad's client and server both fill it.
pub use crate::client::events::display_message;

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
    use crate::structs::TaskEvent;
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
                    restart_reason: crate::client::events::REASON_WITHIN_POLICY.into(),
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
