//! The client's own durable state: per allocation, the allocation as last received, its
//! tasks' states and driver handles, and the health reported. An agent that restarts
//! (or is killed) reads it back and reattaches to the tasks, which never stopped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_driver::runtime::TaskHandle;
use serde::{Deserialize, Serialize};

use crate::structs::{AllocDeploymentStatus, Allocation, TaskState};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AllocRecord {
    pub alloc: Arc<Allocation>,
    pub tasks: BTreeMap<String, TaskRecord>,
    pub deployment_status: Option<AllocDeploymentStatus>,
    /// The client status last computed (terminal allocations are not restarted).
    pub client_status: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskRecord {
    pub state: TaskState,
    /// Set while a task process exists.
    pub handle: Option<TaskHandle>,
}

/// `<state_dir>/allocs/<alloc id>.json`, each replaced atomically.
#[derive(Debug, Clone)]
pub struct StateDb {
    dir: PathBuf,
}

impl StateDb {
    pub fn open(state_dir: &Path) -> std::io::Result<Self> {
        let dir = state_dir.join("allocs");
        std::fs::create_dir_all(&dir)?;
        Ok(StateDb { dir })
    }

    fn path(&self, alloc_id: &str) -> PathBuf {
        self.dir.join(format!("{alloc_id}.json"))
    }

    /// Written to a temp file then renamed: a kill at any point leaves the old record or
    /// the new one, never half of one.
    pub fn put(&self, record: &AllocRecord) -> std::io::Result<()> {
        let path = self.path(&record.alloc.id);
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(record).map_err(std::io::Error::other)?)?;
        f.sync_data()?;
        std::fs::rename(&tmp, &path)
    }

    pub fn delete(&self, alloc_id: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(alloc_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every record that reads back; unreadable ones are reported and skipped.
    pub fn load_all(&self) -> Vec<AllocRecord> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "client: unreadable alloc state")
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_delete() {
        let dir = std::env::temp_dir().join(format!("drover-client-state-{}", std::process::id()));
        let db = StateDb::open(&dir).unwrap();
        let alloc = Allocation {
            id: "a1".into(),
            ..Default::default()
        };
        let mut rec = AllocRecord {
            alloc: Arc::new(alloc),
            client_status: "running".into(),
            ..Default::default()
        };
        rec.tasks.insert("t".into(), TaskRecord::default());
        db.put(&rec).unwrap();
        let back = db.load_all();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].alloc.id, "a1");
        assert_eq!(back[0].client_status, "running");
        db.delete("a1").unwrap();
        db.delete("a1").unwrap();
        assert!(db.load_all().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
