//! The [`s3s::S3`] implementation: each S3 operation maps its request onto buckets,
//! objects, listings and uploads. The trait impl only dispatches; the work is in one
//! module per area.

mod acl_ops;
mod attributes_ops;
mod bucket_ops;
mod convert;
mod cors_ops;
pub mod facts;
mod lifecycle_ops;
mod list_ops;
mod lock_ops;
mod multipart_ops;
mod object_extra;
mod object_ops;
mod ownership_ops;
mod policy_ops;
mod version_ops;

use std::sync::Arc;

use http::Extensions;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::acl::{Acl, Ownership};
use crate::authz::{self, Action, Decision, Owned};
use crate::buckets::Buckets;
use crate::objects::Objects;
use crate::records::{BucketRecord, ObjectMeta, UserRecord};
use crate::users::Users;
pub use facts::{Facts, Subject};

/// The gateway's S3 service.
#[derive(Debug, Clone)]
pub struct ShoalS3 {
    /// Users and keys.
    pub users: Arc<Users>,
    /// Buckets.
    pub buckets: Buckets,
    /// Objects.
    pub objects: Objects,
    /// The region the gateway answers for.
    pub region: String,
    /// How long a lifecycle rule's day is (for `x-amz-expiration`).
    pub lc_day: std::time::Duration,
    /// Where GETs of INTELLIGENT_TIERING objects note their reads.
    pub reads: crate::tier_worker::ReadQueue,
}

impl ShoalS3 {
    /// The authenticated caller (`None`: anonymous).
    pub(crate) async fn caller<T>(&self, req: &S3Request<T>) -> S3Result<Option<UserRecord>> {
        let Some(creds) = &req.credentials else {
            return Ok(None);
        };
        match self.users.by_access_key(&creds.access_key).await? {
            Some(user) => Ok(Some(user)),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }

    /// The authenticated caller, required.
    pub(crate) async fn user<T>(&self, req: &S3Request<T>) -> S3Result<UserRecord> {
        self.caller(req)
            .await?
            .ok_or_else(|| s3_error!(AccessDenied, "authentication required"))
    }

    /// Bucket `name` if `caller` may do `action` on it ([`crate::authz::decide`]), as read
    /// within [`crate::buckets::BUCKET_CACHE_TTL`]. A bucket that does not exist is
    /// NoSuchBucket, before any AccessDenied. For an action on an object, the decision waits
    /// for the object: [`may_on_object`]. `cx` holds the request's [`Facts`].
    pub(crate) async fn bucket(
        &self,
        cx: &Extensions,
        caller: Option<&UserRecord>,
        name: &str,
        action: Action,
    ) -> S3Result<BucketRecord> {
        let bucket = self
            .buckets
            .get_cached(name)
            .await?
            .ok_or_else(|| crate::buckets::no_such_bucket(name))?;
        Self::allowed(cx, caller, bucket, action)
    }

    /// Like [`ShoalS3::bucket`], with the record read now: for changes to the bucket
    /// itself (delete, ACL), which must not act on a record another gateway replaced.
    pub(crate) async fn bucket_now(
        &self,
        cx: &Extensions,
        caller: Option<&UserRecord>,
        name: &str,
        action: Action,
    ) -> S3Result<BucketRecord> {
        let bucket = self.buckets.must_get(name).await?;
        Self::allowed(cx, caller, bucket, action)
    }

    /// Bucket `name` for a call only its owner makes (without a policy saying otherwise),
    /// read now; `action` names the call for policies.
    pub(crate) async fn owner_call<T>(
        &self,
        req: &S3Request<T>,
        name: &str,
        action: &'static str,
    ) -> S3Result<BucketRecord> {
        let user = self.user(req).await?;
        self.bucket_now(
            &req.extensions,
            Some(&user),
            name,
            Action::OwnerOnly(action),
        )
        .await
    }

    /// Bucket `name`, deciding nothing yet (a request on many keys decides per key).
    pub(crate) async fn bucket_record(&self, name: &str) -> S3Result<BucketRecord> {
        Ok(self
            .buckets
            .get_cached(name)
            .await?
            .ok_or_else(|| crate::buckets::no_such_bucket(name))?)
    }

    fn allowed(
        cx: &Extensions,
        caller: Option<&UserRecord>,
        bucket: BucketRecord,
        action: Action,
    ) -> S3Result<BucketRecord> {
        if action.on_object() || may_on_bucket(cx, caller, &bucket, action) {
            Ok(bucket)
        } else {
            Err(s3_error!(AccessDenied))
        }
    }
}

/// Whether `caller` may do `action`, which needs no object's record, on `bucket` (an
/// action on an object names the request's key to the policy).
pub(crate) fn may_on_bucket(
    cx: &Extensions,
    caller: Option<&UserRecord>,
    bucket: &BucketRecord,
    action: Action,
) -> bool {
    may_on_key(cx, caller, bucket, Subject::default(), action)
}

/// [`may_on_bucket`] for an action on `subject`, when one request acts on many keys
/// (DeleteObjects).
pub(crate) fn may_on_key(
    cx: &Extensions,
    caller: Option<&UserRecord>,
    bucket: &BucketRecord,
    subject: Subject<'_>,
    action: Action,
) -> bool {
    let verdicts = facts::policy_verdicts(cx.get(), caller, bucket, action, subject, None);
    let acl = effective_acl(bucket, &bucket.acl);
    let owned = Owned {
        owner: &bucket.owner,
        acl: &acl,
    };
    authz::decide(uid(caller), action, owned, None, verdicts) == Decision::Allow
}

/// An ACL of `bucket` or of an object in it, as decisions read it: ownership controls may
/// turn ACLs off, a public access block may have public grants ignored.
fn effective_acl(bucket: &BucketRecord, acl: &Acl) -> Acl {
    acl.effective(
        bucket.ownership.unwrap_or_default(),
        bucket.public_access_block.as_ref(),
    )
}

/// Whether `caller` may do `action` on version `meta` of `subject.key` in `bucket`.
pub(crate) fn may_on_object(
    cx: &Extensions,
    caller: Option<&UserRecord>,
    bucket: &BucketRecord,
    subject: Subject<'_>,
    meta: &ObjectMeta,
    action: Action,
) -> bool {
    // With ACLs off, everything in the bucket is its owner's.
    let enforced = bucket.ownership == Some(Ownership::BucketOwnerEnforced);
    let object_acl = effective_acl(bucket, &meta.acl);
    let object = Owned {
        owner: if enforced { &bucket.owner } else { &meta.owner },
        acl: &object_acl,
    };
    let bucket_acl = effective_acl(bucket, &bucket.acl);
    let owned = Owned {
        owner: &bucket.owner,
        acl: &bucket_acl,
    };
    let verdicts = facts::policy_verdicts(cx.get(), caller, bucket, action, subject, Some(meta));
    authz::decide(uid(caller), action, owned, Some(object), verdicts) == Decision::Allow
}

/// The uid of a caller (`None`: anonymous).
pub(crate) fn uid(caller: Option<&UserRecord>) -> Option<&str> {
    caller.map(|u| u.uid.as_str())
}

#[async_trait::async_trait]
impl S3 for ShoalS3 {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        bucket_ops::list_buckets(self, req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        bucket_ops::create_bucket(self, req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        bucket_ops::head_bucket(self, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        bucket_ops::delete_bucket(self, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        bucket_ops::get_bucket_location(self, req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        acl_ops::get_bucket_acl(self, req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        acl_ops::put_bucket_acl(self, req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        ownership_ops::put_bucket_ownership_controls(self, req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        ownership_ops::get_bucket_ownership_controls(self, req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        ownership_ops::delete_bucket_ownership_controls(self, req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        ownership_ops::put_public_access_block(self, req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        ownership_ops::get_public_access_block(self, req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        ownership_ops::delete_public_access_block(self, req).await
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        cors_ops::put_bucket_cors(self, req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        cors_ops::get_bucket_cors(self, req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        cors_ops::delete_bucket_cors(self, req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        attributes_ops::get_object_attributes(self, req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        bucket_ops::put_bucket_tagging(self, req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        bucket_ops::get_bucket_tagging(self, req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        bucket_ops::delete_bucket_tagging(self, req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        policy_ops::put_bucket_policy(self, req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        policy_ops::get_bucket_policy(self, req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        policy_ops::delete_bucket_policy(self, req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        policy_ops::get_bucket_policy_status(self, req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        version_ops::get_bucket_versioning(self, req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        version_ops::put_bucket_versioning(self, req).await
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        lock_ops::put_object_lock_configuration(self, req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        lock_ops::get_object_lock_configuration(self, req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        lock_ops::put_object_retention(self, req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        lock_ops::get_object_retention(self, req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        lock_ops::put_object_legal_hold(self, req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        lock_ops::get_object_legal_hold(self, req).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        lifecycle_ops::put_bucket_lifecycle_configuration(self, req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        lifecycle_ops::get_bucket_lifecycle_configuration(self, req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        lifecycle_ops::delete_bucket_lifecycle(self, req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        object_ops::put_object(self, req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        object_ops::get_object(self, req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        object_ops::head_object(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        object_ops::delete_object(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        object_ops::delete_objects(self, req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        object_ops::copy_object(self, req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        object_ops::get_object_tagging(self, req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        object_ops::put_object_tagging(self, req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        object_ops::delete_object_tagging(self, req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        acl_ops::get_object_acl(self, req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        acl_ops::put_object_acl(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        list_ops::list_objects(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        list_ops::list_objects_v2(self, req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        list_ops::list_object_versions(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart_ops::create_multipart_upload(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        multipart_ops::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart_ops::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart_ops::complete_multipart_upload(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart_ops::abort_multipart_upload(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart_ops::list_parts(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart_ops::list_multipart_uploads(self, req).await
    }
}
