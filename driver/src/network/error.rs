//! Errors of allocation networking: each names the step, the allocation and the
//! kernel object (link, namespace, table, file) it failed on.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("invalid network config: {0}")]
    Config(String),

    #[error("allocation {alloc_id}: invalid port mapping {label:?}: {reason}")]
    Port {
        alloc_id: String,
        label: String,
        reason: String,
    },

    #[error("netlink {op} on {object}: {source}")]
    Netlink {
        op: &'static str,
        object: String,
        #[source]
        source: io::Error,
    },

    #[error("network namespace {path}: {step}: {source}")]
    Netns {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("allocation {alloc_id}: network namespace {path} no longer exists (recorded before a restart); tear the allocation's network down and set it up again")]
    NetnsGone { alloc_id: String, path: PathBuf },

    #[error("nftables table {table}: {step}: {detail}")]
    Nft {
        table: String,
        step: &'static str,
        detail: String,
    },

    #[error("no free address left in {subnet} for allocation {alloc_id}")]
    SubnetFull { subnet: String, alloc_id: String },

    #[error("address {ip} leased to allocation {alloc_id}: {source}")]
    Lease {
        ip: Ipv4Addr,
        alloc_id: String,
        #[source]
        source: io::Error,
    },

    #[error("{what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("record {path}: {source}")]
    Record {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("allocation {alloc_id}: {step}: {source}")]
    Alloc {
        alloc_id: String,
        step: &'static str,
        #[source]
        source: Box<NetworkError>,
    },
}

impl NetworkError {
    pub(crate) fn file(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        NetworkError::File {
            what,
            path: path.into(),
            source,
        }
    }

    /// Wraps an error with the allocation and the setup/teardown step it happened in.
    pub(crate) fn during(self, alloc_id: &str, step: &'static str) -> Self {
        NetworkError::Alloc {
            alloc_id: alloc_id.to_string(),
            step,
            source: Box::new(self),
        }
    }
}
