//! Writes and deletes in a bucket that keeps versions (the layout is in [`crate::versions`]).
//!
//! Every change of a key's head is a compare-and-swap on the whole head metadata, so each
//! commit replaces exactly the version its writer looked at. Before it, the writer settles the
//! index, which gives the head it is about to replace a version record; after it, settling
//! records the new head. A crash anywhere leaves the pending entry, and the janitor settles
//! the key the same way. Data is queued for GC only with the guard "unless the head or a
//! version record still carries this write's tag", so a race never deletes the bytes of a
//! version that still exists.

use bytes::Bytes;
use rados::WriteOp;
use rados::proto::osd::{Op, OpResult};
use s3s::S3ErrorCode;
use serde_bytes::ByteBuf;

use super::{Objects, Preconditions, PutTxn, no_such_key};
use crate::error::{GwError, GwResult};
use crate::ids;
use crate::index;
use crate::layout::{
    META_XATTR, STRIPE, TAG_XATTR, before_versions_of, head_oid, tail_oid, tail_prefix, version_key,
};
use crate::records::{
    BucketRecord, Manifest, ObjectMeta, PendingEntry, Versioning, decode, encode, now_ms,
};
use crate::versions::{self, VersionRef};

/// How a gateway whose record of `bucket` predates versioning on it (a cached record, at
/// most a couple of seconds old) writes over a head that already holds a version: as a
/// suspended bucket does, so that no version is lost.
pub fn late_view(bucket: &BucketRecord) -> BucketRecord {
    BucketRecord {
        versioning: Versioning::Suspended,
        ..bucket.clone()
    }
}

/// Whether `head` was written in a bucket that keeps versions.
pub fn keeps_versions(head: &ObjectMeta) -> bool {
    head.version.is_some() || head.vacant
}

/// A head as read for a compare-and-swap: its metadata, the exact bytes of that metadata
/// (the guard) and, when asked for, its data.
pub struct HeadState {
    /// The decoded metadata.
    pub meta: ObjectMeta,
    raw: Bytes,
    data: Bytes,
}

impl HeadState {
    /// A write guarded on this head being unchanged.
    pub(super) fn guard(&self) -> WriteOp {
        WriteOp::new()
            .cmp_xattr(TAG_XATTR, Some(self.meta.tag.as_bytes()))
            .cmp_xattr(META_XATTR, Some(&self.raw))
    }
}

/// How many records one read of a key's versions returns.
const RECORDS_PAGE: u32 = 100;

/// A version record as stored: its position, its bytes (what a guarded write compares) and
/// its metadata.
pub(super) struct RawRecord {
    pub(super) seq: u64,
    pub(super) raw: Vec<u8>,
    pub(super) meta: ObjectMeta,
}

impl Objects {
    /// Sets `bucket`'s versioning to `state`; turning it on for the first time gives
    /// every object written before its version record ([`adopt`](Self::adopt)).
    pub async fn set_versioning(
        &self,
        buckets: &crate::buckets::Buckets,
        bucket: &BucketRecord,
        state: Versioning,
    ) -> GwResult<()> {
        buckets.set_versioning(&bucket.name, state).await?;
        if bucket.versioning == Versioning::Off {
            let now = BucketRecord {
                versioning: state,
                ..bucket.clone()
            };
            self.adopt(&now).await?;
        }
        Ok(())
    }

    /// Gives every object written before versioning its version record (the "null"
    /// version), so ListObjectVersions, which reads only records, shows it. Settling is
    /// idempotent, so a call cut short is finished by the next one or by any later write
    /// of the key.
    async fn adopt(&self, bucket: &BucketRecord) -> GwResult<()> {
        let mut params = crate::listing::ListParams {
            max_keys: 1000,
            ..crate::listing::ListParams::default()
        };
        let mut adopted = 0usize;
        loop {
            let page = crate::listing::list_bucket(
                &self.cluster.index,
                &bucket.id,
                bucket.shards,
                &params,
            )
            .await?;
            for item in &page.items {
                if let crate::listing::Item::Object { key, .. } = item {
                    self.settle_index(bucket, key, None).await?;
                    adopted += 1;
                }
            }
            if !page.is_truncated {
                break;
            }
            params.start_after = page.next_marker;
        }
        tracing::info!(
            bucket = bucket.name,
            objects = adopted,
            "versioning enabled; existing objects are its null versions"
        );
        Ok(())
    }

    /// The head of `key` with its raw metadata, and its data if `with_data`.
    pub async fn head_state(
        &self,
        bucket: &BucketRecord,
        key: &str,
        with_data: bool,
    ) -> GwResult<Option<HeadState>> {
        let oid = head_oid(&bucket.id, key);
        let mut ops = vec![Op::GetXattr(META_XATTR.to_owned())];
        if with_data {
            ops.push(Op::Read {
                off: 0,
                len: Some(STRIPE),
            });
        }
        let (raw, data) = match self.data().operate(&oid, ops, Bytes::new()).await {
            Ok((reply, data)) => match reply.results.first() {
                Some(OpResult::Xattr(Some(raw))) => (Bytes::copy_from_slice(raw), data),
                _ => return Ok(None),
            },
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta: ObjectMeta = decode(&oid, &raw)?;
        if with_data && data.len() as u64 != meta.manifest.head_len {
            return Err(GwError::BadRecord {
                object: oid,
                reason: format!(
                    "head holds {} bytes where its manifest says {}",
                    data.len(),
                    meta.manifest.head_len
                ),
            });
        }
        Ok(Some(HeadState { meta, raw, data }))
    }

    /// Settles the index of `key` and returns the head as that settling read it: a swap
    /// guarded on this head replaces a version whose record exists. (Reading the head again
    /// after settling would not do: a write landing in between would be replaced before
    /// anyone recorded it.)
    pub(super) async fn settled_head(
        &self,
        bucket: &BucketRecord,
        key: &str,
        with_data: bool,
    ) -> GwResult<Option<HeadState>> {
        let seen = std::sync::Mutex::new(None);
        index::settle(&self.cluster.index, bucket, key, None, || async {
            let head = self.head_state(bucket, key, with_data).await?;
            let meta = head.as_ref().map(|h| h.meta.clone());
            *seen.lock().expect("settled head lock") = Some(head);
            Ok(meta)
        })
        .await?;
        let head = seen.lock().expect("settled head lock").take();
        Ok(head.flatten())
    }

    /// Up to `limit` version records of `key`, newest first, after position `below` (`None`:
    /// from the newest).
    async fn records(
        &self,
        bucket: &BucketRecord,
        key: &str,
        below: Option<u64>,
        limit: u32,
    ) -> GwResult<Vec<(u64, ObjectMeta)>> {
        let oid = index::shard_oid(bucket, key);
        let after = match below {
            Some(seq) => version_key(key, seq),
            None => before_versions_of(key),
        };
        let page = match self
            .cluster
            .index
            .omap_list(&oid, Some(&after), limit)
            .await
        {
            Ok(page) => page,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let page: Vec<_> = page
            .into_iter()
            .map(|(k, v)| (ByteBuf::from(k), ByteBuf::from(v)))
            .collect();
        index::version_records(&oid, key, &page)
    }

    /// Finds the record of the version `which` names, if it exists.
    pub async fn find_record(
        &self,
        bucket: &BucketRecord,
        key: &str,
        which: &VersionRef,
    ) -> GwResult<Option<(u64, ObjectMeta)>> {
        Ok(self
            .find_raw_record(bucket, key, which)
            .await?
            .map(|found| (found.seq, found.meta)))
    }

    /// [`Objects::find_record`] with the record's stored bytes, for a write guarded on them.
    pub(super) async fn find_raw_record(
        &self,
        bucket: &BucketRecord,
        key: &str,
        which: &VersionRef,
    ) -> GwResult<Option<RawRecord>> {
        let seq = match which {
            VersionRef::Id { seq, .. } => *seq,
            // At most one "null" version exists, anywhere in the order: search.
            VersionRef::Null => {
                let mut below = None;
                loop {
                    let page = self.records(bucket, key, below, RECORDS_PAGE).await?;
                    let full = page.len() == RECORDS_PAGE as usize;
                    below = page.last().map(|(seq, _)| *seq);
                    if let Some((seq, _)) = page.iter().find(|(_, m)| versions::is_null(m)) {
                        break *seq;
                    }
                    if !full {
                        return Ok(None);
                    }
                }
            }
        };
        let oid = index::shard_oid(bucket, key);
        let found = match self
            .cluster
            .index
            .omap_get(&oid, vec![version_key(key, seq)])
            .await
        {
            Ok(found) => found,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some((_, raw)) = found.into_iter().next() else {
            return Ok(None);
        };
        let meta: ObjectMeta = decode(&oid, &raw)?;
        Ok(which.names(&meta).then_some(RawRecord { seq, raw, meta }))
    }

    /// Whether the head of `key` or, in a bucket that keeps versions, any version of it has
    /// exactly `manifest` (a multipart completion's install landed, perhaps replaced since).
    pub async fn holds_manifest(
        &self,
        bucket: &BucketRecord,
        key: &str,
        manifest: &Manifest,
    ) -> GwResult<bool> {
        if self
            .meta(bucket, key)
            .await?
            .is_some_and(|h| h.manifest == *manifest)
        {
            return Ok(true);
        }
        if !bucket.versioning.keeps_versions() {
            return Ok(false);
        }
        let mut below = None;
        loop {
            let page = self.records(bucket, key, below, RECORDS_PAGE).await?;
            if page.iter().any(|(_, m)| m.manifest == *manifest) {
                return Ok(true);
            }
            if page.len() < RECORDS_PAGE as usize {
                return Ok(false);
            }
            below = page.last().map(|(seq, _)| *seq);
        }
    }

    /// The metadata of the version `which` names and whether it is the head; a noncurrent
    /// version's bytes are all in tails ([`versions::preserved`]).
    pub async fn version_meta(
        &self,
        bucket: &BucketRecord,
        key: &str,
        which: &VersionRef,
    ) -> GwResult<Option<(ObjectMeta, bool)>> {
        if let Some(head) = self.meta(bucket, key).await?
            && which.names(&head)
        {
            return Ok(Some((head, true)));
        }
        Ok(self
            .find_record(bucket, key, which)
            .await?
            .map(|(_, record)| (versions::preserved(&record, &bucket.id), false)))
    }

    /// Queues the data of version `meta` of `key` for deferred deletion, kept should the head
    /// or a version record still carry its tag by then.
    pub(super) async fn collect_version(
        &self,
        bucket: &BucketRecord,
        key: &str,
        meta: &ObjectMeta,
    ) -> GwResult<()> {
        let preserved = versions::preserved(meta, &bucket.id);
        self.collect_unless_kept(bucket, key, &meta.tag, &preserved.manifest)
            .await
    }

    /// Copies the head bytes of `old` to where [`versions::preserved`] says they are once it
    /// is noncurrent (the same object whoever copies, so racing copies agree).
    pub(super) async fn preserve(&self, bucket: &BucketRecord, old: &HeadState) -> GwResult<()> {
        if old.data.is_empty() {
            return Ok(());
        }
        let oid = tail_oid(&tail_prefix(&bucket.id, &old.meta.tag), 0);
        self.data().write_full(&oid, old.data.clone()).await?;
        Ok(())
    }

    /// Writes a delete marker as the newest version of `key` (a DELETE without a version id
    /// in a bucket that keeps versions); returns the marker.
    pub async fn put_delete_marker(
        &self,
        bucket: &BucketRecord,
        key: &str,
        owner: &str,
        pre: &Preconditions,
    ) -> GwResult<ObjectMeta> {
        let txn = self.start_install(bucket, key).await?;
        let marker = ObjectMeta {
            owner: owner.to_owned(),
            delete_marker: true,
            mtime_ms: now_ms(),
            ..ObjectMeta::default()
        };
        txn.install(marker, Bytes::new(), pre).await
    }

    /// Deletes exactly the version `which` of `key`: the head's next newest version takes a
    /// deleted head's place. Returns the deleted version (`None`: there was none such).
    /// A version object lock protects is refused ([`ObjectMeta::may_delete`]), decided on
    /// the metadata the removal is guarded on.
    pub async fn delete_version(
        &self,
        bucket: &BucketRecord,
        key: &str,
        which: &VersionRef,
        how: VersionDelete,
    ) -> GwResult<Option<ObjectMeta>> {
        let bypass = how.bypass_governance;
        let tag = ids::random_hex::<8>();
        let pending = PendingEntry::delete();
        index::begin(&self.cluster.index, bucket, key, &tag, &pending).await?;
        let oid = head_oid(&bucket.id, key);
        let mut deleted = None;
        // A record removal that may have landed though its reply said otherwise.
        let mut attempted = None;
        loop {
            let head = self.settled_head(bucket, key, false).await?;
            if let Some(h) = head.as_ref().filter(|h| which.names(&h.meta)) {
                if how.noncurrent_only {
                    // Current again since the caller looked: not what it meant to delete.
                    index::abandon(&self.cluster.index, bucket, key, &tag).await?;
                    return Ok(None);
                }
                if let Err(locked) = h.meta.may_delete(now_ms(), bypass) {
                    index::abandon(&self.cluster.index, bucket, key, &tag).await?;
                    return Err(locked.into());
                }
                let seq = versions::seq_of(&h.meta);
                let next = self.records(bucket, key, Some(seq), 1).await?;
                self.collect_version(bucket, key, &h.meta).await?;
                let op = match next.into_iter().next() {
                    Some((_, record)) => {
                        let mut promoted = versions::preserved(&record, &bucket.id);
                        promoted.seq_hwm = h.meta.seq_hwm.max(seq);
                        promoted.list_gen = h.meta.list_gen.wrapping_add(1);
                        h.guard()
                            .write_full(Bytes::new())
                            .set_xattr(META_XATTR, &encode(&promoted))
                            .set_xattr(TAG_XATTR, promoted.tag.as_bytes())
                    }
                    // The last version: a vacant head, never "no head" (see `vacant`).
                    None => {
                        let vacant = ObjectMeta {
                            vacant: true,
                            tag: ids::random_hex::<8>(),
                            seq_hwm: h.meta.seq_hwm.max(seq),
                            ..ObjectMeta::default()
                        };
                        h.guard()
                            .write_full(Bytes::new())
                            .set_xattr(META_XATTR, &encode(&vacant))
                            .set_xattr(TAG_XATTR, vacant.tag.as_bytes())
                    }
                };
                match self.data().write(&oid, op).await.map_err(GwError::from) {
                    Err(e) if e.is_guard_failed() || e.is_not_found() => continue,
                    other => {
                        other?;
                        deleted = Some(h.meta.clone());
                        break;
                    }
                }
            }
            let Some(found) = self.find_raw_record(bucket, key, which).await? else {
                // A resent guarded write fails its guard even when its first send landed: a
                // removal we tried is then ours, and so is the list_gen move it owes.
                if deleted.is_none()
                    && let Some(meta) = attempted.take()
                {
                    deleted = Some(meta);
                    if let Some(h) = &head
                        && !self.bump_list_gen(&oid, h).await?
                    {
                        continue;
                    }
                }
                break;
            };
            if let Err(locked) = found.meta.may_delete(now_ms(), bypass) {
                index::abandon(&self.cluster.index, bucket, key, &tag).await?;
                return Err(locked.into());
            }
            self.collect_version(bucket, key, &found.meta).await?;
            // Guarded on the record as checked: a retention set meanwhile is not overrun.
            let at = version_key(key, found.seq);
            let op = WriteOp::new()
                .cmp_omap(&at, Some(&found.raw))
                .omap_rm(vec![at]);
            let shard = index::shard_oid(bucket, key);
            attempted = Some(found.meta.clone());
            match self
                .cluster
                .index
                .write(&shard, op)
                .await
                .map_err(GwError::from)
            {
                Err(e) if e.is_guard_failed() => continue,
                other => drop(other?),
            }
            attempted = None;
            deleted = Some(found.meta);
            // A promotion that read the version list before the removal must fail its swap;
            // if the head changed meanwhile, look again: the version may have been promoted.
            if let Some(h) = &head
                && !self.bump_list_gen(&oid, h).await?
            {
                continue;
            }
            break;
        }
        // Reaping settles first; the pending entry goes last, so a crash before then leaves
        // the janitor a vacant head to reap.
        self.reap_vacant(bucket, key).await?;
        self.settle_index(bucket, key, Some(&tag)).await?;
        Ok(deleted)
    }

    /// Replaces the record `found` of `key` with `record`, guarded on the record's stored
    /// bytes (a change made meanwhile fails it).
    pub(super) async fn replace_record(
        &self,
        bucket: &BucketRecord,
        key: &str,
        found: &RawRecord,
        record: &ObjectMeta,
    ) -> GwResult<()> {
        let at = version_key(key, found.seq);
        let op = WriteOp::new()
            .cmp_omap(&at, Some(&found.raw))
            .omap_set(vec![(at.clone(), encode(record))]);
        let shard = index::shard_oid(bucket, key);
        self.cluster.index.write(&shard, op).await?;
        Ok(())
    }

    /// Moves the `list_gen` of head `h` (a noncurrent version's record changed), guarded on
    /// `h`; false if the head changed first.
    pub(super) async fn bump_list_gen(&self, oid: &str, h: &HeadState) -> GwResult<bool> {
        let mut bumped = h.meta.clone();
        bumped.list_gen = bumped.list_gen.wrapping_add(1);
        let op = h.guard().set_xattr(META_XATTR, &encode(&bumped));
        match self.data().write(oid, op).await.map_err(GwError::from) {
            Err(e) if e.is_guard_failed() => Ok(false),
            Err(e) if e.is_not_found() => Ok(true),
            other => other.map(|_| true),
        }
    }

    /// Changes the stored metadata of one version of `key` (tags, ACL, retention, legal
    /// hold) without touching its data: the version `which` names, or the current one.
    /// `change` decides on the metadata as stored and may refuse; a change that changes
    /// nothing writes nothing. Returns the version's metadata as changed.
    ///
    /// The head is swapped guarded on its whole metadata, so a concurrent change is never
    /// undone. A noncurrent version's record is rewritten guarded on its stored bytes, then
    /// the head's `list_gen` moves: a promotion that read the record before it changed fails
    /// its swap and reads it again.
    pub async fn update_meta(
        &self,
        bucket: &BucketRecord,
        key: &str,
        which: Option<&VersionRef>,
        change: impl Fn(&mut ObjectMeta) -> GwResult<()>,
    ) -> GwResult<ObjectMeta> {
        let oid = head_oid(&bucket.id, key);
        let versioned = bucket.versioning.keeps_versions();
        // A record change of an earlier round landed (its list_gen bump did not).
        let mut wrote = false;
        loop {
            let head = if versioned {
                self.settled_head(bucket, key, false).await?
            } else {
                self.head_state(bucket, key, false).await?
            };
            let current = head
                .as_ref()
                .filter(|h| !h.meta.vacant && which.is_none_or(|w| w.names(&h.meta)));
            if let Some(h) = current {
                if h.meta.delete_marker {
                    return Err(match which {
                        Some(_) => marker_refusal(),
                        None => no_such_key(key),
                    });
                }
                let mut meta = h.meta.clone();
                change(&mut meta)?;
                if meta == h.meta {
                    return Ok(meta);
                }
                let op = h.guard().set_xattr(META_XATTR, &encode(&meta));
                match self.data().write(&oid, op).await.map_err(GwError::from) {
                    Err(e) if e.is_guard_failed() => continue,
                    other => other?,
                };
                // The head's version record carries the change too, and so does the listed
                // entry if it shows what changed (a recorded read).
                let listed = |m: &ObjectMeta| crate::records::IndexEntry::of(m, false);
                if versioned || listed(&h.meta) != listed(&meta) {
                    self.settle_index(bucket, key, None).await?;
                }
                return Ok(meta);
            }
            let Some(which) = which.filter(|_| versioned) else {
                return Err(no_such_key(key));
            };
            let Some(found) = self.find_raw_record(bucket, key, which).await? else {
                return Err(GwError::s3(S3ErrorCode::NoSuchVersion, "no such version"));
            };
            if found.meta.delete_marker {
                return Err(marker_refusal());
            }
            let mut record = found.meta.clone();
            change(&mut record)?;
            if record == found.meta {
                // Nothing to write, unless our own write of an earlier round is what it
                // finds: then the head's list_gen must still move, on the head as it is now,
                // or a promotion that read the record before that write could undo it.
                if wrote
                    && let Some(h) = &head
                    && !self.bump_list_gen(&oid, h).await?
                {
                    continue;
                }
                return Ok(versions::preserved(&record, &bucket.id));
            }
            match self.replace_record(bucket, key, &found, &record).await {
                Err(e) if e.is_guard_failed() => continue,
                other => other?,
            };
            wrote = true;
            // Look again if the head changed: the version may have been promoted with its
            // old record.
            if let Some(h) = &head
                && !self.bump_list_gen(&oid, h).await?
            {
                continue;
            }
            return Ok(versions::preserved(&record, &bucket.id));
        }
    }

    /// Removes `key`'s head if it is vacant, once settling has left no version record: a
    /// writer that saw "no head" then sees a true picture, records and all.
    pub async fn reap_vacant(&self, bucket: &BucketRecord, key: &str) -> GwResult<()> {
        let Some(head) = self.settled_head(bucket, key, false).await? else {
            return Ok(());
        };
        if !head.meta.vacant {
            return Ok(());
        }
        let op = head.guard().remove();
        match self.data().write(&head_oid(&bucket.id, key), op).await {
            Err(rados::ClientError::GuardFailed { .. }) => Ok(()),
            other => other.map(drop).map_err(GwError::from),
        }
    }
}

/// How a deletion of a version goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionDelete {
    /// The request asks to bypass a governance retention.
    pub bypass_governance: bool,
    /// Only while it is noncurrent: a version current again is left alone (lifecycle's
    /// noncurrent rules decided on an older picture).
    pub noncurrent_only: bool,
}

/// A change of a delete marker's metadata, which has none to change (405, as S3).
fn marker_refusal() -> GwError {
    GwError::s3(
        S3ErrorCode::MethodNotAllowed,
        "the specified version is a delete marker",
    )
}

impl PutTxn<'_> {
    /// [`PutTxn::install`] in a bucket that keeps versions: the head becomes a new version
    /// (or, suspended, the "null" one), the replaced head stays as a noncurrent version
    /// unless the new one replaces it.
    pub(super) async fn install_version(
        self,
        bucket: &BucketRecord,
        mut meta: ObjectMeta,
        head: Bytes,
        pre: &Preconditions,
    ) -> GwResult<ObjectMeta> {
        let objects = self.objects;
        let key = self.key;
        let null = bucket.versioning == Versioning::Suspended;
        let oid = head_oid(&bucket.id, key);
        meta.tag = self.tag.clone();
        loop {
            // The head about to be replaced has its record before it is replaced.
            let old = objects.settled_head(bucket, key, true).await?;
            let current = old
                .as_ref()
                .map(|o| &o.meta)
                .filter(|m| !m.delete_marker && !m.vacant);
            if let Err(e) = pre.check(current) {
                self.abort().await?;
                return Err(e);
            }
            let max_recorded = match &old {
                Some(_) => None,
                None => objects
                    .records(bucket, key, None, 1)
                    .await?
                    .first()
                    .map(|(seq, _)| *seq),
            };
            let stamp = versions::next_stamp(old.as_ref().map(|o| &o.meta), max_recorded, null);
            meta.seq_hwm = stamp.seq;
            meta.version = Some(stamp);
            meta.replaces_null = None;
            meta.list_gen = 0;
            match &old {
                // No version to keep or replace, only its position counter.
                Some(old) if old.meta.vacant => {}
                Some(old) if versions::keeps(&old.meta, null) => {
                    objects.preserve(bucket, old).await?;
                }
                Some(old) => {
                    if let Err(locked) = old.meta.may_delete(now_ms(), false) {
                        self.abort().await?;
                        return Err(locked.into());
                    }
                    objects.collect_version(bucket, key, &old.meta).await?;
                    meta.replaces_null = Some(versions::seq_of(&old.meta));
                }
                None => {}
            }
            if null
                && meta.replaces_null.is_none()
                && let Some((seq, record)) =
                    objects.find_record(bucket, key, &VersionRef::Null).await?
            {
                // Replacing a null version deletes it: object lock may forbid that.
                if let Err(locked) = record.may_delete(now_ms(), false) {
                    self.abort().await?;
                    return Err(locked.into());
                }
                objects.collect_version(bucket, key, &record).await?;
                meta.replaces_null = Some(seq);
            }
            let op = match &old {
                Some(old) => old.guard(),
                None => WriteOp::new().cmp_xattr(TAG_XATTR, None),
            }
            .write_full(head.clone())
            .set_xattr(META_XATTR, &encode(&meta))
            .set_xattr(TAG_XATTR, self.tag.as_bytes());
            match objects.data().write(&oid, op).await.map_err(GwError::from) {
                Err(e) if e.is_guard_failed() => continue,
                other => {
                    other?;
                    break;
                }
            }
        }
        objects.settle_index(bucket, key, Some(&self.tag)).await?;
        Ok(meta)
    }
}
