//! Bucket index updates: the two-step protocol that keeps listings in step with heads.
//!
//! A write first records a pending entry in the key's shard (refused once the bucket is
//! being deleted), then writes data and head, then in one guarded omap op ([`settle`])
//! makes the listed entry match the head and drops the pending one. A gateway crash leaves the pending entry behind; the
//! janitor ([`crate::janitor`]) resolves it against the head, which is the truth.

use rados::proto::osd::{Op, OpResult, Version};
use rados::{IoCtx, WriteOp};
use serde_bytes::ByteBuf;

use crate::buckets::no_such_bucket;
use crate::error::{GwError, GwResult};
use crate::layout::{STATE_LIVE, STATE_XATTR, entry_key, index_oid, pending_key, shard_of};
use crate::records::{BucketRecord, IndexEntry, PendingEntry, decode, encode};

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

/// Makes the listed entry of `key` say what `head` (read by the caller's closure) holds,
/// and drops the pending entry of `tag` if given — one write, guarded by the shard's
/// version. The shard is read before the head, so if another writer changes the listing
/// after our head read, our write fails its guard and we read again: whatever order racing
/// writers finish in, the last successful write describes the head as it was after every
/// earlier head change. The head is the truth; the listing follows it.
pub async fn settle<F, Fut>(
    index: &IoCtx,
    bucket: &BucketRecord,
    key: &str,
    tag: Option<&str>,
    head: F,
) -> GwResult<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = GwResult<Option<IndexEntry>>>,
{
    let oid = shard_oid(bucket, key);
    let entry_key = entry_key(key);
    loop {
        let read = vec![
            Op::Stat,
            Op::OmapGet(vec![ByteBuf::from(entry_key.clone())]),
        ];
        let (version, listed) = match index.operate(&oid, read, bytes::Bytes::new()).await {
            Ok((reply, _)) => {
                let listed = match reply.results.get(1) {
                    Some(OpResult::Omap(found)) => match found.first() {
                        Some((_, v)) => Some(decode::<IndexEntry>(&oid, v)?),
                        None => None,
                    },
                    _ => None,
                };
                (reply.version, listed)
            }
            Err(e) if e.is_not_found() => (Version::ZERO, None),
            Err(e) => return Err(e.into()),
        };
        let want = head().await?;
        let mut ops = vec![Op::AssertVersion(version)];
        if listed != want {
            ops.push(match &want {
                Some(entry) => Op::OmapSet(vec![(
                    ByteBuf::from(entry_key.clone()),
                    ByteBuf::from(encode(entry)),
                )]),
                None => Op::OmapRm(vec![ByteBuf::from(entry_key.clone())]),
            });
        }
        if let Some(tag) = tag {
            ops.push(Op::OmapRm(vec![ByteBuf::from(pending_key(key, tag))]));
        }
        if ops.len() == 1 {
            return Ok(()); // already right, nothing pending
        }
        match index
            .operate(&oid, ops, bytes::Bytes::new())
            .await
            .map_err(GwError::from)
        {
            Err(e) if e.is_guard_failed() => continue,
            other => return other.map(drop),
        }
    }
}

/// Drops a pending entry without touching the listing (a write that failed before its
/// head changed).
pub async fn abandon(index: &IoCtx, bucket: &BucketRecord, key: &str, tag: &str) -> GwResult<()> {
    index
        .omap_rm(&shard_oid(bucket, key), vec![pending_key(key, tag)])
        .await?;
    Ok(())
}
