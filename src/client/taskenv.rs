//! A task's environment (`NOMAD_*` variables, meta, the `env` block) and the runtime
//! interpolation of `${…}` references in its `env` and driver config, as Nomad's
//! `client/taskenv` does it.

use std::collections::BTreeMap;

use drover_driver::runtime::drivers::{DriverKind, TaskDirs};

use crate::structs::{Allocation, Node, Task};

/// The task's directories as the task sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvDirs {
    pub alloc: String,
    pub local: String,
    pub secrets: String,
}

impl EnvDirs {
    /// Isolated drivers (container, exec): the task's own mount points.
    pub fn isolated() -> Self {
        EnvDirs {
            alloc: "/alloc".into(),
            local: "/local".into(),
            secrets: "/secrets".into(),
        }
    }

    /// `raw_exec`: the host paths (`<alloc>/alloc`, `<alloc>/<task>/local`, `…/secrets`).
    pub fn host(
        alloc: &std::path::Path,
        local: &std::path::Path,
        secrets: &std::path::Path,
    ) -> Self {
        EnvDirs {
            alloc: alloc.display().to_string(),
            local: local.display().to_string(),
            secrets: secrets.display().to_string(),
        }
    }

    /// What a task of this driver sees: host paths for `raw_exec`, mount points else.
    pub fn for_driver(kind: DriverKind, dirs: &TaskDirs) -> Self {
        match kind {
            DriverKind::RawExec => Self::host(&dirs.alloc, &dirs.local, &dirs.secrets),
            DriverKind::Container | DriverKind::Exec => Self::isolated(),
        }
    }
}

/// What a task's environment is built from.
#[derive(Debug, Clone)]
pub struct TaskEnvInput<'a> {
    /// Carries the job (`alloc.job`) whose group and task meta are merged.
    pub alloc: &'a Allocation,
    pub task: &'a Task,
    pub node: &'a Node,
    /// The agent's region; empty: the job's.
    pub region: &'a str,
    pub dirs: EnvDirs,
    /// Variables from networking (ports, addresses); they override the ones derived
    /// from the allocation's ports.
    pub extra: BTreeMap<String, String>,
    /// Host variables for drivers that pass them (never override task variables).
    pub host_env: BTreeMap<String, String>,
}

impl<'a> TaskEnvInput<'a> {
    /// No extra or host variables; the job's region.
    pub fn new(alloc: &'a Allocation, task: &'a Task, node: &'a Node, dirs: EnvDirs) -> Self {
        TaskEnvInput {
            alloc,
            task,
            node,
            region: "",
            dirs,
            extra: BTreeMap::new(),
            host_env: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskEnv {
    env: BTreeMap<String, String>,
    /// `node.unique.id`, `attr.kernel.name`, `meta.rack` …
    node_attrs: BTreeMap<String, String>,
}

/// Variable names under these prefixes are cleaned of characters a shell cannot use.
const CLEANED_PREFIXES: [&str; 5] = [
    "NOMAD_ADDR_",
    "NOMAD_IP_",
    "NOMAD_PORT_",
    "NOMAD_HOST_PORT_",
    "NOMAD_META_",
];

impl TaskEnv {
    pub fn build(input: &TaskEnvInput<'_>) -> TaskEnv {
        let alloc = input.alloc;
        let task = input.task;
        let job = alloc.job.as_deref();
        let region = if input.region.is_empty() {
            job.map(|j| j.region.as_str()).unwrap_or_default()
        } else {
            input.region
        };
        let node_attrs = node_attributes(input.node, region);
        let mut env = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };

        set("NOMAD_ALLOC_DIR", input.dirs.alloc.clone());
        set("NOMAD_TASK_DIR", input.dirs.local.clone());
        set("NOMAD_SECRETS_DIR", input.dirs.secrets.clone());

        let allocated = alloc
            .allocated_resources
            .as_ref()
            .and_then(|r| r.tasks.get(&task.name));
        let (cpu, cores, memory, memory_max) = match (allocated, &task.resources) {
            (Some(a), _) => (
                a.cpu.cpu_shares,
                a.cpu.reserved_cores.clone(),
                a.memory.memory_mb,
                a.memory.memory_max_mb,
            ),
            (None, Some(r)) => (
                r.cpu.unwrap_or_default(),
                Vec::new(),
                r.memory_mb.unwrap_or_default(),
                r.memory_max_mb,
            ),
            (None, None) => (0, Vec::new(), 0, 0),
        };
        if memory != 0 {
            set("NOMAD_MEMORY_LIMIT", memory.to_string());
        }
        if memory_max != 0 {
            set("NOMAD_MEMORY_MAX_LIMIT", memory_max.to_string());
        }
        if cpu != 0 {
            set("NOMAD_CPU_LIMIT", cpu.to_string());
        }
        if !cores.is_empty() {
            set("NOMAD_CPU_CORES", core_list(&cores));
        }

        if !alloc.id.is_empty() {
            set("NOMAD_ALLOC_ID", alloc.id.clone());
            set(
                "NOMAD_SHORT_ALLOC_ID",
                alloc.id.chars().take(8).collect::<String>(),
            );
        }
        let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let mut set_some = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                env.insert(k.to_string(), v);
            }
        };
        set_some("NOMAD_ALLOC_NAME", nonempty(&alloc.name));
        set_some("NOMAD_GROUP_NAME", nonempty(&alloc.task_group));
        set_some("NOMAD_ALLOC_INDEX", Some(alloc.index().to_string()));
        set_some("NOMAD_TASK_NAME", nonempty(&task.name));
        set_some("NOMAD_JOB_ID", job.and_then(|j| nonempty(&j.id)));
        set_some("NOMAD_JOB_NAME", job.and_then(|j| nonempty(&j.name)));
        set_some(
            "NOMAD_JOB_PARENT_ID",
            job.and_then(|j| nonempty(&j.parent_id)),
        );
        set_some("NOMAD_DC", nonempty(&input.node.datacenter));
        set_some("NOMAD_NAMESPACE", nonempty(&alloc.namespace));
        set_some("NOMAD_REGION", nonempty(region));

        // Port variables come from the allocation's network (network_hook.rs).
        env.extend(input.extra.clone());

        let mut out = TaskEnv { env, node_attrs };

        // Meta, job < group < task; its keys and values may refer to the above.
        let mut meta = BTreeMap::new();
        if let Some(job) = job {
            if job.dispatched {
                for k in job.parameterized_job.iter().flat_map(|p| &p.meta_optional) {
                    meta.insert(k.clone(), String::new());
                }
            }
            meta.extend(job.meta.clone());
            if let Some(group) = job.task_groups.iter().find(|g| g.name == alloc.task_group) {
                meta.extend(group.meta.clone());
            }
        }
        meta.extend(task.meta.clone());
        let mut expanded = Vec::new();
        for (k, v) in &meta {
            let v = out.interpolate(v);
            expanded.push((
                out.interpolate(&format!("NOMAD_META_{}", k.to_uppercase())),
                v.clone(),
            ));
            expanded.push((out.interpolate(&format!("NOMAD_META_{k}")), v));
        }
        out.env.extend(expanded);

        for (k, v) in &input.host_env {
            if !out.env.contains_key(k) {
                let v = out.interpolate(v);
                out.env.insert(k.clone(), v);
            }
        }

        // The task's env block, interpolated against everything before it.
        let task_env: Vec<(String, String)> = task
            .env
            .iter()
            .map(|(k, v)| (k.clone(), out.interpolate(v)))
            .collect();
        out.env.extend(task_env);

        out.env = std::mem::take(&mut out.env)
            .into_iter()
            .map(|(k, v)| (clean_key(k), v))
            .collect();
        out
    }

    /// Replaces `${NOMAD_…}`, `${node.…}`, `${attr.…}`, `${meta.…}`, `${env["X"]}` and
    /// any other variable of the task; unknown references stay as written.
    pub fn interpolate(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let name = &after[..end];
            match self.lookup(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&rest[start..start + 2 + end + 1]),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn lookup(&self, name: &str) -> Option<&str> {
        if let Some(key) = name
            .strip_prefix("env[\"")
            .and_then(|k| k.strip_suffix("\"]"))
        {
            return self.env.get(key).map(String::as_str);
        }
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !plain {
            return None;
        }
        // The driver config's HCL2 scope also nests attributes and meta under `node`.
        let alias = name
            .strip_prefix("node.attr.")
            .map(|k| format!("attr.{k}"))
            .or_else(|| name.strip_prefix("node.meta.").map(|k| format!("meta.{k}")));
        let key = alias.as_deref().unwrap_or(name);
        self.node_attrs
            .get(key)
            .or_else(|| self.env.get(key))
            .map(String::as_str)
    }

    /// Interpolates every string in a driver config (values only, not keys).
    pub fn interpolate_json(&self, v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => Value::String(self.interpolate(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.interpolate_json(i)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.interpolate_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// The task's variables.
    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// The node's interpolation keys (`node.unique.id`, `attr.…`, `meta.…`).
    pub fn node_attrs(&self) -> &BTreeMap<String, String> {
        &self.node_attrs
    }

    /// `KEY=value`, sorted by key: the process environment.
    pub fn to_vec(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

fn node_attributes(node: &Node, region: &str) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    if !region.is_empty() {
        attrs.insert("node.region".to_string(), region.to_string());
    }
    for (k, v) in [
        ("node.unique.id", &node.id),
        ("node.unique.name", &node.name),
        ("node.class", &node.node_class),
        ("node.datacenter", &node.datacenter),
        ("node.pool", &node.node_pool),
    ] {
        attrs.insert(k.to_string(), v.clone());
    }
    for (k, v) in &node.attributes {
        attrs.insert(format!("attr.{k}"), v.clone());
    }
    for (k, v) in &node.meta {
        attrs.insert(format!("meta.{k}"), v.clone());
    }
    attrs
}

/// Reserved cores in cpuset notation (`0-2,5`).
fn core_list(cores: &[u16]) -> String {
    let mut ids = cores.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let low = ids[i];
        let mut high = low;
        while i + 1 < ids.len() && ids[i + 1] == high + 1 {
            i += 1;
            high = ids[i];
        }
        parts.push(if low == high {
            low.to_string()
        } else {
            format!("{low}-{high}")
        });
        i += 1;
    }
    parts.join(",")
}

/// Nomad's `CleanEnvVar` for the prefixed names: anything but letters, `_`, `.` and
/// (not first) digits becomes `_`.
fn clean_key(key: String) -> String {
    if !CLEANED_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return key;
    }
    key.chars()
        .enumerate()
        .map(|(i, c)| match c {
            '_' | '.' | 'a'..='z' | 'A'..='Z' => c,
            '0'..='9' if i > 0 => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests;
