//! The three named levels: job, task groups (by name), tasks (by name).

use std::collections::BTreeMap;

use super::engine::{
    field_diffs, json_map_diff, object_diff, primitive_object_diff, primitive_object_set_diff,
    sort_objects, string_set_diff, Flat,
};
use super::{flatten as fl, objects, DiffType, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff};
use crate::structs::{Affinity, Constraint, Job, Task, TaskGroup};

pub(super) fn job_diff(old: Option<&Job>, new: &Job, contextual: bool) -> JobDiff {
    let empty = Job::default();
    let (diff_type, old_flat) = match old {
        None => (DiffType::Added, None),
        Some(o) => (DiffType::None, Some(fl::job(o))),
    };
    let old = old.unwrap_or(&empty);
    let mut diff = JobDiff {
        diff_type,
        id: new.id.clone(),
        fields: field_diffs(old_flat.as_ref(), Some(&fl::job(new)), false),
        ..Default::default()
    };

    let dcs = string_set_diff(
        &old.datacenters,
        &new.datacenters,
        "Datacenters",
        contextual,
    );
    diff.objects
        .extend(dcs.filter(|d| d.diff_type != DiffType::None));
    diff.objects.extend(placement(
        (&old.constraints, &old.affinities),
        (&new.constraints, &new.affinities),
        contextual,
    ));
    diff.task_groups = by_name(
        &old.task_groups,
        &new.task_groups,
        |g| &g.name,
        |o, n| group_diff(o, n, contextual),
    );
    diff.objects.extend(objects::periodic(
        old.periodic.as_ref(),
        new.periodic.as_ref(),
        contextual,
    ));
    diff.objects.extend(objects::parameterized(
        old.parameterized_job.as_ref(),
        new.parameterized_job.as_ref(),
        contextual,
    ));
    diff.objects
        .extend(objects::ui(old.ui.as_ref(), new.ui.as_ref(), contextual));

    // Not a deep comparison: status, version and indexes change on every register.
    if diff.diff_type == DiffType::None
        && (diff.fields.iter().any(|f| f.diff_type != DiffType::None)
            || diff.objects.iter().any(|o| o.diff_type != DiffType::None)
            || diff
                .task_groups
                .iter()
                .any(|g| g.diff_type != DiffType::None))
    {
        diff.diff_type = DiffType::Edited;
    }
    diff
}

/// Constraints then affinities, the placement rules every level diffs first.
fn placement(
    old: (&[Constraint], &[Affinity]),
    new: (&[Constraint], &[Affinity]),
    contextual: bool,
) -> Vec<ObjectDiff> {
    let mut out = primitive_object_set_diff(
        old.0,
        new.0,
        "Constraint",
        contextual,
        fl::constraint_key,
        fl::constraint,
    );
    out.extend(primitive_object_set_diff(
        old.1,
        new.1,
        "Affinity",
        contextual,
        fl::affinity_key,
        fl::affinity,
    ));
    out
}

/// Pairs items by name (old ones first, then new ones), sorted by name.
fn by_name<T, D>(
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> &String,
    diff: impl Fn(Option<&T>, Option<&T>) -> D,
) -> Vec<D> {
    let old: BTreeMap<&String, &T> = old.iter().map(|o| (name(o), o)).collect();
    let new: BTreeMap<&String, &T> = new.iter().map(|n| (name(n), n)).collect();
    let mut names: Vec<&&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|k| diff(old.get(k).copied(), new.get(k).copied()))
        .collect()
}

/// Which of the pair exists, and the old and new flattened fields.
fn sides<'a, T: Default + PartialEq>(
    old: Option<&'a T>,
    new: Option<&'a T>,
    empty: &'a T,
    flat: impl Fn(&T) -> Flat,
) -> (DiffType, &'a T, &'a T, Option<Flat>, Option<Flat>) {
    match (old, new) {
        (None, Some(n)) => (DiffType::Added, empty, n, None, Some(flat(n))),
        (Some(o), None) => (DiffType::Deleted, o, empty, Some(flat(o)), None),
        (Some(o), Some(n)) => {
            let t = if o == n {
                DiffType::None
            } else {
                DiffType::Edited
            };
            (t, o, n, Some(flat(o)), Some(flat(n)))
        }
        (None, None) => (DiffType::None, empty, empty, None, None),
    }
}

fn group_diff(old: Option<&TaskGroup>, new: Option<&TaskGroup>, contextual: bool) -> TaskGroupDiff {
    let empty = TaskGroup::default();
    let (diff_type, o, n, mut old_flat, mut new_flat) = sides(old, new, &empty, fl::group);
    // Nomad adds ShutdownDelay (a pointer) only when comparing two existing groups.
    if let (Some(of), Some(nf)) = (&mut old_flat, &mut new_flat) {
        let delay = |d: Option<i64>| d.map(|d| d.to_string()).unwrap_or_default();
        of.insert("ShutdownDelay".into(), delay(o.shutdown_delay));
        nf.insert("ShutdownDelay".into(), delay(n.shutdown_delay));
    }
    let mut objs = placement(
        (&o.constraints, &o.affinities),
        (&n.constraints, &n.affinities),
        contextual,
    );
    let prim = |name: &str, old: Option<Flat>, new: Option<Flat>| {
        primitive_object_diff(old, new, name, contextual)
    };
    objs.extend(prim(
        "RestartPolicy",
        o.restart_policy.as_ref().map(fl::restart),
        n.restart_policy.as_ref().map(fl::restart),
    ));
    objs.extend(prim(
        "Migrate",
        o.migrate.as_ref().map(fl::migrate),
        n.migrate.as_ref().map(fl::migrate),
    ));
    objs.extend(prim(
        "ReschedulePolicy",
        o.reschedule_policy.as_ref().map(fl::reschedule),
        n.reschedule_policy.as_ref().map(fl::reschedule),
    ));
    objs.extend(prim(
        "EphemeralDisk",
        o.ephemeral_disk.as_ref().map(fl::disk),
        n.ephemeral_disk.as_ref().map(fl::disk),
    ));
    objs.extend(prim(
        "Update",
        o.update.as_ref().map(fl::update),
        n.update.as_ref().map(fl::update),
    ));
    objs.extend(object_diff(
        o.disconnect.as_ref(),
        n.disconnect.as_ref(),
        "Disconnect",
        contextual,
        fl::disconnect,
    ));
    objs.extend(objects::networks(&o.networks, &n.networks, contextual));
    objs.extend(objects::scaling(o.scaling.as_ref(), n.scaling.as_ref()));
    objs.extend(objects::services(&o.services, &n.services, contextual));
    objs.extend(objects::volumes(&o.volumes, &n.volumes, contextual));

    TaskGroupDiff {
        diff_type,
        name: n_or_o(old, new, |g| &g.name),
        fields: field_diffs(old_flat.as_ref(), new_flat.as_ref(), false),
        objects: objs,
        tasks: by_name(
            &o.tasks,
            &n.tasks,
            |t| &t.name,
            |a, b| task_diff(a, b, contextual),
        ),
        updates: BTreeMap::new(),
    }
}

fn n_or_o<T>(old: Option<&T>, new: Option<&T>, name: impl Fn(&T) -> &String) -> String {
    new.or(old).map(|x| name(x).clone()).unwrap_or_default()
}

fn task_diff(old: Option<&Task>, new: Option<&Task>, contextual: bool) -> TaskDiff {
    let empty = Task::default();
    let (diff_type, o, n, old_flat, new_flat) = sides(old, new, &empty, fl::task);
    let mut objs = placement(
        (&o.constraints, &o.affinities),
        (&n.constraints, &n.affinities),
        contextual,
    );
    objs.extend(json_map_diff(&o.config, &n.config, "Config", contextual));
    objs.extend(objects::resources(
        o.resources.as_ref(),
        n.resources.as_ref(),
        contextual,
    ));
    objs.extend(primitive_object_diff(
        o.log_config.as_ref().map(fl::log_config),
        n.log_config.as_ref().map(fl::log_config),
        "LogConfig",
        contextual,
    ));
    objs.extend(primitive_object_diff(
        o.dispatch_payload.as_ref().map(fl::dispatch_payload),
        n.dispatch_payload.as_ref().map(fl::dispatch_payload),
        "DispatchPayload",
        contextual,
    ));
    objs.extend(primitive_object_set_diff(
        &o.artifacts,
        &n.artifacts,
        "Artifact",
        contextual,
        fl::artifact_key,
        fl::artifact,
    ));
    objs.extend(objects::services(&o.services, &n.services, contextual));
    objs.extend(objects::templates(&o.templates, &n.templates, contextual));
    objs.extend(objects::identity(
        o.identity.as_ref(),
        n.identity.as_ref(),
        contextual,
    ));
    objs.extend(objects::identities(
        &o.identities,
        &n.identities,
        contextual,
    ));
    objs.extend(objects::volume_mounts(
        &o.volume_mounts,
        &n.volume_mounts,
        contextual,
    ));

    TaskDiff {
        diff_type,
        name: n_or_o(old, new, |t| &t.name),
        fields: field_diffs(old_flat.as_ref(), new_flat.as_ref(), false),
        objects: objs,
        annotations: Vec::new(),
    }
}

/// Sorted object diffs of a list whose items are paired by position (Nomad's rule for
/// volume mounts and UI links).
pub(super) fn by_position<T>(
    old: &[T],
    new: &[T],
    diff: impl Fn(Option<&T>, Option<&T>) -> Option<ObjectDiff>,
) -> Vec<ObjectDiff> {
    let mut out: Vec<ObjectDiff> = (0..old.len().max(new.len()))
        .filter_map(|i| diff(old.get(i), new.get(i)))
        .collect();
    sort_objects(&mut out);
    out
}
