//! Checks of a request that s3s leaves out, made before the request reaches it: a refusal
//! here answers the request with that S3 error and s3s never sees it.

use http::HeaderMap;
use s3s::{S3Error, s3_error};

/// The refusal for a request S3 would refuse before reading it, if any: a presigned URL's
/// expiry out of range ([`crate::presign::expires_refusal`]), an empty Content-MD5 (s3s
/// reads an empty header as none, and would store the body unchecked).
pub fn refusal(headers: &HeaderMap, query: Option<&str>) -> Option<S3Error> {
    if headers
        .get("content-md5")
        .is_some_and(|v| v.as_bytes().iter().all(u8::is_ascii_whitespace))
    {
        return Some(s3_error!(
            InvalidDigest,
            "the Content-MD5 you specified is not valid"
        ));
    }
    crate::presign::expires_refusal(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;

    fn code(headers: &[(&'static str, &'static str)], query: Option<&str>) -> Option<S3ErrorCode> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, http::HeaderValue::from_static(v));
        }
        refusal(&map, query).map(|e| e.code().clone())
    }

    #[test]
    fn an_empty_content_md5_is_an_invalid_digest_and_a_present_one_is_left_to_s3s() {
        for empty in ["", " "] {
            assert_eq!(
                code(&[("content-md5", empty)], None),
                Some(S3ErrorCode::InvalidDigest)
            );
        }
        assert_eq!(code(&[("content-md5", "junk")], None), None);
        assert_eq!(code(&[], None), None);
        assert_eq!(
            code(&[], Some("X-Amz-Expires=0")),
            Some(S3ErrorCode::AuthorizationQueryParametersError)
        );
    }
}
