//! The OSD service: object operations, replication, peering and recovery messages.
//! Method numbers 2xx.

use placement::Epoch;
use serde::{Deserialize, Serialize};

/// Where an object's state sits in its PG's history: the log entry that last changed it.
/// Ordered by epoch, then by sequence within the PG.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Version {
    /// The map epoch in which the primary ordered the write.
    pub epoch: Epoch,
    /// Sequence within the PG, increasing across epochs.
    pub seq: u64,
}

impl Version {
    /// The version before any write.
    pub const ZERO: Version = Version {
        epoch: Epoch(0),
        seq: 0,
    };
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}'{}", self.epoch.0, self.seq)
    }
}

/// A client request's identity: the same id on a resent request lets the PG answer it from
/// its log instead of applying it twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReqId {
    /// The client instance (random per client).
    pub client: u64,
    /// The client's request counter.
    pub tid: u64,
}
