use super::*;
use crate::server::endpoints::{RpcError, ScalingRequest};
use crate::structs::{
    ScalingPolicy, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_RUNNING, EVAL_PENDING,
    TRIGGER_JOB_DEREGISTER, TRIGGER_JOB_REGISTER, TRIGGER_JOB_SCALING,
};

#[test]
fn register_versions_only_changed_specs() {
    let s = server();
    // (job, want version, want a new JobModifyIndex)
    let steps = [
        (job("redis", 1), 0, true),
        (job("redis", 1), 0, false),
        (with_image(job("redis", 1), "redis:4.0"), 1, true),
        (with_image(job("redis", 1), "redis:4.0"), 1, false),
    ];
    let mut last_jmi = 0;
    for (i, (job, version, new_index)) in steps.into_iter().enumerate() {
        let reply = register(&s, job);
        let snap = s.state.snapshot();
        let stored = snap.job("default", "redis").unwrap();
        assert_eq!(stored.version, version, "step {i}");
        assert_eq!(reply.job_modify_index, stored.job_modify_index, "step {i}");
        assert_eq!(reply.job_modify_index != last_jmi, new_index, "step {i}");
        last_jmi = reply.job_modify_index;
        // Every register makes an evaluation, even of an unchanged spec.
        let eval = eval_of(&s, &reply.eval_id);
        assert_eq!(eval.triggered_by, TRIGGER_JOB_REGISTER);
        assert_eq!(eval.status, EVAL_PENDING);
        assert_eq!(eval.job_modify_index, stored.job_modify_index, "step {i}");
        assert_eq!((eval.priority, eval.eval_type.as_str()), (50, "service"));
        assert_eq!(reply.eval_create_index, reply.index);
        assert_eq!(eval.create_index, reply.index);
    }
    assert_eq!(s.state.snapshot().job_versions("default", "redis").len(), 2);
}

#[test]
fn register_enforces_the_modify_index() {
    let s = server();
    let enforce = |s: &Server, index: u64| {
        s.register(JobRegisterRequest {
            job: job("redis", 1),
            enforce_index: true,
            job_modify_index: index,
            ..Default::default()
        })
    };
    assert_eq!(
        enforce(&s, 5).unwrap_err(),
        RpcError::bad_request("Enforcing job modify index 5: job does not exist")
    );
    let jmi = enforce(&s, 0).unwrap().job_modify_index;
    let cases = [
        (0, Some("Enforcing job modify index 0: job already exists".to_string())),
        (
            jmi + 7,
            Some(format!(
                "Enforcing job modify index {}: job exists with conflicting job modify index: {jmi}",
                jmi + 7
            )),
        ),
        (jmi, None),
    ];
    for (index, want) in cases {
        let got = enforce(&s, index).err().map(|e| e.message);
        assert_eq!(got, want, "index {index}");
    }
}

#[test]
fn register_refuses_bad_jobs() {
    let s = server();
    register(&s, job("web", 1));
    let mut batch = job("web", 1);
    batch.job_type = "batch".into();
    let mut other_ns = job("x", 1);
    other_ns.namespace = "prod".into();
    let mut no_driver = job("y", 1);
    no_driver.task_groups[0].tasks[0].driver.clear();
    let cases = [
        (batch, "cannot update job from type \"service\" to \"batch\""),
        (other_ns, "job \"x\" is in nonexistent namespace \"prod\""),
        (
            no_driver,
            "1 error occurred:\n\t* Task group cache validation failed: Task redis validation failed: Missing task driver\n",
        ),
    ];
    for (job, want) in cases {
        let err = s
            .register(JobRegisterRequest {
                job,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, want));
    }
}

#[test]
fn register_can_preserve_counts_and_set_eval_priority() {
    let s = server();
    register(&s, job("redis", 3));
    let reply = s
        .register(JobRegisterRequest {
            job: with_image(job("redis", 1), "redis:4.0"),
            preserve_counts: true,
            eval_priority: 90,
            ..Default::default()
        })
        .unwrap();
    let stored = s.state.snapshot().job("default", "redis").unwrap();
    assert_eq!(stored.task_groups[0].count, Some(3));
    assert_eq!(stored.version, 1);
    assert_eq!(eval_of(&s, &reply.eval_id).priority, 90);
}

#[test]
fn stop_run_again_and_purge() {
    let s = server();
    register(&s, job("redis", 1));
    place(&s, vec![alloc(&s, "redis", "n1", 0)], None);
    let alloc_id = s.state.snapshot().job_allocs("default", "redis")[0]
        .id
        .clone();
    s.client_update_allocs(vec![report(&alloc_id, ALLOC_CLIENT_RUNNING, None)])
        .unwrap();

    let stop = s.deregister("default", "redis", false, Some(70)).unwrap();
    let snap = s.state.snapshot();
    let stored = snap.job("default", "redis").unwrap();
    assert!(stored.stop);
    assert_eq!(stored.version, 1);
    assert_eq!(stop.job_modify_index, stored.job_modify_index);
    let eval = eval_of(&s, &stop.eval_id);
    assert_eq!(
        (eval.triggered_by.as_str(), eval.priority),
        (TRIGGER_JOB_DEREGISTER, 70)
    );
    assert_eq!(snap.job_status(&stored), "running", "its alloc still runs");

    // Once the alloc and evals are terminal the job is dead.
    s.client_update_allocs(vec![report(&alloc_id, ALLOC_CLIENT_COMPLETE, None)])
        .unwrap();
    let mut evals: Vec<_> = s
        .state
        .snapshot()
        .job_evals("default", "redis")
        .iter()
        .map(|e| Evaluation {
            status: crate::structs::EVAL_COMPLETE.into(),
            ..(**e).clone()
        })
        .collect();
    evals.sort_by(|a, b| a.id.cmp(&b.id));
    s.apply(Command::EvalUpsert { evals }).unwrap();
    let snap = s.state.snapshot();
    assert_eq!(
        snap.job_status(&snap.job("default", "redis").unwrap()),
        "dead"
    );

    // Running it again brings it back as a new version.
    register(&s, job("redis", 1));
    let stored = s.state.snapshot().job("default", "redis").unwrap();
    assert_eq!((stored.stop, stored.version), (false, 2));

    let purge = s.deregister("default", "redis", true, None).unwrap();
    assert!(s.state.snapshot().job("default", "redis").is_none());
    assert!(!purge.eval_id.is_empty());
    assert_eq!(
        s.deregister("default", "redis", false, None).unwrap_err(),
        RpcError::not_found("job not found")
    );
}

#[test]
fn revert_registers_an_old_spec_as_a_new_version() {
    let s = server();
    register(&s, job("redis", 1));
    register(&s, with_image(job("redis", 1), "redis:4.0"));
    let cases = [
        (
            1,
            None,
            Some((400, "can't revert to current version".to_string())),
        ),
        (
            9,
            None,
            Some((
                404,
                "job \"redis\" in namespace \"default\" at version 9 not found".to_string(),
            )),
        ),
        (
            0,
            Some(0),
            Some((
                400,
                "Current job has version 1; enforcing version 0".to_string(),
            )),
        ),
        (0, Some(1), None),
    ];
    for (version, prior, want) in cases {
        let got = s
            .revert("default", "redis", version, prior)
            .err()
            .map(|e| (e.code, e.message));
        assert_eq!(got, want, "version {version} prior {prior:?}");
    }
    let snap = s.state.snapshot();
    let stored = snap.job("default", "redis").unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.task_groups[0].tasks[0].config["image"], "redis:3.2");
    assert!(!stored.stable);
    assert_eq!(
        s.revert("default", "nope", 0, None).unwrap_err(),
        RpcError::not_found("job \"nope\" not found")
    );
}

#[test]
fn set_stable_marks_one_version() {
    let s = server();
    register(&s, job("redis", 1));
    register(&s, job("redis", 2));
    s.set_stable("default", "redis", 0, true).unwrap();
    let snap = s.state.snapshot();
    let stable: Vec<_> = snap
        .job_versions("default", "redis")
        .iter()
        .map(|j| (j.version, j.stable))
        .collect();
    assert_eq!(stable, vec![(1, false), (0, true)]);
    assert_eq!(
        s.set_stable("default", "redis", 4, true).unwrap_err().code,
        404
    );
}

#[test]
fn scale_changes_one_group_count() {
    let s = server();
    let mut j = job("redis", 1);
    j.task_groups[0].scaling = Some(ScalingPolicy {
        min: Some(1),
        max: Some(5),
        ..Default::default()
    });
    register(&s, j);
    let req = |group: &str, count: i64| ScalingRequest {
        count: Some(count),
        target: [("Group".to_string(), group.to_string())].into(),
        ..Default::default()
    };
    let cases = [
        (req("cache", -1), "scaling action count can't be negative"),
        (req("", 2), "missing task group name for scaling action"),
        (
            req("db", 2),
            "task group \"db\" specified for scaling does not exist in job",
        ),
        (
            req("cache", 9),
            "group count was greater than scaling policy maximum: 9 > 5",
        ),
        (
            req("cache", 0),
            "group count was less than scaling policy minimum: 0 < 1",
        ),
    ];
    for (r, want) in cases {
        assert_eq!(
            s.scale("default", "redis", r).unwrap_err(),
            RpcError::bad_request(want)
        );
    }
    let reply = s.scale("default", "redis", req("cache", 3)).unwrap();
    let stored = s.state.snapshot().job("default", "redis").unwrap();
    assert_eq!((stored.version, stored.task_groups[0].count), (1, Some(3)));
    assert_eq!(reply.job_modify_index, stored.job_modify_index);
    assert_eq!(
        eval_of(&s, &reply.eval_id).triggered_by,
        TRIGGER_JOB_SCALING
    );

    // A running deployment of this job blocks scaling.
    let d = deployment(&s, "redis", DeploymentState::default());
    place(&s, Vec::new(), Some(d));
    assert_eq!(
        s.scale("default", "redis", req("cache", 2)).unwrap_err(),
        RpcError::bad_request("job scaling blocked due to active deployment")
    );
}

#[test]
fn scale_status_counts_live_allocations() {
    let s = server();
    register(&s, job("redis", 3));
    let allocs: Vec<_> = (0..3).map(|i| alloc(&s, "redis", "n1", i)).collect();
    let ids: Vec<_> = allocs.iter().map(|a| a.id.clone()).collect();
    place(&s, allocs, None);
    s.client_update_allocs(vec![
        report(&ids[0], ALLOC_CLIENT_RUNNING, Some(true)),
        report(&ids[1], ALLOC_CLIENT_RUNNING, Some(false)),
        report(&ids[2], ALLOC_CLIENT_COMPLETE, None),
    ])
    .unwrap();
    let status = s.scale_status("default", "redis").unwrap();
    let g = &status.task_groups["cache"];
    assert_eq!(
        (g.desired, g.placed, g.running, g.healthy, g.unhealthy),
        (3, 2, 2, 1, 1)
    );
    assert!(!status.job_stopped);
}

#[test]
fn evaluate_forces_an_eval() {
    let s = server();
    let reply = register(&s, job("redis", 1));
    let forced = s.evaluate("default", "redis", false).unwrap();
    assert_ne!(forced.eval_id, reply.eval_id);
    assert_eq!(
        eval_of(&s, &forced.eval_id).triggered_by,
        TRIGGER_JOB_REGISTER
    );
    assert_eq!(
        s.evaluate("default", "nope", false).unwrap_err(),
        RpcError::not_found("job not found")
    );
}

#[test]
fn validate_lists_every_error() {
    let s = server();
    assert_eq!(s.validate_job(job("ok", 1)).error, "");
    let mut bad = job("", -1);
    bad.job_type = "web".into();
    let reply = s.validate_job(bad);
    assert!(reply.driver_config_validated);
    assert_eq!(
        reply.validation_errors,
        vec![
            "Missing job ID",
            "Missing job name",
            "Invalid job type: \"web\"",
            "Task group cache validation failed: Task group count can't be negative",
        ]
    );
    assert!(reply.error.starts_with("4 errors occurred:"));
}
