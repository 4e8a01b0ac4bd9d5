//! The `task` block.

use hcl::edit::structure::Block;

use crate::structs::{
    ChangeScript, DispatchPayloadConfig, LogConfig, RequestedDevice, Resources, Task, TaskArtifact,
    TaskLifecycle, Template, VolumeMount, WaitConfig, WorkloadIdentity,
};

use super::blocks::{self, child};
use super::body::{Ctx, Fields};

pub fn task(ctx: &mut Ctx, block: &Block, parent: &str) -> Option<Task> {
    let name = ctx.label(block, parent)?;
    let path = child(parent, block, Some(&name));
    let mut f = Fields::new(&block.body, path.clone());
    let mut t = Task {
        driver: ctx.string(&mut f, "driver").unwrap_or_default(),
        user: ctx.string(&mut f, "user").unwrap_or_default(),
        env: ctx.string_map(&mut f, "env").unwrap_or_default(),
        meta: ctx.string_map(&mut f, "meta").unwrap_or_default(),
        kill_timeout: ctx.duration(&mut f, "kill_timeout").unwrap_or_default(),
        kill_signal: ctx.string(&mut f, "kill_signal").unwrap_or_default(),
        shutdown_delay: ctx.duration(&mut f, "shutdown_delay").unwrap_or_default(),
        leader: ctx.bool(&mut f, "leader").unwrap_or_default(),
        kind: ctx.string(&mut f, "kind").unwrap_or_default(),
        name,
        ..Default::default()
    };
    if let Some(b) = ctx.single(&mut f, "config") {
        t.config = ctx.free_form(&b.body, &child(&path, b, None));
    }
    for b in f.blocks("constraint") {
        t.constraints.push(blocks::constraint(ctx, b, &path));
    }
    for b in f.blocks("affinity") {
        t.affinities.push(blocks::affinity(ctx, b, &path));
    }
    for b in f.blocks("service") {
        t.services.push(blocks::service(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "restart") {
        t.restart_policy = Some(blocks::restart(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "resources") {
        t.resources = Some(resources(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "logs") {
        let mut lf = Fields::new(&b.body, child(&path, b, None));
        let enabled = ctx.bool(&mut lf, "enabled");
        t.log_config = Some(LogConfig {
            max_files: ctx.int(&mut lf, "max_files"),
            max_file_size_mb: ctx.int(&mut lf, "max_file_size"),
            disabled: ctx.bool(&mut lf, "disabled").or(enabled.map(|e| !e)),
        });
        ctx.finish(lf);
    }
    if let Some(b) = ctx.single(&mut f, "lifecycle") {
        let mut lf = Fields::new(&b.body, child(&path, b, None));
        t.lifecycle = Some(TaskLifecycle {
            hook: ctx.string(&mut lf, "hook").unwrap_or_default(),
            sidecar: ctx.bool(&mut lf, "sidecar").unwrap_or_default(),
        });
        ctx.finish(lf);
    }
    if let Some(b) = ctx.single(&mut f, "dispatch_payload") {
        let mut df = Fields::new(&b.body, child(&path, b, None));
        t.dispatch_payload = Some(DispatchPayloadConfig {
            file: ctx.string(&mut df, "file").unwrap_or_default(),
        });
        ctx.finish(df);
    }
    for b in f.blocks("artifact") {
        ctx.no_labels(b, &path);
        let mut af = Fields::new(&b.body, child(&path, b, None));
        t.artifacts.push(TaskArtifact {
            getter_source: ctx.string(&mut af, "source").unwrap_or_default(),
            getter_options: ctx.string_map(&mut af, "options").unwrap_or_default(),
            getter_headers: ctx.string_map(&mut af, "headers").unwrap_or_default(),
            getter_mode: ctx.string(&mut af, "mode").unwrap_or_default(),
            getter_insecure: ctx.bool(&mut af, "insecure").unwrap_or_default(),
            relative_dest: ctx.string(&mut af, "destination").unwrap_or_default(),
            chown: ctx.bool(&mut af, "chown").unwrap_or_default(),
        });
        ctx.finish(af);
    }
    for b in f.blocks("template") {
        ctx.no_labels(b, &path);
        t.templates.push(template(ctx, b, &path));
    }
    for b in f.blocks("volume_mount") {
        ctx.no_labels(b, &path);
        let mut vf = Fields::new(&b.body, child(&path, b, None));
        t.volume_mounts.push(VolumeMount {
            volume: ctx.string(&mut vf, "volume").unwrap_or_default(),
            destination: ctx.string(&mut vf, "destination").unwrap_or_default(),
            read_only: ctx.bool(&mut vf, "read_only").unwrap_or_default(),
            propagation_mode: ctx.string(&mut vf, "propagation_mode").unwrap_or_default(),
            selinux_label: ctx.string(&mut vf, "selinux_label").unwrap_or_default(),
        });
        ctx.finish(vf);
    }
    for b in f.blocks("identity") {
        let mut idf = Fields::new(&b.body, child(&path, b, None));
        let identity = WorkloadIdentity {
            name: ctx.string(&mut idf, "name").unwrap_or_default(),
            audience: ctx.strings(&mut idf, "aud").unwrap_or_default(),
            change_mode: ctx.string(&mut idf, "change_mode").unwrap_or_default(),
            change_signal: ctx.string(&mut idf, "change_signal").unwrap_or_default(),
            env: ctx.bool(&mut idf, "env").unwrap_or_default(),
            file: ctx.bool(&mut idf, "file").unwrap_or_default(),
            filepath: ctx.string(&mut idf, "filepath").unwrap_or_default(),
            service_name: ctx.string(&mut idf, "service_name").unwrap_or_default(),
            ttl: ctx.duration(&mut idf, "ttl").unwrap_or_default(),
        };
        ctx.finish(idf);
        // The unnamed (or "default") identity is the task's own, as in Nomad.
        if (identity.name.is_empty() || identity.name == "default") && t.identity.is_none() {
            t.identity = Some(identity);
        } else {
            t.identities.push(identity);
        }
    }
    ctx.finish(f);
    Some(t)
}

fn resources(ctx: &mut Ctx, block: &Block, parent: &str) -> Resources {
    let path = child(parent, block, None);
    let mut f = Fields::new(&block.body, path.clone());
    let mut r = Resources {
        cpu: ctx.int(&mut f, "cpu"),
        cores: ctx.int(&mut f, "cores"),
        memory_mb: ctx.int(&mut f, "memory"),
        memory_max_mb: ctx.int(&mut f, "memory_max").unwrap_or_default(),
        disk_mb: ctx.int(&mut f, "disk").unwrap_or_default(),
        iops: ctx.int(&mut f, "iops").unwrap_or_default(),
        secrets_mb: ctx.int(&mut f, "secrets").unwrap_or_default(),
        ..Default::default()
    };
    for b in f.blocks("network") {
        r.networks.push(blocks::network(ctx, b, &path));
    }
    for b in f.blocks("device") {
        let Some(name) = ctx.label(b, &path) else {
            continue;
        };
        let dpath = child(&path, b, Some(&name));
        let mut df = Fields::new(&b.body, dpath.clone());
        let mut device = RequestedDevice {
            name,
            count: ctx.int(&mut df, "count").map(|c| c.max(0) as u64),
            ..Default::default()
        };
        for c in df.blocks("constraint") {
            device.constraints.push(blocks::constraint(ctx, c, &dpath));
        }
        for a in df.blocks("affinity") {
            device.affinities.push(blocks::affinity(ctx, a, &dpath));
        }
        ctx.finish(df);
        r.devices.push(device);
    }
    ctx.finish(f);
    r
}

fn template(ctx: &mut Ctx, block: &Block, parent: &str) -> Template {
    let path = child(parent, block, None);
    let mut f = Fields::new(&block.body, path.clone());
    let mut t = Template {
        source_path: ctx.string(&mut f, "source").unwrap_or_default(),
        dest_path: ctx.string(&mut f, "destination").unwrap_or_default(),
        embedded_tmpl: ctx.string(&mut f, "data").unwrap_or_default(),
        change_mode: ctx.string(&mut f, "change_mode").unwrap_or_default(),
        change_signal: ctx.string(&mut f, "change_signal").unwrap_or_default(),
        splay: ctx.duration(&mut f, "splay"),
        perms: ctx.string(&mut f, "perms").unwrap_or_default(),
        uid: ctx.int(&mut f, "uid"),
        gid: ctx.int(&mut f, "gid"),
        left_delim: ctx.string(&mut f, "left_delimiter").unwrap_or_default(),
        right_delim: ctx.string(&mut f, "right_delimiter").unwrap_or_default(),
        envvars: ctx.bool(&mut f, "env").unwrap_or_default(),
        vault_grace: ctx.duration(&mut f, "vault_grace").unwrap_or_default(),
        err_missing_key: ctx.bool(&mut f, "error_on_missing_key").unwrap_or_default(),
        once: ctx.bool(&mut f, "once").unwrap_or_default(),
        ..Default::default()
    };
    if let Some(b) = ctx.single(&mut f, "change_script") {
        let mut cf = Fields::new(&b.body, child(&path, b, None));
        t.change_script = Some(ChangeScript {
            command: ctx.string(&mut cf, "command").unwrap_or_default(),
            args: ctx.strings(&mut cf, "args").unwrap_or_default(),
            timeout: ctx.duration(&mut cf, "timeout").unwrap_or_default(),
            fail_on_error: ctx.bool(&mut cf, "fail_on_error").unwrap_or_default(),
        });
        ctx.finish(cf);
    }
    if let Some(b) = ctx.single(&mut f, "wait") {
        let mut wf = Fields::new(&b.body, child(&path, b, None));
        t.wait = Some(WaitConfig {
            min: ctx.duration(&mut wf, "min"),
            max: ctx.duration(&mut wf, "max"),
        });
        ctx.finish(wf);
    }
    ctx.finish(f);
    t
}
