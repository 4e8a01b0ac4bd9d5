//! The plan's annotations on a job diff: what a count change forces, what each task's
//! change forces, and the scheduler's per-group update counts.

use std::collections::BTreeMap;

use super::{DesiredUpdates, DiffType, JobDiff, TaskDiff, TaskGroupDiff};

pub const ANNOTATION_FORCES_CREATE: &str = "forces create";
pub const ANNOTATION_FORCES_DESTROY: &str = "forces destroy";
pub const ANNOTATION_FORCES_INPLACE_UPDATE: &str = "forces in-place update";
pub const ANNOTATION_FORCES_DESTRUCTIVE_UPDATE: &str = "forces create/destroy update";

/// Keys of `TaskGroupDiff::updates`.
pub const UPDATE_TYPE_IGNORE: &str = "ignore";
pub const UPDATE_TYPE_CREATE: &str = "create";
pub const UPDATE_TYPE_DESTROY: &str = "destroy";
pub const UPDATE_TYPE_MIGRATE: &str = "migrate";
pub const UPDATE_TYPE_CANARY: &str = "canary";
pub const UPDATE_TYPE_INPLACE_UPDATE: &str = "in-place update";
pub const UPDATE_TYPE_DESTRUCTIVE_UPDATE: &str = "create/destroy update";

/// Annotates group `Count` changes and every changed task (Nomad's `scheduler.Annotate`
/// without the scheduler's counts). Running it again gives the same result.
pub fn annotate(diff: &mut JobDiff) {
    for group in &mut diff.task_groups {
        annotate_count(group);
        let group_type = group.diff_type;
        for task in &mut group.tasks {
            annotate_task(task, group_type);
        }
    }
}

/// Fills each group's `Updates` from the scheduler's counts (non-zero ones only).
/// Groups the scheduler did not report keep theirs.
pub fn annotate_updates(diff: &mut JobDiff, desired: &BTreeMap<String, DesiredUpdates>) {
    for group in &mut diff.task_groups {
        let Some(d) = desired.get(&group.name) else {
            continue;
        };
        group.updates = [
            (UPDATE_TYPE_IGNORE, d.ignore),
            (UPDATE_TYPE_CREATE, d.place),
            (UPDATE_TYPE_MIGRATE, d.migrate),
            (UPDATE_TYPE_DESTROY, d.stop),
            (UPDATE_TYPE_CANARY, d.canary),
            (UPDATE_TYPE_INPLACE_UPDATE, d.in_place_update),
            (UPDATE_TYPE_DESTRUCTIVE_UPDATE, d.destructive_update),
        ]
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    }
}

fn annotate_count(group: &mut TaskGroupDiff) {
    let Some(count) = group.fields.iter_mut().find(|f| f.name == "Count") else {
        return;
    };
    let parse = |s: &str| {
        if s.is_empty() {
            Some(0)
        } else {
            s.parse::<i64>().ok()
        }
    };
    let (Some(old), Some(new)) = (parse(&count.old), parse(&count.new)) else {
        return;
    };
    count.annotations = match old.cmp(&new) {
        std::cmp::Ordering::Less => vec![ANNOTATION_FORCES_CREATE.into()],
        std::cmp::Ordering::Greater => vec![ANNOTATION_FORCES_DESTROY.into()],
        std::cmp::Ordering::Equal => Vec::new(),
    };
}

/// The plan's rule: tasks of an added or removed group are created or destroyed;
/// otherwise any changed field but `KillTimeout`, or any changed object but services,
/// constraints, affinities, spreads and log rotation, forces a destructive update.
fn annotate_task(task: &mut TaskDiff, group_type: DiffType) {
    if task.diff_type == DiffType::None {
        return;
    }
    let whole_group = matches!(group_type, DiffType::Added | DiffType::Deleted);
    let annotation = match task.diff_type {
        DiffType::Added if whole_group => ANNOTATION_FORCES_CREATE,
        DiffType::Deleted if whole_group => ANNOTATION_FORCES_DESTROY,
        _ if is_destructive(task) => ANNOTATION_FORCES_DESTRUCTIVE_UPDATE,
        _ => ANNOTATION_FORCES_INPLACE_UPDATE,
    };
    task.annotations = vec![annotation.into()];
}

fn is_destructive(task: &TaskDiff) -> bool {
    // Task fields are listed only when changed.
    if task.fields.iter().any(|f| f.name != "KillTimeout") {
        return true;
    }
    task.objects.iter().any(|o| match o.name.as_str() {
        "Service" | "Constraint" | "Affinity" | "Spread" => false,
        // Turning logging on or off restarts the logger; rotation sizes do not.
        "LogConfig" => o
            .fields
            .iter()
            .any(|f| f.name == "Disabled" && f.diff_type != DiffType::None),
        _ => true,
    })
}
