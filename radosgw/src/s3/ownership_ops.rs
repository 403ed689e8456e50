//! A bucket's access settings beyond ACLs and policies: object ownership controls
//! (Put/Get/DeleteBucketOwnershipControls) and the public access block
//! (Put/Get/DeletePublicAccessBlock). Both are kept in the bucket's record; the decision
//! reads them ([`super::may_on_object`], [`super::facts::policy_verdicts`]).

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use crate::acl::{Ownership, PublicAccessBlock};

pub(super) async fn put_bucket_ownership_controls(
    s3: &ShoalS3,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketOwnershipControls")
        .await?;
    let rules = &req.input.ownership_controls.rules;
    let [rule] = rules.as_slice() else {
        return Err(s3_error!(
            MalformedXML,
            "OwnershipControls holds exactly one Rule"
        ));
    };
    let ownership = Ownership::parse(rule.object_ownership.as_str()).ok_or_else(|| {
        s3_error!(
            MalformedXML,
            "ObjectOwnership is BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter"
        )
    })?;
    s3.buckets
        .set_ownership(&bucket.name, Some(ownership))
        .await?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
}

pub(super) async fn get_bucket_ownership_controls(
    s3: &ShoalS3,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:GetBucketOwnershipControls")
        .await?;
    let Some(ownership) = bucket.ownership else {
        return Err(s3_error!(
            OwnershipControlsNotFoundError,
            "The bucket ownership controls were not found"
        ));
    };
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: ObjectOwnership::from(ownership.as_str().to_owned()),
            }],
        }),
    }))
}

pub(super) async fn delete_bucket_ownership_controls(
    s3: &ShoalS3,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketOwnershipControls")
        .await?;
    s3.buckets.set_ownership(&bucket.name, None).await?;
    Ok(S3Response::new(
        DeleteBucketOwnershipControlsOutput::default(),
    ))
}

/// S3's error for a bucket without a public access block.
fn no_block() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
        "The public access block configuration was not found",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

pub(super) async fn put_public_access_block(
    s3: &ShoalS3,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketPublicAccessBlock")
        .await?;
    let c = &req.input.public_access_block_configuration;
    let block = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    s3.buckets
        .set_public_access_block(&bucket.name, Some(block))
        .await?;
    Ok(S3Response::new(PutPublicAccessBlockOutput::default()))
}

pub(super) async fn get_public_access_block(
    s3: &ShoalS3,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:GetBucketPublicAccessBlock")
        .await?;
    let Some(b) = bucket.public_access_block else {
        return Err(no_block());
    };
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(b.block_public_acls),
            ignore_public_acls: Some(b.ignore_public_acls),
            block_public_policy: Some(b.block_public_policy),
            restrict_public_buckets: Some(b.restrict_public_buckets),
        }),
    }))
}

pub(super) async fn delete_public_access_block(
    s3: &ShoalS3,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketPublicAccessBlock")
        .await?;
    s3.buckets
        .set_public_access_block(&bucket.name, None)
        .await?;
    let mut resp = S3Response::new(DeletePublicAccessBlockOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}
