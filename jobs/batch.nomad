# A batch job: runs to completion, is not restarted after exiting 0.
# Variables: drover job run -output -var greeting=hi jobs/batch.nomad
variable "greeting" {
  type    = string
  default = "hello"
}

variable "runs" {
  type    = number
  default = 2
}

locals {
  message = "${var.greeting} from ${upper(var.greeting) == "HELLO" ? "drover" : "a variable"}"
}

job "batch" {
  datacenters = ["*"]
  type        = "batch"

  group "work" {
    count = var.runs

    restart {
      attempts = 1
      delay    = "5s"
      mode     = "fail"
    }

    task "hello" {
      driver = "container"

      config {
        image   = "busybox:1.35"
        command = "sh"
        # NOMAD_* names are filled in by the client when the task starts.
        args = ["-c", "echo '${local.message}' in ${NOMAD_ALLOC_NAME}; sleep 1"]
      }

      env {
        GREETING = var.greeting
      }

      resources {
        cpu    = 100
        memory = 64
      }

      logs {
        max_files     = 2
        max_file_size = 5
      }
    }
  }
}
