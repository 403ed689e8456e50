//! Bucket index updates: the two-step protocol that keeps listings in step with heads.
//!
//! A write first records a pending entry in the key's shard (refused once the bucket is
//! being deleted), then writes data and head, then in one omap op completes the listed
//! entry and drops the pending one. A gateway crash leaves the pending entry behind; the
//! janitor ([`crate::janitor`]) resolves it against the head, which is the truth.

use rados::proto::osd::Op;
use rados::{IoCtx, WriteOp};
use serde_bytes::ByteBuf;

use crate::buckets::no_such_bucket;
use crate::error::{GwError, GwResult};
use crate::layout::{STATE_LIVE, STATE_XATTR, entry_key, index_oid, pending_key, shard_of};
use crate::records::{BucketRecord, IndexEntry, PendingEntry, encode};

fn shard_oid(bucket: &BucketRecord, key: &str) -> String {
    index_oid(&bucket.id, shard_of(key, bucket.shards))
}

/// Records that a write with `tag` on `key` has started (or, called again, that it is
/// still alive: the janitor leaves young entries alone).
pub async fn begin(
    index: &IoCtx,
    bucket: &BucketRecord,
    key: &str,
    tag: &str,
    pending: &PendingEntry,
) -> GwResult<()> {
    let op = WriteOp::new()
        .cmp_xattr(STATE_XATTR, Some(STATE_LIVE))
        .omap_set(vec![(pending_key(key, tag), encode(pending))]);
    match index
        .write(&shard_oid(bucket, key), op)
        .await
        .map_err(GwError::from)
    {
        Err(e) if e.is_guard_failed() => Err(no_such_bucket(&bucket.name)),
        other => other.map(drop),
    }
}

/// Finishes the write with `tag`: lists `entry` for `key` (`None`: unlists it) and drops
/// the pending entry, atomically.
pub async fn complete(
    index: &IoCtx,
    bucket: &BucketRecord,
    key: &str,
    tag: &str,
    entry: Option<&IndexEntry>,
) -> GwResult<()> {
    let mut ops = Vec::with_capacity(2);
    match entry {
        Some(entry) => ops.push(Op::OmapSet(vec![(
            ByteBuf::from(entry_key(key)),
            ByteBuf::from(encode(entry)),
        )])),
        None => ops.push(Op::OmapRm(vec![ByteBuf::from(entry_key(key))])),
    }
    ops.push(Op::OmapRm(vec![ByteBuf::from(pending_key(key, tag))]));
    index
        .operate(&shard_oid(bucket, key), ops, bytes::Bytes::new())
        .await?;
    Ok(())
}

/// Drops a pending entry without touching the listing (a write that failed before its
/// head changed).
pub async fn abandon(index: &IoCtx, bucket: &BucketRecord, key: &str, tag: &str) -> GwResult<()> {
    index
        .omap_rm(&shard_oid(bucket, key), vec![pending_key(key, tag)])
        .await?;
    Ok(())
}
