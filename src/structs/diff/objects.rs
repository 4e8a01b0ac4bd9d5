//! Diffs of the nested objects, each with Nomad's name, matching rule and children.

use std::collections::BTreeMap;

use super::engine::{
    field_diffs, json_map_diff, match_items, object_diff, primitive_object_diff, sort_objects,
    string_set_diff, Flat,
};
use super::job::by_position;
use super::{flatten as fl, DiffType, ObjectDiff};
use crate::structs::{
    CniConfig, DnsConfig, JobUiConfig, JobUiLink, NetworkResource, ParameterizedJobConfig,
    PeriodicConfig, Port, RequestedDevice, Resources, ScalingPolicy, Service, ServiceCheck,
    Template, VolumeMount, VolumeRequest, WorkloadIdentity,
};

pub(super) fn periodic(
    old: Option<&PeriodicConfig>,
    new: Option<&PeriodicConfig>,
    contextual: bool,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "Periodic", contextual, fl::periodic)?;
    let (o, n) = (
        old.cloned().unwrap_or_default(),
        new.cloned().unwrap_or_default(),
    );
    diff.objects.extend(
        string_set_diff(&o.specs, &n.specs, "Specs", contextual)
            .filter(|d| d.diff_type != DiffType::None),
    );
    Some(diff)
}

pub(super) fn parameterized(
    old: Option<&ParameterizedJobConfig>,
    new: Option<&ParameterizedJobConfig>,
    contextual: bool,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "ParameterizedJob", contextual, fl::parameterized)?;
    let (o, n) = (
        old.cloned().unwrap_or_default(),
        new.cloned().unwrap_or_default(),
    );
    diff.objects.extend(string_set_diff(
        &o.meta_optional,
        &n.meta_optional,
        "MetaOptional",
        contextual,
    ));
    diff.objects.extend(string_set_diff(
        &o.meta_required,
        &n.meta_required,
        "MetaRequired",
        contextual,
    ));
    Some(diff)
}

pub(super) fn ui(
    old: Option<&JobUiConfig>,
    new: Option<&JobUiConfig>,
    contextual: bool,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "UI", contextual, fl::ui)?;
    let (o, n) = (
        old.cloned().unwrap_or_default(),
        new.cloned().unwrap_or_default(),
    );
    let empty = JobUiLink::default();
    diff.objects = by_position(&o.links, &n.links, |a, b| {
        // A missing link compares as an empty one, but is then marked added or deleted.
        let (pa, pb) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
        let mut link = object_diff(Some(pa), Some(pb), "Link", contextual, fl::ui_link)?;
        if a.is_none() {
            link.diff_type = DiffType::Added;
        } else if b.is_none() {
            link.diff_type = DiffType::Deleted;
        }
        Some(link)
    });
    Some(diff)
}

/// Networks have no identity: any change shows as the old one deleted and the new one
/// added.
pub(super) fn networks(
    old: &[NetworkResource],
    new: &[NetworkResource],
    contextual: bool,
) -> Vec<ObjectDiff> {
    let mut out = Vec::new();
    let mut seen: Vec<&NetworkResource> = Vec::new();
    for o in old {
        if !new.contains(o) && !seen.contains(&o) {
            seen.push(o);
            out.extend(network(Some(o), None, contextual));
        }
    }
    for n in new {
        if !old.contains(n) && !seen.contains(&n) {
            seen.push(n);
            out.extend(network(None, Some(n), contextual));
        }
    }
    sort_objects(&mut out);
    out
}

fn network(
    old: Option<&NetworkResource>,
    new: Option<&NetworkResource>,
    contextual: bool,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "Network", contextual, fl::network)?;
    let empty = NetworkResource::default();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    diff.objects.extend(ports(
        &o.reserved_ports,
        &n.reserved_ports,
        false,
        contextual,
    ));
    diff.objects
        .extend(ports(&o.dynamic_ports, &n.dynamic_ports, true, contextual));
    diff.objects
        .extend(dns(o.dns.as_ref(), n.dns.as_ref(), contextual));
    let no_cni = CniConfig::default();
    let (oc, nc) = (
        o.cni.as_ref().unwrap_or(&no_cni),
        n.cni.as_ref().unwrap_or(&no_cni),
    );
    if oc != nc {
        diff.objects.extend(primitive_object_diff(
            Some(oc.args.clone()),
            Some(nc.args.clone()),
            "CNIConfig",
            contextual,
        ));
    }
    Some(diff)
}

/// Ports matched by label.
fn ports(old: &[Port], new: &[Port], dynamic: bool, contextual: bool) -> Vec<ObjectDiff> {
    let name = if dynamic {
        "Dynamic Port"
    } else {
        "Static Port"
    };
    let by_label = |ps: &[Port]| -> BTreeMap<String, Flat> {
        ps.iter()
            .map(|p| (p.label.clone(), fl::port(p, dynamic)))
            .collect()
    };
    let (mut old, new) = (by_label(old), by_label(new));
    let mut out: Vec<ObjectDiff> = new
        .iter()
        .filter_map(|(label, n)| {
            primitive_object_diff(old.remove(label), Some(n.clone()), name, contextual)
        })
        .collect();
    out.extend(
        old.into_values()
            .filter_map(|o| primitive_object_diff(Some(o), None, name, contextual)),
    );
    sort_objects(&mut out);
    out
}

fn dns(old: Option<&DnsConfig>, new: Option<&DnsConfig>, contextual: bool) -> Option<ObjectDiff> {
    object_diff(old, new, "DNS", contextual, |d| {
        let mut flat = Flat::new();
        for (name, list) in [
            ("Servers", &d.servers),
            ("Searches", &d.searches),
            ("Options", &d.options),
        ] {
            if !list.is_empty() {
                flat.insert(name.into(), list.join(","));
            }
        }
        flat
    })
}

/// Nomad compares scaling fields and policy without context.
pub(super) fn scaling(
    old: Option<&ScalingPolicy>,
    new: Option<&ScalingPolicy>,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "Scaling", false, fl::scaling)?;
    let empty = serde_json::Map::new();
    let policy = |s: Option<&ScalingPolicy>| s.map_or(&empty, |s| &s.policy).clone();
    diff.objects
        .extend(json_map_diff(&policy(old), &policy(new), "Policy", false));
    Some(diff)
}

/// Services have no identity either: each old one is paired with the unmatched new one
/// scoring highest on name (3), port label (2) and position (1), if above 2.
pub(super) fn services(old: &[Service], new: &[Service], contextual: bool) -> Vec<ObjectDiff> {
    if let ([o], [n]) = (old, new) {
        return service(Some(o), Some(n), contextual).into_iter().collect();
    }
    let matches = match_items(old, new, |oi, o, ni, n| {
        let score = u32::from(oi == ni)
            + 2 * u32::from(o.port_label == n.port_label)
            + 3 * u32::from(o.name == n.name);
        (score > 2).then_some(score)
    });
    let mut out = Vec::new();
    for (o, m) in old.iter().zip(&matches) {
        out.extend(service(Some(o), m.map(|i| &new[i]), contextual));
    }
    for (i, n) in new.iter().enumerate() {
        if !matches.contains(&Some(i)) {
            out.extend(service(None, Some(n), contextual));
        }
    }
    sort_objects(&mut out);
    out
}

fn service(old: Option<&Service>, new: Option<&Service>, contextual: bool) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "Service", contextual, fl::service)?;
    let empty = Service::default();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    diff.objects.extend(string_set_diff(
        &o.canary_tags,
        &n.canary_tags,
        "CanaryTags",
        contextual,
    ));
    diff.objects
        .extend(string_set_diff(&o.tags, &n.tags, "Tags", contextual));
    diff.objects
        .extend(checks(&o.checks, &n.checks, contextual));
    Some(diff)
}

/// Checks matched by name.
fn checks(old: &[ServiceCheck], new: &[ServiceCheck], contextual: bool) -> Vec<ObjectDiff> {
    let old: BTreeMap<&String, &ServiceCheck> = old.iter().map(|c| (&c.name, c)).collect();
    let new: BTreeMap<&String, &ServiceCheck> = new.iter().map(|c| (&c.name, c)).collect();
    let mut out: Vec<ObjectDiff> = old
        .iter()
        .filter_map(|(k, o)| check(Some(o), new.get(k).copied(), contextual))
        .collect();
    out.extend(
        new.iter()
            .filter(|(k, _)| !old.contains_key(*k))
            .filter_map(|(_, n)| check(None, Some(n), contextual)),
    );
    sort_objects(&mut out);
    out
}

fn check(
    old: Option<&ServiceCheck>,
    new: Option<&ServiceCheck>,
    contextual: bool,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "Check", contextual, fl::check)?;
    let empty = ServiceCheck::default();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    if o.header != n.header {
        let diff_type = if o.header.is_empty() {
            DiffType::Added
        } else if n.header.is_empty() {
            DiffType::Deleted
        } else {
            DiffType::Edited
        };
        diff.objects.push(ObjectDiff {
            diff_type,
            name: "Header".into(),
            fields: field_diffs(
                Some(&fl::header(&o.header)),
                Some(&fl::header(&n.header)),
                contextual,
            ),
            objects: Vec::new(),
        });
    }
    diff.objects.extend(object_diff(
        o.check_restart.as_ref(),
        n.check_restart.as_ref(),
        "CheckRestart",
        contextual,
        fl::check_restart,
    ));
    Some(diff)
}

/// Group volume requests, by name.
pub(super) fn volumes(
    old: &BTreeMap<String, VolumeRequest>,
    new: &BTreeMap<String, VolumeRequest>,
    contextual: bool,
) -> Vec<ObjectDiff> {
    let mut out: Vec<ObjectDiff> = old
        .iter()
        .filter_map(|(k, o)| {
            object_diff(
                Some(o),
                new.get(k),
                "Volume",
                contextual,
                fl::volume_request,
            )
        })
        .collect();
    out.extend(
        new.iter()
            .filter(|(k, _)| !old.contains_key(*k))
            .filter_map(|(_, n)| {
                object_diff(None, Some(n), "Volume", contextual, fl::volume_request)
            }),
    );
    out
}

pub(super) fn resources(
    old: Option<&Resources>,
    new: Option<&Resources>,
    contextual: bool,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "Resources", contextual, fl::resources)?;
    let empty = Resources::default();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    diff.objects
        .extend(networks(&o.networks, &n.networks, contextual));
    diff.objects
        .extend(devices(&o.devices, &n.devices, contextual));
    Some(diff)
}

/// Requested devices, by name.
fn devices(old: &[RequestedDevice], new: &[RequestedDevice], contextual: bool) -> Vec<ObjectDiff> {
    let old: BTreeMap<&String, &RequestedDevice> = old.iter().map(|d| (&d.name, d)).collect();
    let new: BTreeMap<&String, &RequestedDevice> = new.iter().map(|d| (&d.name, d)).collect();
    let mut out: Vec<ObjectDiff> = old
        .iter()
        .filter_map(|(k, o)| {
            object_diff(
                Some(*o),
                new.get(k).copied(),
                "Device",
                contextual,
                fl::device,
            )
        })
        .collect();
    out.extend(
        new.iter()
            .filter(|(k, _)| !old.contains_key(*k))
            .filter_map(|(_, n)| object_diff(None, Some(*n), "Device", contextual, fl::device)),
    );
    sort_objects(&mut out);
    out
}

/// Templates are matched by destination (a lone pair is compared directly).
pub(super) fn templates(old: &[Template], new: &[Template], contextual: bool) -> Vec<ObjectDiff> {
    if let ([o], [n]) = (old, new) {
        return template(Some(o), Some(n), contextual).into_iter().collect();
    }
    let matches = match_items(old, new, |_, o, _, n| {
        (o.dest_path == n.dest_path).then_some(1)
    });
    let mut out = Vec::new();
    for (o, m) in old.iter().zip(&matches) {
        out.extend(template(Some(o), m.map(|i| &new[i]), contextual));
    }
    for (i, n) in new.iter().enumerate() {
        if !matches.contains(&Some(i)) {
            out.extend(template(None, Some(n), contextual));
        }
    }
    sort_objects(&mut out);
    out
}

fn template(
    old: Option<&Template>,
    new: Option<&Template>,
    contextual: bool,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "Template", contextual, fl::template)?;
    let empty = Template::default();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    // Nomad names the wait block's diff "Template" too; kept for identical output.
    diff.objects.extend(object_diff(
        o.wait.as_ref(),
        n.wait.as_ref(),
        "Template",
        contextual,
        fl::wait_config,
    ));
    if let Some(mut script) = object_diff(
        o.change_script.as_ref(),
        n.change_script.as_ref(),
        "ChangeScript",
        contextual,
        fl::change_script,
    ) {
        let args = |c: Option<&crate::structs::ChangeScript>| {
            c.map(|c| c.args.clone()).unwrap_or_default()
        };
        script.objects.extend(string_set_diff(
            &args(o.change_script.as_ref()),
            &args(n.change_script.as_ref()),
            "Args",
            contextual,
        ));
        diff.objects.push(script);
    }
    Some(diff)
}

pub(super) fn identity(
    old: Option<&WorkloadIdentity>,
    new: Option<&WorkloadIdentity>,
    contextual: bool,
) -> Option<ObjectDiff> {
    let mut diff = object_diff(old, new, "Identity", contextual, fl::identity)?;
    let empty = WorkloadIdentity::default();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    diff.objects.extend(string_set_diff(
        &o.audience,
        &n.audience,
        "Audience",
        contextual,
    ));
    Some(diff)
}

/// Alternate identities, by name.
pub(super) fn identities(
    old: &[WorkloadIdentity],
    new: &[WorkloadIdentity],
    contextual: bool,
) -> Vec<ObjectDiff> {
    let old: BTreeMap<&String, &WorkloadIdentity> = old.iter().map(|w| (&w.name, w)).collect();
    let new: BTreeMap<&String, &WorkloadIdentity> = new.iter().map(|w| (&w.name, w)).collect();
    let mut out: Vec<ObjectDiff> = old
        .iter()
        .filter_map(|(k, o)| identity(Some(o), new.get(k).copied(), contextual))
        .collect();
    out.extend(
        new.iter()
            .filter(|(k, _)| !old.contains_key(*k))
            .filter_map(|(_, n)| identity(None, Some(n), contextual)),
    );
    sort_objects(&mut out);
    out
}

pub(super) fn volume_mounts(
    old: &[VolumeMount],
    new: &[VolumeMount],
    contextual: bool,
) -> Vec<ObjectDiff> {
    by_position(old, new, |o, n| {
        object_diff(o, n, "VolumeMount", contextual, fl::volume_mount)
    })
}
