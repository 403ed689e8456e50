//! The OSD: a crash-safe local object store ([`store`]), placement groups whose log, peering
//! and recovery logic is a pure state machine ([`pg`]), and the daemon shell that drives them
//! over the messenger, with a SWIM failure detector ([`gossip`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backfill;
pub mod daemon;
pub mod ec;
pub mod gossip;
pub mod pg;
pub mod store;
pub use store::StoreError;

/// Helpers shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use placement::Epoch;
    use rados::proto::osd::Version;

    /// Version `seq` of epoch 1.
    pub(crate) fn v(seq: u64) -> Version {
        Version {
            epoch: Epoch(1),
            seq,
        }
    }
}
