//! Host ports for a network ask on one node: static (reserved) ports must be free,
//! dynamic ones come from the node's dynamic range, picked at random and then, if random
//! probes keep hitting used ports, from the full list of free ones.

use super::context::Rng;
use super::usage::NodeUsage;
use crate::structs::{AllocatedPortMapping, NetworkResource, Node};

/// Random probes before falling back to the exhaustive search (Nomad's count).
const MAX_RANDOM_PORT_ATTEMPTS: usize = 20;
const MAX_VALID_PORT: i64 = 65536;

/// Why a network ask does not fit; shown as `network: <reason>` in the metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PortError {
    #[error("reserved port collision {label}={value}")]
    ReservedCollision { label: String, value: i64 },
    #[error("invalid port {0} (out of range)")]
    OutOfRange(i64),
    #[error("dynamic port selection failed")]
    DynamicExhausted,
}

/// Assigns every port of `ask`. `offered` holds ports already promised to this
/// allocation (other networks of it) and receives the new ones. The host address is
/// filled in once a node is chosen ([`allocated_network`], [`with_host_ip`]).
pub(crate) fn assign_ports(
    ask: &NetworkResource,
    node: &Node,
    usage: &NodeUsage,
    offered: &mut Vec<u16>,
    rng: &mut Rng,
) -> Result<Vec<AllocatedPortMapping>, PortError> {
    let taken = |port: u16, offered: &[u16]| usage.port_used(port) || offered.contains(&port);
    let mut out = Vec::with_capacity(ask.reserved_ports.len() + ask.dynamic_ports.len());
    for port in &ask.reserved_ports {
        if !(0..MAX_VALID_PORT).contains(&port.value) {
            return Err(PortError::OutOfRange(port.value));
        }
        let value = port.value as u16;
        if !port.ignore_collision && taken(value, offered) {
            return Err(PortError::ReservedCollision {
                label: port.label.clone(),
                value: port.value,
            });
        }
        offered.push(value);
        out.push(AllocatedPortMapping {
            label: port.label.clone(),
            value: port.value,
            to: port.to,
            host_ip: String::new(),
        });
    }
    let (min, max) = node.dynamic_port_range();
    let (min, max) = (min.clamp(1, 65535) as u16, max.clamp(1, 65535) as u16);
    for port in &ask.dynamic_ports {
        let value = random_port(min, max, offered, &taken, rng)
            .or_else(|| free_port(min, max, offered, &taken, rng))
            .ok_or(PortError::DynamicExhausted)?;
        offered.push(value);
        let to = if port.to == -1 {
            i64::from(value)
        } else {
            port.to
        };
        out.push(AllocatedPortMapping {
            label: port.label.clone(),
            value: i64::from(value),
            to,
            host_ip: String::new(),
        });
    }
    Ok(out)
}

fn random_port(
    min: u16,
    max: u16,
    offered: &[u16],
    taken: &impl Fn(u16, &[u16]) -> bool,
    rng: &mut Rng,
) -> Option<u16> {
    if max < min {
        return None;
    }
    let span = usize::from(max - min) + 1;
    (0..MAX_RANDOM_PORT_ATTEMPTS)
        .map(|_| min + rng.below(span) as u16)
        .find(|p| !taken(*p, offered))
}

/// Every free port of the range, one picked at random: fails only when none is free.
fn free_port(
    min: u16,
    max: u16,
    offered: &[u16],
    taken: &impl Fn(u16, &[u16]) -> bool,
    rng: &mut Rng,
) -> Option<u16> {
    let free: Vec<u16> = (min..=max).filter(|p| !taken(*p, offered)).collect();
    (!free.is_empty()).then(|| free[rng.below(free.len())])
}

/// The address allocations on `node` bind: its first host network's IP, else the
/// fingerprinted address.
pub(crate) fn host_ip(node: &Node) -> String {
    node.node_resources
        .networks
        .iter()
        .find(|n| (n.mode.is_empty() || n.mode == "host") && !n.ip.is_empty())
        .map(|n| n.ip.clone())
        .or_else(|| node.attributes.get("unique.network.ip-address").cloned())
        .unwrap_or_default()
}

/// The ports as the allocation holds them, with the node's address.
pub(crate) fn with_host_ip(
    ports: &[AllocatedPortMapping],
    node: &Node,
) -> Vec<AllocatedPortMapping> {
    let ip = host_ip(node);
    ports
        .iter()
        .map(|p| AllocatedPortMapping {
            host_ip: ip.clone(),
            ..p.clone()
        })
        .collect()
}

/// The network as the allocation holds it: the ask with assigned values and the address.
pub(crate) fn allocated_network(
    ask: &NetworkResource,
    ports: &[AllocatedPortMapping],
    node: &Node,
) -> NetworkResource {
    let mut out = ask.clone();
    for port in out.dynamic_ports.iter_mut().chain(&mut out.reserved_ports) {
        if let Some(p) = ports.iter().find(|p| p.label == port.label) {
            port.value = p.value;
            port.to = p.to;
        }
    }
    if out.ip.is_empty() {
        out.ip = host_ip(node);
    }
    if out.mode.is_empty() {
        out.mode = "host".into();
    }
    out
}
