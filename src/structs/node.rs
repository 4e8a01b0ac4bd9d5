//! Nodes: the clients allocations are placed on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const NODE_STATUS_INIT: &str = "initializing";
pub const NODE_STATUS_READY: &str = "ready";
pub const NODE_STATUS_DOWN: &str = "down";
pub const NODE_STATUS_DISCONNECTED: &str = "disconnected";

pub const NODE_ELIGIBLE: &str = "eligible";
pub const NODE_INELIGIBLE: &str = "ineligible";

/// Dynamic host ports come from this range unless the node says otherwise.
pub const DEFAULT_MIN_DYNAMIC_PORT: i64 = 20000;
pub const DEFAULT_MAX_DYNAMIC_PORT: i64 = 32000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    /// Never served: the client's credential.
    #[serde(rename = "SecretID", skip_serializing)]
    pub secret_id: String,
    pub datacenter: String,
    pub name: String,
    #[serde(rename = "HTTPAddr")]
    pub http_addr: String,
    #[serde(rename = "TLSEnabled")]
    pub tls_enabled: bool,
    pub attributes: BTreeMap<String, String>,
    pub node_resources: NodeResources,
    pub reserved_resources: NodeReservedResources,
    pub links: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub node_class: String,
    pub node_pool: String,
    pub computed_class: String,
    pub drain: bool,
    pub scheduling_eligibility: String,
    pub status: String,
    pub status_description: String,
    /// Unix seconds.
    pub status_updated_at: i64,
    pub events: Vec<NodeEvent>,
    pub drivers: BTreeMap<String, DriverInfo>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeResources {
    pub cpu: NodeCpuResources,
    pub memory: NodeMemoryResources,
    pub disk: NodeDiskResources,
    pub networks: Vec<super::NetworkResource>,
    pub min_dynamic_port: i64,
    pub max_dynamic_port: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeCpuResources {
    /// Total MHz.
    pub cpu_shares: i64,
    pub total_cpu_cores: u64,
    pub reservable_cpu_cores: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeMemoryResources {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDiskResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
}

/// What the agent keeps for itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeReservedResources {
    pub cpu: NodeReservedCpu,
    pub memory: NodeMemoryResources,
    pub disk: NodeDiskResources,
    pub networks: NodeReservedNetworks,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeReservedCpu {
    pub cpu_shares: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeReservedNetworks {
    /// `"22,80,8000-8100"`.
    pub reserved_host_ports: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverInfo {
    pub attributes: BTreeMap<String, String>,
    pub detected: bool,
    pub healthy: bool,
    pub health_description: String,
    /// RFC 3339.
    pub update_time: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeEvent {
    pub message: String,
    pub subsystem: String,
    pub details: BTreeMap<String, String>,
    /// RFC 3339.
    pub timestamp: String,
    pub create_index: u64,
}

impl Node {
    pub fn ready(&self) -> bool {
        self.status == NODE_STATUS_READY
    }

    /// Ready, eligible and not draining: may take new allocations.
    pub fn schedulable(&self) -> bool {
        self.ready() && !self.drain && self.scheduling_eligibility != NODE_INELIGIBLE
    }

    /// CPU MHz and memory MB left for allocations once the agent's reserve is taken.
    pub fn allocatable(&self) -> (i64, i64) {
        (
            self.node_resources.cpu.cpu_shares - self.reserved_resources.cpu.cpu_shares,
            self.node_resources.memory.memory_mb - self.reserved_resources.memory.memory_mb,
        )
    }

    pub fn dynamic_port_range(&self) -> (i64, i64) {
        let r = &self.node_resources;
        let min = if r.min_dynamic_port > 0 {
            r.min_dynamic_port
        } else {
            DEFAULT_MIN_DYNAMIC_PORT
        };
        let max = if r.max_dynamic_port > 0 {
            r.max_dynamic_port
        } else {
            DEFAULT_MAX_DYNAMIC_PORT
        };
        (min, max)
    }

    /// Host ports reserved by the agent (`"22,80,8000-8100"`); malformed parts are skipped.
    pub fn reserved_ports(&self) -> Vec<i64> {
        parse_port_list(&self.reserved_resources.networks.reserved_host_ports)
    }

    pub fn stub(&self, with_resources: bool, with_os: bool) -> NodeListStub {
        NodeListStub {
            address: self
                .attributes
                .get("unique.network.ip-address")
                .cloned()
                .unwrap_or_default(),
            id: self.id.clone(),
            attributes: with_os.then(|| {
                self.attributes
                    .iter()
                    .filter(|(k, _)| k.starts_with("os."))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
            datacenter: self.datacenter.clone(),
            name: self.name.clone(),
            node_class: self.node_class.clone(),
            node_pool: self.node_pool.clone(),
            version: self
                .attributes
                .get("nomad.version")
                .cloned()
                .unwrap_or_default(),
            drain: self.drain,
            scheduling_eligibility: self.scheduling_eligibility.clone(),
            status: self.status.clone(),
            status_description: self.status_description.clone(),
            drivers: self.drivers.clone(),
            node_resources: with_resources.then(|| self.node_resources.clone()),
            reserved_resources: with_resources.then(|| self.reserved_resources.clone()),
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

pub fn parse_port_list(spec: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                    out.extend(a..=b.min(65535));
                }
            }
            None => out.extend(part.parse::<i64>().ok()),
        }
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeListStub {
    pub address: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub attributes: Option<BTreeMap<String, String>>,
    pub datacenter: String,
    pub name: String,
    pub node_class: String,
    pub node_pool: String,
    pub version: String,
    pub drain: bool,
    pub scheduling_eligibility: String,
    pub status: String,
    pub status_description: String,
    pub drivers: BTreeMap<String, DriverInfo>,
    pub node_resources: Option<NodeResources>,
    pub reserved_resources: Option<NodeReservedResources>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists() {
        assert_eq!(
            parse_port_list("22, 80,8000-8002,x"),
            vec![22, 80, 8000, 8001, 8002]
        );
        assert!(parse_port_list("").is_empty());
    }
}
