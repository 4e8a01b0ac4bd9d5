//! `drover job dispatch [-meta k=v]... [-detach] [-idempotency-token T] JOB [INPUT|-]`:
//! an instance of a parameterized job, with an optional payload from a file or stdin.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use clap::Args;
use serde_json::json;

use super::monitor::monitor;
use super::status::resolve_job;
use crate::cli::format::{self, s, short};
use crate::cli::http::{encode, ApiFlags, Client};

#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Metadata for the dispatched job (repeatable): -meta key=value
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Print the dispatched job and evaluation and exit instead of monitoring
    #[arg(long)]
    pub detach: bool,
    /// A token: a second dispatch with the same token creates nothing new
    #[arg(long = "idempotency-token", value_name = "TOKEN")]
    pub idempotency_token: Option<String>,
    /// Full IDs
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The parameterized job (ID or prefix)
    pub job: String,
    /// The payload: a file, or - for standard input
    pub input: Option<String>,
}

pub fn dispatch(args: &DispatchArgs) -> i32 {
    let payload = match args.input.as_deref() {
        None => None,
        Some(source) => match read_input(source) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                eprintln!("Error reading input data: {e}");
                return 1;
            }
        },
    };
    let mut meta = BTreeMap::new();
    for m in &args.meta {
        match m.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                meta.insert(k.to_string(), v.to_string());
            }
            _ => {
                eprintln!("Error parsing meta value: {m}");
                return 1;
            }
        }
    }
    let client = Client::new(&args.api);
    let id = match resolve_job(&client, &args.job) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let mut body = json!({"JobID": id, "Meta": meta});
    if let Some(bytes) = payload.filter(|b| !b.is_empty()) {
        body["Payload"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    if let Some(token) = &args.idempotency_token {
        body["IdempotencyToken"] = json!(token);
    }
    let resp = match client.put(&format!("/v1/job/{}/dispatch", encode(&id)), &body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Failed to dispatch job: {e}");
            return 1;
        }
    };
    let eval = s(&resp, "EvalID");
    let mut rows = vec![format!("Dispatched Job ID|{}", s(&resp, "DispatchedJobID"))];
    if !eval.is_empty() {
        rows.push(format!("Evaluation ID|{}", short(&eval, args.verbose)));
    }
    print!("{}", format::kv(&rows));
    if args.detach || eval.is_empty() {
        return 0;
    }
    println!();
    monitor(&client, &eval, args.verbose, false)
}

fn read_input(source: &str) -> std::io::Result<Vec<u8>> {
    if source == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf)?;
        return Ok(buf);
    }
    std::fs::read(source)
}
