//! drover's library half: the job model, job files, and the server. The binary
//! (`src/main.rs`, the CLI and agent wiring) and the bench binaries build on it.

pub mod agent;
pub mod api;
pub mod client;
pub mod jobspec;
pub mod server;
pub mod structs;
