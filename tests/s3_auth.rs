//! S3 authentication and authorization end to end: SigV4 failures, clock skew, key rotation,
//! user isolation, anonymous access and canned ACLs, presigned URLs, virtual-hosted style.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, Permission};
use common::gateway::{Cluster, User, s3_client};
use common::http::{http_request, raw_status};
use common::s3::{
    Must, eventually, expect_err, get, presigned_target, put, send_presigned, status_and_code,
};

/// Whether `client`'s key is refused as unknown (InvalidAccessKeyId).
async fn refused_key(client: aws_sdk_s3::Client) -> bool {
    match client.list_buckets().send().await {
        Ok(_) => false,
        Err(e) => status_and_code(&e) == (Some(403), Some("InvalidAccessKeyId".to_string())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_keys_and_users() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("mine")
        .send()
        .await
        .must("create");
    put(&s3, "mine", "secret.txt", b"tester's data").await;

    // Wrong secret, unknown key.
    let wrong_secret = s3_client(
        &cluster.endpoint(),
        &cluster.user.access_key,
        "not-the-secret-key-0000000000000000",
    );
    expect_err(
        wrong_secret.list_buckets().send().await,
        403,
        Some("SignatureDoesNotMatch"),
        "wrong secret",
    );
    expect_err(
        wrong_secret
            .get_object()
            .bucket("mine")
            .key("secret.txt")
            .send()
            .await,
        403,
        Some("SignatureDoesNotMatch"),
        "wrong secret on GetObject",
    );
    let unknown = s3_client(
        &cluster.endpoint(),
        "AKIDUNKNOWNUNKNOWN00",
        "whatever-secret",
    );
    expect_err(
        unknown.list_buckets().send().await,
        403,
        Some("InvalidAccessKeyId"),
        "unknown access key",
    );
    expect_err(
        unknown
            .put_object()
            .bucket("mine")
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        Some("InvalidAccessKeyId"),
        "unknown access key on PutObject",
    );

    // The CLI: info and ls.
    let info = cluster.shoal_json(&["user", "info", "--uid", "tester"]);
    assert_eq!(
        User::from_json(&info).access_key,
        cluster.user.access_key,
        "user info: {info}"
    );
    let other = cluster.create_user("other", "Other User");
    let ls = cluster.shoal_json(&["user", "ls"]).to_string();
    assert!(
        ls.contains("tester") && ls.contains("other"),
        "user ls: {ls}"
    );

    // Another user: own buckets only, names global, no access to tester's objects.
    let s3_other = cluster.client_for(&other);
    s3_other
        .create_bucket()
        .bucket("theirs")
        .send()
        .await
        .must("other creates a bucket");
    let names: Vec<String> = s3_other
        .list_buckets()
        .send()
        .await
        .must("other lists")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, ["theirs"], "other sees only its buckets");
    let listed = s3.list_buckets().send().await.must("tester lists");
    assert!(
        listed.buckets().iter().all(|b| b.name() != Some("theirs")),
        "tester sees other's bucket: {:?}",
        listed.buckets()
    );
    expect_err(
        s3_other.create_bucket().bucket("mine").send().await,
        409,
        Some("BucketAlreadyExists"),
        "other creates tester's bucket name",
    );
    expect_err(
        s3_other
            .get_object()
            .bucket("mine")
            .key("secret.txt")
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "other reads tester's object",
    );
    expect_err(
        s3_other
            .put_object()
            .bucket("mine")
            .key("intruder")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "other writes into tester's bucket",
    );
    expect_err(
        s3_other.list_objects_v2().bucket("mine").send().await,
        403,
        Some("AccessDenied"),
        "other lists tester's bucket",
    );
    expect_err(
        s3_other.delete_bucket().bucket("mine").send().await,
        403,
        Some("AccessDenied"),
        "other deletes tester's bucket",
    );

    // x-amz-expected-bucket-owner: the owner's id passes, any other is AccessDenied.
    s3.get_object()
        .bucket("mine")
        .key("secret.txt")
        .expected_bucket_owner("tester")
        .send()
        .await
        .must("GET naming the right owner");
    expect_err(
        s3.get_object()
            .bucket("mine")
            .key("secret.txt")
            .expected_bucket_owner("other")
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "GET naming another owner",
    );
    expect_err(
        s3.list_objects_v2()
            .bucket("mine")
            .expected_bucket_owner("other")
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "ListObjectsV2 naming another owner",
    );

    // Key rotation: a new key works at once; a removed key stops working.
    let before = cluster.user.access_key.clone();
    // `key add` prints the new pair; `user info` then lists both.
    let new_key = cluster.shoal_json(&["user", "key", "add", "--uid", "tester"]);
    assert_ne!(
        new_key["access_key"],
        before.as_str(),
        "key add printed {new_key}"
    );
    let info = cluster.shoal_json(&["user", "info", "--uid", "tester"]);
    assert_eq!(
        info["keys"].as_array().map(Vec::len),
        Some(2),
        "user info after key add: {info}"
    );
    let rotated = s3_client(
        &cluster.endpoint(),
        new_key["access_key"].as_str().unwrap(),
        new_key["secret_key"].as_str().unwrap(),
    );
    eventually(Duration::from_secs(15), "the added key works", || {
        let c = rotated.clone();
        async move { c.list_buckets().send().await.is_ok() }
    })
    .await;
    assert_eq!(
        get(&rotated, "mine", "secret.txt").await,
        b"tester's data",
        "the new key reads tester's data"
    );
    let out = cluster.shoal(&[
        "user",
        "key",
        "rm",
        "--uid",
        "tester",
        "--access-key",
        &before,
    ]);
    assert!(
        out.status.success(),
        "key rm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(
        Duration::from_secs(15),
        "the removed key is refused",
        || refused_key(s3.clone()),
    )
    .await;
    rotated
        .list_buckets()
        .send()
        .await
        .must("the remaining key still works");

    // A request signed 20 minutes ago (beyond S3's 15 minutes of clock skew) is refused.
    let skewed_at = std::time::SystemTime::now() - Duration::from_secs(20 * 60);
    let skewed = aws_sdk_s3::Client::from_conf(
        cluster
            .s3()
            .config()
            .to_builder()
            .time_source(aws_smithy_async::time::StaticTimeSource::new(skewed_at))
            .build(),
    );
    expect_err(
        skewed.list_buckets().send().await,
        403,
        Some("RequestTimeTooSkewed"),
        "a request signed 20 minutes ago",
    );

    // A user who still owns a bucket cannot be removed.
    let out = cluster.shoal(&["user", "rm", "--uid", "other"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("theirs"),
        "user rm with a bucket left: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A removed user is refused.
    s3_other
        .delete_bucket()
        .bucket("theirs")
        .send()
        .await
        .must("other empties its account");
    let out = cluster.shoal(&["user", "rm", "--uid", "other"]);
    assert!(
        out.status.success(),
        "user rm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(
        Duration::from_secs(15),
        "the removed user is refused",
        || refused_key(s3_other.clone()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_access_acls_and_presigned_urls() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    let addr = cluster.addr;
    s3.create_bucket().bucket("pub").send().await.must("create");
    put(&s3, "pub", "private.txt", b"private").await;

    // Anonymous requests to private resources are refused.
    let resp = http_request(addr, "GET", "/pub/private.txt", &[], b"");
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("AccessDenied")),
        "anonymous GET of a private object: {}",
        resp.text()
    );
    // Every response names its request, errors in their document too.
    let id = resp.header("x-amz-request-id").expect("x-amz-request-id");
    assert!(
        resp.text()
            .contains(&format!("<RequestId>{id}</RequestId>")),
        "error document without the request id {id}: {}",
        resp.text()
    );
    // A missing key in a private bucket is not told apart from a private one.
    let resp = http_request(addr, "GET", "/pub/no-such-key", &[], b"");
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("AccessDenied")),
        "anonymous GET of a missing key: {}",
        resp.text()
    );
    let resp = http_request(addr, "GET", "/pub", &[], b"");
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("AccessDenied")),
        "anonymous list of a private bucket: {}",
        resp.text()
    );
    let resp = http_request(addr, "PUT", "/pub/anon.txt", &[], b"anon");
    assert_eq!(resp.status, 403, "anonymous PUT: {}", resp.text());

    // Object ACL public-read: anonymous GET works; the ACL reads back.
    s3.put_object_acl()
        .bucket("pub")
        .key("private.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .must("PutObjectAcl public-read");
    let resp = http_request(addr, "GET", "/pub/private.txt", &[], b"");
    assert_eq!(
        resp.status,
        200,
        "anonymous GET after public-read: {}",
        resp.text()
    );
    assert_eq!(resp.body, b"private");
    let acl = s3
        .get_object_acl()
        .bucket("pub")
        .key("private.txt")
        .send()
        .await
        .must("GetObjectAcl");
    assert_eq!(
        acl.owner().and_then(|o| o.id()),
        Some("tester"),
        "ACL owner"
    );
    let all_users_read = acl.grants().iter().any(|g| {
        g.permission() == Some(&Permission::Read)
            && g.grantee().and_then(|e| e.uri())
                == Some("http://acs.amazonaws.com/groups/global/AllUsers")
    });
    assert!(
        all_users_read,
        "public-read grants AllUsers READ: {:?}",
        acl.grants()
    );
    let owner_full = acl.grants().iter().any(|g| {
        g.permission() == Some(&Permission::FullControl)
            && g.grantee().and_then(|e| e.id()) == Some("tester")
    });
    assert!(
        owner_full,
        "the owner keeps FULL_CONTROL: {:?}",
        acl.grants()
    );
    // Back to private.
    s3.put_object_acl()
        .bucket("pub")
        .key("private.txt")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .must("PutObjectAcl private");
    assert_eq!(
        http_request(addr, "GET", "/pub/private.txt", &[], b"").status,
        403,
        "anonymous GET after private"
    );

    // A canned ACL given at PUT.
    s3.put_object()
        .bucket("pub")
        .key("born-public.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"hello world"))
        .send()
        .await
        .must("put with x-amz-acl public-read");
    let resp = http_request(addr, "GET", "/pub/born-public.txt", &[], b"");
    assert_eq!(
        (resp.status, resp.body.as_slice()),
        (200, b"hello world".as_slice()),
        "anonymous GET of a public-read PUT"
    );
    let resp = http_request(addr, "HEAD", "/pub/born-public.txt", &[], b"");
    assert_eq!(resp.status, 200, "anonymous HEAD");
    assert_eq!(
        resp.header("content-length"),
        Some("11"),
        "anonymous HEAD Content-Length"
    );

    // Bucket ACL public-read: anyone may list, objects stay private.
    s3.put_bucket_acl()
        .bucket("pub")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .must("PutBucketAcl public-read");
    let resp = http_request(addr, "GET", "/pub?list-type=2", &[], b"");
    assert_eq!(
        resp.status,
        200,
        "anonymous list of a public-read bucket: {}",
        resp.text()
    );
    assert!(
        resp.text().contains("<Key>private.txt</Key>"),
        "anonymous listing: {}",
        resp.text()
    );
    assert_eq!(
        http_request(addr, "GET", "/pub/private.txt", &[], b"").status,
        403,
        "bucket public-read does not open objects"
    );
    assert_eq!(
        http_request(addr, "PUT", "/pub/anon.txt", &[], b"anon").status,
        403,
        "bucket public-read does not allow writes"
    );
    let acl = s3
        .get_bucket_acl()
        .bucket("pub")
        .send()
        .await
        .must("GetBucketAcl");
    assert!(
        acl.grants()
            .iter()
            .any(|g| g.permission() == Some(&Permission::Read)
                && g.grantee().and_then(|e| e.uri())
                    == Some("http://acs.amazonaws.com/groups/global/AllUsers")),
        "bucket public-read grants AllUsers READ: {:?}",
        acl.grants()
    );

    // Presigned GET and PUT, sent by a client that knows no keys.
    let in_5_min = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    s3.put_bucket_acl()
        .bucket("pub")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .must("PutBucketAcl private");
    let req = s3
        .get_object()
        .bucket("pub")
        .key("private.txt")
        .presigned(in_5_min.clone())
        .await
        .must("presign GET");
    let (status, code, body) = send_presigned(cluster.addr, &req, b"");
    assert_eq!(
        (status, code.as_deref(), body.as_slice()),
        (200, None, b"private".as_slice()),
        "presigned GET"
    );
    // S3 takes X-Amz-Expires from 1 s to 7 days only; anything else is refused as such
    // (400), not as a signature mismatch (the SDK will not presign it: edited by hand).
    let target = presigned_target(&req);
    assert!(target.contains("X-Amz-Expires=300"), "{target}");
    for bad in ["0", "604801"] {
        let edited = target.replace("X-Amz-Expires=300", &format!("X-Amz-Expires={bad}"));
        let resp = http_request(addr, "GET", &edited, &[], b"");
        assert_eq!(
            (resp.status, resp.error_code().as_deref()),
            (400, Some("AuthorizationQueryParametersError")),
            "presigned GET with X-Amz-Expires={bad}: {}",
            resp.text()
        );
    }
    let req = s3
        .put_object()
        .bucket("pub")
        .key("uploaded.txt")
        .content_type("text/plain")
        .presigned(in_5_min.clone())
        .await
        .must("presign PUT");
    let (status, code, _) = send_presigned(cluster.addr, &req, b"via presigned PUT");
    assert_eq!((status, code), (200, None), "presigned PUT");
    let got = s3
        .get_object()
        .bucket("pub")
        .key("uploaded.txt")
        .send()
        .await
        .must("get presigned upload");
    assert_eq!(
        got.content_type(),
        Some("text/plain"),
        "signed Content-Type stored"
    );
    assert_eq!(common::s3::body(got.body).await, b"via presigned PUT");
    let req = s3
        .head_object()
        .bucket("pub")
        .key("uploaded.txt")
        .presigned(in_5_min.clone())
        .await
        .must("presign HEAD");
    assert_eq!(
        send_presigned(cluster.addr, &req, b"").0,
        200,
        "presigned HEAD"
    );
    let req = s3
        .delete_object()
        .bucket("pub")
        .key("uploaded.txt")
        .presigned(in_5_min.clone())
        .await
        .must("presign DELETE");
    assert_eq!(
        send_presigned(cluster.addr, &req, b"").0,
        204,
        "presigned DELETE"
    );
    expect_err(
        s3.head_object()
            .bucket("pub")
            .key("uploaded.txt")
            .send()
            .await,
        404,
        None,
        "deleted via presigned DELETE",
    );

    // A presigned URL used for another key, or with another method, is refused.
    let req = s3
        .get_object()
        .bucket("pub")
        .key("private.txt")
        .presigned(in_5_min.clone())
        .await
        .must("presign GET");
    let other_key = presigned_target(&req).replacen("/pub/private.txt", "/pub/born-public.txt", 1);
    let resp = http_request(addr, "GET", &other_key, &[], b"");
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "presigned URL for another key"
    );
    let resp = http_request(addr, "PUT", &presigned_target(&req), &[], b"overwrite");
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "presigned GET used for PUT"
    );
    assert_eq!(
        get(&s3, "pub", "private.txt").await,
        b"private",
        "the refused PUT changed nothing"
    );

    // An expired presigned URL.
    let req = s3
        .get_object()
        .bucket("pub")
        .key("private.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(1)).unwrap())
        .await
        .must("presign GET for 1 s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, code, body) = send_presigned(cluster.addr, &req, b"");
    assert_eq!(
        (status, code.as_deref()),
        (403, Some("AccessDenied")),
        "expired presigned GET: {}",
        String::from_utf8_lossy(&body)
    );
    // Presigned more than the 7-day maximum S3 allows: refused by the SDK already.
    assert!(PresigningConfig::expires_in(Duration::from_secs(8 * 24 * 3600)).is_err());
}

/// A GET with its own Host header, read until the server closes (`Connection: close`).
fn get_with_host(addr: std::net::SocketAddr, host: &str, target: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_hosted_style_names_the_bucket_in_the_host() {
    let cluster = Cluster::start_with(&["--domain", "s3.shoal.test"]);
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("vhost")
        .send()
        .await
        .must("create bucket");
    s3.put_object()
        .bucket("vhost")
        .key("dir/hello.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"hello vhost"))
        .send()
        .await
        .must("put a public-read object");

    let port = cluster.addr.port();
    let raw = get_with_host(
        cluster.addr,
        &format!("vhost.s3.shoal.test:{port}"),
        "/dir/hello.txt",
    );
    assert_eq!(
        raw_status(&raw),
        Some(200),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(
        raw.ends_with(b"hello vhost"),
        "virtual-hosted GET body: {}",
        String::from_utf8_lossy(&raw)
    );
    // The same gateway still serves path style on its IP address.
    let resp = http_request(cluster.addr, "GET", "/vhost/dir/hello.txt", &[], b"");
    assert_eq!(resp.status, 200, "path-style GET: {}", resp.text());
    // A bucket that does not exist, by host.
    let raw = get_with_host(cluster.addr, &format!("nope.s3.shoal.test:{port}"), "/x");
    assert_eq!(
        raw_status(&raw),
        Some(404),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

/// PUTs `data` as `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (the framing current AWS SDKs use over
/// HTTPS): an aws-chunked body whose integrity rests on the CRC32C in its trailer, signed with
/// aws-sigv4 by hand since the SDK signs chunks over plain HTTP.
fn put_with_trailer(
    cluster: &Cluster,
    key: &str,
    data: &[u8],
    trailer_crc32c: &str,
) -> common::http::HttpResponse {
    use aws_sigv4::http_request::{
        PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;

    let mut body = format!("{:x}\r\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(
        format!("\r\n0\r\nx-amz-checksum-crc32c:{trailer_crc32c}\r\n\r\n").as_bytes(),
    );
    let path = format!("/trail/{key}");
    let headers = [
        ("host", cluster.addr.to_string()),
        ("content-encoding", "aws-chunked".to_string()),
        ("content-length", body.len().to_string()),
        ("x-amz-decoded-content-length", data.len().to_string()),
        ("x-amz-trailer", "x-amz-checksum-crc32c".to_string()),
    ];
    let identity = aws_sdk_s3::config::Credentials::new(
        &cluster.user.access_key,
        &cluster.user.secret_key,
        None,
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        "PUT",
        format!("{}{path}", cluster.endpoint()),
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::StreamingUnsignedPayloadTrailer,
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut sent: Vec<(String, String)> = headers[1..]
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    sent.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let sent: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    http_request(cluster.addr, "PUT", &path, &sent, &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_payload_with_a_checksum_trailer_is_verified() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("trail")
        .send()
        .await
        .must("create bucket");
    let data = common::s3::random_bytes(300_000, 11);
    let crc = common::s3::crc32c_b64(&data);

    let resp = put_with_trailer(&cluster, "good", &data, &crc);
    assert_eq!(resp.status, 200, "unsigned-trailer PUT: {}", resp.text());
    assert_eq!(get(&s3, "trail", "good").await, data, "data after the PUT");
    let got = s3
        .get_object()
        .bucket("trail")
        .key("good")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .must("get with checksums");
    assert_eq!(
        got.checksum_crc32_c(),
        Some(crc.as_str()),
        "stored trailer checksum"
    );

    // A trailer that does not match the body: BadDigest, nothing stored.
    let wrong = common::s3::crc32c_b64(b"something else");
    let resp = put_with_trailer(&cluster, "bad", &data, &wrong);
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (400, Some("BadDigest")),
        "mismatched trailer: {}",
        resp.text()
    );
    expect_err(
        s3.head_object().bucket("trail").key("bad").send().await,
        404,
        None,
        "an object whose trailer did not match",
    );
}
