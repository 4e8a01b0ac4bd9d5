use super::*;
use crate::structs::{
    AllocatedCpuResources, AllocatedMemoryResources, AllocatedPortMapping, AllocatedResources,
    AllocatedSharedResources, AllocatedTaskResources, Job, ParameterizedJobConfig, TaskGroup,
};
use std::sync::Arc;

fn fixture() -> (Allocation, Task, Node) {
    let task = Task {
        name: "redis".into(),
        driver: "docker".into(),
        env: [
            ("GREETING", "hello ${node.unique.name} in ${NOMAD_DC}"),
            ("RACK", "${meta.rack}"),
            ("KERNEL", "${attr.kernel.name}"),
            ("UNKNOWN", "${attr.nope} ${NOMAD_NOPE}"),
            ("FROM_META", "${NOMAD_META_owner}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        meta: [("tier".to_string(), "task".to_string())].into(),
        ..Default::default()
    };
    let group = TaskGroup {
        name: "cache".into(),
        meta: [
            ("tier".to_string(), "group".to_string()),
            ("owner".to_string(), "ops".to_string()),
        ]
        .into(),
        tasks: vec![task.clone()],
        ..Default::default()
    };
    let job = Job {
        id: "example".into(),
        name: "example-name".into(),
        region: "global".into(),
        meta: [
            ("tier".to_string(), "job".to_string()),
            ("my-key".to_string(), "dash".to_string()),
            ("owner".to_string(), "job-owner".to_string()),
        ]
        .into(),
        task_groups: vec![group],
        ..Default::default()
    };
    let alloc = Allocation {
        id: "0b6c4b2e-1111-2222-3333-444455556666".into(),
        name: "example.cache[2]".into(),
        namespace: "default".into(),
        task_group: "cache".into(),
        job: Some(Arc::new(job)),
        allocated_resources: Some(AllocatedResources {
            tasks: [(
                "redis".to_string(),
                AllocatedTaskResources {
                    cpu: AllocatedCpuResources {
                        cpu_shares: 500,
                        reserved_cores: vec![3, 0, 1, 2, 5],
                    },
                    memory: AllocatedMemoryResources {
                        memory_mb: 256,
                        memory_max_mb: 512,
                    },
                    networks: vec![],
                },
            )]
            .into(),
            shared: AllocatedSharedResources {
                ports: vec![AllocatedPortMapping {
                    label: "db".into(),
                    value: 23456,
                    to: 6379,
                    host_ip: "10.0.0.5".into(),
                }],
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    let node = Node {
        id: "node-id-1".into(),
        name: "worker-1".into(),
        datacenter: "dc1".into(),
        node_class: "big".into(),
        node_pool: "default".into(),
        attributes: [("kernel.name".to_string(), "linux".to_string())].into(),
        meta: [("rack".to_string(), "r42".to_string())].into(),
        ..Default::default()
    };
    (alloc, task, node)
}

/// With the port variable the allocation's network would give (network_hook.rs).
fn build(alloc: &Allocation, task: &Task, node: &Node, dirs: EnvDirs) -> TaskEnv {
    let mut input = TaskEnvInput::new(alloc, task, node, dirs);
    input.extra = [("NOMAD_PORT_db".to_string(), "6379".to_string())].into();
    TaskEnv::build(&input)
}

#[test]
fn nomad_variables() {
    let (alloc, task, node) = fixture();
    let env = build(&alloc, &task, &node, EnvDirs::isolated());
    let cases = [
        ("NOMAD_ALLOC_ID", "0b6c4b2e-1111-2222-3333-444455556666"),
        ("NOMAD_SHORT_ALLOC_ID", "0b6c4b2e"),
        ("NOMAD_ALLOC_NAME", "example.cache[2]"),
        ("NOMAD_ALLOC_INDEX", "2"),
        ("NOMAD_JOB_ID", "example"),
        ("NOMAD_JOB_NAME", "example-name"),
        ("NOMAD_GROUP_NAME", "cache"),
        ("NOMAD_TASK_NAME", "redis"),
        ("NOMAD_NAMESPACE", "default"),
        ("NOMAD_REGION", "global"),
        ("NOMAD_DC", "dc1"),
        ("NOMAD_ALLOC_DIR", "/alloc"),
        ("NOMAD_TASK_DIR", "/local"),
        ("NOMAD_SECRETS_DIR", "/secrets"),
        ("NOMAD_CPU_LIMIT", "500"),
        ("NOMAD_CPU_CORES", "0-3,5"),
        ("NOMAD_MEMORY_LIMIT", "256"),
        ("NOMAD_MEMORY_MAX_LIMIT", "512"),
        // Meta: task over group over job, upper- and original-case.
        ("NOMAD_META_TIER", "task"),
        ("NOMAD_META_tier", "task"),
        ("NOMAD_META_owner", "ops"),
        ("NOMAD_META_my_key", "dash"),
        ("NOMAD_META_MY_KEY", "dash"),
        // The env block, interpolated.
        ("GREETING", "hello worker-1 in dc1"),
        ("RACK", "r42"),
        ("KERNEL", "linux"),
        ("UNKNOWN", "${attr.nope} ${NOMAD_NOPE}"),
        ("FROM_META", "ops"),
    ];
    for (k, v) in cases {
        assert_eq!(env.get(k), Some(v), "{k}");
    }
    assert_eq!(env.get("NOMAD_JOB_PARENT_ID"), None);
    assert_eq!(env.get("NOMAD_META_my-key"), None, "cleaned");
    let list = env.to_vec();
    let mut sorted = list.clone();
    sorted.sort();
    assert_eq!(list, sorted);
    assert!(list.contains(&"NOMAD_TASK_NAME=redis".to_string()));
}

#[test]
fn raw_exec_sees_host_paths_and_extra_wins() {
    let (mut alloc, task, node) = fixture();
    alloc.allocated_resources = None;
    let mut job = (**alloc.job.as_ref().unwrap()).clone();
    job.dispatched = true;
    job.parameterized_job = Some(ParameterizedJobConfig {
        meta_optional: vec!["opt".into()],
        ..Default::default()
    });
    alloc.job = Some(Arc::new(job));
    let env = TaskEnv::build(&TaskEnvInput {
        alloc: &alloc,
        task: &task,
        node: &node,
        region: "eu",
        dirs: EnvDirs::host(
            "/var/a/1/alloc".as_ref(),
            "/var/a/1/redis/local".as_ref(),
            "/var/a/1/redis/secrets".as_ref(),
        ),
        extra: [("NOMAD_PORT_db".to_string(), "7000".to_string())].into(),
        host_env: [
            ("PATH".to_string(), "/usr/bin".to_string()),
            ("NOMAD_TASK_NAME".to_string(), "host".to_string()),
        ]
        .into(),
    });
    assert_eq!(env.get("NOMAD_ALLOC_DIR"), Some("/var/a/1/alloc"));
    assert_eq!(env.get("NOMAD_TASK_DIR"), Some("/var/a/1/redis/local"));
    assert_eq!(env.get("NOMAD_REGION"), Some("eu"));
    assert_eq!(env.get("NOMAD_PORT_db"), Some("7000"));
    assert_eq!(env.get("PATH"), Some("/usr/bin"));
    assert_eq!(
        env.get("NOMAD_TASK_NAME"),
        Some("redis"),
        "host env never wins"
    );
    assert_eq!(env.get("NOMAD_META_OPT"), Some(""));
    // No allocated resources and no task resources: no limits.
    assert_eq!(env.get("NOMAD_CPU_LIMIT"), None);
    assert_eq!(env.get("NOMAD_CPU_CORES"), None);
    assert_eq!(
        env.node_attrs().get("node.region").map(String::as_str),
        Some("eu")
    );
}

#[test]
fn interpolation() {
    let (alloc, task, node) = fixture();
    let env = build(&alloc, &task, &node, EnvDirs::isolated());
    let cases = [
        ("${NOMAD_ALLOC_INDEX}", "2"),
        ("redis-${NOMAD_ALLOC_INDEX}.conf", "redis-2.conf"),
        (
            "${node.unique.id}/${node.unique.name}",
            "node-id-1/worker-1",
        ),
        (
            "${node.datacenter} ${node.class} ${node.pool}",
            "dc1 big default",
        ),
        ("${attr.kernel.name}", "linux"),
        ("${node.attr.kernel.name}", "linux"),
        ("${meta.rack}", "r42"),
        ("${node.meta.rack}", "r42"),
        ("${env[\"NOMAD_TASK_NAME\"]}", "redis"),
        ("${NOMAD_META_tier}", "task"),
        ("${unknown}", "${unknown}"),
        ("${env[\"NOPE\"]}", "${env[\"NOPE\"]}"),
        ("${a b}", "${a b}"),
        ("$${NOMAD_TASK_NAME}", "$redis"),
        (
            "unterminated ${NOMAD_TASK_NAME",
            "unterminated ${NOMAD_TASK_NAME",
        ),
        ("${}", "${}"),
        ("plain $HOME", "plain $HOME"),
        ("${NOMAD_TASK_NAME}${NOMAD_GROUP_NAME}", "rediscache"),
    ];
    for (input, want) in cases {
        assert_eq!(env.interpolate(input), want, "{input}");
    }
    let config = serde_json::json!({
        "image": "redis:${NOMAD_META_tier}",
        "args": ["--port", "${NOMAD_PORT_db}", 7],
        "${NOMAD_TASK_NAME}": {"nested": ["${meta.rack}"], "flag": true},
    });
    assert_eq!(
        env.interpolate_json(&config),
        serde_json::json!({
            "image": "redis:task",
            "args": ["--port", "6379", 7],
            "${NOMAD_TASK_NAME}": {"nested": ["r42"], "flag": true},
        })
    );
}

#[test]
fn dirs_follow_the_driver() {
    let dirs = TaskDirs {
        alloc: "/data/a1/alloc".into(),
        local: "/data/a1/web/local".into(),
        secrets: "/data/a1/web/secrets".into(),
    };
    assert_eq!(
        EnvDirs::for_driver(DriverKind::Exec, &dirs),
        EnvDirs::isolated()
    );
    assert_eq!(
        EnvDirs::for_driver(DriverKind::Container, &dirs),
        EnvDirs::isolated()
    );
    let raw = EnvDirs::for_driver(DriverKind::RawExec, &dirs);
    assert_eq!(
        (raw.alloc.as_str(), raw.local.as_str(), raw.secrets.as_str()),
        (
            "/data/a1/alloc",
            "/data/a1/web/local",
            "/data/a1/web/secrets"
        )
    );
}

#[test]
fn helpers() {
    assert_eq!(core_list(&[]), "");
    assert_eq!(core_list(&[4]), "4");
    assert_eq!(core_list(&[1, 2, 3, 7, 9, 10]), "1-3,7,9-10");
    assert_eq!(clean_key("NOMAD_META_a-b c.d".into()), "NOMAD_META_a_b_c.d");
    assert_eq!(clean_key("MY-VAR".into()), "MY-VAR", "only prefixed names");
}
