//! `NetworkManager`: sets up and tears down one allocation's networking, and finds what
//! an earlier agent left behind.

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::error::NetworkError;
use super::lease::Leases;
use super::netlink::Netlink;
use super::nft::{Nft, Subnet};
use super::record::Records;
use super::{host, netns, AllocNetwork, NetworkConfig, NetworkMode, PortMapping, ALLOC_INTERFACE};

pub struct NetworkManager {
    config: NetworkConfig,
    gateway: Ipv4Addr,
    leases: Leases,
    records: Records,
    nft: Nft,
}

fn host_netlink() -> Result<Netlink, NetworkError> {
    Netlink::open().map_err(|source| NetworkError::Netlink {
        op: "open socket",
        object: "host namespace".into(),
        source,
    })
}

impl NetworkManager {
    /// Checks the config; touches nothing until the first `setup`.
    pub fn new(config: NetworkConfig) -> Result<Self, NetworkError> {
        let c = &config;
        if c.bridge.is_empty() || c.bridge.len() > 15 || !c.bridge.bytes().all(name_byte) {
            return Err(NetworkError::Config(format!(
                "bridge name {:?} must be 1 to 15 of [A-Za-z0-9_.-]",
                c.bridge
            )));
        }
        if c.nft_table.is_empty() || !c.nft_table.bytes().all(name_byte) {
            return Err(NetworkError::Config(format!(
                "nft table name {:?} must be [A-Za-z0-9_.-]",
                c.nft_table
            )));
        }
        if !c.netns_prefix.bytes().all(name_byte) || c.netns_prefix.starts_with('.') {
            return Err(NetworkError::Config(format!(
                "netns prefix {:?} must be [A-Za-z0-9_.-]",
                c.netns_prefix
            )));
        }
        let prefix = c.subnet.prefix_len();
        if !(8..=30).contains(&prefix) {
            return Err(NetworkError::Config(format!(
                "subnet {} must have a prefix length from 8 to 30",
                c.subnet
            )));
        }
        let network = c.subnet.network();
        let gateway = Ipv4Addr::from(u32::from(network) + 1);
        Ok(NetworkManager {
            gateway,
            leases: Leases::new(c.state_dir.join("leases"), network, prefix),
            records: Records::new(c.state_dir.join("allocs")),
            nft: Nft {
                table: c.nft_table.clone(),
            },
            config,
        })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The bridge's own address: allocations' default route.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    fn netns_path(&self, alloc_id: &str) -> PathBuf {
        netns::path(&format!("{}{alloc_id}", self.config.netns_prefix))
    }

    /// The host end of an allocation's veth: derived from bridge and allocation, so a
    /// teardown without a record still finds it.
    fn veth_name(&self, alloc_id: &str) -> String {
        let digest = Sha256::digest(format!("{}/{alloc_id}", self.config.bridge));
        format!("dv{}", &hex::encode(digest)[..12])
    }

    fn subnet(&self) -> Subnet<'_> {
        Subnet {
            bridge: &self.config.bridge,
            network: self.config.subnet.network(),
            prefix: self.config.subnet.prefix_len(),
        }
    }

    /// Creates the allocation's networking, or returns its record when it has one (an
    /// agent restart), after checking the namespace is still there.
    pub fn setup(
        &self,
        alloc_id: &str,
        mode: NetworkMode,
        ports: &[PortMapping],
    ) -> Result<AllocNetwork, NetworkError> {
        check_alloc_id(alloc_id)?;
        check_ports(alloc_id, mode, ports)?;
        if let Some(rec) = self.records.get(alloc_id)? {
            if netns::open(&rec.netns).is_err() {
                return Err(NetworkError::NetnsGone {
                    alloc_id: alloc_id.into(),
                    path: rec.netns,
                });
            }
            return Ok(rec);
        }
        // No record, but a lease or namespace: a setup or teardown cut short by a crash
        // (setup leases first, teardown releases last). Clear it before starting over.
        if self.leases.owns(alloc_id)? || self.netns_path(alloc_id).exists() {
            self.teardown(alloc_id)?;
        }
        let made = match mode {
            NetworkMode::None => self.setup_none(alloc_id),
            NetworkMode::Bridge => self.setup_bridge(alloc_id, ports),
        };
        let net = match made.and_then(|net| self.records.put(&net).map(|()| net)) {
            Ok(net) => net,
            Err(e) => {
                if let Err(undo) = self.teardown(alloc_id) {
                    tracing::warn!(alloc_id, error = %undo, "undoing a failed network setup");
                }
                return Err(e);
            }
        };
        tracing::debug!(alloc_id, ip = ?net.ip, netns = %net.netns.display(), "allocation network set up");
        Ok(net)
    }

    fn setup_none(&self, alloc_id: &str) -> Result<AllocNetwork, NetworkError> {
        let name = format!("{}{alloc_id}", self.config.netns_prefix);
        let path = netns::create(&name).map_err(|e| e.during(alloc_id, "create namespace"))?;
        Ok(AllocNetwork {
            alloc_id: alloc_id.into(),
            mode: NetworkMode::None,
            netns: path,
            ip: None,
            gateway: None,
            prefix_len: None,
            ports: Vec::new(),
            veth_host: None,
        })
    }

    fn setup_bridge(
        &self,
        alloc_id: &str,
        ports: &[PortMapping],
    ) -> Result<AllocNetwork, NetworkError> {
        let prefix = self.config.subnet.prefix_len();
        let mut nl = host_netlink()?;
        let bridge = host::ensure_bridge(&mut nl, &self.config.bridge, self.gateway, prefix)
            .map_err(|e| e.during(alloc_id, "prepare bridge"))?;
        let ip = self
            .leases
            .acquire(alloc_id)
            .map_err(|e| e.during(alloc_id, "lease address"))?;

        // The nft commit (a separate process and a kernel commit) runs beside the
        // namespace and link work; DNAT to an address not yet up is harmless.
        let (rules, links) = std::thread::scope(|s| {
            let rules = s.spawn(|| self.nft.add_alloc(&self.subnet(), alloc_id, ip, ports));
            let links = self.setup_links(alloc_id, &mut nl, bridge, ip);
            (join_nft(rules, &self.nft.table), links)
        });
        let (path, veth) = links?;
        rules.map_err(|e| e.during(alloc_id, "add port forwarding"))?;
        Ok(AllocNetwork {
            alloc_id: alloc_id.into(),
            mode: NetworkMode::Bridge,
            netns: path,
            ip: Some(ip),
            gateway: Some(self.gateway),
            prefix_len: Some(prefix),
            ports: ports.to_vec(),
            veth_host: Some(veth),
        })
    }

    /// Namespace, veth pair (host end on the bridge, `eth0` inside), address, route.
    fn setup_links(
        &self,
        alloc_id: &str,
        nl: &mut Netlink,
        bridge: u32,
        ip: Ipv4Addr,
    ) -> Result<(PathBuf, String), NetworkError> {
        let prefix = self.config.subnet.prefix_len();
        let name = format!("{}{alloc_id}", self.config.netns_prefix);
        let path = netns::create(&name).map_err(|e| e.during(alloc_id, "create namespace"))?;
        let veth = self.veth_name(alloc_id);
        {
            let ns = netns::open(&path).map_err(|e| e.during(alloc_id, "open namespace"))?;
            nl.create_veth(&veth, bridge, ALLOC_INTERFACE, ns.as_fd())
                .map_err(|e| e.during(alloc_id, "create veth"))?;
        }
        nl.set_hairpin(&veth)
            .and_then(|()| nl.set_up(&veth))
            .map_err(|e| e.during(alloc_id, "bring up veth"))?;

        let mut inside =
            netns::netlink_in(&path).map_err(|e| e.during(alloc_id, "enter namespace"))?;
        inside
            .add_address(ALLOC_INTERFACE, ip, prefix)
            .and_then(|()| inside.set_up(ALLOC_INTERFACE))
            .and_then(|()| inside.add_default_route(self.gateway))
            .map_err(|e| e.during(alloc_id, "configure eth0"))?;
        Ok((path, veth))
    }

    /// Removes everything the allocation had; missing pieces are fine. Every step is
    /// tried; the first error is returned.
    pub fn teardown(&self, alloc_id: &str) -> Result<(), NetworkError> {
        check_alloc_id(alloc_id)?;
        let mut first: Option<NetworkError> = None;
        let mut note = |r: Result<(), NetworkError>, step: &'static str| {
            if let Err(e) = r {
                tracing::warn!(alloc_id, step, error = %e, "network teardown");
                first.get_or_insert(e.during(alloc_id, step));
            }
        };
        // The record goes first and the lease last: a teardown cut short leaves a lease
        // (and no record), which `setup` and `reconcile` look for.
        note(self.records.remove(alloc_id), "remove record");
        // The nft commit and the veth deletion each wait on the kernel (RCU grace
        // periods) for ~10-20 ms: run them side by side.
        let veth = self.veth_name(alloc_id);
        let (rules, link) = std::thread::scope(|s| {
            let rules = s.spawn(|| self.nft.remove_alloc(alloc_id));
            let link = host_netlink().and_then(|mut nl| nl.delete_link(&veth));
            (join_nft(rules, &self.nft.table), link)
        });
        note(rules, "remove port forwarding");
        note(link, "delete veth");
        note(
            netns::remove(&self.netns_path(alloc_id)),
            "remove namespace",
        );
        note(self.leases.release(alloc_id), "release address");
        first.map_or(Ok(()), Err)
    }

    /// The recorded allocations (after an agent restart: what is still set up).
    pub fn list(&self) -> Result<Vec<AllocNetwork>, NetworkError> {
        self.records.all()
    }

    /// Tears down every allocation that has networking (a record, namespace, lease or
    /// nft chain) but is not in `live`; returns their IDs, sorted. Meant for agent start,
    /// before setups run: an allocation being set up meanwhile must be in `live`.
    pub fn reconcile(&self, live: &HashSet<String>) -> Result<Vec<String>, NetworkError> {
        let mut found: BTreeSet<String> = self
            .records
            .all()?
            .into_iter()
            .map(|r| r.alloc_id)
            .collect();
        let prefix = &self.config.netns_prefix;
        found.extend(
            netns::list(prefix)?
                .into_iter()
                .filter_map(|n| n.strip_prefix(prefix.as_str()).map(str::to_string)),
        );
        found.extend(self.leases.all()?.into_iter().map(|(_, owner)| owner));
        found.extend(self.nft.alloc_ids()?);
        let gone: Vec<String> = found
            .into_iter()
            .filter(|id| !id.is_empty() && !live.contains(id) && check_alloc_id(id).is_ok())
            .collect();
        for id in &gone {
            self.teardown(id)?;
        }
        self.leases.release_empty()?;
        Ok(gone)
    }

    /// Removes the bridge and the nft table once no allocation is recorded; with
    /// allocations left it changes nothing.
    pub fn cleanup(&self) -> Result<(), NetworkError> {
        if !self.records.all()?.is_empty() {
            tracing::debug!("network cleanup skipped: allocations remain");
            return Ok(());
        }
        self.nft.delete_table()?;
        host_netlink()?.delete_link(&self.config.bridge)
    }
}

fn join_nft(
    handle: std::thread::ScopedJoinHandle<'_, Result<(), NetworkError>>,
    table: &str,
) -> Result<(), NetworkError> {
    handle.join().unwrap_or_else(|_| {
        Err(NetworkError::Nft {
            table: table.to_string(),
            step: "run",
            detail: "the nft thread panicked".into(),
        })
    })
}

fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// Allocation IDs become file and namespace names: keep them to a safe alphabet.
fn check_alloc_id(alloc_id: &str) -> Result<(), NetworkError> {
    let ok = !alloc_id.is_empty()
        && alloc_id.len() <= 128
        && !alloc_id.starts_with('.')
        && alloc_id.bytes().all(name_byte);
    if ok {
        Ok(())
    } else {
        Err(NetworkError::Config(format!(
            "allocation ID {alloc_id:?} must be 1 to 128 of [A-Za-z0-9_.-]"
        )))
    }
}

fn check_ports(
    alloc_id: &str,
    mode: NetworkMode,
    ports: &[PortMapping],
) -> Result<(), NetworkError> {
    let bad = |p: &PortMapping, reason: &str| NetworkError::Port {
        alloc_id: alloc_id.into(),
        label: p.label.clone(),
        reason: reason.into(),
    };
    let mut seen = HashSet::new();
    for p in ports {
        if mode == NetworkMode::None {
            return Err(bad(p, "network mode \"none\" has no port forwarding"));
        }
        if p.host_port == 0 {
            return Err(bad(p, "host port 0"));
        }
        if !seen.insert((p.host_ip, p.host_port)) {
            return Err(bad(p, "host port mapped twice"));
        }
    }
    Ok(())
}
