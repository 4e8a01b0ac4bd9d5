//! `drover job stop [-purge] [-yes] [-detach] JOB...`.

use std::io::{BufRead, Write};

use crate::cli::format::s;
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::job::monitor::monitor;
use crate::cli::job::status::resolve_job;

pub struct StopOptions {
    pub purge: bool,
    pub yes: bool,
    pub detach: bool,
    pub verbose: bool,
    pub global: bool,
    pub no_shutdown_delay: bool,
    pub eval_priority: Option<u32>,
}

pub fn stop(api: &ApiFlags, jobs: &[String], opts: &StopOptions) -> i32 {
    let client = Client::new(api);
    let mut code = 0;
    for prefix in jobs {
        code = code.max(stop_one(&client, prefix, opts));
    }
    code
}

fn stop_one(client: &Client, prefix: &str, opts: &StopOptions) -> i32 {
    let id = match resolve_job(client, prefix) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    if id != prefix && !opts.yes && !confirm(&id) {
        println!("Cancelling job stop");
        return 0;
    }
    let mut path = format!(
        "/v1/job/{}?purge={}&global={}&no_shutdown_delay={}",
        encode(&id),
        opts.purge,
        opts.global,
        opts.no_shutdown_delay
    );
    if let Some(p) = opts.eval_priority {
        path.push_str(&format!("&eval_priority={p}"));
    }
    let resp = match client.delete(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error deregistering job: {e}");
            return 1;
        }
    };
    let eval = s(&resp, "EvalID");
    if eval.is_empty() {
        // Periodic and parameterized jobs get no evaluation.
        return 0;
    }
    if opts.detach {
        println!("{eval}");
        return 0;
    }
    monitor(client, &eval, opts.verbose, false)
}

fn confirm(id: &str) -> bool {
    print!("Are you sure you want to stop job \"{id}\"? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}
