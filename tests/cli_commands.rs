//! The CLI without a job running: `job init` + `validate`, `version`, `completions`,
//! usage errors, unknown IDs (exit 1 with Nomad's texts), `agent-info`, `server members`.

#[allow(dead_code)]
mod common;

use common::cli::{agent, drover, drover_in};

#[test]
fn init_writes_a_job_that_validates_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let none = "http://127.0.0.1:1";
    let init = drover_in(dir, none, &["job", "init"]);
    assert_eq!(init.code, 0, "{init}");
    assert_eq!(
        init.stdout.trim(),
        "Example job file written to example.nomad.hcl"
    );
    let text = std::fs::read_to_string(dir.join("example.nomad.hcl")).unwrap();
    assert!(text.contains("driver = \"container\""), "{text}");
    assert!(text.contains("group \"cache\""), "{text}");
    assert!(text.contains("image = \"redis:7\""), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 20
    );

    for args in [
        &["job", "validate", "example.nomad.hcl"][..],
        &["validate", "example.nomad.hcl"][..],
    ] {
        let valid = drover_in(dir, none, args);
        assert_eq!(valid.code, 0, "{args:?}: {valid}");
        assert_eq!(valid.stdout.trim(), "Job validation successful", "{valid}");
    }

    // An existing file is left alone: Nomad's text, exit 1.
    std::fs::write(dir.join("example.nomad.hcl"), "mine").unwrap();
    let again = drover_in(dir, none, &["job", "init"]);
    assert_eq!(again.code, 1, "{again}");
    assert_eq!(
        again.stderr.trim(),
        "Job 'example.nomad.hcl' already exists"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("example.nomad.hcl")).unwrap(),
        "mine"
    );

    // -short, to a name of one's own (the single-dash and double-dash forms).
    for (flag, file) in [("-short", "short.nomad"), ("--short", "short2.nomad")] {
        let short = drover_in(dir, none, &["job", "init", flag, file]);
        assert_eq!(short.code, 0, "{short}");
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(!text.contains('#'), "{text}");
        let valid = drover_in(dir, none, &["job", "validate", file]);
        assert_eq!(valid.code, 0, "{valid}");
    }
}

#[test]
fn version_completions_and_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let none = "http://127.0.0.1:1";
    let want = format!("drover v{}", env!("CARGO_PKG_VERSION"));
    for args in [
        &["version"][..],
        &["-version"][..],
        &["--version"][..],
        &["-v"][..],
    ] {
        let v = drover_in(dir, none, args);
        assert_eq!(v.code, 0, "{args:?}: {v}");
        assert_eq!(v.stdout.trim(), want, "{args:?}: {v}");
    }
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef drover"),
        ("fish", "complete -c drover"),
    ] {
        let c = drover_in(dir, none, &["completions", shell]);
        assert_eq!(c.code, 0, "{shell}: {c}");
        assert!(c.stdout.contains(marker), "{shell}: {c}");
        assert!(c.stdout.contains("deployment"), "{shell}");
    }
    // Bad flags and arguments: usage on stderr, exit 1 (Nomad's code, not clap's 2).
    for (args, text) in [
        (
            &["job", "run", "-no-such-flag", "x"][..],
            "Usage: drover job run",
        ),
        (&["job", "history"][..], "Usage: drover job history"),
        (
            &["node", "eligibility", "-enable", "-disable", "abcd"][..],
            "Usage: drover node eligibility",
        ),
        (&["no-such-command"][..], "Usage: drover"),
        (&["completions", "tcsh"][..], "invalid value 'tcsh'"),
    ] {
        let bad = drover_in(dir, none, args);
        assert_eq!(bad.code, 1, "{args:?}: {bad}");
        assert!(bad.stdout.is_empty(), "{args:?}: {bad}");
        assert!(bad.stderr.starts_with("error: "), "{args:?}: {bad}");
        assert!(bad.stderr.contains(text), "{args:?}: {bad}");
    }
    // Help is not an error.
    let help = drover_in(dir, none, &["-help"]);
    assert_eq!(help.code, 0, "{help}");
    assert!(help.stdout.contains("Aliases"), "{help}");
}

#[test]
fn unknown_ids_exit_1_with_nomads_texts() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = agent(tmp.path());
    let cases: &[(&[&str], &str)] = &[
        (
            &["eval", "status", "abcdef12"],
            "No evaluation(s) with prefix or id \"abcdef12\" found",
        ),
        (
            &["eval", "status", "a"],
            "Identifier must contain at least two characters.",
        ),
        (
            &["node", "status", "abcdef12"],
            "No node(s) with prefix or id \"abcdef12\" found",
        ),
        (
            &["node", "eligibility", "-disable", "abcdef12"],
            "No node(s) with prefix or id \"abcdef12\" found",
        ),
        (
            &["deployment", "status", "abcdef12"],
            "Deployment ID \"abcdef12\" matched no deployments",
        ),
        (
            &["deployment", "fail", "abcdef12"],
            "Deployment ID \"abcdef12\" matched no deployments",
        ),
        (
            &["job", "history", "nope"],
            "No job(s) with prefix or ID \"nope\" found",
        ),
        (
            &["job", "inspect", "nope"],
            "No job(s) with prefix or ID \"nope\" found",
        ),
        (
            &["inspect", "nope"],
            "No job(s) with prefix or ID \"nope\" found",
        ),
        (
            &["job", "revert", "nope", "0"],
            "No job(s) with prefix or ID \"nope\" found",
        ),
        (
            &["job", "scale", "nope", "3"],
            "No job(s) with prefix or ID \"nope\" found",
        ),
        (
            &["job", "dispatch", "nope"],
            "No job(s) with prefix or ID \"nope\" found",
        ),
        (
            &["status", "job", "nope"],
            "No job(s) with prefix or ID \"nope\" found",
        ),
        (
            &["logs", "abcdef12"],
            "No allocation(s) with prefix or id \"abcdef12\" found",
        ),
        (
            &["job", "scale", "nope", "x"],
            "Failed to convert count string to int",
        ),
    ];
    for (args, text) in cases {
        let out = drover(&agent, args);
        assert_eq!(out.code, 1, "{args:?}: {out}");
        assert!(out.stderr.contains(text), "{args:?}: {out}");
    }
    // Empty lists.
    for (args, text) in [
        (&["node", "status"][..], "No nodes registered"),
        (&["deployment", "list"][..], "No deployments found"),
        (&["eval", "list"][..], "No evals found"),
    ] {
        let out = drover(&agent, args);
        assert_eq!(out.code, 0, "{args:?}: {out}");
        assert_eq!(out.stdout.trim(), text, "{args:?}: {out}");
    }
    // The agent describes itself.
    let info = drover(&agent, &["agent-info"]);
    assert_eq!(info.code, 0, "{info}");
    assert!(info.stdout.contains("\nruntime\n"), "{info}");
    assert!(info.stdout.contains("  arch = "), "{info}");
    let members = drover(&agent, &["server", "members"]);
    assert_eq!(members.code, 0, "{members}");
    assert!(
        members.stdout.starts_with("Name  ") && members.stdout.contains("alive"),
        "{members}"
    );
}
