//! The state store: every object the server knows, changed only by [`Command`]s applied
//! in order under one monotonically increasing index (Nomad's Raft index).
//!
//! Tables are persistent maps (`imbl`), so a [`Snapshot`] is a cheap clone that a
//! scheduler can read while writes go on. Writers are serialised by one mutex; readers
//! never wait for it longer than a clone. With a data dir every command is appended to
//! a checksummed log and synced before it is applied (see `log.rs`).

mod apply;
mod command;
mod log;
mod node_usage;
mod query;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use imbl::{OrdMap, OrdSet};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::structs::{Allocation, Deployment, Evaluation, Job, Node};

pub use apply::spec_changed;
pub use command::*;
pub use node_usage::NodeAllocated;
pub use query::{
    JobChildrenSummary, JobSummary, TaskGroupSummary, JOB_STATUS_DEAD, JOB_STATUS_PENDING,
    JOB_STATUS_RUNNING,
};

/// (namespace, job ID).
pub type JobKey = (String, String);

pub fn job_key(namespace: &str, id: &str) -> JobKey {
    (namespace.to_string(), id.to_string())
}

/// How many versions of a job are kept (Nomad keeps 6).
pub const JOB_TRACKED_VERSIONS: usize = 6;

/// Every table, as of one index. Cloning is O(1).
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub index: u64,
    /// The index each table last changed at: a blocking query on a table waits on it.
    pub table_index: TableIndex,
    pub jobs: OrdMap<JobKey, Arc<Job>>,
    /// Newest first.
    pub job_versions: OrdMap<JobKey, imbl::Vector<Arc<Job>>>,
    pub job_submissions: OrdMap<(String, String, u64), JobSubmission>,
    /// The last launch time (unix ns) of each periodic job.
    pub periodic_launches: OrdMap<JobKey, i64>,
    /// Allocations each group is still waiting to place, from the newest eval.
    pub queued: OrdMap<JobKey, std::collections::BTreeMap<String, u64>>,
    /// Keyed by `Arc<str>`: a copied tree leaf then clones 64 pointers, not 64 strings.
    pub allocs: OrdMap<Arc<str>, Arc<Allocation>>,
    pub allocs_by_job: OrdMap<JobKey, OrdSet<String>>,
    pub allocs_by_node: OrdMap<String, OrdSet<String>>,
    /// What the live allocations on each node hold (derived from `allocs`).
    pub node_usage: OrdMap<String, NodeAllocated>,
    pub evals: OrdMap<String, Arc<Evaluation>>,
    pub evals_by_job: OrdMap<JobKey, OrdSet<String>>,
    pub deployments: OrdMap<String, Arc<Deployment>>,
    pub deployments_by_job: OrdMap<JobKey, OrdSet<String>>,
    pub nodes: OrdMap<String, Arc<Node>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableIndex {
    pub jobs: u64,
    pub allocs: u64,
    pub evals: u64,
    pub deployments: u64,
    pub nodes: u64,
}

/// A consistent read-only view of the state at one index.
pub type Snapshot = Arc<Tables>;

impl Tables {
    /// These tables with one more command applied, logged nowhere: the hypothetical
    /// state a dry run (`job plan`) schedules against.
    pub fn with_command(&self, command: Command, now: i64) -> Result<Tables, StateError> {
        apply::check(self, &command).map_err(StateError::Rejected)?;
        let mut tables = self.clone();
        let index = self.index + 1;
        apply::apply(
            &mut tables,
            Entry {
                index,
                now,
                command,
            },
        );
        Ok(tables)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state log {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("state log {path}: {reason}")]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Rejected(String),
}

pub struct StateStore {
    inner: Mutex<Writer>,
    current: parking_lot::RwLock<Snapshot>,
    index_tx: tokio::sync::watch::Sender<u64>,
}

struct Writer {
    tables: Tables,
    log: Option<log::Log>,
}

impl StateStore {
    /// In memory only (`agent -dev`, tests, the benchmark).
    pub fn in_memory() -> Self {
        Self::with(Tables::default(), None)
    }

    /// Durable under `dir`: loads the snapshot, replays the log after it, then appends.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let (tables, log) = log::Log::open(dir)?;
        Ok(Self::with(tables, Some(log)))
    }

    fn with(tables: Tables, log: Option<log::Log>) -> Self {
        let (index_tx, _) = tokio::sync::watch::channel(tables.index);
        StateStore {
            current: parking_lot::RwLock::new(Arc::new(tables.clone())),
            inner: Mutex::new(Writer { tables, log }),
            index_tx,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.current.read().clone()
    }

    pub fn index(&self) -> u64 {
        self.current.read().index
    }

    /// Applies one command at the next index and returns that index. With a log, the
    /// command is durable before anyone can see its effect.
    pub fn apply(&self, command: Command) -> Result<u64, StateError> {
        self.apply_at(command, crate::structs::time::now_ns())
    }

    /// As [`apply`](Self::apply) with the entry's clock given (tests, replay).
    pub fn apply_at(&self, command: Command, now: i64) -> Result<u64, StateError> {
        let mut w = self.inner.lock();
        let entry = Entry {
            index: w.tables.index + 1,
            now,
            command,
        };
        // Check before logging: a command that cannot apply must not reach the log.
        apply::check(&w.tables, &entry.command).map_err(StateError::Rejected)?;
        let Writer { tables, log } = &mut *w;
        if let Some(log) = log.as_mut() {
            log.append(&entry)?;
        }
        apply::apply(tables, entry);
        let index = tables.index;
        if let Some(log) = log.as_mut() {
            // The entry is applied and durable; a failed snapshot only delays compaction.
            if let Err(e) = log.maybe_compact(tables) {
                tracing::warn!("state snapshot failed: {e}");
            }
        }
        *self.current.write() = Arc::new(tables.clone());
        drop(w);
        self.index_tx.send_replace(index);
        Ok(index)
    }

    /// Waits until the state index passes `min_index` or `wait` elapses, and returns the
    /// snapshot then. Callers re-check their own table's index (blocking queries).
    pub async fn wait_for(&self, min_index: u64, wait: Duration) -> Snapshot {
        let mut rx = self.index_tx.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if *rx.borrow_and_update() > min_index {
                return self.snapshot();
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.snapshot(),
            }
        }
    }

    /// A receiver that sees every new index (the broker and watchers wake on it).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.index_tx.subscribe()
    }
}

#[cfg(test)]
mod tests;
