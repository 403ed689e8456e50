//! Placement groups: the log ([`log`]), interval history ([`intervals`]) and the peering,
//! recovery and replication state machine ([`machine`]) — all pure; the daemon shell and the
//! simulation drive them.

pub mod intervals;
pub mod lease;
pub mod log;
pub mod machine;
pub mod scrub;
pub mod types;

pub use intervals::{Interval, PastIntervals, PriorSet};
pub use lease::{LeaseConfig, ReadGate, ReadRefused};
pub use log::{Divergence, LogEntry, LogLimits, LogOp, PgLog};
pub use machine::PgMachine;
pub use types::{
    Effect, Event, Mapping, MovedShard, Mutation, ObjectCopy, ObjectView, PgInfo, PgMeta, PgMsg,
    PgState, WriteError,
};
