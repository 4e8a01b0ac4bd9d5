//! A small blocking client for the agent's HTTP API, as the CLI commands use it.
//!
//! The address comes from `-address`, else `NOMAD_ADDR`, else `DROVER_ADDR`, else
//! `http://127.0.0.1:4646`. Errors read like Nomad's: `Unexpected response code: 400
//! (<body>)`, which callers prefix with what they were doing.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

pub const DEFAULT_ADDR: &str = "http://127.0.0.1:4646";

/// The flags every API command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiFlags {
    /// The agent's HTTP address (env NOMAD_ADDR or DROVER_ADDR; default http://127.0.0.1:4646)
    #[arg(long)]
    pub address: Option<String>,
    /// The namespace (env NOMAD_NAMESPACE; default "default")
    #[arg(long)]
    pub namespace: Option<String>,
    /// An ACL token sent as X-Nomad-Token (env NOMAD_TOKEN)
    #[arg(long)]
    pub token: Option<String>,
    /// The region (env NOMAD_REGION; default: the agent's)
    #[arg(long)]
    pub region: Option<String>,
    /// Accepted as Nomad does; drover prints no colour codes anyway
    #[arg(long = "no-color", hide = true)]
    pub no_color: bool,
    /// Accepted as Nomad does; drover prints no colour codes anyway
    #[arg(long = "force-color", hide = true)]
    pub force_color: bool,
}

/// What went wrong talking to the agent.
#[derive(Debug)]
pub enum HttpError {
    /// The agent answered with an error status.
    Status { code: u16, body: String },
    /// No usable answer.
    Transport(String),
}

impl HttpError {
    /// The server's own text for a status error (for messages printed bare).
    pub fn body(&self) -> Option<&str> {
        match self {
            HttpError::Status { body, .. } => Some(body),
            HttpError::Transport(_) => None,
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Status { code, body } => {
                write!(f, "Unexpected response code: {code} ({})", body.trim_end())
            }
            HttpError::Transport(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HttpError {}

pub struct Client {
    agent: ureq::Agent,
    pub address: String,
    namespace: Option<String>,
    region: Option<String>,
    token: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Client {
    pub fn new(flags: &ApiFlags) -> Client {
        let address = flags
            .address
            .clone()
            .or_else(|| env("NOMAD_ADDR"))
            .or_else(|| env("DROVER_ADDR"))
            .unwrap_or_else(|| DEFAULT_ADDR.to_string());
        let address = address.trim_end_matches('/').to_string();
        let address = if address.contains("://") {
            address
        } else {
            format!("http://{address}")
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(400)))
            .build()
            .into();
        Client {
            agent,
            address,
            namespace: flags.namespace.clone().or_else(|| env("NOMAD_NAMESPACE")),
            region: flags.region.clone().or_else(|| env("NOMAD_REGION")),
            token: flags.token.clone().or_else(|| env("NOMAD_TOKEN")),
        }
    }

    fn url(&self, path: &str) -> String {
        let mut url = format!("{}{}", self.address, path);
        for (key, value) in [("namespace", &self.namespace), ("region", &self.region)] {
            if let Some(v) = value {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("{key}={}", encode(v)));
            }
        }
        url
    }

    /// One request; the JSON body of a 2xx answer (`null` when empty).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        let url = self.url(path);
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let result = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(t) = &self.token {
                    r = r.header("X-Nomad-Token", t);
                }
                r.call()
            }
            "DELETE" => {
                let mut r = self.agent.delete(&url);
                if let Some(t) = &self.token {
                    r = r.header("X-Nomad-Token", t);
                }
                r.call()
            }
            _ => {
                let mut r = if method == "POST" {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                if let Some(t) = &self.token {
                    r = r.header("X-Nomad-Token", t);
                }
                r.send(text)
            }
        };
        let mut resp = result.map_err(|e| HttpError::Transport(e.to_string()))?;
        let code = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        if !(200..300).contains(&code) {
            return Err(HttpError::Status { code, body: text });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| HttpError::Transport(format!("bad JSON: {e}")))
    }

    pub fn get(&self, path: &str) -> Result<Value, HttpError> {
        self.request("GET", path, None)
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value, HttpError> {
        self.request("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value, HttpError> {
        self.request("DELETE", path, None)
    }
}

/// Percent-encoding for a path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Streaming reads and the websocket address, for `alloc logs` and `alloc exec`.
impl Client {
    /// A GET whose 2xx body is read as it arrives (a log stream); errors as `request`.
    pub fn get_stream(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>, HttpError> {
        // A followed log has no end: no overall deadline.
        let mut r = self
            .agent
            .get(&self.url(path))
            .config()
            .timeout_global(None)
            .build();
        if let Some(t) = &self.token {
            r = r.header("X-Nomad-Token", t);
        }
        let mut resp = r.call().map_err(|e| HttpError::Transport(e.to_string()))?;
        let code = resp.status().as_u16();
        if !(200..300).contains(&code) {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(HttpError::Status { code, body });
        }
        Ok(Box::new(resp.into_body().into_reader()))
    }

    /// The `ws://` (or `wss://`) URL of an API path, with the namespace parameter.
    pub fn ws_url(&self, path: &str) -> String {
        let url = self.url(path);
        match url.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => url,
        }
    }

    /// The ACL token requests carry, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}
