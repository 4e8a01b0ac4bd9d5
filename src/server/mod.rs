//! The server: state store, evaluation broker, schedulers, plan applier and the
//! deployment watcher, for one server (shaped so a replicated log can take over).

pub mod blocked;
pub mod broker;
pub mod deployment_watcher;
pub mod endpoints;
mod fsm;
pub mod heartbeat;
pub mod leader;
pub mod metrics;
pub mod periodic;
pub mod plan;
pub mod plan_apply;
pub mod scheduler;
pub mod state;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use blocked::{BlockedEvals, BlockedStats};
use broker::{BrokerConfig, BrokerStats, EvalBroker};
use heartbeat::{HeartbeatError, Heartbeats};
use leader::Alarm;
use metrics::{Metric, ServerMetrics};
use plan_apply::PlanQueue;
use state::{Command, StateError, StateStore};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub region: String,
    pub datacenter: String,
    /// Scheduler workers (Nomad: one per core).
    pub num_schedulers: usize,
    /// How long a node may miss heartbeats before it is marked down.
    pub heartbeat_grace: Duration,
    /// Deliveries of one eval before it is given up on (failed).
    pub eval_delivery_limit: u32,
    /// How long a worker may hold an eval before it is handed to another.
    pub eval_nack_timeout: Duration,
    /// The shortest TTL given to clients; more nodes stretch it (see below).
    pub min_heartbeat_ttl: Duration,
    /// TTLs grow so that all nodes together stay under this many heartbeats a second.
    pub max_heartbeats_per_second: f64,
    /// Redelivery delay after a first nack; later nacks wait `(n-1) ×` the next one.
    pub eval_nack_initial_delay: Duration,
    pub eval_nack_subsequent_delay: Duration,
    /// How long after an eval failed (delivery limit) its follow-up eval runs.
    pub eval_failed_followup_delay: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            region: "global".into(),
            datacenter: "dc1".into(),
            num_schedulers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            heartbeat_grace: Duration::from_secs(10),
            eval_delivery_limit: 3,
            eval_nack_timeout: Duration::from_secs(60),
            min_heartbeat_ttl: Duration::from_secs(10),
            max_heartbeats_per_second: 50.0,
            eval_nack_initial_delay: Duration::from_secs(1),
            eval_nack_subsequent_delay: Duration::from_secs(20),
            eval_failed_followup_delay: Duration::from_secs(60),
        }
    }
}

/// One server. `start` runs its workers, plan applier and leader duties on threads of
/// their own; `shutdown` (or dropping the last handle) stops and joins them.
pub struct Server {
    pub config: ServerConfig,
    pub state: Arc<StateStore>,
    core: Arc<Core>,
    run: Mutex<Option<Running>>,
    running_tx: tokio::sync::watch::Sender<bool>,
}

/// What the background threads share (they hold this, not the `Server`, so dropping
/// the last `Server` handle stops them).
pub(crate) struct Core {
    pub(crate) config: ServerConfig,
    pub(crate) state: Arc<StateStore>,
    pub(crate) broker: Arc<EvalBroker>,
    pub(crate) blocked: BlockedEvals,
    pub(crate) plan_queue: PlanQueue,
    pub(crate) heartbeats: Heartbeats,
    pub(crate) metrics: ServerMetrics,
    pub(crate) alarm: Arc<Alarm>,
}

struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub fn new(state: StateStore, config: ServerConfig) -> Arc<Server> {
        let state = Arc::new(state);
        let alarm = Arc::new(Alarm::default());
        let broker = Arc::new(EvalBroker::new(
            BrokerConfig {
                nack_timeout: config.eval_nack_timeout,
                delivery_limit: config.eval_delivery_limit,
                initial_nack_delay: config.eval_nack_initial_delay,
                subsequent_nack_delay: config.eval_nack_subsequent_delay,
            },
            alarm.clone(),
        ));
        let core = Arc::new(Core {
            config: config.clone(),
            state: state.clone(),
            blocked: BlockedEvals::new(broker.clone(), alarm.clone()),
            broker,
            plan_queue: PlanQueue::default(),
            heartbeats: Heartbeats::new(alarm.clone()),
            metrics: ServerMetrics::default(),
            alarm,
        });
        Arc::new(Server {
            config,
            state,
            core,
            run: Mutex::new(None),
            running_tx: tokio::sync::watch::channel(false).0,
        })
    }

    /// Every write goes through here: the command is applied (and logged), then the
    /// evaluations it carries reach the broker or the blocked set, freed capacity
    /// unblocks evals, and registered nodes start their heartbeat TTL.
    pub fn apply(&self, command: Command) -> Result<u64, StateError> {
        self.core.apply(command)
    }

    /// Starts the plan applier, `num_schedulers` workers and the leader loop, after
    /// restoring pending and blocked evals and node TTLs from the state. With a tokio
    /// runtime around, the deployment watcher and periodic launches start too.
    pub fn start(self: &Arc<Self>) {
        let mut run = self.run.lock();
        if run.is_some() {
            return;
        }
        let core = &self.core;
        core.broker.set_enabled(true);
        core.blocked.set_enabled(true);
        core.plan_queue.set_enabled(true);
        core.heartbeats.set_enabled(true);
        core.restore();
        let stop = Arc::new(AtomicBool::new(false));
        let spawn = |name: String, body: fn(&Core, &AtomicBool)| {
            leader::spawn(&name, core.clone(), stop.clone(), body)
        };
        let mut threads = vec![
            spawn("plan-applier".into(), Core::run_applier),
            spawn("leader".into(), Core::run_leader),
        ];
        for i in 0..self.config.num_schedulers.max(1) {
            threads.push(spawn(format!("worker-{i}"), Core::run_worker));
        }
        let mut tasks = Vec::new();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let _entered = rt.enter();
            tasks.push(deployment_watcher::start(self));
            tasks.push(periodic::start(self));
        }
        self.running_tx.send_replace(true);
        *run = Some(Running {
            stop,
            threads,
            tasks,
        });
    }

    /// Stops everything `start` started and waits for the threads to end. Evals in
    /// flight stay pending in the state; the next start picks them up.
    pub fn shutdown(&self) {
        let Some(running) = self.run.lock().take() else {
            return;
        };
        running.stop.store(true, SeqCst);
        self.running_tx.send_replace(false);
        let core = &self.core;
        core.broker.set_enabled(false);
        core.plan_queue.set_enabled(false);
        core.blocked.set_enabled(false);
        core.heartbeats.set_enabled(false);
        core.alarm.ring();
        for task in running.tasks {
            task.abort();
        }
        let me = std::thread::current().id();
        for thread in running.threads {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }

    pub fn is_running(&self) -> bool {
        *self.running_tx.borrow()
    }

    /// Sees `true` while the server runs and `false` once it stops: background duties
    /// of other modules end on it.
    pub fn running(&self) -> tokio::sync::watch::Receiver<bool> {
        self.running_tx.subscribe()
    }

    /// Waits until no eval is ready, pending, in a worker's hands or failing, and the
    /// plan applier has nothing queued (delayed and blocked evals may remain). For
    /// tests and benchmarks; `false` if `timeout` passed first.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let b = self.core.broker.stats();
            let idle = b.total_ready == 0
                && b.total_unacked == 0
                && b.total_pending == 0
                && b.total_failed == 0
                && self.core.plan_queue.idle();
            if idle {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// A client's heartbeat: restarts its TTL (bringing a down node back ready) and
    /// returns the TTL the client must heartbeat within.
    pub fn node_heartbeat(&self, node_id: &str) -> Result<Duration, HeartbeatError> {
        self.core.node_heartbeat(node_id)
    }

    /// The TTL a node is given now.
    pub fn heartbeat_ttl(&self) -> Duration {
        self.core.heartbeat_ttl()
    }

    pub fn broker(&self) -> &EvalBroker {
        &self.core.broker
    }

    pub fn blocked(&self) -> &BlockedEvals {
        &self.core.blocked
    }

    pub fn plan_queue(&self) -> &PlanQueue {
        &self.core.plan_queue
    }

    pub fn broker_stats(&self) -> BrokerStats {
        self.core.broker.stats()
    }

    pub fn blocked_stats(&self) -> BlockedStats {
        self.core.blocked.stats()
    }

    /// Counters, gauges and timings for `/v1/metrics` (go-metrics names).
    pub fn metrics(&self) -> Vec<Metric> {
        let b = self.core.broker.stats();
        let blocked = self.core.blocked.stats();
        let mut out = vec![
            Metric::gauge("nomad.broker.total_ready", b.total_ready as f64),
            Metric::gauge("nomad.broker.total_unacked", b.total_unacked as f64),
            Metric::gauge("nomad.broker.total_pending", b.total_pending as f64),
            Metric::gauge("nomad.broker.total_waiting", b.total_waiting as f64),
            Metric::gauge("nomad.broker.total_cancelable", b.total_cancelable as f64),
            Metric::gauge("nomad.broker.total_failed", b.total_failed as f64),
            Metric::gauge("nomad.broker.total_blocked", blocked.total_blocked as f64),
            Metric::gauge(
                "nomad.blocked_evals.total_blocked",
                blocked.total_blocked as f64,
            ),
            Metric::gauge(
                "nomad.blocked_evals.total_escaped",
                blocked.total_escaped as f64,
            ),
            Metric::gauge(
                "nomad.plan.queue_depth",
                self.core.plan_queue.depth() as f64,
            ),
            Metric::gauge("nomad.heartbeat.active", self.core.heartbeats.len() as f64),
        ];
        for (sched, s) in &b.by_scheduler {
            out.push(Metric::gauge(
                format!("nomad.broker.{sched}.ready"),
                s.ready as f64,
            ));
            out.push(Metric::gauge(
                format!("nomad.broker.{sched}.unacked"),
                s.unacked as f64,
            ));
        }
        out.extend(self.core.metrics.snapshot());
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests;
