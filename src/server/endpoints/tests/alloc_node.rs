use super::*;
use crate::server::endpoints::RpcError;
use crate::structs::{
    ALLOC_CLIENT_FAILED, ALLOC_CLIENT_RUNNING, NODE_INELIGIBLE, NODE_STATUS_DOWN,
    TRIGGER_ALLOC_STOP, TRIGGER_NODE_DRAIN, TRIGGER_NODE_UPDATE, TRIGGER_RETRY_FAILED_ALLOC,
};

fn system_job(id: &str) -> Job {
    let mut j = job(id, 1);
    j.job_type = "system".into();
    j
}

/// (job ID, triggered by) of the evals with these IDs, sorted.
fn evals_of(s: &Server, ids: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<_> = ids
        .iter()
        .map(|id| {
            let e = eval_of(s, id);
            (e.job_id.clone(), e.triggered_by.clone())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn stop_alloc_asks_for_a_migration() {
    let s = server();
    register(&s, job("redis", 1));
    let a = alloc(&s, "redis", "n1", 0);
    let id = a.id.clone();
    place(&s, vec![a], None);
    let reply = s.stop_alloc(&id, false).unwrap();
    let stored = s.state.snapshot().allocs[id.as_str()].clone();
    assert_eq!(stored.desired_transition.migrate, Some(true));
    let eval = eval_of(&s, &reply.eval_id);
    assert_eq!(
        (eval.job_id.as_str(), eval.triggered_by.as_str()),
        ("redis", TRIGGER_ALLOC_STOP)
    );
    assert_eq!(
        s.stop_alloc("nope", false).unwrap_err(),
        RpcError::not_found("alloc not found")
    );
}

#[test]
fn failed_allocs_get_their_job_reevaluated_once() {
    let s = server();
    register(&s, job("web", 2));
    register(&s, system_job("agent"));
    let web: Vec<_> = (0..2).map(|i| alloc(&s, "web", "n1", i)).collect();
    let agent = alloc(&s, "agent", "n1", 0);
    let (w0, w1, a0) = (web[0].id.clone(), web[1].id.clone(), agent.id.clone());
    place(&s, web.into_iter().chain([agent]).collect(), None);

    let retries = |s: &Server| -> Vec<String> {
        let mut v: Vec<_> = s
            .state
            .snapshot()
            .evals
            .values()
            .filter(|e| e.triggered_by == TRIGGER_RETRY_FAILED_ALLOC)
            .map(|e| e.job_id.clone())
            .collect();
        v.sort();
        v
    };
    // (reports, retry evals after them)
    let steps = [
        (vec![report(&w0, ALLOC_CLIENT_RUNNING, None)], vec![]),
        (
            vec![
                report(&w0, ALLOC_CLIENT_FAILED, None),
                report(&w1, ALLOC_CLIENT_FAILED, None),
                report(&a0, ALLOC_CLIENT_FAILED, None),
            ],
            vec!["web"],
        ),
        // Already failed: no second eval.
        (vec![report(&w0, ALLOC_CLIENT_FAILED, None)], vec!["web"]),
    ];
    for (i, (reports, want)) in steps.into_iter().enumerate() {
        s.client_update_allocs(reports).unwrap();
        assert_eq!(retries(&s), want, "step {i}");
    }
    assert_eq!(
        s.state.snapshot().allocs[w1.as_str()].client_status,
        ALLOC_CLIENT_FAILED
    );
}

#[test]
fn node_changes_evaluate_the_jobs_on_them() {
    let s = server();
    register(&s, job("web", 1));
    register(&s, system_job("agent"));

    let reply = s.register_node(node("n1")).unwrap();
    assert!(reply.heartbeat_ttl > 0);
    assert_eq!(
        evals_of(&s, &reply.eval_ids),
        vec![("agent".into(), TRIGGER_NODE_UPDATE.into())]
    );
    let eval = eval_of(&s, &reply.eval_ids[0]);
    assert_eq!(eval.node_id, "n1");
    // Re-registering as it was changes nothing worth an eval.
    assert!(s.register_node(node("n1")).unwrap().eval_ids.is_empty());

    place(&s, vec![alloc(&s, "web", "n1", 0)], None);
    let down = s.node_update_status("n1", NODE_STATUS_DOWN).unwrap();
    assert_eq!(
        evals_of(&s, &down.eval_ids),
        vec![
            ("agent".into(), TRIGGER_NODE_UPDATE.into()),
            ("web".into(), TRIGGER_NODE_UPDATE.into())
        ]
    );
    assert_eq!(
        s.state.snapshot().node("n1").unwrap().status,
        NODE_STATUS_DOWN
    );

    let drain = s.node_drain("n1", true).unwrap();
    assert_eq!(
        evals_of(&s, &drain.eval_ids),
        vec![("web".into(), TRIGGER_NODE_DRAIN.into())]
    );
    let snap = s.state.snapshot();
    let n1 = snap.node("n1").unwrap();
    assert!(n1.drain);
    assert_eq!(n1.scheduling_eligibility, NODE_INELIGIBLE);
    assert!(snap
        .node_allocs("n1")
        .iter()
        .all(|a| a.desired_transition.migrate == Some(true)));
    assert_eq!(
        s.node_eligibility("n1", true).unwrap_err().message,
        "can not set node's scheduling eligibility to eligible while it is draining"
    );

    let evaluate = s.node_evaluate("n1").unwrap();
    assert_eq!(evaluate.eval_ids.len(), 2);
    let purge = s.node_purge("n1").unwrap();
    assert_eq!(purge.eval_ids.len(), 2);
    assert!(s.state.snapshot().node("n1").is_none());

    for err in [
        s.node_update_status("n1", NODE_STATUS_DOWN).unwrap_err(),
        s.node_drain("n1", true).unwrap_err(),
        s.node_purge("n1").unwrap_err(),
    ] {
        assert_eq!(err, RpcError::not_found("node not found"));
    }
    assert_eq!(
        s.node_update_status("n2", "sleepy").unwrap_err(),
        RpcError::bad_request("invalid status for node")
    );
}

#[test]
fn register_node_requires_identity() {
    let s = server();
    let cases = [
        (
            Node {
                id: String::new(),
                ..node("a")
            },
            "missing node ID for client registration",
        ),
        (
            Node {
                datacenter: String::new(),
                ..node("a")
            },
            "missing datacenter for client registration",
        ),
        (
            Node {
                name: String::new(),
                ..node("a")
            },
            "missing node name for client registration",
        ),
    ];
    for (n, want) in cases {
        assert_eq!(s.register_node(n).unwrap_err(), RpcError::bad_request(want));
    }
}
