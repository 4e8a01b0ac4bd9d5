//! `scripts/bench/net`: allocation networking (drover_driver::network).
//!
//! 1. Setup and teardown of one bridge allocation's networking (netns, veth, lease,
//!    route, nft DNAT chain), median of N.
//! 2. 1-byte TCP ping-pongs over one connection to an echo server inside the
//!    allocation: through the mapped port (127.0.0.1:<host port>, nft DNAT + conntrack +
//!    masquerade) against a direct connection to <alloc ip>:<port> (same bridge and veth,
//!    no NAT). Rounds alternate; medians and the ratio are printed.
//!
//! Usage: scripts/bench/net [SETUPS] [PINGPONGS]   (default 50 10000), as root.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use drover_driver::network::{Ipv4Net, NetworkConfig, NetworkManager, NetworkMode, PortMapping};

struct Cleanup<'a>(&'a NetworkManager);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.reconcile(&HashSet::new());
        let _ = self.0.cleanup();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// An echo server inside the namespace at `netns` (the listener is opened there).
fn echo_server(netns: &Path, port: u16) {
    let file = std::fs::File::open(netns).expect("open netns");
    let listener = std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).expect("bind")
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                let mut b = [0u8; 1];
                while conn.read_exact(&mut b).is_ok() && conn.write_all(&b).is_ok() {}
            });
        }
    });
}

fn pingpong(addr: SocketAddr, n: usize) -> Duration {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    conn.set_nodelay(true).unwrap();
    let mut b = [7u8; 1];
    // Warm up (ARP, conntrack entry) before timing.
    for _ in 0..100 {
        conn.write_all(&b).unwrap();
        conn.read_exact(&mut b).unwrap();
    }
    let start = Instant::now();
    for _ in 0..n {
        conn.write_all(&b).unwrap();
        conn.read_exact(&mut b).unwrap();
    }
    start.elapsed()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let setups: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(50);
    let pings: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    if !rustix::process::geteuid().is_root() {
        eprintln!("run as root (sudo scripts/bench/net)");
        std::process::exit(1);
    }
    let pid = std::process::id();
    let state = tempfile::tempdir().unwrap();
    let config = NetworkConfig {
        bridge: format!("dbn{}", pid % 10_000_000),
        subnet: Ipv4Net::new(Ipv4Addr::new(10, 201, (pid % 256) as u8, 0), 24).unwrap(),
        state_dir: state.path().to_path_buf(),
        nft_table: format!("drover-bench-{pid}"),
        netns_prefix: format!("drover-bench-{pid}-"),
    };
    let mgr = NetworkManager::new(config).unwrap();
    let _cleanup = Cleanup(&mgr);
    let host_port = 40000 + (pid % 10000) as u16;
    let ports = [PortMapping {
        label: "echo".into(),
        host_port,
        to: 7,
        host_ip: None,
    }];

    // The first setup also creates the bridge and table: not counted.
    mgr.setup("warm", NetworkMode::Bridge, &ports).unwrap();
    mgr.teardown("warm").unwrap();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for i in 0..setups {
        let id = format!("bench-{i}");
        let t = Instant::now();
        mgr.setup(&id, NetworkMode::Bridge, &ports).unwrap();
        up.push(t.elapsed());
        let t = Instant::now();
        mgr.teardown(&id).unwrap();
        down.push(t.elapsed());
    }
    let (up, down) = (median(up), median(down));
    println!(
        "setup    (bridge, 1 port): median {:7.2} ms of {setups}",
        ms(up)
    );
    println!(
        "teardown (bridge, 1 port): median {:7.2} ms of {setups}",
        ms(down)
    );
    println!("setup + teardown:          median {:7.2} ms", ms(up + down));

    let net = mgr.setup("echo", NetworkMode::Bridge, &ports).unwrap();
    echo_server(&net.netns, 7);
    let mapped = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
    let direct = SocketAddr::from((net.ip.unwrap(), 7));
    // The machine may be shared: many alternating rounds, medians and minimums.
    let (mut via_map, mut via_ip) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        via_map.push(pingpong(mapped, pings));
        via_ip.push(pingpong(direct, pings));
    }
    let (mmin, dmin) = (
        *via_map.iter().min().unwrap(),
        *via_ip.iter().min().unwrap(),
    );
    let (m, d) = (median(via_map), median(via_ip));
    let per = |t: Duration| t.as_secs_f64() * 1e6 / pings as f64;
    println!(
        "{pings} 1-byte round trips via {mapped} (mapped): median {:7.1} ms ({:.1} µs each)",
        ms(m),
        per(m)
    );
    println!(
        "{pings} 1-byte round trips via {direct} (direct): median {:7.1} ms ({:.1} µs each)",
        ms(d),
        per(d)
    );
    println!(
        "ratio mapped / direct: {:.3} (medians of 9 rounds), {:.3} (fastest rounds)",
        m.as_secs_f64() / d.as_secs_f64(),
        mmin.as_secs_f64() / dmin.as_secs_f64()
    );
    mgr.teardown("echo").unwrap();
}
