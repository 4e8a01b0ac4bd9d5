//! `drover job init [-short] [FILE]`: Nomad's example job (redis in group "cache") on
//! drover's native container driver (`driver = "docker"` runs on it as well).

use std::path::PathBuf;

pub const EXAMPLE_FILE: &str = "example.nomad.hcl";

/// Exit 0 written, 1 the file exists or cannot be written (Nomad's texts).
pub fn init(short: bool, file: Option<PathBuf>) -> i32 {
    let path = file.unwrap_or_else(|| PathBuf::from(EXAMPLE_FILE));
    let shown = path.display();
    if path.exists() {
        eprintln!("Job '{shown}' already exists");
        return 1;
    }
    let text = if short { EXAMPLE_SHORT } else { EXAMPLE };
    // create_new: a file appearing meanwhile is not overwritten either.
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
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!("Job '{shown}' already exists");
            1
        }
        Err(e) => {
            eprintln!("Failed to write '{shown}': {e}");
            1
        }
    }
}

pub const EXAMPLE: &str = r#"# This is an example job file: one redis server in a group called "cache", reachable
# on a port the scheduler picks. drover reads Nomad's job files (HCL2 or JSON).
#
# Check it:                 drover job validate example.nomad.hcl
# See what it would do:     drover job plan example.nomad.hcl
# Run it:                   drover job run example.nomad.hcl
# Print it with defaults:   drover job run -output example.nomad.hcl
#
# Every block below is optional unless it says otherwise; the values shown are the
# ones you get when you leave a block out, unless a comment says differently.

# The "job" block is the top of the file and names the job. There is one job per file.
job "example" {
  # Datacenters the job may run in; "*" means any. Nodes outside these datacenters
  # are never considered.
  datacenters = ["*"]

  # "service" jobs run until stopped and are restarted when they exit. The other
  # types are "batch" (run to completion), "system" (one allocation on every node)
  # and "sysbatch" (a batch job on every node).
  type = "service"

  # Constraints restrict the nodes the job may be placed on, here by kernel name.
  #
  # constraint {
  #   attribute = "${attr.kernel.name}"
  #   value     = "linux"
  # }

  # The "update" block says how a changed job replaces its running allocations: a
  # rolling update with max_parallel allocations at a time. Each new allocation must
  # be healthy for min_healthy_time, and become so within healthy_deadline; a
  # deployment that makes no progress for progress_deadline fails. With auto_revert
  # a failed deployment goes back to the last stable version. canary > 0 starts that
  # many new allocations next to the old ones first, until you promote them
  # (drover deployment promote).
  update {
    max_parallel      = 1
    min_healthy_time  = "10s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
    auto_revert       = false
    canary            = 0
  }

  # The "migrate" block says how allocations leave a node being drained
  # (drover node drain -enable): max_parallel at a time, each replacement healthy
  # (by its checks, or "task_states") for min_healthy_time within healthy_deadline.
  migrate {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "10s"
    healthy_deadline = "5m"
  }

  # A "group" is a set of tasks placed together on one node. A job has at least one.
  group "cache" {
    # How many allocations of this group to run.
    count = 1

    # The group's network: a dynamic host port named "db", mapped to redis's
    # port 6379 inside the task. Set static = 6379 for a fixed host port instead.
    network {
      port "db" {
        to = 6379
      }
    }

    # Registers the group as a service in drover's own catalog.
    service {
      name     = "redis-cache"
      tags     = ["global", "cache"]
      port     = "db"
      provider = "nomad"

      # A health check; with health_check = "checks" above, deployments wait on it.
      #
      # check {
      #   name     = "alive"
      #   type     = "tcp"
      #   interval = "10s"
      #   timeout  = "2s"
      # }
    }

    # What happens when a task exits or fails: up to 2 restarts in 30 minutes, 15s
    # apart; after that the allocation fails ("fail"), or waits out the interval
    # and tries again ("delay").
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    # The allocation's scratch space on the node, in MB. With sticky = true a
    # replacement allocation on the same node keeps the data; migrate = true also
    # moves it to another node.
    ephemeral_disk {
      # sticky  = true
      # migrate = true
      size = 300
    }

    # Preferences, not requirements: nodes that match score higher.
    #
    # affinity {
    #   attribute = "${node.datacenter}"
    #   value     = "dc1"
    #   weight    = 100
    # }

    # Spread allocations over the values of an attribute.
    #
    # spread {
    #   attribute = "${node.datacenter}"
    #   weight    = 100
    # }

    # A "task" is one program. "container" is drover's driver for OCI images: it pulls
    # the image and runs it in its own namespaces and cgroup, without Docker. Job
    # files written for Nomad's "docker" driver run on it unchanged; "exec" and
    # "raw_exec" run host commands.
    task "redis" {
      driver = "container"

      # The driver's own settings: the image, and the ports of the group's network
      # the task uses.
      config {
        image = "redis:7"
        ports = ["db"]
      }

      # The task's output goes to rotating files in the allocation's directory
      # (drover alloc logs): at most max_files files of max_file_size MB.
      #
      # logs {
      #   max_files     = 10
      #   max_file_size = 15
      # }

      # What the task may use: CPU in MHz and memory in MB. Placement reserves them on
      # the node, and the task's cgroup enforces them.
      resources {
        cpu    = 500 # 500 MHz
        memory = 256 # 256MB
      }

      # Files rendered into the task's directory before it starts.
      #
      # template {
      #   data          = "greeting = {{ env \"NOMAD_ALLOC_NAME\" }}"
      #   destination   = "local/file.yml"
      #   change_mode   = "signal"
      #   change_signal = "SIGHUP"
      # }

      # Time between the kill signal and a forced kill when the task is stopped.
      # kill_timeout = "20s"
    }
  }
}
"#;

pub const EXAMPLE_SHORT: &str = r#"job "example" {
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
        image = "redis:7"
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
    use drover::jobspec::{self, ParseOptions};

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
