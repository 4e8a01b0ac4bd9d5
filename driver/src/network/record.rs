//! Durable per-allocation records: `<state>/allocs/<alloc_id>.json`, written to a
//! temporary file, synced and renamed, so a record is either whole or absent.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;

use super::error::NetworkError;
use super::AllocNetwork;

pub(crate) struct Records {
    dir: PathBuf,
}

impl Records {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Records { dir }
    }

    fn path(&self, alloc_id: &str) -> PathBuf {
        self.dir.join(format!("{alloc_id}.json"))
    }

    pub(crate) fn get(&self, alloc_id: &str) -> Result<Option<AllocNetwork>, NetworkError> {
        let path = self.path(alloc_id);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| NetworkError::Record { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NetworkError::file("record", path, e)),
        }
    }

    pub(crate) fn put(&self, net: &AllocNetwork) -> Result<(), NetworkError> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| NetworkError::file("record directory", &self.dir, e))?;
        let path = self.path(&net.alloc_id);
        let tmp = self.dir.join(format!(".{}.tmp", net.alloc_id));
        let bytes = serde_json::to_vec_pretty(net).map_err(|source| NetworkError::Record {
            path: path.clone(),
            source,
        })?;
        let written = File::create(&tmp)
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&tmp, &path))
            .and_then(|()| File::open(&self.dir).and_then(|d| d.sync_all()));
        written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            NetworkError::file("record", &path, e)
        })
    }

    pub(crate) fn remove(&self, alloc_id: &str) -> Result<(), NetworkError> {
        let path = self.path(alloc_id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetworkError::file("record", path, e)),
        }
    }

    /// Every record, sorted by allocation ID.
    pub(crate) fn all(&self) -> Result<Vec<AllocNetwork>, NetworkError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NetworkError::file("record directory", &self.dir, e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| NetworkError::file("record directory", &self.dir, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if id.starts_with('.') {
                continue;
            }
            if let Some(r) = self.get(id)? {
                records.push(r);
            }
        }
        records.sort_by(|a, b| a.alloc_id.cmp(&b.alloc_id));
        Ok(records)
    }
}
