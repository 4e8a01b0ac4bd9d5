//! Allocation networking: what Nomad's `bridge` and `none` network modes give a task
//! group, built with netlink and nftables directly (no Docker, no CNI plugins). It
//! knows nothing of jobs: the client's alloc runner calls it with an allocation ID and
//! the ports the scheduler assigned.
//!
//! ```text
//! NetworkManager::new(NetworkConfig)            no side effects
//! setup(alloc, Bridge, ports) -> AllocNetwork   on first use: bridge (gateway address,
//!                                               route_localnet), ip_forward, nft table;
//!                                               then netns /var/run/netns/<prefix><alloc>
//!                                               (lo up), veth (host end on the bridge,
//!                                               hairpin; `eth0` inside), leased address,
//!                                               default route, DNAT for the ports;
//!                                               recorded in <state_dir>/allocs/<alloc>.json
//! setup(alloc, None, [])                        a netns with only loopback
//! teardown(alloc)                               nft chain, veth, netns, lease, record
//! list() / reconcile(live)                      after an agent restart
//! cleanup()                                     bridge + table once no allocation is left
//! port_env(ports, alloc_ip, node_ip)            the NOMAD_* address variables
//! ```
//!
//! A port mapping answers on `<host_ip or any node address, 127.0.0.1 included>:<host
//! port>` (tcp and udp), for other hosts, for this node and for allocations (hairpin:
//! through the gateway or a node address, also to themselves). Tasks join the namespace
//! at [`AllocNetwork::netns`] (e.g. a `setns` in the task's launcher).
//!
//! Nomad's `host` mode needs nothing from here (the tasks stay in the node's namespace).
//! The calls block (netlink, short-lived threads, `nft` runs; tens of milliseconds): an
//! async caller runs them on `spawn_blocking`. IPv4 only, as Nomad's bridge mode.
//!
//! Restart safety: every step is idempotent and keyed by the allocation ID (netns name,
//! veth name, nft chain `alloc-<id>`, lease owner), so `teardown` and `reconcile` also
//! remove what a setup interrupted by a crash left behind.

mod env;
mod error;
mod host;
mod lease;
mod manager;
mod netlink;
mod netns;
mod nft;
mod record;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use env::{port_env, ALLOC_INTERFACE};
pub use error::NetworkError;
pub use ipnet::Ipv4Net;
pub use manager::NetworkManager;

/// Node-wide settings of allocation networking.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Bridge name (at most 15 bytes).
    pub bridge: String,
    /// Allocation addresses; the first host address is the gateway, on the bridge.
    pub subnet: Ipv4Net,
    /// Leases and one JSON record per allocation; must survive agent restarts.
    pub state_dir: PathBuf,
    /// Our nftables table (family `ip`).
    pub nft_table: String,
    /// Namespaces are `/var/run/netns/<netns_prefix><alloc_id>`.
    pub netns_prefix: String,
}

impl NetworkConfig {
    /// Nomad's defaults (bridge `drover`, 172.26.64.0/20) with state under `state_dir`.
    pub fn with_state_dir(state_dir: PathBuf) -> Self {
        NetworkConfig {
            bridge: "drover".into(),
            subnet: Ipv4Net::new(Ipv4Addr::new(172, 26, 64, 0), 20).expect("valid prefix"),
            state_dir,
            nft_table: "drover".into(),
            netns_prefix: "drover-".into(),
        }
    }
}

/// A host port forwarded to a port of the allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub label: String,
    pub host_port: u16,
    /// The port inside the allocation; 0 means the host port.
    pub to: u16,
    /// Only this node address; None: every node address, 127.0.0.1 included.
    pub host_ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Bridge,
    None,
}

/// What an allocation got; serialised as its durable record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocNetwork {
    pub alloc_id: String,
    pub mode: NetworkMode,
    /// The namespace file tasks join.
    pub netns: PathBuf,
    /// Bridge mode: the address of `eth0` inside, its gateway and the prefix length.
    pub ip: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
    pub prefix_len: Option<u8>,
    pub ports: Vec<PortMapping>,
    /// Bridge mode: the host end of the veth pair.
    pub veth_host: Option<String>,
}
