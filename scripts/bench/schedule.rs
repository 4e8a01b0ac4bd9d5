//! The scheduling benchmark: simulated nodes and jobs through the real server in memory
//! (registration endpoint, state store, eval broker, scheduler workers, plan applier),
//! no HTTP and no driver. Prints placements per second, eval latency percentiles and the
//! ratio to Nomad's published figures.
//!
//! Run with `scripts/bench/schedule [NODES] [JOBS] [COUNT]` (default 5000 1000 100).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover::server::endpoints::JobRegisterRequest;
use drover::server::state::StateStore;
use drover::server::{Server, ServerConfig};
use drover::structs::{
    DriverInfo, Job, NetworkResource, Node, NodeCpuResources, NodeDiskResources,
    NodeMemoryResources, NodeResources, Port, Resources, Task, TaskGroup, NODE_STATUS_READY,
};

/// Nomad's published scheduling throughput (placements per second): the C1M challenge
/// (5 servers) and C2M (3 servers).
const NOMAD_C1M: f64 = 3_750.0;
const NOMAD_C2M: f64 = 1_500.0;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = *args.first().unwrap_or(&5_000);
    let jobs = *args.get(1).unwrap_or(&1_000);
    let count = *args.get(2).unwrap_or(&100);

    let server = Server::new(
        StateStore::in_memory(),
        ServerConfig {
            heartbeat_grace: Duration::from_secs(3_600),
            ..ServerConfig::default()
        },
    );
    for i in 0..nodes {
        server.register_node(node(i)).expect("register node");
    }
    server.start();

    let start = Instant::now();
    for j in 0..jobs {
        let req = JobRegisterRequest {
            job: job(j, count),
            ..Default::default()
        };
        server.register(req).expect("register job");
    }
    let registered = start.elapsed();
    if !server.wait_idle(Duration::from_secs(600)) {
        eprintln!("the server did not settle within 10 minutes");
    }
    let elapsed = start.elapsed();
    server.shutdown();

    let snap = server.state.snapshot();
    let placed = snap.allocs.values().filter(|a| !a.terminal()).count() as u64;
    let mut latencies: Vec<i64> = snap
        .evals
        .values()
        .filter(|e| e.status == "complete")
        .map(|e| e.modify_time - e.create_time)
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i] as f64 / 1e6
    };
    let over = nodes_over_capacity(&snap);
    let rate = placed as f64 / elapsed.as_secs_f64();

    println!(
        "nodes {nodes}, jobs {jobs} x {count} = {} placements wanted",
        jobs * count
    );
    println!(
        "placed {placed} in {:.2} s (registration took {:.2} s)",
        elapsed.as_secs_f64(),
        registered.as_secs_f64()
    );
    println!("placements/s: {rate:.0}");
    println!(
        "eval latency (register -> complete): p50 {:.1} ms, p99 {:.1} ms over {} evals",
        pct(0.5),
        pct(0.99),
        latencies.len()
    );
    println!("nodes over capacity: {over}");
    println!(
        "ratio to Nomad C1M (3,750/s, 5 servers): {:.2}; to C2M (1,500/s, 3 servers): {:.2}; goal 10,000/s: {}",
        rate / NOMAD_C1M,
        rate / NOMAD_C2M,
        if rate >= 10_000.0 { "met" } else { "NOT met" }
    );
    if placed != jobs * count || over > 0 {
        std::process::exit(1);
    }
}

fn node(i: u64) -> Node {
    Node {
        id: format!("{:08x}-0000-4000-8000-{:012x}", i, i),
        secret_id: format!("secret-{i}"),
        datacenter: "dc1".into(),
        name: format!("node-{i}"),
        status: NODE_STATUS_READY.into(),
        attributes: [
            ("kernel.name".to_string(), "linux".to_string()),
            ("cpu.arch".to_string(), "amd64".to_string()),
        ]
        .into(),
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: 4_000,
                total_cpu_cores: 4,
                ..Default::default()
            },
            memory: NodeMemoryResources { memory_mb: 8_192 },
            disk: NodeDiskResources { disk_mb: 100_000 },
            ..Default::default()
        },
        drivers: [(
            "container".to_string(),
            DriverInfo {
                detected: true,
                healthy: true,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    }
}

/// Every other job asks for a dynamic port, so port assignment is on the path too.
fn job(j: u64, count: u64) -> Job {
    let networks = if j.is_multiple_of(2) {
        vec![NetworkResource {
            dynamic_ports: vec![Port {
                label: "http".into(),
                ..Default::default()
            }],
            ..Default::default()
        }]
    } else {
        vec![]
    };
    Job {
        id: format!("bench-{j}"),
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count: Some(count as i64),
            networks,
            tasks: vec![Task {
                name: "app".into(),
                driver: "docker".into(),
                config: [(
                    "image".to_string(),
                    serde_json::Value::String("redis:3.2".into()),
                )]
                .into_iter()
                .collect(),
                resources: Some(Resources {
                    cpu: Some(100),
                    memory_mb: Some(128),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn nodes_over_capacity(snap: &drover::server::state::Snapshot) -> usize {
    let mut used: HashMap<&str, (i64, i64)> = HashMap::new();
    for a in snap.allocs.values().filter(|a| !a.terminal()) {
        let r = a.allocated_resources.as_ref();
        let e = used.entry(a.node_id.as_str()).or_default();
        e.0 += r.map_or(0, |r| r.cpu());
        e.1 += r.map_or(0, |r| r.memory_mb());
    }
    used.iter()
        .filter(|(id, (cpu, mem))| {
            let n: &Arc<Node> = snap.nodes.get(**id).expect("node");
            let (c, m) = n.allocatable();
            *cpu > c || *mem > m
        })
        .count()
}
