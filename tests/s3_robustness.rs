//! Robustness of the S3 gateway: malformed XML, cut-short bodies, wrong lengths, garbage
//! and oversized headers on the wire, idle connections, and a kill -9 — the gateway answers
//! with S3 errors and keeps serving.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::SdkBody;
use common::gateway::Cluster;
use common::http::{http_request, raw_status, send_and_abort, send_raw, send_whole};
use common::s3::{
    Must, content_md5, delete_of, eventually, expect_err, get, presigned_headers, presigned_target,
    put,
};

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

/// A PUT without Content-Length, its body `Transfer-Encoding: chunked` (what curl sends for a
/// piped upload), is stored whole and streamed like any other: small, and past the first
/// 4 MiB stripe; a chunked body cut short is refused and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_puts_without_a_length_are_stored_whole() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    let addr = cluster.addr;
    s3.create_bucket()
        .bucket("piped")
        .send()
        .await
        .must("create");
    let in_5_min = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    for (key, len, whole) in [
        ("small", 1000, true),
        ("large", 5 * 1024 * 1024 + 3, true),
        ("cut", 100_000, false),
    ] {
        let data = common::s3::random_bytes(len, len as u64);
        let req = s3
            .put_object()
            .bucket("piped")
            .key(key)
            .presigned(in_5_min.clone())
            .await
            .must("presign PUT");
        let mut raw = format!(
            "PUT {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n",
            presigned_target(&req)
        )
        .into_bytes();
        for (k, v) in presigned_headers(&req) {
            raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        for chunk in data.chunks(65_000) {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        if whole {
            raw.extend_from_slice(b"0\r\n\r\n");
        } else {
            raw.truncate(raw.len() - 30_000);
        }
        // A whole request is read to its end; a cut one ends where the client half-closes.
        let reply = if whole {
            send_whole(addr, &raw)
        } else {
            send_raw(addr, &raw)
        };
        let status = raw_status(&reply);
        if whole {
            assert_eq!(
                status,
                Some(200),
                "{key}: {}",
                String::from_utf8_lossy(&reply)
            );
            let got = get(&s3, "piped", key).await;
            common::s3::assert_same(&got, &data, key);
        } else {
            assert!(
                status.is_none_or(|s| !(200..300).contains(&s)),
                "a cut-short chunked PUT answered {status:?}"
            );
            expect_err(
                s3.head_object().bucket("piped").key(key).send().await,
                404,
                None,
                "a cut-short chunked PUT stored nothing",
            );
        }
    }
}
