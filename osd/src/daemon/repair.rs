//! Putting a good copy of an object on a member (scrub repair, erasure-coded shard
//! rebuilds), and why a scrub pass or a repair stops ([`ScrubError`]).

use std::sync::Arc;

use placement::{OsdId, PgId};
use rados::proto::osd::OsdError;

use super::peer::RepairObject;
use super::shared::Shared;
use crate::pg::ObjectCopy;
use crate::store::{ObjectKey, Store, Txn};

/// Why a scrub pass or a repair stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    /// This OSD or a member answered with an error.
    #[error("{osd}: {source}")]
    Member {
        /// Who answered.
        osd: OsdId,
        /// What it said.
        source: OsdError,
    },
    /// A member did not answer.
    #[error("{osd}: {source}")]
    Unreachable {
        /// The member.
        osd: OsdId,
        /// The call's failure.
        source: rados::CallError,
    },
    /// A member has no address in the map.
    #[error("{0} has no address in the map")]
    NoAddress(OsdId),
    /// This OSD's store failed.
    #[error("object store: {0}")]
    Store(#[from] crate::StoreError),
    /// A spawned task died.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Writes kept landing between the members' pages.
    #[error("members' PG logs did not reach the same head")]
    HeadsDiffer,
    /// Repair: nobody holds a copy to repair from.
    #[error("no authoritative copy")]
    NoAuthority,
    /// Repair: the authority's object is gone.
    #[error("the authority no longer has the object")]
    AuthorityLost,
    /// Repair: the authority's object changed since the scrub compared it.
    #[error("the authority's copy changed since it was scrubbed")]
    AuthorityChanged,
    /// Erasure-coded repair: the bad copy's holder has no shard position.
    #[error("{osd} holds no shard of {pg}")]
    NoShard {
        /// The holder.
        osd: OsdId,
        /// The PG.
        pg: PgId,
    },
    /// Erasure coding failed.
    #[error("erasure code: {0}")]
    Codec(#[from] crate::ec::EcError),
}

impl ScrubError {
    /// An error this OSD ran into (its wire form).
    pub(super) fn here(shared: &Shared) -> impl Fn(OsdError) -> ScrubError + '_ {
        |source| ScrubError::Member {
            osd: shared.id,
            source,
        }
    }
}

/// Puts `copy` (or removes the object) on `osd`.
pub(super) async fn install(
    shared: &Arc<Shared>,
    pg: PgId,
    osd: OsdId,
    name: &str,
    copy: Option<ObjectCopy>,
) -> Result<(), ScrubError> {
    if osd == shared.id {
        return Ok(apply_copy(&shared.store, pg, name.to_owned(), copy).await?);
    }
    let addr = shared.addr_of(osd).ok_or(ScrubError::NoAddress(osd))?;
    let mut copy = copy;
    let data = copy
        .as_mut()
        .map(|c| std::mem::take(&mut c.data))
        .unwrap_or_default();
    let req = RepairObject {
        pg,
        name: name.to_owned(),
        copy,
    };
    shared
        .messenger
        .call_with_payload(addr, &req, data)
        .await
        .map_err(|source| ScrubError::Unreachable { osd, source })?
        .0
        .map_err(|source| ScrubError::Member { osd, source })
}

/// Replaces the local copy with `copy` (or removes it), keeping the copy's version.
pub(super) async fn apply_copy(
    store: &Store,
    pg: PgId,
    name: String,
    copy: Option<ObjectCopy>,
) -> Result<(), crate::StoreError> {
    let op = ObjectCopy::into_op(copy, ObjectKey { pg, name });
    store.commit(Txn { ops: vec![op] }).await
}
