//! PUT, GET, HEAD and DELETE of objects.

use std::ops::Range as ByteRange;

use futures::StreamExt;

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::convert::{self, etag, timestamp};
use super::lifecycle_ops::expiration_header;
use super::lock_ops::{check_bypass, lock_headers, requested_lock};
use super::version_ops::{find, shown_id, version_ref};
use super::{ShoalS3, Subject, acl_ops, may_on_object};
use crate::authz::Action;
use crate::objects::read::READ_CHUNK;
use crate::objects::{Preconditions, VersionDelete, etag_matches};
use crate::records::{BucketRecord, Checksums, ObjectMeta, UserRecord};

pub(super) use super::object_extra::*;

/// S3's longest key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

pub(super) fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "the object key is empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(s3_error!(KeyTooLongError));
    }
    Ok(())
}

/// Where a write into `bucket` asking for storage class `class` puts its data (its pool
/// created if it is the built-in STANDARD_IA's and missing). The first INTELLIGENT_TIERING
/// write turns tiering on for the bucket, so its lifecycle passes look for idle objects.
pub(super) async fn storage_target(
    s3: &ShoalS3,
    bucket: &BucketRecord,
    class: Option<&StorageClass>,
) -> S3Result<crate::storage_class::Target> {
    let target = s3
        .objects
        .classes
        .target(class.map(StorageClass::as_str))
        .await?;
    let tiered = target.name() == crate::storage_class::INTELLIGENT_TIERING;
    if tiered && bucket.tiering.is_none() {
        crate::lc_worker::prepare(&s3.objects, bucket).await?;
        s3.buckets.start_tiering(&bucket.name).await?;
    }
    Ok(target)
}

/// The `x-amz-storage-class` a response shows: none for STANDARD, as S3.
pub(super) fn shown_class(meta: &ObjectMeta) -> Option<StorageClass> {
    meta.storage_class.clone().map(StorageClass::from)
}

pub(super) async fn put_object(
    s3: &ShoalS3,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let caller = s3.caller(&req).await?;
    let input = req.input;
    check_key(&input.key)?;
    // Decided on the key the input names: a browser's POST names it in its form, not in
    // the path.
    let bucket = s3.bucket_record(&input.bucket).await?;
    let subject = Subject {
        key: Some(&input.key),
        version: None,
    };
    if !super::may_on_key(
        &req.extensions,
        caller.as_ref(),
        &bucket,
        subject,
        Action::PutObject,
    ) {
        return Err(s3_error!(AccessDenied));
    }
    // An anonymous write (a bucket whose ACL lets everyone write) belongs to the bucket's
    // owner, so that someone can always read and delete it.
    let writer = caller
        .as_ref()
        .map_or(bucket.owner.as_str(), |u| u.uid.as_str());
    let target = storage_target(s3, &bucket, input.storage_class.as_ref()).await?;
    let Some(body) = input.body else {
        return Err(s3_error!(IncompleteBody));
    };
    let given = convert::given_checksums!(input);
    let hasher = convert::hasher_for(input.checksum_algorithm.as_ref(), &given)?;
    let (retention, legal_hold) = requested_lock(
        &req.extensions,
        caller.as_ref(),
        (&bucket, &input.key),
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    let (owner, acl) = acl_ops::object_write(
        s3,
        &bucket,
        writer,
        input.acl.as_ref().map(ObjectCannedACL::as_str),
        &acl_ops::grant_headers!(input, write: None),
    )
    .await?;
    let meta = ObjectMeta {
        owner,
        retention,
        legal_hold,
        headers: convert::standard_headers!(input),
        user_meta: input.metadata.unwrap_or_default().into_iter().collect(),
        tags: convert::parse_tagging(input.tagging.as_deref())?,
        acl,
        ..ObjectMeta::default()
    };
    let pre = Preconditions {
        if_match: input.if_match,
        if_none_match: input.if_none_match,
        write_tag: None,
    };
    let txn = s3.objects.start_put(&bucket, &input.key, target).await?;
    let written = match txn.write(body, hasher).await {
        Ok(w) => w,
        Err(e) => {
            txn.abort().await?;
            return Err(e.into());
        }
    };
    let checked = convert::with_trailers(given, req.trailing_headers.as_ref())
        .and_then(|given| convert::verify(&written, input.content_md5.as_deref(), &given));
    let checksums = match checked {
        Ok(c) => c,
        Err(e) => {
            txn.abort().await?;
            return Err(e);
        }
    };
    let meta = txn
        .commit(written, ObjectMeta { checksums, ..meta }, &pre)
        .await?;
    let c = &meta.checksums;
    Ok(S3Response::new(PutObjectOutput {
        expiration: expiration_header(s3, &bucket, &input.key, &meta),
        e_tag: Some(etag(&meta)),
        version_id: shown_id(&bucket, &meta),
        checksum_crc32: c.crc32.clone(),
        checksum_crc32c: c.crc32c.clone(),
        checksum_sha1: c.sha1.clone(),
        checksum_sha256: c.sha256.clone(),
        checksum_crc64nvme: c.crc64nvme.clone(),
        ..Default::default()
    }))
}

/// The conditional-request headers of a GET or HEAD, checked in RFC 7232's order.
pub(super) struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl ReadConditions<'_> {
    /// PreconditionFailed (412) or NotModified (304) when a condition says so.
    pub(super) fn check(&self, meta: &ObjectMeta) -> S3Result<()> {
        let mtime_s = meta.mtime_ms / 1000;
        let secs = |t: &Timestamp| convert::to_ms(t) / 1000;
        match self.if_match {
            Some(ETagCondition::ETag(e)) if !etag_matches(e, &meta.etag) => {
                return Err(s3_error!(PreconditionFailed));
            }
            Some(_) => {}
            None => {
                if let Some(t) = self.if_unmodified_since
                    && mtime_s > secs(t)
                {
                    return Err(s3_error!(PreconditionFailed));
                }
            }
        }
        match self.if_none_match {
            Some(ETagCondition::Any) => return Err(not_modified(meta)),
            Some(ETagCondition::ETag(e)) if etag_matches(e, &meta.etag) => {
                return Err(not_modified(meta));
            }
            Some(_) => {}
            None => {
                if let Some(t) = self.if_modified_since
                    && mtime_s <= secs(t)
                {
                    return Err(not_modified(meta));
                }
            }
        }
        Ok(())
    }
}

/// 304 Not Modified, with the headers RFC 7232 says it carries (ETag, Last-Modified): a
/// client revalidating its cached copy learns from them which copy is current.
fn not_modified(meta: &ObjectMeta) -> S3Error {
    let mut e = s3_error!(NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = etag(meta).to_http_header() {
        headers.insert(http::header::ETAG, v);
    }
    let mut date = Vec::new();
    let formatted = timestamp(meta.mtime_ms).format(TimestampFormat::HttpDate, &mut date);
    if let (Ok(()), Ok(v)) = (formatted, http::HeaderValue::from_bytes(&date)) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

/// The conditional headers of a GET or HEAD (same field names, different s3s types).
macro_rules! read_conditions {
    ($input:expr) => {
        ReadConditions {
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
        }
    };
}

/// What GET and HEAD check before answering: the object's ACL, then the conditions.
fn check_read(
    cx: &http::Extensions,
    caller: Option<&UserRecord>,
    bucket: &BucketRecord,
    (key, meta): (&str, &ObjectMeta),
    conditions: ReadConditions<'_>,
) -> S3Result<()> {
    let subject = Subject {
        key: Some(key),
        version: None,
    };
    if !may_on_object(cx, caller, bucket, subject, meta, Action::GetObject) {
        return Err(s3_error!(AccessDenied));
    }
    conditions.check(meta)
}

/// The byte range a GET asks for: from Range, or the part for `partNumber`.
fn requested_range(
    meta: &ObjectMeta,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<Option<ByteRange<u64>>> {
    if let Some(n) = part_number {
        if range.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Range and partNumber cannot both be given"
            ));
        }
        let mut at = meta.manifest.head_len;
        for seg in &meta.manifest.segments {
            if seg.part == Some(n as u32) {
                return Ok(Some(at..at + seg.len));
            }
            at += seg.len;
        }
        // A single-part object has part 1 only: the whole object.
        if n == 1 && meta.parts.is_none() {
            return Ok(None);
        }
        let mut e = s3s::S3Error::with_message(
            s3s::S3ErrorCode::Custom("InvalidPartNumber".into()),
            "the requested part number is not satisfiable",
        );
        e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        return Err(e);
    }
    match range {
        None => Ok(None),
        Some(r) => match r.check(meta.size) {
            Ok(r) => Ok(Some(r)),
            Err(_) => Err(s3_error!(
                InvalidRange,
                "the requested range is not satisfiable"
            )),
        },
    }
}

pub(super) async fn get_object(
    s3: &ShoalS3,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let caller = s3.caller(&req).await?;
    let input = req.input;
    let bucket = s3
        .bucket(
            &req.extensions,
            caller.as_ref(),
            &input.bucket,
            Action::GetObject,
        )
        .await?;
    let which = version_ref(&bucket, input.version_id.as_deref())?;
    let found = find(
        s3,
        &req.extensions,
        caller.as_ref(),
        &bucket,
        &input.key,
        which.as_ref(),
        READ_CHUNK,
    )
    .await?;
    let (meta, head_bytes) = (found.meta, found.head);
    check_read(
        &req.extensions,
        caller.as_ref(),
        &bucket,
        (&input.key, &meta),
        read_conditions!(input),
    )?;
    let range = requested_range(&meta, input.range.as_ref(), input.part_number)?;
    if which.is_none() {
        s3.reads.note(&bucket, &input.key, &meta);
    }
    let whole = range.is_none();
    let span = range.clone().unwrap_or(0..meta.size);
    let body = s3
        .objects
        .stream(&bucket, &input.key, &meta, head_bytes, span.clone())
        .await?;
    let content_range = range.as_ref().map(|r| {
        format!(
            "bytes {}-{}/{}",
            r.start,
            r.end.saturating_sub(1),
            meta.size
        )
    });
    let c = if whole {
        meta.checksums.clone()
    } else {
        Checksums::default()
    };
    let h = &meta.headers;
    let lock = lock_headers(&bucket, &meta);
    let expiration = which
        .is_none()
        .then(|| expiration_header(s3, &bucket, &input.key, &meta))
        .flatten();
    let output = GetObjectOutput {
        expiration,
        storage_class: shown_class(&meta),
        object_lock_mode: lock.mode,
        object_lock_retain_until_date: lock.until,
        object_lock_legal_hold_status: lock.legal_hold,
        body: Some(StreamingBlob::wrap(body)),
        content_length: Some((span.end - span.start) as i64),
        content_range,
        version_id: shown_id(&bucket, &meta),
        accept_ranges: Some("bytes".to_owned()),
        e_tag: Some(etag(&meta)),
        last_modified: Some(timestamp(meta.mtime_ms)),
        metadata: user_metadata(&meta),
        content_type: input
            .response_content_type
            .or_else(|| h.content_type.clone()),
        content_encoding: input
            .response_content_encoding
            .or_else(|| h.content_encoding.clone()),
        content_disposition: input
            .response_content_disposition
            .or_else(|| h.content_disposition.clone()),
        content_language: input
            .response_content_language
            .or_else(|| h.content_language.clone()),
        cache_control: input
            .response_cache_control
            .or_else(|| h.cache_control.clone()),
        expires: input
            .response_expires
            .or_else(|| h.expires_ms.map(timestamp)),
        parts_count: meta.parts.map(|p| p as i32),
        tag_count: (!meta.tags.is_empty()).then_some(meta.tags.len() as i32),
        checksum_crc32: c.crc32,
        checksum_crc32c: c.crc32c,
        checksum_sha1: c.sha1,
        checksum_sha256: c.sha256,
        checksum_crc64nvme: c.crc64nvme,
        ..Default::default()
    };
    let mut response = S3Response::new(output);
    if range.is_some() {
        response.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(response)
}

/// The x-amz-meta-* of an object, as GET and HEAD return them.
pub(super) fn user_metadata(meta: &ObjectMeta) -> Option<Metadata> {
    (!meta.user_meta.is_empty()).then(|| meta.user_meta.clone().into_iter().collect())
}

pub(super) async fn head_object(
    s3: &ShoalS3,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let caller = s3.caller(&req).await?;
    let input = req.input;
    let bucket = s3
        .bucket(
            &req.extensions,
            caller.as_ref(),
            &input.bucket,
            Action::GetObject,
        )
        .await?;
    let which = version_ref(&bucket, input.version_id.as_deref())?;
    let meta = find(
        s3,
        &req.extensions,
        caller.as_ref(),
        &bucket,
        &input.key,
        which.as_ref(),
        0,
    )
    .await?
    .meta;
    check_read(
        &req.extensions,
        caller.as_ref(),
        &bucket,
        (&input.key, &meta),
        read_conditions!(input),
    )?;
    let range = requested_range(&meta, input.range.as_ref(), input.part_number)?;
    let len = range.as_ref().map_or(meta.size, |r| r.end - r.start);
    let h = &meta.headers;
    let c = meta.checksums.clone();
    let lock = lock_headers(&bucket, &meta);
    let expiration = which
        .is_none()
        .then(|| expiration_header(s3, &bucket, &input.key, &meta))
        .flatten();
    let output = HeadObjectOutput {
        expiration,
        storage_class: shown_class(&meta),
        object_lock_mode: lock.mode,
        object_lock_retain_until_date: lock.until,
        object_lock_legal_hold_status: lock.legal_hold,
        content_length: Some(len as i64),
        content_range: range.as_ref().map(|r| {
            format!(
                "bytes {}-{}/{}",
                r.start,
                r.end.saturating_sub(1),
                meta.size
            )
        }),
        accept_ranges: Some("bytes".to_owned()),
        version_id: shown_id(&bucket, &meta),
        e_tag: Some(etag(&meta)),
        last_modified: Some(timestamp(meta.mtime_ms)),
        metadata: user_metadata(&meta),
        content_type: h.content_type.clone(),
        content_encoding: h.content_encoding.clone(),
        content_disposition: h.content_disposition.clone(),
        content_language: h.content_language.clone(),
        cache_control: h.cache_control.clone(),
        expires: h.expires_ms.map(timestamp),
        parts_count: meta.parts.map(|p| p as i32),
        checksum_crc32: c.crc32,
        checksum_crc32c: c.crc32c,
        checksum_sha1: c.sha1,
        checksum_sha256: c.sha256,
        checksum_crc64nvme: c.crc64nvme,
        ..Default::default()
    };
    let mut response = S3Response::new(output);
    if range.is_some() {
        response.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(response)
}

pub(super) async fn delete_object(
    s3: &ShoalS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::DeleteObject,
        )
        .await?;
    let bypass = input.bypass_governance_retention == Some(true);
    check_bypass(&req.extensions, &user, &bucket, bypass)?;
    let done = delete_one(
        s3,
        &user,
        &bucket,
        &input.key,
        input.version_id.as_deref(),
        bypass,
    )
    .await?;
    Ok(S3Response::new(DeleteObjectOutput {
        version_id: done.version_id,
        delete_marker: done.delete_marker.then_some(true),
        ..Default::default()
    }))
}

/// What a delete did, as S3 reports it.
struct Deleted {
    /// The version removed or the marker written (none in a bucket without versioning).
    version_id: Option<String>,
    /// That version is a delete marker.
    delete_marker: bool,
}

/// Deletes `key` (a delete marker where versions are kept) or, given an id, exactly that
/// version; a version that does not exist is already deleted, as in S3. `bypass` asks to
/// bypass a governance retention of that version.
async fn delete_one(
    s3: &ShoalS3,
    user: &UserRecord,
    bucket: &BucketRecord,
    key: &str,
    version_id: Option<&str>,
    bypass: bool,
) -> S3Result<Deleted> {
    let which = version_ref(bucket, version_id)?;
    if !bucket.versioning.keeps_versions() {
        s3.objects.delete(bucket, key).await?;
        return Ok(Deleted {
            version_id: version_id.map(str::to_owned),
            delete_marker: false,
        });
    }
    match which {
        None => {
            let marker = s3
                .objects
                .put_delete_marker(bucket, key, &user.uid, &Preconditions::default())
                .await?;
            Ok(Deleted {
                version_id: shown_id(bucket, &marker),
                delete_marker: true,
            })
        }
        Some(which) => {
            let deleted = s3
                .objects
                .delete_version(
                    bucket,
                    key,
                    &which,
                    VersionDelete {
                        bypass_governance: bypass,
                        ..VersionDelete::default()
                    },
                )
                .await?;
            Ok(Deleted {
                version_id: version_id.map(str::to_owned),
                delete_marker: deleted.is_some_and(|m| m.delete_marker),
            })
        }
    }
}

/// How many keys of one DeleteObjects request are deleted at once.
const DELETES_AT_ONCE: usize = 16;

pub(super) async fn delete_objects(
    s3: &ShoalS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    // Whether each key may go is decided for that key (a policy may name some keys only).
    let bucket = s3.bucket_record(&input.bucket).await?;
    let quiet = input.delete.quiet.unwrap_or(false);
    let bypass = input.bypass_governance_retention == Some(true);
    if input.delete.objects.len() > 1000 {
        return Err(s3_error!(MalformedXML, "at most 1000 keys per request"));
    }
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    // Keys are deleted several at a time (as RGW does), answered in request order.
    let user = &user;
    let bucket = &bucket;
    let cx = &req.extensions;
    let mut done = futures::stream::iter(input.delete.objects)
        .map(|object| async move {
            let subject = Subject {
                key: Some(object.key.as_str()),
                version: object.version_id.as_deref(),
            };
            let bypassing = Action::OwnerOnly("s3:BypassGovernanceRetention");
            if !super::may_on_key(cx, Some(user), bucket, subject, Action::DeleteObject)
                || (bypass && !super::may_on_key(cx, Some(user), bucket, subject, bypassing))
            {
                return (object, Err(s3_error!(AccessDenied)));
            }
            let result = delete_one(
                s3,
                user,
                bucket,
                &object.key,
                object.version_id.as_deref(),
                bypass,
            )
            .await;
            (object, result)
        })
        .buffered(DELETES_AT_ONCE);
    while let Some((object, result)) = done.next().await {
        let asked = object.version_id.as_deref();
        match result {
            Ok(done) => {
                if !quiet {
                    // A new marker is reported as the marker's id, a deleted version as its own.
                    let made_marker = asked.is_none() && done.delete_marker;
                    deleted.push(DeletedObject {
                        key: Some(object.key),
                        version_id: if made_marker {
                            None
                        } else {
                            done.version_id.clone()
                        },
                        delete_marker: done.delete_marker.then_some(true),
                        delete_marker_version_id: if made_marker { done.version_id } else { None },
                    });
                }
            }
            Err(e) => {
                errors.push(Error {
                    key: Some(object.key),
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    version_id: object.version_id,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}
