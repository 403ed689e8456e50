//! S3 authentication and authorization end to end: SigV4 failures, key rotation, user
//! isolation, anonymous access and canned ACLs, presigned URLs, and malformed or cut-short
//! requests that must never wedge the gateway.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, Permission};
use common::gateway::{Cluster, User, s3_client};
use common::http::{http_request, raw_status, send_and_abort, send_raw};
use common::s3::{
    Must, content_md5, delete_of, eventually, expect_err, get, presigned_headers, presigned_target,
    put, send_presigned, status_and_code,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_cut_short_requests_never_wedge_the_gateway() {
    let mut cluster = Cluster::start();
    let s3 = cluster.s3();
    let addr = cluster.addr;
    s3.create_bucket()
        .bucket("wedge")
        .send()
        .await
        .must("create");
    put(&s3, "wedge", "keep", b"keep me").await;

    // IAM-style calls: an S3 error, never a hang or a crash.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let bogus_auth = "AWS4-HMAC-SHA256 Credential=AKIDUNKNOWNUNKNOWN00/20250101/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let signed_looking = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Amz-Date", "20250101T000000Z"),
        ("Authorization", bogus_auth),
    ];
    for (what, headers) in [
        ("unsigned", &form[..]),
        ("bogus signature", &signed_looking[..]),
    ] {
        let resp = http_request(
            addr,
            "POST",
            "/?Action=ListUsers&Version=2010-05-08",
            headers,
            b"Action=ListUsers&Version=2010-05-08",
        );
        assert!(
            (400..500).contains(&resp.status) || resp.status == 501,
            "IAM ListUsers ({what}): status {} {}",
            resp.status,
            resp.text()
        );
        assert!(
            resp.error_code().is_some(),
            "IAM ListUsers ({what}): not an S3 error: {}",
            resp.text()
        );
    }
    s3.list_buckets()
        .send()
        .await
        .must("serving after IAM calls");

    // DeleteObjects with a malformed XML body (signed, with a matching Content-MD5).
    let bad_xml = b"<Delete><Object><Key>keep</Key></Object".to_vec();
    let res = s3
        .delete_objects()
        .bucket("wedge")
        .delete(delete_of(&["keep"], false))
        .customize()
        .mutate_request(move |req| {
            *req.body_mut() = SdkBody::from(bad_xml.clone());
            let headers = req.headers_mut();
            headers.insert("content-length", bad_xml.len().to_string());
            headers.insert("content-md5", content_md5(&bad_xml));
            for h in [
                "x-amz-sdk-checksum-algorithm",
                "x-amz-checksum-crc32",
                "x-amz-checksum-crc32c",
                "x-amz-checksum-crc64nvme",
                "x-amz-checksum-sha1",
                "x-amz-checksum-sha256",
            ] {
                headers.remove(h);
            }
        })
        .send()
        .await;
    expect_err(
        res,
        400,
        Some("MalformedXML"),
        "DeleteObjects with malformed XML",
    );
    assert_eq!(
        get(&s3, "wedge", "keep").await,
        b"keep me",
        "malformed DeleteObjects deleted something"
    );

    // A PUT whose body stops short of its Content-Length (authorized through a presigned URL,
    // so the gateway gets as far as reading the body), half-closed, then aborted outright.
    let in_5_min = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    for (i, abort) in [false, true].into_iter().enumerate() {
        let key = format!("truncated-{i}");
        let req = s3
            .put_object()
            .bucket("wedge")
            .key(&key)
            .presigned(in_5_min.clone())
            .await
            .must("presign PUT");
        let mut raw = format!(
            "PUT {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1048576\r\n",
            presigned_target(&req)
        );
        for (k, v) in presigned_headers(&req) {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n0123456789");
        if abort {
            send_and_abort(addr, raw.as_bytes());
        } else {
            let reply = send_raw(addr, raw.as_bytes());
            if let Some(status) = raw_status(&reply) {
                assert!(
                    !(200..300).contains(&status),
                    "a cut-short PUT answered {status}: {}",
                    String::from_utf8_lossy(&reply)
                );
            }
        }
        s3.list_buckets()
            .send()
            .await
            .must("serving after a cut-short PUT");
        expect_err(
            s3.head_object().bucket("wedge").key(&key).send().await,
            404,
            None,
            "a cut-short PUT created its object",
        );
    }

    // Garbage on the wire.
    for junk in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET /wedge/keep HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /wedge/keep HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"",
    ] {
        let reply = send_raw(addr, junk);
        if let Some(status) = raw_status(&reply) {
            assert!(status >= 400, "junk {junk:?} answered {status}");
        }
    }
    // An oversized header block (1 MiB): refused (431), never buffered without bound.
    let big = format!(
        "GET /wedge/keep HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let reply = send_raw(addr, big.as_bytes());
    if let Some(status) = raw_status(&reply) {
        assert!(status >= 400, "an oversized header answered {status}");
    }
    // Many idle connections opened and dropped.
    let idle: Vec<_> = (0..50)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    drop(idle);
    assert_eq!(
        get(&s3, "wedge", "keep").await,
        b"keep me",
        "serving after junk"
    );

    // The gateway is stateless: killed -9 and restarted, it serves the same data and keys.
    cluster.kill_gateway();
    assert!(
        s3.list_buckets().send().await.is_err(),
        "the killed gateway answered"
    );
    cluster.restart_gateway();
    eventually(
        Duration::from_secs(30),
        "the restarted gateway serves",
        || {
            let c = s3.clone();
            async move { c.list_buckets().send().await.is_ok() }
        },
    )
    .await;
    assert_eq!(
        get(&s3, "wedge", "keep").await,
        b"keep me",
        "data after a gateway restart"
    );
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
