//! drover-driver: everything that touches the kernel for one task.
//!
//! It knows nothing of jobs or scheduling: the image store pulls and unpacks OCI
//! images, the cgroup module limits and measures tasks.

pub mod cgroup;
pub mod image;
pub mod network;
pub mod runtime;
