//! Objects: heads and tails in the data pool, kept in step with the bucket index.
//!
//! A PUT is a [`PutTxn`]: record a pending index entry, stream the body into tails (and the
//! head's stripe), let the caller verify digests, then swap the head in with a
//! compare-and-swap on its tag (so preconditions and concurrent writers are decided
//! atomically at the head), list the entry, and queue the old tails for deferred GC.

mod moves;
pub mod read;
mod versioned;
pub mod write;

pub use moves::Moved;
pub use versioned::{HeadState, VersionDelete};

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use rados::proto::osd::{Op, OpResult};
use rados::{IoCtx, WriteOp};
use s3s::S3ErrorCode;
use s3s::checksum::ChecksumHasher;
use s3s::dto::{ETag, ETagCondition};
use tokio::sync::Semaphore;

use crate::classes::Classes;
use crate::cluster::Cluster;
use crate::error::{GwError, GwResult};
use crate::gc;
use crate::ids;
use crate::index;
use crate::layout::{META_XATTR, STRIPE, TAG_XATTR, head_oid, tail_prefix};
use crate::records::{
    BucketRecord, GcEntry, Manifest, ObjectMeta, PendingEntry, PendingOp, decode, encode, now_ms,
};
use crate::storage_class::Target;
use write::{Every, Keepalive, Written};

/// Timing and limits of object writes.
#[derive(Clone, Debug)]
pub struct ObjectSettings {
    /// How long replaced data stays readable before GC deletes it.
    pub gc_delay: Duration,
    /// Age after which the janitor resolves a pending entry (writers refresh theirs at a
    /// quarter of this).
    pub janitor_after: Duration,
    /// Uploads (PUT, part, copy) streaming at once; more wait. Bounds gateway memory.
    pub max_uploads: usize,
}

impl Default for ObjectSettings {
    fn default() -> ObjectSettings {
        ObjectSettings {
            gc_delay: Duration::from_secs(300),
            janitor_after: Duration::from_secs(120),
            max_uploads: 16,
        }
    }
}

/// Object operations.
#[derive(Clone, Debug)]
pub struct Objects {
    /// Pool handles.
    pub cluster: Cluster,
    /// Settings.
    pub settings: ObjectSettings,
    /// The storage classes and their pools.
    pub classes: Arc<Classes>,
    uploads: Arc<Semaphore>,
}

/// Conditions a write must meet against the object it replaces.
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    /// If-Match.
    pub if_match: Option<ETagCondition>,
    /// If-None-Match.
    pub if_none_match: Option<ETagCondition>,
    /// The replaced version is exactly the one this write tag names (a lifecycle action
    /// decided on that version; a version written since is left alone).
    pub write_tag: Option<String>,
}

impl Preconditions {
    fn check(&self, old: Option<&ObjectMeta>) -> GwResult<()> {
        let failed = |why: &str| Err(GwError::s3(S3ErrorCode::PreconditionFailed, why));
        if let Some(tag) = &self.write_tag
            && old.is_none_or(|o| o.tag != *tag)
        {
            return failed("the object was replaced since");
        }
        if let Some(cond) = &self.if_none_match {
            match (cond, old) {
                (ETagCondition::Any, Some(_)) => return failed("the object exists"),
                (ETagCondition::ETag(e), Some(old)) if etag_matches(e, &old.etag) => {
                    return failed("the object's ETag matches If-None-Match");
                }
                _ => {}
            }
        }
        if let Some(cond) = &self.if_match {
            match (cond, old) {
                // S3 answers a conditional write on a missing key with 404, not 412.
                (_, None) => {
                    return Err(GwError::s3(
                        S3ErrorCode::NoSuchKey,
                        "If-Match: the object does not exist",
                    ));
                }
                (ETagCondition::ETag(e), Some(old)) if !etag_matches(e, &old.etag) => {
                    return failed("the object's ETag does not match If-Match");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Whether a client's ETag names `stored` (quotes and weakness ignored, as S3 does).
pub fn etag_matches(given: &ETag, stored: &str) -> bool {
    given.value() == stored
}

impl Objects {
    /// Objects of `cluster`.
    pub fn new(cluster: Cluster, settings: ObjectSettings) -> Objects {
        let uploads = Arc::new(Semaphore::new(settings.max_uploads.max(1)));
        Objects {
            classes: Arc::new(Classes::new(cluster.clone())),
            cluster,
            settings,
            uploads,
        }
    }

    fn data(&self) -> &IoCtx {
        &self.cluster.data
    }

    /// The metadata of `key`, if it exists (a vacant head is no object).
    pub async fn meta(&self, bucket: &BucketRecord, key: &str) -> GwResult<Option<ObjectMeta>> {
        let oid = head_oid(&bucket.id, key);
        match self.data().get_xattr(&oid, META_XATTR).await {
            Ok(Some(bytes)) => Ok(Some(decode::<ObjectMeta>(&oid, &bytes)?).filter(|m| !m.vacant)),
            Ok(None) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The metadata of `key` and the head bytes `[0, head_want)` in one read (`None`: no
    /// such object).
    pub async fn meta_and_head(
        &self,
        bucket: &BucketRecord,
        key: &str,
        head_want: u64,
    ) -> GwResult<Option<(ObjectMeta, Bytes)>> {
        let oid = head_oid(&bucket.id, key);
        let want = head_want.min(STRIPE);
        let ops = vec![
            Op::GetXattr(META_XATTR.to_owned()),
            Op::Read {
                off: 0,
                len: Some(want),
            },
        ];
        let (meta, bytes) = match self.data().operate(&oid, ops, Bytes::new()).await {
            Ok((reply, bytes)) => match reply.results.first() {
                Some(OpResult::Xattr(Some(meta))) => (decode::<ObjectMeta>(&oid, meta)?, bytes),
                _ => return Ok(None),
            },
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if meta.vacant {
            return Ok(None);
        }
        // The OSD reads metadata and data in one snapshot; a length that disagrees with
        // the manifest means they are not of one version, and is never served.
        let expect = meta.manifest.head_len.min(want);
        if bytes.len() as u64 != expect {
            return Err(GwError::BadRecord {
                object: oid,
                reason: format!(
                    "head holds {} bytes where its manifest says {expect}",
                    bytes.len()
                ),
            });
        }
        Ok(Some((meta, bytes)))
    }

    /// Streams bytes `range` of version `meta` of `key`: head bytes from its head (those
    /// in `prefetched` from memory), tails from the pool its manifest names.
    pub async fn stream(
        &self,
        bucket: &BucketRecord,
        key: &str,
        meta: &ObjectMeta,
        prefetched: Option<Bytes>,
        range: std::ops::Range<u64>,
    ) -> GwResult<read::ChannelBody> {
        let tails = self.cluster.pool(meta.manifest.pool.as_deref()).await?;
        let head = read::HeadRef {
            oid: head_oid(&bucket.id, key),
            tag: meta.tag.clone(),
            preserved: crate::layout::tail_oid(&tail_prefix(&bucket.id, &meta.tag), 0),
        };
        Ok(read::stream(
            self.data().clone(),
            tails,
            head,
            prefetched.map(|b| (0, b)),
            read::plan(&meta.manifest, range),
        ))
    }

    /// Waits for one of the `max_uploads` slots that bound the memory of uploads in flight.
    pub async fn upload_slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.uploads
            .clone()
            .acquire_owned()
            .await
            .expect("never closed")
    }

    /// Starts a PUT of `key` whose data goes where `target` says: waits for an upload
    /// slot, records the pending entry.
    pub async fn start_put<'a>(
        &'a self,
        bucket: &'a BucketRecord,
        key: &'a str,
        target: Target,
    ) -> GwResult<PutTxn<'a>> {
        let slot = self.upload_slot().await;
        self.begin_put(bucket, key, Some(slot), target).await
    }

    /// Starts installing a head whose data already exists (a multipart completion): no
    /// body streams, so no upload slot is taken (waiting for one could outlast the
    /// completion's own freeze).
    pub async fn start_install<'a>(
        &'a self,
        bucket: &'a BucketRecord,
        key: &'a str,
    ) -> GwResult<PutTxn<'a>> {
        self.begin_put(bucket, key, None, Target::standard()).await
    }

    async fn begin_put<'a>(
        &'a self,
        bucket: &'a BucketRecord,
        key: &'a str,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
        target: Target,
    ) -> GwResult<PutTxn<'a>> {
        let tag = ids::random_hex::<8>();
        let tails = self.cluster.pool(target.pool.as_deref()).await?;
        let pending = PendingEntry {
            op: PendingOp::Put,
            since_ms: now_ms(),
            tail_prefix: tail_prefix(&bucket.id, &tag),
            pool: target.pool.clone(),
        };
        index::begin(&self.cluster.index, bucket, key, &tag, &pending).await?;
        Ok(PutTxn {
            objects: self,
            bucket,
            key,
            tag,
            pending,
            target,
            tails,
            _slot: slot,
        })
    }

    /// Deletes `key` (no error if it does not exist, as S3).
    pub async fn delete(&self, bucket: &BucketRecord, key: &str) -> GwResult<()> {
        self.delete_if(bucket, key, None).await.map(drop)
    }

    /// Deletes `key` if its head carries write tag `tag` (any head for `None`); returns
    /// whether it did. A lifecycle expiry decided on one write never deletes a later one.
    pub async fn delete_if(
        &self,
        bucket: &BucketRecord,
        key: &str,
        tag: Option<&str>,
    ) -> GwResult<bool> {
        let write = ids::random_hex::<8>();
        let pending = PendingEntry::delete();
        index::begin(&self.cluster.index, bucket, key, &write, &pending).await?;
        let oid = head_oid(&bucket.id, key);
        let mut deleted = false;
        while let Some(state) = self.head_state(bucket, key, false).await? {
            let old = &state.meta;
            if tag.is_some_and(|t| t != old.tag) {
                break;
            }
            if versioned::keeps_versions(old) {
                // Our record of the bucket predates versioning on it: a marker, as
                // suspended, keeps every version.
                index::abandon(&self.cluster.index, bucket, key, &write).await?;
                if !old.vacant {
                    let view = versioned::late_view(bucket);
                    let pre = Preconditions {
                        write_tag: tag.map(str::to_owned),
                        ..Preconditions::default()
                    };
                    self.put_delete_marker(&view, key, &old.owner, &pre).await?;
                }
                return Ok(true);
            }
            // A head written before versioning with a lock on it (our bucket record is older
            // than the lock) stays.
            if let Err(locked) = old.may_delete(now_ms(), false) {
                index::abandon(&self.cluster.index, bucket, key, &write).await?;
                return Err(locked.into());
            }
            self.collect_replaced(bucket, key, old).await?;
            // Guarded on the whole head, so a lock or hold set meanwhile is not overrun.
            let op = state.guard().remove();
            match self.data().write(&oid, op).await.map_err(GwError::from) {
                Err(e) if e.is_guard_failed() || e.is_not_found() => continue,
                other => {
                    other?;
                    deleted = true;
                    break;
                }
            }
        }
        self.settle_index(bucket, key, Some(&write)).await?;
        Ok(deleted)
    }

    /// Makes the listed entry of `key` match its head and drops the pending entry of
    /// `tag` ([`index::settle`]).
    pub async fn settle_index(
        &self,
        bucket: &BucketRecord,
        key: &str,
        tag: Option<&str>,
    ) -> GwResult<()> {
        index::settle(&self.cluster.index, bucket, key, tag, || {
            self.meta(bucket, key)
        })
        .await
    }

    /// Queues the tails of `manifest` for deferred deletion.
    pub async fn collect(&self, manifest: &Manifest) -> GwResult<()> {
        let entry = GcEntry {
            pool: manifest.pool.clone(),
            objects: manifest.tails(),
            ..GcEntry::default()
        };
        gc::defer(&self.cluster.meta, entry, self.settings.gc_delay).await
    }

    /// Queues the tails of `old`, the version a write or delete of head `oid` is about to
    /// replace, before it does: a gateway that dies right after replacing it cannot forget
    /// them. Should the replacement not happen after all, the head still carries `old`'s tag
    /// and the GC keeps them.
    async fn collect_replaced(
        &self,
        bucket: &BucketRecord,
        key: &str,
        old: &ObjectMeta,
    ) -> GwResult<()> {
        // A gateway whose record of the bucket predates versioning may replace a head that
        // another gateway has meanwhile kept as a version: that version keeps it.
        self.collect_unless_kept(bucket, key, &old.tag, &old.manifest)
            .await
    }

    /// Queues the tails of `manifest`, written under `tag` on `key`, for deletion after the
    /// GC delay, unless by then the head or a version record of `key` still carries `tag`.
    async fn collect_unless_kept(
        &self,
        bucket: &BucketRecord,
        key: &str,
        tag: &str,
        manifest: &Manifest,
    ) -> GwResult<()> {
        let entry = GcEntry {
            pool: manifest.pool.clone(),
            objects: manifest.tails(),
            unless_head: Some((head_oid(&bucket.id, key), tag.to_owned())),
            unless_version: Some((
                index::shard_oid(bucket, key),
                key.to_owned(),
                tag.to_owned(),
            )),
            ..GcEntry::default()
        };
        gc::defer(&self.cluster.meta, entry, self.settings.gc_delay).await
    }

    /// Queues whatever tails a failed write under `prefix` in `pool` left (the writer
    /// itself calls this, after its last tail write finished).
    pub async fn collect_prefix(&self, prefix: &str, pool: Option<&str>) -> GwResult<()> {
        let entry = GcEntry {
            pool: pool.map(str::to_owned),
            prefixes: vec![prefix.to_owned()],
            ..GcEntry::default()
        };
        gc::defer(&self.cluster.meta, entry, Duration::ZERO).await
    }

    /// Queues the tails a write that seems dead (the janitor's call) announced in its
    /// pending entry for deletion after the GC delay, unless by then the head of `key`
    /// carries its `tag` after all.
    pub async fn collect_orphan(
        &self,
        bucket: &BucketRecord,
        key: &str,
        tag: &str,
        pending: &PendingEntry,
    ) -> GwResult<()> {
        let entry = GcEntry {
            pool: pending.pool.clone(),
            prefixes: vec![pending.tail_prefix.clone()],
            unless_head: Some((head_oid(&bucket.id, key), tag.to_owned())),
            // In a bucket that keeps versions, the write may have landed and been replaced.
            unless_version: bucket.versioning.keeps_versions().then(|| {
                (
                    index::shard_oid(bucket, key),
                    key.to_owned(),
                    tag.to_owned(),
                )
            }),
            ..GcEntry::default()
        };
        gc::defer(&self.cluster.meta, entry, self.settings.gc_delay).await
    }
}

/// NoSuchKey for `key`.
pub fn no_such_key(key: &str) -> GwError {
    GwError::s3(
        S3ErrorCode::NoSuchKey,
        format!("the key {key:?} does not exist"),
    )
}

/// A PUT in progress (see the module doc). Dropping it without [`commit`](Self::commit) or
/// [`abort`](Self::abort) leaves the pending entry to the janitor.
pub struct PutTxn<'a> {
    objects: &'a Objects,
    bucket: &'a BucketRecord,
    key: &'a str,
    tag: String,
    pending: PendingEntry,
    /// Where the data goes.
    target: Target,
    /// The pool of the tails.
    tails: IoCtx,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl PutTxn<'_> {
    /// Streams the body into the head stripe and tails.
    pub async fn write<S, E>(&self, body: S, hasher: ChecksumHasher) -> GwResult<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: write::BodyError,
    {
        // An object of another class keeps no bytes in its head: all are tails in its pool.
        let start = match self.target.pool {
            None => write::Start::Head,
            Some(_) => write::Start::Tail(0),
        };
        self.write_from(body, hasher, start).await
    }

    /// Streams the body as [`write`](Self::write) does, from where `start` says.
    async fn write_from<S, E>(
        &self,
        body: S,
        hasher: ChecksumHasher,
        start: write::Start,
    ) -> GwResult<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: write::BodyError,
    {
        let index = &self.objects.cluster.index;
        let every = self.objects.settings.janitor_after / 4;
        let mut keepalive = Every::new(every, || {
            let mut pending = self.pending.clone();
            pending.since_ms = now_ms();
            async move { index::begin(index, self.bucket, self.key, &self.tag, &pending).await }
        });
        let written = write::write_stream(
            &self.tails,
            &self.pending.tail_prefix,
            start,
            body,
            hasher,
            &mut keepalive,
        )
        .await?;
        keepalive.tick().await?;
        Ok(written)
    }

    /// Gives up: the tails go to GC, the pending entry goes away.
    pub async fn abort(self) -> GwResult<()> {
        self.objects
            .collect_prefix(&self.pending.tail_prefix, self.target.pool.as_deref())
            .await?;
        index::abandon(
            &self.objects.cluster.index,
            self.bucket,
            self.key,
            &self.tag,
        )
        .await
    }

    /// Installs the object: `meta` (its size, etag, manifest are taken from `written`)
    /// replaces the head if `pre` holds against the current one. On a failed
    /// precondition the write is aborted.
    pub async fn commit(
        self,
        written: Written,
        mut meta: ObjectMeta,
        pre: &Preconditions,
    ) -> GwResult<ObjectMeta> {
        meta.size = written.size;
        meta.etag = written.md5_hex.clone();
        meta.mtime_ms = now_ms();
        meta.tag = self.tag.clone();
        meta.manifest = Manifest {
            head_len: written.head.len() as u64,
            segments: written.segment.into_iter().collect(),
            pool: self.target.pool.clone(),
        };
        meta.storage_class = self.target.class.clone();
        self.install(meta, written.head, pre).await
    }

    /// Installs `meta` (with its manifest already set) and the head bytes `head`.
    pub async fn install(
        self,
        mut meta: ObjectMeta,
        head: Bytes,
        pre: &Preconditions,
    ) -> GwResult<ObjectMeta> {
        if self.bucket.versioning.keeps_versions() {
            let bucket = self.bucket;
            return self.install_version(bucket, meta, head, pre).await;
        }
        meta.tag = self.tag.clone();
        let objects = self.objects;
        let oid = head_oid(&self.bucket.id, self.key);
        loop {
            let state = objects.head_state(self.bucket, self.key, false).await?;
            if let Some(state) = &state
                && versioned::keeps_versions(&state.meta)
            {
                let view = versioned::late_view(self.bucket);
                return self.install_version(&view, meta, head, pre).await;
            }
            let old = state.as_ref().map(|s| &s.meta);
            // Object lock on a head written before versioning (our bucket record is older
            // than the lock): replacing it would delete a locked version.
            let locked = old.map_or(Ok(()), |o| o.may_delete(now_ms(), false));
            if let Err(e) = pre.check(old).and(locked.map_err(GwError::from)) {
                self.abort().await?;
                return Err(e);
            }
            if let Some(old) = old {
                objects.collect_replaced(self.bucket, self.key, old).await?;
            }
            // Guarded on the whole head, so a lock or hold set meanwhile is not overrun.
            let op = match &state {
                Some(state) => state.guard(),
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
        objects
            .settle_index(self.bucket, self.key, Some(&self.tag))
            .await?;
        Ok(meta)
    }

    /// Gives up after a write of `meta` (this write's version) may have landed: its tails
    /// go after the GC delay unless the head or a version record carries its tag by then,
    /// and the pending entry goes. ([`abort`](Self::abort) is for writes that never
    /// reached the head or an index record.)
    pub(super) async fn give_up_written(self, meta: &ObjectMeta) -> GwResult<()> {
        self.objects
            .collect_unless_kept(self.bucket, self.key, &self.tag, &meta.manifest)
            .await?;
        index::abandon(
            &self.objects.cluster.index,
            self.bucket,
            self.key,
            &self.tag,
        )
        .await
    }

    /// The tail prefix this write uses.
    pub fn tail_prefix(&self) -> &str {
        &self.pending.tail_prefix
    }
}
