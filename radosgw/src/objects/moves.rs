//! Moving a version's bytes to another storage class's pool, in place (lifecycle
//! transitions, tiering). A move of the current version is a PUT of the same bytes under a new write tag: a pending entry
//! (so the janitor collects the tails of a move that died), the bytes streamed from the old
//! manifest into the new pool, then a compare-and-swap on the head's whole metadata that
//! installs the same version (id, ETag, dates, metadata) with the new manifest and tag and
//! no head bytes. The old data is queued for GC before the swap, kept while the head or a
//! version record still carries the old tag, so whichever way a move ends the object is
//! whole and in one class, and after GC only that class holds its bytes. A noncurrent
//! version moves the same way, its record rewritten guarded on its stored bytes instead of
//! the head swapped, then the head's `list_gen` moved as any record change does.

use std::ops::Range;

use bytes::Bytes;
use s3s::checksum::ChecksumHasher;

use super::write::Start;
use super::{Objects, PutTxn};
use crate::error::{GwError, GwResult};
use crate::layout::{META_XATTR, TAG_XATTR, head_oid};
use crate::records::{BucketRecord, Manifest, ObjectMeta, Segment, encode, now_ms};
use crate::storage_class::Target;
use crate::versions::{self, VersionRef};

/// How a move ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moved {
    /// The version's bytes are in the target class now.
    Done,
    /// Nothing to do: the version is gone, replaced since it was chosen, a delete marker,
    /// already in the class, or under object lock.
    Skipped,
}

/// The runs a move writes, each `(range of the object, part number)`: a multipart
/// object's parts stay parts (`GET ?partNumber=` keeps working), any other object is one
/// run.
fn runs(manifest: &Manifest) -> Vec<(Range<u64>, Option<u32>)> {
    if manifest.segments.iter().any(|s| s.part.is_some()) {
        let mut at = manifest.head_len;
        return manifest
            .segments
            .iter()
            .map(|s| {
                let run = (at..at + s.len, s.part);
                at += s.len;
                run
            })
            .collect();
    }
    let size = manifest.size();
    if size == 0 {
        return Vec::new();
    }
    vec![(0..size, None)]
}

impl Objects {
    /// Moves the current version of `key` to `target` if it still carries write tag `tag`
    /// (a lifecycle rule decided on that version; one written since is left alone) and
    /// `still` holds of it as read now (a tiering demotion: not read meanwhile). A version
    /// under retention or legal hold is never moved.
    pub async fn transition(
        &self,
        bucket: &BucketRecord,
        key: &str,
        tag: &str,
        target: Target,
        still: impl Fn(&ObjectMeta) -> bool,
    ) -> GwResult<Moved> {
        let Some(state) = self.head_state(bucket, key, true).await? else {
            return Ok(Moved::Skipped);
        };
        let old = &state.meta;
        let in_place = old.storage_class == target.class && old.manifest.pool == target.pool;
        if old.tag != tag || old.delete_marker || old.vacant || in_place || !still(old) {
            return Ok(Moved::Skipped);
        }
        if old.may_delete(now_ms(), false).is_err() {
            return Ok(Moved::Skipped);
        }
        let slot = self.upload_slot().await;
        let txn = self.begin_put(bucket, key, Some(slot), target).await?;
        let manifest = match copy_runs(self, &txn, bucket, key, old).await {
            Ok(m) => m,
            Err(e) => {
                txn.abort().await?;
                return Err(e);
            }
        };
        let mut meta = old.clone();
        meta.tag = txn.tag.clone();
        meta.manifest = manifest;
        meta.storage_class = txn.target.class.clone();
        // The old bytes (the head's stripe too, preserved where a GET that began before the
        // swap finds it) go once nothing carries their tag any more.
        self.collect_version(bucket, key, old).await?;
        self.preserve(bucket, &state).await?;
        let op = state
            .guard()
            .write_full(Bytes::new())
            .set_xattr(META_XATTR, &encode(&meta))
            .set_xattr(TAG_XATTR, meta.tag.as_bytes());
        let oid = head_oid(&bucket.id, key);
        match self.data().write(&oid, op).await.map_err(GwError::from) {
            Err(e) if e.is_guard_failed() || e.is_not_found() => {
                // A resent swap whose first try landed fails its guard too: only a head that
                // does not carry our tag means another write won.
                let landed = self
                    .meta(bucket, key)
                    .await?
                    .is_some_and(|m| m.tag == meta.tag);
                if !landed {
                    // Written, deleted or changed since: that write decides; ours goes (kept
                    // should a version record name it: a swap that landed, then was kept as
                    // a version by a write after it, before this look).
                    txn.give_up_written(&meta).await?;
                    return Ok(Moved::Skipped);
                }
            }
            other => other.map(drop)?,
        }
        self.settle_index(bucket, key, Some(&meta.tag)).await?;
        Ok(Moved::Done)
    }
}

impl Objects {
    /// Moves noncurrent version `which` of `key` to `target` if it is still noncurrent and
    /// carries write tag `tag`. A version under retention or legal hold is never moved.
    pub async fn transition_version(
        &self,
        bucket: &BucketRecord,
        key: &str,
        which: &VersionRef,
        tag: &str,
        target: Target,
    ) -> GwResult<Moved> {
        let oid = head_oid(&bucket.id, key);
        let Some(head) = self.settled_head(bucket, key, false).await? else {
            return Ok(Moved::Skipped);
        };
        if head.meta.vacant || which.names(&head.meta) {
            return Ok(Moved::Skipped); // current again: the next pass decides
        }
        let Some(found) = self.find_raw_record(bucket, key, which).await? else {
            return Ok(Moved::Skipped);
        };
        let old = &found.meta;
        let in_place = old.storage_class == target.class && old.manifest.pool == target.pool;
        if old.tag != tag
            || old.delete_marker
            || in_place
            || old.may_delete(now_ms(), false).is_err()
        {
            return Ok(Moved::Skipped);
        }
        let slot = self.upload_slot().await;
        let txn = self.begin_put(bucket, key, Some(slot), target).await?;
        // A noncurrent version's bytes are all in tails (its head stripe preserved).
        let source = versions::preserved(old, &bucket.id);
        let manifest = match copy_runs(self, &txn, bucket, key, &source).await {
            Ok(m) => m,
            Err(e) => {
                txn.abort().await?;
                return Err(e);
            }
        };
        let mut record = old.clone();
        record.tag = txn.tag.clone();
        record.manifest = manifest;
        record.storage_class = txn.target.class.clone();
        self.collect_version(bucket, key, old).await?;
        match self.replace_record(bucket, key, &found, &record).await {
            Err(e) if e.is_guard_failed() || e.is_not_found() => {
                let ours = self.record_carries(bucket, key, which, &record.tag).await?;
                if !ours {
                    txn.give_up_written(&record).await?;
                    return Ok(Moved::Skipped);
                }
            }
            other => other.map(drop)?,
        }
        // A promotion that read the record before it changed must fail and read it again:
        // the head's list_gen moves, on whatever head there is by then.
        let mut head = head;
        while !self.bump_list_gen(&oid, &head).await? {
            // The head changed first. If a promotion installed the old record as the head,
            // settling puts the record back as the head has it, and ours is undone.
            let Some(now) = self.settled_head(bucket, key, false).await? else {
                break; // no head: no promotion can follow
            };
            let promoted = which.names(&now.meta);
            if promoted && now.meta.tag == record.tag {
                break; // promoted with our record: ours
            }
            if promoted || !self.record_carries(bucket, key, which, &record.tag).await? {
                txn.give_up_written(&record).await?;
                return Ok(Moved::Skipped);
            }
            head = now;
        }
        self.settle_index(bucket, key, Some(&txn.tag)).await?;
        Ok(Moved::Done)
    }

    /// Whether the record of version `which` of `key` carries write tag `tag`.
    async fn record_carries(
        &self,
        bucket: &BucketRecord,
        key: &str,
        which: &VersionRef,
        tag: &str,
    ) -> GwResult<bool> {
        let found = self.find_raw_record(bucket, key, which).await?;
        Ok(found.is_some_and(|r| r.meta.tag == tag))
    }
}

/// Streams every run of `old` into the move's pool; returns the new manifest.
async fn copy_runs(
    objects: &Objects,
    txn: &PutTxn<'_>,
    bucket: &BucketRecord,
    key: &str,
    old: &ObjectMeta,
) -> GwResult<Manifest> {
    let mut segments = Vec::new();
    let mut next = 0;
    for (range, part) in runs(&old.manifest) {
        let len = range.end - range.start;
        if len == 0 {
            // An empty part (a multipart upload may end with one) has no tails to write.
            let prefix = crate::layout::tail_prefix(&bucket.id, &txn.tag);
            segments.push(Segment {
                prefix,
                first: next,
                len,
                part,
            });
            continue;
        }
        let body = objects.stream(bucket, key, old, None, range).await?;
        let hasher = ChecksumHasher::default();
        let written = txn.write_from(body, hasher, Start::Tail(next)).await?;
        let Some(segment) = written.segment.filter(|_| written.size == len) else {
            return Err(GwError::BadRecord {
                object: head_oid(&bucket.id, key),
                reason: format!("moving it read {} bytes of {len}", written.size),
            });
        };
        next += segment.objects();
        segments.push(Segment { part, ..segment });
    }
    Ok(Manifest {
        head_len: 0,
        segments,
        pool: txn.target.pool.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::STRIPE;

    fn segment(prefix: &str, len: u64, part: Option<u32>) -> Segment {
        Segment {
            prefix: prefix.into(),
            first: 0,
            len,
            part,
        }
    }

    #[test]
    fn a_plain_object_moves_as_one_run_and_parts_stay_parts() {
        let plain = Manifest {
            head_len: STRIPE,
            segments: vec![segment("t", 10, None)],
            pool: None,
        };
        assert_eq!(runs(&plain), vec![(0..STRIPE + 10, None)]);
        let multipart = Manifest {
            head_len: 0,
            segments: vec![segment("p1", 5, Some(1)), segment("p2", 3, Some(2))],
            pool: None,
        };
        assert_eq!(runs(&multipart), vec![(0..5, Some(1)), (5..8, Some(2))]);
        assert!(runs(&Manifest::default()).is_empty(), "nothing to copy");
    }
}
