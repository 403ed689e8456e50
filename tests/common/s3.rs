//! Helpers for S3 tests through the AWS SDK: asserting error codes and statuses, test data,
//! digests in the encodings S3 uses, and bulk operations.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse as SdkHttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresignedRequest;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use md5::Md5;
use sha2::{Digest, Sha256};

use super::http::http_request;

/// `.must("what")`: unwrap an SDK result, panicking with the whole error chain.
pub trait Must<T> {
    fn must(self, what: &str) -> T;
}

impl<T, E: std::error::Error + 'static> Must<T> for Result<T, E> {
    #[track_caller]
    fn must(self, what: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{what}: {}", DisplayErrorContext(&e)),
        }
    }
}

/// The HTTP status and S3 error code of a failed SDK call.
pub fn status_and_code<E: ProvideErrorMetadata>(
    err: &SdkError<E, SdkHttpResponse>,
) -> (Option<u16>, Option<String>) {
    let status = err.raw_response().map(|r| r.status().as_u16());
    (status, err.code().map(str::to_string))
}

/// Asserts that `res` failed with HTTP `status` and, if given, S3 error `code`.
#[track_caller]
pub fn expect_err<T: Debug, E>(
    res: Result<T, SdkError<E, SdkHttpResponse>>,
    status: u16,
    code: Option<&str>,
    what: &str,
) where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let err = match res {
        Ok(v) => panic!("{what}: expected {status} {code:?}, got success: {v:?}"),
        Err(e) => e,
    };
    let (got_status, got_code) = status_and_code(&err);
    assert_eq!(
        got_status,
        Some(status),
        "{what}: HTTP status (code {got_code:?}): {}",
        DisplayErrorContext(&err)
    );
    if let Some(code) = code {
        assert_eq!(
            got_code.as_deref(),
            Some(code),
            "{what}: S3 error code: {}",
            DisplayErrorContext(&err)
        );
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift64*: fast, reproducible, incompressible).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Asserts two payloads are equal without printing megabytes: reports lengths and the first
/// differing offset.
#[track_caller]
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {first:?}",
            got.len(),
            want.len()
        );
    }
}

/// The MD5 of `data`.
pub fn md5(data: &[u8]) -> Vec<u8> {
    Md5::digest(data).to_vec()
}

/// The ETag S3 gives a single-part object: the quoted hex MD5.
pub fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode(md5(data)))
}

/// Standard base64 with padding (as in Content-MD5 and x-amz-checksum-*).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Content-MD5` of `data`.
pub fn content_md5(data: &[u8]) -> String {
    base64(&md5(data))
}

/// `x-amz-checksum-crc32c` of `data`.
pub fn crc32c_b64(data: &[u8]) -> String {
    base64(&crc32c::crc32c(data).to_be_bytes())
}

/// `x-amz-checksum-sha256` of `data`.
pub fn sha256_b64(data: &[u8]) -> String {
    base64(&Sha256::digest(data))
}

/// Decodes `%XX` escapes and `+` (as S3's `encoding-type=url` writes a space).
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad %{hex}")));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| panic!("{s:?} decodes to non-UTF-8: {e}"))
}

/// PutObject of `data` under `bucket/key`.
pub async fn put(s3: &Client, bucket: &str, key: &str, data: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .must(&format!("put {bucket}/{key}"));
}

/// GetObject of `bucket/key`, the whole body.
pub async fn get(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .must(&format!("get {bucket}/{key}"));
    body(out.body).await
}

/// Reads a response body to the end.
pub async fn body(stream: ByteStream) -> Vec<u8> {
    stream
        .collect()
        .await
        .expect("read response body")
        .into_bytes()
        .to_vec()
}

/// Uploads `parts` as parts 1, 2, ... of upload `id` of `bucket/key`; returns them as
/// CompleteMultipartUpload lists them.
pub async fn upload_parts(
    s3: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: &[Vec<u8>],
) -> Vec<aws_sdk_s3::types::CompletedPart> {
    let mut done = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .must("UploadPart");
        done.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    done
}

/// Puts `keys` (each object's body is its key), `parallel` requests in flight.
pub async fn put_many(s3: &Client, bucket: &str, keys: &[String], parallel: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for key in keys {
        if tasks.len() >= parallel {
            tasks.join_next().await.unwrap().unwrap();
        }
        let (s3, bucket, key) = (s3.clone(), bucket.to_string(), key.clone());
        tasks.spawn(async move { put(&s3, &bucket, &key, key.as_bytes()).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// A DeleteObjects request body for `keys`.
pub fn delete_of(keys: &[&str], quiet: bool) -> Delete {
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    Delete::builder()
        .set_objects(Some(objects))
        .quiet(quiet)
        .build()
        .unwrap()
}

/// Every key of `bucket` under `prefix`, through ListObjectsV2 pages of `max_keys`.
pub async fn list_keys(s3: &Client, bucket: &str, prefix: &str, max_keys: i32) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(max_keys)
            .set_continuation_token(token.clone())
            .send()
            .await
            .must(&format!("list {bucket}/{prefix}"));
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_string),
        );
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return keys,
        }
    }
}

/// Path and query of a presigned URL (the host is the gateway's).
pub fn presigned_target(req: &PresignedRequest) -> String {
    let uri = req.uri();
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    after_scheme[after_scheme.find('/').unwrap_or(after_scheme.len())..].to_string()
}

/// The signed headers a presigned request must carry, without `host` (the raw client adds it).
pub fn presigned_headers(req: &PresignedRequest) -> Vec<(String, String)> {
    req.headers()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sends a presigned request with `body`; returns (status, error code, body).
pub fn send_presigned(
    addr: SocketAddr,
    req: &PresignedRequest,
    body: &[u8],
) -> (u16, Option<String>, Vec<u8>) {
    let headers = presigned_headers(req);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resp = http_request(addr, req.method(), &presigned_target(req), &headers, body);
    let code = resp.error_code();
    (resp.status, code, resp.body)
}

/// Waits until `check` holds (auth changes may take a moment to reach the gateway).
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
