//! Registry credentials: from the job's `auth {}` block, else from Docker's
//! `config.json` (what `docker login` wrote), else anonymous (the registry's bearer-token
//! flow still runs for anonymous pulls).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

/// User name and password for HTTP basic auth or a token request.
#[derive(Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Debug, Default, Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Where Docker keeps its client config: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Looks up credentials for `registry` (as in an image reference, `docker.io` for Hub) in
/// a Docker config file. A missing file means no credentials; a malformed one is an error
/// that names the file.
pub fn from_docker_config(path: &Path, registry: &str) -> Result<Option<Credentials>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let config: DockerConfig =
        serde_json::from_slice(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    let wanted = normalise_key(registry);
    let Some((_, entry)) = config
        .auths
        .iter()
        .find(|(key, _)| normalise_key(key) == wanted)
    else {
        return Ok(None);
    };
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    let Some(encoded) = &entry.auth else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("{}: auth for {registry} is not base64: {e}", path.display()))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| format!("{}: auth for {registry} is not UTF-8", path.display()))?;
    let (username, password) = decoded.split_once(':').ok_or_else(|| {
        format!(
            "{}: auth for {registry} is not user:password",
            path.display()
        )
    })?;
    Ok(Some(Credentials {
        username: username.to_string(),
        password: password.to_string(),
    }))
}

/// Docker writes keys as `https://index.docker.io/v1/`, `host:port` or `https://host`.
fn normalise_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_config_in_its_key_forms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{
                    "https://index.docker.io/v1/":{{"auth":"{}"}},
                    "127.0.0.1:5578":{{"auth":"{}"}},
                    "https://ghcr.io":{{"username":"u","password":"p"}},
                    "broken.example":{{"auth":"!!"}}
                }}}}"#,
                b64("hub:hubpw"),
                b64("drover:pw:with:colons")
            ),
        )
        .unwrap();
        let get = |r: &str| from_docker_config(&path, r);
        assert_eq!(get("docker.io").unwrap().unwrap().username, "hub");
        let local = get("127.0.0.1:5578").unwrap().unwrap();
        assert_eq!(
            (local.username.as_str(), local.password.as_str()),
            ("drover", "pw:with:colons")
        );
        assert_eq!(get("ghcr.io").unwrap().unwrap().password, "p");
        assert_eq!(get("quay.io").unwrap(), None);
        assert!(get("broken.example").unwrap_err().contains("not base64"));
        assert_eq!(
            from_docker_config(&dir.path().join("none.json"), "docker.io").unwrap(),
            None
        );
        std::fs::write(&path, "{").unwrap();
        assert!(get("docker.io").unwrap_err().contains("config.json"));
        assert!(!format!("{local:?}").contains("pw"));
    }
}
