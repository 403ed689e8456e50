//! Conversions between stored records and s3s's DTOs, and the digest checks shared by
//! every upload path (PUT, part, copy).

use s3s::checksum::ChecksumHasher;
use s3s::dto::{self, ETag, Owner, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result, TrailingHeaders, s3_error};

use crate::objects::write::Written;
use crate::records::{Checksums, ObjectMeta, UserRecord};

/// A stored time as an S3 timestamp.
pub fn timestamp(ms: i64) -> Timestamp {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    Timestamp::from(at)
}

/// A timestamp in ms since the epoch.
pub fn to_ms(t: &Timestamp) -> i64 {
    let t: time::OffsetDateTime = t.clone().into();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The owner element for `uid` (display name when known).
pub fn owner(uid: &str, user: Option<&UserRecord>) -> Owner {
    Owner {
        id: Some(uid.to_owned()),
        display_name: Some(user.map_or_else(|| uid.to_owned(), |u| u.display_name.clone())),
    }
}

/// The object's ETag.
pub fn etag(meta: &ObjectMeta) -> ETag {
    ETag::Strong(meta.etag.clone())
}

/// Checks a request's `versionId` while buckets have no versioning: only "null" names the
/// (one) version an object has; any other id is NoSuchVersion, so a request that names a
/// version never acts on the current object by mistake.
pub fn only_null_version(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(other) => Err(s3_error!(
            NoSuchVersion,
            "no version {other:?}: this bucket keeps one version per object, \"null\""
        )),
    }
}

/// A hasher computing the checksums the client sent or asked for.
pub fn hasher_for(
    algorithm: Option<&dto::ChecksumAlgorithm>,
    given: &Checksums,
) -> S3Result<ChecksumHasher> {
    let mut h = ChecksumHasher::default();
    if given.crc32.is_some() {
        h.crc32 = Some(Default::default());
    }
    if given.crc32c.is_some() {
        h.crc32c = Some(Default::default());
    }
    if given.sha1.is_some() {
        h.sha1 = Some(Default::default());
    }
    if given.sha256.is_some() {
        h.sha256 = Some(Default::default());
    }
    if given.crc64nvme.is_some() {
        h.crc64nvme = Some(Default::default());
    }
    if let Some(alg) = algorithm {
        match alg.as_str() {
            dto::ChecksumAlgorithm::CRC32 => h.crc32 = Some(Default::default()),
            dto::ChecksumAlgorithm::CRC32C => h.crc32c = Some(Default::default()),
            dto::ChecksumAlgorithm::SHA1 => h.sha1 = Some(Default::default()),
            dto::ChecksumAlgorithm::SHA256 => h.sha256 = Some(Default::default()),
            dto::ChecksumAlgorithm::CRC64NVME => h.crc64nvme = Some(Default::default()),
            other => {
                return Err(s3_error!(
                    InvalidArgument,
                    "unsupported checksum algorithm {other:?}"
                ));
            }
        }
    }
    Ok(h)
}

/// Checksums named in trailing headers (sent after an aws-chunked body) override the
/// (absent) header values.
pub fn with_trailers(
    mut given: Checksums,
    trailers: Option<&TrailingHeaders>,
) -> S3Result<Checksums> {
    let Some(headers) = trailers.and_then(TrailingHeaders::take) else {
        return Ok(given);
    };
    let get = |name: &str| -> S3Result<Option<String>> {
        match headers.get(name) {
            Some(v) => Ok(Some(
                v.to_str()
                    .map_err(|_| s3_error!(InvalidArgument, "bad trailer {name}"))?
                    .to_owned(),
            )),
            None => Ok(None),
        }
    };
    given.crc32 = get("x-amz-checksum-crc32")?.or(given.crc32);
    given.crc32c = get("x-amz-checksum-crc32c")?.or(given.crc32c);
    given.sha1 = get("x-amz-checksum-sha1")?.or(given.sha1);
    given.sha256 = get("x-amz-checksum-sha256")?.or(given.sha256);
    given.crc64nvme = get("x-amz-checksum-crc64nvme")?.or(given.crc64nvme);
    Ok(given)
}

/// Checks Content-MD5 and every checksum the client gave against what the body hashed
/// to; returns the checksums to store (all computed ones).
pub fn verify(
    written: &Written,
    content_md5: Option<&str>,
    given: &Checksums,
) -> S3Result<Checksums> {
    if let Some(md5) = content_md5 {
        let want = crate::text::base64_decode(md5)
            .filter(|d| d.len() == 16)
            .ok_or_else(|| {
                s3_error!(InvalidDigest, "the Content-MD5 you specified is not valid")
            })?;
        if hex::encode(want) != written.md5_hex {
            return Err(s3_error!(
                BadDigest,
                "the Content-MD5 you specified did not match what we received"
            ));
        }
    }
    let got = &written.checksums;
    let pairs = [
        ("CRC32", &given.crc32, &got.checksum_crc32),
        ("CRC32C", &given.crc32c, &got.checksum_crc32c),
        ("SHA1", &given.sha1, &got.checksum_sha1),
        ("SHA256", &given.sha256, &got.checksum_sha256),
        ("CRC64NVME", &given.crc64nvme, &got.checksum_crc64nvme),
    ];
    for (name, want, got) in pairs {
        if let Some(want) = want
            && Some(want) != got.as_ref()
        {
            return Err(S3Error::with_message(
                S3ErrorCode::BadDigest,
                format!("the {name} checksum you specified did not match what we received"),
            ));
        }
    }
    Ok(Checksums::from(got.clone()))
}

/// The standard headers a request sets on a new object. s3s's input types (PutObject,
/// CreateMultipartUpload, CopyObject) share these field names but no trait, hence a macro.
macro_rules! standard_headers {
    ($input:expr) => {
        $crate::records::StandardHeaders {
            content_type: $input.content_type.clone(),
            content_encoding: $input
                .content_encoding
                .as_deref()
                .and_then($crate::s3::convert::stored_encoding),
            content_disposition: $input.content_disposition.clone(),
            content_language: $input.content_language.clone(),
            cache_control: $input.cache_control.clone(),
            expires_ms: $input.expires.as_ref().map($crate::s3::convert::to_ms),
        }
    };
}
pub(crate) use standard_headers;

/// The `x-amz-checksum-*` values a request or completed part carries (PutObject, UploadPart,
/// CompleteMultipartUpload's parts).
macro_rules! given_checksums {
    ($input:expr) => {
        $crate::records::Checksums {
            crc32: $input.checksum_crc32.clone(),
            crc32c: $input.checksum_crc32c.clone(),
            sha1: $input.checksum_sha1.clone(),
            sha256: $input.checksum_sha256.clone(),
            crc64nvme: $input.checksum_crc64nvme.clone(),
        }
    };
}
pub(crate) use given_checksums;

/// The `x-amz-copy-source-if-*` conditions of a copy request (CopyObject, UploadPartCopy).
macro_rules! copy_conditions {
    ($input:expr) => {
        $crate::s3::object_ops::ReadConditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
        }
    };
}
pub(crate) use copy_conditions;

/// The Content-Encoding to store: `aws-chunked` only describes the request's transfer
/// framing (S3 drops it), the rest is the object's.
pub fn stored_encoding(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// Parses an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded).
pub fn parse_tagging(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(header) = header else {
        return Ok(Vec::new());
    };
    let mut tags = Vec::new();
    for pair in header.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((url_decode(k)?, url_decode(v)?));
    }
    check_tags(&tags)?;
    Ok(tags)
}

/// S3's tag limits: at most 10, keys up to 128 characters, values up to 256, no repeats.
pub fn check_tags(tags: &[(String, String)]) -> S3Result<()> {
    let mut keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    if tags.len() > 10
        || keys.len() != tags.len()
        || tags
            .iter()
            .any(|(k, v)| k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256)
    {
        return Err(s3_error!(
            InvalidTag,
            "tags must be at most 10 distinct keys of 1-128 characters, values up to 256"
        ));
    }
    Ok(())
}

fn url_decode(s: &str) -> S3Result<String> {
    crate::text::url_decode(s)
        .ok_or_else(|| s3_error!(InvalidArgument, "bad percent-encoding in tagging"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_is_not_stored_as_an_encoding() {
        assert_eq!(stored_encoding("gzip,aws-chunked").as_deref(), Some("gzip"));
        assert_eq!(stored_encoding("aws-chunked"), None);
    }

    #[test]
    fn tagging_headers_parse_and_limits_hold() {
        assert_eq!(
            parse_tagging(Some("a=1&b%20c=d+e")).unwrap(),
            vec![("a".into(), "1".into()), ("b c".into(), "d e".into())]
        );
        assert!(parse_tagging(Some("a=1&a=2")).is_err());
        assert!(parse_tagging(Some("%zz=1")).is_err());
        assert!(only_null_version(None).is_ok());
        assert!(only_null_version(Some("null")).is_ok());
        let e = only_null_version(Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")).unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::NoSuchVersion);
    }
}
