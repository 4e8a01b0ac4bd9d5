//! A task's `resources` block.

use serde::{Deserialize, Serialize};

use super::{Affinity, Constraint, NetworkResource, ValidationErrors};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// MHz (CPU shares); default 100. 0 when `cores` is set instead.
    #[serde(rename = "CPU")]
    pub cpu: Option<i64>,
    /// Reserved whole cores; default 0.
    #[serde(rename = "Cores")]
    pub cores: Option<i64>,
    /// MB; default 300.
    #[serde(rename = "MemoryMB")]
    pub memory_mb: Option<i64>,
    /// MB; 0 means no separate hard limit, -1 no hard limit at all.
    #[serde(rename = "MemoryMaxMB")]
    pub memory_max_mb: i64,
    /// Deprecated at task level (use the group's `ephemeral_disk`): must stay 0.
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
    #[serde(rename = "IOPS")]
    pub iops: i64,
    /// Deprecated task-level networks; groups carry the network now.
    #[serde(rename = "Networks")]
    pub networks: Vec<NetworkResource>,
    #[serde(rename = "Devices")]
    pub devices: Vec<RequestedDevice>,
    #[serde(rename = "SecretsMB")]
    pub secrets_mb: i64,
}

pub const DEFAULT_CPU: i64 = 100;
pub const DEFAULT_MEMORY_MB: i64 = 300;
pub const MIN_CPU: i64 = 1;
pub const MIN_MEMORY_MB: i64 = 10;
/// `memory_max = -1`: no hard memory limit.
pub const MEMORY_NO_LIMIT: i64 = -1;

impl Resources {
    /// Defaults: `cpu` 100 unless `cores` is set (then `cpu` 0), `memory` 300.
    pub fn canonicalize(&mut self) {
        if self.cores.is_none() {
            self.cores = Some(0);
            self.cpu.get_or_insert(DEFAULT_CPU);
        }
        self.cpu.get_or_insert(0);
        self.memory_mb.get_or_insert(DEFAULT_MEMORY_MB);
        for net in &mut self.networks {
            net.canonicalize();
        }
        for device in &mut self.devices {
            device.count.get_or_insert(1);
            for a in &mut device.affinities {
                a.canonicalize();
            }
        }
    }

    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        let cpu = self.cpu.unwrap_or_default();
        let cores = self.cores.unwrap_or_default();
        let memory = self.memory_mb.unwrap_or_default();
        if cores > 0 && cpu > 0 {
            errs.push("Task can only ask for 'cpu' or 'cores' resource, not both.");
        }
        if cores < 0 {
            errs.push(format!("cores value ({cores}) cannot be negative"));
        }
        if cpu < MIN_CPU && cores == 0 {
            errs.push(format!("minimum CPU value is {MIN_CPU}; got {cpu}"));
        }
        if memory < MIN_MEMORY_MB {
            errs.push(format!(
                "minimum MemoryMB value is {MIN_MEMORY_MB}; got {memory}"
            ));
        }
        if self.disk_mb > 0 {
            errs.push("Task can't ask for disk resources, they have to be specified at the task group level.");
        }
        for (i, device) in self.devices.iter().enumerate() {
            if device.name.is_empty() {
                errs.push(format!(
                    "device {} failed validation: device name must be given as one of the following: type, vendor/type, or vendor/type/name",
                    i + 1
                ));
            }
        }
        if self.memory_max_mb != 0
            && self.memory_max_mb != MEMORY_NO_LIMIT
            && self.memory_max_mb < memory
        {
            errs.push(format!(
                "MemoryMaxMB value ({}) should be larger than MemoryMB value ({memory})",
                self.memory_max_mb
            ));
        }
        if self.secrets_mb > memory {
            errs.push(format!(
                "SecretsMB value ({}) cannot be larger than MemoryMB value ({memory})",
                self.secrets_mb
            ));
        }
        if self.secrets_mb < 0 {
            errs.push(format!(
                "SecretsMB value ({}) cannot be negative",
                self.secrets_mb
            ));
        }
        errs
    }
}

/// `device "vendor/type/name" {}`: a device request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestedDevice {
    pub name: String,
    pub count: Option<u64>,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_cores() {
        let mut r = Resources::default();
        r.canonicalize();
        assert_eq!(
            (r.cpu, r.cores, r.memory_mb),
            (Some(100), Some(0), Some(300))
        );
        assert!(r.validate().is_empty());

        let mut r = Resources {
            cores: Some(2),
            ..Default::default()
        };
        r.canonicalize();
        assert_eq!((r.cpu, r.cores), (Some(0), Some(2)));
        assert!(r.validate().is_empty(), "{:?}", r.validate());
    }

    #[test]
    fn minimums() {
        let r = Resources {
            cpu: Some(0),
            cores: Some(0),
            memory_mb: Some(5),
            ..Default::default()
        };
        assert_eq!(
            r.validate().0,
            vec![
                "minimum CPU value is 1; got 0",
                "minimum MemoryMB value is 10; got 5"
            ]
        );
        let r = Resources {
            cpu: Some(100),
            cores: Some(0),
            memory_mb: Some(256),
            memory_max_mb: 128,
            ..Default::default()
        };
        assert_eq!(
            r.validate().0,
            vec!["MemoryMaxMB value (128) should be larger than MemoryMB value (256)"]
        );
    }
}
