//! Checks of presigned URLs that s3s leaves out, made before a request reaches it: S3 takes
//! `X-Amz-Expires` only from 1 second to 7 days, and answers anything else with
//! AuthorizationQueryParametersError (400) rather than by checking the signature.

use s3s::{S3Error, s3_error};

/// The longest validity S3 allows a presigned URL: 7 days, in seconds.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// The refusal for a request whose query carries an `X-Amz-Expires` S3 does not accept.
pub fn expires_refusal(query: Option<&str>) -> Option<S3Error> {
    let value = query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "X-Amz-Expires")
        .map(|(_, v)| v)?;
    match value.parse::<u64>() {
        Ok(secs) if (1..=MAX_EXPIRES_SECS).contains(&secs) => None,
        Ok(0) => Some(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires must be at least 1 second"
        )),
        Ok(_) => Some(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_SECS}"
        )),
        Err(_) => Some(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires should be a number of seconds, not {value:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;

    fn refused(query: &str) -> bool {
        let e = expires_refusal(Some(query));
        if let Some(e) = &e {
            assert_eq!(*e.code(), S3ErrorCode::AuthorizationQueryParametersError);
        }
        e.is_some()
    }

    #[test]
    fn expires_from_one_second_to_a_week_pass_others_are_refused() {
        let q = |e: &str| format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={e}&x=1");
        for ok in ["1", "300", "604800"] {
            assert!(!refused(&q(ok)), "{ok}");
        }
        for bad in ["0", "604801", "-1", "soon", ""] {
            assert!(refused(&q(bad)), "{bad}");
        }
        // Not presigned, or no expiry named: nothing to check here.
        assert!(expires_refusal(None).is_none());
        assert!(!refused("list-type=2&prefix=a"));
        assert!(!refused("x-amz-expires=0"));
    }
}
