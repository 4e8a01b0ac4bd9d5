//! `drover alloc exec [-task T] [-job] [-i] [-t] [-e ~] <alloc> <cmd> [args…]`: a
//! websocket to `/v1/client/allocation/<id>/exec` speaking Nomad's exec protocol; the
//! local terminal goes raw with `-t`; the exit code is the remote command's.

use std::io::{IsTerminal, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use clap::Args;
use drover::api::client_exec::{ExecInput, ExecOutput, StreamData, TtySize};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::{job_alloc, pick_task, resolve_alloc, Ambiguity};
use crate::cli::format::s;
use crate::cli::http::{encode, ApiFlags, Client};

/// How long a read waits before stdin gets its turn.
const READ_SLICE: Duration = Duration::from_millis(20);

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub api: ApiFlags,
    /// The task to run the command in
    #[arg(long)]
    pub task: Option<String>,
    /// Treat the first argument as a job ID and use one of its allocations
    #[arg(long)]
    pub job: bool,
    /// With -job: the group whose allocation to use (accepted; any group's alloc is used)
    #[arg(long)]
    pub group: Option<String>,
    /// Pass stdin to the command (default true)
    #[arg(short = 'i', num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub interactive: Option<bool>,
    /// Allocate a TTY (default: when stdin is a terminal)
    #[arg(short = 't', num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tty: Option<bool>,
    /// `-it`/`-ti` as Nomad users type them
    #[arg(long = "it", alias = "ti", hide = true)]
    pub it: bool,
    /// The escape character (`~` then `.` closes); "none" disables
    #[arg(short = 'e', default_value = "~")]
    pub escape: String,
    #[arg(long)]
    pub verbose: bool,
    /// The allocation ID or a unique prefix (with -job: the job ID)
    pub alloc: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// The terminal's settings, put back when dropped.
struct RawMode(Option<libc::termios>);

impl RawMode {
    fn enter() -> RawMode {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed termios they fill in.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return RawMode(None);
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            RawMode(Some(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = self.0 {
            // SAFETY: restoring the settings read in `enter`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &saved) };
        }
    }
}

fn terminal_size() -> Option<TtySize> {
    // SAFETY: TIOCGWINSZ fills a winsize.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0).then_some(TtySize {
            height: ws.ws_row,
            width: ws.ws_col,
        })
    }
}

pub fn run(args: ExecArgs) -> i32 {
    match exec(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn exec(args: &ExecArgs) -> Result<i32, String> {
    let interactive = args.interactive.unwrap_or(true) || args.it;
    let tty = args.it || args.tty.unwrap_or_else(|| std::io::stdin().is_terminal());
    if tty && !interactive {
        return Err("-i must be enabled if running with tty".into());
    }
    let client = Client::new(&args.api);
    let alloc = if args.job {
        job_alloc(&client, &args.alloc)?
    } else {
        resolve_alloc(
            &client,
            &args.alloc,
            "Alloc ID must contain at least two characters.",
            Ambiguity::Exit1,
            args.verbose,
        )
        .map_err(|f| f.message)?
    };
    if matches!(
        s(&alloc, "ClientStatus").as_str(),
        "complete" | "failed" | "lost"
    ) {
        return Err(format!(
            "Allocation \"{}\" is not running",
            crate::cli::format::short(&s(&alloc, "ID"), args.verbose)
        ));
    }
    let task = pick_task(&alloc, args.task.as_deref(), None)?;
    let command = serde_json::to_string(&args.command).map_err(|e| e.to_string())?;
    let url = client.ws_url(&format!(
        "/v1/client/allocation/{}/exec?task={}&tty={tty}&command={}",
        encode(&s(&alloc, "ID")),
        encode(&task),
        encode(&command)
    ));
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("failed to exec into task: {e}"))?;
    if let Some(token) = client.token() {
        if let Ok(v) = token.parse() {
            request.headers_mut().insert("X-Nomad-Token", v);
        }
    }
    let (mut socket, _) = tungstenite::connect(request).map_err(|e| match e {
        tungstenite::Error::Http(resp) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim_end().to_string())
                .unwrap_or_default();
            format!(
                "failed to exec into task: Unexpected response code: {} ({body})",
                resp.status().as_u16()
            )
        }
        other => format!("failed to exec into task: {other}"),
    })?;
    if let MaybeTlsStream::Plain(stream) = socket.get_mut() {
        stream
            .set_read_timeout(Some(READ_SLICE))
            .map_err(|e| e.to_string())?;
    }
    let _raw = tty.then(RawMode::enter);
    if tty {
        if let Some(size) = terminal_size() {
            send(
                &mut socket,
                &ExecInput {
                    tty_size: Some(size),
                    ..Default::default()
                },
            )?;
        }
    }
    let stdin = if interactive {
        Some(spawn_stdin_reader())
    } else {
        send(&mut socket, &close_stdin())?;
        None
    };
    let escape = (tty && args.escape != "none")
        .then(|| args.escape.bytes().next())
        .flatten();
    session(&mut socket, stdin, escape)
}

fn close_stdin() -> ExecInput {
    ExecInput {
        stdin: Some(StreamData {
            data: String::new(),
            close: true,
        }),
        ..Default::default()
    }
}

/// stdin in chunks; `None` at EOF.
fn spawn_stdin_reader() -> mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

fn send(
    socket: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    input: &ExecInput,
) -> Result<(), String> {
    let text = serde_json::to_string(input).map_err(|e| e.to_string())?;
    socket
        .send(Message::text(text))
        .map_err(|e| format!("failed to exec into task: {e}"))
}

/// Detects `<escape>.` at the start of a line.
struct Escape {
    byte: u8,
    at_line_start: bool,
    pending: bool,
}

impl Escape {
    /// The bytes to forward, or `None` when the user asked to close.
    fn filter(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if self.pending {
                self.pending = false;
                if b == b'.' {
                    return None;
                }
                out.push(self.byte);
                if b == self.byte {
                    self.at_line_start = false;
                    continue;
                }
            } else if self.at_line_start && b == self.byte {
                self.pending = true;
                continue;
            }
            out.push(b);
            self.at_line_start = b == b'\r' || b == b'\n';
        }
        Some(out)
    }
}

fn session(
    socket: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    stdin: Option<mpsc::Receiver<Option<Vec<u8>>>>,
    escape: Option<u8>,
) -> Result<i32, String> {
    let mut stdin = stdin;
    let mut escape = escape.map(|byte| Escape {
        byte,
        at_line_start: true,
        pending: false,
    });
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    loop {
        if let Some(rx) = &stdin {
            let mut closed = false;
            while let Ok(chunk) = rx.try_recv() {
                match chunk {
                    Some(data) => {
                        let data = match escape.as_mut() {
                            Some(e) => match e.filter(&data) {
                                Some(d) => d,
                                None => {
                                    let _ = socket.close(None);
                                    eprintln!("\r\nConnection closed");
                                    return Ok(0);
                                }
                            },
                            None => data,
                        };
                        send(
                            socket,
                            &ExecInput {
                                stdin: Some(StreamData::bytes(&data)),
                                ..Default::default()
                            },
                        )?;
                    }
                    None => {
                        send(socket, &close_stdin())?;
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                stdin = None;
            }
        }
        let msg = match socket.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => {
                return Err("connection closed before the command exited".into())
            }
            Err(e) => return Err(format!("failed to exec into task: {e}")),
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => return Err("connection closed before the command exited".into()),
            _ => continue,
        };
        let Ok(frame) = serde_json::from_str::<ExecOutput>(text.as_str()) else {
            continue;
        };
        if let Some(data) = frame.stdout {
            let _ = out.write_all(&data.decode());
            let _ = out.flush();
        }
        if let Some(data) = frame.stderr {
            let _ = err.write_all(&data.decode());
            let _ = err.flush();
        }
        if frame.exited {
            let _ = socket.close(None);
            return Ok(frame.result.map_or(0, |r| r.exit_code));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_closes_only_at_a_line_start() {
        let cases: [(&[u8], Option<&[u8]>); 5] = [
            (b"ls\r", Some(b"ls\r")),
            (b"~.", None),
            (b"a~.", Some(b"a~.")),
            (b"\r~.", None),
            (b"~~x", Some(b"~x")),
        ];
        for (input, want) in cases {
            let mut e = Escape {
                byte: b'~',
                at_line_start: true,
                pending: false,
            };
            assert_eq!(
                e.filter(input).as_deref(),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
