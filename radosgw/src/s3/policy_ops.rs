//! Bucket policies at the S3 interface: Put/Get/DeleteBucketPolicy and
//! GetBucketPolicyStatus. A policy is validated when put ([`crate::policy::Policy::parse`])
//! and kept as given in the bucket's record; the decision reads it from there.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use crate::policy::Policy;

/// Policies larger than S3's limit (20 KB) are refused.
const MAX_POLICY: usize = 20 * 1024;

pub(super) async fn put_bucket_policy(
    s3: &ShoalS3,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let input = &req.input;
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketPolicy")
        .await?;
    if input.policy.len() > MAX_POLICY {
        return Err(s3_error!(
            MalformedPolicy,
            "a bucket policy is at most {MAX_POLICY} bytes"
        ));
    }
    let policy = Policy::parse(&input.policy, &bucket.name)
        .map_err(|e| s3_error!(MalformedPolicy, "{e}"))?;
    let blocked = bucket
        .public_access_block
        .is_some_and(|b| b.block_public_policy);
    if blocked && policy.is_public() {
        return Err(s3_error!(
            AccessDenied,
            "the bucket's public access block refuses a public policy"
        ));
    }
    s3.buckets
        .set_policy(&bucket.name, Some(input.policy.clone()))
        .await?;
    let mut resp = S3Response::new(PutBucketPolicyOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub(super) async fn get_bucket_policy(
    s3: &ShoalS3,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:GetBucketPolicy")
        .await?;
    let Some(policy) = bucket.policy else {
        return Err(s3_error!(
            NoSuchBucketPolicy,
            "the bucket policy does not exist"
        ));
    };
    Ok(S3Response::new(GetBucketPolicyOutput {
        policy: Some(policy),
    }))
}

pub(super) async fn delete_bucket_policy(
    s3: &ShoalS3,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:DeleteBucketPolicy")
        .await?;
    s3.buckets.set_policy(&bucket.name, None).await?;
    Ok(S3Response::new(DeleteBucketPolicyOutput::default()))
}

pub(super) async fn get_bucket_policy_status(
    s3: &ShoalS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:GetBucketPolicyStatus")
        .await?;
    let Some(text) = &bucket.policy else {
        return Err(s3_error!(
            NoSuchBucketPolicy,
            "the bucket policy does not exist"
        ));
    };
    let public = Policy::parse(text, &bucket.name).is_ok_and(|p| p.is_public());
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(public),
        }),
    }))
}
