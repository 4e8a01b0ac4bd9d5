//! The server: state store, evaluation broker, schedulers, plan applier and the
//! deployment watcher, for one server (shaped so a replicated log can take over).

pub mod plan;
pub mod scheduler;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

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
        }
    }
}

pub struct Server {
    pub config: ServerConfig,
    pub state: Arc<StateStore>,
}

impl Server {
    pub fn new(state: StateStore, config: ServerConfig) -> Arc<Server> {
        Arc::new(Server {
            config,
            state: Arc::new(state),
        })
    }

    /// Every write goes through here: the command is applied (and logged), then the
    /// evaluations it carries reach the broker or the blocked set.
    pub fn apply(&self, command: Command) -> Result<u64, StateError> {
        self.state.apply(command)
    }
}
