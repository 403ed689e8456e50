//! Who may call what, before an operation runs. Signed requests pass here (the operation
//! itself asks [`crate::authz`]); anonymous requests pass only for the operations an ACL
//! can open to everyone, and the operation then asks the same. Every request's facts
//! (source address, time, condition keys; [`Facts`]) are read here for bucket policies. A request naming the
//! bucket's expected owner (`x-amz-expected-bucket-owner`) is refused unless it is the owner.

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::PostObjectInput;
use s3s::s3_error;
use s3s::{S3Request, S3Result};

use crate::buckets::Buckets;
use crate::s3::Facts;

/// Operations an anonymous caller may attempt (the ACLs decide in the operation,
/// [`crate::authz`]); every other needs a signature.
const ANONYMOUS_ALLOWED: &[&str] = &[
    "GetObject",
    "HeadObject",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "HeadBucket",
    "GetBucketAcl",
    "PutBucketAcl",
    "GetObjectAcl",
    "PutObjectAcl",
    "PutObject",
    "PostObject",
];

/// The header naming the account a caller expects to own the bucket it addresses.
const EXPECTED_OWNER: &str = "x-amz-expected-bucket-owner";

/// The gateway's access policy.
#[derive(Debug)]
pub struct Access {
    /// Bucket records, for `x-amz-expected-bucket-owner` (through the records' cache).
    pub buckets: Buckets,
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if let Some(refused) = crate::unsupported::refusal(cx.headers()) {
            return Err(refused);
        }
        // What bucket policies ask of the request, for the operation's decision.
        let peer = cx
            .extensions_mut()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let facts = Facts::of(
            cx.uri(),
            cx.headers(),
            peer,
            cx.s3_path().get_object_key(),
            time::OffsetDateTime::now_utc(),
        );
        cx.extensions_mut().insert(facts);
        // A bucket owned by another account than the one expected is AccessDenied (403), as
        // S3 answers; a bucket that does not exist is the operation's to report.
        if let (Some(expected), Some(bucket)) = (
            cx.headers().get(EXPECTED_OWNER),
            cx.s3_path().get_bucket_name(),
        ) && let Some(record) = self.buckets.get_cached(bucket).await?
            && expected.as_bytes() != record.owner.as_bytes()
        {
            return Err(s3_error!(
                AccessDenied,
                "the bucket is not owned by the expected account"
            ));
        }
        if cx.credentials().is_some() || ANONYMOUS_ALLOWED.contains(&cx.s3_op().name()) {
            Ok(())
        } else {
            Err(s3_error!(
                AccessDenied,
                "anonymous access is not allowed here"
            ))
        }
    }

    /// A browser's POST form names its key and asks for ACLs, tags, a class or object lock
    /// in its body: the facts policies read get them here. Encryption asked for in a form
    /// is refused as in headers.
    async fn post_object(&self, req: &mut S3Request<PostObjectInput>) -> S3Result<()> {
        let i = &req.input;
        let encryption = i.server_side_encryption.is_some()
            || i.sse_customer_algorithm.is_some()
            || i.sse_customer_key.is_some()
            || i.ssekms_key_id.is_some()
            || i.ssekms_encryption_context.is_some()
            || i.bucket_key_enabled.is_some();
        if encryption {
            return Err(s3_error!(
                NotImplemented,
                "server-side encryption is not supported yet (form field x-amz-server-side-encryption*)"
            ));
        }
        let retain = i.object_lock_retain_until_date.clone().map(|t| {
            let t: time::OffsetDateTime = t.into();
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        });
        let fields = [
            ("x-amz-acl", i.acl.as_ref().map(|a| a.as_str())),
            ("x-amz-grant-read", i.grant_read.as_deref()),
            ("x-amz-grant-read-acp", i.grant_read_acp.as_deref()),
            ("x-amz-grant-write-acp", i.grant_write_acp.as_deref()),
            ("x-amz-grant-full-control", i.grant_full_control.as_deref()),
            (
                "x-amz-storage-class",
                i.storage_class.as_ref().map(|c| c.as_str()),
            ),
            (
                "x-amz-object-lock-mode",
                i.object_lock_mode.as_ref().map(|m| m.as_str()),
            ),
            (
                "x-amz-object-lock-legal-hold",
                i.object_lock_legal_hold_status.as_ref().map(|h| h.as_str()),
            ),
            ("x-amz-object-lock-retain-until-date", retain.as_deref()),
        ];
        if let Some(facts) = req.extensions.get_mut::<Facts>() {
            facts.add_form(&i.key, &fields, i.tagging.as_deref());
        }
        Ok(())
    }
}
