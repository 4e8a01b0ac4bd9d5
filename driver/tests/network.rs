//! Root integration tests of `drover_driver::network` against the real kernel: real
//! namespaces, veths, a bridge and an nftables table, with TCP servers running inside
//! the allocations' namespaces.
//!
//! Every test has its own bridge, nft table, netns prefix, subnet and state dir
//! (`drover-test-<pid>-<n>`, bridge `dtb<pid>-<n>`), and a guard that tears everything
//! down also when the test fails; the tests then check `ip link`, `nft list tables` and
//! `/var/run/netns` show none of their names. They share global sysctls, so run them with
//! `cargo test -p drover-driver --test network -- --test-threads=1`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use drover_driver::network::{
    AllocNetwork, Ipv4Net, NetworkConfig, NetworkError, NetworkManager, NetworkMode, PortMapping,
};
use rustix::thread::LinkNameSpaceType;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("DROVER_SKIP_ROOT_TESTS").is_some() {
        eprintln!("SKIPPED {test}: not root and DROVER_SKIP_ROOT_TESTS is set");
        return false;
    }
    panic!("{test} needs root (or DROVER_SKIP_ROOT_TESTS=1 to skip)");
}

/// A test's own networking config, torn down (and checked gone) by Drop.
struct TestNet {
    config: NetworkConfig,
    mgr: NetworkManager,
    veths: Vec<String>,
    _state: tempfile::TempDir,
}

impl TestNet {
    fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let state = tempfile::tempdir().unwrap();
        let config = NetworkConfig {
            bridge: format!("dtb{}-{n}", pid % 10_000_000),
            subnet: Ipv4Net::new(Ipv4Addr::new(10, 100 + (pid % 100) as u8, n as u8, 0), 24)
                .unwrap(),
            state_dir: state.path().to_path_buf(),
            nft_table: format!("drover-test-{pid}-{n}"),
            netns_prefix: format!("drover-test-{pid}-{n}-"),
        };
        let mgr = NetworkManager::new(config.clone()).unwrap();
        TestNet {
            config,
            mgr,
            veths: Vec::new(),
            _state: state,
        }
    }

    fn setup(&mut self, alloc: &str, ports: &[PortMapping]) -> AllocNetwork {
        let net = self.mgr.setup(alloc, NetworkMode::Bridge, ports).unwrap();
        self.veths.extend(net.veth_host.clone());
        net
    }

    /// The names of this test's kernel objects that still exist.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        let links = run("ip", &["-o", "link", "show"]);
        for name in std::iter::once(&self.config.bridge).chain(&self.veths) {
            if links.contains(&format!(": {name}:")) || links.contains(&format!(": {name}@")) {
                left.push(format!("link {name}"));
            }
        }
        if run("nft", &["list", "tables"]).contains(&self.config.nft_table) {
            left.push(format!("nft table {}", self.config.nft_table));
        }
        for entry in std::fs::read_dir("/var/run/netns").into_iter().flatten() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with(&self.config.netns_prefix) {
                left.push(format!("netns {name}"));
            }
        }
        left
    }

    fn remove_all(&self) -> Result<(), NetworkError> {
        self.mgr.reconcile(&HashSet::new())?;
        self.mgr.cleanup()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        if let Err(e) = self.remove_all() {
            eprintln!("cleanup of {}: {e}", self.config.bridge);
        }
    }
}

fn netns_is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_str().unwrap();
    let alt = path.replacen("/var/run/", "/run/", 1);
    mounts
        .lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == path || m == alt))
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `f` on a thread inside the namespace at `netns`.
fn in_netns<T: Send + 'static>(netns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(netns).unwrap();
    thread::spawn(move || {
        rustix::thread::move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
            .unwrap();
        f()
    })
    .join()
    .unwrap()
}

const BR_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// A sysctl changed for a test and restored by Drop.
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    /// None when the sysctl does not exist (br_netfilter not loaded).
    fn set(path: &'static str, value: &str) -> Option<Sysctl> {
        let old = std::fs::read_to_string(path).ok()?;
        std::fs::write(path, value).unwrap();
        Some(Sysctl { path, old })
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = std::fs::write(self.path, self.old.trim());
    }
}

/// A TCP server inside an allocation: greets with its name, then echoes; and a UDP
/// server on the same port answering each datagram with its name.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(netns: &Path, port: u16, name: &str) -> Server {
        let (listener, udp) = in_netns(netns, move || {
            let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
            (
                TcpListener::bind(any).unwrap(),
                UdpSocket::bind(any).unwrap(),
            )
        });
        listener.set_nonblocking(true).unwrap();
        udp.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, name) = (stop.clone(), name.to_string());
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let name = name.clone();
                        thread::spawn(move || echo(conn, &name));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
                let mut buf = [0u8; 64];
                while let Ok((_, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(name.as_bytes(), from);
                }
            }
        });
        Server {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn echo(mut conn: TcpStream, name: &str) {
    conn.set_nonblocking(false).unwrap();
    if writeln!(conn, "{name}").is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 || conn.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Connects to `addr`, returns the greeting (the allocation's name) after one echo.
fn who_answers(addr: SocketAddr) -> Result<String, String> {
    let conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut name = String::new();
    reader
        .read_line(&mut name)
        .map_err(|e| format!("read {addr}: {e}"))?;
    (&conn).write_all(b"ping\n").unwrap();
    let mut pong = String::new();
    reader
        .read_line(&mut pong)
        .map_err(|e| format!("echo {addr}: {e}"))?;
    if pong != "ping\n" {
        return Err(format!("echo {addr}: got {pong:?}"));
    }
    Ok(name.trim().to_string())
}

/// Sends a datagram to `addr`; returns the name in the answer.
fn who_answers_udp(addr: SocketAddr) -> Result<String, String> {
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.connect(addr).map_err(|e| format!("udp {addr}: {e}"))?;
    let mut buf = [0u8; 64];
    // Datagrams may be lost: a few tries.
    for _ in 0..3 {
        sock.send(b"who")
            .map_err(|e| format!("udp send {addr}: {e}"))?;
        if let Ok(n) = sock.recv(&mut buf) {
            return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    Err(format!("udp {addr}: no answer"))
}

/// The node's address on its default route; without one, the test adds a dummy link.
struct NodeAddr {
    ip: Ipv4Addr,
    dummy: Option<String>,
}

impl NodeAddr {
    fn find() -> NodeAddr {
        let probe = UdpSocket::bind("0.0.0.0:0").unwrap();
        if probe.connect("192.0.2.254:9").is_ok() || probe.connect("1.1.1.1:53").is_ok() {
            if let Ok(SocketAddr::V4(a)) = probe.local_addr() {
                if !a.ip().is_loopback() && !a.ip().is_unspecified() {
                    return NodeAddr {
                        ip: *a.ip(),
                        dummy: None,
                    };
                }
            }
        }
        let name = format!("dtd{}", std::process::id() % 10_000_000);
        run("ip", &["link", "add", &name, "type", "dummy"]);
        let node = NodeAddr {
            ip: Ipv4Addr::new(10, 99, 99, 1),
            dummy: Some(name.clone()),
        };
        run("ip", &["addr", "add", "10.99.99.1/32", "dev", &name]);
        run("ip", &["link", "set", &name, "up"]);
        node
    }
}

impl Drop for NodeAddr {
    fn drop(&mut self) {
        if let Some(name) = &self.dummy {
            let _ = Command::new("ip").args(["link", "del", name]).status();
        }
    }
}

/// `count` host ports from 40000–50000 that nothing on the node listens on.
fn free_ports(count: usize) -> Vec<u16> {
    let mut seed = std::process::id() as u64 ^ (NEXT.load(Ordering::SeqCst) as u64) << 20;
    seed ^= std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut ports = Vec::new();
    while ports.len() < count {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 40000 + ((seed >> 33) % 10000) as u16;
        if !ports.contains(&port) && TcpListener::bind(("0.0.0.0", port)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

fn mapping(label: &str, host_port: u16, to: u16) -> PortMapping {
    PortMapping {
        label: label.into(),
        host_port,
        to,
        host_ip: None,
    }
}

fn v4(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

#[test]
fn bridge_allocations_answer_on_host_ports_and_survive_restart() {
    if !root_or_skip("bridge_allocations_answer_on_host_ports_and_survive_restart") {
        return;
    }
    let node = NodeAddr::find();
    let mut t = TestNet::new();
    let names = ["a", "b", "c"];
    let ports = free_ports(names.len());
    let mut nets = Vec::new();
    let mut servers = Vec::new();
    for (name, port) in names.iter().zip(&ports) {
        // Every allocation listens on 6379 inside, as the walkthrough's redis does.
        let net = t.setup(&format!("alloc-{name}"), &[mapping("db", *port, 6379)]);
        servers.push(Server::start(&net.netns, 6379, name));
        nets.push(net);
    }
    let ips: HashSet<_> = nets.iter().map(|n| n.ip.unwrap()).collect();
    assert_eq!(ips.len(), 3, "distinct addresses: {nets:?}");
    let gateway = t.mgr.gateway();
    for net in &nets {
        assert_eq!(net.gateway, Some(gateway));
        let veth = net.veth_host.as_ref().unwrap();
        let hairpin = std::fs::read_to_string(format!("/sys/class/net/{veth}/brport/hairpin_mode"));
        assert_eq!(hairpin.unwrap().trim(), "1", "hairpin on {veth}");
    }

    let check_all = |nets: &[AllocNetwork]| {
        for ((net, name), port) in nets.iter().zip(names).zip(&ports) {
            for addr in [
                v4(Ipv4Addr::LOCALHOST, *port),
                v4(node.ip, *port),
                v4(net.ip.unwrap(), 6379),
            ] {
                assert_eq!(who_answers(addr).as_deref(), Ok(name), "via {addr}");
            }
            for addr in [v4(Ipv4Addr::LOCALHOST, *port), v4(node.ip, *port)] {
                assert_eq!(who_answers_udp(addr).as_deref(), Ok(name), "udp via {addr}");
            }
        }
        // Hairpin: allocation a reaches b (and itself) through host ports.
        let targets = vec![
            (v4(gateway, ports[1]), "b"),
            (v4(node.ip, ports[1]), "b"),
            (v4(gateway, ports[0]), "a"),
            (v4(node.ip, ports[0]), "a"),
        ];
        let got = in_netns(&nets[0].netns, move || {
            targets
                .into_iter()
                .map(|(addr, want)| (addr, want, who_answers(addr)))
                .collect::<Vec<_>>()
        });
        for (addr, want, answer) in got {
            assert_eq!(answer.as_deref(), Ok(want), "from a via {addr}");
        }
    };
    // Bridged traffic passes the IP hooks or not, per br_netfilter: hairpin works both ways.
    match Sysctl::set(BR_NF_CALL_IPTABLES, "0") {
        None => check_all(&nets),
        Some(guard) => {
            check_all(&nets);
            std::fs::write(BR_NF_CALL_IPTABLES, "1").unwrap();
            check_all(&nets);
            drop(guard);
        }
    }

    // Setting up again is a no-op returning the record.
    assert_eq!(
        t.mgr
            .setup(
                "alloc-a",
                NetworkMode::Bridge,
                &[mapping("db", ports[0], 6379)]
            )
            .unwrap(),
        nets[0]
    );

    // Agent restart: a new manager over the same state finds the same allocations.
    t.mgr = NetworkManager::new(t.config.clone()).unwrap();
    assert_eq!(t.mgr.list().unwrap(), nets);
    for (net, port) in nets.iter().zip(&ports) {
        let again = t
            .mgr
            .setup(
                &net.alloc_id,
                NetworkMode::Bridge,
                &[mapping("db", *port, 6379)],
            )
            .unwrap();
        assert_eq!(&again, net, "same record and address after restart");
    }
    check_all(&nets);
    assert_eq!(
        t.mgr
            .reconcile(&nets.iter().map(|n| n.alloc_id.clone()).collect())
            .unwrap(),
        Vec::<String>::new()
    );

    // Teardown: the port stops answering; twice is fine.
    t.mgr.teardown("alloc-b").unwrap();
    t.mgr.teardown("alloc-b").unwrap();
    assert!(who_answers(v4(Ipv4Addr::LOCALHOST, ports[1])).is_err());
    assert_eq!(
        who_answers(v4(Ipv4Addr::LOCALHOST, ports[2])).as_deref(),
        Ok("c")
    );
    // The freed address is leased again.
    let d = t.setup("alloc-d", &[]);
    assert_eq!(d.ip, nets[1].ip);

    drop(servers);
    for id in ["alloc-a", "alloc-c", "alloc-d"] {
        t.mgr.teardown(id).unwrap();
    }
    assert!(t.mgr.list().unwrap().is_empty());
    t.mgr.cleanup().unwrap();
    assert_eq!(t.leftovers(), Vec::<String>::new());
}

#[test]
fn reconcile_removes_allocations_that_are_gone() {
    if !root_or_skip("reconcile_removes_allocations_that_are_gone") {
        return;
    }
    let mut t = TestNet::new();
    let ports = free_ports(2);
    let keep = t.setup("keep", &[mapping("http", ports[0], 80)]);
    let gone = t.setup("gone", &[mapping("http", ports[1], 80)]);
    let _server = Server::start(&keep.netns, 80, "keep");
    // A crash after setup but before the record: only kernel objects and the lease tell.
    let crashed = t.setup("crashed", &[]);
    std::fs::remove_file(t.config.state_dir.join("allocs/crashed.json")).unwrap();

    let live: HashSet<String> = ["keep".to_string()].into();
    let mut removed = t.mgr.reconcile(&live).unwrap();
    removed.sort();
    assert_eq!(removed, ["crashed", "gone"]);
    assert!(netns_is_mounted(&keep.netns));
    for net in [&gone, &crashed] {
        assert!(!net.netns.exists(), "{} removed", net.netns.display());
        assert!(!netns_is_mounted(&net.netns));
        let veth = net.veth_host.as_ref().unwrap();
        assert!(
            !Path::new("/sys/class/net").join(veth).exists(),
            "{veth} removed"
        );
    }
    let tables = run("nft", &["list", "table", "ip", &t.config.nft_table]);
    assert!(
        tables.contains("alloc-keep") && !tables.contains("alloc-gone"),
        "{tables}"
    );
    assert_eq!(t.mgr.list().unwrap(), vec![keep.clone()]);
    assert_eq!(
        who_answers(v4(Ipv4Addr::LOCALHOST, ports[0])).as_deref(),
        Ok("keep")
    );
    // The reclaimed addresses are free again: the next setup gets the lowest one.
    let next = t.setup("next", &[]);
    assert_eq!(next.ip, gone.ip.min(crashed.ip));
    // Setting up an allocation whose record was lost clears its leftovers first.
    std::fs::remove_file(t.config.state_dir.join("allocs/next.json")).unwrap();
    let again = t.setup("next", &[]);
    assert_eq!((again.ip, &again.netns), (next.ip, &next.netns));
    assert!(netns_is_mounted(&again.netns));

    drop(_server);
    t.remove_all().unwrap();
    assert_eq!(t.leftovers(), Vec::<String>::new());
}

#[test]
fn none_mode_is_loopback_only() {
    if !root_or_skip("none_mode_is_loopback_only") {
        return;
    }
    let t = TestNet::new();
    let net = t.mgr.setup("lonely", NetworkMode::None, &[]).unwrap();
    assert_eq!((net.ip, net.veth_host.as_ref()), (None, None));
    let name = net.netns.file_name().unwrap().to_str().unwrap().to_string();
    let links = run("ip", &["-n", &name, "-o", "link", "show"]);
    let names: Vec<&str> = links
        .lines()
        .map(|l| l.split(':').nth(1).unwrap().trim())
        .collect();
    assert_eq!(names, ["lo"], "{links}");
    assert!(links.contains("UP"), "loopback up: {links}");
    // Loopback works inside.
    let answered = in_netns(&net.netns, || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        TcpStream::connect(addr).is_ok()
    });
    assert!(answered);
    // A namespace removed behind our back is reported, not silently recreated.
    run("ip", &["netns", "del", &name]);
    let err = t.mgr.setup("lonely", NetworkMode::None, &[]).unwrap_err();
    assert!(matches!(err, NetworkError::NetnsGone { .. }), "{err}");
    t.mgr.teardown("lonely").unwrap();
    let again = t.mgr.setup("lonely", NetworkMode::None, &[]).unwrap();
    assert!(netns_is_mounted(&again.netns));
    // None mode has no bridge or table: nothing of ours on the host.
    t.mgr.teardown("lonely").unwrap();
    assert!(!PathBuf::from(&net.netns).exists());
    assert_eq!(t.leftovers(), Vec::<String>::new());
}

#[test]
fn invalid_input_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let base = NetworkConfig::with_state_dir(dir.path().to_path_buf());
    type Tweak = fn(&mut NetworkConfig);
    let configs: [(&str, Tweak); 3] = [
        ("bridge name", |c| {
            c.bridge = "a-bridge-name-too-long".into()
        }),
        ("prefix length", |c| {
            c.subnet = Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 31).unwrap()
        }),
        ("nft table", |c| c.nft_table = "bad name".into()),
    ];
    for (what, tweak) in configs {
        let mut c = base.clone();
        tweak(&mut c);
        let err = NetworkManager::new(c).err().expect(what);
        assert!(matches!(err, NetworkError::Config(_)), "{what}: {err}");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
    let mgr = NetworkManager::new(base).unwrap();
    let cases = [
        ("../escape", NetworkMode::Bridge, vec![], "allocation ID"),
        (
            "a1",
            NetworkMode::Bridge,
            vec![mapping("x", 0, 80)],
            "host port 0",
        ),
        (
            "a1",
            NetworkMode::Bridge,
            vec![mapping("x", 40001, 80), mapping("y", 40001, 81)],
            "mapped twice",
        ),
        (
            "a1",
            NetworkMode::None,
            vec![mapping("x", 40001, 80)],
            "\"none\"",
        ),
    ];
    for (alloc, mode, ports, want) in cases {
        let err = mgr.setup(alloc, mode, &ports).unwrap_err().to_string();
        assert!(err.contains(want), "{alloc} {ports:?}: {err}");
    }
    // Nothing was created by the refused calls.
    assert!(mgr.list().unwrap().is_empty());
}
