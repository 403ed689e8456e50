//! Shoal's wire layer: the QUIC messenger every daemon and client speaks, its framing,
//! cluster-key authentication and fault injection, and the map-aware clients ([`MonClient`],
//! [`RadosClient`]).
//!
//! The pure parts ([`frame`], [`rpc`] routing, [`faults`] rules, the client's routing, retry
//! and listing rules) have no I/O; [`messenger`] is the tokio shell around quinn, and
//! [`client`] the shell that drives the client's rules.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod faults;
pub mod frame;
pub mod keyring;
pub mod messenger;
pub mod mon_client;
pub mod proto;
pub mod rpc;
pub mod tls;

pub use client::{ClientConfig, ClientError, IoCtx, ListCursor, MemoryPool, RadosClient, WriteOp};
pub use error::{CallError, MessengerError};
pub use faults::{FaultRules, Faults, PeerFault, Verdict};
pub use keyring::{Keyring, KeyringError};
pub use messenger::{Messenger, MessengerConfig};
pub use mon_client::{MonClient, MonClientError};
pub use rpc::{Context, Router, Rpc, WireError};
