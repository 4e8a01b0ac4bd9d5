use std::collections::BTreeMap;

use super::*;
use crate::server::endpoints::{JobDispatchRequest, RpcError};
use crate::structs::ParameterizedJobConfig;

fn parameterized(payload: &str, required: &[&str], optional: &[&str]) -> Job {
    let mut j = job("report", 1);
    j.job_type = "batch".into();
    j.parameterized_job = Some(ParameterizedJobConfig {
        payload: payload.into(),
        meta_required: required.iter().map(|s| s.to_string()).collect(),
        meta_optional: optional.iter().map(|s| s.to_string()).collect(),
    });
    j
}

fn request(payload: Option<&str>, meta: &[(&str, &str)]) -> JobDispatchRequest {
    JobDispatchRequest {
        payload: payload.map(str::to_string),
        meta: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

#[test]
fn dispatch_checks_payload_and_meta() {
    // "aGk=" is base64 for "hi".
    let cases: [(Job, JobDispatchRequest, Option<&str>); 7] = [
        (
            parameterized("required", &[], &[]),
            request(None, &[]),
            Some("Payload is not provided but required by parameterized job"),
        ),
        (
            parameterized("forbidden", &[], &[]),
            request(Some("aGk="), &[]),
            Some("Payload provided but forbidden by parameterized job"),
        ),
        (
            parameterized("optional", &["owner"], &["tier"]),
            request(None, &[("tier", "1")]),
            Some("Dispatch did not provide required meta keys: [owner]"),
        ),
        (
            parameterized("optional", &["owner"], &[]),
            request(None, &[("owner", "me"), ("zone", "b"), ("color", "red")]),
            Some("Dispatch request included unpermitted metadata keys: [color zone]"),
        ),
        (
            parameterized("required", &[], &[]),
            request(Some("aGk="), &[]),
            None,
        ),
        (
            parameterized("optional", &["owner"], &["tier"]),
            request(None, &[("owner", "me"), ("tier", "2")]),
            None,
        ),
        (
            job("report", 1),
            request(None, &[]),
            Some("Specified job \"report\" is not a parameterized job"),
        ),
    ];
    for (i, (parent, req, want)) in cases.into_iter().enumerate() {
        let s = server();
        let reply = register(&s, parent);
        let got = s.dispatch("default", "report", req);
        match want {
            Some(msg) => assert_eq!(got.unwrap_err(), RpcError::bad_request(msg), "case {i}"),
            None => {
                assert!(
                    reply.eval_id.is_empty(),
                    "a parameterized parent gets no eval"
                );
                let got = got.unwrap_or_else(|e| panic!("case {i}: {e}"));
                assert!(!got.eval_id.is_empty());
                assert_eq!(got.job_create_index, got.index);
            }
        }
    }
}

#[test]
fn dispatched_child_is_a_plain_job_with_its_inputs() {
    let s = server();
    register(&s, parameterized("optional", &["owner"], &[]));
    let reply = s
        .dispatch(
            "default",
            "report",
            request(Some("aGk="), &[("owner", "me")]),
        )
        .unwrap();
    let (prefix, rest) = reply.dispatched_job_id.split_at("report/dispatch-".len());
    assert_eq!(prefix, "report/dispatch-");
    let (secs, hex) = rest.split_once('-').unwrap();
    assert!(secs.parse::<i64>().is_ok(), "{rest}");
    assert!(
        hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{rest}"
    );

    let snap = s.state.snapshot();
    let child = snap.job("default", &reply.dispatched_job_id).unwrap();
    assert_eq!(child.parent_id, "report");
    assert!(child.dispatched);
    assert!(child.parameterized_job.is_none());
    assert_eq!(child.payload.as_deref(), Some("aGk="));
    assert_eq!(child.meta["owner"], "me");
    let eval = eval_of(&s, &reply.eval_id);
    assert_eq!(
        (eval.job_id.as_str(), eval.eval_type.as_str()),
        (child.id.as_str(), "batch")
    );
    // The parent's summary counts it.
    assert_eq!(
        snap.job_summary("default", "report")
            .unwrap()
            .children
            .pending,
        1
    );
}

#[test]
fn idempotency_token_returns_the_existing_child() {
    let s = server();
    register(&s, parameterized("optional", &[], &[]));
    let req = JobDispatchRequest {
        idempotency_token: "once".into(),
        ..Default::default()
    };
    let first = s.dispatch("default", "report", req.clone()).unwrap();
    let again = s.dispatch("default", "report", req).unwrap();
    assert_eq!(again.dispatched_job_id, first.dispatched_job_id);
    assert!(again.eval_id.is_empty());
    let children = s
        .state
        .snapshot()
        .jobs_in("default")
        .filter(|j| j.parent_id == "report")
        .count();
    assert_eq!(children, 1);
}
