//! Bucket versioning (Get/PutBucketVersioning) and what every object operation shares about
//! versions: which version a request names, the ids responses show, delete markers' errors.

use bytes::Bytes;
use http::Extensions;
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use super::convert::{self, timestamp};
use crate::authz::Action;
use crate::objects::no_such_key;
use crate::records::{BucketRecord, ObjectMeta, UserRecord, Versioning};
use crate::versions::{self, VersionRef};

pub(super) async fn get_bucket_versioning(
    s3: &ShoalS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:GetBucketVersioning")
        .await?;
    let status = match bucket.versioning {
        // Never enabled: S3 answers an empty configuration.
        Versioning::Off => None,
        Versioning::Enabled => Some(BucketVersioningStatus::ENABLED),
        Versioning::Suspended => Some(BucketVersioningStatus::SUSPENDED),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status: status.map(BucketVersioningStatus::from_static),
        ..Default::default()
    }))
}

pub(super) async fn put_bucket_versioning(
    s3: &ShoalS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let config = &input.versioning_configuration;
    if config
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
        || input.mfa.is_some()
    {
        return Err(s3_error!(NotImplemented, "MFA delete is not supported"));
    }
    let state = match config.status.as_ref().map(BucketVersioningStatus::as_str) {
        Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "the versioning status must be Enabled or Suspended"
            ));
        }
    };
    let bucket = s3
        .bucket_now(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::OwnerOnly("s3:PutBucketVersioning"),
        )
        .await?;
    s3.objects
        .set_versioning(&s3.buckets, &bucket, state)
        .await?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

/// The version a request's `versionId` names in `bucket` (`None`: the current one). In a
/// bucket that never had versioning, only "null" names the (one) version an object has.
pub(super) fn version_ref(
    bucket: &BucketRecord,
    version_id: Option<&str>,
) -> S3Result<Option<VersionRef>> {
    let Some(id) = version_id else {
        return Ok(None);
    };
    if !bucket.versioning.keeps_versions() {
        convert::only_null_version(Some(id))?;
        return Ok(None);
    }
    VersionRef::parse(id)
        .map(Some)
        .ok_or_else(|| s3_error!(InvalidArgument, "Invalid version id specified"))
}

/// The version id a response shows for `meta`: none in a bucket that never had
/// versioning, as S3.
pub(super) fn shown_id(bucket: &BucketRecord, meta: &ObjectMeta) -> Option<String> {
    bucket
        .versioning
        .keeps_versions()
        .then(|| versions::id_of(meta).to_owned())
}

/// What a read found: the version's metadata and, for the head, its first bytes.
pub(super) struct Found {
    /// The version.
    pub meta: ObjectMeta,
    /// Head bytes read with the metadata (`None`: read them with the rest).
    pub head: Option<Bytes>,
}

/// A version of `key` in bucket `bucket` (the current one without `version_id`) that
/// `caller` may do `action` on: the bucket (NoSuchBucket first), the version named, and
/// its metadata; AccessDenied when the object's ACL and the policies say no.
pub(super) async fn permitted_version(
    s3: &ShoalS3,
    cx: &Extensions,
    caller: Option<&UserRecord>,
    (bucket, key, version_id): (&str, &str, Option<&str>),
    action: Action,
) -> S3Result<(BucketRecord, Option<VersionRef>, ObjectMeta)> {
    let bucket = s3.bucket(cx, caller, bucket, action).await?;
    let which = version_ref(&bucket, version_id)?;
    let meta = find(s3, cx, caller, &bucket, key, which.as_ref(), 0)
        .await?
        .meta;
    let subject = super::Subject {
        key: Some(key),
        version: version_id,
    };
    if !super::may_on_object(cx, caller, &bucket, subject, &meta, action) {
        return Err(s3_error!(AccessDenied));
    }
    Ok((bucket, which, meta))
}

/// Finds the version of `key` that `which` names (the current one for `None`), reading the
/// head's first bytes with it if `head_want` > 0. A delete marker is an error here:
/// 404 for the current version, 405 for one named by id, with S3's marker headers.
pub(super) async fn find(
    s3: &ShoalS3,
    cx: &Extensions,
    caller: Option<&UserRecord>,
    bucket: &BucketRecord,
    key: &str,
    which: Option<&VersionRef>,
    head_want: u64,
) -> S3Result<Found> {
    let found = match which {
        None if head_want > 0 => {
            s3.objects
                .meta_and_head(bucket, key, head_want)
                .await?
                .map(|(meta, head)| Found {
                    meta,
                    head: Some(head),
                })
        }
        None => s3
            .objects
            .meta(bucket, key)
            .await?
            .map(|meta| Found { meta, head: None }),
        Some(which) => s3
            .objects
            .version_meta(bucket, key, which)
            .await?
            .map(|(meta, _)| Found { meta, head: None }),
    };
    let Some(found) = found else {
        return Err(match which {
            Some(_) if may_list(cx, caller, bucket) => s3_error!(NoSuchVersion),
            _ => missing(cx, caller, bucket, key),
        });
    };
    if found.meta.delete_marker {
        return Err(marker_error(
            cx,
            bucket,
            &found.meta,
            which.is_some(),
            caller,
        ));
    }
    Ok(found)
}

/// A missing key, as a reader may learn it: someone who may not list the bucket gets
/// AccessDenied, as from S3, so that existence does not leak.
fn missing(
    cx: &Extensions,
    caller: Option<&UserRecord>,
    bucket: &BucketRecord,
    key: &str,
) -> S3Error {
    if may_list(cx, caller, bucket) {
        no_such_key(key).into()
    } else {
        s3_error!(AccessDenied)
    }
}

/// Whether `caller` may learn which keys `bucket` holds.
fn may_list(cx: &Extensions, caller: Option<&UserRecord>, bucket: &BucketRecord) -> bool {
    super::may_on_bucket(cx, caller, bucket, Action::ListBucket)
}

/// A read of a delete marker: NoSuchKey when it is the current version, MethodNotAllowed
/// when named by id, both saying it is a marker and which.
fn marker_error(
    cx: &Extensions,
    bucket: &BucketRecord,
    marker: &ObjectMeta,
    named: bool,
    caller: Option<&UserRecord>,
) -> S3Error {
    if !may_list(cx, caller, bucket) {
        return s3_error!(AccessDenied);
    }
    let mut e = if named {
        s3_error!(MethodNotAllowed, "the specified version is a delete marker")
    } else {
        s3_error!(NoSuchKey, "the current version is a delete marker")
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-delete-marker",
        http::HeaderValue::from_static("true"),
    );
    if let Ok(v) = http::HeaderValue::from_str(versions::id_of(marker)) {
        headers.insert("x-amz-version-id", v);
    }
    if named {
        let mut date = Vec::new();
        let formatted = timestamp(marker.mtime_ms).format(TimestampFormat::HttpDate, &mut date);
        if let (Ok(()), Ok(v)) = (formatted, http::HeaderValue::from_bytes(&date)) {
            headers.insert(http::header::LAST_MODIFIED, v);
        }
    }
    e.set_headers(headers);
    e
}
