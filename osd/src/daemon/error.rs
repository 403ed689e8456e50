//! Why an OSD could not start or had to stop ([`OsdError`]).

use std::net::SocketAddr;

use rados::MonClientError;

use crate::StoreError;

/// Why an OSD could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum OsdError {
    /// The data directory could not be used.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The messenger could not start.
    #[error(transparent)]
    Messenger(#[from] rados::MessengerError),
    /// The monitors refused or could not be reached.
    #[error("monitors: {0}")]
    Mon(#[from] MonClientError),
    /// The data directory belongs to another OSD or cluster.
    #[error("{0}")]
    Identity(String),
    /// A fatal error while running (e.g. the disk failed).
    #[error("stopped: {0}")]
    Fatal(String),
    /// The HTTP endpoint could not listen.
    #[error("cannot serve http on {addr}: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}
