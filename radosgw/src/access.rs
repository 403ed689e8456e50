//! Who may call what, before an operation runs. Signed requests pass here (the operation
//! itself checks ownership against the bucket); anonymous requests pass only for the reads
//! a public-read ACL can allow, and the operation then checks that ACL.

use s3s::S3Result;
use s3s::access::{S3Access, S3AccessContext};
use s3s::s3_error;

/// Operations an anonymous caller may attempt (the ACL decides in the operation).
const ANONYMOUS_READS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "ListObjects",
    "ListObjectsV2",
    "HeadBucket",
];

/// The gateway's access policy.
#[derive(Debug, Default)]
pub struct Access;

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if let Some(refused) = crate::unsupported::refusal(cx.headers()) {
            return Err(refused);
        }
        if cx.credentials().is_some() || ANONYMOUS_READS.contains(&cx.s3_op().name()) {
            Ok(())
        } else {
            Err(s3_error!(
                AccessDenied,
                "anonymous access is not allowed here"
            ))
        }
    }
}
