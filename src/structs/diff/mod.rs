//! Job diffs for `job plan` and `job history -p`: Nomad's `JobDiff` tree, with the same
//! field names, values (Go's `%v` of the stored value, durations in nanoseconds), object
//! names and ordering, so Nomad's CLI and UI render drover's diffs unchanged.
//!
//! Primitive fields of a level are listed only when they changed; inside an object that
//! changed, `contextual` diffs also list its unchanged fields (Type `None`). Task groups
//! and tasks are matched by name.

mod annotate;
mod engine;
mod flatten;
mod job;
mod objects;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Job;

pub use annotate::{
    annotate, annotate_updates, ANNOTATION_FORCES_CREATE, ANNOTATION_FORCES_DESTROY,
    ANNOTATION_FORCES_DESTRUCTIVE_UPDATE, ANNOTATION_FORCES_INPLACE_UPDATE, UPDATE_TYPE_CANARY,
    UPDATE_TYPE_CREATE, UPDATE_TYPE_DESTROY, UPDATE_TYPE_DESTRUCTIVE_UPDATE, UPDATE_TYPE_IGNORE,
    UPDATE_TYPE_INPLACE_UPDATE, UPDATE_TYPE_MIGRATE,
};

/// How an item differs between the old and the new job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DiffType {
    #[default]
    None,
    Added,
    Deleted,
    Edited,
}

impl DiffType {
    /// Nomad's sort rank among objects of the same name: Edited, Added, Deleted, None.
    fn rank(self) -> u8 {
        match self {
            DiffType::Edited => 0,
            DiffType::Added => 1,
            DiffType::Deleted => 2,
            DiffType::None => 3,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub fields: Vec<FieldDiff>,
    #[serde(deserialize_with = "null_as_default")]
    pub objects: Vec<ObjectDiff>,
    #[serde(deserialize_with = "null_as_default")]
    pub task_groups: Vec<TaskGroupDiff>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroupDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub fields: Vec<FieldDiff>,
    #[serde(deserialize_with = "null_as_default")]
    pub objects: Vec<ObjectDiff>,
    #[serde(deserialize_with = "null_as_default")]
    pub tasks: Vec<TaskDiff>,
    /// The scheduler's counts by update type (`"create"`, `"in-place update"`, …).
    #[serde(deserialize_with = "null_as_default")]
    pub updates: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub fields: Vec<FieldDiff>,
    #[serde(deserialize_with = "null_as_default")]
    pub objects: Vec<ObjectDiff>,
    #[serde(deserialize_with = "null_as_default")]
    pub annotations: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FieldDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    pub name: String,
    pub old: String,
    pub new: String,
    #[serde(deserialize_with = "null_as_default")]
    pub annotations: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ObjectDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub fields: Vec<FieldDiff>,
    #[serde(deserialize_with = "null_as_default")]
    pub objects: Vec<ObjectDiff>,
}

/// Nomad sends `null` for empty lists and maps; read it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The scheduler's per-group decision counts for a plan (`Annotations.DesiredTGUpdates`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DesiredUpdates {
    pub ignore: u64,
    pub place: u64,
    pub migrate: u64,
    pub stop: u64,
    pub in_place_update: u64,
    pub destructive_update: u64,
    pub canary: u64,
    pub preemptions: u64,
    pub disconnect: u64,
    pub reconnect: u64,
    pub reschedule_now: u64,
    pub reschedule_later: u64,
}

/// Nomad's `Job.Diff` followed by its plan annotations of counts and tasks (`annotate`).
/// `old` is `None` for a job that does not exist yet (everything `Added`). The plan asks
/// with `contextual = true`. The group `Updates` come later, from the scheduler
/// ([`annotate_updates`]).
pub fn job_diff(old: Option<&Job>, new: &Job, contextual: bool) -> JobDiff {
    let mut diff = job_diff_plain(old, new, contextual);
    annotate(&mut diff);
    diff
}

/// Nomad's `Job.Diff` alone, without annotations: what `job history -p` shows between
/// versions.
pub fn job_diff_plain(old: Option<&Job>, new: &Job, contextual: bool) -> JobDiff {
    job::job_diff(old, new, contextual)
}
