//! What the client writes into a task's directory before it starts: `artifact`s
//! (fetched) and `template`s (rendered).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ValidationErrors, SECOND};

/// `artifact` block: something go-getter fetches into the task directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskArtifact {
    pub getter_source: String,
    pub getter_options: BTreeMap<String, String>,
    pub getter_headers: BTreeMap<String, String>,
    /// `any` (default), `file` or `dir`.
    pub getter_mode: String,
    pub getter_insecure: bool,
    pub relative_dest: String,
    pub chown: bool,
}

/// `template` block: a consul-template rendered into the task directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Template {
    pub source_path: String,
    pub dest_path: String,
    pub embedded_tmpl: String,
    /// `restart` (default), `noop`, `signal` or `script`.
    pub change_mode: String,
    pub change_signal: String,
    pub change_script: Option<ChangeScript>,
    /// Nanoseconds; default 5s.
    pub splay: Option<i64>,
    /// Octal; default `0644`.
    pub perms: String,
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    pub left_delim: String,
    pub right_delim: String,
    pub envvars: bool,
    /// Nanoseconds.
    pub vault_grace: i64,
    pub wait: Option<WaitConfig>,
    pub err_missing_key: bool,
    pub once: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ChangeScript {
    pub command: String,
    pub args: Vec<String>,
    /// Nanoseconds; default 5s.
    pub timeout: i64,
    pub fail_on_error: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitConfig {
    /// Nanoseconds.
    pub min: Option<i64>,
    /// Nanoseconds.
    pub max: Option<i64>,
}

impl TaskArtifact {
    pub(crate) fn canonicalize(&mut self) {
        if self.getter_mode.is_empty() {
            self.getter_mode = "any".into();
        }
        if self.relative_dest.is_empty() {
            self.relative_dest = if self.getter_mode == "file" {
                let base = self
                    .getter_source
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default();
                format!("local/{base}")
            } else {
                "local/".into()
            };
        }
    }

    pub(crate) fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        if self.getter_source.is_empty() {
            errs.push("source must be specified");
        }
        match self.getter_mode.as_str() {
            "" | "any" | "file" | "dir" => {}
            other => errs.push(format!(
                "invalid artifact mode {other:?}; must be one of: any, file, dir"
            )),
        }
        if escapes_alloc_dir(1, &self.relative_dest) {
            errs.push("destination escapes allocation directory");
        }
        errs
    }
}

impl Template {
    pub(crate) fn canonicalize(&mut self) {
        if self.change_mode.is_empty() {
            self.change_mode = "restart".into();
        }
        if self.change_signal.is_empty() && self.change_mode == "signal" {
            self.change_signal = "SIGHUP".into();
        }
        self.change_signal = self.change_signal.to_uppercase();
        if let Some(script) = &mut self.change_script {
            if script.timeout == 0 {
                script.timeout = 5 * SECOND;
            }
        }
        self.splay.get_or_insert(5 * SECOND);
        if self.perms.is_empty() {
            self.perms = "0644".into();
        }
        if self.left_delim.is_empty() {
            self.left_delim = "{{".into();
        }
        if self.right_delim.is_empty() {
            self.right_delim = "}}".into();
        }
    }

    pub(crate) fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        if self.source_path.is_empty() && self.embedded_tmpl.is_empty() {
            errs.push("Must specify a source path or have an embedded template");
        }
        if self.dest_path.is_empty() {
            errs.push("Must specify a destination for the template");
        }
        if escapes_alloc_dir(1, &self.dest_path) {
            errs.push("destination escapes allocation directory");
        }
        match self.change_mode.as_str() {
            "noop" | "restart" => {}
            "signal" => {
                if self.change_signal.is_empty() {
                    errs.push("Must specify signal value when change mode is signal");
                }
                if self.envvars {
                    errs.push("cannot use signals with env var templates");
                }
            }
            "script" => match &self.change_script {
                None => errs.push(
                    "must specify change script configuration value when change mode is script",
                ),
                Some(s) if s.command.is_empty() => {
                    errs.push("must specify script path value when change mode is script")
                }
                Some(_) => {}
            },
            _ => errs.push("Invalid change mode. Must be noop, restart, signal or script"),
        }
        if self.splay.unwrap_or_default() < 0 {
            errs.push("Must specify positive splay value");
        }
        if !self.perms.is_empty()
            && (self.perms.len() > 4 || u32::from_str_radix(&self.perms, 8).is_err())
        {
            errs.push(format!("Failed to parse {:?} as octal", self.perms));
        }
        errs
    }
}

/// Whether `path`, taken relative to a directory `depth` levels below the allocation
/// directory (absolute paths included, as Nomad joins them), leaves it.
pub(crate) fn escapes_alloc_dir(depth: i64, path: &str) -> bool {
    let mut level = depth;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                level -= 1;
                if level < 0 {
                    return true;
                }
            }
            _ => level += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_dir_escapes() {
        assert!(!escapes_alloc_dir(1, "local/file"));
        assert!(!escapes_alloc_dir(1, "../alloc/data"));
        assert!(!escapes_alloc_dir(1, "/local/x"));
        assert!(escapes_alloc_dir(1, "../../etc/passwd"));
        assert!(escapes_alloc_dir(1, "local/../../../x"));
    }

    #[test]
    fn template_defaults_and_checks() {
        let mut t = Template {
            embedded_tmpl: "x".into(),
            dest_path: "local/x.conf".into(),
            change_mode: "signal".into(),
            ..Default::default()
        };
        t.canonicalize();
        assert_eq!(t.change_signal, "SIGHUP");
        assert_eq!(t.perms, "0644");
        assert_eq!(t.splay, Some(5 * SECOND));
        assert!(t.validate().is_empty(), "{:?}", t.validate());
        t.perms = "0999".into();
        t.dest_path = "../../x".into();
        assert_eq!(
            t.validate().0,
            vec![
                "destination escapes allocation directory",
                "Failed to parse \"0999\" as octal"
            ]
        );
    }

    #[test]
    fn artifact_destinations() {
        let mut a = TaskArtifact {
            getter_source: "https://example.com/app.tar.gz".into(),
            getter_mode: "file".into(),
            ..Default::default()
        };
        a.canonicalize();
        assert_eq!(a.relative_dest, "local/app.tar.gz");
        let mut a = TaskArtifact::default();
        a.canonicalize();
        assert_eq!(
            (a.getter_mode.as_str(), a.relative_dest.as_str()),
            ("any", "local/")
        );
        assert_eq!(a.validate().0, vec!["source must be specified"]);
    }
}
