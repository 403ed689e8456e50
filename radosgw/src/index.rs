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
use bytes::Bytes;

use crate::layout::{
    STATE_LIVE, STATE_XATTR, before_versions_of, entry_key, index_oid, pending_key, shard_of,
    split_version_key, version_key,
};
use crate::records::{BucketRecord, IndexEntry, ObjectMeta, PendingEntry, decode, encode};
use crate::versions;

/// The index shard object holding `key`'s entries.
pub fn shard_oid(bucket: &BucketRecord, key: &str) -> String {
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

/// Makes the index of `key` say what its head (read by the caller's closure) holds — the
/// listed entry and, in a bucket that keeps versions, the version records
/// ([`versions::plan_index`]) — and drops the pending entry of `tag` if given: one write,
/// guarded by the shard's version. The shard is read before the head, so if another writer
/// changes the shard after our head read, our write fails its guard and we read again:
/// whatever order racing writers finish in, the last successful write describes the head as
/// it was after every earlier head change. The head is the truth; the index follows it.
pub async fn settle<F, Fut>(
    index: &IoCtx,
    bucket: &BucketRecord,
    key: &str,
    tag: Option<&str>,
    head: F,
) -> GwResult<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = GwResult<Option<ObjectMeta>>>,
{
    let oid = shard_oid(bucket, key);
    let entry_key = entry_key(key);
    let versioned = bucket.versioning.keeps_versions();
    let mut tag = tag;
    loop {
        let mut read = vec![
            Op::Stat,
            Op::OmapGet(vec![ByteBuf::from(entry_key.clone())]),
        ];
        if versioned {
            read.push(Op::OmapList {
                start_after: Some(ByteBuf::from(before_versions_of(key))),
                limit: RECORDS_PAGE,
            });
        }
        let (version, listed, mut records, full) =
            match index.operate(&oid, read, Bytes::new()).await {
                Ok((reply, _)) => {
                    let listed = match reply.results.get(1) {
                        Some(OpResult::Omap(found)) => match found.first() {
                            Some((_, v)) => Some(decode::<IndexEntry>(&oid, v)?),
                            None => None,
                        },
                        _ => None,
                    };
                    let (records, full) = match reply.results.get(2) {
                        Some(OpResult::Omap(page)) => {
                            let records = version_records(&oid, key, page)?;
                            // A page of nothing but this key's records may have more behind it.
                            let full =
                                page.len() == RECORDS_PAGE as usize && records.len() == page.len();
                            (records, full)
                        }
                        _ => (Vec::new(), false),
                    };
                    (reply.version, listed, records, full)
                }
                Err(e) if e.is_not_found() => (Version::ZERO, None, Vec::new(), false),
                Err(e) => return Err(e.into()),
            };
        let head = head().await?;
        let mut ops = vec![Op::AssertVersion(version)];
        let mut removes = false;
        let want = if versioned {
            // The null version a head replaced may sit past the first page of records.
            if let Some(at) = head.as_ref().and_then(|h| h.replaces_null)
                && full
                && !records.iter().any(|(seq, _)| *seq == at)
            {
                let wanted = vec![ByteBuf::from(version_key(key, at))];
                let (reply, _) = index
                    .operate(&oid, vec![Op::OmapGet(wanted)], Bytes::new())
                    .await?;
                if let Some(OpResult::Omap(found)) = reply.results.first() {
                    records.extend(version_records(&oid, key, found)?);
                }
            }
            let plan = versions::plan_index(head.as_ref(), &records);
            let set: Vec<_> = plan
                .set
                .iter()
                .map(|(seq, record)| {
                    (
                        ByteBuf::from(version_key(key, *seq)),
                        ByteBuf::from(encode(record)),
                    )
                })
                .collect();
            if !set.is_empty() {
                ops.push(Op::OmapSet(set));
            }
            removes = !plan.remove.is_empty();
            if !plan.remove.is_empty() {
                ops.push(Op::OmapRm(
                    plan.remove
                        .iter()
                        .map(|seq| ByteBuf::from(version_key(key, *seq)))
                        .collect(),
                ));
            }
            plan.entry
        } else {
            head.as_ref().map(|h| IndexEntry::of(h, false))
        };
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
            // Already right, nothing pending. Where versions are kept, a caller swaps the
            // head it was given on the word that the shard matched it when the head was read
            // (`versioned::settled_head`): the shard must still be as read.
            if versioned {
                let unchanged = vec![Op::AssertVersion(version)];
                match index.operate(&oid, unchanged, Bytes::new()).await {
                    Err(rados::ClientError::GuardFailed { .. }) => continue,
                    Err(e) if e.is_not_found() && version == Version::ZERO => {}
                    other => drop(other?),
                }
            }
            return Ok(());
        }
        match index
            .operate(&oid, ops, Bytes::new())
            .await
            .map_err(GwError::from)
        {
            Err(e) if e.is_guard_failed() => continue,
            // Records removed from a full page may have more behind them: look again (the
            // pending entry, if any, is gone now).
            Ok(_) if full && removes => {
                tag = None;
                continue;
            }
            other => return other.map(drop),
        }
    }
}

/// How many version records of a key [`settle`] reads: the newest ones, where the head's
/// own record and any newer leftovers are.
const RECORDS_PAGE: u32 = 32;

/// The version records of `key` in an omap page (entries of other keys ignored).
pub fn version_records(
    oid: &str,
    key: &str,
    page: &[(ByteBuf, ByteBuf)],
) -> GwResult<Vec<(u64, ObjectMeta)>> {
    let mut out = Vec::new();
    for (k, v) in page {
        match split_version_key(k) {
            Some((of, seq)) if of == key => out.push((seq, decode::<ObjectMeta>(oid, v)?)),
            _ => break,
        }
    }
    Ok(out)
}

/// Drops a pending entry without touching the listing (a write that failed before its
/// head changed).
pub async fn abandon(index: &IoCtx, bucket: &BucketRecord, key: &str, tag: &str) -> GwResult<()> {
    index
        .omap_rm(&shard_oid(bucket, key), vec![pending_key(key, tag)])
        .await?;
    Ok(())
}
