//! Applies one parsed agent file to an [`AgentConfig`]: the settings drover uses are
//! typed and merged (later files win, maps merge key by key); settings Nomad has that
//! drover does not use are skipped and reported as ignored; any other key is a problem
//! naming its line, as Nomad refuses unknown keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::hcl1::{Entry, Node, Value};
use super::AgentConfig;

/// What a file did not set: problems (the file is refused) and ignored Nomad settings.
#[derive(Debug, Default)]
pub struct Decoded {
    pub problems: Vec<String>,
    pub ignored: Vec<String>,
}

/// The keys drover reads, per block (for "did you mean" on an unknown key).
const TOP: &[&str] = &[
    "bind_addr",
    "client",
    "data_dir",
    "datacenter",
    "log_level",
    "name",
    "ports",
    "region",
    "registry",
    "server",
];
const SERVER: &[&str] = &["enabled"];
const CLIENT: &[&str] = &[
    "alloc_dir",
    "bridge_network_name",
    "bridge_network_subnet",
    "enabled",
    "max_dynamic_port",
    "meta",
    "min_dynamic_port",
    "network_interface",
    "node_class",
    "node_pool",
    "options",
    "reserved",
    "state_dir",
];
const RESERVED: &[&str] = &["cores", "cpu", "disk", "memory", "reserved_ports"];
const PORTS: &[&str] = &["http", "rpc", "serf"];
const REGISTRY: &[&str] = &["auth_file", "insecure", "mirror"];

/// Top-level keys of Nomad's agent file drover accepts but does not use.
const NOMAD_TOP: &[&str] = &[
    "acl",
    "addresses",
    "advertise",
    "audit",
    "autopilot",
    "consul",
    "disable_anonymous_signature",
    "disable_update_check",
    "enable_debug",
    "enable_syslog",
    "eventlog",
    "http_api_response_headers",
    "interfaces",
    "keyring",
    "leave_on_interrupt",
    "leave_on_terminate",
    "limits",
    "log_file",
    "log_include_location",
    "log_json",
    "log_rotate_bytes",
    "log_rotate_duration",
    "log_rotate_max_files",
    "plugin",
    "plugin_dir",
    "reporting",
    "rpc",
    "sentinel",
    "syslog_facility",
    "telemetry",
    "tls",
    "ui",
    "vault",
];

/// Keys of Nomad's `server` block other than `enabled`.
const NOMAD_SERVER: &[&str] = &[
    "acl_token_gc_threshold",
    "authoritative_region",
    "batch_eval_gc_threshold",
    "bootstrap_expect",
    "client_introduction",
    "csi_plugin_gc_threshold",
    "csi_volume_claim_gc_interval",
    "csi_volume_claim_gc_threshold",
    "data_dir",
    "default_scheduler_config",
    "deploy_query_rate_limit",
    "deployment_gc_threshold",
    "enable_event_broker",
    "enabled_schedulers",
    "encrypt",
    "eval_gc_threshold",
    "event_buffer_size",
    "failover_heartbeat_ttl",
    "heartbeat_grace",
    "job_default_priority",
    "job_gc_interval",
    "job_gc_threshold",
    "job_max_count",
    "job_max_priority",
    "job_max_source_size",
    "job_tracked_versions",
    "license_path",
    "log_file",
    "max_heartbeats_per_second",
    "min_heartbeat_ttl",
    "node_gc_threshold",
    "non_production",
    "non_voting_server",
    "num_schedulers",
    "oidc_issuer",
    "plan_apply_pipeline",
    "plan_rejection_tracker",
    "preemption_config",
    "protocol_version",
    "raft_boltdb",
    "raft_logstore",
    "raft_multiplier",
    "raft_protocol",
    "raft_snapshot_interval",
    "raft_snapshot_threshold",
    "raft_trailing_logs",
    "redundancy_zone",
    "rejoin_after_leave",
    "retry_interval",
    "retry_join",
    "retry_max",
    "root_key_gc_interval",
    "root_key_gc_threshold",
    "root_key_rotation_threshold",
    "search",
    "server_join",
    "start_join",
    "start_timeout",
    "upgrade_version",
];

/// Keys of Nomad's `client` block drover does not use.
const NOMAD_CLIENT: &[&str] = &[
    "alloc_mounts_dir",
    "artifact",
    "bind_wildcard_default_host_network",
    "bridge_network_hairpin_mode",
    "bridge_network_subnet_ipv6",
    "cgroup_parent",
    "chroot_env",
    "client_max_port",
    "client_min_port",
    "cni_config_dir",
    "cni_path",
    "common_plugin_dir",
    "cpu_disable_dmidecode",
    "cpu_total_compute",
    "default_ineligible",
    "disable_remote_exec",
    "disk_free_mb",
    "disk_total_mb",
    "drain_on_shutdown",
    "fingerprint",
    "gc_disk_usage_threshold",
    "gc_inode_usage_threshold",
    "gc_interval",
    "gc_max_allocs",
    "gc_parallel_destroys",
    "gc_volumes_on_node_gc",
    "host_network",
    "host_volume",
    "host_volume_plugin_dir",
    "host_volumes_dir",
    "log_file",
    "max_kill_timeout",
    "memory_total_mb",
    "network_speed",
    "no_host_uuid",
    "node_max_allocs",
    "nomad_service_discovery",
    "preferred_address_family",
    "reservable_cores",
    "server_join",
    "servers",
    "stats",
    "template",
    "users",
];

/// Applies `root` (a whole file) to `config`.
pub fn apply(config: &mut AgentConfig, root: &Node) -> Decoded {
    let mut d = Decoder::default();
    let Some(entries) = d.object(root, "the file") else {
        return d.out;
    };
    for e in entries {
        let key = e.key.as_str();
        match key {
            "region" => d.set_string(&mut config.region, e),
            "datacenter" => d.set_string(&mut config.datacenter, e),
            "name" => d.set_string(&mut config.node_name, e),
            "bind_addr" => d.set_string(&mut config.bind_addr, e),
            "log_level" => d.set_string(&mut config.log_level, e),
            "data_dir" => d.set_path(&mut config.data_dir, e),
            "ports" => d.ports(config, e),
            "server" => {
                for s in d.block(e) {
                    match s.key.as_str() {
                        "enabled" => d.set_bool(&mut config.server, s),
                        k if NOMAD_SERVER.contains(&k) => d.ignore("server", s),
                        _ => d.unknown("server", s, &[SERVER, NOMAD_SERVER]),
                    }
                }
            }
            "client" => d.client(config, e),
            "registry" => d.registry(config, e),
            k if NOMAD_TOP.contains(&k) => d.ignore("", e),
            _ => d.unknown("", e, &[TOP, NOMAD_TOP]),
        }
    }
    d.out
}

#[derive(Default)]
struct Decoder {
    out: Decoded,
}

impl Decoder {
    fn problem(&mut self, line: usize, message: String) {
        self.out.problems.push(match line {
            0 => format!("  {message}"),
            n => format!("  line {n}: {message}"),
        });
    }

    fn ignore(&mut self, within: &str, e: &Entry) {
        self.out.ignored.push(qualified(within, &e.key));
    }

    fn unknown(&mut self, within: &str, e: &Entry, known: &[&[&str]]) {
        let key = qualified(within, &e.key);
        let what = if within.is_empty() {
            "an agent setting".to_string()
        } else {
            format!("a setting of the {within} block")
        };
        let hint = match closest(&e.key, known.iter().flat_map(|k| k.iter())) {
            Some(k) => format!(" (did you mean {:?}?)", qualified(within, k)),
            None => String::new(),
        };
        self.problem(
            e.line,
            format!("unknown key {key:?}: not {what} in Nomad or drover{hint}"),
        );
    }

    fn mistyped(&mut self, e: &Entry, want: &str) {
        self.problem(
            e.line,
            format!(
                "{:?} must be {want}, not {}",
                e.key,
                describe(&e.node.value)
            ),
        );
    }

    /// An object's entries; a list of objects (how JSON writes blocks) is flattened.
    fn object<'n>(&mut self, node: &'n Node, what: &str) -> Option<Vec<&'n Entry>> {
        match &node.value {
            Value::Object(entries) => Some(entries.iter().collect()),
            Value::List(items) => {
                let mut all = Vec::new();
                for item in items {
                    all.extend(self.object(item, what)?);
                }
                Some(all)
            }
            other => {
                self.problem(
                    node.line,
                    format!("{what} must be a block, not {}", describe(other)),
                );
                None
            }
        }
    }

    fn block<'n>(&mut self, e: &'n Entry) -> Vec<&'n Entry> {
        self.object(&e.node, &format!("{:?}", e.key))
            .unwrap_or_default()
    }

    fn string(&mut self, e: &Entry) -> Option<String> {
        match scalar(&e.node.value) {
            Some(s) => Some(s),
            None => {
                self.mistyped(e, "a string");
                None
            }
        }
    }

    /// Empty strings do not override (Nomad's merge keeps the earlier non-empty value).
    fn set_string(&mut self, dst: &mut String, e: &Entry) {
        if let Some(v) = self.string(e).filter(|v| !v.is_empty()) {
            *dst = v;
        }
    }

    fn set_path(&mut self, dst: &mut Option<PathBuf>, e: &Entry) {
        if let Some(v) = self.string(e).filter(|v| !v.is_empty()) {
            *dst = Some(PathBuf::from(v));
        }
    }

    fn set_bool(&mut self, dst: &mut bool, e: &Entry) {
        let v = match &e.node.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        match v {
            Some(v) => *dst = v,
            None => self.mistyped(e, "true or false"),
        }
    }

    fn uint(&mut self, e: &Entry, max: u64) -> Option<u64> {
        let n = match &e.node.value {
            Value::Number(n) if n.fract() == 0.0 && *n >= 0.0 => Some(*n as u64),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n.filter(|&n| n <= max) {
            Some(n) => Some(n),
            None => {
                self.mistyped(e, &format!("a whole number from 0 to {max}"));
                None
            }
        }
    }

    fn set_port(&mut self, dst: &mut u16, e: &Entry) {
        if let Some(n) = self.uint(e, u16::MAX.into()) {
            *dst = n as u16;
        }
    }

    fn set_uint(&mut self, dst: &mut u64, e: &Entry) {
        if let Some(n) = self.uint(e, i64::MAX as u64) {
            *dst = n;
        }
    }

    /// Merges a map of strings key by key (numbers and booleans as text, as HCL 1 does).
    fn merge_map(&mut self, dst: &mut BTreeMap<String, String>, e: &Entry) {
        for item in self.block(e) {
            match scalar(&item.node.value) {
                Some(v) => {
                    dst.insert(item.key.clone(), v);
                }
                None => self.mistyped(item, "a string"),
            }
        }
    }

    fn strings(&mut self, e: &Entry) -> Option<Vec<String>> {
        match &e.node.value {
            Value::List(items) => items
                .iter()
                .map(|i| scalar(&i.value))
                .collect::<Option<Vec<_>>>()
                .or_else(|| {
                    self.mistyped(e, "a list of strings");
                    None
                }),
            // A comma-separated string, as Nomad accepts for its own lists.
            Value::String(s) => Some(
                s.split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect(),
            ),
            _ => {
                self.mistyped(e, "a list of strings");
                None
            }
        }
    }

    fn ports(&mut self, config: &mut AgentConfig, e: &Entry) {
        for p in self.block(e) {
            match p.key.as_str() {
                "http" => self.set_port(&mut config.http_port, p),
                "rpc" => self.set_port(&mut config.rpc_port, p),
                "serf" => self.set_port(&mut config.serf_port, p),
                _ => self.unknown("ports", p, &[PORTS]),
            }
        }
    }

    fn client(&mut self, config: &mut AgentConfig, e: &Entry) {
        for c in self.block(e) {
            let s = &mut config.client_config;
            match c.key.as_str() {
                "enabled" => self.set_bool(&mut config.client, c),
                "state_dir" => self.set_path(&mut s.state_dir, c),
                "alloc_dir" => self.set_path(&mut s.alloc_dir, c),
                "node_class" => self.set_string(&mut s.node_class, c),
                "node_pool" => self.set_string(&mut s.node_pool, c),
                "network_interface" => self.set_string(&mut s.network_interface, c),
                "bridge_network_name" => self.set_string(&mut s.bridge_network_name, c),
                "bridge_network_subnet" => self.set_string(&mut s.bridge_network_subnet, c),
                "meta" => self.merge_map(&mut s.meta, c),
                "options" => self.merge_map(&mut s.options, c),
                "min_dynamic_port" => self.set_port(&mut s.min_dynamic_port, c),
                "max_dynamic_port" => self.set_port(&mut s.max_dynamic_port, c),
                "reserved" => {
                    for r in self.block(c) {
                        let s = &mut config.client_config;
                        match r.key.as_str() {
                            "cpu" => self.set_uint(&mut s.reserved_cpu, r),
                            "memory" => self.set_uint(&mut s.reserved_memory_mb, r),
                            "disk" => self.set_uint(&mut s.reserved_disk_mb, r),
                            "reserved_ports" => self.set_string(&mut s.reserved_ports, r),
                            "cores" => self.ignore("client.reserved", r),
                            _ => self.unknown("client.reserved", r, &[RESERVED]),
                        }
                    }
                }
                k if NOMAD_CLIENT.contains(&k) => self.ignore("client", c),
                _ => self.unknown("client", c, &[CLIENT, NOMAD_CLIENT]),
            }
        }
    }

    fn registry(&mut self, config: &mut AgentConfig, e: &Entry) {
        for r in self.block(e) {
            let s = &mut config.client_config;
            match r.key.as_str() {
                "mirror" => {
                    if let Some(v) = self.string(r).filter(|v| !v.is_empty()) {
                        s.registry_mirror = Some(v);
                    }
                }
                // A union: each file can only add hosts spoken to over plain HTTP.
                "insecure" => {
                    for host in self.strings(r).unwrap_or_default() {
                        if !s.insecure_registries.contains(&host) {
                            s.insecure_registries.push(host);
                        }
                    }
                }
                "auth_file" => self.set_path(&mut s.registry_auth_file, r),
                _ => self.unknown("registry", r, &[REGISTRY]),
            }
        }
    }
}

/// The known key nearest to a misspelt one: at most two edits away.
fn closest<'k>(key: &str, known: impl Iterator<Item = &'k &'k str>) -> Option<&'k str> {
    known
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn qualified(within: &str, key: &str) -> String {
    if within.is_empty() {
        key.to_string()
    } else {
        format!("{within}.{key}")
    }
}

/// A scalar as text: strings as they are, whole numbers without a fraction.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(format!("{}", *n as i64)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {s:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("{b}"),
        Value::List(_) => "a list".into(),
        Value::Object(_) => "a block".into(),
        Value::Null => "null".into(),
    }
}
