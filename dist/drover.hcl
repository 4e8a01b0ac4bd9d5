# drover agent configuration, installed by scripts/install as /etc/drover.d/drover.hcl.
#
# The agent reads every *.hcl and *.json file in /etc/drover.d in name order; later
# files win and maps (meta, options) merge key by key, so local changes can go in a
# file of their own (e.g. /etc/drover.d/50-local.hcl). Edits to this file are kept: a
# later install that ships a different version writes it next to it as drover.hcl.new.
# After a change: systemctl reload drover (or restart: tasks keep running).
#
# The syntax is Nomad's agent configuration; Nomad settings drover does not use
# (telemetry, acl, consul, vault, plugin …) are accepted and ignored.

# Server state, client state and allocation directories live here.
data_dir = "/var/lib/drover"

# The HTTP API (and the CLI's default address). The API has no ACLs yet: keep it on
# loopback unless the network it listens on is trusted. "0.0.0.0" listens everywhere.
bind_addr = "127.0.0.1"

ports {
  http = 4646
}

region     = "global"
datacenter = "dc1"
# name = "node-1"   # default: the host name

# TRACE, DEBUG, INFO, WARN or ERROR.
log_level = "INFO"

# This node schedules jobs...
server {
  enabled = true
}

# ...and runs them.
client {
  enabled = true

  # node_class = "general"
  # node_pool  = "default"

  # meta {
  #   rack = "r1"
  # }

  # Driver options, e.g. allow raw_exec (no isolation) or deny drivers:
  # options {
  #   "driver.raw_exec.enable" = "true"
  #   "driver.denylist"        = "java"
  # }

  # Ports handed to tasks asking for a dynamic port (default 20000-32000).
  # min_dynamic_port = 20000
  # max_dynamic_port = 32000

  # Resources kept back for the host itself (MHz, MB, MB; ports as a list/ranges).
  # reserved {
  #   cpu            = 500
  #   memory         = 512
  #   disk           = 1024
  #   reserved_ports = "22"
  # }
}

# Where images come from (drover's own block).
# registry {
#   mirror    = "registry.example.internal:5000"   # tried before Docker Hub
#   insecure  = ["registry.example.internal:5000"]  # plain HTTP
#   auth_file = "/root/.docker/config.json"          # credentials
# }
