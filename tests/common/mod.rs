//! Shared by the tests that drive the real `drover` binary.

pub mod agent;
pub mod cli;

use std::path::Path;

/// The test registry `scripts/testenv/up` started (127.0.0.1:PORT), from its env file.
pub fn registry() -> String {
    let dir =
        std::env::var("DROVER_TESTENV_DIR").unwrap_or_else(|_| "/var/tmp/drover-testenv".into());
    let env = std::fs::read_to_string(Path::new(&dir).join("env"))
        .expect("start the test environment first: scripts/testenv/up (scripts/test does)");
    env.lines()
        .find_map(|l| {
            l.trim_start_matches("export ")
                .strip_prefix("DROVER_TEST_REGISTRY=")
        })
        .expect("DROVER_TEST_REGISTRY in the testenv env file")
        .trim_matches('"')
        .to_string()
}
