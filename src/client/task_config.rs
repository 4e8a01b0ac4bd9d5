//! A task's `config` block (already interpolated) decoded into the typed config of its
//! driver, with Nomad's field names: `docker`/`container` as Nomad's docker driver reads
//! it, `exec` and `raw_exec` as theirs. Errors name the task and the field.

use drover_driver::runtime::drivers::DriverKind;
use serde_json::{Map, Value};

use crate::structs::Task;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskConfigError {
    #[error(
        "driver {driver:?} is not supported (drover runs container, docker, exec and raw_exec)"
    )]
    UnknownDriver { driver: String },
    #[error("task {task:?}: config {field:?} is required")]
    Missing { task: String, field: String },
    #[error("task {task:?}: config {field:?}: expected {expected}")]
    Type {
        task: String,
        field: String,
        expected: &'static str,
    },
    #[error("task {task:?}: config {field:?}: no such option for driver {driver:?}")]
    Unknown {
        task: String,
        driver: String,
        field: String,
    },
}

/// The job's `driver = "…"`: `docker` runs on the native container driver.
pub fn driver_kind(name: &str) -> Result<DriverKind, TaskConfigError> {
    DriverKind::parse(name).ok_or_else(|| TaskConfigError::UnknownDriver {
        driver: name.to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDriverConfig {
    /// Boxed: it is much larger than the others.
    Container(Box<ContainerConfig>),
    Exec(ExecConfig),
    RawExec(RawExecConfig),
}

/// `auth { … }`: registry credentials for the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    pub server_address: String,
}

/// A `docker` (or `container`) task's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    pub image: String,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub work_dir: Option<String>,
    /// From the task's `user`, not the config.
    pub user: Option<String>,
    /// `host:container[:ro]`.
    pub volumes: Vec<String>,
    pub hostname: Option<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// Labels of the group's ports to publish.
    pub ports: Vec<String>,
    pub auth: Option<RegistryAuth>,
    pub force_pull: bool,
    pub network_mode: Option<String>,
    /// Options of Nomad's docker driver that drover accepts but does not apply (the
    /// runner may log them).
    pub ignored: Vec<String>,
}

/// An `exec` task's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    pub command: String,
    pub args: Vec<String>,
    /// `private` or `host`; empty: the driver's default (`private`).
    pub pid_mode: String,
    pub ipc_mode: String,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub work_dir: Option<String>,
}

/// A `raw_exec` task's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawExecConfig {
    pub command: String,
    pub args: Vec<String>,
    pub work_dir: Option<String>,
    /// Accepted options drover does not apply (cgroup overrides, oom_score_adj …).
    pub ignored: Vec<String>,
}

/// Nomad's docker options that drover's container driver does not implement.
const DOCKER_IGNORED: &[&str] = &[
    "auth_soft_fail",
    "cgroupns",
    "cpuset_cpus",
    "cpu_hard_limit",
    "cpu_cfs_period",
    "container_exists_attempts",
    "devices",
    "dns_search_domains",
    "dns_options",
    "dns_servers",
    "extra_hosts",
    "group_add",
    "healthchecks",
    "init",
    "interactive",
    "ipc_mode",
    "isolation",
    "labels",
    "load",
    "logging",
    "mac_address",
    "memory_hard_limit",
    "mount",
    "mounts",
    "network_aliases",
    "oom_score_adj",
    "runtime",
    "pids_limit",
    "pid_mode",
    "port_map",
    "image_pull_timeout",
    "readonly_rootfs",
    "security_opt",
    "shm_size",
    "storage_opt",
    "sysctl",
    "tty",
    "ulimit",
    "uts_mode",
    "userns_mode",
    "volume_driver",
];

const RAW_EXEC_IGNORED: &[&str] = &[
    "cgroup_v2_override",
    "cgroup_v1_override",
    "oom_score_adj",
    "denied_envvars",
];

/// Decodes `config` for the task `task` of driver `driver`.
pub fn parse(
    task: &str,
    driver: &str,
    config: &Map<String, Value>,
) -> Result<TaskDriverConfig, TaskConfigError> {
    let d = Decoder {
        task,
        driver,
        config,
    };
    match driver_kind(driver)? {
        DriverKind::Container => d
            .container()
            .map(|c| TaskDriverConfig::Container(Box::new(c))),
        DriverKind::Exec => d.exec().map(TaskDriverConfig::Exec),
        DriverKind::RawExec => d.raw_exec().map(TaskDriverConfig::RawExec),
    }
}

/// [`parse`] for a job's task with its config as given (or interpolated, in `config`);
/// the container's user comes from the task's `user`.
pub fn parse_task(
    task: &Task,
    config: &Map<String, Value>,
) -> Result<TaskDriverConfig, TaskConfigError> {
    let mut parsed = parse(&task.name, &task.driver, config)?;
    if let TaskDriverConfig::Container(c) = &mut parsed {
        c.user = (!task.user.is_empty()).then(|| task.user.clone());
    }
    Ok(parsed)
}

struct Decoder<'a> {
    task: &'a str,
    driver: &'a str,
    config: &'a Map<String, Value>,
}

impl Decoder<'_> {
    fn type_error(&self, field: &str, expected: &'static str) -> TaskConfigError {
        TaskConfigError::Type {
            task: self.task.to_string(),
            field: field.to_string(),
            expected,
        }
    }

    /// Unknown keys are errors; the ignored ones are returned, sorted.
    fn check_keys(&self, known: &[&str], ignored: &[&str]) -> Result<Vec<String>, TaskConfigError> {
        let mut out = Vec::new();
        for key in self.config.keys() {
            if ignored.contains(&key.as_str()) {
                out.push(key.clone());
            } else if !known.contains(&key.as_str()) {
                return Err(TaskConfigError::Unknown {
                    task: self.task.to_string(),
                    driver: self.driver.to_string(),
                    field: key.clone(),
                });
            }
        }
        Ok(out)
    }

    fn string(&self, field: &str) -> Result<Option<String>, TaskConfigError> {
        match self.config.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => scalar_string(v)
                .map(Some)
                .ok_or_else(|| self.type_error(field, "a string")),
        }
    }

    fn required_string(&self, field: &str) -> Result<String, TaskConfigError> {
        match self.string(field)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(TaskConfigError::Missing {
                task: self.task.to_string(),
                field: field.to_string(),
            }),
        }
    }

    fn list(&self, field: &str) -> Result<Option<Vec<String>>, TaskConfigError> {
        match self.config.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(scalar_string)
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.type_error(field, "a list of strings")),
            Some(_) => Err(self.type_error(field, "a list of strings")),
        }
    }

    fn bool(&self, field: &str) -> Result<bool, TaskConfigError> {
        match self.config.get(field) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            // HCL converts the strings "true" and "false" to booleans.
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" => Ok(false),
            Some(_) => Err(self.type_error(field, "a boolean")),
        }
    }

    /// A block: one object, or HCL's list of one object.
    fn block(&self, field: &str) -> Result<Option<&Map<String, Value>>, TaskConfigError> {
        match self.config.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(Value::Array(items)) if items.is_empty() => Ok(None),
            Some(Value::Array(items)) if items.len() == 1 => match &items[0] {
                Value::Object(m) => Ok(Some(m)),
                _ => Err(self.type_error(field, "a block")),
            },
            Some(_) => Err(self.type_error(field, "a single block")),
        }
    }

    fn container(&self) -> Result<ContainerConfig, TaskConfigError> {
        const KNOWN: &[&str] = &[
            "image",
            "command",
            "args",
            "entrypoint",
            "work_dir",
            "volumes",
            "hostname",
            "cap_add",
            "cap_drop",
            "privileged",
            "ports",
            "auth",
            "force_pull",
            "network_mode",
        ];
        let ignored = self.check_keys(KNOWN, DOCKER_IGNORED)?;
        let auth = match self.block("auth")? {
            None => None,
            Some(m) => {
                let sub = Decoder {
                    task: self.task,
                    driver: self.driver,
                    config: m,
                };
                sub.check_keys(&["username", "password", "email", "server_address"], &[])
                    .map_err(|e| nest(e, "auth"))?;
                let get = |f: &str| {
                    sub.string(f)
                        .map(Option::unwrap_or_default)
                        .map_err(|e| nest(e, "auth"))
                };
                Some(RegistryAuth {
                    username: get("username")?,
                    password: get("password")?,
                    server_address: get("server_address")?,
                })
            }
        };
        Ok(ContainerConfig {
            image: self.required_string("image")?,
            command: self.string("command")?.filter(|c| !c.is_empty()),
            args: self.list("args")?.unwrap_or_default(),
            entrypoint: self.list("entrypoint")?,
            work_dir: self.string("work_dir")?.filter(|w| !w.is_empty()),
            user: None,
            volumes: self.list("volumes")?.unwrap_or_default(),
            hostname: self.string("hostname")?.filter(|h| !h.is_empty()),
            cap_add: self.list("cap_add")?.unwrap_or_default(),
            cap_drop: self.list("cap_drop")?.unwrap_or_default(),
            privileged: self.bool("privileged")?,
            ports: self.list("ports")?.unwrap_or_default(),
            auth,
            force_pull: self.bool("force_pull")?,
            network_mode: self.string("network_mode")?.filter(|m| !m.is_empty()),
            ignored,
        })
    }

    fn exec(&self) -> Result<ExecConfig, TaskConfigError> {
        const KNOWN: &[&str] = &[
            "command", "args", "pid_mode", "ipc_mode", "cap_add", "cap_drop", "work_dir",
        ];
        self.check_keys(KNOWN, &[])?;
        let mode = |field: &str| -> Result<String, TaskConfigError> {
            let m = self.string(field)?.unwrap_or_default();
            match m.as_str() {
                "" | "private" | "host" => Ok(m),
                _ => Err(self.type_error(field, "\"private\" or \"host\"")),
            }
        };
        Ok(ExecConfig {
            command: self.required_string("command")?,
            args: self.list("args")?.unwrap_or_default(),
            pid_mode: mode("pid_mode")?,
            ipc_mode: mode("ipc_mode")?,
            cap_add: self.list("cap_add")?.unwrap_or_default(),
            cap_drop: self.list("cap_drop")?.unwrap_or_default(),
            work_dir: self.string("work_dir")?.filter(|w| !w.is_empty()),
        })
    }

    fn raw_exec(&self) -> Result<RawExecConfig, TaskConfigError> {
        let ignored = self.check_keys(&["command", "args", "work_dir"], RAW_EXEC_IGNORED)?;
        Ok(RawExecConfig {
            command: self.required_string("command")?,
            args: self.list("args")?.unwrap_or_default(),
            work_dir: self.string("work_dir")?.filter(|w| !w.is_empty()),
            ignored,
        })
    }
}

/// `auth.username` rather than `username` in errors from inside a block.
fn nest(e: TaskConfigError, block: &str) -> TaskConfigError {
    match e {
        TaskConfigError::Missing { task, field } => TaskConfigError::Missing {
            task,
            field: format!("{block}.{field}"),
        },
        TaskConfigError::Type {
            task,
            field,
            expected,
        } => TaskConfigError::Type {
            task,
            field: format!("{block}.{field}"),
            expected,
        },
        TaskConfigError::Unknown {
            task,
            driver,
            field,
        } => TaskConfigError::Unknown {
            task,
            driver,
            field: format!("{block}.{field}"),
        },
        other => other,
    }
}

/// HCL converts numbers and booleans to strings where a string is wanted.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn docker_config_decodes() {
        let config = map(json!({
            "image": "redis:3.2",
            "command": "redis-server",
            "args": ["--port", 6379, true],
            "entrypoint": ["/bin/sh", "-c"],
            "work_dir": "/data",
            "volumes": ["local/conf:/etc/redis:ro"],
            "hostname": "cache",
            "cap_add": ["net_admin"],
            "cap_drop": ["chown"],
            "privileged": "false",
            "ports": ["db"],
            "auth": [{"username": "u", "password": "p", "server_address": "reg:5000"}],
            "force_pull": true,
            "network_mode": "bridge",
            "labels": [{"a": "b"}],
            "logging": [{"type": "journald"}],
        }));
        let task = Task {
            name: "redis".into(),
            driver: "docker".into(),
            user: "redis".into(),
            ..Default::default()
        };
        let TaskDriverConfig::Container(c) = parse_task(&task, &config).unwrap() else {
            panic!("not a container config");
        };
        assert_eq!(c.image, "redis:3.2");
        assert_eq!(c.command.as_deref(), Some("redis-server"));
        assert_eq!(c.args, ["--port", "6379", "true"]);
        assert_eq!(c.entrypoint, Some(vec!["/bin/sh".into(), "-c".into()]));
        assert_eq!(c.work_dir.as_deref(), Some("/data"));
        assert_eq!(c.user.as_deref(), Some("redis"));
        assert_eq!(c.volumes, ["local/conf:/etc/redis:ro"]);
        assert_eq!(c.hostname.as_deref(), Some("cache"));
        assert_eq!((c.cap_add.len(), c.cap_drop.len()), (1, 1));
        assert!(!c.privileged && c.force_pull);
        assert_eq!(c.ports, ["db"]);
        assert_eq!(
            c.auth,
            Some(RegistryAuth {
                username: "u".into(),
                password: "p".into(),
                server_address: "reg:5000".into()
            })
        );
        assert_eq!(c.network_mode.as_deref(), Some("bridge"));
        assert_eq!(c.ignored, ["labels", "logging"]);

        // The minimum; the container driver's own name; auth as a JSON object.
        let minimal = map(json!({"image": "busybox", "auth": {"username": "x"}}));
        let TaskDriverConfig::Container(c) = parse("t", "container", &minimal).unwrap() else {
            panic!("not a container config");
        };
        assert_eq!((c.command, c.entrypoint, c.user), (None, None, None));
        assert_eq!(c.auth.unwrap().password, "");
    }

    #[test]
    fn exec_and_raw_exec_decode() {
        let exec = map(json!({
            "command": "/bin/sleep", "args": ["10"], "pid_mode": "host", "work_dir": "/local"
        }));
        assert_eq!(
            parse("s", "exec", &exec).unwrap(),
            TaskDriverConfig::Exec(ExecConfig {
                command: "/bin/sleep".into(),
                args: vec!["10".into()],
                pid_mode: "host".into(),
                work_dir: Some("/local".into()),
                ..Default::default()
            })
        );
        let raw = map(json!({"command": "echo", "args": ["hi"], "oom_score_adj": 5}));
        assert_eq!(
            parse("s", "raw_exec", &raw).unwrap(),
            TaskDriverConfig::RawExec(RawExecConfig {
                command: "echo".into(),
                args: vec!["hi".into()],
                work_dir: None,
                ignored: vec!["oom_score_adj".into()],
            })
        );
    }

    #[test]
    fn errors_name_the_task_and_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "docker",
                json!({"image": "redis", "ports": "db"}),
                "task \"redis\": config \"ports\": expected a list of strings",
            ),
            (
                "docker",
                json!({"image": "redis", "args": [["nested"]]}),
                "task \"redis\": config \"args\": expected a list of strings",
            ),
            (
                "docker",
                json!({"image": ["redis"]}),
                "task \"redis\": config \"image\": expected a string",
            ),
            ("docker", json!({}), "task \"redis\": config \"image\" is required"),
            (
                "docker",
                json!({"image": "redis", "privileged": "yes"}),
                "task \"redis\": config \"privileged\": expected a boolean",
            ),
            (
                "docker",
                json!({"image": "redis", "colour": "blue"}),
                "task \"redis\": config \"colour\": no such option for driver \"docker\"",
            ),
            (
                "docker",
                json!({"image": "redis", "auth": [{"user": "x"}]}),
                "task \"redis\": config \"auth.user\": no such option for driver \"docker\"",
            ),
            (
                "docker",
                json!({"image": "redis", "auth": [{}, {}]}),
                "task \"redis\": config \"auth\": expected a single block",
            ),
            (
                "docker",
                json!({"image": "redis", "auth": "u:p"}),
                "task \"redis\": config \"auth\": expected a single block",
            ),
            ("exec", json!({"args": ["x"]}), "task \"redis\": config \"command\" is required"),
            (
                "exec",
                json!({"command": "x", "image": "redis"}),
                "task \"redis\": config \"image\": no such option for driver \"exec\"",
            ),
            (
                "exec",
                json!({"command": "x", "ipc_mode": "shared"}),
                "task \"redis\": config \"ipc_mode\": expected \"private\" or \"host\"",
            ),
            (
                "raw_exec",
                json!({"command": {"path": "x"}}),
                "task \"redis\": config \"command\": expected a string",
            ),
            (
                "java",
                json!({}),
                "driver \"java\" is not supported (drover runs container, docker, exec and raw_exec)",
            ),
        ];
        for (driver, config, want) in cases {
            let err = parse("redis", driver, &map(config)).unwrap_err();
            assert_eq!(err.to_string(), want, "{driver}");
        }
    }

    #[test]
    fn driver_kinds() {
        assert_eq!(driver_kind("docker"), Ok(DriverKind::Container));
        assert_eq!(driver_kind("container"), Ok(DriverKind::Container));
        assert_eq!(driver_kind("exec"), Ok(DriverKind::Exec));
        assert_eq!(driver_kind("raw_exec"), Ok(DriverKind::RawExec));
        assert!(driver_kind("qemu").is_err());
    }
}
