//! Browser uploads: presigned POST forms (a policy signed with SigV4) accepted and refused,
//! success_action_status and success_action_redirect, the size cap, and anonymous POST
//! where a bucket's ACL lets everyone write.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::BucketCannedAcl;
use common::gateway::{Cluster, User};
use common::http::http_request;
use common::s3::{Must, base64, get};

const BOUNDARY: &str = "----shoal-form-boundary";

/// A signed POST form: its fields (the file last) for `key` with `conditions` besides the
/// signing ones, valid for `ttl` (negative: already expired).
fn signed_fields(
    user: &User,
    bucket: &str,
    conditions: &str,
    ttl_secs: i64,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let now = SystemTime::now();
    let iso = DateTime::from(now).fmt(DateTimeFormat::DateTime).unwrap();
    let amz_date: String = iso.replace(['-', ':'], "");
    let amz_date = format!("{}Z", &amz_date[..15]);
    let day = &amz_date[..8];
    let credential = format!("{}/{day}/us-east-1/s3/aws4_request", user.access_key);
    let expires = DateTime::from_secs(DateTime::from(now).secs() + ttl_secs)
        .fmt(DateTimeFormat::DateTime)
        .unwrap();
    let policy = format!(
        r#"{{"expiration":"{expires}","conditions":[{{"bucket":"{bucket}"}},{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},{{"x-amz-credential":"{credential}"}},{{"x-amz-date":"{amz_date}"}}{conditions}]}}"#
    );
    let policy = base64(policy.as_bytes());
    let key = aws_sigv4::sign::v4::generate_signing_key(&user.secret_key, now, "us-east-1", "s3");
    let signature = aws_sigv4::sign::v4::calculate_signature(key, policy.as_bytes());
    let mut fields: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in [
        ("policy", policy),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".into()),
        ("x-amz-credential", credential),
        ("x-amz-date", amz_date),
        ("x-amz-signature", signature),
    ] {
        fields.push((k.into(), v));
    }
    fields
}

/// A multipart/form-data body of `fields`, then the file.
fn form(fields: &[(String, String)], file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn post(cluster: &Cluster, bucket: &str, body: &[u8]) -> common::http::HttpResponse {
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    http_request(
        cluster.addr,
        "POST",
        &format!("/{bucket}"),
        &[("Content-Type", &ct)],
        body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_post_forms() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("forms")
        .send()
        .await
        .must("create");
    let user = cluster.user.clone();
    let conditions = r#",["starts-with","$key","uploads/"],["content-length-range",0,1024]"#;

    // Accepted: 204 by default, the object stored as sent.
    let fields = signed_fields(
        &user,
        "forms",
        conditions,
        3600,
        &[("key", "uploads/a.txt")],
    );
    let resp = post(&cluster, "forms", &form(&fields, b"from a form"));
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(get(&s3, "forms", "uploads/a.txt").await, b"from a form");

    // success_action_status 201 answers a PostResponse document; a redirect is 303.
    let with_status = format!(r#"{conditions},{{"success_action_status":"201"}}"#);
    let fields = signed_fields(
        &user,
        "forms",
        &with_status,
        3600,
        &[("key", "uploads/b.txt"), ("success_action_status", "201")],
    );
    let resp = post(&cluster, "forms", &form(&fields, b"b"));
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert!(
        resp.text().contains("<Key>uploads/b.txt</Key>"),
        "{}",
        resp.text()
    );
    let back = "https://app.example.com/done";
    let with_redirect = format!(r#"{conditions},{{"success_action_redirect":"{back}"}}"#);
    let fields = signed_fields(
        &user,
        "forms",
        &with_redirect,
        3600,
        &[("key", "uploads/c.txt"), ("success_action_redirect", back)],
    );
    let resp = post(&cluster, "forms", &form(&fields, b"c"));
    assert_eq!(resp.status, 303, "{}", resp.text());
    assert!(resp.header("location").unwrap().starts_with(back));

    // Refused: a key the policy does not allow, a file over its range, an expired policy,
    // a bad signature.
    let fields = signed_fields(
        &user,
        "forms",
        conditions,
        3600,
        &[("key", "elsewhere.txt")],
    );
    let resp = post(&cluster, "forms", &form(&fields, b"x"));
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("AccessDenied")),
        "{}",
        resp.text()
    );
    let fields = signed_fields(&user, "forms", conditions, 3600, &[("key", "uploads/big")]);
    let resp = post(&cluster, "forms", &form(&fields, &[b'x'; 2048]));
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (400, Some("EntityTooLarge")),
        "over the policy's range: {}",
        resp.text()
    );
    let fields = signed_fields(&user, "forms", conditions, -60, &[("key", "uploads/late")]);
    let resp = post(&cluster, "forms", &form(&fields, b"x"));
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("AccessDenied")),
        "expired: {}",
        resp.text()
    );
    let mut fields = signed_fields(
        &user,
        "forms",
        conditions,
        3600,
        &[("key", "uploads/forged")],
    );
    for (k, v) in &mut fields {
        if k == "x-amz-signature" {
            *v = "0".repeat(64);
        }
    }
    let resp = post(&cluster, "forms", &form(&fields, b"x"));
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "{}",
        resp.text()
    );
    for key in [
        "elsewhere.txt",
        "uploads/big",
        "uploads/late",
        "uploads/forged",
    ] {
        assert!(
            s3.head_object()
                .bucket("forms")
                .key(key)
                .send()
                .await
                .is_err(),
            "{key} was stored"
        );
    }

    // A form is held to the bucket's policy like a PUT: on the key in its body, and on the
    // ACL it asks for in a field.
    s3.put_bucket_policy()
        .bucket("forms")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::forms/uploads/secret/*"},
                {"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::forms/*","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read"}}}]}"#,
        )
        .send()
        .await
        .must("policy");
    let fields = signed_fields(
        &user,
        "forms",
        conditions,
        3600,
        &[("key", "uploads/secret/x")],
    );
    let resp = post(&cluster, "forms", &form(&fields, b"x"));
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("AccessDenied")),
        "a key the bucket policy denies: {}",
        resp.text()
    );
    // s3s reads a form's canned ACL from `x-amz-acl` (not AWS's `acl`).
    let with_acl = format!(r#"{conditions},{{"x-amz-acl":"public-read"}}"#);
    let fields = signed_fields(
        &user,
        "forms",
        &with_acl,
        3600,
        &[("key", "uploads/public"), ("x-amz-acl", "public-read")],
    );
    let resp = post(&cluster, "forms", &form(&fields, b"x"));
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (403, Some("AccessDenied")),
        "an ACL field the bucket policy denies: {}",
        resp.text()
    );
    let with_sse = format!(r#"{conditions},{{"x-amz-server-side-encryption":"AES256"}}"#);
    let fields = signed_fields(
        &user,
        "forms",
        &with_sse,
        3600,
        &[
            ("key", "uploads/sse"),
            ("x-amz-server-side-encryption", "AES256"),
        ],
    );
    let resp = post(&cluster, "forms", &form(&fields, b"x"));
    assert_eq!(
        resp.status,
        501,
        "encryption asked for in a form: {}",
        resp.text()
    );
    s3.delete_bucket_policy()
        .bucket("forms")
        .send()
        .await
        .must("policy gone");

    // Larger than the gateway holds for a form, whatever the policy allows.
    let huge = r#",["starts-with","$key",""],["content-length-range",0,1073741824]"#;
    let fields = signed_fields(&user, "forms", huge, 3600, &[("key", "huge")]);
    let resp = post(
        &cluster,
        "forms",
        &form(&fields, &vec![b'x'; (16 << 20) + 1]),
    );
    assert_eq!(
        (resp.status, resp.error_code().as_deref()),
        (400, Some("EntityTooLarge")),
        "{}",
        resp.text()
    );

    // Anonymous (no policy, no signature) only where everyone may write.
    let anon = form(&[("key".to_owned(), "anon.txt".to_owned())], b"anon");
    assert_eq!(post(&cluster, "forms", &anon).status, 403);
    s3.put_bucket_acl()
        .bucket("forms")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .must("public-read-write");
    let resp = post(&cluster, "forms", &anon);
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(get(&s3, "forms", "anon.txt").await, b"anon");
}
