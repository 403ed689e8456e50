//! Request headers of S3 features the gateway does not have yet. A request carrying one is
//! refused with NotImplemented before anything runs: accepting it and ignoring the header
//! would store plaintext a client asked to encrypt.

use http::HeaderMap;
use s3s::{S3Error, s3_error};

/// Header name prefixes (lowercase) and the feature each one asks for.
const REFUSED: &[(&str, &str)] = &[
    // x-amz-server-side-encryption, -customer-algorithm, -customer-key(-MD5),
    // -aws-kms-key-id, -context, -bucket-key-enabled
    ("x-amz-server-side-encryption", "server-side encryption"),
    (
        "x-amz-copy-source-server-side-encryption",
        "server-side encryption",
    ),
];

/// The refusal for a request whose `headers` ask for a feature not built yet, if any.
pub fn refusal(headers: &HeaderMap) -> Option<S3Error> {
    for name in headers.keys() {
        let name = name.as_str();
        if let Some((_, feature)) = REFUSED.iter().find(|(p, _)| name.starts_with(p)) {
            return Some(s3_error!(
                NotImplemented,
                "{feature} is not supported yet (header {name})"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn encryption_headers_are_refused_others_pass() {
        for refused in [
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-server-side-encryption-customer-key", "a2V5"),
            (
                "x-amz-copy-source-server-side-encryption-customer-key",
                "a2V5",
            ),
        ] {
            let e = refusal(&headers(&[("content-type", "text/plain"), refused]));
            let e = e.unwrap_or_else(|| panic!("{refused:?} passed"));
            assert_eq!(*e.code(), S3ErrorCode::NotImplemented);
            assert!(e.message().unwrap().contains(refused.0));
        }
        for fine in [
            ("x-amz-bucket-object-lock-enabled", "true"),
            ("x-amz-object-lock-mode", "GOVERNANCE"),
            ("x-amz-meta-server-side-encryption", "mine"),
            ("x-amz-storage-class", "STANDARD"),
        ] {
            assert!(refusal(&headers(&[fine])).is_none(), "{fine:?} refused");
        }
    }
}
