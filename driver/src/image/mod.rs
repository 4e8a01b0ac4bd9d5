//! OCI images: references, registry access, the content-addressed store and secure unpack.
//!
//! A pull goes `registry` (which host, which credentials) → `manifest` (what to fetch,
//! which platform) → `pull` (layers in parallel through `stream` into `unpack`) →
//! `store` (complete, verified content only).

pub mod auth;
pub mod error;
pub mod manifest;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
pub mod stream;
pub mod unpack;

pub use auth::Credentials;
pub use error::ImageError;
pub use manifest::Platform;
pub use pull::{NoProgress, PullProgress, PullReport, Puller};
pub use reference::ImageRef;
pub use registry::RegistryConfig;
pub use store::{GcReport, ImageRecord, ImageStore, LayerRecord, StoreLimits};
