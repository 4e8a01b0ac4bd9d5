//! Shared by the driver's integration tests: the test environment started by
//! `scripts/testenv/up` (a real registry with images built from Debian packages), and a
//! fault-injecting proxy in front of it.

#![allow(dead_code)]

pub mod proxy;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Settings written by `scripts/testenv/up`.
pub struct TestEnv {
    pub registry: String,
    pub auth_registry: String,
    pub auth_user: String,
    pub auth_pass: String,
    pub dir: PathBuf,
}

pub fn testenv() -> TestEnv {
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests run as root (they unpack layers with owners and device nodes)"
    );
    let dir = PathBuf::from(
        std::env::var("DROVER_TESTENV_DIR").unwrap_or_else(|_| "/var/tmp/drover-testenv".into()),
    );
    let path = dir.join("env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: start the test environment first with scripts/testenv/up (scripts/test does)",
            path.display()
        )
    });
    let vars: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("export ").split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.trim_matches(|c| c == '"' || c == '\'').to_string(),
            )
        })
        .collect();
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{k} missing in {}", path.display()))
    };
    TestEnv {
        registry: get("DROVER_TEST_REGISTRY"),
        auth_registry: get("DROVER_TEST_AUTH_REGISTRY"),
        auth_user: get("DROVER_TEST_AUTH_USER"),
        auth_pass: get("DROVER_TEST_AUTH_PASS"),
        dir,
    }
}
