//! `GET /v1/client/allocation/:id/exec?task=&command=[…]&tty=` (websocket): a command
//! inside a running task, with Nomad's exec protocol. Client → server text frames
//! `{"stdin":{"data":b64}}`, `{"stdin":{"close":true}}`, `{"tty_size":{…}}`; server →
//! client `{"stdout":{"data":b64}}`, `{"stderr":{…}}`, then
//! `{"exited":true,"result":{"exit_code":N}}` and a close.
//!
//! The command is `drover shim exec` (it joins the task and, with a TTY, runs the
//! command on a pty of the task's own devpts, relaying it over its stdio), so here it is
//! always pipes. It dies with the connection (`kill_on_drop`).

use std::process::Stdio;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::client_alloc::{client_of, full_alloc_id};
use super::error::ApiError;
use super::{ApiState, Req};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Client → server.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ExecInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<StreamData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty_size: Option<TtySize>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct StreamData {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub close: bool,
}

impl StreamData {
    pub fn bytes(bytes: &[u8]) -> StreamData {
        StreamData {
            data: B64.encode(bytes),
            close: false,
        }
    }

    pub fn decode(&self) -> Vec<u8> {
        B64.decode(&self.data).unwrap_or_default()
    }
}

#[derive(Debug, Default, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct TtySize {
    pub height: u16,
    pub width: u16,
}

/// Server → client.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ExecOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<StreamData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<StreamData>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exited: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ExitResult>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ExitResult {
    pub exit_code: i32,
}

pub async fn exec(
    State(api): ApiState,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    req: Req,
) -> Response {
    match prepare(&api, &req) {
        Ok((command, handshake)) => match ws {
            Ok(ws) => ws
                .on_upgrade(move |socket| session(socket, command, handshake))
                .into_response(),
            Err(rejection) => rejection.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

/// Checks the request and builds the command (errors become HTTP statuses before the
/// upgrade).
fn prepare(api: &super::Api, req: &Req) -> Result<(tokio::process::Command, bool), ApiError> {
    req.require_get()?;
    let client = client_of(api)?;
    let rest = req
        .path
        .strip_prefix("/v1/client/allocation/")
        .unwrap_or_default();
    let id = rest.strip_suffix("/exec").unwrap_or_default();
    let id = full_alloc_id(api, id);
    let task = req.param_or_empty("task");
    if task.is_empty() {
        return Err(ApiError::bad_request("missing task name"));
    }
    let argv: Vec<String> = serde_json::from_str(req.param_or_empty("command"))
        .map_err(|_| ApiError::bad_request("command is not a JSON array of strings"))?;
    if argv.is_empty() {
        return Err(ApiError::bad_request("command is not present"));
    }
    let tty = req.flag("tty")?;
    let handshake = req.flag("ws_handshake")?;
    let std_cmd = client.exec_command(&id, task, &argv, tty)?;
    let mut command = tokio::process::Command::from(std_cmd);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Ok((command, handshake))
}

enum Out {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

async fn pump(mut from: impl AsyncRead + Unpin, tx: mpsc::Sender<Out>, wrap: fn(Vec<u8>) -> Out) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || tx.send(wrap(buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
}

fn text(out: &ExecOutput) -> Message {
    Message::Text(serde_json::to_string(out).unwrap_or_default().into())
}

async fn session(mut socket: WebSocket, mut command: tokio::process::Command, handshake: bool) {
    if handshake {
        // Nomad's `{"version":1,"auth_token":…}`: drover has no ACLs to check yet.
        let _ = socket.recv().await;
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let msg = format!("failed to exec into task: {e}");
            let _ = socket
                .send(text(&ExecOutput {
                    stderr: Some(StreamData::bytes(msg.as_bytes())),
                    exited: true,
                    result: Some(ExitResult { exit_code: 126 }),
                    ..ExecOutput::default()
                }))
                .await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    };
    let mut stdin = child.stdin.take();
    let (tx, mut rx) = mpsc::channel(16);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, tx.clone(), Out::Stdout));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, tx.clone(), Out::Stderr));
    }
    drop(tx);
    // Output until both pipes close; stdin and resizes meanwhile.
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(out) = out else { break };
                let frame = match out {
                    Out::Stdout(b) => ExecOutput { stdout: Some(StreamData::bytes(&b)), ..Default::default() },
                    Out::Stderr(b) => ExecOutput { stderr: Some(StreamData::bytes(&b)), ..Default::default() },
                };
                if socket.send(text(&frame)).await.is_err() {
                    return; // the child is killed on drop
                }
            }
            msg = socket.recv() => {
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        let Ok(input) = serde_json::from_str::<ExecInput>(t.as_str()) else { continue };
                        if let Some(data) = input.stdin {
                            let bytes = data.decode();
                            if let Some(pipe) = stdin.as_mut() {
                                if !bytes.is_empty() && pipe.write_all(&bytes).await.is_err() {
                                    stdin = None;
                                }
                            }
                            if data.close {
                                stdin = None;
                            }
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
    drop(stdin);
    // Output closed; the command may still run: wait for it, unless the reader leaves.
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    };
    let code = status.map_or(126, exit_code);
    let _ = socket
        .send(text(&ExecOutput {
            exited: true,
            result: Some(ExitResult { exit_code: code }),
            ..ExecOutput::default()
        }))
        .await;
    let _ = socket.send(Message::Close(None)).await;
}

/// The exit code, or 128 + the signal as a shell reports it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_nomads_protocol() {
        let cases: [(ExecOutput, &str); 2] = [
            (
                ExecOutput {
                    stdout: Some(StreamData::bytes(b"hi\n")),
                    ..Default::default()
                },
                r#"{"stdout":{"data":"aGkK"}}"#,
            ),
            (
                ExecOutput {
                    exited: true,
                    result: Some(ExitResult { exit_code: 3 }),
                    ..Default::default()
                },
                r#"{"exited":true,"result":{"exit_code":3}}"#,
            ),
        ];
        for (frame, want) in cases {
            assert_eq!(serde_json::to_string(&frame).unwrap(), want);
        }
        let inputs = [
            (
                r#"{"stdin":{"data":"aGkK"}}"#,
                Some(b"hi\n".to_vec()),
                false,
            ),
            (r#"{"stdin":{"close":true}}"#, Some(vec![]), true),
            (r#"{"tty_size":{"height":24,"width":80}}"#, None, false),
        ];
        for (json, data, close) in inputs {
            let input: ExecInput = serde_json::from_str(json).unwrap();
            assert_eq!(input.stdin.as_ref().map(StreamData::decode), data, "{json}");
            assert_eq!(input.stdin.is_some_and(|s| s.close), close, "{json}");
        }
    }
}
