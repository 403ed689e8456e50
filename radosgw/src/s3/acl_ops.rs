//! ACLs at the S3 interface: what a request grants (`x-amz-acl`, `x-amz-grant-*`, an
//! AccessControlPolicy body), checked against the users that exist, and the documents
//! Get{Bucket,Object}Acl show back.

use s3s::dto::{self, *};
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use super::convert;
use super::version_ops::permitted_version;
use crate::acl::{self, Acl, CannedAcl, DocumentGrant, GrantHeaders, Grantee, Ownership};
use crate::authz::Action;
use crate::error::GwError;
use crate::records::{BucketRecord, UserRecord};

/// `x-amz-grant-*` fields of an s3s input, as [`GrantHeaders`].
macro_rules! grant_headers {
    ($input:expr, write: $write:expr) => {
        $crate::acl::GrantHeaders {
            read: $input.grant_read.as_deref(),
            write: $write,
            read_acp: $input.grant_read_acp.as_deref(),
            write_acp: $input.grant_write_acp.as_deref(),
            full_control: $input.grant_full_control.as_deref(),
        }
    };
}
pub(super) use grant_headers;

/// Where an ACL goes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Target<'a> {
    /// A bucket being created.
    NewBucket,
    /// A bucket's own ACL.
    Bucket(&'a BucketRecord),
    /// An object in this bucket.
    Object(&'a BucketRecord),
}

impl<'a> Target<'a> {
    fn bucket(self) -> Option<&'a BucketRecord> {
        match self {
            Target::NewBucket => None,
            Target::Bucket(b) | Target::Object(b) => Some(b),
        }
    }

    /// The bucket owner the bucket-owner-* canned ACLs name (objects only).
    fn bucket_owner(self) -> Option<&'a str> {
        match self {
            Target::Object(b) => Some(&b.owner),
            _ => None,
        }
    }

    fn acls_off(self) -> bool {
        self.bucket()
            .is_some_and(|b| b.ownership == Some(Ownership::BucketOwnerEnforced))
    }
}

fn acls_not_supported() -> s3s::S3Error {
    s3_error!(
        AccessControlListNotSupported,
        "The bucket does not allow ACLs (object ownership is BucketOwnerEnforced)"
    )
}

/// A public ACL where the bucket's public access block refuses them is AccessDenied.
fn check_block(target: Target<'_>, acl: &Acl) -> S3Result<()> {
    let blocked = target
        .bucket()
        .and_then(|b| b.public_access_block)
        .is_some_and(|b| b.block_public_acls);
    if blocked && acl.is_public() {
        return Err(s3_error!(
            AccessDenied,
            "the bucket's public access block refuses public ACLs"
        ));
    }
    Ok(())
}

/// Who owns an object `writer` writes into `bucket` with the canned ACL `canned` or the
/// grant headers `grants`, and the ACL it gets ([`requested`]; ownership controls decide
/// the owner).
pub(super) async fn object_write(
    s3: &ShoalS3,
    bucket: &BucketRecord,
    writer: &str,
    canned: Option<&str>,
    grants: &GrantHeaders<'_>,
) -> S3Result<(String, Acl)> {
    let acl = requested(s3, canned, grants, Target::Object(bucket)).await?;
    Ok((object_owner(bucket, writer, canned), acl))
}

/// Who owns an object `writer` writes into `bucket` asking for the canned ACL `canned`.
fn object_owner(bucket: &BucketRecord, writer: &str, canned: Option<&str>) -> String {
    let canned = canned.and_then(|c| CannedAcl::parse(c).ok());
    bucket
        .ownership
        .unwrap_or_default()
        .object_owner(&bucket.owner, writer, canned)
}

/// The ACL a write (PutObject, CopyObject, CreateMultipartUpload, CreateBucket) asks for:
/// a canned ACL or grant headers, not both; private without either. With ACLs off, only
/// `bucket-owner-full-control` may be asked for (as S3).
pub(super) async fn requested(
    s3: &ShoalS3,
    canned: Option<&str>,
    grants: &GrantHeaders<'_>,
    target: Target<'_>,
) -> S3Result<Acl> {
    if target.acls_off() {
        let fine = !grants.any() && matches!(canned, None | Some("bucket-owner-full-control"));
        return if fine {
            Ok(Acl::default())
        } else {
            Err(acls_not_supported())
        };
    }
    let bucket_owner = target.bucket_owner();
    let acl = match (canned, grants.any()) {
        (Some(_), true) => {
            return Err(s3_error!(
                InvalidRequest,
                "specifying both a canned ACL and grant headers is not allowed"
            ));
        }
        (Some(canned), false) => CannedAcl::parse(canned)?.grants(bucket_owner),
        (None, true) => grants.grants()?,
        (None, false) => Acl::default(),
    };
    check_block(target, &acl)?;
    check_users(s3, &acl).await?;
    Ok(acl)
}

/// The ACL a PutBucketAcl / PutObjectAcl sets: exactly one of a canned ACL, grant headers
/// or an AccessControlPolicy document.
async fn replacement(
    s3: &ShoalS3,
    canned: Option<&str>,
    grants: &GrantHeaders<'_>,
    document: Option<&AccessControlPolicy>,
    target: Target<'_>,
) -> S3Result<Acl> {
    if target.acls_off() {
        return Err(acls_not_supported());
    }
    let Some(document) = document else {
        if canned.is_none() && !grants.any() {
            return Err(s3_error!(
                MalformedACLError,
                "give x-amz-acl, x-amz-grant-* headers or an AccessControlPolicy document"
            ));
        }
        return requested(s3, canned, grants, target).await;
    };
    if canned.is_some() || grants.any() {
        return Err(s3_error!(
            UnexpectedContent,
            "an ACL is given by headers or by a document, not both"
        ));
    }
    let parsed: Vec<DocumentGrant<'_>> = document
        .grants
        .iter()
        .flatten()
        .map(|g| {
            let grantee = g.grantee.as_ref();
            DocumentGrant {
                kind: grantee.map_or("", |g| g.type_.as_str()),
                id: grantee.and_then(|g| g.id.as_deref()),
                uri: grantee.and_then(|g| g.uri.as_deref()),
                email: grantee.and_then(|g| g.email_address.as_deref()),
                permission: g.permission.as_ref().map(Permission::as_str),
            }
        })
        .collect();
    let acl = acl::from_document(&parsed)?;
    check_block(target, &acl)?;
    check_users(s3, &acl).await?;
    Ok(acl)
}

/// Every user an ACL names must exist (S3: InvalidArgument, "Invalid id").
async fn check_users(s3: &ShoalS3, acl: &Acl) -> S3Result<()> {
    for uid in acl.users() {
        if s3.users.get(uid).await?.is_none() {
            return Err(s3_error!(InvalidArgument, "Invalid id: no user {uid:?}"));
        }
    }
    Ok(())
}

/// The grants of `acl` on something `owner` owns, as S3 shows them.
async fn document(s3: &ShoalS3, acl: &Acl, owner: &Owner) -> S3Result<Vec<dto::Grant>> {
    let mut out = Vec::with_capacity(acl.grants.len());
    for g in &acl.grants {
        let grantee = match &g.grantee {
            Grantee::Owner => user_grantee(owner.clone()),
            Grantee::User(uid) => {
                let user = s3.users.get(uid).await?;
                user_grantee(convert::owner(uid, user.as_ref()))
            }
            group => dto::Grantee {
                type_: dto::Type::from_static(dto::Type::GROUP),
                uri: group.uri().map(str::to_owned),
                id: None,
                display_name: None,
                email_address: None,
            },
        };
        out.push(dto::Grant {
            grantee: Some(grantee),
            permission: Some(Permission::from(g.permission.as_str().to_owned())),
        });
    }
    Ok(out)
}

fn user_grantee(owner: Owner) -> dto::Grantee {
    dto::Grantee {
        id: owner.id,
        display_name: owner.display_name,
        type_: dto::Type::from_static(dto::Type::CANONICAL_USER),
        email_address: None,
        uri: None,
    }
}

/// The owner element for `uid`, with its display name.
async fn owner_of(s3: &ShoalS3, uid: &str, caller: Option<&UserRecord>) -> S3Result<Owner> {
    let user = match caller.filter(|u| u.uid == uid) {
        Some(u) => Some(u.clone()),
        None => s3.users.get(uid).await?,
    };
    Ok(convert::owner(uid, user.as_ref()))
}

pub(super) async fn get_bucket_acl(
    s3: &ShoalS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let caller = s3.caller(&req).await?;
    let bucket = s3
        .bucket(
            &req.extensions,
            caller.as_ref(),
            &req.input.bucket,
            Action::GetBucketAcl,
        )
        .await?;
    let owner = owner_of(s3, &bucket.owner, caller.as_ref()).await?;
    Ok(S3Response::new(GetBucketAclOutput {
        grants: Some(document(s3, &bucket.acl, &owner).await?),
        owner: Some(owner),
    }))
}

pub(super) async fn put_bucket_acl(
    s3: &ShoalS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let caller = s3.caller(&req).await?;
    let input = &req.input;
    let bucket = s3
        .bucket_now(
            &req.extensions,
            caller.as_ref(),
            &input.bucket,
            Action::PutBucketAcl,
        )
        .await?;
    let grants = grant_headers!(input, write: input.grant_write.as_deref());
    let canned = input.acl.as_ref().map(BucketCannedACL::as_str);
    let acl = replacement(
        s3,
        canned,
        &grants,
        input.access_control_policy.as_ref(),
        Target::Bucket(&bucket),
    )
    .await?;
    s3.buckets.set_acl(&bucket.name, acl).await?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

pub(super) async fn get_object_acl(
    s3: &ShoalS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let caller = s3.caller(&req).await?;
    let input = &req.input;
    let (bucket, _, meta) = permitted_version(
        s3,
        &req.extensions,
        caller.as_ref(),
        (&input.bucket, &input.key, input.version_id.as_deref()),
        Action::GetObjectAcl,
    )
    .await?;
    // With ACLs off, every object shows as the bucket owner's, under full control only
    // (also one written, with other grants, before they were turned off).
    let (owner, acl) = if bucket.ownership == Some(Ownership::BucketOwnerEnforced) {
        (bucket.owner.as_str(), Acl::default())
    } else {
        (meta.owner.as_str(), meta.acl.clone())
    };
    let owner = owner_of(s3, owner, caller.as_ref()).await?;
    Ok(S3Response::new(GetObjectAclOutput {
        grants: Some(document(s3, &acl, &owner).await?),
        owner: Some(owner),
        ..Default::default()
    }))
}

pub(super) async fn put_object_acl(
    s3: &ShoalS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let caller = s3.caller(&req).await?;
    let input = &req.input;
    let (bucket, which, meta) = permitted_version(
        s3,
        &req.extensions,
        caller.as_ref(),
        (&input.bucket, &input.key, input.version_id.as_deref()),
        Action::PutObjectAcl,
    )
    .await?;
    let grants = grant_headers!(input, write: input.grant_write.as_deref());
    let canned = input.acl.as_ref().map(ObjectCannedACL::as_str);
    let acl = replacement(
        s3,
        canned,
        &grants,
        input.access_control_policy.as_ref(),
        Target::Object(&bucket),
    )
    .await?;
    // Replaces the ACL of the version decided on; one written since is not touched.
    let tag = meta.tag.clone();
    s3.objects
        .update_meta(&bucket, &input.key, which.as_ref(), |m| {
            if m.tag != tag {
                return Err(GwError::s3(
                    S3ErrorCode::OperationAborted,
                    "the object changed while its ACL was replaced; try again",
                ));
            }
            m.acl = acl.clone();
            Ok(())
        })
        .await?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}
