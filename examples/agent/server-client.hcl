# One node that is both server and client, with durable state:
#   sudo drover agent -config examples/agent/server-client.hcl
# This is what scripts/install puts in /etc/drover.d/ (with more comments).

data_dir  = "/var/lib/drover"
bind_addr = "0.0.0.0"
region     = "global"
datacenter = "dc1"
log_level  = "INFO"

ports {
  http = 4646
}

server {
  enabled = true
}

client {
  enabled    = true
  node_class = "general"

  meta {
    rack = "r1"
  }

  options {
    "driver.raw_exec.enable" = "false"
  }

  # Ports handed to tasks that ask for a dynamic port.
  min_dynamic_port = 20000
  max_dynamic_port = 32000

  # Kept back for the host's own processes.
  reserved {
    cpu            = 500
    memory         = 512
    disk           = 1024
    reserved_ports = "22"
  }
}

# drover's own settings: where images come from.
registry {
  # A mirror tried before Docker Hub for images that name no registry.
  # mirror = "registry.example.internal:5000"
  # Registries spoken to over plain HTTP (loopback ones always are).
  insecure = []
  # Credentials, in Docker's config.json format.
  # auth_file = "/root/.docker/config.json"
}
