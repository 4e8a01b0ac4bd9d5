//! The restart tracker: whether a task that exited (or failed to start) is started
//! again, after how long, and with which of Nomad's reasons (§3.4).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use super::events;
use crate::structs::{
    format_duration, RestartPolicy, TaskEvent, TaskLifecycle, JOB_TYPE_BATCH, JOB_TYPE_SYSBATCH,
};

/// Restart delays get up to this fraction of the delay added, so tasks that failed
/// together do not restart in lockstep.
const JITTER: f64 = 0.25;

/// How a task's process ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: i64,
    pub signal: i64,
    pub oom: bool,
    /// The client stopped it (alloc stopped, job updated): never restarted.
    pub killed_by_us: bool,
}

impl ExitInfo {
    /// Nomad's `ExitResult.Successful`: code 0, no signal, no error.
    pub fn successful(&self) -> bool {
        self.code == 0 && self.signal == 0 && !self.oom
    }
}

/// What the task runner does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start the task again after `delay`.
    Restart { delay: Duration, reason: String },
    /// The task stays dead; `failed` (restart policy exhausted, unrecoverable error)
    /// fails it and so the allocation, otherwise it completed.
    NoRestart { reason: String, failed: bool },
    /// The client killed it: no restart and no failure.
    Killed,
}

impl Decision {
    /// The task event Nomad emits for this decision (`Restarting`, `Not Restarting`,
    /// `Killed`); none for a successful completion (its `Terminated` says it all).
    pub fn event(&self) -> Option<TaskEvent> {
        match self {
            Decision::Restart { delay, reason } => Some(events::restarting(
                i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX),
                reason,
            )),
            Decision::NoRestart {
                reason,
                failed: true,
            } => Some(events::not_restarting(reason, true)),
            Decision::NoRestart { failed: false, .. } => None,
            Decision::Killed => Some(events::killed(None)),
        }
    }
}

pub struct RestartTracker {
    attempts: u64,
    interval: Duration,
    delay: Duration,
    mode_fail: bool,
    /// Restart even after a successful exit (services are meant to run forever).
    on_success: bool,
    /// Start of the current interval.
    interval_start: Instant,
    count: u64,
    /// A number in [0, 1) per call: the share of the maximum jitter to add.
    jitter: Box<dyn FnMut() -> f64 + Send>,
}

impl std::fmt::Debug for RestartTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestartTracker")
            .field("attempts", &self.attempts)
            .field("interval", &self.interval)
            .field("delay", &self.delay)
            .field("mode_fail", &self.mode_fail)
            .field("on_success", &self.on_success)
            .field("count", &self.count)
            .finish()
    }
}

fn nanos(ns: Option<i64>) -> Duration {
    Duration::from_nanos(ns.unwrap_or_default().max(0) as u64)
}

/// A fresh random fraction in [0, 1) (std's per-instance random hash keys; restart
/// jitter needs no better randomness).
fn random_fraction() -> f64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

impl RestartTracker {
    /// A tracker for a task of a job of `job_type`; fields missing from `policy` take
    /// the job type's defaults. The first interval starts now.
    pub fn new(policy: &RestartPolicy, job_type: &str) -> Self {
        Self::new_at(policy, job_type, Instant::now())
    }

    /// [`new`](Self::new) with the first interval starting at `start`.
    pub fn new_at(policy: &RestartPolicy, job_type: &str, start: Instant) -> Self {
        let mut p = RestartPolicy::default_for(job_type);
        p.merge(policy);
        RestartTracker {
            attempts: p.attempts.unwrap_or_default().max(0) as u64,
            interval: nanos(p.interval),
            delay: nanos(p.delay),
            mode_fail: p.mode.as_deref() != Some(crate::structs::RESTART_MODE_DELAY),
            on_success: job_type != JOB_TYPE_BATCH && job_type != JOB_TYPE_SYSBATCH,
            interval_start: start,
            count: 0,
            jitter: Box::new(random_fraction),
        }
    }

    /// Lifecycle tasks: prestart/poststart tasks restart after success only if they are
    /// sidecars; poststop tasks never do.
    pub fn with_lifecycle(mut self, lifecycle: Option<&TaskLifecycle>) -> Self {
        match lifecycle.map(|l| l.hook.as_str()) {
            Some("prestart") | Some("poststart") => {
                self.on_success = lifecycle.is_some_and(|l| l.sidecar)
            }
            Some("poststop") => self.on_success = false,
            _ => {}
        }
        self
    }

    /// Replaces the jitter source (tests: a fixed fraction in [0, 1)).
    pub fn with_jitter(mut self, source: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.jitter = Box::new(source);
        self
    }

    /// Restarts counted in the current interval.
    pub fn restarts(&self) -> u64 {
        self.count
    }

    /// The task's process ended at `now`.
    pub fn on_exit(&mut self, exit: ExitInfo, now: Instant) -> Decision {
        if exit.killed_by_us {
            return Decision::Killed;
        }
        if self.attempts == 0 {
            return Decision::NoRestart {
                reason: events::REASON_NO_RESTARTS_ALLOWED.into(),
                // A batch task that succeeded simply completed.
                failed: self.on_success || !exit.successful(),
            };
        }
        self.count_attempt(now);
        if exit.successful() && !self.on_success {
            return Decision::NoRestart {
                reason: events::REASON_SUCCESSFUL_EXIT.into(),
                failed: false,
            };
        }
        self.within_policy(now)
    }

    /// Starting the task failed at `now`; unrecoverable errors are not retried.
    pub fn on_start_error(&mut self, recoverable: bool, now: Instant) -> Decision {
        if self.attempts == 0 {
            return Decision::NoRestart {
                reason: events::REASON_NO_RESTARTS_ALLOWED.into(),
                failed: true,
            };
        }
        self.count_attempt(now);
        if !recoverable {
            return Decision::NoRestart {
                reason: events::REASON_UNRECOVERABLE.into(),
                failed: true,
            };
        }
        self.within_policy(now)
    }

    /// A restart asked for by a user (`alloc restart`): immediate, outside the policy.
    pub fn on_restart_requested(&mut self) -> Decision {
        Decision::Restart {
            delay: Duration::ZERO,
            reason: String::new(),
        }
    }

    fn count_attempt(&mut self, now: Instant) {
        if now > self.interval_start + self.interval {
            self.count = 0;
            self.interval_start = now;
        }
        self.count += 1;
    }

    fn within_policy(&mut self, now: Instant) -> Decision {
        if self.count <= self.attempts {
            return Decision::Restart {
                delay: self.jittered_delay(),
                reason: events::REASON_WITHIN_POLICY.into(),
            };
        }
        if self.mode_fail {
            return Decision::NoRestart {
                reason: format!(
                    "Exceeded allowed attempts {} in interval {} and mode is \"fail\"",
                    self.attempts,
                    format_duration(self.interval.as_nanos() as i64)
                ),
                failed: true,
            };
        }
        // Mode delay: wait for the interval to end, when the count starts over.
        Decision::Restart {
            delay: (self.interval_start + self.interval).saturating_duration_since(now),
            reason: events::REASON_DELAY.into(),
        }
    }

    fn jittered_delay(&mut self) -> Duration {
        let base = self.delay.max(Duration::from_nanos(1));
        let fraction = (self.jitter)().clamp(0.0, 1.0);
        base + base.mul_f64(fraction * JITTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{MINUTE, SECOND};

    fn policy(attempts: i64, interval_s: i64, delay_s: i64, mode: &str) -> RestartPolicy {
        RestartPolicy {
            attempts: Some(attempts),
            interval: Some(interval_s * SECOND),
            delay: Some(delay_s * SECOND),
            mode: Some(mode.into()),
            render_templates: None,
        }
    }

    fn exit(code: i64) -> ExitInfo {
        ExitInfo {
            code,
            ..Default::default()
        }
    }

    fn restart(secs: u64, reason: &str) -> Decision {
        Decision::Restart {
            delay: Duration::from_secs(secs),
            reason: reason.into(),
        }
    }

    fn no(reason: &str, failed: bool) -> Decision {
        Decision::NoRestart {
            reason: reason.into(),
            failed,
        }
    }

    enum Step {
        Exit(ExitInfo, u64),
        StartError(bool, u64),
    }

    #[test]
    fn decisions_follow_nomads_tracker() {
        use Step::*;
        let fail2 = policy(2, 1800, 15, "fail");
        let delay2 = policy(2, 1800, 15, "delay");
        let none = policy(0, 1800, 15, "fail");
        let killed = ExitInfo {
            killed_by_us: true,
            ..exit(137)
        };
        let exceeded = "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"";
        let oom = ExitInfo {
            oom: true,
            ..exit(0)
        };
        let signalled = ExitInfo {
            signal: 15,
            ..exit(0)
        };
        // (name, policy, job type, steps with seconds since start, expected decisions)
        type Case<'a> = (
            &'a str,
            &'a RestartPolicy,
            &'a str,
            Vec<Step>,
            Vec<Decision>,
        );
        let cases: Vec<Case> = vec![
            (
                "killed tasks never restart",
                &fail2,
                "service",
                vec![Exit(killed, 1)],
                vec![Decision::Killed],
            ),
            (
                "service: restarts within policy, then fails",
                &fail2,
                "service",
                vec![Exit(exit(1), 1), Exit(exit(0), 20), Exit(exit(1), 40)],
                vec![
                    restart(15, events::REASON_WITHIN_POLICY),
                    restart(15, events::REASON_WITHIN_POLICY),
                    no(exceeded, true),
                ],
            ),
            (
                "a new interval resets the count",
                &fail2,
                "service",
                vec![
                    Exit(exit(1), 1),
                    Exit(exit(1), 20),
                    Exit(exit(1), 1801),
                    Exit(exit(1), 1820),
                    Exit(exit(1), 1840),
                ],
                vec![
                    restart(15, events::REASON_WITHIN_POLICY),
                    restart(15, events::REASON_WITHIN_POLICY),
                    restart(15, events::REASON_WITHIN_POLICY),
                    restart(15, events::REASON_WITHIN_POLICY),
                    no(exceeded, true),
                ],
            ),
            (
                "mode delay waits for the interval to end",
                &delay2,
                "service",
                vec![Exit(exit(1), 1), Exit(exit(1), 20), Exit(exit(1), 100)],
                vec![
                    restart(15, events::REASON_WITHIN_POLICY),
                    restart(15, events::REASON_WITHIN_POLICY),
                    restart(1700, events::REASON_DELAY),
                ],
            ),
            (
                "batch: success completes the task",
                &fail2,
                "batch",
                vec![Exit(exit(0), 1)],
                vec![no(events::REASON_SUCCESSFUL_EXIT, false)],
            ),
            (
                "sysbatch: success completes, failure restarts",
                &fail2,
                "sysbatch",
                vec![Exit(exit(2), 1), Exit(exit(0), 30)],
                vec![
                    restart(15, events::REASON_WITHIN_POLICY),
                    no(events::REASON_SUCCESSFUL_EXIT, false),
                ],
            ),
            (
                "batch: signals and OOM are not successes",
                &fail2,
                "batch",
                vec![Exit(signalled, 1), Exit(oom, 20)],
                vec![
                    restart(15, events::REASON_WITHIN_POLICY),
                    restart(15, events::REASON_WITHIN_POLICY),
                ],
            ),
            (
                "no attempts: a failure is final",
                &none,
                "service",
                vec![Exit(exit(1), 1)],
                vec![no(events::REASON_NO_RESTARTS_ALLOWED, true)],
            ),
            (
                "no attempts: a service exiting 0 still fails",
                &none,
                "service",
                vec![Exit(exit(0), 1)],
                vec![no(events::REASON_NO_RESTARTS_ALLOWED, true)],
            ),
            (
                "no attempts: a batch task exiting 0 completes",
                &none,
                "batch",
                vec![Exit(exit(0), 1)],
                vec![no(events::REASON_NO_RESTARTS_ALLOWED, false)],
            ),
            (
                "start errors: recoverable ones count as attempts",
                &fail2,
                "service",
                vec![
                    StartError(true, 1),
                    StartError(true, 20),
                    StartError(true, 40),
                ],
                vec![
                    restart(15, events::REASON_WITHIN_POLICY),
                    restart(15, events::REASON_WITHIN_POLICY),
                    no(exceeded, true),
                ],
            ),
            (
                "start errors: unrecoverable ones are final",
                &fail2,
                "service",
                vec![StartError(false, 1)],
                vec![no(events::REASON_UNRECOVERABLE, true)],
            ),
            (
                "start errors with no attempts",
                &none,
                "batch",
                vec![StartError(true, 1)],
                vec![no(events::REASON_NO_RESTARTS_ALLOWED, true)],
            ),
        ];
        for (name, policy, job_type, steps, want) in cases {
            let start = Instant::now();
            let mut t = RestartTracker::new_at(policy, job_type, start).with_jitter(|| 0.0);
            let got: Vec<Decision> = steps
                .into_iter()
                .map(|step| match step {
                    Exit(e, at) => t.on_exit(e, start + Duration::from_secs(at)),
                    StartError(r, at) => t.on_start_error(r, start + Duration::from_secs(at)),
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn jitter_adds_up_to_a_quarter_of_the_delay() {
        let start = Instant::now();
        let p = policy(5, 1800, 16, "fail");
        for (fraction, want_ms) in [(0.0, 16_000), (0.5, 18_000), (0.999, 19_996)] {
            let mut t = RestartTracker::new_at(&p, "service", start).with_jitter(move || fraction);
            match t.on_exit(exit(1), start) {
                Decision::Restart { delay, .. } => assert_eq!(delay.as_millis(), want_ms),
                other => panic!("{other:?}"),
            }
        }
        // The real source stays within bounds.
        let mut t = RestartTracker::new_at(&p, "service", start);
        for _ in 0..5 {
            match t.on_exit(exit(1), start) {
                Decision::Restart { delay, .. } => {
                    assert!(delay >= Duration::from_secs(16) && delay <= Duration::from_secs(20))
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(t.restarts(), 5);
    }

    #[test]
    fn defaults_and_lifecycle() {
        let start = Instant::now();
        // An empty policy takes the job type's defaults: service 2 attempts in 30m.
        let mut t =
            RestartTracker::new_at(&RestartPolicy::default(), "service", start).with_jitter(|| 0.0);
        assert_eq!(
            t.on_exit(exit(0), start),
            restart(15, events::REASON_WITHIN_POLICY)
        );
        t.on_exit(exit(0), start);
        assert_eq!(
            t.on_exit(exit(0), start),
            no(
                "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"",
                true
            )
        );
        assert_eq!(t.interval, Duration::from_nanos((30 * MINUTE) as u64));

        let cases = [
            ("prestart", false, false),
            ("prestart", true, true),
            ("poststart", true, true),
            ("poststop", true, false),
        ];
        for (hook, sidecar, restarts) in cases {
            let l = TaskLifecycle {
                hook: hook.into(),
                sidecar,
            };
            let mut t = RestartTracker::new_at(&RestartPolicy::default(), "service", start)
                .with_lifecycle(Some(&l));
            let d = t.on_exit(exit(0), start);
            assert_eq!(
                matches!(d, Decision::Restart { .. }),
                restarts,
                "{hook} {sidecar}"
            );
        }
        assert_eq!(
            t.on_restart_requested(),
            Decision::Restart {
                delay: Duration::ZERO,
                reason: String::new()
            }
        );
    }

    #[test]
    fn decisions_map_to_nomads_events() {
        let e = restart(15, events::REASON_WITHIN_POLICY).event().unwrap();
        assert_eq!(e.display_message, "Task restarting in 15s");
        let e = no(events::REASON_UNRECOVERABLE, true).event().unwrap();
        assert_eq!(
            (e.event_type.as_str(), e.fails_task),
            ("Not Restarting", true)
        );
        assert!(no(events::REASON_SUCCESSFUL_EXIT, false).event().is_none());
        assert_eq!(Decision::Killed.event().unwrap().event_type, "Killed");
    }
}
