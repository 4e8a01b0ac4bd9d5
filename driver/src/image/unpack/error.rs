//! The one error type of layer extraction: every variant names the tar entry (as written
//! in the archive) and what went wrong with it.

use std::io;

/// Why a layer could not be applied.
///
/// Messages are lower-case without a trailing period and quote the entry path as it
/// appears in the archive, so a log line says which member of which layer to look at.
/// After an error `dest` holds a partial layer and must be discarded by the caller.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The tar stream itself is malformed (bad checksum, bad numeric field, truncated
    /// header, extension header without a following member) or the reader failed.
    #[error("malformed layer tar: {0}")]
    Tar(#[source] io::Error),
    /// Reading the data of an entry failed (truncated archive or reader error).
    #[error("read data of entry {entry:?}: {source}")]
    ReadEntry {
        /// The entry path as written in the archive.
        entry: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The entry's path (or a hardlink or whiteout derived from it) would leave the
    /// layer directory.
    #[error("entry {entry:?} escapes the layer root: {reason}")]
    Escape {
        /// The entry path as written in the archive.
        entry: String,
        /// What escapes, e.g. "`..` climbs above the layer root".
        reason: &'static str,
    },
    /// The entry's path or link target cannot be a file name (e.g. it contains NUL).
    #[error("entry {entry:?} has an invalid path: {reason}")]
    InvalidPath {
        /// The entry path as written in the archive.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header field has a value we refuse (owner ids that do not fit, device numbers
    /// the kernel would truncate, unparsable PAX times, empty symlink target...).
    #[error("entry {entry:?} has an invalid header: {reason}")]
    InvalidHeader {
        /// The entry path as written in the archive.
        entry: String,
        /// The field and value that were refused.
        reason: String,
    },
    /// A filesystem operation failed while creating the entry inside the layer directory.
    #[error("entry {entry:?}: {op}: {source}")]
    Io {
        /// The entry path as written in the archive (or the layer directory for
        /// operations that are not about one entry).
        entry: String,
        /// The operation, e.g. "create file", "resolve parent directory".
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// More bytes were read from the layer stream than `Limits::max_layer_bytes`
    /// (decompression-bomb guard).
    #[error("layer is larger than the limit of {limit} bytes")]
    LayerTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The layer has more entries than `Limits::max_entries`.
    #[error("layer has more than {limit} entries")]
    TooManyEntries {
        /// The configured limit.
        limit: u64,
    },
    /// The extension headers (GNU long name/link, PAX records) in front of one member are
    /// larger than we are willing to hold in memory.
    #[error("tar extension headers of one member exceed {limit} bytes")]
    HeaderTooLarge {
        /// The per-member budget.
        limit: u64,
    },
    /// The entry's type is not supported (sparse files, volume headers, unknown types).
    #[error("entry {entry:?} has unsupported type {kind}")]
    UnsupportedEntry {
        /// The entry path as written in the archive.
        entry: String,
        /// The type flag, described.
        kind: String,
    },
    /// A hardlink names a target that does not exist in this layer.
    #[error(
        "hardlink {entry:?} points to {target:?}, which does not exist in this layer \
         (hardlinks to files of other layers are not supported)"
    )]
    HardlinkTargetMissing {
        /// The hardlink's path as written in the archive.
        entry: String,
        /// The link target as written in the archive.
        target: String,
    },
}
