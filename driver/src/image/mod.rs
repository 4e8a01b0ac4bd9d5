//! OCI images: references, registry access, the content-addressed store and secure unpack.

pub mod unpack;
