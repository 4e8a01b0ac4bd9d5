use std::collections::BTreeMap;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Loads `text` as one HCL file over `base`.
fn load_hcl(base: AgentConfig, text: &str) -> Result<AgentConfig, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "agent.hcl", text);
    let mut config = base;
    config.load(&path).map(|()| config)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn roles_and_data_dir_are_required() {
    let cases = [
        (AgentConfig::default(), Err(ConfigError::NoRole)),
        (
            AgentConfig {
                server: true,
                ..Default::default()
            },
            Err(ConfigError::NoDataDir),
        ),
        (
            AgentConfig {
                server: true,
                data_dir: Some("/tmp/x".into()),
                ..Default::default()
            },
            Ok(()),
        ),
        (
            AgentConfig {
                server: true,
                data_dir: Some("data".into()),
                ..Default::default()
            },
            Err(ConfigError::RelativePath {
                name: "data-dir",
                path: "data".into(),
            }),
        ),
        (AgentConfig::dev(), Ok(())),
        (
            AgentConfig {
                log_level: "LOUD".into(),
                ..AgentConfig::dev()
            },
            Err(ConfigError::LogLevel("LOUD".into())),
        ),
    ];
    for (config, want) in cases {
        assert_eq!(config.validate(), want, "{config:?}");
    }
}

/// Every setting drover reads, one file each, checked on the merged config.
#[test]
fn each_setting_parses() {
    type Check = fn(&AgentConfig) -> bool;
    let cases: &[(&str, Check)] = &[
        (r#"data_dir = "/var/lib/d""#, |c| {
            c.data_dir.as_deref() == Some(Path::new("/var/lib/d"))
        }),
        (r#"bind_addr = "10.0.0.1""#, |c| c.bind_addr == "10.0.0.1"),
        ("ports { http = 5656 }", |c| c.http_port == 5656),
        ("ports = { rpc = 1, serf = 2 }", |c| {
            c.rpc_port == 1 && c.serf_port == 2 && c.http_port == DEFAULT_HTTP_PORT
        }),
        (r#"region = "eu""#, |c| c.region == "eu"),
        (r#"datacenter = "dc9""#, |c| c.datacenter == "dc9"),
        (r#"name = "n1""#, |c| c.node_name == "n1"),
        (r#"log_level = "WARN""#, |c| c.log_level == "WARN"),
        ("server { enabled = true }", |c| c.server && !c.client),
        ("client { enabled = true }", |c| c.client && !c.server),
        (r#"client { enabled = "true" }"#, |c| c.client),
        (r#"client { state_dir = "/s" }"#, |c| {
            c.client_config.state_dir.as_deref() == Some(Path::new("/s"))
        }),
        (r#"client { alloc_dir = "/a" }"#, |c| {
            c.client_config.alloc_dir.as_deref() == Some(Path::new("/a"))
        }),
        (r#"client { node_class = "big" }"#, |c| {
            c.client_config.node_class == "big"
        }),
        (r#"client { node_pool = "gpu" }"#, |c| {
            c.client_config.node_pool == "gpu"
        }),
        (r#"client { meta { rack = "r1", "zone.x" = 3 } }"#, |c| {
            c.client_config.meta == map(&[("rack", "r1"), ("zone.x", "3")])
        }),
        (
            r#"client { options { "driver.denylist" = "java" } }"#,
            |c| c.client_config.driver_denylist() == ["java"],
        ),
        (
            r#"client { options = { "driver.raw_exec.enable" = true } }"#,
            |c| c.client_config.option("driver.raw_exec.enable") == Some("true"),
        ),
        (r#"client { network_interface = "eth1" }"#, |c| {
            c.client_config.network_interface == "eth1"
        }),
        (
            "client {\n min_dynamic_port = 25000\n max_dynamic_port = 26000\n}",
            |c| {
                c.client_config.min_dynamic_port == 25000
                    && c.client_config.max_dynamic_port == 26000
            },
        ),
        (
            r#"client { reserved { cpu = 500, memory = 512, disk = 1024, reserved_ports = "22,80" } }"#,
            |c| {
                let s = &c.client_config;
                s.reserved_cpu == 500
                    && s.reserved_memory_mb == 512
                    && s.reserved_disk_mb == 1024
                    && s.reserved_ports == "22,80"
            },
        ),
        (r#"client { bridge_network_name = "br9" }"#, |c| {
            c.client_config.bridge_network_name == "br9"
        }),
        (r#"client { bridge_network_subnet = "10.9.0.0/16" }"#, |c| {
            c.client_config.bridge_network_subnet == "10.9.0.0/16"
        }),
        (r#"registry { mirror = "127.0.0.1:5577" }"#, |c| {
            c.client_config.registry_mirror.as_deref() == Some("127.0.0.1:5577")
        }),
        (r#"registry { insecure = ["a:1", "b:2"] }"#, |c| {
            c.client_config.insecure_registries == ["a:1", "b:2"]
        }),
        (
            r#"registry { auth_file = "/root/.docker/config.json" }"#,
            |c| {
                c.client_config.registry_auth_file.as_deref()
                    == Some(Path::new("/root/.docker/config.json"))
            },
        ),
        // Nomad's blocks and keys drover does not use are accepted and change nothing.
        (
            "telemetry { prometheus_metrics = true }\nacl { enabled = true }\n\
             consul { address = \"x\" }\nvault { enabled = false }\n\
             plugin \"raw_exec\" { config { enabled = true } }\nui { enabled = true }\n\
             advertise { http = \"1.2.3.4\" }\naddresses { http = \"0.0.0.0\" }\n\
             server { bootstrap_expect = 1 }\nclient { servers = [\"a\"] }\n\
             leave_on_terminate = true\n",
            |c| {
                let without_files = AgentConfig {
                    config_files: Vec::new(),
                    ..c.clone()
                };
                without_files == AgentConfig::default()
            },
        ),
    ];
    for (text, check) in cases {
        let config =
            load_hcl(AgentConfig::default(), text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(check(&config), "{text}: {config:#?}");
    }
}

/// Problems name the file, the line and the key; a refused file changes nothing.
#[test]
fn bad_files_are_refused_with_their_line() {
    let cases = [
        (
            "colour = \"red\"\n",
            "line 1: unknown key \"colour\": not an agent setting in Nomad or drover",
        ),
        ("regoin = \"eu\"\n", "(did you mean \"region\"?)"),
        (
            "\nclient {\n  enable = true\n}\n",
            "line 3: unknown key \"client.enable\": not a setting of the client block in \
             Nomad or drover (did you mean \"client.enabled\"?)",
        ),
        (
            "client {\n reserved { gpus = 1 }\n}",
            "line 2: unknown key \"client.reserved.gpus\"",
        ),
        (
            "registry { mirrors = \"x\" }",
            "unknown key \"registry.mirrors\"",
        ),
        ("ports { grpc = 1 }", "unknown key \"ports.grpc\""),
        (
            "ports { http = 70000 }",
            "\"http\" must be a whole number from 0 to 65535",
        ),
        (
            "\n\nserver { enabled = \"maybe\" }",
            "line 3: \"enabled\" must be true or false",
        ),
        ("client { meta { a = [1] } }", "\"a\" must be a string"),
        (
            "region = [\"a\"]",
            "\"region\" must be a string, not a list",
        ),
        ("client = 1", "\"client\" must be a block"),
        ("a = \n", "line 2, column 1: expected a value"),
        ("client {\n", "expected `}`"),
    ];
    for (text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.hcl", text);
        let mut config = AgentConfig::dev();
        let err = config.load(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{text:?}: {err}");
        assert!(err.contains(want), "{text:?}: {err}");
        assert_eq!(config, AgentConfig::dev(), "{text:?} changed the config");
    }
}

#[test]
fn later_files_win_and_maps_merge_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.hcl",
        r#"
region = "eu"
datacenter = "dc2"
client {
  meta { rack = "r1", zone = "z1" }
  options { "driver.denylist" = "java" }
}
registry { insecure = ["a:1"] }
"#,
    );
    let b = write(
        dir.path(),
        "b.json",
        r#"{"region": "us", "datacenter": "",
            "client": [{"meta": {"zone": "z2"}, "options": {"driver.allowlist": "exec"}}],
            "registry": {"insecure": ["a:1", "b:2"], "mirror": "m:5000"}}"#,
    );
    let mut config = AgentConfig::dev();
    config.load(&a).unwrap();
    config.load(&b).unwrap();
    assert_eq!(config.region, "us");
    // An empty value does not override.
    assert_eq!(config.datacenter, "dc2");
    let s = &config.client_config;
    assert_eq!(s.meta, map(&[("rack", "r1"), ("zone", "z2")]));
    assert_eq!(
        s.options,
        map(&[
            ("driver.allowlist", "exec"),
            ("driver.denylist", "java"),
            ("driver.docker.volumes", "true"),
            ("driver.raw_exec.enable", "true"),
        ])
    );
    assert_eq!(s.insecure_registries, ["a:1", "b:2"]);
    assert_eq!(s.registry_mirror.as_deref(), Some("m:5000"));
    assert_eq!(config.config_files, [a, b]);
}

#[test]
fn a_directory_loads_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20-b.hcl", "name = \"b\"\nregion = \"r2\"\n");
    write(
        dir.path(),
        "10-a.hcl",
        "name = \"a\"\ndatacenter = \"d1\"\n",
    );
    write(dir.path(), "30-c.json", r#"{"region": "r3"}"#);
    // Not config files: an install's pending update, editor backups, other files.
    for skipped in ["40.hcl.new", "50.hcl~", ".#60.hcl", "#70.hcl#", "notes.txt"] {
        write(dir.path(), skipped, "this is not HCL {");
    }
    std::fs::create_dir(dir.path().join("80.hcl")).unwrap();
    let mut config = AgentConfig::default();
    config.load(dir.path()).unwrap();
    assert_eq!(config.node_name, "b");
    assert_eq!(config.datacenter, "d1");
    assert_eq!(config.region, "r3");
    let names: Vec<_> = config
        .config_files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["10-a.hcl", "20-b.hcl", "30-c.json"]);
    let err = config.load(&dir.path().join("missing.hcl")).unwrap_err();
    assert!(matches!(err, ConfigError::File { .. }), "{err}");
}

#[test]
fn json_errors_have_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.json", "{\n \"region\": \"x\",\n}\n");
    let err = AgentConfig::default().load(&path).unwrap_err().to_string();
    assert!(err.contains("a.json") && err.contains("line 3"), "{err}");
}

/// The configs the repository ships (examples and what `scripts/install` installs).
#[test]
fn shipped_configs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = config_dir_files(&root.join("examples/agent")).unwrap();
    files.push(root.join("dist/drover.hcl"));
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let mut config = AgentConfig::default();
        config
            .load(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if !file.ends_with("dev.hcl") {
            config
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }
    let mut dev = AgentConfig::dev();
    dev.load(&root.join("examples/agent/dev.hcl")).unwrap();
    assert_eq!(dev.client_config.driver_denylist(), ["java"]);
    assert_eq!(
        dev.client_config.option("driver.raw_exec.enable"),
        Some("true")
    );
}
