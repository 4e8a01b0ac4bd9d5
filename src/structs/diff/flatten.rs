//! Each object's primitive fields under the names Nomad's diff uses (its Go struct field
//! names), with Go's renderings. Fields that are pointers in Nomad's structs are left out
//! (its flattening skips them) unless Nomad adds them by hand; fields Nomad has and drover
//! does not model appear with their zero value, so contextual diffs list the same lines.

use std::collections::BTreeMap;

use super::engine::{Flat, FlatBuilder};
use crate::structs::{
    Affinity, ChangeScript, CheckRestart, Constraint, DisconnectStrategy, DispatchPayloadConfig,
    EphemeralDisk, Job, JobUiConfig, JobUiLink, LogConfig, MigrateStrategy, NetworkResource,
    ParameterizedJobConfig, PeriodicConfig, Port, RequestedDevice, ReschedulePolicy, Resources,
    RestartPolicy, ScalingPolicy, Service, ServiceCheck, Task, TaskArtifact, TaskGroup, Template,
    UpdateStrategy, VolumeMount, VolumeRequest, WaitConfig, WorkloadIdentity,
};

/// Job fields; ID, status, version, indexes, submit time and token are not compared.
pub(super) fn job(j: &Job) -> Flat {
    FlatBuilder::default()
        .bool("Stop", j.stop)
        .str("Region", &j.region)
        .str("Namespace", &j.namespace)
        .str("ParentID", &j.parent_id)
        .str("Name", &j.name)
        .str("Type", &j.job_type)
        .int("Priority", j.priority)
        .bool("AllAtOnce", j.all_at_once)
        .str("NodePool", &j.node_pool)
        .bool("Dispatched", j.dispatched)
        .str("DispatchIdempotencyToken", "")
        .map("Meta", &j.meta)
        .str("ConsulNamespace", &j.consul_namespace)
        .str("VaultNamespace", &j.vault_namespace)
        .build()
}

/// Group fields other than `ShutdownDelay`, which Nomad adds only when both sides exist.
pub(super) fn group(g: &TaskGroup) -> Flat {
    FlatBuilder::default()
        .opt_int("Count", g.count)
        .map("Meta", &g.meta)
        .bool("PreventRescheduleOnLost", g.prevent_reschedule_on_lost)
        .build()
}

/// Task fields (`Name` and `Config` are diffed apart).
pub(super) fn task(t: &Task) -> Flat {
    FlatBuilder::default()
        .str("Driver", &t.driver)
        .str("User", &t.user)
        .map("Env", &t.env)
        .map("Meta", &t.meta)
        .int("KillTimeout", t.kill_timeout)
        .bool("Leader", t.leader)
        .int("ShutdownDelay", t.shutdown_delay)
        .str("KillSignal", &t.kill_signal)
        .str("Kind", &t.kind)
        .build()
}

pub(super) fn constraint(c: &Constraint) -> Flat {
    FlatBuilder::default()
        .str("LTarget", &c.l_target)
        .str("RTarget", &c.r_target)
        .str("Operand", &c.operand)
        .build()
}

/// Nomad's `Constraint.String()`, its identity in a set.
pub(super) fn constraint_key(c: &Constraint) -> String {
    format!("{} {} {}", c.l_target, c.operand, c.r_target)
}

pub(super) fn affinity(a: &Affinity) -> Flat {
    FlatBuilder::default()
        .str("LTarget", &a.l_target)
        .str("RTarget", &a.r_target)
        .str("Operand", &a.operand)
        .opt_int("Weight", a.weight)
        .build()
}

pub(super) fn affinity_key(a: &Affinity) -> String {
    format!(
        "{} {} {} {}",
        a.l_target,
        a.operand,
        a.r_target,
        a.weight.unwrap_or_default()
    )
}

pub(super) fn restart(r: &RestartPolicy) -> Flat {
    FlatBuilder::default()
        .opt_int("Attempts", r.attempts)
        .opt_int("Interval", r.interval)
        .opt_int("Delay", r.delay)
        .opt_str("Mode", r.mode.as_deref())
        .opt_bool("RenderTemplates", r.render_templates)
        .build()
}

pub(super) fn reschedule(r: &ReschedulePolicy) -> Flat {
    FlatBuilder::default()
        .opt_int("Attempts", r.attempts)
        .opt_int("Interval", r.interval)
        .opt_int("Delay", r.delay)
        .opt_str("DelayFunction", r.delay_function.as_deref())
        .opt_int("MaxDelay", r.max_delay)
        .opt_bool("Unlimited", r.unlimited)
        .build()
}

/// `Stagger` is filtered out, as in Nomad (deprecated).
pub(super) fn update(u: &UpdateStrategy) -> Flat {
    FlatBuilder::default()
        .opt_int("MaxParallel", u.max_parallel)
        .opt_str("HealthCheck", u.health_check.as_deref())
        .opt_int("MinHealthyTime", u.min_healthy_time)
        .opt_int("HealthyDeadline", u.healthy_deadline)
        .opt_int("ProgressDeadline", u.progress_deadline)
        .opt_bool("AutoRevert", u.auto_revert)
        .opt_bool("AutoPromote", u.auto_promote)
        .opt_int("Canary", u.canary)
        .build()
}

pub(super) fn migrate(m: &MigrateStrategy) -> Flat {
    FlatBuilder::default()
        .opt_int("MaxParallel", m.max_parallel)
        .opt_str("HealthCheck", m.health_check.as_deref())
        .opt_int("MinHealthyTime", m.min_healthy_time)
        .opt_int("HealthyDeadline", m.healthy_deadline)
        .build()
}

pub(super) fn disk(d: &EphemeralDisk) -> Flat {
    FlatBuilder::default()
        .bool("Sticky", d.sticky)
        .opt_int("SizeMB", d.size_mb)
        .bool("Migrate", d.migrate)
        .build()
}

/// Nomad flattens this one following pointers, so unset ones read `nil`.
pub(super) fn disconnect(d: &DisconnectStrategy) -> Flat {
    let or_nil = |v: Option<String>| v.unwrap_or_else(|| "nil".into());
    FlatBuilder::default()
        .int("LostAfter", d.lost_after)
        .str(
            "StopOnClientAfter",
            &or_nil(d.stop_on_client_after.map(|v| v.to_string())),
        )
        .str("Replace", &or_nil(d.replace.map(|v| v.to_string())))
        .str("Reconcile", &d.reconcile)
        .build()
}

/// Network fields, without `Device`, `CIDR`, `IP` and `MBits` (as Nomad).
pub(super) fn network(n: &NetworkResource) -> Flat {
    FlatBuilder::default()
        .str("Mode", &n.mode)
        .str("Hostname", &n.hostname)
        .build()
}

/// A port; dynamic ports leave out the scheduler-assigned `Value` and `IgnoreCollision`.
pub(super) fn port(p: &Port, dynamic: bool) -> Flat {
    let mut b = FlatBuilder::default();
    b.str("Label", &p.label)
        .int("To", p.to)
        .str("HostNetwork", &p.host_network);
    if !dynamic {
        b.int("Value", p.value)
            .bool("IgnoreCollision", p.ignore_collision);
    }
    b.build()
}

pub(super) fn scaling(s: &ScalingPolicy) -> Flat {
    let target: BTreeMap<String, String> = s
        .target
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "Job" | "Group" | "Namespace"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    FlatBuilder::default()
        .map("Target", &target)
        .opt_int("Min", s.min)
        .opt_int("Max", s.max)
        .opt_bool("Enabled", s.enabled)
        .build()
}

pub(super) fn service(s: &Service) -> Flat {
    FlatBuilder::default()
        .str("Name", &s.name)
        .str("TaskName", &s.task_name)
        .str("PortLabel", &s.port_label)
        .str("AddressMode", &s.address_mode)
        .str("Address", &s.address)
        .bool("EnableTagOverride", s.enable_tag_override)
        .map("Meta", &s.meta)
        .map("CanaryMeta", &s.canary_meta)
        .map("TaggedAddresses", &s.tagged_addresses)
        .str("Namespace", &s.namespace)
        .str("OnUpdate", &s.on_update)
        .str("Provider", &s.provider)
        .str("Cluster", &s.cluster)
        .str("Kind", "")
        .build()
}

pub(super) fn check(c: &ServiceCheck) -> Flat {
    FlatBuilder::default()
        .str("Name", &c.name)
        .str("Type", &c.check_type)
        .str("Command", &c.command)
        .str("Path", &c.path)
        .str("Protocol", &c.protocol)
        .str("PortLabel", &c.port_label)
        .bool("Expose", c.expose)
        .str("AddressMode", &c.address_mode)
        .int("Interval", c.interval)
        .int("Timeout", c.timeout)
        .str("InitialStatus", &c.initial_status)
        .str("Notes", "")
        .str("TLSServerName", &c.tls_server_name)
        .bool("TLSSkipVerify", c.tls_skip_verify)
        .str("Method", &c.method)
        .str("GRPCService", &c.grpc_service)
        .bool("GRPCUseTLS", c.grpc_use_tls)
        .str("TaskName", &c.task_name)
        .int("SuccessBeforePassing", c.success_before_passing)
        .int("FailuresBeforeCritical", c.failures_before_critical)
        .int("FailuresBeforeWarning", c.failures_before_warning)
        .str("Body", &c.body)
        .str("OnUpdate", &c.on_update)
        .build()
}

pub(super) fn check_restart(c: &CheckRestart) -> Flat {
    FlatBuilder::default()
        .int("Limit", c.limit)
        .opt_int("Grace", c.grace)
        .bool("IgnoreWarnings", c.ignore_warnings)
        .build()
}

/// A check's headers: `Name[i]` for each value.
pub(super) fn header(h: &BTreeMap<String, Vec<String>>) -> Flat {
    let mut b = FlatBuilder::default();
    for (k, values) in h {
        for (i, v) in values.iter().enumerate() {
            b.str(&format!("{k}[{i}]"), v);
        }
    }
    b.build()
}

pub(super) fn resources(r: &Resources) -> Flat {
    FlatBuilder::default()
        .opt_int("CPU", r.cpu)
        .opt_int("Cores", r.cores)
        .opt_int("MemoryMB", r.memory_mb)
        .int("MemoryMaxMB", r.memory_max_mb)
        .int("DiskMB", r.disk_mb)
        .int("IOPS", r.iops)
        .int("SecretsMB", r.secrets_mb)
        .build()
}

pub(super) fn device(d: &RequestedDevice) -> Flat {
    let mut b = FlatBuilder::default();
    b.str("Name", &d.name);
    b.0.insert("Count".into(), d.count.unwrap_or_default().to_string());
    b.build()
}

pub(super) fn log_config(l: &LogConfig) -> Flat {
    FlatBuilder::default()
        .opt_int("MaxFiles", l.max_files)
        .opt_int("MaxFileSizeMB", l.max_file_size_mb)
        .opt_bool("Disabled", l.disabled)
        .build()
}

pub(super) fn dispatch_payload(d: &DispatchPayloadConfig) -> Flat {
    FlatBuilder::default().str("File", &d.file).build()
}

pub(super) fn artifact(a: &TaskArtifact) -> Flat {
    FlatBuilder::default()
        .str("GetterSource", &a.getter_source)
        .map("GetterOptions", &a.getter_options)
        .map("GetterHeaders", &a.getter_headers)
        .str("GetterMode", &a.getter_mode)
        .bool("GetterInsecure", a.getter_insecure)
        .str("RelativeDest", &a.relative_dest)
        .bool("Chown", a.chown)
        .build()
}

/// Artifacts are matched by destination; without one, by their whole content.
pub(super) fn artifact_key(a: &TaskArtifact) -> String {
    if a.relative_dest.is_empty() {
        format!("\0{a:?}")
    } else {
        a.relative_dest.clone()
    }
}

pub(super) fn template(t: &Template) -> Flat {
    let mut b = FlatBuilder::default();
    b.str("SourcePath", &t.source_path)
        .str("DestPath", &t.dest_path)
        .str("EmbeddedTmpl", &t.embedded_tmpl)
        .str("ChangeMode", &t.change_mode)
        .str("ChangeSignal", &t.change_signal)
        .bool("Once", t.once)
        .opt_int("Splay", t.splay)
        .str("Perms", &t.perms)
        .str("LeftDelim", &t.left_delim)
        .str("RightDelim", &t.right_delim)
        .bool("Envvars", t.envvars)
        .int("VaultGrace", t.vault_grace)
        .bool("ErrMissingKey", t.err_missing_key);
    // Pointers in Nomad, added by hand only when set.
    if let Some(uid) = t.uid {
        b.int("Uid", uid);
    }
    if let Some(gid) = t.gid {
        b.int("Gid", gid);
    }
    b.build()
}

pub(super) fn wait_config(w: &WaitConfig) -> Flat {
    let or_nil = |v: Option<i64>| v.map_or_else(|| "nil".into(), |v| v.to_string());
    FlatBuilder::default()
        .str("Min", &or_nil(w.min))
        .str("Max", &or_nil(w.max))
        .build()
}

pub(super) fn change_script(c: &ChangeScript) -> Flat {
    FlatBuilder::default()
        .str("Command", &c.command)
        .int("Timeout", c.timeout)
        .bool("FailOnError", c.fail_on_error)
        .bool("RunOnFirstRender", false)
        .build()
}

pub(super) fn identity(w: &WorkloadIdentity) -> Flat {
    FlatBuilder::default()
        .str("Name", &w.name)
        .str("ChangeMode", &w.change_mode)
        .str("ChangeSignal", &w.change_signal)
        .bool("Env", w.env)
        .bool("File", w.file)
        .str("Filepath", &w.filepath)
        .str("ServiceName", &w.service_name)
        .int("TTL", w.ttl)
        .build()
}

pub(super) fn volume_mount(v: &VolumeMount) -> Flat {
    FlatBuilder::default()
        .str("Volume", &v.volume)
        .str("Destination", &v.destination)
        .bool("ReadOnly", v.read_only)
        .str("PropagationMode", &v.propagation_mode)
        .str("SELinuxLabel", &v.selinux_label)
        .build()
}

pub(super) fn volume_request(v: &VolumeRequest) -> Flat {
    FlatBuilder::default()
        .str("Name", &v.name)
        .str("Type", &v.volume_type)
        .str("Source", &v.source)
        .bool("ReadOnly", v.read_only)
        .bool("Sticky", v.sticky)
        .str("AccessMode", &v.access_mode)
        .str("AttachmentMode", &v.attachment_mode)
        .bool("PerAlloc", v.per_alloc)
        .build()
}

pub(super) fn periodic(p: &PeriodicConfig) -> Flat {
    FlatBuilder::default()
        .opt_bool("Enabled", p.enabled)
        .str("Spec", &p.spec)
        .str("SpecType", &p.spec_type)
        .bool("ProhibitOverlap", p.prohibit_overlap)
        .str("TimeZone", &p.time_zone)
        .build()
}

pub(super) fn parameterized(p: &ParameterizedJobConfig) -> Flat {
    FlatBuilder::default().str("Payload", &p.payload).build()
}

pub(super) fn ui(u: &JobUiConfig) -> Flat {
    FlatBuilder::default()
        .str("Description", &u.description)
        .build()
}

/// Nomad's Go field is `Url` (the API's JSON says `URL`).
pub(super) fn ui_link(l: &JobUiLink) -> Flat {
    FlatBuilder::default()
        .str("Label", &l.label)
        .str("Url", &l.url)
        .build()
}
