//! Image errors. Each names the image, and where it applies the layer and registry, and
//! says what a user can do about it.

use std::path::PathBuf;

use super::unpack::UnpackError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error("registry {registry} is unreachable while pulling {image}: {detail}")]
    RegistryUnreachable {
        image: String,
        registry: String,
        detail: String,
    },

    #[error("image {image} not found in registry {registry}: {detail}")]
    NotFound {
        image: String,
        registry: String,
        detail: String,
    },

    #[error(
        "registry {registry} refused access to {image}: {detail} (check the job's auth block or ~/.docker/config.json)"
    )]
    AuthRefused {
        image: String,
        registry: String,
        detail: String,
    },

    #[error("registry {registry} failed while pulling {image}: {detail}")]
    Registry {
        image: String,
        registry: String,
        detail: String,
    },

    #[error("image {image} from {registry}: {detail}")]
    BadManifest {
        image: String,
        registry: String,
        detail: String,
    },

    #[error("image {image} has no manifest for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        image: String,
        platform: String,
        available: String,
    },

    #[error(
        "layer {layer} of {image} from {registry}: digest mismatch (expected {expected}, got {actual})"
    )]
    LayerDigestMismatch {
        image: String,
        layer: String,
        registry: String,
        expected: String,
        actual: String,
    },

    #[error(
        "layer {layer} of {image}: uncompressed content does not match the config's diff_id (expected {expected}, got {actual})"
    )]
    DiffIdMismatch {
        image: String,
        layer: String,
        expected: String,
        actual: String,
    },

    #[error("layer {layer} of {image} from {registry}: download failed after {attempts} attempts: {detail}")]
    LayerDownload {
        image: String,
        layer: String,
        registry: String,
        attempts: u32,
        detail: String,
    },

    #[error("layer {layer} of {image} from {registry}: {source}")]
    Unpack {
        image: String,
        layer: String,
        registry: String,
        #[source]
        source: Box<UnpackError>,
    },

    #[error("image {image} is larger than the limit of {limit} bytes unpacked")]
    ImageTooLarge { image: String, limit: u64 },

    #[error("image store: {op} {}: {source}", path.display())]
    Store {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("image {0} is not in the local store (pull it first)")]
    NotPresent(String),

    #[error("image {image} is in use by {users}")]
    InUse { image: String, users: String },
}

impl ImageError {
    /// Wraps an I/O error of the store with the operation and path it concerns.
    pub fn store(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ImageError::Store { op, path, source }
    }
}
