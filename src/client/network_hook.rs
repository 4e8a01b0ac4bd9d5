//! The allocation's network, set up before its tasks start and removed after they end
//! (drover_driver::network does the kernel side). Nomad's modes: `host` shares the
//! node's network; `bridge` gives the allocation its own namespace on the node's
//! bridge with its ports forwarded; `none` only loopback. As Nomad's docker driver
//! does, a container task that lists `ports` gets them mapped into its own namespace
//! even when the group's mode is `host`, which is how the walkthrough's three redis
//! allocations each listen on 6379.

use std::collections::BTreeMap;

use drover_driver::network::{port_env, NetworkError, NetworkMode, PortMapping};

use super::alloc_runner::AllocNet;
use super::ClientCtx;
use crate::structs::Allocation;

/// `None`: the tasks share the host's network.
pub fn setup(ctx: &ClientCtx, alloc: &Allocation) -> Result<Option<AllocNet>, String> {
    let ports = allocated_ports(alloc);
    let node_ip = ctx.node_ip();
    let Some(mode) = mode(alloc, !ports.is_empty()) else {
        // Host mode: the task listens on the host port itself.
        let host: Vec<PortMapping> = ports
            .into_iter()
            .map(|p| PortMapping { to: 0, ..p })
            .collect();
        return Ok(Some(AllocNet {
            netns: None,
            ip: None,
            env: port_env(&host, None, node_ip),
        }));
    };
    let Some(network) = &ctx.network else {
        return Err("allocation networking is not available on this node".into());
    };
    let ports = if mode == NetworkMode::None {
        Vec::new()
    } else {
        ports
    };
    let net = match network.setup(&alloc.id, mode, &ports) {
        // Recorded, but the namespace went away (a reboot): build it again.
        Err(NetworkError::NetnsGone { .. }) => {
            network.teardown(&alloc.id).map_err(|e| e.to_string())?;
            network.setup(&alloc.id, mode, &ports)
        }
        other => other,
    }
    .map_err(|e| e.to_string())?;
    let mut env: BTreeMap<String, String> = port_env(&ports, net.ip, node_ip);
    if let Some(ip) = net.ip {
        env.insert("NOMAD_ALLOC_IP".into(), ip.to_string());
    }
    Ok(Some(AllocNet {
        netns: Some(net.netns.clone()),
        ip: net.ip.map(|ip| ip.to_string()),
        env,
    }))
}

/// Removes the allocation's namespace, links, rules and address; idempotent.
pub fn teardown(ctx: &ClientCtx, alloc_id: &str) {
    if let Some(network) = &ctx.network {
        if let Err(e) = network.teardown(alloc_id) {
            tracing::warn!(alloc = %alloc_id, error = %e, "client: removing the allocation's network");
        }
    }
}

/// The namespace the allocation needs, if any.
fn mode(alloc: &Allocation, has_ports: bool) -> Option<NetworkMode> {
    let group = alloc
        .job
        .as_ref()?
        .task_groups
        .iter()
        .find(|g| g.name == alloc.task_group)?;
    let declared = group
        .networks
        .first()
        .map(|n| n.mode.as_str())
        .unwrap_or("");
    match declared {
        "bridge" => Some(NetworkMode::Bridge),
        "none" => Some(NetworkMode::None),
        _ => {
            let container_ports = group.tasks.iter().any(|t| {
                matches!(t.driver.as_str(), "docker" | "container")
                    && t.config
                        .get("ports")
                        .and_then(|p| p.as_array())
                        .is_some_and(|p| !p.is_empty())
            });
            (has_ports && container_ports).then_some(NetworkMode::Bridge)
        }
    }
}

/// The ports the scheduler assigned to the allocation's group network.
fn allocated_ports(alloc: &Allocation) -> Vec<PortMapping> {
    let Some(res) = &alloc.allocated_resources else {
        return Vec::new();
    };
    res.shared
        .ports
        .iter()
        .filter(|p| p.value > 0 && p.value <= u16::MAX as i64)
        .map(|p| PortMapping {
            label: p.label.clone(),
            host_port: p.value as u16,
            to: u16::try_from(p.to.max(0)).unwrap_or(0),
            // Every node address, loopback included: what users try first.
            host_ip: None,
        })
        .collect()
}
