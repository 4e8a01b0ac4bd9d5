# The walkthrough's agent: `sudo drover agent -dev -config examples/agent/dev.hcl`.
# -dev supplies everything else (server and client in one process on 127.0.0.1:4646,
# state in memory, raw_exec enabled); a file only adds to it. Maps such as `options`
# merge key by key, so this keeps -dev's "driver.raw_exec.enable" = "true".

client {
  options {
    # Drivers this node must not offer, comma-separated.
    "driver.denylist" = "java"
  }
}
