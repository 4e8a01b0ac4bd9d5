//! `network` blocks and their ports.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::ValidationErrors;

/// A group's (or, deprecated, a task's) network. In HCL every `port "label" {}` is
/// dynamic unless it has `static = N`, which makes it reserved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkResource {
    /// `host` (also when empty), `bridge`, `none` or `cni/<name>`.
    pub mode: String,
    pub device: String,
    #[serde(rename = "CIDR")]
    pub cidr: String,
    #[serde(rename = "IP")]
    pub ip: String,
    pub hostname: String,
    #[serde(rename = "MBits")]
    pub mbits: i64,
    #[serde(rename = "DNS")]
    pub dns: Option<DnsConfig>,
    pub reserved_ports: Vec<Port>,
    pub dynamic_ports: Vec<Port>,
    #[serde(rename = "CNI")]
    pub cni: Option<CniConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    pub label: String,
    /// The host port: fixed for reserved ports, 0 (assigned at placement) for dynamic.
    pub value: i64,
    /// The port inside the task's network namespace (0: same as the host port).
    pub to: i64,
    pub host_network: String,
    pub ignore_collision: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CniConfig {
    pub args: BTreeMap<String, String>,
}

pub const DEFAULT_HOST_NETWORK: &str = "default";

impl NetworkResource {
    pub fn canonicalize(&mut self) {
        for port in self
            .reserved_ports
            .iter_mut()
            .chain(&mut self.dynamic_ports)
        {
            if port.host_network.is_empty() {
                port.host_network = DEFAULT_HOST_NETWORK.into();
            }
        }
    }

    pub fn ports(&self) -> impl Iterator<Item = &Port> {
        self.reserved_ports.iter().chain(&self.dynamic_ports)
    }
}

/// Nomad's group network checks: port labels unique across the group's and its tasks'
/// networks, static ports unique per host network and ≤ 65535, `to` in -1..=65535.
pub(crate) fn validate_networks(
    group: &[NetworkResource],
    tasks: &[(&str, &[NetworkResource])],
) -> ValidationErrors {
    let mut errs = ValidationErrors::default();
    let mut labels: HashMap<String, &str> = HashMap::new();
    let mut statics: HashMap<String, HashMap<i64, String>> = HashMap::new();
    let mut check = |errs: &mut ValidationErrors, port: &Port, owner: String, group: bool| {
        if port.label.is_empty() {
            errs.push("Port label must not be empty");
        }
        if let Some(other) = labels.get(port.label.as_str()) {
            errs.push(format!(
                "Port label {} already in use by {other}",
                port.label
            ));
        } else if group {
            labels.insert(port.label.clone(), "taskgroup network");
        }
        if port.value != 0 {
            let host_network = if port.host_network.is_empty() {
                DEFAULT_HOST_NETWORK.to_string()
            } else {
                port.host_network.clone()
            };
            let taken = statics.entry(host_network).or_default();
            if let Some(other) = taken.get(&port.value) {
                if !port.ignore_collision {
                    errs.push(format!(
                        "Static port {} already reserved by {other}",
                        port.value
                    ));
                }
            } else if port.value > 65535 {
                errs.push(format!(
                    "Port {} ({}) cannot be greater than 65535",
                    port.label, port.value
                ));
            } else {
                taken.insert(port.value, owner);
            }
        }
        if port.to < -1 {
            errs.push(format!(
                "Port {:?} cannot be mapped to negative value {}",
                port.label, port.to
            ));
        } else if port.to > 65535 {
            errs.push(format!(
                "Port {:?} cannot be mapped to a port ({}) greater than 65535",
                port.label, port.to
            ));
        }
    };
    for net in group {
        for port in net.ports() {
            check(
                &mut errs,
                port,
                format!("taskgroup network:{}", port.label),
                true,
            );
            if port.ignore_collision && !(net.mode.is_empty() || net.mode == "host") {
                errs.push(format!(
                    "Port {:?} collision may not be ignored on non-host network mode {:?}",
                    port.label, net.mode
                ));
            }
        }
    }
    for (task, nets) in tasks {
        for net in nets.iter() {
            for port in net.ports() {
                check(&mut errs, port, format!("{task}:{}", port.label), false);
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(label: &str, value: i64, to: i64) -> Port {
        Port {
            label: label.into(),
            value,
            to,
            ..Default::default()
        }
    }

    #[test]
    fn canonical_ports_name_the_default_host_network() {
        let mut net = NetworkResource {
            dynamic_ports: vec![port("db", 0, 6379)],
            reserved_ports: vec![Port {
                host_network: "public".into(),
                ..port("http", 80, 0)
            }],
            ..Default::default()
        };
        net.canonicalize();
        assert_eq!(net.dynamic_ports[0].host_network, "default");
        assert_eq!(net.reserved_ports[0].host_network, "public");
    }

    #[test]
    fn duplicate_labels_and_bad_ports() {
        let group = [NetworkResource {
            reserved_ports: vec![port("http", 80, 0), port("admin", 80, 0)],
            dynamic_ports: vec![port("http", 0, 70000), port("", 0, -2)],
            ..Default::default()
        }];
        let task_nets = [NetworkResource {
            dynamic_ports: vec![port("admin", 0, 0)],
            ..Default::default()
        }];
        let errs = validate_networks(&group, &[("web", &task_nets)]);
        let want = [
            "Static port 80 already reserved by taskgroup network:http",
            "Port label http already in use by taskgroup network",
            "Port \"http\" cannot be mapped to a port (70000) greater than 65535",
            "Port label must not be empty",
            "Port \"\" cannot be mapped to negative value -2",
            "Port label admin already in use by taskgroup network",
        ];
        assert_eq!(errs.0, want, "{errs:?}");
    }
}
