//! `drover job validate|run|plan|status|stop|init`: job files and the jobs on the agent.
//!
//! Output and exit codes follow Nomad's: `Job validation successful` (0), `Job validation
//! errors:` and the list (1), `Error getting job struct: …` for files that do not parse.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};

mod monitor;
mod plan;
mod run;
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
}

/// `job status` / `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only the job's key/value block
    #[arg(long)]
    pub short: bool,
    /// Full IDs and absolute times
    #[arg(long)]
    pub verbose: bool,
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

pub const EXAMPLE_FILE: &str = "example.nomad.hcl";

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
        JobCommand::Init { short, file } => exit(init(short, file)),
    }
}

/// `drover status [JOB]` and `drover job status [JOB]`.
pub fn status(args: StatusArgs) -> i32 {
    status::status(&args.api, args.job.as_deref(), args.short, args.verbose)
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

fn init(short: bool, file: Option<PathBuf>) -> i32 {
    let path = file.unwrap_or_else(|| PathBuf::from(EXAMPLE_FILE));
    let shown = path.display();
    if path.exists() {
        eprintln!("Job '{shown}' already exists");
        return 1;
    }
    let text = if short { EXAMPLE_SHORT } else { EXAMPLE };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    match written {
        Ok(()) => {
            println!("Example job file written to {shown}");
            0
        }
        Err(e) => {
            eprintln!("Failed to write '{shown}': {e}");
            1
        }
    }
}

/// `job init`: Nomad's example job (redis in group "cache"), on drover's native
/// container driver (change `container` to `docker` and it runs on Nomad as well).
const EXAMPLE: &str = r#"# An example job for drover: one redis server, reachable on a port the scheduler
# picks. drover reads Nomad's job files; "container" is drover's own driver for OCI
# images (Nomad's "docker" driver name works too).
#
# drover job run -output example.nomad.hcl   prints the job with every default filled in.
job "example" {
  # Any datacenter.
  datacenters = ["*"]

  # A long-running service, restarted when it exits (the default type).
  type = "service"

  # Rolling updates: replace one allocation at a time; each must stay healthy for 10s.
  # An allocation not healthy after 3m fails the deployment; so does no progress in 10m.
  update {
    max_parallel      = 1
    min_healthy_time  = "10s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
    auto_revert       = false
    canary            = 0
  }

  # How allocations move off a node being drained.
  migrate {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "10s"
    healthy_deadline = "5m"
  }

  # Tasks in one group are placed together on one node.
  group "cache" {
    count = 1

    network {
      # A dynamic host port, mapped to redis's port 6379 inside the task.
      port "db" {
        to = 6379
      }
    }

    service {
      name     = "redis-cache"
      tags     = ["global", "cache"]
      port     = "db"
      provider = "nomad"
    }

    # At most 2 restarts in 30 minutes, 15s apart; after that the allocation fails.
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    # The allocation's scratch directory, in MB.
    ephemeral_disk {
      size = 300
    }

    task "redis" {
      driver = "container"

      config {
        image = "redis:3.2"
        ports = ["db"]
      }

      resources {
        cpu    = 500 # MHz
        memory = 256 # MB
      }
    }
  }
}
"#;

const EXAMPLE_SHORT: &str = r#"job "example" {
  datacenters = ["*"]

  group "cache" {
    network {
      port "db" {
        to = 6379
      }
    }

    task "redis" {
      driver = "container"

      config {
        image = "redis:3.2"
        ports = ["db"]
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_parse_and_validate() {
        for (name, text) in [("full", EXAMPLE), ("short", EXAMPLE_SHORT)] {
            let mut job = jobspec::parse_str(
                name,
                text,
                std::path::Path::new("."),
                &ParseOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            job.canonicalize();
            job.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(job.id, "example");
            assert_eq!(job.task_groups[0].name, "cache");
            assert_eq!(job.task_groups[0].tasks[0].name, "redis");
            assert_eq!(job.task_groups[0].tasks[0].driver, "container");
        }
    }
}
