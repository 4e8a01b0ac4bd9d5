//! Capabilities and seccomp for task processes.
