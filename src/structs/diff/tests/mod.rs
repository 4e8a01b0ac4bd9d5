use std::collections::BTreeMap;

use serde_json::json;

use super::engine::go_float;
use super::*;
use crate::structs::{Constraint, Service, Task, TaskGroup, SECOND};

/// The walkthrough's job, canonical as the server stores it.
fn redis() -> Job {
    let mut job = Job {
        id: "example".into(),
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "cache".into(),
            tasks: vec![Task {
                name: "redis".into(),
                driver: "docker".into(),
                config: json!({"image": "redis:3.2", "ports": ["db"]})
                    .as_object()
                    .cloned()
                    .unwrap(),
                services: vec![Service {
                    name: "redis-cache".into(),
                    port_label: "db".into(),
                    tags: vec!["global".into(), "cache".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    job.canonicalize();
    job
}

fn edit(f: impl FnOnce(&mut Job)) -> Job {
    let mut job = redis();
    f(&mut job);
    job
}

fn task_mut(job: &mut Job) -> &mut Task {
    &mut job.task_groups[0].tasks[0]
}

fn field<'a>(fields: &'a [FieldDiff], name: &str) -> &'a FieldDiff {
    fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name} in {fields:#?}"))
}

fn object<'a>(objects: &'a [ObjectDiff], name: &str) -> &'a ObjectDiff {
    objects
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no object {name} in {objects:#?}"))
}

fn fd(t: DiffType, name: &str, old: &str, new: &str) -> FieldDiff {
    FieldDiff {
        diff_type: t,
        name: name.into(),
        old: old.into(),
        new: new.into(),
        annotations: Vec::new(),
    }
}

/// One changed task of the single group: (task type, annotation).
fn task_outcome(new: &Job) -> (DiffType, Vec<String>) {
    let diff = job_diff(Some(&redis()), new, true);
    let task = &diff.task_groups[0].tasks[0];
    (task.diff_type, task.annotations.clone())
}

#[test]
fn task_annotations_follow_the_plan_rule() {
    let destructive = vec![ANNOTATION_FORCES_DESTRUCTIVE_UPDATE.to_string()];
    let in_place = vec![ANNOTATION_FORCES_INPLACE_UPDATE.to_string()];
    type Edit = fn(&mut Job);
    let cases: Vec<(&str, Edit, Vec<String>)> = vec![
        (
            "image",
            |j| {
                task_mut(j).config["image"] = json!("redis:4.0");
            },
            destructive.clone(),
        ),
        (
            "env",
            |j| {
                task_mut(j).env.insert("A".into(), "1".into());
            },
            destructive.clone(),
        ),
        (
            "driver",
            |j| task_mut(j).driver = "exec".into(),
            destructive.clone(),
        ),
        (
            "task meta",
            |j| {
                task_mut(j).meta.insert("k".into(), "v".into());
            },
            destructive.clone(),
        ),
        (
            "cpu",
            |j| {
                task_mut(j).resources.as_mut().unwrap().cpu = Some(500);
            },
            destructive.clone(),
        ),
        (
            "logs disabled",
            |j| {
                task_mut(j).log_config.as_mut().unwrap().disabled = Some(true);
            },
            destructive.clone(),
        ),
        (
            "kill timeout",
            |j| task_mut(j).kill_timeout = 10 * SECOND,
            in_place.clone(),
        ),
        (
            "service tags",
            |j| {
                task_mut(j).services[0].tags.push("v2".into());
            },
            in_place.clone(),
        ),
        (
            "task constraint",
            |j| {
                task_mut(j).constraints.push(Constraint {
                    l_target: "${attr.kernel.name}".into(),
                    r_target: "linux".into(),
                    operand: "=".into(),
                });
            },
            in_place.clone(),
        ),
        (
            "log rotation",
            |j| {
                task_mut(j).log_config.as_mut().unwrap().max_files = Some(3);
            },
            in_place.clone(),
        ),
    ];
    for (name, f, want) in cases {
        let (t, annotations) = task_outcome(&edit(f));
        assert_eq!(t, DiffType::Edited, "{name}");
        assert_eq!(annotations, want, "{name}");
    }
}

#[test]
fn new_job_is_added_throughout() {
    let diff = job_diff(None, &redis(), true);
    assert_eq!(
        (diff.diff_type, diff.id.as_str()),
        (DiffType::Added, "example")
    );
    assert_eq!(field(&diff.fields, "Type").new, "service");
    assert_eq!(field(&diff.fields, "Priority").new, "50");
    assert!(diff
        .fields
        .iter()
        .all(|f| f.name != "ID" && f.name != "Version"));
    let dcs = object(&diff.objects, "Datacenters");
    assert_eq!(dcs.diff_type, DiffType::Added);
    assert_eq!(
        dcs.fields,
        vec![fd(DiffType::Added, "Datacenters", "", "dc1")]
    );

    let group = &diff.task_groups[0];
    assert_eq!(
        (group.diff_type, group.name.as_str()),
        (DiffType::Added, "cache")
    );
    let count = field(&group.fields, "Count");
    assert_eq!(
        (count.diff_type, count.new.as_str()),
        (DiffType::Added, "1")
    );
    assert_eq!(count.annotations, vec![ANNOTATION_FORCES_CREATE]);
    assert_eq!(
        object(&group.objects, "RestartPolicy").diff_type,
        DiffType::Added
    );
    let task = &group.tasks[0];
    assert_eq!(task.diff_type, DiffType::Added);
    assert_eq!(task.annotations, vec![ANNOTATION_FORCES_CREATE]);
    assert_eq!(field(&task.fields, "Driver").new, "docker");
    let config = object(&task.objects, "Config");
    assert_eq!(config.diff_type, DiffType::Added);
    assert_eq!(field(&config.fields, "ports[0]").new, "db");
}

#[test]
fn count_changes_are_annotated() {
    for (count, t, annotation) in [
        (3, DiffType::Edited, Some(ANNOTATION_FORCES_CREATE)),
        (0, DiffType::Edited, Some(ANNOTATION_FORCES_DESTROY)),
    ] {
        let new = edit(|j| j.task_groups[0].count = Some(count));
        let diff = job_diff(Some(&redis()), &new, true);
        assert_eq!(diff.diff_type, DiffType::Edited);
        let group = &diff.task_groups[0];
        assert_eq!(group.diff_type, t);
        // Only the count changed: no other group fields or objects.
        assert_eq!(group.fields.len(), 1, "{:#?}", group.fields);
        assert!(group.objects.is_empty(), "{:#?}", group.objects);
        let f = &group.fields[0];
        assert_eq!((f.name.as_str(), f.old.as_str()), ("Count", "1"));
        assert_eq!(f.new, count.to_string());
        assert_eq!(f.annotations, annotation.into_iter().collect::<Vec<_>>());
        let task = &group.tasks[0];
        assert_eq!(task.diff_type, DiffType::None);
        assert!(task.annotations.is_empty() && task.fields.is_empty() && task.objects.is_empty());
    }
}

#[test]
fn image_change_lists_the_config_with_context() {
    let new = edit(|j| task_mut(j).config["image"] = json!("redis:4.0"));
    let diff = job_diff(Some(&redis()), &new, true);
    let task = &diff.task_groups[0].tasks[0];
    assert!(task.fields.is_empty());
    assert_eq!(task.objects.len(), 1, "{:#?}", task.objects);
    let config = &task.objects[0];
    assert_eq!(
        (config.name.as_str(), config.diff_type),
        ("Config", DiffType::Edited)
    );
    assert_eq!(
        config.fields,
        vec![
            fd(DiffType::Edited, "image", "redis:3.2", "redis:4.0"),
            fd(DiffType::None, "ports[0]", "db", "db"),
        ]
    );

    // Without context only the change is listed.
    let plain = job_diff(Some(&redis()), &new, false);
    let config = &plain.task_groups[0].tasks[0].objects[0];
    assert_eq!(
        config.fields,
        vec![fd(DiffType::Edited, "image", "redis:3.2", "redis:4.0")]
    );
}

#[test]
fn field_values_print_like_go() {
    let new = edit(|j| {
        let t = task_mut(j);
        t.kill_timeout = 10 * SECOND;
        t.env.insert("MODE".into(), "fast".into());
        t.config = json!({
            "image": "redis:4.0",
            "args": ["--port", 6379, true, null],
            "port_map": [{"db": 6379}],
            "ratio": 0.5,
            "big": 1_000_000,
        })
        .as_object()
        .cloned()
        .unwrap();
    });
    let diff = job_diff(Some(&redis()), &new, true);
    let task = &diff.task_groups[0].tasks[0];
    assert_eq!(
        task.fields,
        vec![
            fd(DiffType::Added, "Env[MODE]", "", "fast"),
            fd(DiffType::Edited, "KillTimeout", "5000000000", "10000000000"),
        ]
    );
    let config = object(&task.objects, "Config");
    let got: Vec<(&str, &str)> = config
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.new.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("args[0]", "--port"),
            ("args[1]", "6379"),
            ("args[2]", "true"),
            ("args[3]", "nil"),
            ("big", "1e+06"),
            ("image", "redis:4.0"),
            ("port_map[0][db]", "6379"),
            ("ports[0]", ""),
            ("ratio", "0.5"),
        ]
    );
    assert_eq!(
        field(&config.fields, "ports[0]").diff_type,
        DiffType::Deleted
    );
}

#[test]
fn go_float_formatting() {
    for (f, want) in [
        (6379.0, "6379"),
        (0.5, "0.5"),
        (-2.0, "-2"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (1e21, "1e+21"),
        (0.0, "0"),
    ] {
        assert_eq!(go_float(f), want, "{f}");
    }
}

#[test]
fn unchanged_job_is_none_everywhere() {
    let diff = job_diff(Some(&redis()), &redis(), true);
    assert_eq!(diff.diff_type, DiffType::None);
    assert!(
        diff.fields.is_empty() && diff.objects.is_empty(),
        "{diff:#?}"
    );
    let group = &diff.task_groups[0];
    assert_eq!(group.diff_type, DiffType::None);
    assert!(
        group.fields.is_empty() && group.objects.is_empty(),
        "{group:#?}"
    );
    let task = &group.tasks[0];
    assert_eq!(task.diff_type, DiffType::None);
    assert!(task.fields.is_empty() && task.objects.is_empty() && task.annotations.is_empty());
}

#[test]
fn status_version_and_indexes_are_ignored() {
    let new = edit(|j| {
        j.version = 4;
        j.status = "running".into();
        j.job_modify_index = 99;
        j.submit_time = 12;
        j.stable = true;
    });
    let diff = job_diff(Some(&redis()), &new, true);
    assert_eq!(diff.diff_type, DiffType::None, "{diff:#?}");
}

#[test]
fn removed_group_is_destroyed() {
    let mut old = redis();
    let mut web = old.task_groups[0].clone();
    web.name = "web".into();
    web.count = Some(2);
    old.task_groups.push(web);
    let diff = job_diff(Some(&old), &redis(), true);
    assert_eq!(diff.diff_type, DiffType::Edited);
    let names: Vec<_> = diff
        .task_groups
        .iter()
        .map(|g| (g.name.as_str(), g.diff_type))
        .collect();
    assert_eq!(
        names,
        vec![("cache", DiffType::None), ("web", DiffType::Deleted)]
    );
    let web = &diff.task_groups[1];
    let count = field(&web.fields, "Count");
    assert_eq!(
        (count.diff_type, count.old.as_str()),
        (DiffType::Deleted, "2")
    );
    assert_eq!(count.annotations, vec![ANNOTATION_FORCES_DESTROY]);
    assert_eq!(web.tasks[0].diff_type, DiffType::Deleted);
    assert_eq!(web.tasks[0].annotations, vec![ANNOTATION_FORCES_DESTROY]);
}

#[test]
fn new_task_in_an_existing_group_replaces_its_allocations() {
    let new = edit(|j| {
        let mut sidecar = j.task_groups[0].tasks[0].clone();
        sidecar.name = "log-shipper".into();
        j.task_groups[0].tasks.push(sidecar);
    });
    let diff = job_diff(Some(&redis()), &new, true);
    let group = &diff.task_groups[0];
    assert_eq!(group.diff_type, DiffType::Edited);
    let tasks: Vec<_> = group
        .tasks
        .iter()
        .map(|t| (t.name.as_str(), t.diff_type))
        .collect();
    assert_eq!(
        tasks,
        vec![("log-shipper", DiffType::Added), ("redis", DiffType::None)]
    );
    assert_eq!(
        group.tasks[0].annotations,
        vec![ANNOTATION_FORCES_DESTRUCTIVE_UPDATE]
    );
}

#[test]
fn meta_and_datacenters() {
    let new = edit(|j| {
        j.meta.insert("owner".into(), "ops".into());
        j.datacenters = vec!["dc2".into()];
    });
    let diff = job_diff(Some(&redis()), &new, true);
    assert_eq!(diff.diff_type, DiffType::Edited);
    assert_eq!(
        diff.fields,
        vec![fd(DiffType::Added, "Meta[owner]", "", "ops")]
    );
    let dcs = object(&diff.objects, "Datacenters");
    assert_eq!(dcs.diff_type, DiffType::Edited);
    assert_eq!(
        dcs.fields,
        vec![
            fd(DiffType::Added, "Datacenters", "", "dc2"),
            fd(DiffType::Deleted, "Datacenters", "dc1", ""),
        ]
    );
    assert_eq!(diff.task_groups[0].diff_type, DiffType::None);
}

#[test]
fn group_objects_list_context() {
    let new = edit(|j| {
        let g = &mut j.task_groups[0];
        g.update.as_mut().unwrap().max_parallel = Some(2);
        g.meta.insert("tier".into(), "cache".into());
    });
    let diff = job_diff(Some(&redis()), &new, true);
    let group = &diff.task_groups[0];
    assert_eq!(
        group.fields,
        vec![fd(DiffType::Added, "Meta[tier]", "", "cache")]
    );
    let update = object(&group.objects, "Update");
    assert_eq!(update.diff_type, DiffType::Edited);
    assert_eq!(field(&update.fields, "MaxParallel").old, "1");
    assert_eq!(field(&update.fields, "MaxParallel").new, "2");
    let health = field(&update.fields, "HealthCheck");
    assert_eq!(
        (health.diff_type, health.new.as_str()),
        (DiffType::None, "checks")
    );
    assert!(update.fields.iter().all(|f| f.name != "Stagger"));
    // The task did not change.
    assert_eq!(group.tasks[0].diff_type, DiffType::None);
}

#[test]
fn service_changes_are_matched_and_nested() {
    let new = edit(|j| {
        let s = &mut task_mut(j).services[0];
        s.tags = vec!["global".into(), "v2".into()];
    });
    let diff = job_diff(Some(&redis()), &new, true);
    let task = &diff.task_groups[0].tasks[0];
    let service = object(&task.objects, "Service");
    assert_eq!(service.diff_type, DiffType::Edited);
    assert_eq!(field(&service.fields, "Name").diff_type, DiffType::None);
    let tags = object(&service.objects, "Tags");
    assert_eq!(tags.diff_type, DiffType::Edited);
    assert_eq!(
        tags.fields,
        // Sorted by name, then old value: additions (old "") come first.
        vec![
            fd(DiffType::Added, "Tags", "", "v2"),
            fd(DiffType::Deleted, "Tags", "cache", ""),
            fd(DiffType::None, "Tags", "global", "global"),
        ]
    );
}

#[test]
fn resources_change_lists_all_fields() {
    let new = edit(|j| task_mut(j).resources.as_mut().unwrap().memory_mb = Some(512));
    let diff = job_diff(Some(&redis()), &new, true);
    let resources = object(&diff.task_groups[0].tasks[0].objects, "Resources");
    assert_eq!(resources.diff_type, DiffType::Edited);
    assert_eq!(field(&resources.fields, "MemoryMB").old, "300");
    assert_eq!(field(&resources.fields, "MemoryMB").new, "512");
    assert_eq!(field(&resources.fields, "CPU").diff_type, DiffType::None);
    let names: Vec<_> = resources.fields.iter().map(|f| f.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn updates_come_from_the_scheduler() {
    let mut diff = job_diff(Some(&redis()), &redis(), true);
    let desired = BTreeMap::from([(
        "cache".to_string(),
        DesiredUpdates {
            ignore: 2,
            destructive_update: 1,
            place: 0,
            canary: 1,
            migrate: 3,
            stop: 4,
            in_place_update: 5,
            reschedule_now: 9,
            ..Default::default()
        },
    )]);
    annotate_updates(&mut diff, &desired);
    let want: BTreeMap<String, u64> = [
        ("canary", 1),
        ("create/destroy update", 1),
        ("destroy", 4),
        ("ignore", 2),
        ("in-place update", 5),
        ("migrate", 3),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(diff.task_groups[0].updates, want);
}

#[test]
fn annotating_twice_changes_nothing() {
    let new = edit(|j| j.task_groups[0].count = Some(2));
    let mut diff = job_diff(Some(&redis()), &new, true);
    let once = diff.clone();
    annotate(&mut diff);
    assert_eq!(diff, once);
}

#[test]
fn json_shape_matches_nomads_api() {
    let new = edit(|j| j.task_groups[0].count = Some(2));
    let mut diff = job_diff(Some(&redis()), &new, true);
    annotate_updates(
        &mut diff,
        &BTreeMap::from([(
            "cache".to_string(),
            DesiredUpdates {
                place: 1,
                in_place_update: 1,
                ..Default::default()
            },
        )]),
    );
    let v = serde_json::to_value(&diff).unwrap();
    assert_eq!(v["Type"], "Edited");
    assert_eq!(v["ID"], "example");
    assert_eq!(v["Fields"], json!([]));
    assert_eq!(v["Objects"], json!([]));
    let g = &v["TaskGroups"][0];
    assert_eq!(g["Name"], "cache");
    assert_eq!(g["Updates"], json!({"create": 1, "in-place update": 1}));
    assert_eq!(
        g["Fields"][0],
        json!({"Type": "Edited", "Name": "Count", "Old": "1", "New": "2",
               "Annotations": ["forces create"]})
    );
    assert_eq!(
        g["Tasks"][0],
        json!({"Type": "None", "Name": "redis", "Fields": [], "Objects": [], "Annotations": []})
    );
    let back: JobDiff = serde_json::from_value(v).unwrap();
    assert_eq!(back, diff);
    // Nomad itself sends nulls for empty lists and maps.
    let nomad: JobDiff = serde_json::from_value(json!({
        "Type": "None", "ID": "example", "Fields": null, "Objects": null,
        "TaskGroups": [{"Type": "None", "Name": "cache", "Fields": null, "Objects": null,
            "Tasks": [{"Type": "None", "Name": "redis", "Fields": null, "Objects": null,
                "Annotations": null}],
            "Updates": null}]
    }))
    .unwrap();
    assert_eq!(nomad.task_groups[0].tasks[0].name, "redis");
    let d: DesiredUpdates =
        serde_json::from_value(json!({"Place": 1, "InPlaceUpdate": 2, "RescheduleLater": 3}))
            .unwrap();
    assert_eq!((d.place, d.in_place_update, d.reschedule_later), (1, 2, 3));
}

mod objects;
