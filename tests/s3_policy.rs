//! Bucket policies end to end: Put/Get/Delete/GetBucketPolicyStatus, MalformedPolicy, an
//! explicit deny over an ACL's allow and over the owner, NotPrincipal/NotAction, and the
//! condition keys (source address, transport, time, user name, list parameters, canned ACL
//! header, request and existing object tags), with two users and anonymous requests.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectCannedAcl, ObjectIdentifier};
use common::gateway::Cluster;
use common::http::http_request;
use common::s3::{Must, expect_err, put, status_and_code};

async fn set_policy(client: &Client, bucket: &str, statements: &str) {
    let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    client
        .put_bucket_policy()
        .bucket(bucket)
        .policy(doc)
        .send()
        .await
        .must("PutBucketPolicy");
}

/// The status of `client` putting `key` (with `acl` and `tagging` when given).
async fn put_status(
    client: &Client,
    bucket: &str,
    key: &str,
    acl: Option<ObjectCannedAcl>,
    tagging: Option<&str>,
) -> u16 {
    let mut put = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"x"));
    if let Some(acl) = acl {
        put = put.acl(acl);
    }
    if let Some(t) = tagging {
        put = put.tagging(t);
    }
    match put.send().await {
        Ok(_) => 200,
        Err(e) => status_and_code(&e).0.expect("a status"),
    }
}

/// The status of `client` listing `bucket` with `prefix` and `max_keys`.
async fn list_status(client: &Client, bucket: &str, prefix: Option<&str>, max: Option<i32>) -> u16 {
    match client
        .list_objects_v2()
        .bucket(bucket)
        .set_prefix(prefix.map(str::to_owned))
        .set_max_keys(max)
        .send()
        .await
    {
        Ok(_) => 200,
        Err(e) => status_and_code(&e).0.expect("a status"),
    }
}

fn anonymous_get(cluster: &Cluster, target: &str) -> u16 {
    http_request(cluster.addr, "GET", target, &[], b"").status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_policies_and_their_conditions() {
    let cluster = Cluster::start();
    let owner = cluster.s3();
    let alice = cluster.client_for(&cluster.create_user("alice", "Alice"));
    let bob = cluster.client_for(&cluster.create_user("bob", "Bob"));
    owner
        .create_bucket()
        .bucket("pol")
        .send()
        .await
        .must("create");
    put(&owner, "pol", "pub/a.txt", b"a").await;
    put(&owner, "pol", "private.txt", b"p").await;

    // The calls: nothing yet, a malformed one refused with a reason, only the owner.
    expect_err(
        owner.get_bucket_policy().bucket("pol").send().await,
        404,
        Some("NoSuchBucketPolicy"),
        "no policy yet",
    );
    for bad in [
        "{",
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}"#,
    ] {
        expect_err(
            owner
                .put_bucket_policy()
                .bucket("pol")
                .policy(bad)
                .send()
                .await,
            400,
            Some("MalformedPolicy"),
            bad,
        );
    }
    let public = r#"{"Sid":"public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/pub/*"}"#;
    expect_err(
        alice
            .put_bucket_policy()
            .bucket("pol")
            .policy(format!(r#"{{"Statement":[{public}]}}"#))
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "alice puts the owner's policy",
    );

    // A public-read prefix: anonymous reads under it, nowhere else; the status says public.
    assert_eq!(anonymous_get(&cluster, "/pol/pub/a.txt"), 403);
    set_policy(&owner, "pol", public).await;
    let got = owner
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .must("get");
    assert!(
        got.policy().unwrap().contains(r#""Sid":"public""#),
        "as given"
    );
    assert_eq!(anonymous_get(&cluster, "/pol/pub/a.txt"), 200);
    assert_eq!(anonymous_get(&cluster, "/pol/private.txt"), 403);
    let status = owner
        .get_bucket_policy_status()
        .bucket("pol")
        .send()
        .await
        .must("status");
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(true)
    );

    // Confined to loopback (the tests' address): allowed; to another network: not, and
    // then not public either.
    set_policy(
        &owner,
        "pol",
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}"#,
    )
    .await;
    assert_eq!(
        anonymous_get(&cluster, "/pol/private.txt"),
        200,
        "from loopback"
    );
    let status = owner
        .get_bucket_policy_status()
        .bucket("pol")
        .send()
        .await
        .must("status");
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(false)
    );
    set_policy(
        &owner,
        "pol",
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#,
    )
    .await;
    assert_eq!(
        anonymous_get(&cluster, "/pol/private.txt"),
        403,
        "not from 10/8"
    );

    // An explicit deny beats an ACL's grant, and binds the owner too (but never from its
    // own policy calls).
    owner
        .put_bucket_acl()
        .bucket("pol")
        .grant_write("id=bob")
        .grant_read("id=bob")
        .grant_full_control(format!("id={}", cluster.user.uid))
        .send()
        .await
        .must("bob may write");
    set_policy(
        &owner,
        "pol",
        r#"{"Effect":"Deny","Principal":{"AWS":["arn:aws:iam:::user/bob"]},"Action":"s3:PutObject","Resource":"arn:aws:s3:::pol/locked/*"},
           {"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pol/keep/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
    )
    .await;
    assert_eq!(put_status(&bob, "pol", "locked/x", None, None).await, 403);
    assert_eq!(put_status(&bob, "pol", "open/x", None, None).await, 200);
    put(&owner, "pol", "keep/x", b"k").await;
    expect_err(
        owner
            .delete_object()
            .bucket("pol")
            .key("keep/x")
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "the owner deletes over plain HTTP where the policy denies it",
    );
    // DeleteObjects decides per key.
    let delete = Delete::builder()
        .objects(ObjectIdentifier::builder().key("keep/x").build().unwrap())
        .objects(ObjectIdentifier::builder().key("open/x").build().unwrap())
        .build()
        .unwrap();
    let out = owner
        .delete_objects()
        .bucket("pol")
        .delete(delete)
        .send()
        .await
        .must("DeleteObjects");
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    let refused: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    assert_eq!(deleted, ["open/x"]);
    assert_eq!(refused, [("keep/x", "AccessDenied")]);
    // Even denied everything, the owner can always read and replace its policy.
    set_policy(
        &owner,
        "pol",
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::pol","arn:aws:s3:::pol/*"]}"#,
    )
    .await;
    assert_eq!(
        list_status(&owner, "pol", None, None).await,
        403,
        "the owner is denied too"
    );
    owner
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .must("the owner reads a policy that denies everything");
    owner
        .delete_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .must("DeleteBucketPolicy");
    owner
        .delete_object()
        .bucket("pol")
        .key("keep/x")
        .send()
        .await
        .must("deleted once the policy is gone");

    // NotPrincipal + NotAction: everyone but alice may do nothing but read objects.
    set_policy(
        &owner,
        "pol",
        &format!(
            r#"{{"Effect":"Deny","NotPrincipal":{{"AWS":["alice","{}"]}},"NotAction":"s3:GetObject","Resource":["arn:aws:s3:::pol","arn:aws:s3:::pol/*"]}},
               {{"Effect":"Allow","Principal":{{"AWS":"alice"}},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::pol"}}"#,
            cluster.user.uid
        ),
    )
    .await;
    assert_eq!(
        list_status(&bob, "pol", None, None).await,
        403,
        "bob's ACL READ is denied"
    );
    assert_eq!(
        list_status(&alice, "pol", None, None).await,
        200,
        "alice is allowed"
    );
    assert_eq!(put_status(&bob, "pol", "open/y", None, None).await, 403);

    // List parameters and the user's name.
    set_policy(
        &owner,
        "pol",
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::pol","Condition":{"StringEquals":{"s3:prefix":"pub/","aws:username":"alice"},"NumericLessThanEquals":{"s3:max-keys":"10"}}}"#,
    )
    .await;
    assert_eq!(list_status(&alice, "pol", Some("pub/"), Some(5)).await, 200);
    assert_eq!(
        list_status(&alice, "pol", Some("pub/"), Some(100)).await,
        403,
        "max-keys"
    );
    assert_eq!(
        list_status(&alice, "pol", None, Some(5)).await,
        403,
        "no prefix"
    );
    assert_eq!(
        list_status(&bob, "pol", Some("pub/"), Some(5)).await,
        200,
        "bob's ACL READ"
    );
    owner
        .put_bucket_acl()
        .bucket("pol")
        .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
        .send()
        .await
        .must("private again");
    assert_eq!(
        list_status(&bob, "pol", Some("pub/"), Some(5)).await,
        403,
        "not alice"
    );

    // The canned ACL a write asks for, request tags, and the time.
    set_policy(
        &owner,
        "pol",
        r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::pol/*","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read"}}},
           {"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::pol/*","Condition":{"StringEquals":{"s3:RequestObjectTag/team":"red"},"DateLessThan":{"aws:CurrentTime":"2000-01-01T00:00:00Z"}}},
           {"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::pol/*","Condition":{"StringEquals":{"s3:RequestObjectTag/team":"blue"},"DateGreaterThan":{"aws:CurrentTime":"2000-01-01T00:00:00Z"}}},
           {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/class":"open"}}}"#,
    )
    .await;
    assert_eq!(
        put_status(&bob, "pol", "b1", None, None).await,
        403,
        "no acl header"
    );
    assert_eq!(
        put_status(&bob, "pol", "b2", Some(ObjectCannedAcl::PublicRead), None).await,
        200
    );
    assert_eq!(
        put_status(&alice, "pol", "a1", None, Some("team=red")).await,
        403,
        "past"
    );
    assert_eq!(
        put_status(&alice, "pol", "a2", None, Some("team=blue")).await,
        200
    );
    assert_eq!(
        put_status(&alice, "pol", "a3", None, Some("team=green")).await,
        403
    );
    // a2 is alice's; tagged class=open it reads to anyone, untagged to nobody else.
    assert_eq!(anonymous_get(&cluster, "/pol/a2"), 403);
    assert_eq!(
        put_status(&owner, "pol", "tagged", None, Some("class=open")).await,
        200
    );
    assert_eq!(anonymous_get(&cluster, "/pol/tagged"), 200);

    // A request naming a version is the `*Version` action; bucket-level actions are
    // matched against the bucket.
    set_policy(
        &owner,
        "pol",
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObjectVersion","Resource":"arn:aws:s3:::pol/*","Condition":{"StringEquals":{"s3:VersionId":"null"}}},
           {"Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::pol","Condition":{"StringEquals":{"s3:delimiter":"/"}}},
           {"Effect":"Deny","Principal":"*","Action":"s3:GetBucketObjectLockConfiguration","Resource":"arn:aws:s3:::pol"}"#,
    )
    .await;
    owner
        .get_object()
        .bucket("pol")
        .key("tagged")
        .send()
        .await
        .must("plain GET");
    expect_err(
        owner
            .get_object()
            .bucket("pol")
            .key("tagged")
            .version_id("null")
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "GET of a named version",
    );
    expect_err(
        owner
            .get_object_lock_configuration()
            .bucket("pol")
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "a bucket-level action denied on the bucket",
    );
    let listed = owner
        .list_objects_v2()
        .bucket("pol")
        .delimiter("/")
        .send()
        .await;
    assert_eq!(
        listed.err().map(|e| status_and_code(&e).0),
        Some(Some(403)),
        "s3:delimiter"
    );
    assert_eq!(list_status(&owner, "pol", None, None).await, 200);
}

/// A user's own policy confines its keys: what it does not allow is refused, whatever
/// the user owns or was granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_policy_confines_its_keys() {
    let cluster = Cluster::start();
    let owner = cluster.s3();
    let alice = cluster.client_for(&cluster.create_user("alice", "Alice"));
    owner
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .must("create");
    owner
        .put_bucket_acl()
        .bucket("shared")
        .grant_write("id=alice")
        .grant_read("id=alice")
        .send()
        .await
        .must("alice may write");
    alice
        .create_bucket()
        .bucket("alices")
        .send()
        .await
        .must("alice's bucket");

    let file = cluster.dir().join("alice-policy.json");
    std::fs::write(
        &file,
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::shared/alice/*"},
            {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared","Condition":{"StringLike":{"s3:prefix":"alice/*"}}}]}"#,
    )
    .unwrap();
    let out = cluster.shoal(&["user", "policy", "put", "alice", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "policy put: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cluster.shoal(&["user", "policy", "get", "alice"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("shared/alice/*"));
    let bad = cluster.dir().join("bad-policy.json");
    std::fs::write(
        &bad,
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#,
    )
    .unwrap();
    let out = cluster.shoal(&["user", "policy", "put", "alice", bad.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "a user policy with a Principal was accepted"
    );
    let out = cluster.shoal(&["user", "policy", "get", "alice"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("shared/alice/*"),
        "the refused policy replaced the one before"
    );

    // The key cache holds the old record a few seconds.
    common::s3::eventually(
        std::time::Duration::from_secs(15),
        "the policy applies",
        || async { put_status(&alice, "shared", "bob/x", None, None).await == 403 },
    )
    .await;
    assert_eq!(
        put_status(&alice, "shared", "alice/x", None, None).await,
        200
    );
    assert_eq!(
        list_status(&alice, "shared", Some("alice/"), None).await,
        200
    );
    assert_eq!(list_status(&alice, "shared", None, None).await, 403);
    assert_eq!(
        put_status(&alice, "alices", "mine", None, None).await,
        403,
        "even her own bucket"
    );
    expect_err(
        alice.list_buckets().send().await,
        403,
        Some("AccessDenied"),
        "ListBuckets, which the policy does not allow",
    );
    expect_err(
        alice.create_bucket().bucket("another").send().await,
        403,
        Some("AccessDenied"),
        "a bucket the policy does not name",
    );

    let out = cluster.shoal(&["user", "policy", "rm", "alice"]);
    assert!(out.status.success());
    common::s3::eventually(
        std::time::Duration::from_secs(15),
        "the policy is gone",
        || async { put_status(&alice, "alices", "mine", None, None).await == 200 },
    )
    .await;
}
