//! Multipart uploads over the cluster. An upload is an entry in its bucket's uploads object
//! (`<key>\0<upload id>` → [`UploadRecord`], so listings sort by key, then id) and a parts
//! object in the index pool: one omap entry per part (`n/<number>` → [`PartRecord`]) and one
//! marker per part upload (`p/<tag>` → [`PartMarker`]), written before the data so a crash
//! mid-part leaves a trace.
//!
//! The parts object's state xattr decides every race. Parts are recorded only while it is
//! live. Complete flips it to completing together with the planned head, guarded on the
//! version it validated, so no part changes between validation and install; Abort flips it
//! to aborting. Once it is not live the part list is frozen and whoever finishes knows
//! exactly which tails to keep and which to collect. Markers stay (flagged done) until the
//! upload ends: two racing uploads of one part number both replace the record, and only the
//! loser's marker still names its tails.
//!
//! A completion whose gateway died is resolved by the next Complete or Abort once it is
//! older than `janitor_after`: if the head carries the planned manifest the completion
//! happened; otherwise the upload is discarded, since an overwrite of the head may already
//! have queued its tails for GC.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use rados::proto::osd::{Op, OpResult, Version};
use rados::{IoCtx, WriteOp};
use s3s::S3ErrorCode;
use s3s::checksum::ChecksumHasher;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::{GwError, GwResult};
use crate::gc;
use crate::ids;
use crate::layout::{STATE_LIVE, STATE_XATTR, parts_oid, tail_prefix, uploads_oid};
use crate::objects::write::{self, Every, Written};
use crate::objects::{Objects, Preconditions};
use crate::records::{BucketRecord, Checksums, GcEntry, Manifest, ObjectMeta, PartRecord};
use crate::records::{UploadRecord, decode, encode, now_ms};

pub mod plan;

pub use plan::{
    Completion, MAX_PART_NUMBER, MAX_PART_SIZE, MIN_PART_SIZE, PartMarker, RequestedPart,
    UploadQuery, check_part_number, common_prefix, list_start, multipart_etag, part_key,
    plan_completion,
};
use plan::{garbage, marker_key, segment_of, upload_key};

/// The parts object's xattr naming the object key (a part sent with the wrong key fails).
const KEY_XATTR: &str = "rgw.key";
/// The parts object's xattr naming the pool of the parts' tails, when it is not the data
/// pool (an upload of another storage class).
const POOL_XATTR: &str = "rgw.pool";
/// The parts object's xattr holding the planned head while completing.
const PLAN_XATTR: &str = "rgw.plan";
const COMPLETING: &[u8] = b"completing";
const ABORTING: &[u8] = b"aborting";
const PAGE: u32 = 1000;
/// Freeze attempts before giving up on a part list that keeps changing.
const FREEZE_ATTEMPTS: usize = 10;

/// The head a completion is installing, kept on the parts object until it is finished.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Planned {
    since_ms: i64,
    meta: ObjectMeta,
}

/// One page of ListMultipartUploads.
#[derive(Clone, Debug, Default)]
pub struct UploadPage {
    /// Uploads, by key then id.
    pub uploads: Vec<UploadRecord>,
    /// Common prefixes (with a delimiter).
    pub prefixes: Vec<String>,
    /// More follow.
    pub truncated: bool,
    /// Key of the last upload or prefix returned.
    pub next_key_marker: Option<String>,
    /// Id of the last upload returned (none if a prefix came last).
    pub next_upload_id_marker: Option<String>,
}

/// The parts object as read in one go (the first page's version guards later writes).
#[derive(Debug, Default)]
struct Snapshot {
    version: Version,
    state: Vec<u8>,
    plan: Option<Vec<u8>>,
    /// The pool of the parts' tails (`None`: the data pool).
    pool: Option<String>,
    parts: BTreeMap<u32, PartRecord>,
    markers: BTreeMap<String, PartMarker>,
}

/// NoSuchUpload.
pub fn no_such_upload(upload_id: &str) -> GwError {
    let msg = format!("the upload {upload_id:?} does not exist (completed or aborted?)");
    GwError::s3(S3ErrorCode::NoSuchUpload, msg)
}

fn is_no_such_upload(e: &GwError) -> bool {
    matches!(e, GwError::S3 { code, .. } if *code == S3ErrorCode::NoSuchUpload)
}

fn busy(why: &str) -> GwError {
    GwError::s3(S3ErrorCode::OperationAborted, format!("{why}; retry"))
}

/// One page of the bucket's uploads.
pub async fn list_uploads(
    objects: &Objects,
    bucket: &BucketRecord,
    q: &UploadQuery<'_>,
) -> GwResult<UploadPage> {
    let oid = uploads_oid(&bucket.id);
    let mut out = UploadPage::default();
    let mut after = list_start(q);
    let mut taken = 0;
    'pages: loop {
        let page = match objects
            .cluster
            .index
            .omap_list(&oid, after.as_deref(), PAGE)
            .await
        {
            Ok(page) => page,
            Err(e) if e.is_not_found() => break,
            Err(e) => return Err(e.into()),
        };
        let full = page.len() == PAGE as usize;
        for (k, v) in page {
            let text = String::from_utf8_lossy(&k);
            let (key, id) = text.split_once('\0').unwrap_or((&text, ""));
            if !key.starts_with(q.prefix) {
                break 'pages; // keys sort, so the prefix's range is over
            }
            if taken == q.max {
                out.truncated = true;
                break 'pages;
            }
            taken += 1;
            if let Some(cp) = common_prefix(key, q.prefix, q.delimiter) {
                out.prefixes.push(cp.to_owned());
                (out.next_key_marker, out.next_upload_id_marker) = (Some(cp.to_owned()), None);
                after = Some([cp.as_bytes(), &[0xff]].concat());
                continue 'pages;
            }
            out.uploads.push(decode(&oid, &v)?);
            (out.next_key_marker, out.next_upload_id_marker) = (Some(key.into()), Some(id.into()));
            after = Some(k);
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Aborts every upload in progress in `bucket` (DeleteBucket: a bucket with no objects is
/// deleted with its incomplete uploads, as S3 and RGW do).
pub async fn abort_all(objects: &Objects, bucket: &BucketRecord) -> GwResult<()> {
    abort_where(objects, bucket, |_| true).await.map(drop)
}

/// Aborts the uploads in progress in `bucket` that `pick` picks, a page at a time, each
/// visited once; returns how many it aborted. An upload that ends meanwhile (completed or
/// aborted elsewhere) is skipped.
pub async fn abort_where(
    objects: &Objects,
    bucket: &BucketRecord,
    pick: impl Fn(&UploadRecord) -> bool,
) -> GwResult<u64> {
    let mut aborted = 0;
    let (mut key_marker, mut upload_id_marker) = (None, None);
    loop {
        let q = UploadQuery {
            prefix: "",
            delimiter: None,
            key_marker: key_marker.as_deref(),
            upload_id_marker: upload_id_marker.as_deref(),
            max: PAGE as usize,
        };
        let page = list_uploads(objects, bucket, &q).await?;
        for u in page.uploads.iter().filter(|u| pick(u)) {
            match Upload::new(objects, bucket, &u.key, &u.upload_id)
                .abort()
                .await
            {
                Ok(()) => aborted += 1,
                Err(e) if e.is_s3(&S3ErrorCode::NoSuchUpload) => {}
                Err(e) => return Err(e),
            }
        }
        if !page.truncated {
            return Ok(aborted);
        }
        (key_marker, upload_id_marker) = (page.next_key_marker, page.next_upload_id_marker);
    }
}

/// One upload of one key: what every per-upload operation goes through.
#[derive(Clone, Debug)]
pub struct Upload<'a> {
    objects: &'a Objects,
    bucket: &'a BucketRecord,
    key: &'a str,
    id: &'a str,
    oid: String,
}

impl<'a> Upload<'a> {
    /// Its upload id.
    pub fn id(&self) -> &str {
        self.id
    }

    /// Upload `id` of `key` (which may not exist).
    pub fn new(objects: &'a Objects, bucket: &'a BucketRecord, key: &'a str, id: &'a str) -> Self {
        let oid = parts_oid(&bucket.id, id);
        Upload {
            objects,
            bucket,
            key,
            id,
            oid,
        }
    }

    fn index(&self) -> &'a IoCtx {
        &self.objects.cluster.index
    }

    /// Starts an upload of `key` whose object will carry `meta` (its parts go to the pool
    /// its manifest names). The parts object comes first: a crash then leaves an empty
    /// object no one lists, never a listed upload that refuses parts.
    pub async fn create(
        objects: &Objects,
        bucket: &BucketRecord,
        key: &str,
        meta: ObjectMeta,
        checksum_algorithm: Option<String>,
        initiator: &str,
    ) -> GwResult<UploadRecord> {
        let index = &objects.cluster.index;
        let upload_id = loop {
            let id = ids::random_hex::<16>();
            let mut op = WriteOp::new()
                .assert_version(Version::ZERO)
                .set_xattr(STATE_XATTR, STATE_LIVE)
                .set_xattr(KEY_XATTR, key.as_bytes());
            if let Some(pool) = &meta.manifest.pool {
                op = op.set_xattr(POOL_XATTR, pool.as_bytes());
            }
            let written = index.write(&parts_oid(&bucket.id, &id), op).await;
            match written.map_err(GwError::from) {
                Err(e) if e.is_guard_failed() => continue, // an id drawn twice
                other => other?,
            };
            break id;
        };
        let (key, initiated_ms) = (key.to_owned(), now_ms());
        let record = UploadRecord {
            key,
            upload_id,
            initiated_ms,
            meta,
            checksum_algorithm,
            initiator: Some(initiator.to_owned()),
        };
        let entry = (upload_key(&record.key, &record.upload_id), encode(&record));
        // Refused once a delete of the bucket has begun (it freezes the uploads object).
        let op = WriteOp::new()
            .cmp_xattr(STATE_XATTR, Some(STATE_LIVE))
            .omap_set(vec![entry]);
        match index
            .write(&uploads_oid(&bucket.id), op)
            .await
            .map_err(GwError::from)
        {
            Err(e) if e.is_guard_failed() => Err(crate::buckets::no_such_bucket(&bucket.name)),
            other => other.map(|_| record),
        }
    }

    /// The upload's record, if it exists.
    pub async fn record(&self) -> GwResult<Option<UploadRecord>> {
        let oid = uploads_oid(&self.bucket.id);
        match self
            .index()
            .omap_get(&oid, vec![upload_key(self.key, self.id)])
            .await
        {
            Ok(found) => found.first().map(|(_, v)| decode(&oid, v)).transpose(),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts an upload of part `number`: records its marker (refused unless the upload is
    /// live and belongs to this key).
    pub async fn start_part(&self, number: u32) -> GwResult<PartTxn<'a>> {
        let tag = ids::random_hex::<8>();
        let prefix = tail_prefix(&self.bucket.id, &tag);
        let pool = match self.index().get_xattr(&self.oid, POOL_XATTR).await {
            Ok(pool) => pool.map(|p| String::from_utf8_lossy(&p).into_owned()),
            Err(e) if e.is_not_found() => return Err(no_such_upload(self.id)),
            Err(e) => return Err(e.into()),
        };
        let tails = self.objects.cluster.pool(pool.as_deref()).await?;
        let txn = PartTxn {
            upload: self.clone(),
            number,
            tag,
            prefix,
            pool,
            tails,
            _slot: self.objects.upload_slot().await,
        };
        txn.write_live(WriteOp::new().omap_set(vec![txn.marker(false)]))
            .await?;
        Ok(txn)
    }

    /// Reads the parts object: state, plan and every entry. `None`: it does not exist.
    async fn snapshot(&self) -> GwResult<Option<Snapshot>> {
        let mut snap = Snapshot::default();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let start_after = after.clone().map(ByteBuf::from);
            let ops = vec![
                Op::GetXattr(STATE_XATTR.to_owned()),
                Op::GetXattr(PLAN_XATTR.to_owned()),
                Op::GetXattr(POOL_XATTR.to_owned()),
                Op::OmapList {
                    start_after,
                    limit: PAGE,
                },
            ];
            let reply = match self.index().operate(&self.oid, ops, Bytes::new()).await {
                Ok((reply, _)) => reply,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let version = reply.version;
            let [
                OpResult::Xattr(state),
                OpResult::Xattr(plan),
                OpResult::Xattr(pool),
                OpResult::Omap(page),
            ] = <[OpResult; 4]>::try_from(reply.results).map_err(|_| self.bad("reply"))?
            else {
                return Err(self.bad("reply"));
            };
            if after.is_none() {
                snap.version = version;
                snap.state = state.map(ByteBuf::into_vec).unwrap_or_default();
                snap.plan = plan.map(ByteBuf::into_vec);
                snap.pool = pool.map(|p| String::from_utf8_lossy(&p).into_owned());
            }
            let full = page.len() == PAGE as usize;
            for (k, v) in page {
                if let Some(n) = k.strip_prefix(b"n/") {
                    let n = String::from_utf8_lossy(n)
                        .parse()
                        .map_err(|_| self.bad("key"))?;
                    snap.parts.insert(n, decode(&self.oid, &v)?);
                } else if let Some(tag) = k.strip_prefix(b"p/") {
                    let tag = String::from_utf8_lossy(tag).into_owned();
                    snap.markers.insert(tag, decode(&self.oid, &v)?);
                }
                after = Some(k.into_vec());
            }
            if !full {
                return Ok(Some(snap));
            }
        }
    }

    fn bad(&self, what: &str) -> GwError {
        let (object, reason) = (self.oid.clone(), format!("unexpected {what}"));
        GwError::BadRecord { object, reason }
    }

    /// Freezes the upload as `snap` read it; `false`: it changed since.
    async fn freeze(&self, snap: &Snapshot, state: &[u8], plan: Option<&[u8]>) -> GwResult<bool> {
        let mut op = WriteOp::new()
            .assert_version(snap.version)
            .set_xattr(STATE_XATTR, state);
        if let Some(plan) = plan {
            op = op.set_xattr(PLAN_XATTR, plan);
        }
        match self
            .index()
            .write(&self.oid, op)
            .await
            .map_err(GwError::from)
        {
            Err(e) if e.is_guard_failed() || e.is_not_found() => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Completes the upload with `parts`: installs the head if `pre` holds, then drops the
    /// upload and queues the tails the object does not use.
    pub async fn complete(
        &self,
        parts: &[RequestedPart],
        pre: &Preconditions,
        expect_size: Option<u64>,
    ) -> GwResult<ObjectMeta> {
        let Some(record) = self.record().await? else {
            return self.already_completed(parts).await;
        };
        for _ in 0..FREEZE_ATTEMPTS {
            let Some(snap) = self.snapshot().await? else {
                self.drop_entry().await?;
                return self.already_completed(parts).await;
            };
            if snap.state == COMPLETING {
                self.resolve_stale(&snap).await?;
                return self.already_completed(parts).await;
            } else if snap.state != STATE_LIVE {
                return Err(no_such_upload(self.id));
            }
            let mut plan =
                plan_completion(parts, &snap.parts, record.checksum_algorithm.as_deref())?;
            plan.manifest.pool = snap.pool.clone();
            let size = plan.manifest.size();
            if expect_size.is_some_and(|s| s != size) {
                let msg = format!("x-amz-mp-object-size differs from the parts' {size} bytes");
                return Err(GwError::s3(S3ErrorCode::InvalidRequest, msg));
            }
            let meta = ObjectMeta {
                size,
                etag: plan.etag,
                mtime_ms: now_ms(),
                checksums: plan.checksums,
                manifest: plan.manifest,
                parts: Some(parts.len() as u32),
                ..record.meta.clone()
            };
            let planned = encode(&Planned {
                since_ms: now_ms(),
                meta: meta.clone(),
            });
            if self.freeze(&snap, COMPLETING, Some(&planned)).await? {
                return self.install(&snap, meta, &planned, pre).await;
            }
        }
        Err(busy("the upload's parts kept changing"))
    }

    async fn install(
        &self,
        snap: &Snapshot,
        meta: ObjectMeta,
        planned: &[u8],
        pre: &Preconditions,
    ) -> GwResult<ObjectMeta> {
        let result = async {
            let txn = self.objects.start_install(self.bucket, self.key).await?;
            txn.install(meta.clone(), Bytes::new(), pre).await
        };
        let installed = match result.await {
            Ok(installed) => installed,
            Err(e) => match self
                .objects
                .holds_manifest(self.bucket, self.key, &meta.manifest)
                .await
            {
                // It failed after the head was written (index or GC update).
                Ok(true) => meta.clone(),
                _ => {
                    // S3 errors (precondition, bucket gone) come before the head write, so
                    // the upload reopens; after others the head is unknown and the plan
                    // stays for a later resolve.
                    if matches!(e, GwError::S3 { .. }) {
                        let op = WriteOp::new()
                            .cmp_xattr(PLAN_XATTR, Some(planned))
                            .set_xattr(STATE_XATTR, STATE_LIVE)
                            .rm_xattr(PLAN_XATTR);
                        if let Err(undo) = self.index().write(&self.oid, op).await {
                            tracing::warn!(upload = self.id, %undo, "could not reopen an upload");
                        }
                    }
                    return Err(e);
                }
            },
        };
        self.finish(snap, Some(&installed.manifest)).await?;
        Ok(installed)
    }

    /// The answer to completing an upload that is gone: the object if its ETag is what
    /// these parts make (a retried completion), else NoSuchUpload.
    async fn already_completed(&self, parts: &[RequestedPart]) -> GwResult<ObjectMeta> {
        let want = multipart_etag(parts.iter().map(|p| p.etag.as_str()));
        match (want, self.objects.meta(self.bucket, self.key).await?) {
            (Some(want), Some(head)) if !parts.is_empty() && head.etag == want => Ok(head),
            _ => Err(no_such_upload(self.id)),
        }
    }

    /// Settles a completion another gateway left (refused while it may still be running);
    /// returns whether it had installed the head.
    async fn resolve_stale(&self, snap: &Snapshot) -> GwResult<bool> {
        let bytes = snap.plan.as_deref().unwrap_or_default();
        let plan: Planned = decode(&self.oid, bytes)?;
        let age = now_ms().saturating_sub(plan.since_ms);
        if age < i64::try_from(self.objects.settings.janitor_after.as_millis()).unwrap_or(0) {
            return Err(busy("a completion of this upload is in progress"));
        }
        if self
            .objects
            .holds_manifest(self.bucket, self.key, &plan.meta.manifest)
            .await?
        {
            self.finish(snap, Some(&plan.meta.manifest)).await?;
            return Ok(true);
        }
        // Not (or no longer) the head: discard, unless another resolver got here first.
        let op = WriteOp::new()
            .cmp_xattr(PLAN_XATTR, Some(bytes))
            .set_xattr(STATE_XATTR, ABORTING)
            .rm_xattr(PLAN_XATTR);
        match self
            .index()
            .write(&self.oid, op)
            .await
            .map_err(GwError::from)
        {
            Err(e) if e.is_guard_failed() || e.is_not_found() => return Ok(false),
            other => other?,
        };
        self.finish(snap, None).await?;
        Ok(false)
    }

    /// Aborts the upload: its parts' tails go to GC.
    pub async fn abort(&self) -> GwResult<()> {
        if self.record().await?.is_none() {
            return Err(no_such_upload(self.id));
        }
        for _ in 0..FREEZE_ATTEMPTS {
            let Some(snap) = self.snapshot().await? else {
                self.drop_entry().await?;
                return Err(no_such_upload(self.id));
            };
            if snap.state == COMPLETING {
                return match self.resolve_stale(&snap).await? {
                    true => Err(no_such_upload(self.id)),
                    false => Ok(()),
                };
            }
            if snap.state == ABORTING || self.freeze(&snap, ABORTING, None).await? {
                return self.finish(&snap, None).await;
            }
        }
        Err(busy("the upload's parts kept changing"))
    }

    /// Ends a frozen upload: queues what `keep` does not use, then removes the parts object
    /// and the listed entry (each step safe to repeat).
    async fn finish(&self, snap: &Snapshot, keep: Option<&Manifest>) -> GwResult<()> {
        let mut g = garbage(&self.bucket.id, &snap.parts, &snap.markers, keep);
        g.parts.pool = snap.pool.clone();
        let meta = &self.objects.cluster.meta;
        self.objects.collect(&g.parts).await?;
        let entry = |prefixes| GcEntry {
            pool: snap.pool.clone(),
            prefixes,
            ..GcEntry::default()
        };
        gc::defer(meta, entry(g.done), Duration::ZERO).await?;
        // A writer still streaming notices within a keepalive period that it is refused.
        gc::defer(meta, entry(g.pending), self.objects.settings.janitor_after).await?;
        match self.index().remove(&self.oid).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
        self.drop_entry().await
    }

    async fn drop_entry(&self) -> GwResult<()> {
        let oid = uploads_oid(&self.bucket.id);
        match self
            .index()
            .omap_rm(&oid, vec![upload_key(self.key, self.id)])
            .await
        {
            Err(e) if !e.is_not_found() => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Up to `max` parts after part number `after`, and whether more follow.
    pub async fn list_parts(&self, after: u32, max: usize) -> GwResult<(Vec<PartRecord>, bool)> {
        let mut out = Vec::new();
        let mut start = part_key(after);
        loop {
            let page = match self.index().omap_list(&self.oid, Some(&start), PAGE).await {
                Ok(page) => page,
                Err(e) if e.is_not_found() => return Err(no_such_upload(self.id)),
                Err(e) => return Err(e.into()),
            };
            let full = page.len() == PAGE as usize;
            for (k, v) in page {
                if !k.starts_with(b"n/") {
                    return Ok((out, false));
                } else if out.len() >= max {
                    return Ok((out, true));
                }
                out.push(decode(&self.oid, &v)?);
                start = k;
            }
            if !full {
                return Ok((out, false));
            }
        }
    }
}

/// One upload of one part in progress. Dropping it without [`finish`](Self::finish) or
/// [`abort`](Self::abort) leaves its marker for the upload's end to collect.
pub struct PartTxn<'a> {
    upload: Upload<'a>,
    number: u32,
    tag: String,
    prefix: String,
    /// The pool of its tails (`None`: the data pool).
    pool: Option<String>,
    tails: IoCtx,
    /// Bounds the memory of uploads in flight, like a PUT's.
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl PartTxn<'_> {
    fn marker(&self, done: bool) -> (Vec<u8>, Vec<u8>) {
        let marker = PartMarker {
            since_ms: now_ms(),
            done,
        };
        (marker_key(&self.tag), encode(&marker))
    }

    fn objects(&self) -> &Objects {
        self.upload.objects
    }

    /// A write to the parts object that applies only while the upload takes parts.
    async fn write_live(&self, op: WriteOp) -> GwResult<()> {
        let op = op
            .cmp_xattr(STATE_XATTR, Some(STATE_LIVE))
            .cmp_xattr(KEY_XATTR, Some(self.upload.key.as_bytes()));
        match self
            .upload
            .index()
            .write(&self.upload.oid, op)
            .await
            .map_err(GwError::from)
        {
            Err(e) if e.is_guard_failed() || e.is_not_found() => {
                Err(no_such_upload(self.upload.id))
            }
            other => other.map(drop),
        }
    }

    /// Streams the part into tails `prefix.0`, `prefix.1`, ..., keeping the marker young
    /// (which fails, stopping the stream, once the upload is no longer live).
    pub async fn write<S, E>(&self, body: S, hasher: ChecksumHasher) -> GwResult<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: write::BodyError,
    {
        let every = self.objects().settings.janitor_after / 4;
        let mut keepalive = Every::new(every, || {
            self.write_live(WriteOp::new().omap_set(vec![self.marker(false)]))
        });
        let written = write::write_stream(
            &self.tails,
            &self.prefix,
            write::Start::Tail(0),
            body,
            hasher,
            &mut keepalive,
        )
        .await?;
        if written.size > MAX_PART_SIZE {
            return Err(GwError::s3(
                S3ErrorCode::EntityTooLarge,
                "a part is at most 5 GiB",
            ));
        }
        Ok(written)
    }

    /// Records the part, replacing an earlier upload of its number (whose tails go to GC).
    pub async fn finish(self, written: Written, checksums: Checksums) -> GwResult<PartRecord> {
        let (key, oid) = (part_key(self.number), &self.upload.oid);
        let old: Option<PartRecord> =
            match self.upload.index().omap_get(oid, vec![key.clone()]).await {
                Ok(found) => found.first().map(|(_, v)| decode(oid, v)).transpose()?,
                Err(e) if e.is_not_found() => None, // the write below reports the upload gone
                Err(e) => return Err(e.into()),
            };
        let record = PartRecord {
            number: self.number,
            size: written.size,
            etag: written.md5_hex,
            mtime_ms: now_ms(),
            prefix: self.prefix.clone(),
            checksums,
        };
        let mut op = WriteOp::new().omap_set(vec![(key, encode(&record)), self.marker(true)]);
        let tags = tail_prefix(&self.upload.bucket.id, "");
        let old_tag = old.as_ref().and_then(|o| o.prefix.strip_prefix(&tags));
        if let Some(tag) = old_tag.filter(|t| *t != self.tag) {
            op = op.omap_rm(vec![marker_key(tag)]);
        }
        if let Err(e) = self.write_live(op).await {
            if is_no_such_upload(&e) {
                // The upload ended meanwhile; nothing will ever name these tails.
                self.objects()
                    .collect_prefix(&self.prefix, self.pool.as_deref())
                    .await?;
            }
            return Err(e);
        }
        if let Some(old) = old.filter(|o| o.prefix != self.prefix) {
            let manifest = Manifest {
                head_len: 0,
                segments: vec![segment_of(&old)],
                pool: self.pool.clone(),
            };
            self.objects().collect(&manifest).await?;
        }
        Ok(record)
    }

    /// Gives up: the tails go to GC and the marker goes away.
    pub async fn abort(self) -> GwResult<()> {
        self.objects()
            .collect_prefix(&self.prefix, self.pool.as_deref())
            .await?;
        match self
            .write_live(WriteOp::new().omap_rm(vec![marker_key(&self.tag)]))
            .await
        {
            Err(e) if is_no_such_upload(&e) => Ok(()),
            other => other,
        }
    }
}
