//! Multipart uploads, the S3 side: requests are checked and translated here; how parts,
//! completion and abort stay consistent in the cluster is [`crate::multipart`]'s business.
//! Only the bucket owner may run any of these operations.

use std::ops::Range;

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::convert::{self, timestamp};
use super::list_ops::{listed_max, url_mode};
use super::lock_ops::requested_lock;
use super::object_extra::{check_copy_conditions, copy_source};
use super::object_ops::{check_key, storage_target};
use super::version_ops::shown_id;
use super::{ShoalS3, acl_ops};
use crate::authz::Action;
use crate::buckets::no_such_bucket;
use crate::multipart::{self, MAX_PART_SIZE, PartTxn, RequestedPart, Upload, UploadQuery};
use crate::objects::Preconditions;
use crate::records::{BucketRecord, Checksums, ObjectMeta, PartRecord, UserRecord};

fn too_large() -> S3Error {
    s3_error!(EntityTooLarge, "a part is at most 5 GiB")
}

/// The byte range `x-amz-copy-source-range` (`bytes=first-last`, both required) names in a
/// source of `size` bytes; the whole source without one.
pub(super) fn copy_range(header: Option<&str>, size: u64) -> S3Result<Range<u64>> {
    let Some(header) = header else {
        return Ok(0..size);
    };
    let bad = || {
        s3_error!(
            InvalidArgument,
            "x-amz-copy-source-range must be bytes=first-last"
        )
    };
    let (first, last) = header
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.parse().map_err(|_| bad())?;
    let last: u64 = last.parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    // A well-formed range past the source's end: InvalidRange (416), as RGW answers and the
    // S3 conformance suite (s3-tests `test_multipart_copy_invalid_range`) expects.
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "Range specified is not valid for source object of size: {size}"
        ));
    }
    Ok(first..last + 1)
}

pub(super) async fn create_multipart_upload(
    s3: &ShoalS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    check_key(&input.key)?;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::PutObject,
        )
        .await?;
    let target = storage_target(s3, &bucket, input.storage_class.as_ref()).await?;
    // Unknown algorithms are refused now rather than on every part.
    convert::hasher_for(input.checksum_algorithm.as_ref(), &Checksums::default())?;
    // Full-object checksums of multipart objects need CRC combination, which we lack: the
    // parts are still checked, the object gets no checksum.
    let full_object = input
        .checksum_type
        .as_ref()
        .is_some_and(|t| t.as_str() == ChecksumType::FULL_OBJECT);
    let algorithm = input.checksum_algorithm.filter(|_| !full_object);
    // The lock is decided at initiation, the bucket's default retention counted from it.
    let (retention, legal_hold) = requested_lock(
        &req.extensions,
        Some(&user),
        (&bucket, &input.key),
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    let (owner, acl) = acl_ops::object_write(
        s3,
        &bucket,
        &user.uid,
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
        storage_class: target.class,
        manifest: crate::records::Manifest {
            pool: target.pool,
            ..Default::default()
        },
        ..ObjectMeta::default()
    };
    let name = algorithm.as_ref().map(|a| a.as_str().to_owned());
    let record = Upload::create(&s3.objects, &bucket, &input.key, meta, name, &user.uid).await?;
    // A delete of the bucket may have checked for uploads before ours was listed: then
    // the bucket is gone by now, and so must the upload be.
    let now = s3.buckets.get(&bucket.name).await?;
    if now.is_none_or(|b| b.id != bucket.id) {
        let upload = Upload::new(&s3.objects, &bucket, &input.key, &record.upload_id);
        if let Err(e) = upload.abort().await {
            tracing::warn!(%e, "could not drop an upload of a deleted bucket");
        }
        return Err(no_such_bucket(&bucket.name).into());
    }
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(record.upload_id),
        checksum_type: algorithm
            .as_ref()
            .map(|_| ChecksumType::from_static(ChecksumType::COMPOSITE)),
        checksum_algorithm: algorithm,
        ..Default::default()
    }))
}

/// Drops a failed part upload, keeping the error that caused it.
async fn abandon(txn: PartTxn<'_>, e: S3Error) -> S3Error {
    if let Err(gc) = txn.abort().await {
        tracing::warn!(%gc, "could not drop a failed part upload");
    }
    e
}

pub(super) async fn upload_part(
    s3: &ShoalS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let number = multipart::check_part_number(input.part_number)?;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::PutObject,
        )
        .await?;
    let upload = Upload::new(&s3.objects, &bucket, &input.key, &input.upload_id);
    check_initiator(&upload, &user, &bucket, Initiated::Only).await?;
    if input
        .content_length
        .is_some_and(|n| n as u64 > MAX_PART_SIZE)
    {
        return Err(too_large());
    }
    let Some(body) = input.body else {
        return Err(s3_error!(IncompleteBody));
    };
    let given = convert::given_checksums!(input);
    let hasher = convert::hasher_for(input.checksum_algorithm.as_ref(), &given)?;
    let upload = Upload::new(&s3.objects, &bucket, &input.key, &input.upload_id);
    let txn = upload.start_part(number).await?;
    let written = match txn.write(body, hasher).await {
        Ok(w) => w,
        Err(e) => return Err(abandon(txn, e.into()).await),
    };
    let checked = convert::with_trailers(given, req.trailing_headers.as_ref())
        .and_then(|given| convert::verify(&written, input.content_md5.as_deref(), &given));
    let checksums = match checked {
        Ok(c) => c,
        Err(e) => return Err(abandon(txn, e).await),
    };
    let part = txn.finish(written, checksums).await?;
    let c = Checksum::from(&part.checksums);
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(ETag::Strong(part.etag)),
        checksum_crc32: c.checksum_crc32,
        checksum_crc32c: c.checksum_crc32c,
        checksum_sha1: c.checksum_sha1,
        checksum_sha256: c.checksum_sha256,
        checksum_crc64nvme: c.checksum_crc64nvme,
        ..Default::default()
    }))
}

pub(super) async fn upload_part_copy(
    s3: &ShoalS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let number = multipart::check_part_number(input.part_number)?;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::PutObject,
        )
        .await?;
    let upload = Upload::new(&s3.objects, &bucket, &input.key, &input.upload_id);
    // Read first: it refuses a missing upload before the source is touched, and names the
    // checksum the part should carry.
    let record = check_initiator(&upload, &user, &bucket, Initiated::Only).await?;
    let (src_bucket, src_key, src) =
        copy_source(s3, &req.extensions, &user, &input.copy_source).await?;
    check_copy_conditions(&src, convert::copy_conditions!(input))?;
    let range = copy_range(input.copy_source_range.as_deref(), src.size)?;
    if range.end - range.start > MAX_PART_SIZE {
        return Err(too_large());
    }
    let algorithm = record.checksum_algorithm.map(ChecksumAlgorithm::from);
    let hasher = convert::hasher_for(algorithm.as_ref(), &Checksums::default())?;
    let txn = upload.start_part(number).await?;
    let body = s3
        .objects
        .stream(&src_bucket, &src_key, &src, None, range)
        .await?;
    let written = match txn.write(body, hasher).await {
        Ok(w) => w,
        Err(e) => return Err(abandon(txn, e.into()).await),
    };
    let checksums = convert::verify(&written, None, &Checksums::default())?;
    let part = txn.finish(written, checksums).await?;
    let c = Checksum::from(&part.checksums);
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_source_version_id: shown_id(&src_bucket, &src),
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(ETag::Strong(part.etag)),
            last_modified: Some(timestamp(part.mtime_ms)),
            checksum_crc32: c.checksum_crc32,
            checksum_crc32c: c.checksum_crc32c,
            checksum_sha1: c.checksum_sha1,
            checksum_sha256: c.checksum_sha256,
            checksum_crc64nvme: c.checksum_crc64nvme,
        }),
        ..Default::default()
    }))
}

/// A part of a CompleteMultipartUpload body.
fn requested(part: CompletedPart) -> S3Result<RequestedPart> {
    let number = part
        .part_number
        .ok_or_else(|| s3_error!(InvalidPart, "a listed part has no PartNumber"))?;
    let etag = part
        .e_tag
        .ok_or_else(|| s3_error!(InvalidPart, "part {number} has no ETag"))?;
    Ok(RequestedPart {
        number: multipart::check_part_number(number)?,
        etag: etag.into_value(),
        checksums: convert::given_checksums!(part),
    })
}

/// The object's URL as the client addressed the gateway (path style).
fn location<T>(req: &S3Request<T>, bucket: &str, key: &str) -> String {
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let scheme = req.uri.scheme_str().unwrap_or("http");
    let path = format!(
        "/{}/{}",
        crate::text::url_encode(bucket),
        crate::text::url_encode(key)
    );
    match host {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path,
    }
}

pub(super) async fn complete_multipart_upload(
    s3: &ShoalS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let user = s3.user(&req).await?;
    let location = location(&req, &req.input.bucket, &req.input.key);
    let input = req.input;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::PutObject,
        )
        .await?;
    let listed = input.multipart_upload.and_then(|m| m.parts);
    let parts = listed
        .unwrap_or_default()
        .into_iter()
        .map(requested)
        .collect::<S3Result<Vec<_>>>()?;
    let pre = Preconditions {
        if_match: input.if_match,
        if_none_match: input.if_none_match,
        write_tag: None,
    };
    let expect_size = input.mpu_object_size.map(|s| s.max(0) as u64);
    let upload = Upload::new(&s3.objects, &bucket, &input.key, &input.upload_id);
    check_initiator(&upload, &user, &bucket, Initiated::Only).await?;
    let meta = upload.complete(&parts, &pre, expect_size).await?;
    let c = Checksum::from(&meta.checksums);
    let composite = c.checksum_crc32.is_some()
        || c.checksum_crc32c.is_some()
        || c.checksum_sha1.is_some()
        || c.checksum_sha256.is_some();
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        location: Some(location),
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(convert::etag(&meta)),
        version_id: shown_id(&bucket, &meta),
        checksum_type: composite.then(|| ChecksumType::from_static(ChecksumType::COMPOSITE)),
        checksum_crc32: c.checksum_crc32,
        checksum_crc32c: c.checksum_crc32c,
        checksum_sha1: c.checksum_sha1,
        checksum_sha256: c.checksum_sha256,
        checksum_crc64nvme: c.checksum_crc64nvme,
        ..Default::default()
    }))
}

pub(super) async fn abort_multipart_upload(
    s3: &ShoalS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::AbortMultipartUpload,
        )
        .await?;
    let upload = Upload::new(&s3.objects, &bucket, &input.key, &input.upload_id);
    check_initiator(&upload, &user, &bucket, Initiated::OrBucketOwner).await?;
    upload.abort().await?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

fn to_part(p: PartRecord) -> Part {
    let c = Checksum::from(&p.checksums);
    Part {
        part_number: Some(p.number as i32),
        size: Some(p.size as i64),
        e_tag: Some(ETag::Strong(p.etag)),
        last_modified: Some(timestamp(p.mtime_ms)),
        checksum_crc32: c.checksum_crc32,
        checksum_crc32c: c.checksum_crc32c,
        checksum_sha1: c.checksum_sha1,
        checksum_sha256: c.checksum_sha256,
        checksum_crc64nvme: c.checksum_crc64nvme,
    }
}

/// Who may act on an upload already started (S3): its initiator uploads parts and
/// completes it; its initiator or the bucket's owner aborts it or lists its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Initiated {
    Only,
    OrBucketOwner,
}

/// The upload's record, if `caller` may act on it as `who` says.
async fn check_initiator(
    upload: &Upload<'_>,
    caller: &UserRecord,
    bucket: &BucketRecord,
    who: Initiated,
) -> S3Result<crate::records::UploadRecord> {
    let Some(record) = upload.record().await? else {
        return Err(multipart::no_such_upload(upload.id()).into());
    };
    let initiator = record.initiator() == caller.uid;
    let bucket_owner = who == Initiated::OrBucketOwner && bucket.owner == caller.uid;
    if initiator || bucket_owner {
        Ok(record)
    } else {
        Err(s3_error!(
            AccessDenied,
            "the upload was started by another user"
        ))
    }
}

/// The Initiator element of an upload started by `uid` (display name known when it is
/// the caller's).
fn initiator(uid: &str, caller: &UserRecord) -> Initiator {
    let o = convert::owner(uid, Some(caller).filter(|u| u.uid == uid));
    Initiator {
        id: o.id,
        display_name: o.display_name,
    }
}

/// The class an upload's object will have, as listings of uploads and parts show it.
fn class_of(record: &crate::records::UploadRecord) -> StorageClass {
    StorageClass::from(
        record
            .meta
            .storage_class
            .clone()
            .unwrap_or_else(|| crate::storage_class::STANDARD.to_owned()),
    )
}

pub(super) async fn list_parts(
    s3: &ShoalS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::ListMultipartUploadParts,
        )
        .await?;
    let max = listed_max(input.max_parts, "max-parts")?;
    let after = match input.part_number_marker {
        Some(n) if n < 0 => return Err(s3_error!(InvalidArgument, "bad part-number-marker")),
        n => n.unwrap_or(0) as u32,
    };
    let upload = Upload::new(&s3.objects, &bucket, &input.key, &input.upload_id);
    let record = check_initiator(&upload, &user, &bucket, Initiated::OrBucketOwner).await?;
    let (parts, truncated) = upload.list_parts(after, max).await?;
    let next = parts.last().map(|p| p.number as i32);
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: next,
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(parts.into_iter().map(to_part).collect()),
        owner: Some(convert::owner(&record.meta.owner, Some(&user))),
        initiator: Some(initiator(record.initiator(), &user)),
        storage_class: Some(class_of(&record)),
        checksum_algorithm: record.checksum_algorithm.map(ChecksumAlgorithm::from),
        ..Default::default()
    }))
}

pub(super) async fn list_multipart_uploads(
    s3: &ShoalS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::ListBucketMultipartUploads,
        )
        .await?;
    let url = url_mode(input.encoding_type.as_ref())?;
    let enc = |s: String| if url { crate::text::url_encode(&s) } else { s };
    let query = UploadQuery {
        prefix: input.prefix.as_deref().unwrap_or(""),
        delimiter: input.delimiter.as_deref(),
        key_marker: input.key_marker.as_deref(),
        upload_id_marker: input.upload_id_marker.as_deref(),
        max: listed_max(input.max_uploads, "max-uploads")?,
    };
    let page = multipart::list_uploads(&s3.objects, &bucket, &query).await?;
    // Each upload is its initiator's (who may be another user than the bucket's owner, with
    // a WRITE grant); it will own the object.
    let uploads = page.uploads.into_iter().map(|u| MultipartUpload {
        storage_class: Some(class_of(&u)),
        owner: Some(convert::owner(&u.meta.owner, Some(&user))),
        initiator: Some(initiator(u.initiator(), &user)),
        key: Some(enc(u.key)),
        upload_id: Some(u.upload_id),
        initiated: Some(timestamp(u.initiated_ms)),
        checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
        ..Default::default()
    });
    let prefixes = page.prefixes.into_iter().map(|p| CommonPrefix {
        prefix: Some(enc(p)),
    });
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        max_uploads: Some(query.max as i32),
        is_truncated: Some(page.truncated),
        next_key_marker: page.next_key_marker.map(enc),
        next_upload_id_marker: page.next_upload_id_marker,
        uploads: Some(uploads.collect()),
        common_prefixes: Some(prefixes.collect()),
        prefix: input.prefix.map(enc),
        delimiter: input.delimiter.map(enc),
        key_marker: input.key_marker.map(enc),
        upload_id_marker: input.upload_id_marker,
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_must_lie_within_the_source() {
        assert_eq!(copy_range(None, 10).unwrap(), 0..10);
        assert_eq!(copy_range(Some("bytes=0-9"), 10).unwrap(), 0..10);
        assert_eq!(copy_range(Some("bytes=3-3"), 10).unwrap(), 3..4);
        let code = |h, size| copy_range(Some(h), size).unwrap_err().code().clone();
        assert_eq!(code("bytes=0-10", 10), s3s::S3ErrorCode::InvalidRange);
        assert_eq!(code("bytes=0-0", 0), s3s::S3ErrorCode::InvalidRange);
        assert_eq!(code("bytes=5-4", 10), s3s::S3ErrorCode::InvalidArgument);
        for bad in ["0-9", "bytes=-5", "bytes=1-", "bytes=a-b", "bytes=1-2,4-5"] {
            assert_eq!(code(bad, 10), s3s::S3ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn listing_limits_cap_at_a_thousand() {
        assert_eq!(listed_max(None, "x").unwrap(), 1000);
        assert_eq!(listed_max(Some(5000), "x").unwrap(), 1000);
        assert_eq!(listed_max(Some(0), "x").unwrap(), 0);
        assert!(listed_max(Some(-1), "x").is_err());
        assert_eq!(crate::text::url_encode("a b/ü"), "a%20b/%C3%BC");
    }
}
