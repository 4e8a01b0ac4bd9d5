//! The client: fingerprints the node, registers it, runs the allocations the servers
//! give it (alloc runner → task runners → driver) and reports back how they fare.

pub mod view;

pub use view::{ClientError, ClientView};
