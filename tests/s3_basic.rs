//! S3 end to end through the official AWS SDK for Rust: buckets, and objects' data, headers,
//! metadata, ranges and conditional requests, on a real cluster (one monitor, three OSDs, one
//! `shoal gateway`). Each test starts its own cluster, so each groups many checks, in order.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::BucketCannedAcl;
use common::gateway::Cluster;
use common::s3::{Must, assert_same, body, etag_of, expect_err, get, list_keys, put, random_bytes};

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_create_head_list_locate_delete() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();

    for name in ["alpha", "abc", "my.dotted.bucket-1", &"b".repeat(63)] {
        s3.create_bucket()
            .bucket(name)
            .send()
            .await
            .must(&format!("create valid bucket {name:?}"));
    }
    for bad in [
        "ab",
        &"x".repeat(64),
        "UpperCase",
        "under_score",
        "-leading-dash",
        "trailing-dash-",
        ".leading-dot",
        "double..dot",
        "192.168.5.4",
    ] {
        expect_err(
            s3.create_bucket().bucket(bad).send().await,
            400,
            Some("InvalidBucketName"),
            &format!("create invalid bucket {bad:?}"),
        );
    }
    // us-east-1 (the test region): re-creating your own bucket succeeds and changes
    // nothing (AWS would reset the ACL; a listed deviation, as RGW).
    s3.create_bucket()
        .bucket("alpha")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .must("re-create an own bucket in us-east-1");
    let acl = s3.get_bucket_acl().bucket("alpha").send().await;
    let acl = acl.must("GetBucketAcl after re-create");
    assert_eq!(acl.grants().len(), 1, "still private: {acl:?}");

    s3.head_bucket()
        .bucket("alpha")
        .send()
        .await
        .must("head existing bucket");
    expect_err(
        s3.head_bucket().bucket("no-such-bucket").send().await,
        404,
        None,
        "head missing bucket",
    );

    let listed = s3.list_buckets().send().await.must("list buckets");
    let owner = listed.owner().expect("ListBuckets has an Owner");
    assert_eq!(owner.id(), Some("tester"), "owner id");
    assert_eq!(
        owner.display_name(),
        Some("Test User"),
        "owner display name"
    );
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    let mut want = vec![
        "abc".to_string(),
        "alpha".to_string(),
        "b".repeat(63),
        "my.dotted.bucket-1".to_string(),
    ];
    want.sort();
    assert_eq!(
        names, want,
        "ListBuckets: every bucket once, sorted by name"
    );
    assert!(
        listed.buckets().iter().all(|b| b.creation_date().is_some()),
        "every bucket has a CreationDate: {:?}",
        listed.buckets()
    );

    let location = s3
        .get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .must("get bucket location");
    // S3 documents an empty LocationConstraint for us-east-1.
    assert_eq!(
        location
            .location_constraint()
            .map(|c| c.as_str())
            .unwrap_or(""),
        "",
        "GetBucketLocation in us-east-1"
    );
    expect_err(
        s3.get_bucket_location()
            .bucket("no-such-bucket")
            .send()
            .await,
        404,
        Some("NoSuchBucket"),
        "location of a missing bucket",
    );

    put(&s3, "alpha", "keep", b"x").await;
    expect_err(
        s3.delete_bucket().bucket("alpha").send().await,
        409,
        Some("BucketNotEmpty"),
        "delete a non-empty bucket",
    );
    s3.delete_object()
        .bucket("alpha")
        .key("keep")
        .send()
        .await
        .must("empty alpha");
    s3.delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .must("delete empty bucket");
    expect_err(
        s3.head_bucket().bucket("alpha").send().await,
        404,
        None,
        "head a deleted bucket",
    );
    expect_err(
        s3.delete_bucket().bucket("alpha").send().await,
        404,
        Some("NoSuchBucket"),
        "delete a missing bucket",
    );
    expect_err(
        s3.put_object()
            .bucket("alpha")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        404,
        Some("NoSuchBucket"),
        "put into a deleted bucket",
    );
    let listed = s3.list_buckets().send().await.must("list after delete");
    assert!(
        !listed.buckets().iter().any(|b| b.name() == Some("alpha")),
        "alpha still listed: {:?}",
        listed.buckets()
    );
    // The name is free again.
    s3.create_bucket()
        .bucket("alpha")
        .send()
        .await
        .must("re-create a deleted bucket");
    assert!(
        list_keys(&s3, "alpha", "", 1000).await.is_empty(),
        "a re-created bucket starts empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_with_metadata_ranges_and_conditions() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("data")
        .send()
        .await
        .must("create");

    // Sizes around the 4 MiB stripe.
    let sizes = [0, 1, 4 * MIB - 1, 4 * MIB, 4 * MIB + 1, 9 * MIB];
    for (i, &size) in sizes.iter().enumerate() {
        let data = random_bytes(size, i as u64);
        let key = format!("size-{size}");
        let out = s3
            .put_object()
            .bucket("data")
            .key(&key)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .must(&format!("put {key}"));
        assert_eq!(
            out.e_tag(),
            Some(etag_of(&data).as_str()),
            "{key}: PUT ETag"
        );
        let got = s3
            .get_object()
            .bucket("data")
            .key(&key)
            .send()
            .await
            .must(&format!("get {key}"));
        assert_eq!(
            got.e_tag(),
            Some(etag_of(&data).as_str()),
            "{key}: GET ETag"
        );
        assert_eq!(
            got.content_length(),
            Some(size as i64),
            "{key}: Content-Length"
        );
        assert_same(&body(got.body).await, &data, &key);
    }

    // Headers and user metadata come back on GET and HEAD.
    let doc = b"hello, metadata".to_vec();
    s3.put_object()
        .bucket("data")
        .key("doc.txt")
        .body(ByteStream::from(doc.clone()))
        .content_type("text/plain; charset=utf-8")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"doc.txt\"")
        .cache_control("max-age=60")
        .metadata("color", "blue")
        .metadata("shape", "round square")
        .send()
        .await
        .must("put doc.txt");
    let want_meta: BTreeMap<String, String> = [("color", "blue"), ("shape", "round square")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let got = s3
        .get_object()
        .bucket("data")
        .key("doc.txt")
        .send()
        .await
        .must("get doc.txt");
    assert_eq!(got.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(
        got.content_disposition(),
        Some("attachment; filename=\"doc.txt\"")
    );
    assert_eq!(got.cache_control(), Some("max-age=60"));
    let meta: BTreeMap<String, String> = got
        .metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    assert_eq!(meta, want_meta, "GET x-amz-meta-*");
    assert!(got.last_modified().is_some(), "GET Last-Modified");
    let head = s3
        .head_object()
        .bucket("data")
        .key("doc.txt")
        .send()
        .await
        .must("head doc.txt");
    assert_eq!(
        head.content_length(),
        Some(doc.len() as i64),
        "HEAD Content-Length"
    );
    assert_eq!(head.e_tag(), Some(etag_of(&doc).as_str()), "HEAD ETag");
    assert_eq!(head.content_type(), Some("text/plain; charset=utf-8"));
    let meta: BTreeMap<String, String> = head
        .metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    assert_eq!(meta, want_meta, "HEAD x-amz-meta-*");
    let etag = head.e_tag().unwrap().to_string();
    let modified = *head.last_modified().expect("HEAD Last-Modified");

    // Response header overrides.
    let got = s3
        .get_object()
        .bucket("data")
        .key("doc.txt")
        .response_content_type("application/x-override")
        .response_content_disposition("inline")
        .response_cache_control("no-store")
        .send()
        .await
        .must("get with response-* overrides");
    assert_eq!(got.content_type(), Some("application/x-override"));
    assert_eq!(got.content_disposition(), Some("inline"));
    assert_eq!(got.cache_control(), Some("no-store"));

    // Ranges on the 9 MiB object.
    let big = random_bytes(9 * MIB, 5);
    let n = big.len();
    let ranges: [(&str, usize, usize); 8] = [
        ("bytes=0-0", 0, 0),
        ("bytes=10-20", 10, 20),
        ("bytes=-5", n - 5, n - 1),
        ("bytes=100-", 100, n - 1),
        ("bytes=4194300-4194310", 4 * MIB - 4, 4 * MIB + 6),
        ("bytes=8388600-8388620", 8 * MIB - 8, 8 * MIB + 12),
        ("bytes=4194304-8388607", 4 * MIB, 8 * MIB - 1),
        ("bytes=9437000-99999999", 9_437_000, n - 1),
    ];
    for (range, first, last) in ranges {
        let got = s3
            .get_object()
            .bucket("data")
            .key("size-9437184")
            .range(range)
            .send()
            .await
            .must(&format!("get {range}"));
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {first}-{last}/{n}").as_str()),
            "{range}: Content-Range"
        );
        assert_eq!(
            got.content_length(),
            Some((last - first + 1) as i64),
            "{range}: length"
        );
        assert_same(&body(got.body).await, &big[first..=last], range);
    }
    for (key, range) in [
        ("size-9437184", "bytes=9437184-"),
        ("size-1", "bytes=5-9"),
        ("size-0", "bytes=0-0"),
    ] {
        expect_err(
            s3.get_object()
                .bucket("data")
                .key(key)
                .range(range)
                .send()
                .await,
            416,
            Some("InvalidRange"),
            &format!("{key} {range}"),
        );
    }

    // Conditional GET and HEAD.
    let hour_before = DateTime::from_secs(modified.secs() - 3600);
    let hour_after = DateTime::from_secs(modified.secs() + 3600);
    let get_doc = || s3.get_object().bucket("data").key("doc.txt");
    expect_err(
        get_doc().if_match("\"0123456789abcdef\"").send().await,
        412,
        Some("PreconditionFailed"),
        "If-Match mismatch",
    );
    get_doc()
        .if_match(&etag)
        .send()
        .await
        .must("If-Match match");
    expect_err(
        get_doc().if_none_match(&etag).send().await,
        304,
        None,
        "If-None-Match match",
    );
    // A 304 carries the object's ETag and Last-Modified (RFC 7232): a cache learns which
    // copy is current from them.
    let not_modified = get_doc().if_none_match(&etag).send().await.unwrap_err();
    let raw = not_modified.raw_response().expect("a 304 response");
    assert_eq!(raw.headers().get("etag"), Some(etag.as_str()), "304 ETag");
    let said = raw
        .headers()
        .get("last-modified")
        .expect("304 Last-Modified");
    let said = DateTime::from_str(said, aws_sdk_s3::primitives::DateTimeFormat::HttpDate)
        .unwrap_or_else(|e| panic!("304 Last-Modified {said:?}: {e}"));
    assert_eq!(said.secs(), modified.secs(), "304 Last-Modified");
    get_doc()
        .if_none_match("\"0123456789abcdef\"")
        .send()
        .await
        .must("If-None-Match mismatch");
    // Last-Modified has whole seconds: an If-Modified-Since of exactly it means unchanged.
    expect_err(
        get_doc().if_modified_since(modified).send().await,
        304,
        None,
        "If-Modified-Since = Last-Modified",
    );
    get_doc()
        .if_modified_since(hour_before)
        .send()
        .await
        .must("If-Modified-Since an hour before");
    expect_err(
        get_doc().if_unmodified_since(hour_before).send().await,
        412,
        Some("PreconditionFailed"),
        "If-Unmodified-Since an hour before",
    );
    get_doc()
        .if_unmodified_since(hour_after)
        .send()
        .await
        .must("If-Unmodified-Since an hour after");
    expect_err(
        s3.head_object()
            .bucket("data")
            .key("doc.txt")
            .if_none_match(&etag)
            .send()
            .await,
        304,
        None,
        "HEAD If-None-Match match",
    );
    expect_err(
        s3.head_object()
            .bucket("data")
            .key("doc.txt")
            .if_match("\"0123456789abcdef\"")
            .send()
            .await,
        412,
        None,
        "HEAD If-Match mismatch",
    );

    // Conditional PUT: If-None-Match: * creates only.
    let put_new = |key: &'static str, data: &'static [u8]| {
        s3.put_object()
            .bucket("data")
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from_static(data))
    };
    put_new("fresh", b"first")
        .send()
        .await
        .must("If-None-Match: * on a new key");
    expect_err(
        put_new("fresh", b"second").send().await,
        412,
        Some("PreconditionFailed"),
        "If-None-Match: * on an existing key",
    );
    assert_eq!(
        get(&s3, "data", "fresh").await,
        b"first",
        "a failed conditional PUT changed nothing"
    );
    // If-Match on a key that does not exist: 404 NoSuchKey, as S3 answers.
    expect_err(
        s3.put_object()
            .bucket("data")
            .key("never-written")
            .if_match("\"0123456789abcdef\"")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        404,
        Some("NoSuchKey"),
        "If-Match on a missing key",
    );

    // Overwrite replaces data and metadata.
    s3.put_object()
        .bucket("data")
        .key("doc.txt")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .must("overwrite doc.txt");
    let got = s3
        .get_object()
        .bucket("data")
        .key("doc.txt")
        .send()
        .await
        .must("get v2");
    assert!(
        got.metadata().is_none_or(|m| m.is_empty()),
        "old metadata survived an overwrite: {:?}",
        got.metadata()
    );
    assert_eq!(body(got.body).await, b"v2");

    // Missing keys.
    expect_err(
        s3.get_object().bucket("data").key("missing").send().await,
        404,
        Some("NoSuchKey"),
        "get a missing key",
    );
    expect_err(
        s3.head_object().bucket("data").key("missing").send().await,
        404,
        None,
        "head a missing key",
    );
    expect_err(
        s3.get_object()
            .bucket("no-such-bucket")
            .key("k")
            .send()
            .await,
        404,
        Some("NoSuchBucket"),
        "get from a missing bucket",
    );
}

/// Gateways reuse a bucket record they read for up to 2 s. A gateway sees its own bucket
/// changes at once (ACL, delete); a bucket deleted through one gateway takes no writes
/// through another that read it a moment before (its index shards refuse them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_see_their_own_bucket_changes_and_no_write_lands_in_a_deleted_bucket() {
    let cluster = Cluster::start();
    let a = cluster.s3();
    let other = cluster.extra_gateway();
    let b = other.client_for(&cluster.user);
    a.create_bucket()
        .bucket("shared")
        .send()
        .await
        .must("create through A");
    put(&b, "shared", "first", b"1").await;
    b.put_bucket_acl()
        .bucket("shared")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .must("public-read through B");
    let acl = b
        .get_bucket_acl()
        .bucket("shared")
        .send()
        .await
        .must("ACL through B");
    let public = acl.grants().iter().any(|g| {
        g.grantee().and_then(|e| e.uri()) == Some("http://acs.amazonaws.com/groups/global/AllUsers")
    });
    assert!(public, "B serves the ACL it just changed: {acl:?}");

    a.delete_object()
        .bucket("shared")
        .key("first")
        .send()
        .await
        .must("delete the object through A");
    a.delete_bucket()
        .bucket("shared")
        .send()
        .await
        .must("delete the bucket through A");
    expect_err(
        b.put_object()
            .bucket("shared")
            .key("second")
            .body(ByteStream::from_static(b"2"))
            .send()
            .await,
        404,
        Some("NoSuchBucket"),
        "put through B into the bucket A deleted",
    );

    b.create_bucket()
        .bucket("mine")
        .send()
        .await
        .must("create through B");
    put(&b, "mine", "x", b"x").await;
    b.delete_object()
        .bucket("mine")
        .key("x")
        .send()
        .await
        .must("delete the object through B");
    b.delete_bucket()
        .bucket("mine")
        .send()
        .await
        .must("delete the bucket through B");
    expect_err(
        b.head_bucket().bucket("mine").send().await,
        404,
        None,
        "head through B right after B deleted it",
    );
}
