//! Durability: a snapshot of the tables plus an append-only log of the entries after it.
//!
//! Each record is `len (u32 LE) | crc32 (u32 LE) | JSON entry`, synced before the entry
//! is applied. After a crash the log is read up to the first short or bad record, which
//! can only be the one being written when the process died: it was never applied or
//! acknowledged, so it is cut off. Every so many entries the tables are written to a new
//! snapshot (temp file, fsync, rename, fsync dir) and the log starts over; entries the
//! snapshot already holds are skipped on replay, so a crash between the two steps is safe.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{apply, job_key, Entry, JobKey, JobSubmission, StateError, TableIndex, Tables};
use crate::structs::{Allocation, Deployment, Evaluation, Job, Node};

const SNAPSHOT: &str = "snapshot.json";
const LOG: &str = "log";
/// Entries between snapshots: replay after a crash stays short.
const COMPACT_EVERY: u64 = 4096;
/// A record larger than this is corruption, not a command.
const MAX_RECORD: u32 = 256 << 20;

pub(super) struct Log {
    dir: PathBuf,
    file: File,
    since_snapshot: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Log {
    pub(super) fn open(dir: &Path) -> Result<(Tables, Log), StateError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let snap_path = dir.join(SNAPSHOT);
        let mut tables = match File::open(&snap_path) {
            Ok(f) => serde_json::from_reader::<_, SnapshotFile>(BufReader::new(f))
                .map_err(|e| StateError::Corrupt {
                    path: snap_path.clone(),
                    reason: e.to_string(),
                })?
                .into_tables(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tables::default(),
            Err(e) => return Err(io(&snap_path)(e)),
        };
        let log_path = dir.join(LOG);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        let (good_len, replayed) = replay(&mut file, &log_path, &mut tables)?;
        let len = file.metadata().map_err(io(&log_path))?.len();
        if good_len < len {
            tracing::warn!(
                path = %log_path.display(),
                dropped = len - good_len,
                "cutting an incomplete last entry off the state log"
            );
            file.set_len(good_len).map_err(io(&log_path))?;
            file.sync_all().map_err(io(&log_path))?;
        }
        Ok((
            tables,
            Log {
                dir: dir.to_path_buf(),
                file,
                since_snapshot: replayed,
            },
        ))
    }

    pub(super) fn append(&mut self, entry: &Entry) -> Result<(), StateError> {
        let path = self.dir.join(LOG);
        let payload = serde_json::to_vec(entry).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: format!("encoding entry {}: {e}", entry.index),
        })?;
        let mut record = Vec::with_capacity(payload.len() + 8);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        self.file.write_all(&record).map_err(io(&path))?;
        self.file.sync_data().map_err(io(&path))?;
        self.since_snapshot += 1;
        Ok(())
    }

    /// Writes a snapshot and empties the log once enough entries have gathered.
    pub(super) fn maybe_compact(&mut self, tables: &Tables) -> Result<(), StateError> {
        if self.since_snapshot < COMPACT_EVERY {
            return Ok(());
        }
        self.compact(tables)
    }

    pub(super) fn compact(&mut self, tables: &Tables) -> Result<(), StateError> {
        let snap = self.dir.join(SNAPSHOT);
        let tmp = self.dir.join("snapshot.json.tmp");
        {
            let f = File::create(&tmp).map_err(io(&tmp))?;
            let mut w = std::io::BufWriter::new(f);
            serde_json::to_writer(&mut w, &SnapshotFile::from_tables(tables)).map_err(|e| {
                StateError::Corrupt {
                    path: tmp.clone(),
                    reason: e.to_string(),
                }
            })?;
            let f = w.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &snap).map_err(io(&snap))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        let log = self.dir.join(LOG);
        self.file.set_len(0).map_err(io(&log))?;
        self.file.sync_all().map_err(io(&log))?;
        self.since_snapshot = 0;
        Ok(())
    }
}

/// Applies the log's good records on top of `tables`; returns the length of the good
/// prefix and how many entries were applied.
fn replay(file: &mut File, path: &Path, tables: &mut Tables) -> Result<(u64, u64), StateError> {
    file.seek(SeekFrom::Start(0)).map_err(io(path))?;
    let mut reader = BufReader::new(&mut *file);
    let (mut good, mut applied) = (0u64, 0u64);
    loop {
        let mut head = [0u8; 8];
        if read_full(&mut reader, &mut head).map_err(io(path))? < head.len() {
            break;
        }
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            break;
        }
        let mut payload = vec![0u8; len as usize];
        if read_full(&mut reader, &mut payload).map_err(io(path))? < payload.len()
            || crc32fast::hash(&payload) != crc
        {
            break;
        }
        let entry: Entry = match serde_json::from_slice(&payload) {
            Ok(e) => e,
            Err(e) => {
                return Err(StateError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!("entry at byte {good} does not decode: {e}"),
                })
            }
        };
        good += 8 + len as u64;
        if entry.index <= tables.index {
            continue; // already in the snapshot
        }
        if entry.index != tables.index + 1 {
            return Err(StateError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "entry {} follows index {}: entries are missing",
                    entry.index, tables.index
                ),
            });
        }
        apply::apply(tables, entry);
        applied += 1;
    }
    Ok((good, applied))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The snapshot on disk: objects only (the secondary indexes are rebuilt on load), and
/// each job version written once however many allocations run it.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    index: u64,
    table_index: TableIndex,
    jobs: Vec<Arc<Job>>,
    job_versions: Vec<Vec<Arc<Job>>>,
    submissions: Vec<(String, String, u64, JobSubmission)>,
    periodic_launches: Vec<(JobKey, i64)>,
    queued: Vec<(JobKey, BTreeMap<String, u64>)>,
    alloc_jobs: Vec<Arc<Job>>,
    /// Each allocation with its `Job` taken out, and that job's place in `alloc_jobs`.
    allocs: Vec<(Allocation, Option<usize>)>,
    evals: Vec<Arc<Evaluation>>,
    deployments: Vec<Arc<Deployment>>,
    nodes: Vec<Arc<Node>>,
}

impl SnapshotFile {
    fn from_tables(t: &Tables) -> Self {
        let mut alloc_jobs: Vec<Arc<Job>> = Vec::new();
        let mut seen: HashMap<*const Job, usize> = HashMap::new();
        let allocs = t
            .allocs
            .values()
            .map(|a| {
                let mut alloc = (**a).clone();
                let ix = alloc.job.take().map(|job| {
                    *seen.entry(Arc::as_ptr(&job)).or_insert_with(|| {
                        alloc_jobs.push(job.clone());
                        alloc_jobs.len() - 1
                    })
                });
                (alloc, ix)
            })
            .collect();
        SnapshotFile {
            index: t.index,
            table_index: t.table_index,
            jobs: t.jobs.values().cloned().collect(),
            job_versions: t
                .job_versions
                .values()
                .map(|v| v.iter().cloned().collect())
                .collect(),
            submissions: t
                .job_submissions
                .iter()
                .map(|((ns, id, v), s)| (ns.clone(), id.clone(), *v, s.clone()))
                .collect(),
            periodic_launches: t
                .periodic_launches
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            queued: t
                .queued
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            alloc_jobs,
            allocs,
            evals: t.evals.values().cloned().collect(),
            deployments: t.deployments.values().cloned().collect(),
            nodes: t.nodes.values().cloned().collect(),
        }
    }

    fn into_tables(self) -> Tables {
        let mut t = Tables {
            index: self.index,
            table_index: self.table_index,
            ..Default::default()
        };
        for job in self.jobs {
            t.jobs.insert(job_key(&job.namespace, &job.id), job);
        }
        for versions in self.job_versions {
            if let Some(first) = versions.first() {
                let key = job_key(&first.namespace, &first.id);
                t.job_versions.insert(key, versions.into_iter().collect());
            }
        }
        for (ns, id, v, s) in self.submissions {
            t.job_submissions.insert((ns, id, v), s);
        }
        t.periodic_launches = self.periodic_launches.into_iter().collect();
        t.queued = self.queued.into_iter().collect();
        for (mut alloc, ix) in self.allocs {
            alloc.job = ix.and_then(|i| self.alloc_jobs.get(i).cloned());
            let key = job_key(&alloc.namespace, &alloc.job_id);
            t.allocs_by_job
                .entry(key)
                .or_default()
                .insert(alloc.id.clone());
            t.allocs_by_node
                .entry(alloc.node_id.clone())
                .or_default()
                .insert(alloc.id.clone());
            t.allocs
                .insert(Arc::from(alloc.id.as_str()), Arc::new(alloc));
        }
        for eval in self.evals {
            let key = job_key(&eval.namespace, &eval.job_id);
            t.evals_by_job
                .entry(key)
                .or_default()
                .insert(eval.id.clone());
            t.evals.insert(eval.id.clone(), eval);
        }
        for d in self.deployments {
            let key = job_key(&d.namespace, &d.job_id);
            t.deployments_by_job
                .entry(key)
                .or_default()
                .insert(d.id.clone());
            t.deployments.insert(d.id.clone(), d);
        }
        for node in self.nodes {
            t.nodes.insert(node.id.clone(), node);
        }
        t.node_usage = super::node_usage::rebuild(t.allocs.values().map(|a| &**a));
        t
    }
}
