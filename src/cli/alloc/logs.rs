//! `drover alloc logs [-stderr] [-stdout] [-f] [-tail] [-n N] [-c B] [-task T] [-job]
//! <alloc> [<task>]` (alias `drover logs`): the framed log stream, decoded (§1.7).

use std::io::{Read, Write};

use clap::Args;
use drover::api::client_fs::frames::FrameDecoder;

use super::{job_alloc, pick_task, resolve_alloc, Ambiguity};
use crate::cli::format::s;
use crate::cli::http::{encode, ApiFlags, Client};

/// Nomad's guess at a line's length, for `-n` (best effort).
const BYTES_PER_LINE: u64 = 120;
const DEFAULT_TAIL_LINES: u64 = 10;
/// How long `-tail -n` gathers the end of a busy log before cutting it to N lines.
const HOLD_TAIL: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub api: ApiFlags,
    /// Show the task's stdout (the default)
    #[arg(long)]
    pub stdout: bool,
    /// Show the task's stderr
    #[arg(long)]
    pub stderr: bool,
    /// Follow the logs as they are written
    #[arg(short = 'f')]
    pub follow: bool,
    /// Start from the end of the logs (with -n or -c; default 10 lines)
    #[arg(long)]
    pub tail: bool,
    /// With -tail: how many lines to show
    #[arg(short = 'n')]
    pub lines: Option<u64>,
    /// With -tail: how many bytes to show
    #[arg(short = 'c')]
    pub bytes: Option<u64>,
    /// The task (wins over the positional task)
    #[arg(long)]
    pub task: Option<String>,
    /// Treat the argument as a job ID and use one of its allocations
    #[arg(long)]
    pub job: bool,
    /// Full IDs in messages
    #[arg(long)]
    pub verbose: bool,
    /// The allocation ID or a unique prefix (with -job: the job ID)
    pub alloc: String,
    /// The task, when the group has more than one
    pub task_name: Option<String>,
}

/// What one stream request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub kind: &'static str,
    pub from_end: bool,
    pub offset: u64,
    pub follow: bool,
    /// Keep only the last N lines of what is read first.
    pub last_lines: Option<u64>,
}

/// The requests the flags make, or Nomad's error for a bad combination.
pub fn plans(args: &LogsArgs) -> Result<Vec<Plan>, String> {
    if args.lines.is_some() && args.bytes.is_some() {
        return Err("both -n and -c set".into());
    }
    let tailing = args.tail || args.lines.is_some() || args.bytes.is_some();
    // `-f` alone follows both streams from their current end.
    if args.follow && !args.stdout && !args.stderr && !tailing {
        return Ok(["stdout", "stderr"]
            .into_iter()
            .map(|kind| Plan {
                kind,
                from_end: true,
                offset: 0,
                follow: true,
                last_lines: None,
            })
            .collect());
    }
    if args.stdout && args.stderr {
        return Err("Unable to support both stdout and stderr".into());
    }
    let kind = if args.stderr { "stderr" } else { "stdout" };
    let (from_end, offset, last_lines) = if tailing {
        match (args.lines, args.bytes) {
            (_, Some(c)) => (true, c, None),
            (n, None) => {
                let n = n.unwrap_or(DEFAULT_TAIL_LINES);
                (true, n * BYTES_PER_LINE, Some(n))
            }
        }
    } else {
        (false, 0, None)
    };
    Ok(vec![Plan {
        kind,
        from_end,
        offset,
        follow: args.follow,
        last_lines,
    }])
}

pub fn run(args: LogsArgs) -> i32 {
    let client = Client::new(&args.api);
    let plans = match plans(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let alloc = if args.job {
        job_alloc(&client, &args.alloc)
    } else {
        resolve_alloc(
            &client,
            &args.alloc,
            "Alloc ID must contain at least two characters.",
            Ambiguity::Exit1,
            args.verbose,
        )
        .map_err(|f| f.message)
    };
    let alloc = match alloc {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let task = match pick_task(&alloc, args.task.as_deref(), args.task_name.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let alloc_id = s(&alloc, "ID");
    // One stream goes to stdout whichever it is; following both keeps them apart.
    let both = plans.len() > 1;
    let streams: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let path = format!(
                "/v1/client/fs/logs/{}?task={}&type={}&origin={}&offset={}&follow={}",
                encode(&alloc_id),
                encode(&task),
                plan.kind,
                if plan.from_end { "end" } else { "start" },
                plan.offset,
                plan.follow,
            );
            let client = Client::new(&args.api);
            std::thread::spawn(move || {
                let result = client
                    .get_stream(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|body| {
                        if both && plan.kind == "stderr" {
                            copy_frames(body, &mut std::io::stderr(), plan.last_lines)
                        } else {
                            copy_frames(body, &mut std::io::stdout(), plan.last_lines)
                        }
                    });
                let what = if plan.from_end { "tailing" } else { "reading" };
                result.map_err(|e| {
                    format!("Failed to read {} file: error {what} file: {e}", plan.kind)
                })
            })
        })
        .collect();
    drop(client);
    let mut code = 0;
    for handle in streams {
        if let Err(e) = handle
            .join()
            .unwrap_or_else(|_| Err("log reader failed".into()))
        {
            eprintln!("{e}");
            code = 1;
        }
    }
    code
}

/// Decodes frames from `body` and writes their data to `out`. With `last_lines`, what
/// arrives before the stream first goes idle (a heartbeat), ends, or a second has passed
/// (Nomad's line-limit reader) is cut to its last N lines; later data passes through.
pub fn copy_frames(
    body: impl Read,
    out: &mut impl Write,
    last_lines: Option<u64>,
) -> Result<(), String> {
    copy_frames_holding(body, out, last_lines, HOLD_TAIL)
}

fn copy_frames_holding(
    mut body: impl Read,
    out: &mut impl Write,
    last_lines: Option<u64>,
    hold: std::time::Duration,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut decoder = FrameDecoder::default();
    let mut held: Option<Vec<u8>> = last_lines.map(|_| Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    let flush_held = |held: &mut Option<Vec<u8>>, out: &mut dyn Write| -> Result<(), String> {
        if let (Some(data), Some(n)) = (held.take(), last_lines) {
            out.write_all(last_n_lines(&data, n))
                .and_then(|_| out.flush())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    loop {
        let n = body.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let frames = decoder.push(&buf[..n]).map_err(|e| e.to_string())?;
        for frame in frames {
            if frame.is_heartbeat() {
                flush_held(&mut held, out)?;
                continue;
            }
            let data = frame.bytes();
            if held.is_some() && started.elapsed() >= hold {
                if let Some(h) = held.as_mut() {
                    h.extend_from_slice(&data);
                }
                flush_held(&mut held, out)?;
                continue;
            }
            match held.as_mut() {
                Some(h) => h.extend_from_slice(&data),
                None => {
                    out.write_all(&data).map_err(|e| e.to_string())?;
                    out.flush().map_err(|e| e.to_string())?;
                }
            }
        }
    }
    flush_held(&mut held, out)
}

/// The last `n` lines of `data` (a trailing newline does not start a line).
pub fn last_n_lines(data: &[u8], n: u64) -> &[u8] {
    if n == 0 {
        return &data[data.len()..];
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return &data[i + 1..];
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover::api::client_fs::frames::StreamFrame;

    fn args(flags: &[&str]) -> LogsArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            logs: LogsArgs,
        }
        let argv = std::iter::once("logs")
            .chain(flags.iter().copied())
            .chain(["abcd1234"]);
        Wrap::try_parse_from(argv).unwrap().logs
    }

    #[test]
    fn flags_make_nomads_requests() {
        let plan = |kind, from_end, offset, follow, last_lines| Plan {
            kind,
            from_end,
            offset,
            follow,
            last_lines,
        };
        type Case = (&'static [&'static str], Result<Vec<Plan>, &'static str>);
        let cases: Vec<Case> = vec![
            (&[], Ok(vec![plan("stdout", false, 0, false, None)])),
            (
                &["--stderr"],
                Ok(vec![plan("stderr", false, 0, false, None)]),
            ),
            (
                &["--tail"],
                Ok(vec![plan("stdout", true, 1200, false, Some(10))]),
            ),
            (
                &["--tail", "-n", "1"],
                Ok(vec![plan("stdout", true, 120, false, Some(1))]),
            ),
            (
                &["--tail", "-c", "50"],
                Ok(vec![plan("stdout", true, 50, false, None)]),
            ),
            (&["-n", "2", "-c", "5"], Err("both -n and -c set")),
            (
                &["-f"],
                Ok(vec![
                    plan("stdout", true, 0, true, None),
                    plan("stderr", true, 0, true, None),
                ]),
            ),
            (
                &["-f", "--stderr"],
                Ok(vec![plan("stderr", false, 0, true, None)]),
            ),
            (
                &["--stdout", "--stderr"],
                Err("Unable to support both stdout and stderr"),
            ),
        ];
        for (flags, want) in cases {
            assert_eq!(plans(&args(flags)), want.map_err(String::from), "{flags:?}");
        }
    }

    #[test]
    fn frames_become_bytes_and_tails_cut_to_lines() {
        let mut wire = Vec::new();
        wire.extend(StreamFrame::data("f", b"one\ntwo\n", 8).encode());
        wire.extend(StreamFrame::data("f", b"three\n", 14).encode());
        let cases = [
            (None, "one\ntwo\nthree\n"),
            (Some(1), "three\n"),
            (Some(2), "two\nthree\n"),
            (Some(9), "one\ntwo\nthree\n"),
        ];
        let forever = std::time::Duration::MAX;
        for (lines, want) in cases {
            let mut out = Vec::new();
            copy_frames_holding(&wire[..], &mut out, lines, forever).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{lines:?}");
        }
        // After the first idle heartbeat, data passes through uncut.
        wire.extend(StreamFrame::default().encode());
        wire.extend(StreamFrame::data("f", b"four\nfive\n", 24).encode());
        let mut out = Vec::new();
        copy_frames_holding(&wire[..], &mut out, Some(1), forever).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "three\nfour\nfive\n");
        // A busy log is cut once the hold time has passed, heartbeat or not.
        let mut out = Vec::new();
        copy_frames_holding(&wire[..], &mut out, Some(1), std::time::Duration::ZERO).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "two\nthree\nfour\nfive\n");
        assert!(copy_frames(&b"{\"Data\": 5}"[..], &mut Vec::new(), None).is_err());
    }
}
