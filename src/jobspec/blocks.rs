//! Blocks used at several levels: placement rules, policies, networks, services.

use hcl::edit::structure::Block;

use crate::structs::{
    Affinity, CheckRestart, Constraint, DnsConfig, EphemeralDisk, MigrateStrategy, NetworkResource,
    Port, ReschedulePolicy, RestartPolicy, Service, ServiceCheck, Spread, SpreadTarget,
    UpdateStrategy,
};

use super::body::{block_span, Ctx, Fields};

/// A child path: `job "redis" > group "cache"`.
pub fn child(path: &str, block: &Block, label: Option<&str>) -> String {
    match label {
        Some(l) => format!("{path} > {} {l:?}", block.ident.as_str()),
        None => format!("{path} > {}", block.ident.as_str()),
    }
}

/// `constraint` with Nomad's shorthands (`version = …`, `distinct_hosts = true`, …).
pub fn constraint(ctx: &mut Ctx, block: &Block, path: &str) -> Constraint {
    ctx.no_labels(block, path);
    let mut f = Fields::new(&block.body, child(path, block, None));
    let mut c = Constraint {
        l_target: ctx.string(&mut f, "attribute").unwrap_or_default(),
        r_target: ctx.string(&mut f, "value").unwrap_or_default(),
        operand: ctx.string(&mut f, "operator").unwrap_or_default(),
    };
    for op in [
        "version",
        "semver",
        "regexp",
        "set_contains",
        "set_contains_all",
        "set_contains_any",
    ] {
        if let Some(v) = ctx.string(&mut f, op).filter(|v| !v.is_empty()) {
            c.operand = op.into();
            c.r_target = v;
        }
    }
    if let Some(b) = ctx.bool(&mut f, "distinct_hosts") {
        c.operand = "distinct_hosts".into();
        c.r_target = b.to_string();
    }
    if let Some(p) = ctx
        .string(&mut f, "distinct_property")
        .filter(|p| !p.is_empty())
    {
        c.operand = "distinct_property".into();
        c.l_target = p;
    }
    if c.operand.is_empty() {
        c.operand = "=".into();
    }
    ctx.finish(f);
    c
}

pub fn affinity(ctx: &mut Ctx, block: &Block, path: &str) -> Affinity {
    ctx.no_labels(block, path);
    let mut f = Fields::new(&block.body, child(path, block, None));
    let mut a = Affinity {
        l_target: ctx.string(&mut f, "attribute").unwrap_or_default(),
        r_target: ctx.string(&mut f, "value").unwrap_or_default(),
        operand: ctx.string(&mut f, "operator").unwrap_or_default(),
        weight: ctx.int(&mut f, "weight"),
    };
    for op in [
        "version",
        "semver",
        "regexp",
        "set_contains_any",
        "set_contains_all",
        "set_contains",
    ] {
        if let Some(v) = ctx.string(&mut f, op).filter(|v| !v.is_empty()) {
            a.operand = op.into();
            a.r_target = v;
        }
    }
    if a.operand.is_empty() {
        a.operand = "=".into();
    }
    ctx.finish(f);
    a
}

pub fn spread(ctx: &mut Ctx, block: &Block, path: &str) -> Spread {
    ctx.no_labels(block, path);
    let path = child(path, block, None);
    let mut f = Fields::new(&block.body, path.clone());
    let mut s = Spread {
        attribute: ctx.string(&mut f, "attribute").unwrap_or_default(),
        weight: ctx.int(&mut f, "weight"),
        spread_target: Vec::new(),
    };
    for t in f.blocks("target") {
        let Some(value) = ctx.label(t, &path) else {
            continue;
        };
        let mut tf = Fields::new(&t.body, child(&path, t, Some(&value)));
        let percent = ctx.int(&mut tf, "percent").unwrap_or_default();
        ctx.finish(tf);
        s.spread_target.push(SpreadTarget { value, percent });
    }
    ctx.finish(f);
    s
}

pub fn update(ctx: &mut Ctx, block: &Block, path: &str) -> UpdateStrategy {
    let mut f = Fields::new(&block.body, child(path, block, None));
    let u = UpdateStrategy {
        stagger: ctx.duration(&mut f, "stagger"),
        max_parallel: ctx.int(&mut f, "max_parallel"),
        health_check: ctx.string(&mut f, "health_check"),
        min_healthy_time: ctx.duration(&mut f, "min_healthy_time"),
        healthy_deadline: ctx.duration(&mut f, "healthy_deadline"),
        progress_deadline: ctx.duration(&mut f, "progress_deadline"),
        canary: ctx.int(&mut f, "canary"),
        auto_revert: ctx.bool(&mut f, "auto_revert"),
        auto_promote: ctx.bool(&mut f, "auto_promote"),
    };
    ctx.finish(f);
    u
}

pub fn migrate(ctx: &mut Ctx, block: &Block, path: &str) -> MigrateStrategy {
    let mut f = Fields::new(&block.body, child(path, block, None));
    let m = MigrateStrategy {
        max_parallel: ctx.int(&mut f, "max_parallel"),
        health_check: ctx.string(&mut f, "health_check"),
        min_healthy_time: ctx.duration(&mut f, "min_healthy_time"),
        healthy_deadline: ctx.duration(&mut f, "healthy_deadline"),
    };
    ctx.finish(f);
    m
}

pub fn restart(ctx: &mut Ctx, block: &Block, path: &str) -> RestartPolicy {
    let mut f = Fields::new(&block.body, child(path, block, None));
    let r = RestartPolicy {
        attempts: ctx.int(&mut f, "attempts"),
        interval: ctx.duration(&mut f, "interval"),
        delay: ctx.duration(&mut f, "delay"),
        mode: ctx.string(&mut f, "mode"),
        render_templates: ctx.bool(&mut f, "render_templates"),
    };
    ctx.finish(f);
    r
}

pub fn reschedule(ctx: &mut Ctx, block: &Block, path: &str) -> ReschedulePolicy {
    let mut f = Fields::new(&block.body, child(path, block, None));
    let r = ReschedulePolicy {
        attempts: ctx.int(&mut f, "attempts"),
        interval: ctx.duration(&mut f, "interval"),
        delay: ctx.duration(&mut f, "delay"),
        delay_function: ctx.string(&mut f, "delay_function"),
        max_delay: ctx.duration(&mut f, "max_delay"),
        unlimited: ctx.bool(&mut f, "unlimited"),
    };
    ctx.finish(f);
    r
}

pub fn ephemeral_disk(ctx: &mut Ctx, block: &Block, path: &str) -> EphemeralDisk {
    let mut f = Fields::new(&block.body, child(path, block, None));
    let d = EphemeralDisk {
        sticky: ctx.bool(&mut f, "sticky").unwrap_or_default(),
        size_mb: ctx.int(&mut f, "size"),
        migrate: ctx.bool(&mut f, "migrate").unwrap_or_default(),
    };
    ctx.finish(f);
    d
}

/// `network`: every `port "label"` is dynamic unless it has `static`, then reserved.
pub fn network(ctx: &mut Ctx, block: &Block, path: &str) -> NetworkResource {
    ctx.no_labels(block, path);
    let path = child(path, block, None);
    let mut f = Fields::new(&block.body, path.clone());
    let mut n = NetworkResource {
        mode: ctx.string(&mut f, "mode").unwrap_or_default(),
        device: ctx.string(&mut f, "device").unwrap_or_default(),
        cidr: ctx.string(&mut f, "cidr").unwrap_or_default(),
        ip: ctx.string(&mut f, "ip").unwrap_or_default(),
        hostname: ctx.string(&mut f, "hostname").unwrap_or_default(),
        mbits: ctx.int(&mut f, "mbits").unwrap_or_default(),
        ..Default::default()
    };
    if let Some(dns) = ctx.single(&mut f, "dns") {
        let mut df = Fields::new(&dns.body, child(&path, dns, None));
        n.dns = Some(DnsConfig {
            servers: ctx.strings(&mut df, "servers").unwrap_or_default(),
            searches: ctx.strings(&mut df, "searches").unwrap_or_default(),
            options: ctx.strings(&mut df, "options").unwrap_or_default(),
        });
        ctx.finish(df);
    }
    if let Some(cni) = ctx.single(&mut f, "cni") {
        let mut cf = Fields::new(&cni.body, child(&path, cni, None));
        n.cni = Some(crate::structs::CniConfig {
            args: ctx.string_map(&mut cf, "args").unwrap_or_default(),
        });
        ctx.finish(cf);
    }
    for p in f.blocks("port") {
        let Some(label) = ctx.label(p, &path) else {
            continue;
        };
        let ppath = child(&path, p, Some(&label));
        if n.ports()
            .any(|existing| existing.label.eq_ignore_ascii_case(&label))
        {
            ctx.error(
                block_span(p),
                format!("{path}: found a port label collision: {label}"),
            );
        }
        let mut pf = Fields::new(&p.body, ppath);
        let port = Port {
            label,
            value: ctx.int(&mut pf, "static").unwrap_or_default(),
            to: ctx.int(&mut pf, "to").unwrap_or_default(),
            host_network: ctx.string(&mut pf, "host_network").unwrap_or_default(),
            ignore_collision: ctx.bool(&mut pf, "ignore_collision").unwrap_or_default(),
        };
        ctx.finish(pf);
        if port.value > 0 {
            n.reserved_ports.push(port);
        } else {
            n.dynamic_ports.push(port);
        }
    }
    ctx.finish(f);
    n
}

fn check_restart(ctx: &mut Ctx, block: &Block, path: &str) -> CheckRestart {
    let mut f = Fields::new(&block.body, child(path, block, None));
    let c = CheckRestart {
        limit: ctx.int(&mut f, "limit").unwrap_or_default(),
        grace: ctx.duration(&mut f, "grace"),
        ignore_warnings: ctx.bool(&mut f, "ignore_warnings").unwrap_or_default(),
    };
    ctx.finish(f);
    c
}

pub fn service(ctx: &mut Ctx, block: &Block, path: &str) -> Service {
    ctx.no_labels(block, path);
    let path = child(path, block, None);
    let mut f = Fields::new(&block.body, path.clone());
    let mut s = Service {
        name: ctx.string(&mut f, "name").unwrap_or_default(),
        tags: ctx.strings(&mut f, "tags").unwrap_or_default(),
        canary_tags: ctx.strings(&mut f, "canary_tags").unwrap_or_default(),
        enable_tag_override: ctx.bool(&mut f, "enable_tag_override").unwrap_or_default(),
        port_label: ctx.string(&mut f, "port").unwrap_or_default(),
        address_mode: ctx.string(&mut f, "address_mode").unwrap_or_default(),
        address: ctx.string(&mut f, "address").unwrap_or_default(),
        task_name: ctx.string(&mut f, "task").unwrap_or_default(),
        on_update: ctx.string(&mut f, "on_update").unwrap_or_default(),
        provider: ctx.string(&mut f, "provider").unwrap_or_default(),
        cluster: ctx.string(&mut f, "cluster").unwrap_or_default(),
        meta: ctx.string_map(&mut f, "meta").unwrap_or_default(),
        canary_meta: ctx.string_map(&mut f, "canary_meta").unwrap_or_default(),
        tagged_addresses: ctx
            .string_map(&mut f, "tagged_addresses")
            .unwrap_or_default(),
        ..Default::default()
    };
    f.attr("kind");
    if let Some(b) = ctx.single(&mut f, "check_restart") {
        s.check_restart = Some(check_restart(ctx, b, &path));
    }
    for c in f.blocks("check") {
        ctx.no_labels(c, &path);
        let cpath = child(&path, c, None);
        let mut cf = Fields::new(&c.body, cpath.clone());
        let mut check = ServiceCheck {
            name: ctx.string(&mut cf, "name").unwrap_or_default(),
            check_type: ctx.string(&mut cf, "type").unwrap_or_default(),
            command: ctx.string(&mut cf, "command").unwrap_or_default(),
            args: ctx.strings(&mut cf, "args").unwrap_or_default(),
            path: ctx.string(&mut cf, "path").unwrap_or_default(),
            protocol: ctx.string(&mut cf, "protocol").unwrap_or_default(),
            port_label: ctx.string(&mut cf, "port").unwrap_or_default(),
            expose: ctx.bool(&mut cf, "expose").unwrap_or_default(),
            address_mode: ctx.string(&mut cf, "address_mode").unwrap_or_default(),
            interval: ctx.duration(&mut cf, "interval").unwrap_or_default(),
            timeout: ctx.duration(&mut cf, "timeout").unwrap_or_default(),
            initial_status: ctx.string(&mut cf, "initial_status").unwrap_or_default(),
            tls_server_name: ctx.string(&mut cf, "tls_server_name").unwrap_or_default(),
            tls_skip_verify: ctx.bool(&mut cf, "tls_skip_verify").unwrap_or_default(),
            method: ctx.string(&mut cf, "method").unwrap_or_default(),
            grpc_service: ctx.string(&mut cf, "grpc_service").unwrap_or_default(),
            grpc_use_tls: ctx.bool(&mut cf, "grpc_use_tls").unwrap_or_default(),
            task_name: ctx.string(&mut cf, "task").unwrap_or_default(),
            success_before_passing: ctx
                .int(&mut cf, "success_before_passing")
                .unwrap_or_default(),
            failures_before_critical: ctx
                .int(&mut cf, "failures_before_critical")
                .unwrap_or_default(),
            failures_before_warning: ctx
                .int(&mut cf, "failures_before_warning")
                .unwrap_or_default(),
            body: ctx.string(&mut cf, "body").unwrap_or_default(),
            on_update: ctx.string(&mut cf, "on_update").unwrap_or_default(),
            ..Default::default()
        };
        cf.attr("advertise");
        cf.attr("notes");
        if let Some(h) = ctx.single(&mut cf, "header") {
            let mut hf = Fields::new(&h.body, child(&cpath, h, None));
            for attr in h.body.attributes() {
                let key = attr.key.as_str();
                if let Some(values) = ctx.strings(&mut hf, key) {
                    check.header.insert(key.to_string(), values);
                }
            }
            ctx.finish(hf);
        }
        if let Some(b) = ctx.single(&mut cf, "check_restart") {
            check.check_restart = Some(check_restart(ctx, b, &cpath));
        }
        ctx.finish(cf);
        s.checks.push(check);
    }
    ctx.finish(f);
    s
}
