//! The monitor: holds the authoritative cluster map in a Raft group.
//!
//! Pure parts (no I/O, no clock): [`state`] is the replicated state machine (a command
//! in, a validated map change and a reply out), [`policy`] decides when OSDs are marked
//! down and out, [`pg_states`] keeps the PG states primaries report, and [`health`] derives
//! HEALTH_OK/WARN/ERR from the map, quorum and PG states, and [`usage`] sums the space the
//! OSDs report per OSD and per pool. [`server`] is the daemon shell
//! around them (clock, tick task, messenger), [`store`] and [`network`] serve Raft.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod health;
pub mod network;
pub mod pg_states;
pub mod policy;
pub mod recovery;
pub mod server;
pub mod state;
pub mod store;
pub mod usage;

pub use state::{MonCommand, MonResponse, MonState};
