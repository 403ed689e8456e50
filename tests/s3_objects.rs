//! S3 objects end to end through the official AWS SDK for Rust: deletes (single and batch),
//! CopyObject with its metadata and tagging directives, object tagging, and checksums
//! (Content-MD5, x-amz-checksum-* as headers and as aws-chunked trailers); version ids and
//! the headers of features not built yet (encryption) or not enabled (object lock).
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, Delete, MetadataDirective, ObjectIdentifier,
    ObjectLockLegalHoldStatus, ServerSideEncryption, Tag, Tagging, TaggingDirective,
};
use common::gateway::Cluster;
use common::s3::{
    Must, assert_same, base64, body, content_md5, crc32c_b64, delete_of, etag_of, expect_err, get,
    list_keys, md5, put, random_bytes, sha256_b64,
};

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_delete_copy_and_tag() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    for b in ["src", "dst"] {
        s3.create_bucket().bucket(b).send().await.must("create");
    }

    // DeleteObject is idempotent: a missing key is still 204.
    put(&s3, "src", "gone", b"x").await;
    for round in 0..2 {
        s3.delete_object()
            .bucket("src")
            .key("gone")
            .send()
            .await
            .must(&format!("delete (round {round})"));
    }
    expect_err(
        s3.get_object().bucket("src").key("gone").send().await,
        404,
        Some("NoSuchKey"),
        "get after delete",
    );

    // DeleteObjects, verbose: every key reported deleted, missing ones too.
    for k in ["d1", "d2", "d3", "q1", "q2"] {
        put(&s3, "src", k, k.as_bytes()).await;
    }
    let out = s3
        .delete_objects()
        .bucket("src")
        .delete(delete_of(&["d1", "d2", "d3", "never-existed"], false))
        .send()
        .await
        .must("DeleteObjects");
    let deleted: BTreeSet<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(
        deleted,
        BTreeSet::from(["d1", "d2", "d3", "never-existed"]),
        "DeleteObjects Deleted"
    );
    assert!(
        out.errors().is_empty(),
        "DeleteObjects Errors: {:?}",
        out.errors()
    );
    // Quiet: nothing reported on success.
    let out = s3
        .delete_objects()
        .bucket("src")
        .delete(delete_of(&["q1", "q2"], true))
        .send()
        .await
        .must("DeleteObjects quiet");
    assert!(
        out.deleted().is_empty(),
        "quiet mode reported {:?}",
        out.deleted()
    );
    assert!(
        out.errors().is_empty(),
        "quiet mode errors {:?}",
        out.errors()
    );
    assert!(
        list_keys(&s3, "src", "", 1000).await.is_empty(),
        "keys left after DeleteObjects"
    );

    // CopyObject, metadata COPY (the default): data, ETag and metadata follow.
    let data = random_bytes(5 * MIB + 7, 42);
    s3.put_object()
        .bucket("src")
        .key("orig")
        .body(ByteStream::from(data.clone()))
        .content_type("text/plain")
        .metadata("a", "1")
        .send()
        .await
        .must("put orig");
    let out = s3
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("src/orig")
        .send()
        .await
        .must("copy with COPY");
    let result = out.copy_object_result().expect("CopyObjectResult");
    assert_eq!(result.e_tag(), Some(etag_of(&data).as_str()), "copy ETag");
    assert!(result.last_modified().is_some(), "copy LastModified");
    let head = s3
        .head_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .must("head copy");
    assert_eq!(
        head.content_type(),
        Some("text/plain"),
        "COPY keeps Content-Type"
    );
    assert_eq!(
        head.metadata().and_then(|m| m.get("a")).map(String::as_str),
        Some("1"),
        "COPY keeps metadata"
    );
    assert_same(&get(&s3, "dst", "copy").await, &data, "copied data");

    // REPLACE: new metadata only.
    s3.copy_object()
        .bucket("dst")
        .key("replaced")
        .copy_source("src/orig")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/json")
        .metadata("b", "2")
        .send()
        .await
        .must("copy with REPLACE");
    let head = s3
        .head_object()
        .bucket("dst")
        .key("replaced")
        .send()
        .await
        .must("head replaced");
    assert_eq!(
        head.content_type(),
        Some("application/json"),
        "REPLACE sets Content-Type"
    );
    let meta: BTreeMap<String, String> = head
        .metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    assert_eq!(
        meta,
        BTreeMap::from([("b".to_string(), "2".to_string())]),
        "REPLACE replaces metadata"
    );
    assert_same(&get(&s3, "dst", "replaced").await, &data, "replaced data");

    // Copy preconditions and errors.
    expect_err(
        s3.copy_object()
            .bucket("dst")
            .key("x")
            .copy_source("src/orig")
            .copy_source_if_match("\"0123456789abcdef\"")
            .send()
            .await,
        412,
        Some("PreconditionFailed"),
        "x-amz-copy-source-if-match mismatch",
    );
    s3.copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("src/orig")
        .copy_source_if_match(etag_of(&data))
        .send()
        .await
        .must("x-amz-copy-source-if-match match");
    // S3's documented precedence for copies: a matching if-match wins over a failing
    // if-unmodified-since (the copy goes ahead), and a failing if-none-match wins over a
    // passing if-modified-since (412, never 304).
    let long_ago = aws_sdk_s3::primitives::DateTime::from_secs(1_000_000_000);
    s3.copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("src/orig")
        .copy_source_if_match(etag_of(&data))
        .copy_source_if_unmodified_since(long_ago)
        .send()
        .await
        .must("if-match true, if-unmodified-since false: copied");
    expect_err(
        s3.copy_object()
            .bucket("dst")
            .key("x")
            .copy_source("src/orig")
            .copy_source_if_none_match(etag_of(&data))
            .copy_source_if_modified_since(long_ago)
            .send()
            .await,
        412,
        Some("PreconditionFailed"),
        "if-none-match false, if-modified-since true",
    );
    expect_err(
        s3.copy_object()
            .bucket("dst")
            .key("x")
            .copy_source("src/orig")
            .copy_source_if_unmodified_since(long_ago)
            .send()
            .await,
        412,
        Some("PreconditionFailed"),
        "if-unmodified-since false alone",
    );
    expect_err(
        s3.copy_object()
            .bucket("dst")
            .key("y")
            .copy_source("src/missing")
            .send()
            .await,
        404,
        Some("NoSuchKey"),
        "copy from a missing key",
    );
    expect_err(
        s3.copy_object()
            .bucket("src")
            .key("orig")
            .copy_source("src/orig")
            .send()
            .await,
        400,
        Some("InvalidRequest"),
        "copy onto itself without changing anything",
    );
    s3.copy_object()
        .bucket("src")
        .key("orig")
        .copy_source("src/orig")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("a", "3")
        .send()
        .await
        .must("copy onto itself with REPLACE (a metadata update)");
    let head = s3
        .head_object()
        .bucket("src")
        .key("orig")
        .send()
        .await
        .must("head orig");
    assert_eq!(
        head.metadata().and_then(|m| m.get("a")).map(String::as_str),
        Some("3"),
        "metadata updated in place"
    );
    assert_same(
        &get(&s3, "src", "orig").await,
        &data,
        "data kept by an in-place copy",
    );

    // Tagging: put, get, delete; tags given at PutObject; tags follow a copy.
    let tags = |pairs: &[(&str, &str)]| {
        Tagging::builder()
            .set_tag_set(Some(
                pairs
                    .iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    let tag_map = |set: &[Tag]| -> BTreeMap<String, String> {
        set.iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    };
    s3.put_object_tagging()
        .bucket("src")
        .key("orig")
        .tagging(tags(&[("env", "test"), ("team", "storage")]))
        .send()
        .await
        .must("PutObjectTagging");
    let got = s3
        .get_object_tagging()
        .bucket("src")
        .key("orig")
        .send()
        .await
        .must("GetObjectTagging");
    assert_eq!(
        tag_map(got.tag_set()),
        BTreeMap::from([
            ("env".into(), "test".into()),
            ("team".into(), "storage".into())
        ]),
        "tags after PutObjectTagging"
    );
    let got = s3
        .get_object()
        .bucket("src")
        .key("orig")
        .send()
        .await
        .must("get tagged");
    assert_eq!(got.tag_count(), Some(2), "x-amz-tagging-count");
    s3.copy_object()
        .bucket("dst")
        .key("tagged-copy")
        .copy_source("src/orig")
        .send()
        .await
        .must("copy tagged");
    let got = s3
        .get_object_tagging()
        .bucket("dst")
        .key("tagged-copy")
        .send()
        .await
        .must("tags of the copy");
    assert_eq!(
        got.tag_set().len(),
        2,
        "tags follow a copy by default (x-amz-tagging-directive COPY)"
    );
    s3.copy_object()
        .bucket("dst")
        .key("retagged-copy")
        .copy_source("src/orig")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("only=this")
        .send()
        .await
        .must("copy with tagging REPLACE");
    let got = s3
        .get_object_tagging()
        .bucket("dst")
        .key("retagged-copy")
        .send()
        .await
        .must("tags of the re-tagged copy");
    assert_eq!(
        tag_map(got.tag_set()),
        BTreeMap::from([("only".into(), "this".into())]),
        "tagging REPLACE"
    );
    s3.delete_object_tagging()
        .bucket("src")
        .key("orig")
        .send()
        .await
        .must("DeleteObjectTagging");
    let got = s3
        .get_object_tagging()
        .bucket("src")
        .key("orig")
        .send()
        .await
        .must("GetObjectTagging after delete");
    assert!(
        got.tag_set().is_empty(),
        "tags after delete: {:?}",
        got.tag_set()
    );
    s3.put_object()
        .bucket("src")
        .key("born-tagged")
        .tagging("project=shoal&tier=hot")
        .body(ByteStream::from_static(b"t"))
        .send()
        .await
        .must("put with x-amz-tagging");
    let got = s3
        .get_object_tagging()
        .bucket("src")
        .key("born-tagged")
        .send()
        .await
        .must("tags given at PUT");
    assert_eq!(
        tag_map(got.tag_set()),
        BTreeMap::from([
            ("project".into(), "shoal".into()),
            ("tier".into(), "hot".into())
        ]),
        "tags from x-amz-tagging"
    );
    expect_err(
        s3.get_object_tagging()
            .bucket("src")
            .key("missing")
            .send()
            .await,
        404,
        Some("NoSuchKey"),
        "tags of a missing key",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_and_digests_are_verified_and_returned() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("sums")
        .send()
        .await
        .must("create");

    // CRC32, SHA1 and CRC64NVME: the SDK computes the value itself and the gateway refuses a
    // mismatch, so an accepted PUT means both agree; the value must come back on GET.
    let small = random_bytes(70_001, 8);
    for algorithm in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        let key = format!("{algorithm:?}");
        let put = s3
            .put_object()
            .bucket("sums")
            .key(&key)
            .checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(small.clone()))
            .send()
            .await
            .must(&format!("put {key}"));
        let got = s3
            .get_object()
            .bucket("sums")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .must(&format!("get {key}"));
        let (sent, back) = match algorithm {
            ChecksumAlgorithm::Crc32 => (put.checksum_crc32(), got.checksum_crc32()),
            ChecksumAlgorithm::Sha1 => (put.checksum_sha1(), got.checksum_sha1()),
            _ => (put.checksum_crc64_nvme(), got.checksum_crc64_nvme()),
        };
        assert!(sent.is_some_and(|v| !v.is_empty()), "{key}: PUT checksum");
        assert_eq!(sent, back, "{key}: stored and returned checksum");
        assert_same(&body(got.body).await, &small, &key);
    }

    // In-memory bodies: the SDK sends the checksum as a header. Files: as an aws-chunked
    // trailer (signed chunks, since the endpoint is plain http).
    let data = random_bytes(3 * MIB + 333, 9);
    let file = cluster.dir().join("upload.bin");
    std::fs::write(&file, &data).unwrap();
    for streaming in [false, true] {
        for algorithm in [ChecksumAlgorithm::Crc32C, ChecksumAlgorithm::Sha256] {
            let key = format!("{algorithm:?}-streaming-{streaming}");
            let upload = if streaming {
                ByteStream::from_path(&file).await.unwrap()
            } else {
                ByteStream::from(data.clone())
            };
            let put = s3
                .put_object()
                .bucket("sums")
                .key(&key)
                .checksum_algorithm(algorithm.clone())
                .content_encoding("gzip")
                .body(upload)
                .send()
                .await
                .must(&format!("put {key}"));
            assert_eq!(put.e_tag(), Some(etag_of(&data).as_str()), "{key}: ETag");
            let got = s3
                .get_object()
                .bucket("sums")
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .must(&format!("get {key}"));
            match algorithm {
                ChecksumAlgorithm::Crc32C => {
                    let want = crc32c_b64(&data);
                    assert_eq!(
                        put.checksum_crc32_c(),
                        Some(want.as_str()),
                        "{key}: PUT x-amz-checksum-crc32c"
                    );
                    assert_eq!(
                        got.checksum_crc32_c(),
                        Some(want.as_str()),
                        "{key}: GET x-amz-checksum-crc32c"
                    );
                }
                _ => {
                    let want = sha256_b64(&data);
                    assert_eq!(
                        put.checksum_sha256(),
                        Some(want.as_str()),
                        "{key}: PUT x-amz-checksum-sha256"
                    );
                    assert_eq!(
                        got.checksum_sha256(),
                        Some(want.as_str()),
                        "{key}: GET x-amz-checksum-sha256"
                    );
                }
            }
            // aws-chunked is a transfer detail: S3 stores the object without it.
            assert_eq!(
                got.content_encoding(),
                Some("gzip"),
                "{key}: stored Content-Encoding"
            );
            assert_eq!(
                got.content_length(),
                Some(data.len() as i64),
                "{key}: decoded length"
            );
            assert_same(&body(got.body).await, &data, &key);
        }
    }

    // Content-MD5: right passes, wrong is BadDigest, malformed is InvalidDigest; a refused
    // PUT leaves nothing behind.
    let small = b"digest me".to_vec();
    let put_md5 = |key: &'static str, md5: String| {
        s3.put_object()
            .bucket("sums")
            .key(key)
            .content_md5(md5)
            .body(ByteStream::from(small.clone()))
    };
    put_md5("md5-ok", content_md5(&small))
        .send()
        .await
        .must("put with the right Content-MD5");
    expect_err(
        put_md5("md5-bad", content_md5(b"something else"))
            .send()
            .await,
        400,
        Some("BadDigest"),
        "wrong Content-MD5",
    );
    expect_err(
        put_md5("md5-junk", "not base64 at all!".into())
            .send()
            .await,
        400,
        Some("InvalidDigest"),
        "malformed Content-MD5",
    );
    expect_err(
        put_md5("md5-short", base64(&md5(&small)[..8])).send().await,
        400,
        Some("InvalidDigest"),
        "Content-MD5 of 8 bytes",
    );
    // An empty Content-MD5 header (the SDK drops an empty value, so it is set raw).
    expect_err(
        put_md5("md5-empty", content_md5(&small))
            .customize()
            .mutate_request(|req| {
                req.headers_mut().insert("content-md5", "");
            })
            .send()
            .await,
        400,
        Some("InvalidDigest"),
        "empty Content-MD5",
    );
    // A checksum the caller computed wrongly.
    expect_err(
        s3.put_object()
            .bucket("sums")
            .key("crc-bad")
            .checksum_crc32_c(crc32c_b64(b"something else"))
            .body(ByteStream::from(small.clone()))
            .send()
            .await,
        400,
        Some("BadDigest"),
        "wrong x-amz-checksum-crc32c",
    );
    for key in ["md5-bad", "md5-junk", "md5-short", "md5-empty", "crc-bad"] {
        expect_err(
            s3.head_object().bucket("sums").key(key).send().await,
            404,
            None,
            &format!("{key} was stored"),
        );
    }
}

/// A bucket that never had versioning keeps one version per object, named "null": any other
/// version id is NoSuchVersion and never touches the current object (a DELETE naming a
/// version that does not exist once deleted the object). Until encryption exists, its
/// headers are refused, never accepted and ignored; so are object lock's in a bucket
/// without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_ids_name_only_null_and_unbuilt_features_are_refused() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("vers")
        .send()
        .await
        .must("create");
    put(&s3, "vers", "k", b"current").await;
    let bogus = "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY";

    expect_err(
        s3.get_object()
            .bucket("vers")
            .key("k")
            .version_id(bogus)
            .send()
            .await,
        404,
        Some("NoSuchVersion"),
        "GET of another version",
    );
    expect_err(
        s3.head_object()
            .bucket("vers")
            .key("k")
            .version_id(bogus)
            .send()
            .await,
        404,
        None,
        "HEAD of another version",
    );
    expect_err(
        s3.delete_object()
            .bucket("vers")
            .key("k")
            .version_id(bogus)
            .send()
            .await,
        404,
        Some("NoSuchVersion"),
        "DELETE of another version",
    );
    let out = s3
        .delete_objects()
        .bucket("vers")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("k")
                        .version_id(bogus)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .must("DeleteObjects");
    assert!(out.deleted().is_empty(), "{out:?}");
    assert_eq!(out.errors()[0].code(), Some("NoSuchVersion"));
    assert_eq!(out.errors()[0].version_id(), Some(bogus));
    expect_err(
        s3.get_object_tagging()
            .bucket("vers")
            .key("k")
            .version_id(bogus)
            .send()
            .await,
        404,
        Some("NoSuchVersion"),
        "GetObjectTagging of another version",
    );
    expect_err(
        s3.copy_object()
            .bucket("vers")
            .key("copy")
            .copy_source(format!("vers/k?versionId={bogus}"))
            .send()
            .await,
        404,
        Some("NoSuchVersion"),
        "CopyObject from another version",
    );
    // Nothing touched the object; "null" names it.
    let got = s3
        .get_object()
        .bucket("vers")
        .key("k")
        .version_id("null")
        .send()
        .await
        .must("GET null");
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"current"
    );
    s3.delete_object()
        .bucket("vers")
        .key("k")
        .version_id("null")
        .send()
        .await
        .must("DELETE null");
    expect_err(
        s3.head_object().bucket("vers").key("k").send().await,
        404,
        None,
        "HEAD after deleting null",
    );

    // Encryption, and object lock where the bucket has none: refused before anything is
    // stored.
    let key = [7u8; 32];
    expect_err(
        s3.put_object()
            .bucket("vers")
            .key("secret")
            .body(ByteStream::from_static(b"plaintext"))
            .sse_customer_algorithm("AES256")
            .sse_customer_key(base64(&key))
            .sse_customer_key_md5(base64(&md5(&key)))
            .send()
            .await,
        501,
        Some("NotImplemented"),
        "PUT with SSE-C",
    );
    expect_err(
        s3.put_object()
            .bucket("vers")
            .key("secret")
            .body(ByteStream::from_static(b"plaintext"))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await,
        501,
        Some("NotImplemented"),
        "PUT with SSE-S3",
    );
    expect_err(
        s3.create_multipart_upload()
            .bucket("vers")
            .key("secret")
            .sse_customer_algorithm("AES256")
            .sse_customer_key(base64(&key))
            .sse_customer_key_md5(base64(&md5(&key)))
            .send()
            .await,
        501,
        Some("NotImplemented"),
        "CreateMultipartUpload with SSE-C",
    );
    expect_err(
        s3.put_object()
            .bucket("vers")
            .key("locked")
            .body(ByteStream::from_static(b"x"))
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .send()
            .await,
        400,
        Some("InvalidRequest"),
        "PUT with a legal hold in a bucket without object lock",
    );
    assert!(
        list_keys(&s3, "vers", "", 1000).await.is_empty(),
        "nothing stored"
    );
}
