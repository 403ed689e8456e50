//! CopyObject, object tagging and object ACLs.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::convert::{self, etag, timestamp};
use super::lock_ops::requested_lock;
use super::object_ops::{ReadConditions, check_key, storage_target};
use super::version_ops::{find, permitted_version, shown_id, version_ref};
use super::{ShoalS3, acl_ops};
use crate::authz::Action;
use crate::objects::Preconditions;
use crate::records::{BucketRecord, ObjectMeta, UserRecord};

/// The source of a copy, readable by the caller, with its metadata.
pub(super) async fn copy_source(
    s3: &ShoalS3,
    cx: &http::Extensions,
    caller: &UserRecord,
    source: &CopySource,
) -> S3Result<(BucketRecord, String, ObjectMeta)> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(s3_error!(
            NotImplemented,
            "only bucket/key copy sources are supported"
        ));
    };
    let (src_bucket, _, meta) = permitted_version(
        s3,
        cx,
        Some(caller),
        (bucket, key, version_id.as_deref()),
        Action::GetObject,
    )
    .await?;
    Ok((src_bucket, key.to_string(), meta))
}

/// Copy-source conditions fail with 412 (never 304, as S3 documents for copies).
pub(super) fn check_copy_conditions(
    meta: &ObjectMeta,
    conditions: ReadConditions<'_>,
) -> S3Result<()> {
    match conditions.check(meta) {
        Err(e) if *e.code() == s3s::S3ErrorCode::NotModified => Err(s3_error!(PreconditionFailed)),
        other => other,
    }
}

pub(super) async fn copy_object(
    s3: &ShoalS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
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
    let (src_bucket, src_key, src) =
        copy_source(s3, &req.extensions, &user, &input.copy_source).await?;
    check_copy_conditions(&src, convert::copy_conditions!(input))?;
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let replace_tags = input
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
    // Copying a named version onto its own key is how S3 restores an older version.
    let names_version = matches!(
        &input.copy_source,
        CopySource::Bucket {
            version_id: Some(_),
            ..
        }
    );
    let changes_class = input.storage_class.is_some() && target.class != src.storage_class;
    if src_bucket.id == bucket.id
        && src_key == input.key
        && !replace
        && !replace_tags
        && !names_version
        && !changes_class
    {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    // A copy is a new version: its lock is what the request asks for (or the bucket's
    // default), never the source's.
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
    let mut meta = ObjectMeta {
        owner,
        acl,
        retention,
        legal_hold,
        ..ObjectMeta::default()
    };
    if replace {
        meta.headers = convert::standard_headers!(input);
        meta.user_meta = input.metadata.unwrap_or_default().into_iter().collect();
    } else {
        meta.headers = src.headers.clone();
        meta.user_meta = src.user_meta.clone();
    }
    meta.tags = if replace_tags {
        convert::parse_tagging(input.tagging.as_deref())?
    } else {
        src.tags.clone()
    };
    let hasher = convert::hasher_for(input.checksum_algorithm.as_ref(), &Default::default())?;
    let body = s3
        .objects
        .stream(&src_bucket, &src_key, &src, None, 0..src.size)
        .await?;
    let txn = s3.objects.start_put(&bucket, &input.key, target).await?;
    let written = match txn.write(body, hasher).await {
        Ok(w) => w,
        Err(e) => {
            txn.abort().await?;
            return Err(e.into());
        }
    };
    meta.checksums = convert::verify(&written, None, &Default::default())?;
    let meta = txn.commit(written, meta, &Preconditions::default()).await?;
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(etag(&meta)),
            last_modified: Some(timestamp(meta.mtime_ms)),
            ..Default::default()
        }),
        version_id: shown_id(&bucket, &meta),
        copy_source_version_id: shown_id(&src_bucket, &src),
        ..Default::default()
    }))
}

/// A version of an object in a bucket `user` owns (the current one without an id).
async fn owned_object(
    s3: &ShoalS3,
    cx: &http::Extensions,
    user: &UserRecord,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<(BucketRecord, ObjectMeta)> {
    let bucket = s3
        .bucket(
            cx,
            Some(user),
            bucket,
            Action::OwnerOnly("s3:GetObjectTagging"),
        )
        .await?;
    let which = version_ref(&bucket, version_id)?;
    let meta = find(s3, cx, Some(user), &bucket, key, which.as_ref(), 0)
        .await?
        .meta;
    Ok((bucket, meta))
}

pub(super) async fn get_object_tagging(
    s3: &ShoalS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let user = s3.user(&req).await?;
    let input = &req.input;
    let (bucket, meta) = owned_object(
        s3,
        &req.extensions,
        &user,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
    )
    .await?;
    let version_id = shown_id(&bucket, &meta);
    let tag_set = meta
        .tags
        .into_iter()
        .map(|(key, value)| Tag {
            key: Some(key),
            value: Some(value),
        })
        .collect();
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set,
        version_id,
    }))
}

pub(super) async fn put_object_tagging(
    s3: &ShoalS3,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let tags: Vec<(String, String)> = input
        .tagging
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    convert::check_tags(&tags)?;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::OwnerOnly("s3:PutObjectTagging"),
        )
        .await?;
    let which = version_ref(&bucket, input.version_id.as_deref())?;
    let meta = s3
        .objects
        .update_meta(&bucket, &input.key, which.as_ref(), |m| {
            m.tags = tags.clone();
            Ok(())
        })
        .await?;
    Ok(S3Response::new(PutObjectTaggingOutput {
        version_id: shown_id(&bucket, &meta),
    }))
}

pub(super) async fn delete_object_tagging(
    s3: &ShoalS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let user = s3.user(&req).await?;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &req.input.bucket,
            Action::OwnerOnly("s3:DeleteObjectTagging"),
        )
        .await?;
    let which = version_ref(&bucket, req.input.version_id.as_deref())?;
    let meta = s3
        .objects
        .update_meta(&bucket, &req.input.key, which.as_ref(), |m| {
            m.tags.clear();
            Ok(())
        })
        .await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput {
        version_id: shown_id(&bucket, &meta),
    }))
}
