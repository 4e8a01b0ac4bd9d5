//! The periodic dispatcher: launches a child of each periodic job at the times its
//! cron expressions name (`<parent>/periodic-<unix secs>`), records each launch in the
//! state, and skips a launch while an earlier child still runs under
//! `prohibit_overlap`.
//!
//! The next launch is computed from the last recorded launch (or, before the first,
//! from when the job version was submitted), so a restarted server picks up where the
//! state says; launches missed while it was down collapse into one, as in Nomad.

pub mod cron;

use std::sync::Arc;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};

use self::cron::{Cron, CronError};
use crate::server::deployment_watcher::spawn_passes;
use crate::server::endpoints::{PeriodicForceResponse, RpcError};
use crate::server::state::{job_key, Command, Tables};
use crate::server::Server;
use crate::structs::time::now_ns;
use crate::structs::{Job, PeriodicConfig, TRIGGER_PERIODIC_JOB};

#[cfg(test)]
mod tests;

/// `<parent>/periodic-<unix secs>`.
pub const PERIODIC_LAUNCH_SUFFIX: &str = "/periodic-";

/// Starts the dispatcher on the current tokio runtime. It looks again when jobs change
/// or a launch is due, and ends when the server is dropped (or the handle is aborted).
pub fn start(server: &Arc<Server>) -> tokio::task::JoinHandle<()> {
    spawn_passes(
        server,
        |t| t.jobs,
        |server, now| server.launch_periodic(now),
    )
}

/// The earliest launch of any of the config's expressions strictly after `after`
/// (unix ns), in its time zone. `None` when no expression fires again.
pub fn next_launch(periodic: &PeriodicConfig, after: i64) -> Result<Option<i64>, CronError> {
    let zone = Zone::parse(&periodic.time_zone)?;
    let mut best: Option<i64> = None;
    for spec in cron_specs(periodic) {
        if let Some(t) = zone.next(&Cron::parse(spec)?, after) {
            best = Some(best.map_or(t, |b| b.min(t)));
        }
    }
    Ok(best)
}

/// Nomad's checks of a periodic block that need the cron parser: every expression
/// parses and the time zone is known.
pub fn validate(periodic: &PeriodicConfig) -> Vec<String> {
    let mut errs = Vec::new();
    if periodic.enabled == Some(false) || periodic.spec_type != "cron" {
        return errs;
    }
    for spec in cron_specs(periodic) {
        if let Err(e) = Cron::parse(spec) {
            errs.push(format!("Invalid cron spec {spec:?}: {e}"));
        }
    }
    if let Err(e) = Zone::parse(&periodic.time_zone) {
        errs.push(format!("Invalid time zone {:?}: {e}", periodic.time_zone));
    }
    errs
}

/// `cron` and `crons` together.
fn cron_specs(periodic: &PeriodicConfig) -> impl Iterator<Item = &String> {
    std::iter::once(&periodic.spec)
        .chain(&periodic.specs)
        .filter(|s| !s.is_empty())
}

/// A periodic job's `time_zone`: an IANA name, `UTC` (also the empty name) or `Local`
/// (the server's own), as Go's `time.LoadLocation` reads them.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    fn parse(name: &str) -> Result<Zone, CronError> {
        match name {
            "" => Ok(Zone::Named(chrono_tz::UTC)),
            "Local" => Ok(Zone::Local),
            other => other
                .parse()
                .map(Zone::Named)
                .map_err(|_| CronError(format!("unknown time zone {other}"))),
        }
    }

    /// The next wall-clock match after `after` (unix ns); in a repeated hour the first
    /// occurrence fires.
    fn next(self, cron: &Cron, after: i64) -> Option<i64> {
        let instant = DateTime::<Utc>::from_timestamp_nanos(after);
        let mut wall = match self {
            Zone::Local => instant.with_timezone(&Local).naive_local(),
            Zone::Named(tz) => instant.with_timezone(&tz).naive_local(),
        };
        loop {
            wall = cron.next_after(wall)?;
            let at = match self {
                Zone::Local => earliest(&Local, &wall),
                Zone::Named(tz) => earliest(&tz, &wall),
            };
            if let Some(secs) = at.filter(|s| s * 1_000_000_000 > after) {
                return Some(secs * 1_000_000_000);
            }
        }
    }
}

/// Unix seconds of a wall-clock time in `zone`. A time a DST jump skips reads with the
/// offset from before the jump (02:30 becomes 03:30), as Go's `time.Date` does.
fn earliest<Z: TimeZone>(zone: &Z, wall: &NaiveDateTime) -> Option<i64> {
    let at = |w: &NaiveDateTime| {
        zone.from_local_datetime(w)
            .earliest()
            .map(|t| t.timestamp())
    };
    at(wall).or_else(|| at(&(*wall - chrono::Duration::hours(1))).map(|t| t + 3600))
}

impl Server {
    /// One pass: launches every periodic job that is due at `now` (unix ns) and returns
    /// when the next one is.
    pub fn launch_periodic(&self, now: i64) -> Option<i64> {
        let snap = self.state.snapshot();
        let mut next: Option<i64> = None;
        let mut soonest = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
        for job in snap.jobs.values() {
            let Some(periodic) = job.periodic.as_ref() else {
                continue;
            };
            if job.stop || periodic.enabled == Some(false) {
                continue;
            }
            let key = job_key(&job.namespace, &job.id);
            let base = snap
                .periodic_launches
                .get(&key)
                .copied()
                .unwrap_or(job.submit_time);
            let due = match next_launch(periodic, base) {
                Ok(Some(due)) => due,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(job = %job.id, "periodic job not launched: {e}");
                    continue;
                }
            };
            if due > now {
                soonest(due);
                continue;
            }
            // Several missed launches collapse into one, now.
            let launch = match next_launch(periodic, due) {
                Ok(Some(after)) if after <= now => now,
                _ => due,
            };
            if periodic.prohibit_overlap && running_children(&snap, job) {
                tracing::debug!(job = %job.id, "skipping periodic launch: a child still runs");
                self.record_launch(job, launch);
            } else if let Err(e) = self.launch_child(job, launch) {
                tracing::warn!(job = %job.id, "periodic launch failed: {e}");
            }
            if let Ok(Some(after)) = next_launch(periodic, launch) {
                soonest(after);
            }
        }
        next
    }

    /// `PUT /v1/job/:id/periodic/force`: a child now, whatever the schedule says.
    pub fn periodic_force(
        &self,
        namespace: &str,
        job_id: &str,
    ) -> Result<PeriodicForceResponse, RpcError> {
        let job = self.existing_job(namespace, job_id)?;
        let Some(periodic) = job.periodic.as_ref() else {
            return Err(RpcError::bad_request("can't force launch non-periodic job"));
        };
        if job.stop || periodic.enabled == Some(false) {
            return Err(RpcError::bad_request(format!(
                "can't force run non-tracked job {:?} ({})",
                job.id, job.namespace
            )));
        }
        self.launch_child(&job, now_ns())
    }

    /// Registers the child for `launch` with a `periodic-job` eval, and records the
    /// launch.
    fn launch_child(&self, parent: &Job, launch: i64) -> Result<PeriodicForceResponse, RpcError> {
        let child = derived_child(parent, launch);
        let reply = self.register_job(child, 0, TRIGGER_PERIODIC_JOB, None);
        self.record_launch(parent, launch);
        let reply = reply?;
        Ok(PeriodicForceResponse {
            eval_id: reply.eval_id,
            eval_create_index: reply.eval_create_index,
            index: reply.index,
        })
    }

    fn record_launch(&self, parent: &Job, launch: i64) {
        let recorded = self.apply(Command::PeriodicLaunch {
            namespace: parent.namespace.clone(),
            job_id: parent.id.clone(),
            launch,
        });
        if let Err(e) = recorded {
            tracing::warn!(job = %parent.id, "periodic launch not recorded: {e}");
        }
    }
}

/// The child of a periodic job: its spec under `<parent>/periodic-<unix secs>`, no
/// longer periodic.
pub fn derived_child(parent: &Job, launch: i64) -> Job {
    let mut child = parent.clone();
    child.id = format!(
        "{}{PERIODIC_LAUNCH_SUFFIX}{}",
        parent.id,
        launch.div_euclid(1_000_000_000)
    );
    child.name.clone_from(&child.id);
    child.parent_id.clone_from(&parent.id);
    child.periodic = None;
    child.status.clear();
    child.status_description.clear();
    child
}

/// Does a child of `job` still have work in flight (an open eval or a live alloc)?
fn running_children(snap: &Tables, job: &Job) -> bool {
    snap.jobs_in(&job.namespace)
        .filter(|child| child.parent_id == job.id)
        .any(|child| {
            snap.job_evals(&child.namespace, &child.id)
                .iter()
                .any(|e| !e.terminal())
                || snap
                    .job_allocs(&child.namespace, &child.id)
                    .iter()
                    .any(|a| !a.terminal())
        })
}
