//! The destructive-update rule and tainted nodes.

use super::*;
use crate::structs::{
    Constraint, EphemeralDisk, LogConfig, Port, RequestedDevice, Service, TaskArtifact, Template,
    UpdateStrategy, VolumeMount, VolumeRequest, SECOND,
};

pub(super) fn base_job() -> Job {
    let mut job = Job {
        id: "web".into(),
        meta: BTreeMap::from([("owner".into(), "ops".into())]),
        task_groups: vec![TaskGroup {
            name: "app".into(),
            count: Some(2),
            networks: vec![NetworkResource {
                mode: "bridge".into(),
                dynamic_ports: vec![Port {
                    label: "http".into(),
                    to: 8080,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            tasks: vec![Task {
                name: "server".into(),
                driver: "container".into(),
                config: serde_json::json!({"image": "nginx:1"})
                    .as_object()
                    .cloned()
                    .unwrap(),
                env: BTreeMap::from([("MODE".into(), "prod".into())]),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    job.canonicalize();
    job
}

fn task(job: &mut Job) -> &mut Task {
    &mut job.task_groups[0].tasks[0]
}

fn resources(job: &mut Job) -> &mut Resources {
    task(job).resources.get_or_insert_with(Resources::default)
}

#[test]
fn destructive_and_in_place_changes() {
    type Edit = fn(&mut Job);
    let cases: Vec<(&str, Edit, Option<&str>)> = vec![
        ("nothing", |_| {}, None),
        // In-place: scheduling and policy changes.
        ("count", |j| j.task_groups[0].count = Some(5), None),
        (
            "update strategy",
            |j| {
                j.task_groups[0].update = Some(UpdateStrategy {
                    max_parallel: Some(3),
                    ..UpdateStrategy::default_strategy()
                })
            },
            None,
        ),
        (
            "constraint",
            |j| {
                j.task_groups[0].constraints.push(Constraint {
                    l_target: "${attr.kernel.name}".into(),
                    r_target: "linux".into(),
                    operand: "=".into(),
                })
            },
            None,
        ),
        ("kill timeout", |j| task(j).kill_timeout = 30 * SECOND, None),
        (
            "service",
            |j| {
                task(j).services.push(Service {
                    name: "web".into(),
                    ..Default::default()
                })
            },
            None,
        ),
        (
            "log rotation",
            |j| task(j).log_config.as_mut().unwrap().max_files = Some(3),
            None,
        ),
        ("priority", |j| j.priority = 80, None),
        // Destructive: group level.
        (
            "second task",
            |j| {
                let mut t = j.task_groups[0].tasks[0].clone();
                t.name = "sidecar".into();
                j.task_groups[0].tasks.push(t);
            },
            Some("number of tasks"),
        ),
        (
            "ephemeral disk",
            |j| {
                j.task_groups[0].ephemeral_disk = Some(EphemeralDisk {
                    size_mb: Some(500),
                    ..Default::default()
                })
            },
            Some("ephemeral disk"),
        ),
        (
            "network mode",
            |j| j.task_groups[0].networks[0].mode = "host".into(),
            Some("network mode"),
        ),
        (
            "port to",
            |j| j.task_groups[0].networks[0].dynamic_ports[0].to = 9090,
            Some("network port map"),
        ),
        (
            "dynamic port becomes static",
            |j| {
                let net = &mut j.task_groups[0].networks[0];
                let mut port = net.dynamic_ports.remove(0);
                port.value = 8080;
                net.reserved_ports.push(port);
            },
            Some("network port map"),
        ),
        (
            "volume",
            |j| {
                j.task_groups[0].volumes.insert(
                    "data".into(),
                    VolumeRequest {
                        name: "data".into(),
                        volume_type: "host".into(),
                        source: "data".into(),
                        ..Default::default()
                    },
                );
            },
            Some("volume request"),
        ),
        (
            "group render_templates",
            |j| {
                j.task_groups[0]
                    .restart_policy
                    .as_mut()
                    .unwrap()
                    .render_templates = Some(true)
            },
            Some("group restart render_templates"),
        ),
        // Destructive: task level.
        (
            "renamed task",
            |j| task(j).name = "other".into(),
            Some("task deleted"),
        ),
        (
            "driver",
            |j| task(j).driver = "exec".into(),
            Some("task driver"),
        ),
        (
            "user",
            |j| task(j).user = "nobody".into(),
            Some("task user"),
        ),
        (
            "image",
            |j| {
                task(j).config.insert("image".into(), "nginx:2".into());
            },
            Some("task config"),
        ),
        (
            "env",
            |j| {
                task(j).env.insert("MODE".into(), "dev".into());
            },
            Some("task env"),
        ),
        (
            "artifact",
            |j| {
                task(j).artifacts.push(TaskArtifact {
                    getter_source: "https://example.com/a.tgz".into(),
                    ..Default::default()
                })
            },
            Some("task artifacts"),
        ),
        (
            "template",
            |j| {
                task(j).templates.push(Template {
                    dest_path: "local/a".into(),
                    ..Default::default()
                })
            },
            Some("task templates"),
        ),
        (
            "volume mount",
            |j| {
                task(j).volume_mounts.push(VolumeMount {
                    volume: "data".into(),
                    destination: "/data".into(),
                    ..Default::default()
                })
            },
            Some("task volume mounts"),
        ),
        (
            "job meta",
            |j| {
                j.meta.insert("owner".into(), "dev".into());
            },
            Some("task meta"),
        ),
        (
            "group meta",
            |j| {
                j.task_groups[0].meta.insert("tier".into(), "1".into());
            },
            Some("task meta"),
        ),
        (
            "task meta shadowing job meta with the same value",
            |j| {
                task(j).meta.insert("owner".into(), "ops".into());
            },
            None,
        ),
        ("cpu", |j| resources(j).cpu = Some(200), Some("task cpu")),
        (
            "cores",
            |j| resources(j).cores = Some(1),
            Some("task cores"),
        ),
        (
            "memory",
            |j| resources(j).memory_mb = Some(512),
            Some("task memory"),
        ),
        (
            "memory max",
            |j| resources(j).memory_max_mb = 1024,
            Some("task memory max"),
        ),
        (
            "device",
            |j| {
                resources(j).devices.push(RequestedDevice {
                    name: "nvidia/gpu".into(),
                    ..Default::default()
                })
            },
            Some("task devices"),
        ),
        (
            "task network",
            |j| resources(j).networks.push(NetworkResource::default()),
            Some("network lengths"),
        ),
        (
            "logs disabled",
            |j| {
                task(j).log_config = Some(LogConfig {
                    disabled: Some(true),
                    ..task(j).log_config.clone().unwrap()
                })
            },
            Some("task log disabled"),
        ),
        (
            "task render_templates",
            |j| task(j).restart_policy.as_mut().unwrap().render_templates = Some(true),
            Some("task restart render_templates"),
        ),
    ];
    let old = base_job();
    for (name, edit, want) in cases {
        let mut new = old.clone();
        edit(&mut new);
        assert_eq!(tasks_updated_reason(&old, &new, "app"), want, "{name}");
        assert_eq!(tasks_updated(&old, &new, "app"), want.is_some(), "{name}");
    }
}

#[test]
fn a_dynamic_ports_assigned_value_is_no_change() {
    let old = base_job();
    let mut new = old.clone();
    new.task_groups[0].networks[0].dynamic_ports[0].value = 23456;
    assert!(!tasks_updated(&old, &new, "app"));
}

#[test]
fn tainted_nodes_are_gone_down_disconnected_or_draining() {
    use crate::server::state::{Command, StateStore};
    let store = StateStore::in_memory();
    let nodes = [
        ("ready", "ready", false),
        ("down", "down", false),
        ("draining", "ready", true),
        ("disconnected", "disconnected", false),
    ];
    for (id, status, drain) in nodes {
        let node = Node {
            id: id.into(),
            status: status.into(),
            ..Default::default()
        };
        store
            .apply(Command::NodeRegister {
                node: Box::new(node),
                evals: vec![],
            })
            .unwrap();
        if drain {
            store
                .apply(Command::NodeDrain {
                    node_id: id.into(),
                    drain: true,
                    evals: vec![],
                })
                .unwrap();
        }
    }
    let allocs: Vec<Arc<Allocation>> = ["ready", "down", "draining", "disconnected", "gone"]
        .iter()
        .map(|n| {
            Arc::new(Allocation {
                node_id: n.to_string(),
                ..Default::default()
            })
        })
        .collect();
    let tainted = tainted_nodes(&store.snapshot(), &allocs);
    let got: Vec<(&str, bool)> = tainted
        .iter()
        .map(|(id, node)| (id.as_str(), node.is_some()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("disconnected", true),
            ("down", true),
            ("draining", true),
            ("gone", false)
        ]
    );
}
