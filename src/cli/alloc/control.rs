//! `drover alloc restart|signal|stop`: silent on success like Nomad's, `stop` then
//! monitors the evaluation it created (`-detach` prints its ID).

use clap::Args;
use serde_json::json;

use super::{pick_task, resolve_alloc, Ambiguity};
use crate::cli::format::s;
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::job::monitor::monitor;

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub api: ApiFlags,
    /// The task to restart (wins over the positional task)
    #[arg(long)]
    pub task: Option<String>,
    /// Restart every task, prestart and poststart ones included
    #[arg(long = "all-tasks")]
    pub all_tasks: bool,
    #[arg(long)]
    pub verbose: bool,
    pub alloc: String,
    pub task_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct SignalArgs {
    #[command(flatten)]
    pub api: ApiFlags,
    /// The signal (default SIGKILL)
    #[arg(short = 's', default_value = "")]
    pub signal: String,
    /// The task to signal (wins over the positional task)
    #[arg(long)]
    pub task: Option<String>,
    #[arg(long)]
    pub verbose: bool,
    pub alloc: String,
    pub task_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub api: ApiFlags,
    /// Print the evaluation ID instead of monitoring it
    #[arg(long)]
    pub detach: bool,
    /// Full IDs
    #[arg(long)]
    pub verbose: bool,
    /// Stop without rescheduling is not supported by drover yet; accepted for Nomad's CLI
    #[arg(long = "no-shutdown-delay")]
    pub no_shutdown_delay: bool,
    pub alloc: String,
}

fn lookup(client: &Client, prefix: &str, verbose: bool) -> Result<serde_json::Value, i32> {
    resolve_alloc(
        client,
        prefix,
        "Alloc ID must contain at least two characters.",
        Ambiguity::Exit1,
        verbose,
    )
    .map_err(|f| {
        eprintln!("{}", f.message);
        1
    })
}

/// The task named by flag or argument, checked against the group (none: all tasks).
fn named_task(
    alloc: &serde_json::Value,
    flag: Option<&str>,
    arg: Option<&str>,
) -> Result<String, i32> {
    if flag.is_none() && arg.is_none() {
        return Ok(String::new());
    }
    pick_task(alloc, flag, arg).map_err(|e| {
        eprintln!("{e}");
        1
    })
}

pub fn restart(args: RestartArgs) -> i32 {
    let client = Client::new(&args.api);
    let outcome = lookup(&client, &args.alloc, args.verbose).and_then(|alloc| {
        let task = named_task(&alloc, args.task.as_deref(), args.task_name.as_deref())?;
        let body = json!({"TaskName": task, "AllTasks": args.all_tasks});
        client
            .put(
                &format!("/v1/client/allocation/{}/restart", encode(&s(&alloc, "ID"))),
                &body,
            )
            .map_err(|e| {
                eprintln!("Failed to restart allocation:\n\n{e}");
                1
            })
    });
    outcome.map_or_else(|code| code, |_| 0)
}

pub fn signal(args: SignalArgs) -> i32 {
    let client = Client::new(&args.api);
    let outcome = lookup(&client, &args.alloc, args.verbose).and_then(|alloc| {
        let task = named_task(&alloc, args.task.as_deref(), args.task_name.as_deref())?;
        let body = json!({"Task": task, "Signal": args.signal});
        client
            .put(
                &format!("/v1/client/allocation/{}/signal", encode(&s(&alloc, "ID"))),
                &body,
            )
            .map_err(|e| {
                eprintln!("Error signalling allocation: {e}");
                1
            })
    });
    outcome.map_or_else(|code| code, |_| 0)
}

pub fn stop(args: StopArgs) -> i32 {
    let client = Client::new(&args.api);
    let alloc = match lookup(&client, &args.alloc, args.verbose) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut path = format!("/v1/allocation/{}/stop", encode(&s(&alloc, "ID")));
    if args.no_shutdown_delay {
        path.push_str("?no_shutdown_delay=true");
    }
    let resp = match client.put(&path, &json!({})) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error stopping allocation: {e}");
            return 1;
        }
    };
    let eval = s(&resp, "EvalID");
    if args.detach {
        println!("{eval}");
        return 0;
    }
    monitor(&client, &eval, args.verbose, false)
}
