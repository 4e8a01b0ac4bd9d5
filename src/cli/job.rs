//! `drover job …`: job files (init, validate, plan, run) and the jobs on the agent
//! (status, stop, history, revert, inspect, scale, dispatch).
//!
//! Output and exit codes follow Nomad's: `Job validation successful` (0), `Job validation
//! errors:` and the list (1), `Error getting job struct: …` for files that do not parse.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};

mod dispatch;
mod history;
mod init;
mod inspect;
pub mod monitor;
mod plan;
mod run;
mod scale;
mod status;
mod stop;

use crate::cli::http::ApiFlags;
use drover::jobspec::{self, ParseOptions};
use drover::structs::{Job, JobRequest};

#[derive(Debug, Args)]
pub struct JobArgs {
    #[command(subcommand)]
    pub command: JobCommand,
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Check a job file: syntax, variables and Nomad's validation rules
    Validate(JobFileArgs),
    /// Submit a job to the agent and monitor it; with -output, print its JSON instead
    Run {
        #[command(flatten)]
        file: JobFileArgs,
        /// Print the job as the API's {"Job": {...}} JSON and exit; submit nothing
        #[arg(long)]
        output: bool,
        #[command(flatten)]
        submit: run::SubmitArgs,
        #[command(flatten)]
        api: ApiFlags,
    },
    /// Show what submitting a job would change (exit 0: nothing placed or stopped, 1: changes)
    Plan {
        #[command(flatten)]
        file: JobFileArgs,
        /// Show the diff (-diff=false: only the dry-run result)
        #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1,
              default_value_t = true, default_missing_value = "true")]
        diff: bool,
        /// Expand added and removed groups and tasks
        #[arg(long)]
        verbose: bool,
        #[command(flatten)]
        api: ApiFlags,
    },
    /// Show one job (ID or prefix) or list them all
    Status(StatusArgs),
    /// Stop jobs and monitor their evaluations
    Stop {
        /// Delete the job and its versions now, instead of marking it stopped
        #[arg(long)]
        purge: bool,
        /// Do not ask for confirmation when a prefix names the job
        #[arg(long)]
        yes: bool,
        /// Print the evaluation ID and exit instead of monitoring
        #[arg(long)]
        detach: bool,
        /// Full IDs
        #[arg(long)]
        verbose: bool,
        /// Stop the job in every region
        #[arg(long)]
        global: bool,
        /// Ignore shutdown delays
        #[arg(long = "no-shutdown-delay")]
        no_shutdown_delay: bool,
        /// Priority of the stop evaluation
        #[arg(long = "eval-priority")]
        eval_priority: Option<u32>,
        #[command(flatten)]
        api: ApiFlags,
        /// Jobs (IDs or prefixes)
        #[arg(required = true)]
        jobs: Vec<String>,
    },
    /// Write an example job file (example.nomad.hcl)
    Init {
        /// Without comments and optional blocks
        #[arg(long)]
        short: bool,
        /// Where to write it
        file: Option<PathBuf>,
    },
    /// Show a job's versions, newest first
    History(history::HistoryArgs),
    /// Submit an earlier version of a job again, as a new version
    Revert(history::RevertArgs),
    /// Print a job as the API's {"Job": {...}} JSON
    Inspect(inspect::InspectArgs),
    /// Change the count of a job's group
    Scale(scale::ScaleArgs),
    /// Start an instance of a parameterized job
    Dispatch(dispatch::DispatchArgs),
}

/// `job status` / `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only the job's key/value block
    #[arg(long)]
    pub short: bool,
    /// Full IDs and absolute times; implies -evals
    #[arg(long)]
    pub verbose: bool,
    /// Show the job's evaluations
    #[arg(long)]
    pub evals: bool,
    /// Include allocations of an earlier job with the same ID
    #[arg(long = "all-allocs")]
    pub all_allocs: bool,
    /// Print the job (or all jobs) as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The job (ID or prefix); all jobs without it
    pub job: Option<String>,
}

#[derive(Debug, Args)]
pub struct JobFileArgs {
    /// Read the file as JSON: {"Job": {...}} or a job object
    #[arg(long)]
    pub json: bool,
    /// Set an HCL2 variable (repeatable): -var name=value
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read HCL2 variable values from a file (repeatable)
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// Values for undeclared variables are errors (-hcl2-strict=false: ignored)
    #[arg(long = "hcl2-strict", value_name = "BOOL", action = ArgAction::Set,
          num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub strict: bool,
    /// The job file; - reads standard input
    pub path: PathBuf,
}

pub fn run(args: JobArgs) -> Result<()> {
    match args.command {
        JobCommand::Validate(file) => exit(validate(&file)),
        JobCommand::Run {
            file,
            output,
            submit,
            api,
        } => exit(job_run(&file, output, &submit, &api)),
        JobCommand::Plan {
            file,
            diff,
            verbose,
            api,
        } => exit(plan::plan(&api, &file, verbose, diff)),
        JobCommand::Status(args) => exit(status(args)),
        JobCommand::Stop {
            purge,
            yes,
            detach,
            verbose,
            global,
            no_shutdown_delay,
            eval_priority,
            api,
            jobs,
        } => {
            let opts = stop::StopOptions {
                purge,
                yes,
                detach,
                verbose,
                global,
                no_shutdown_delay,
                eval_priority,
            };
            exit(stop::stop(&api, &jobs, &opts))
        }
        JobCommand::Init { short, file } => exit(init::init(short, file)),
        JobCommand::History(args) => exit(history::history(&args)),
        JobCommand::Revert(args) => exit(history::revert(&args)),
        JobCommand::Inspect(args) => exit(inspect::inspect(&args)),
        JobCommand::Scale(args) => exit(scale::scale(&args)),
        JobCommand::Dispatch(args) => exit(dispatch::dispatch(&args)),
    }
}

/// `drover status [JOB]` and `drover job status [JOB]`.
pub fn status(args: StatusArgs) -> i32 {
    let opts = status::StatusOptions {
        short: args.short,
        verbose: args.verbose,
        evals: args.evals || args.verbose,
        all_allocs: args.all_allocs,
        json: args.json,
    };
    status::status(&args.api, args.job.as_deref(), &opts)
}

fn exit(code: i32) -> Result<()> {
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// The file's job, canonicalized, or `Error getting job struct: …` printed.
fn load(args: &JobFileArgs) -> Option<Job> {
    let opts = ParseOptions {
        vars: args.vars.clone(),
        var_files: args.var_files.clone(),
        env: ParseOptions::env_vars(),
        strict: args.strict,
        json: args.json,
    };
    match jobspec::parse_file(&args.path, &opts) {
        Ok(mut job) => {
            job.canonicalize();
            Some(job)
        }
        Err(e) => {
            eprintln!("Error getting job struct: {e}");
            None
        }
    }
}

fn validate(args: &JobFileArgs) -> i32 {
    let Some(job) = load(args) else { return 1 };
    match job.validate() {
        Ok(()) => {
            println!("Job validation successful");
            0
        }
        Err(errors) => {
            eprintln!("Job validation errors:");
            eprint!("{errors}");
            1
        }
    }
}

fn job_run(args: &JobFileArgs, output: bool, submit: &run::SubmitArgs, api: &ApiFlags) -> i32 {
    let Some(job) = load(args) else { return 1 };
    if !output {
        return run::submit(api, job, submit);
    }
    match to_api_json(&job) {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("Error converting job: {e}");
            1
        }
    }
}

/// `{"Job": {...}}` with Nomad's 4-space indentation.
pub fn to_api_json(job: &Job) -> serde_json::Result<String> {
    let request = JobRequest { job: job.clone() };
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&request, &mut ser)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}
