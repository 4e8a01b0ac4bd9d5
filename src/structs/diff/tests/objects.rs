//! Nested objects: their names, matching rules and what they force on a task.

use serde_json::json;

use super::{edit, field, object, redis, task_mut, task_outcome};
use crate::structs::diff::*;
use crate::structs::{
    Constraint, DisconnectStrategy, NetworkResource, PeriodicConfig, Port, Service, TaskArtifact,
    Template,
};

fn network(label: &str, to: i64) -> NetworkResource {
    NetworkResource {
        mode: "bridge".into(),
        dynamic_ports: vec![Port {
            label: label.into(),
            to,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn networks_are_replaced_not_edited() {
    let old = edit(|j| j.task_groups[0].networks = vec![network("db", 6379)]);
    let new = edit(|j| j.task_groups[0].networks = vec![network("db", 6380)]);
    let diff = job_diff(Some(&old), &new, true);
    let group = &diff.task_groups[0];
    let nets: Vec<_> = group
        .objects
        .iter()
        .filter(|o| o.name == "Network")
        .map(|o| o.diff_type)
        .collect();
    assert_eq!(nets, vec![DiffType::Added, DiffType::Deleted]);
    let added = &group.objects[0];
    assert_eq!(field(&added.fields, "Mode").new, "bridge");
    let port = object(&added.objects, "Dynamic Port");
    assert_eq!(port.diff_type, DiffType::Added);
    // The scheduler picks dynamic values: only label, `to` and host network are compared.
    let names: Vec<_> = port.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["HostNetwork", "Label", "To"]);
    assert_eq!(field(&port.fields, "To").new, "6380");
}

#[test]
fn services_are_matched_by_name_port_and_position() {
    let two = |second: &str| {
        edit(|j| {
            let t = task_mut(j);
            let mut s = t.services[0].clone();
            s.name = second.into();
            s.port_label = "admin".into();
            t.services.push(s);
        })
    };
    // Renamed in place: same port and position still match (score 3).
    let diff = job_diff(Some(&two("admin")), &two("admin-v2"), true);
    let services: Vec<_> = diff.task_groups[0].tasks[0]
        .objects
        .iter()
        .map(|o| (o.name.as_str(), o.diff_type))
        .collect();
    assert_eq!(services, vec![("Service", DiffType::Edited)]);
    let name = field(&diff.task_groups[0].tasks[0].objects[0].fields, "Name");
    assert_eq!(
        (name.old.as_str(), name.new.as_str()),
        ("admin", "admin-v2")
    );

    // A service removed: the other is still matched by name and unchanged.
    let diff = job_diff(Some(&two("admin")), &redis(), true);
    let task = &diff.task_groups[0].tasks[0];
    assert_eq!(task.objects.len(), 1, "{:#?}", task.objects);
    assert_eq!(task.objects[0].diff_type, DiffType::Deleted);
    assert_eq!(field(&task.objects[0].fields, "Name").old, "admin");
    assert_eq!(task.annotations, vec![ANNOTATION_FORCES_INPLACE_UPDATE]);
}

#[test]
fn templates_and_artifacts_are_matched_by_destination() {
    let tmpl = |text: &str| Template {
        dest_path: "local/redis.conf".into(),
        embedded_tmpl: text.into(),
        change_mode: "restart".into(),
        ..Default::default()
    };
    let art = |src: &str| TaskArtifact {
        getter_source: src.into(),
        relative_dest: "local/bin".into(),
        ..Default::default()
    };
    let old = edit(|j| {
        let other = Template {
            dest_path: "local/other".into(),
            ..tmpl("x")
        };
        task_mut(j).templates = vec![tmpl("a"), other];
        task_mut(j).artifacts = vec![art("https://example.com/v1.tgz")];
    });
    let mut new = old.clone();
    task_mut(&mut new).templates[0].embedded_tmpl = "b".into();
    task_mut(&mut new).artifacts[0].getter_source = "https://example.com/v2.tgz".into();
    let diff = job_diff(Some(&old), &new, true);
    let task = &diff.task_groups[0].tasks[0];
    let names: Vec<_> = task
        .objects
        .iter()
        .map(|o| (o.name.as_str(), o.diff_type))
        .collect();
    assert_eq!(
        names,
        vec![
            ("Artifact", DiffType::Edited),
            ("Template", DiffType::Edited)
        ]
    );
    let t = object(&task.objects, "Template");
    assert_eq!(field(&t.fields, "EmbeddedTmpl").new, "b");
    assert_eq!(field(&t.fields, "DestPath").diff_type, DiffType::None);
    assert_eq!(task.annotations, vec![ANNOTATION_FORCES_DESTRUCTIVE_UPDATE]);
}

#[test]
fn constraints_are_added_or_deleted() {
    let c = |v: &str| Constraint {
        l_target: "${attr.kernel.name}".into(),
        r_target: v.into(),
        operand: "=".into(),
    };
    let old = edit(|j| j.constraints = vec![c("linux")]);
    let new = edit(|j| j.constraints = vec![c("darwin")]);
    let diff = job_diff(Some(&old), &new, true);
    assert_eq!(diff.diff_type, DiffType::Edited);
    let kinds: Vec<_> = diff
        .objects
        .iter()
        .map(|o| (o.name.as_str(), o.diff_type))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("Constraint", DiffType::Added),
            ("Constraint", DiffType::Deleted)
        ]
    );
    assert_eq!(field(&diff.objects[0].fields, "RTarget").new, "darwin");
    assert_eq!(
        field(&diff.objects[0].fields, "Operand").diff_type,
        DiffType::Added
    );
}

#[test]
fn job_objects_periodic_and_group_disconnect() {
    let new = edit(|j| {
        j.periodic = Some(PeriodicConfig {
            enabled: Some(true),
            spec: "*/5 * * * *".into(),
            spec_type: "cron".into(),
            time_zone: "UTC".into(),
            ..Default::default()
        });
        j.task_groups[0].disconnect = Some(DisconnectStrategy {
            lost_after: 60_000_000_000,
            ..Default::default()
        });
    });
    let diff = job_diff(Some(&redis()), &new, true);
    let periodic = object(&diff.objects, "Periodic");
    assert_eq!(periodic.diff_type, DiffType::Added);
    assert_eq!(field(&periodic.fields, "Spec").new, "*/5 * * * *");
    let disconnect = object(&diff.task_groups[0].objects, "Disconnect");
    assert_eq!(disconnect.diff_type, DiffType::Added);
    // Unset pointers read "nil" in Nomad's rendering of this block.
    assert_eq!(field(&disconnect.fields, "Replace").new, "nil");
    assert_eq!(field(&disconnect.fields, "LostAfter").new, "60000000000");
}

#[test]
fn config_removal_and_addition() {
    let empty = edit(|j| task_mut(j).config.clear());
    let diff = job_diff(Some(&redis()), &empty, true);
    let config = object(&diff.task_groups[0].tasks[0].objects, "Config");
    assert_eq!(config.diff_type, DiffType::Deleted);
    assert_eq!(field(&config.fields, "image").old, "redis:3.2");
    let diff = job_diff(Some(&empty), &redis(), true);
    let config = object(&diff.task_groups[0].tasks[0].objects, "Config");
    assert_eq!(config.diff_type, DiffType::Added);
    let (t, annotations) = task_outcome(&edit(|j| {
        task_mut(j)
            .config
            .insert("command".into(), json!("redis-server"));
    }));
    assert_eq!(t, DiffType::Edited);
    assert_eq!(annotations, vec![ANNOTATION_FORCES_DESTRUCTIVE_UPDATE]);
}

#[test]
fn group_service_change_leaves_tasks_alone() {
    let new = edit(|j| {
        j.task_groups[0].services = vec![Service {
            name: "web".into(),
            port_label: "http".into(),
            ..Default::default()
        }];
    });
    let diff = job_diff(Some(&redis()), &new, true);
    let group = &diff.task_groups[0];
    assert_eq!(group.diff_type, DiffType::Edited);
    assert_eq!(object(&group.objects, "Service").diff_type, DiffType::Added);
    assert_eq!(group.tasks[0].diff_type, DiffType::None);
    assert!(group.tasks[0].annotations.is_empty());
}
