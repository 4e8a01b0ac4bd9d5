//! `drover agent` with config files and without root, as a user runs it: the real binary.

#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::agent::TestAgent;

const DROVER: &str = env!("CARGO_BIN_EXE_drover");
/// `nobody`.
const NOBODY: u32 = 65534;

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/agent")
        .join(name)
        .display()
        .to_string()
}

/// The walkthrough's `agent -dev -config FILE`, and a directory of files after it.
#[test]
fn dev_with_config_files() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("conf.d");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("10-region.hcl"), "region = \"eu\"\n").unwrap();
    std::fs::write(conf.join("20-dc.json"), r#"{"datacenter": "dc7"}"#).unwrap();
    let dev = example("dev.hcl");
    let args = [
        "-dev",
        "-config",
        &dev,
        &format!("-config={}", conf.display()),
    ];
    let agent = TestAgent::start(&tmp.path().join("data"), &args);
    let me = agent.get("/v1/agent/self").ok();
    let config = &me["config"];
    assert_eq!(config["Region"], "eu", "{me}");
    assert_eq!(config["Datacenter"], "dc7", "{me}");
    let files: Vec<String> = config["Files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files[0], dev);
    assert!(files[1].ends_with("10-region.hcl") && files[2].ends_with("20-dc.json"));
}

/// A bad file stops the agent before it starts, naming the file, the line and the key.
#[test]
fn a_bad_config_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.hcl");
    std::fs::write(&bad, "client {\n  enabled = true\n  colour = \"red\"\n}\n").unwrap();
    let out = Command::new(DROVER)
        .args(["agent", "-dev", "-http-port", "0", "-config"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for want in [
        bad.display().to_string(),
        "line 3".into(),
        "client.colour".into(),
    ] {
        assert!(stderr.contains(&want), "{want:?} not in {stderr}");
    }
}

/// Without root: the client is refused with the reason, a server alone runs.
#[test]
fn only_the_client_needs_root() {
    for args in [&["-dev"][..], &["-client", "-data-dir", "/nonexistent"]] {
        let out = Command::new(DROVER)
            .arg("agent")
            .args(args)
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        for want in ["must run as root", "namespaces", "cgroup", "-server"] {
            assert!(stderr.contains(want), "{args:?}: {want:?} not in {stderr}");
        }
    }

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    rustix::fs::chown(
        &data,
        Some(rustix::fs::Uid::from_raw(NOBODY)),
        Some(rustix::fs::Gid::from_raw(NOBODY)),
    )
    .unwrap();
    let mut child = Command::new(DROVER)
        .args(["agent", "-server", "-bind", "127.0.0.1", "-http-port", "0"])
        .arg("-data-dir")
        .arg(&data)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Hang protection only: the banner comes in well under a second.
    let mut started = false;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        if line.contains("drover agent started") {
            started = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "a server as nobody did not start");
}
