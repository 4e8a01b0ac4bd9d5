# A node that only runs tasks, with its own state and alloc directories:
#   sudo drover agent -config examples/agent/client.hcl
# (or `drover agent -client -data-dir /var/lib/drover`).

data_dir  = "/var/lib/drover"
bind_addr = "0.0.0.0"
name      = "worker-1"

client {
  enabled = true

  # Nomad's list of servers to register with. drover accepts it so Nomad files load;
  # this release runs server and client in one agent, so it is not used yet.
  servers = ["10.0.0.10:4647"]

  # Where task state and allocation directories live (default: under data_dir).
  state_dir = "/var/lib/drover/client"
  alloc_dir = "/var/lib/drover/alloc"
  node_pool = "default"

  # The interface whose address task ports are published on (default: the one with
  # the default route).
  # network_interface = "eth0"

  # The bridge allocations with `network { mode = "bridge" }` join.
  bridge_network_name   = "drover"
  bridge_network_subnet = "172.26.64.0/20"
}
