//! Errors of the messenger and clients.

use std::net::SocketAddr;
use std::time::Duration;

use crate::frame::FrameError;
use crate::rpc::WireError;

/// Why a call got no reply. Nothing is known to have happened on the peer unless the variant
/// says so: a timed-out request may or may not have been applied (callers retry with the same
/// request id where that matters).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No connection could be made (peer down, or backing off after recent failures).
    #[error("{peer} unreachable: {reason}")]
    Unreachable {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The peer refused us in the handshake (wrong cluster key), or we refused it.
    #[error("{peer} refused the connection: {reason} (is the cluster key right?)")]
    Refused {
        /// The peer.
        peer: SocketAddr,
        /// The TLS failure.
        reason: String,
    },
    /// No reply within the request timeout.
    #[error("{peer} did not answer within {after:?}")]
    Timeout {
        /// The peer.
        peer: SocketAddr,
        /// The timeout.
        after: Duration,
    },
    /// The connection broke during the call.
    #[error("connection to {peer} lost: {reason}")]
    ConnectionLost {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The peer sent a malformed frame; the connection was closed.
    #[error("bad frame from {peer}: {error}")]
    BadFrame {
        /// The peer.
        peer: SocketAddr,
        /// What was wrong.
        error: FrameError,
    },
    /// The peer could not serve the request.
    #[error("{peer}: {error}")]
    Remote {
        /// The peer.
        peer: SocketAddr,
        /// What it said.
        error: WireError,
    },
    /// Our request could not be encoded (a bug or an oversized request).
    #[error("cannot encode request: {0}")]
    Encode(String),
}

impl CallError {
    /// The peer the call went to, where there is one.
    pub fn peer(&self) -> Option<SocketAddr> {
        match self {
            CallError::Unreachable { peer, .. }
            | CallError::Refused { peer, .. }
            | CallError::Timeout { peer, .. }
            | CallError::ConnectionLost { peer, .. }
            | CallError::BadFrame { peer, .. }
            | CallError::Remote { peer, .. } => Some(*peer),
            CallError::Encode(_) => None,
        }
    }
}

/// Why a messenger could not start.
#[derive(Debug, thiserror::Error)]
pub enum MessengerError {
    /// TLS configuration from the keyring failed.
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
    /// QUIC configuration failed.
    #[error("QUIC setup: {0}")]
    Quic(String),
    /// The socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}
