//! A real `drover agent` for tests: the binary started as a child process on a free
//! loopback port (`-http-port 0`; the port is read from the startup banner), with its
//! own data dir, logging to a file; killed when dropped. Plus a plain HTTP client for
//! its API.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Hang protection only: a healthy agent is up in well under a second.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Longer than the longest blocking query (300s plus jitter).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(400);

/// A reply: status, `X-Nomad-Index` (0 when absent), content type, body.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub index: u64,
    pub content_type: String,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The JSON body of a 200.
    pub fn ok(self) -> serde_json::Value {
        assert_eq!(self.status, 200, "body: {}", self.text);
        self.json()
    }
}

/// Plain HTTP; error statuses are answers to look at, not errors.
pub fn http_client(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// One request; `Err` when there was no answer (the agent is gone).
pub fn try_request(
    http: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<String>,
) -> Result<Resp, ureq::Error> {
    let mut resp = match (method, body) {
        ("GET", None) => http.get(url).call(),
        ("GET", Some(b)) => http.get(url).force_send_body().send(b),
        ("DELETE", None) => http.delete(url).call(),
        ("DELETE", Some(b)) => http.delete(url).force_send_body().send(b),
        ("PUT", b) => http.put(url).send(b.unwrap_or_default()),
        ("POST", b) => http.post(url).send(b.unwrap_or_default()),
        (m, _) => panic!("no {m} in these tests"),
    }?;
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let index = header("X-Nomad-Index").parse().unwrap_or(0);
    let content_type = header("Content-Type");
    Ok(Resp {
        status: resp.status().as_u16(),
        index,
        content_type,
        text: resp.body_mut().read_to_string()?,
    })
}

/// One request that must be answered.
pub fn request(method: &str, url: &str, body: Option<String>) -> Resp {
    try_request(&http_client(REQUEST_TIMEOUT), method, url, body)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

pub struct TestAgent {
    child: Option<Child>,
    http: ureq::Agent,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl TestAgent {
    /// `drover agent -dev` with its client: a bridge and subnet of its own (tests run
    /// side by side), images from the test registry (`redis:3.2` resolves there) into a
    /// store in its temp dir.
    pub fn dev() -> TestAgent {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let config = dir.join("client.hcl");
        std::fs::write(&config, client_config(&super::registry())).expect("agent config");
        let config = config.display().to_string();
        let mut agent = Self::start(&dir, &["-dev", "-config", &config]);
        agent._tmp = Some(tmp);
        agent
    }

    /// `drover agent -dev` without a client, for tests that play the client themselves.
    pub fn dev_no_client() -> TestAgent {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let config = dir.join("no-client.hcl");
        std::fs::write(&config, "client {\n  enabled = false\n}\n").expect("agent config");
        let config = config.display().to_string();
        let mut agent = Self::start(&dir, &["-dev", "-config", &config]);
        agent._tmp = Some(tmp);
        agent
    }

    /// `drover agent -server -data-dir DIR`: durable state, no client.
    pub fn server(data_dir: &Path) -> TestAgent {
        let dir = data_dir.display().to_string();
        Self::start(data_dir, &["-server", "-data-dir", &dir])
    }

    /// Starts `drover agent ARGS -bind 127.0.0.1 -http-port 0` and waits until it answers.
    pub fn start(data_dir: &Path, args: &[&str]) -> TestAgent {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.join(format!("agent-{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("agent log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("agent")
            .args(args)
            .args(["-bind", "127.0.0.1", "-http-port", "0"])
            .env_remove("DROVER_LOG")
            // The image store of this agent's client (a data dir, when given, wins).
            .env("DROVER_DATA_DIR", data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start drover agent");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut agent = TestAgent {
            child: Some(child),
            http: http_client(REQUEST_TIMEOUT),
            addr: String::new(),
            data_dir: data_dir.to_path_buf(),
            log,
            _tmp: None,
        };
        let mut seen = Vec::new();
        let addr = loop {
            match rx.recv_timeout(START_TIMEOUT) {
                Ok(line) => {
                    if let Some(addr) = bind_addr(&line) {
                        break addr;
                    }
                    seen.push(line);
                }
                Err(_) => panic!(
                    "the agent printed no HTTP address; stdout:\n{}\nlog:\n{}",
                    seen.join("\n"),
                    agent.log()
                ),
            }
        };
        // Keep draining stdout so the agent never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        agent.addr = format!("http://{addr}");
        agent
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    pub fn send(&self, method: &str, path: &str, body: Option<String>) -> Resp {
        try_request(&self.http, method, &self.url(path), body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\nagent log:\n{}", self.log()))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None)
    }

    pub fn put(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.send("PUT", path, Some(body.to_string()))
    }

    pub fn put_raw(&self, path: &str, body: &str) -> Resp {
        self.send("PUT", path, Some(body.to_string()))
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None)
    }

    /// What the agent logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to clean up, like a crash or power loss of the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the agent to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("agent running");
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().expect("wait for agent")
    }
}

impl Drop for TestAgent {
    /// SIGTERM, so a `-dev` agent stops its tasks and removes their cgroups, namespaces
    /// and rules as it does for a user; SIGKILL if it does not exit in time.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A client config whose names no other test agent uses: bridge `dt<pid><n>` (also
/// the nft table and netns prefix), a /24 of 172.30.0.0/16, and `registry` mirroring
/// Docker Hub to the test registry.
pub fn client_config(registry: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let net = (pid.wrapping_mul(7).wrapping_add(n * 13)) % 250 + 1;
    format!(
        "client {{\n  bridge_network_name   = \"dt{}x{n}\"\n  bridge_network_subnet = \"172.30.{net}.0/24\"\n}}\nregistry {{\n  mirror = \"{registry}\"\n}}\n",
        pid % 100000
    )
}

/// A client node as `drover agent` will register it: plenty of capacity, docker and
/// the container driver healthy, a loopback host network.
pub fn client_node(id: &str) -> serde_json::Value {
    let driver =
        serde_json::json!({"Detected": true, "Healthy": true, "HealthDescription": "Healthy"});
    serde_json::json!({
        "ID": id,
        "SecretID": "secret",
        "Name": "test-node",
        "Datacenter": "dc1",
        "NodePool": "default",
        "HTTPAddr": "127.0.0.1:4646",
        "Status": "ready",
        "SchedulingEligibility": "eligible",
        "Attributes": {
            "kernel.name": "linux",
            "cpu.arch": "amd64",
            "unique.network.ip-address": "127.0.0.1",
            "driver.docker": "1",
            "driver.container": "1",
            "nomad.version": "drover-test",
        },
        "NodeResources": {
            "Cpu": {"CpuShares": 8000, "TotalCpuCores": 4},
            "Memory": {"MemoryMB": 16384},
            "Disk": {"DiskMB": 100000},
            "Networks": [{"Mode": "host", "Device": "lo", "IP": "127.0.0.1", "CIDR": "127.0.0.1/32", "MBits": 1000}],
            "MinDynamicPort": 20000,
            "MaxDynamicPort": 32000,
        },
        "Drivers": {"docker": driver, "container": driver},
        "FutureNodeField": {"ignored": true},
    })
}

/// `Bind Addrs: HTTP: [127.0.0.1:41234]; ...` -> `127.0.0.1:41234`.
fn bind_addr(line: &str) -> Option<String> {
    let rest = line.split("Bind Addrs: HTTP: [").nth(1)?;
    Some(rest.split(']').next()?.to_string())
}
