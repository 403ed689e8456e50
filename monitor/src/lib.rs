//! The monitor: holds the authoritative cluster map in a Raft group.
//!
//! Pure parts (no I/O, no clock): [`state`] is the replicated state machine (a command
//! in, a validated map change and a reply out), [`health`] derives HEALTH_OK/WARN/ERR from
//! the map and quorum. The daemon shell is added next to them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod health;
pub mod network;
pub mod policy;
pub mod server;
pub mod state;
pub mod store;

pub use state::{MonCommand, MonResponse, MonState};
