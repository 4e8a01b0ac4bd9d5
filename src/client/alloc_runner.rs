//! One allocation on this node, as Nomad's alloc runner: its directory and network,
//! one task runner per task, the allocation's client status computed from its tasks,
//! deployment health, and the reports back to the servers. A failed task takes its
//! siblings down (Nomad's default), a stop from the servers kills every task.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::alloc_dir::AllocDir;
use super::health;
use super::state::{AllocRecord, TaskRecord};
use super::task_runner::{Kill, TaskRunner};
use super::ClientCtx;
use crate::server::state::AllocClientUpdate;
use crate::structs::{
    AllocDeploymentStatus, Allocation, TaskState, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_PENDING, ALLOC_CLIENT_RUNNING, ALLOC_DESIRED_RUN, TASK_STATE_DEAD,
    TASK_STATE_PENDING, TASK_STATE_RUNNING,
};

/// When a task runs in its allocation's life (Nomad's `lifecycle` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Runs to completion before the main tasks start.
    Prestart,
    /// Starts before the main tasks and runs alongside them.
    PrestartSidecar,
    Main,
    /// Starts once the main tasks run (a sidecar keeps running).
    Poststart,
    PoststartSidecar,
    /// Runs once the main tasks are done.
    Poststop,
}

impl Role {
    fn of(task: &crate::structs::Task) -> Role {
        match task
            .lifecycle
            .as_ref()
            .map(|l| (l.hook.as_str(), l.sidecar))
        {
            Some(("prestart", false)) => Role::Prestart,
            Some(("prestart", true)) => Role::PrestartSidecar,
            Some(("poststart", false)) => Role::Poststart,
            Some(("poststart", true)) => Role::PoststartSidecar,
            Some(("poststop", _)) => Role::Poststop,
            _ => Role::Main,
        }
    }

    fn sidecar(self) -> bool {
        matches!(self, Role::PrestartSidecar | Role::PoststartSidecar)
    }

    /// Ephemeral tasks end by design; only the others count for health.
    fn long_running(self) -> bool {
        self == Role::Main || self.sidecar()
    }
}

/// What the allocation's task runners share.
pub struct AllocShared {
    pub id: String,
    pub dir: AllocDir,
    alloc: Mutex<Arc<Allocation>>,
    network: Mutex<Option<AllocNet>>,
    /// Something changed: a task's state, the allocation from the servers.
    changed: Notify,
}

/// The allocation's network as its tasks see it.
#[derive(Debug, Clone)]
pub struct AllocNet {
    pub netns: Option<std::path::PathBuf>,
    pub ip: Option<String>,
    /// Port variables (`NOMAD_PORT_db` …).
    pub env: BTreeMap<String, String>,
}

impl AllocShared {
    pub fn alloc(&self) -> Arc<Allocation> {
        self.alloc.lock().clone()
    }

    pub fn changed(&self) {
        self.changed.notify_one();
    }

    pub fn netns(&self) -> Option<std::path::PathBuf> {
        self.network.lock().as_ref().and_then(|n| n.netns.clone())
    }

    pub fn alloc_ip(&self) -> Option<String> {
        self.network.lock().as_ref().and_then(|n| n.ip.clone())
    }

    pub fn port_env(&self) -> BTreeMap<String, String> {
        self.network
            .lock()
            .as_ref()
            .map(|n| n.env.clone())
            .unwrap_or_default()
    }
}

pub struct AllocRunner {
    pub shared: Arc<AllocShared>,
    ctx: Arc<ClientCtx>,
    pub tasks: Vec<Arc<TaskRunner>>,
    /// Each task's lifecycle role and whether it leads the group, by index in `tasks`.
    roles: Vec<(Role, bool)>,
    status: Mutex<Status>,
}

#[derive(Debug, Clone, Default)]
struct Status {
    client_status: String,
    description: String,
    deployment_status: Option<AllocDeploymentStatus>,
    /// Set once the runner is done and everything it made is gone.
    destroyed: bool,
    /// The allocation moved to another deployment: its health is judged again.
    rewatch_health: bool,
}

impl AllocRunner {
    /// A runner for a newly received allocation, or one restored from the client state.
    pub fn new(ctx: Arc<ClientCtx>, record: AllocRecord) -> Arc<Self> {
        let alloc = record.alloc.clone();
        let shared = Arc::new(AllocShared {
            id: alloc.id.clone(),
            dir: AllocDir::new(&ctx.alloc_dir, &alloc.id),
            alloc: Mutex::new(alloc.clone()),
            network: Mutex::new(None),
            changed: Notify::new(),
        });
        let group_tasks: Vec<crate::structs::Task> = alloc
            .job
            .as_ref()
            .and_then(|j| j.task_groups.iter().find(|g| g.name == alloc.task_group))
            .map(|g| g.tasks.clone())
            .unwrap_or_default();
        let roles = group_tasks
            .iter()
            .map(|t| (Role::of(t), t.leader))
            .collect();
        let tasks = group_tasks
            .iter()
            .map(|t| &t.name)
            .map(|name| {
                let rec = record.tasks.get(name).cloned().unwrap_or_default();
                let state = if rec.state.state.is_empty() {
                    TaskState::pending()
                } else {
                    rec.state
                };
                TaskRunner::new(name, ctx.clone(), shared.clone(), state, rec.handle)
            })
            .collect();
        Arc::new(AllocRunner {
            shared,
            ctx,
            tasks,
            roles,
            status: Mutex::new(Status {
                client_status: if record.client_status.is_empty() {
                    ALLOC_CLIENT_PENDING.into()
                } else {
                    record.client_status
                },
                deployment_status: record.deployment_status,
                ..Default::default()
            }),
        })
    }

    pub fn id(&self) -> &str {
        &self.shared.id
    }

    pub fn alloc(&self) -> Arc<Allocation> {
        self.shared.alloc()
    }

    pub fn client_status(&self) -> String {
        self.status.lock().client_status.clone()
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self.client_status().as_str(),
            ALLOC_CLIENT_COMPLETE | ALLOC_CLIENT_FAILED
        )
    }

    pub fn task(&self, name: &str) -> Option<&Arc<TaskRunner>> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// Runs the allocation until every task is dead: network, task runners, health.
    /// `fresh`: newly received (a Received event per task); restored ones carry on.
    pub async fn run(self: Arc<Self>, fresh: bool) {
        if let Err(e) = self.shared.dir.build() {
            tracing::error!(alloc = %self.id(), error = %e, "client: building the alloc dir");
        }
        if fresh {
            for t in &self.tasks {
                t.record(super::events::received());
            }
        } else if self.alloc().desired_status != ALLOC_DESIRED_RUN {
            // The servers had stopped it before the agent went away.
            self.kill("alloc was stopped by the servers", false);
        }
        // A restored allocation whose tasks all ended needs no network again.
        let ended = !self.tasks.is_empty() && self.tasks.iter().all(|t| t.is_dead());
        let network = if ended {
            Ok(None)
        } else {
            // Netlink and nft calls take milliseconds: off the async threads.
            let (ctx, alloc) = (self.ctx.clone(), self.shared.alloc());
            tokio::task::spawn_blocking(move || super::network_hook::setup(&ctx, &alloc))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        };
        match network {
            Ok(net) => *self.shared.network.lock() = net,
            Err(e) => {
                tracing::error!(alloc = %self.id(), error = %e, "client: allocation network");
                for t in &self.tasks {
                    t.fail_setup(&format!("failed to set up the allocation's network: {e}"));
                }
            }
        }
        let mut runners = tokio::task::JoinSet::new();
        for t in &self.tasks {
            runners.spawn(t.clone().run());
        }
        let mut health = Box::pin(health::watch(self.clone()));
        let mut health_done = false;
        loop {
            // An in-place update into a new deployment is judged afresh.
            if std::mem::take(&mut self.status.lock().rewatch_health) {
                health = Box::pin(health::watch(self.clone()));
                health_done = false;
            }
            self.update();
            if self.tasks.iter().all(|t| t.is_dead()) && runners.is_empty() {
                break;
            }
            tokio::select! {
                _ = self.shared.changed.notified() => {}
                Some(_) = runners.join_next() => {}
                h = &mut health, if !health_done => {
                    health_done = true;
                    if let Some(healthy) = h {
                        self.set_health(healthy);
                    }
                }
            }
        }
        self.update();
        let (ctx, id) = (self.ctx.clone(), self.id().to_string());
        let _ = tokio::task::spawn_blocking(move || super::network_hook::teardown(&ctx, &id)).await;
    }

    /// Recomputes the client status, kills siblings of a failed task, saves the
    /// record and queues a report to the servers.
    fn update(&self) {
        let states: Vec<(String, TaskState)> = self
            .tasks
            .iter()
            .map(|t| (t.name.clone(), t.state()))
            .collect();
        if let Some((name, _)) = states.iter().find(|(_, s)| s.failed) {
            for t in &self.tasks {
                if t.name != *name && !t.is_dead() {
                    t.kill(Kill::SiblingFailed(name.clone()));
                }
            }
        }
        let leader_dead = states
            .iter()
            .zip(&self.roles)
            .any(|((_, s), (_, leader))| *leader && s.state == TASK_STATE_DEAD);
        if leader_dead {
            for (t, (_, leader)) in self.tasks.iter().zip(&self.roles) {
                if !leader && !t.is_dead() {
                    t.kill(Kill::LeaderDead);
                }
            }
        }
        self.sequence(&states);
        let (status, description) = client_status(&states);
        {
            let mut st = self.status.lock();
            st.client_status = status.into();
            st.description = description.into();
        }
        self.persist();
        self.ctx.updates.mark(self.id());
    }

    /// Opens each task's gate when its lifecycle phase comes: prestart tasks first; main
    /// tasks once the prestart ones completed and prestart sidecars run; poststart once
    /// the main tasks run; poststop once they are done, when the sidecars are stopped.
    fn sequence(&self, states: &[(String, TaskState)]) {
        let role_states: Vec<(Role, &TaskState)> = self
            .roles
            .iter()
            .map(|(r, _)| *r)
            .zip(states.iter().map(|(_, s)| s))
            .collect();
        let all = |role: Role, ok: fn(&TaskState) -> bool| {
            role_states
                .iter()
                .filter(|(r, _)| *r == role)
                .all(|(_, s)| ok(s))
        };
        let completed = |s: &TaskState| s.state == TASK_STATE_DEAD && !s.failed;
        let running = |s: &TaskState| s.state == TASK_STATE_RUNNING;
        let dead = |s: &TaskState| s.state == TASK_STATE_DEAD;
        let prestart_done = all(Role::Prestart, completed) && all(Role::PrestartSidecar, running);
        let has_main = role_states.iter().any(|(r, _)| *r == Role::Main);
        let mains_running = has_main && all(Role::Main, running);
        let mains_dead = all(Role::Main, dead);
        for (t, (role, _)) in self.tasks.iter().zip(&self.roles) {
            let open = match role {
                Role::Prestart | Role::PrestartSidecar => true,
                Role::Main => prestart_done,
                Role::Poststart | Role::PoststartSidecar => mains_running,
                Role::Poststop => mains_dead,
            };
            if open {
                t.open_gate();
            }
            if mains_dead && role.sidecar() && !t.is_dead() {
                t.kill(Kill::Stop("Main tasks in the group died".into()));
            }
        }
    }

    /// The tasks whose running makes the allocation healthy (not the ephemeral ones).
    pub fn health_tasks(&self) -> Vec<&Arc<TaskRunner>> {
        self.tasks
            .iter()
            .zip(&self.roles)
            .filter(|(_, (role, _))| role.long_running())
            .map(|(t, _)| t)
            .collect()
    }

    fn set_health(&self, healthy: bool) {
        tracing::debug!(alloc = %self.id(), healthy, "client: deployment health");
        self.status.lock().deployment_status = Some(AllocDeploymentStatus {
            healthy: Some(healthy),
            timestamp: crate::structs::time::rfc3339(crate::structs::time::now_ns()),
            ..Default::default()
        });
        self.persist();
        self.ctx.updates.mark(self.id());
    }

    pub fn deployment_status(&self) -> Option<AllocDeploymentStatus> {
        self.status.lock().deployment_status.clone()
    }

    /// The record that lets a restarted agent pick this allocation up again.
    pub fn record(&self) -> AllocRecord {
        let st = self.status.lock().clone();
        AllocRecord {
            alloc: self.alloc(),
            tasks: self
                .tasks
                .iter()
                .map(|t| {
                    (
                        t.name.clone(),
                        TaskRecord {
                            state: t.state(),
                            handle: t.handle(),
                        },
                    )
                })
                .collect(),
            deployment_status: st.deployment_status,
            client_status: st.client_status,
        }
    }

    fn persist(&self) {
        if self.status.lock().destroyed {
            return;
        }
        if let Err(e) = self.ctx.state.put(&self.record()) {
            tracing::warn!(alloc = %self.id(), error = %e, "client: saving alloc state");
        }
    }

    /// What the servers are told.
    pub fn report(&self) -> AllocClientUpdate {
        let st = self.status.lock().clone();
        AllocClientUpdate {
            alloc_id: self.id().to_string(),
            client_status: st.client_status,
            client_description: st.description,
            task_states: self
                .tasks
                .iter()
                .map(|t| (t.name.clone(), t.state()))
                .collect(),
            deployment_status: st.deployment_status,
        }
    }

    /// A newer version of the allocation from the servers: a stop kills the tasks;
    /// anything else (an in-place update) only replaces what the runners read.
    pub fn update_alloc(&self, alloc: Arc<Allocation>) {
        let stop = alloc.desired_status != ALLOC_DESIRED_RUN;
        let old = std::mem::replace(&mut *self.shared.alloc.lock(), alloc.clone());
        if alloc.deployment_id != old.deployment_id && !alloc.deployment_id.is_empty() {
            let mut st = self.status.lock();
            st.deployment_status = None;
            st.rewatch_health = true;
        }
        if stop {
            self.kill("alloc was stopped by the servers", false);
        }
        self.shared.changed();
    }

    /// Stops the allocation. Poststop tasks that have not run yet still run once the
    /// others are dead, as in Nomad; `everything` (agent shutdown) stops those too.
    pub fn kill(&self, reason: &str, everything: bool) {
        for (t, (role, _)) in self.tasks.iter().zip(&self.roles) {
            let poststop_to_come = *role == Role::Poststop && t.handle().is_none() && !t.is_dead();
            if everything || !poststop_to_come {
                t.kill(Kill::Stop(reason.to_string()));
            }
        }
    }

    /// Removes what the allocation left on the node: its directory and client record.
    /// Call when its tasks are dead (GC, or the servers forgot it).
    pub fn destroy(&self) {
        self.status.lock().destroyed = true;
        super::network_hook::teardown(&self.ctx, self.id());
        if let Err(e) = self.shared.dir.destroy() {
            tracing::warn!(alloc = %self.id(), error = %e, "client: removing the alloc dir");
        }
        let _ = self.ctx.state.delete(self.id());
    }
}

/// Nomad's rules: any task failed → failed; all dead → complete; any still pending →
/// pending; else running.
fn client_status(states: &[(String, TaskState)]) -> (&'static str, &'static str) {
    if states.iter().any(|(_, s)| s.failed) {
        return (ALLOC_CLIENT_FAILED, "Failed tasks");
    }
    if !states.is_empty() && states.iter().all(|(_, s)| s.state == TASK_STATE_DEAD) {
        return (ALLOC_CLIENT_COMPLETE, "All tasks have completed");
    }
    if states.iter().any(|(_, s)| s.state == TASK_STATE_PENDING) {
        return (ALLOC_CLIENT_PENDING, "No tasks have started");
    }
    if states.iter().all(|(_, s)| s.state == TASK_STATE_RUNNING) {
        return (ALLOC_CLIENT_RUNNING, "Tasks are running");
    }
    (ALLOC_CLIENT_RUNNING, "Tasks are running")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(state: &str, failed: bool) -> (String, TaskState) {
        (
            "t".into(),
            TaskState {
                state: state.into(),
                failed,
                ..Default::default()
            },
        )
    }

    #[test]
    fn client_status_follows_nomads_rules() {
        let cases = [
            (vec![st("pending", false)], ALLOC_CLIENT_PENDING),
            (vec![st("running", false)], ALLOC_CLIENT_RUNNING),
            (
                vec![st("running", false), st("pending", false)],
                ALLOC_CLIENT_PENDING,
            ),
            (
                vec![st("dead", false), st("running", false)],
                ALLOC_CLIENT_RUNNING,
            ),
            (
                vec![st("dead", false), st("dead", false)],
                ALLOC_CLIENT_COMPLETE,
            ),
            (
                vec![st("dead", true), st("running", false)],
                ALLOC_CLIENT_FAILED,
            ),
        ];
        for (states, want) in cases {
            assert_eq!(client_status(&states).0, want, "{states:?}");
        }
    }
}
