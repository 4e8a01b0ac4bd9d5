//! The `job` block and its `group`s.

use hcl::edit::structure::Block;

use crate::structs::{
    DisconnectStrategy, Job, JobUiConfig, JobUiLink, ParameterizedJobConfig, PeriodicConfig,
    ScalingPolicy, TaskGroup, VolumeRequest,
};

use super::blocks::{self, child};
use super::body::{Ctx, Fields};
use super::task::task;

pub fn job(ctx: &mut Ctx, block: &Block) -> Job {
    let id = ctx.label(block, "job").unwrap_or_default();
    let path = format!("job {id:?}");
    let mut f = Fields::new(&block.body, path.clone());
    let mut job = Job {
        id: ctx.string(&mut f, "id").unwrap_or(id.clone()),
        name: ctx.string(&mut f, "name").unwrap_or(id),
        region: ctx.string(&mut f, "region").unwrap_or_default(),
        namespace: ctx.string(&mut f, "namespace").unwrap_or_default(),
        job_type: ctx.string(&mut f, "type").unwrap_or_default(),
        priority: ctx.int(&mut f, "priority").unwrap_or_default(),
        all_at_once: ctx.bool(&mut f, "all_at_once").unwrap_or_default(),
        datacenters: ctx.strings(&mut f, "datacenters").unwrap_or_default(),
        node_pool: ctx.string(&mut f, "node_pool").unwrap_or_default(),
        meta: ctx.string_map(&mut f, "meta").unwrap_or_default(),
        consul_namespace: ctx.string(&mut f, "consul_namespace").unwrap_or_default(),
        vault_namespace: ctx.string(&mut f, "vault_namespace").unwrap_or_default(),
        ..Default::default()
    };
    for b in f.blocks("constraint") {
        job.constraints.push(blocks::constraint(ctx, b, &path));
    }
    for b in f.blocks("affinity") {
        job.affinities.push(blocks::affinity(ctx, b, &path));
    }
    for b in f.blocks("spread") {
        job.spreads.push(blocks::spread(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "update") {
        job.update = Some(blocks::update(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "reschedule") {
        job.reschedule = Some(blocks::reschedule(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "migrate") {
        job.migrate = Some(blocks::migrate(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "periodic") {
        let mut pf = Fields::new(&b.body, child(&path, b, None));
        let spec = ctx.string(&mut pf, "cron").unwrap_or_default();
        let specs = ctx.strings(&mut pf, "crons").unwrap_or_default();
        job.periodic = Some(PeriodicConfig {
            enabled: ctx.bool(&mut pf, "enabled"),
            spec_type: if spec.is_empty() && specs.is_empty() {
                String::new()
            } else {
                "cron".into()
            },
            spec,
            specs,
            prohibit_overlap: ctx.bool(&mut pf, "prohibit_overlap").unwrap_or_default(),
            time_zone: ctx.string(&mut pf, "time_zone").unwrap_or_default(),
        });
        ctx.finish(pf);
    }
    if let Some(b) = ctx.single(&mut f, "parameterized") {
        let mut pf = Fields::new(&b.body, child(&path, b, None));
        job.parameterized_job = Some(ParameterizedJobConfig {
            payload: ctx.string(&mut pf, "payload").unwrap_or_default(),
            meta_required: ctx.strings(&mut pf, "meta_required").unwrap_or_default(),
            meta_optional: ctx.strings(&mut pf, "meta_optional").unwrap_or_default(),
        });
        ctx.finish(pf);
    }
    if let Some(b) = ctx.single(&mut f, "ui") {
        let upath = child(&path, b, None);
        let mut uf = Fields::new(&b.body, upath.clone());
        let mut ui = JobUiConfig {
            description: ctx.string(&mut uf, "description").unwrap_or_default(),
            links: Vec::new(),
        };
        for l in uf.blocks("link") {
            ctx.no_labels(l, &upath);
            let mut lf = Fields::new(&l.body, child(&upath, l, None));
            ui.links.push(JobUiLink {
                label: ctx.string(&mut lf, "label").unwrap_or_default(),
                url: ctx.string(&mut lf, "url").unwrap_or_default(),
            });
            ctx.finish(lf);
        }
        ctx.finish(uf);
        job.ui = Some(ui);
    }
    // A task directly in the job is a group of its own (Nomad's shorthand).
    for b in f.blocks("task") {
        if let Some(t) = task(ctx, b, &path) {
            job.task_groups.push(TaskGroup {
                name: t.name.clone(),
                tasks: vec![t],
                ..Default::default()
            });
        }
    }
    for b in f.blocks("group") {
        if let Some(g) = group(ctx, b, &path) {
            job.task_groups.push(g);
        }
    }
    ctx.finish(f);
    job
}

fn group(ctx: &mut Ctx, block: &Block, parent: &str) -> Option<TaskGroup> {
    let name = ctx.label(block, parent)?;
    let path = child(parent, block, Some(&name));
    let mut f = Fields::new(&block.body, path.clone());
    let mut g = TaskGroup {
        count: ctx.int(&mut f, "count"),
        meta: ctx.string_map(&mut f, "meta").unwrap_or_default(),
        shutdown_delay: ctx.duration(&mut f, "shutdown_delay"),
        max_run_duration: ctx.duration(&mut f, "max_run_duration"),
        stop_after_client_disconnect: ctx.duration(&mut f, "stop_after_client_disconnect"),
        max_client_disconnect: ctx.duration(&mut f, "max_client_disconnect"),
        prevent_reschedule_on_lost: ctx
            .bool(&mut f, "prevent_reschedule_on_lost")
            .unwrap_or_default(),
        name,
        ..Default::default()
    };
    for b in f.blocks("constraint") {
        g.constraints.push(blocks::constraint(ctx, b, &path));
    }
    for b in f.blocks("affinity") {
        g.affinities.push(blocks::affinity(ctx, b, &path));
    }
    for b in f.blocks("spread") {
        g.spreads.push(blocks::spread(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "update") {
        g.update = Some(blocks::update(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "migrate") {
        g.migrate = Some(blocks::migrate(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "restart") {
        g.restart_policy = Some(blocks::restart(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "reschedule") {
        g.reschedule_policy = Some(blocks::reschedule(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "ephemeral_disk") {
        g.ephemeral_disk = Some(blocks::ephemeral_disk(ctx, b, &path));
    }
    if let Some(b) = ctx.single(&mut f, "disconnect") {
        let mut df = Fields::new(&b.body, child(&path, b, None));
        g.disconnect = Some(DisconnectStrategy {
            lost_after: ctx.duration(&mut df, "lost_after").unwrap_or_default(),
            replace: ctx.bool(&mut df, "replace"),
            reconcile: ctx.string(&mut df, "reconcile").unwrap_or_default(),
            stop_on_client_after: ctx.duration(&mut df, "stop_on_client_after"),
        });
        ctx.finish(df);
    }
    if let Some(b) = ctx.single(&mut f, "scaling") {
        let mut sf = Fields::new(&b.body, child(&path, b, None));
        g.scaling = Some(ScalingPolicy {
            min: ctx.int(&mut sf, "min"),
            max: ctx.int(&mut sf, "max"),
            enabled: ctx.bool(&mut sf, "enabled"),
            policy: sf
                .blocks("policy")
                .first()
                .map(|p| ctx.free_form(&p.body, &format!("{path} > scaling > policy")))
                .unwrap_or_default(),
            ..Default::default()
        });
        ctx.finish(sf);
    }
    for b in f.blocks("network") {
        g.networks.push(blocks::network(ctx, b, &path));
    }
    for b in f.blocks("service") {
        g.services.push(blocks::service(ctx, b, &path));
    }
    for b in f.blocks("volume") {
        let Some(vname) = ctx.label(b, &path) else {
            continue;
        };
        let mut vf = Fields::new(&b.body, child(&path, b, Some(&vname)));
        let volume = VolumeRequest {
            name: vname.clone(),
            volume_type: ctx.string(&mut vf, "type").unwrap_or_default(),
            source: ctx.string(&mut vf, "source").unwrap_or_default(),
            read_only: ctx.bool(&mut vf, "read_only").unwrap_or_default(),
            sticky: ctx.bool(&mut vf, "sticky").unwrap_or_default(),
            access_mode: ctx.string(&mut vf, "access_mode").unwrap_or_default(),
            attachment_mode: ctx.string(&mut vf, "attachment_mode").unwrap_or_default(),
            per_alloc: ctx.bool(&mut vf, "per_alloc").unwrap_or_default(),
        };
        ctx.finish(vf);
        g.volumes.insert(vname, volume);
    }
    for b in f.blocks("task") {
        if let Some(t) = task(ctx, b, &path) {
            g.tasks.push(t);
        }
    }
    ctx.finish(f);
    Some(g)
}
