use super::*;
use crate::server::endpoints::JobPlanRequest;
use crate::structs::diff::DiffType;
use crate::structs::{PeriodicConfig, UpdateStrategy, ALLOC_CLIENT_RUNNING};

fn plan(s: &Server, job: Job) -> crate::server::endpoints::JobPlanResponse {
    s.plan(JobPlanRequest {
        job,
        diff: true,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("plan: {e}"))
}

#[test]
fn plan_of_a_new_job_creates_and_persists_nothing() {
    let s = server();
    s.register_node(roomy_node("n1")).unwrap();
    let index = s.state.index();
    let reply = plan(&s, job("redis", 1));
    assert_eq!(reply.job_modify_index, 0);
    let diff = reply.diff.unwrap();
    assert_eq!(diff.diff_type, DiffType::Added);
    assert_eq!(diff.task_groups[0].updates.get("create"), Some(&1));
    assert_eq!(reply.annotations.desired_tg_updates["cache"].place, 1);
    assert!(
        reply.failed_tg_allocs.is_empty(),
        "{:?}",
        reply.failed_tg_allocs
    );
    // A dry run.
    assert_eq!(s.state.index(), index);
    assert!(s.state.snapshot().job("default", "redis").is_none());
}

#[test]
fn plan_of_an_image_change_is_one_rolling_step() {
    let s = server();
    s.register_node(roomy_node("n1")).unwrap();
    let mut v0 = job("redis", 3);
    v0.update = Some(UpdateStrategy {
        max_parallel: Some(1),
        ..Default::default()
    });
    let jmi = register(&s, v0.clone()).job_modify_index;
    let allocs: Vec<_> = (0..3).map(|i| alloc(&s, "redis", "n1", i)).collect();
    let ids: Vec<_> = allocs.iter().map(|a| a.id.clone()).collect();
    place(&s, allocs, None);
    s.client_update_allocs(
        ids.iter()
            .map(|id| report(id, ALLOC_CLIENT_RUNNING, None))
            .collect(),
    )
    .unwrap();

    let reply = plan(&s, with_image(v0, "redis:4.0"));
    assert_eq!(reply.job_modify_index, jmi);
    let group = &reply.diff.unwrap().task_groups[0];
    assert_eq!(group.diff_type, DiffType::Edited);
    let updates: Vec<(&str, u64)> = group
        .updates
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(updates, vec![("create/destroy update", 1), ("ignore", 2)]);
}

#[test]
fn plan_of_a_periodic_job_says_when_it_would_launch() {
    let s = server();
    let mut j = job("nightly", 1);
    j.job_type = "batch".into();
    j.periodic = Some(PeriodicConfig {
        spec: "0 3 * * *".into(),
        ..Default::default()
    });
    let reply = plan(&s, j);
    let next = crate::structs::time::parse_rfc3339(&reply.next_periodic_launch).unwrap();
    let now = crate::structs::time::now_ns();
    assert!(next > now && next <= now + 24 * crate::structs::HOUR);
    assert_eq!((next / crate::structs::SECOND) % 86_400, 3 * 3600);
}
