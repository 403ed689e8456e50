//! Errors of the RADOS client: what a caller matches on, and why a retried op gave up.

use std::time::Duration;

use placement::{MapError, OsdId, PgId, PlacementError};

use crate::error::{CallError, MessengerError};
use crate::mon_client::MonClientError;
use crate::proto::osd::OsdError;

/// Why a client operation failed. A write that failed with
/// [`Timeout`](ClientError::Timeout) may or may not have been applied; with any other variant
/// nothing changed, unless its doc says otherwise (each is an answer from the cluster or a
/// local check).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The pool is not in the cluster map, even after a refresh; nothing changed.
    #[error("no such pool '{0}'")]
    NoSuchPool(String),
    /// The object does not exist; nothing changed.
    #[error("no such object '{object}' in pool '{pool}'")]
    NoSuchObject {
        /// The pool's name.
        pool: String,
        /// The object.
        object: String,
    },
    /// A guard of a compound op did not hold; nothing changed.
    #[error("guard failed on object '{object}': {reason}")]
    GuardFailed {
        /// The object.
        object: String,
        /// What the OSD says did not hold.
        reason: String,
    },
    /// The object is larger than one request may carry; nothing was sent.
    #[error("object of {size} bytes exceeds the {max}-byte limit of one object")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit ([`MAX_OBJECT_SIZE`](super::MAX_OBJECT_SIZE)).
        max: u64,
    },
    /// The OSD refused or failed the op for a reason retrying cannot fix (invalid request,
    /// corrupt copy, storage error); nothing changed unless the OSD's error says so.
    #[error("osd: {0}")]
    Osd(OsdError),
    /// No answer within the op timeout, retries included. A write may or may not have been
    /// applied; resending it with a new op is safe only if it is idempotent.
    #[error("timed out after {after:?} (last: {last})")]
    Timeout {
        /// The op timeout.
        after: Duration,
        /// The last reason an attempt failed.
        last: Box<RetryCause>,
    },
    /// A transport failure retrying cannot fix (wrong cluster key, a peer that does not
    /// serve the method, a malformed frame); nothing is known to have changed.
    #[error(transparent)]
    Call(CallError),
    /// The monitors could not give us a map (at connect).
    #[error("cannot fetch the cluster map: {0}")]
    Mon(#[from] MonClientError),
    /// The client's messenger could not start.
    #[error(transparent)]
    Messenger(#[from] MessengerError),
    /// A daemon answered in a way the protocol does not allow (a bug or a version mismatch).
    #[error("bad reply: {0}")]
    BadReply(String),
}

impl ClientError {
    /// Whether the object (or pool) does not exist: the common "not found" case to match.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ClientError::NoSuchObject { .. } | ClientError::NoSuchPool(_)
        )
    }
}

/// Why one attempt of an op failed in a way that a newer map or a later try may fix. Kept as
/// the last cause when the op times out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RetryCause {
    /// The OSD said to retry (not primary, PG unavailable, pool unknown to it).
    #[error("osd: {0}")]
    Osd(OsdError),
    /// The call got no reply (timeout, unreachable, connection lost).
    #[error(transparent)]
    Call(CallError),
    /// A newer map routes the op away from the OSD it was sent to (abandoned, resent).
    #[error("{osd} is no longer the primary at epoch {epoch}")]
    Moved {
        /// The OSD the attempt went to.
        osd: OsdId,
        /// The map that routes it elsewhere.
        epoch: placement::Epoch,
    },
    /// The pool is not in our map (refreshed once before giving up).
    #[error("the pool is not in the current map")]
    NoSuchPool,
    /// The PG has no primary in our map (all of its OSDs are down).
    #[error("pg {0} has no primary in the current map")]
    NoPrimary(PgId),
    /// The primary has no address in our map.
    #[error("{0} has no address in the current map")]
    NoAddress(OsdId),
    /// Our map cannot place the PG (it names a missing rule: it fails its own check).
    #[error("placement: {0}")]
    Placement(PlacementError),
    /// Refreshing the map failed.
    #[error("map refresh: {0}")]
    Map(MonClientError),
    /// A map update did not apply (an epoch gap is healed by fetching the full map).
    #[error("map update: {0}")]
    MapUpdate(MapError),
}
