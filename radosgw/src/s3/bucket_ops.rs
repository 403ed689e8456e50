//! Service and bucket operations: list, create, head, delete, location, ACL.

use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::convert::{self, timestamp};
use super::{ShoalS3, acl_ops};
use crate::acl::{Grantee, Ownership};
use crate::authz::Action;
use crate::lock::LockConfig;

pub(super) async fn list_buckets(
    s3: &ShoalS3,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let user = s3.user(&req).await?;
    if !super::facts::user_allows(
        req.extensions.get(),
        &user,
        "s3:ListAllMyBuckets",
        "arn:aws:s3:::*",
    ) {
        return Err(s3s::s3_error!(
            AccessDenied,
            "the user's policy does not allow listing buckets"
        ));
    }
    let prefix = req.input.prefix.unwrap_or_default();
    let buckets = s3
        .buckets
        .list_for(&user.uid)
        .await?
        .into_iter()
        .filter(|b| b.name.starts_with(&prefix))
        .map(|b| Bucket {
            name: Some(b.name),
            creation_date: Some(timestamp(b.created_ms)),
            bucket_region: Some(b.region),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(convert::owner(&user.uid, Some(&user))),
        ..Default::default()
    }))
}

pub(super) async fn create_bucket(
    s3: &ShoalS3,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let user = s3.user(&req).await?;
    let shards = index_shards(&req.headers)?;
    let input = req.input;
    if !super::facts::user_allows(
        req.extensions.get(),
        &user,
        "s3:CreateBucket",
        &crate::policy::arn(&input.bucket, None),
    ) {
        return Err(s3s::s3_error!(
            AccessDenied,
            "the user's policy does not allow creating this bucket"
        ));
    }
    let region = input
        .create_bucket_configuration
        .and_then(|c| c.location_constraint)
        .map(|l| l.as_str().to_owned())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| s3.region.clone());
    if region != s3.region {
        return Err(s3s::s3_error!(
            InvalidLocationConstraint,
            "this gateway serves region {:?}",
            s3.region
        ));
    }
    let acl = acl_ops::requested(
        s3,
        input.acl.as_ref().map(BucketCannedACL::as_str),
        &acl_ops::grant_headers!(input, write: input.grant_write.as_deref()),
        acl_ops::Target::NewBucket,
    )
    .await?;
    let lock = (input.object_lock_enabled_for_bucket == Some(true)).then(LockConfig::default);
    let ownership = match &input.object_ownership {
        None => None,
        Some(o) => Some(Ownership::parse(o.as_str()).ok_or_else(|| {
            s3s::s3_error!(
                InvalidArgument,
                "unknown x-amz-object-ownership {:?}",
                o.as_str()
            )
        })?),
    };
    let others = acl.grants.iter().any(|g| g.grantee != Grantee::Owner);
    if ownership == Some(Ownership::BucketOwnerEnforced) && others {
        return Err(s3s::s3_error!(
            InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
        ));
    }
    match s3
        .buckets
        .create(&input.bucket, &user.uid, acl, &region, shards, lock)
        .await
    {
        // us-east-1 answers an owner's re-create with success, as S3 does there (leaving the
        // bucket as it is: S3 resets its ACL); every other region says BucketAlreadyOwnedByYou.
        Err(e) if e.is_s3(&S3ErrorCode::BucketAlreadyOwnedByYou) && region == LEGACY_REGION => {}
        other => {
            other?;
            // Set right after the bucket is made (a crash between leaves ObjectWriter, the
            // default, and the client without an answer).
            if ownership.is_some() {
                s3.buckets.set_ownership(&input.bucket, ownership).await?;
            }
        }
    }
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{}", input.bucket)),
    }))
}

/// The region whose CreateBucket of a bucket the caller owns succeeds (S3's legacy
/// behaviour, kept there for compatibility).
const LEGACY_REGION: &str = "us-east-1";

/// The header choosing a new bucket's number of index shards (more shards spread a big
/// bucket's index writes over more PGs; listings read them all).
pub const INDEX_SHARDS_HEADER: &str = "x-shoal-bucket-index-shards";

/// Most index shards a bucket may have.
pub const MAX_INDEX_SHARDS: u32 = 1024;

fn index_shards(headers: &http::HeaderMap) -> S3Result<Option<u32>> {
    let Some(value) = headers.get(INDEX_SHARDS_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (1..=MAX_INDEX_SHARDS).contains(n))
        .map(Some)
        .ok_or_else(|| {
            s3s::s3_error!(
                InvalidArgument,
                "{INDEX_SHARDS_HEADER} must be a number from 1 to {MAX_INDEX_SHARDS}"
            )
        })
}

pub(super) async fn head_bucket(
    s3: &ShoalS3,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    let caller = s3.caller(&req).await?;
    let bucket = s3
        .bucket(
            &req.extensions,
            caller.as_ref(),
            &req.input.bucket,
            Action::ListBucket,
        )
        .await?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(bucket.region),
        ..Default::default()
    }))
}

pub(super) async fn delete_bucket(
    s3: &ShoalS3,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:DeleteBucket")
        .await?;
    let abort_uploads = crate::multipart::abort_all(&s3.objects, &bucket);
    s3.buckets.delete(&bucket, abort_uploads).await?;
    // The bucket is gone; its lifecycle object (named by its id) goes too. A crash here
    // leaves a few bytes no one reads again.
    if let Err(e) = crate::lc_worker::forget(&s3.objects, &bucket).await {
        tracing::warn!(bucket = bucket.name, error = %e, "could not remove the lifecycle object");
    }
    Ok(S3Response::new(DeleteBucketOutput::default()))
}

pub(super) async fn get_bucket_location(
    s3: &ShoalS3,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let user = s3.user(&req).await?;
    let bucket = s3
        .bucket(
            &req.extensions,
            Some(&user),
            &req.input.bucket,
            Action::OwnerOnly("s3:GetBucketLocation"),
        )
        .await?;
    // us-east-1 is reported as an empty LocationConstraint, as S3 does.
    let location =
        (bucket.region != "us-east-1").then(|| BucketLocationConstraint::from(bucket.region));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: location,
    }))
}

/// A bucket holds at most 50 tags (S3's limit; objects hold 10).
const MAX_BUCKET_TAGS: usize = 50;

pub(super) async fn put_bucket_tagging(
    s3: &ShoalS3,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketTagging")
        .await?;
    let tags: Vec<(String, String)> = req
        .input
        .tagging
        .tag_set
        .iter()
        .map(|t| {
            (
                t.key.clone().unwrap_or_default(),
                t.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    if tags.len() > MAX_BUCKET_TAGS {
        return Err(s3s::s3_error!(
            InvalidTag,
            "a bucket holds at most {MAX_BUCKET_TAGS} tags"
        ));
    }
    // The same key and value limits as objects' (the count checked above).
    for chunk in tags.chunks(10) {
        convert::check_tags(chunk)?;
    }
    let mut keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(s3s::s3_error!(
            InvalidTag,
            "Cannot provide multiple Tags with the same key"
        ));
    }
    s3.buckets.set_tags(&bucket.name, Some(tags)).await?;
    let mut resp = S3Response::new(PutBucketTaggingOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub(super) async fn get_bucket_tagging(
    s3: &ShoalS3,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:GetBucketTagging")
        .await?;
    let Some(tags) = bucket.tags else {
        return Err(s3s::s3_error!(NoSuchTagSet, "The TagSet does not exist"));
    };
    let tag_set = tags
        .into_iter()
        .map(|(key, value)| Tag {
            key: Some(key),
            value: Some(value),
        })
        .collect();
    Ok(S3Response::new(GetBucketTaggingOutput { tag_set }))
}

pub(super) async fn delete_bucket_tagging(
    s3: &ShoalS3,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketTagging")
        .await?;
    s3.buckets.set_tags(&bucket.name, None).await?;
    let mut resp = S3Response::new(DeleteBucketTaggingOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}
