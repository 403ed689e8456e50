//! S3 ACLs end to end, with two users besides the bucket owner and anonymous requests: every
//! canned ACL on buckets and objects, x-amz-grant-* headers by id and group, the
//! AccessControlPolicy document, Get*Acl showing exactly what was granted, and the errors for
//! bad grants.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, Owner, Permission, Type,
};
use common::gateway::Cluster;
use common::http::http_request;
use common::s3::{Must, expect_err, get};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// Whether `client` may list `bucket` (403 otherwise; anything else fails the test).
async fn can_list(client: &Client, bucket: &str) -> bool {
    match client.list_objects_v2().bucket(bucket).send().await {
        Ok(_) => true,
        Err(e) => {
            let (status, _) = common::s3::status_and_code(&e);
            assert_eq!(status, Some(403), "list {bucket}: {e:?}");
            false
        }
    }
}

/// Whether `client` may put `key` into `bucket`.
async fn can_put(client: &Client, bucket: &str, key: &str) -> bool {
    let put = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"written"))
        .send()
        .await;
    match put {
        Ok(_) => true,
        Err(e) => {
            let (status, _) = common::s3::status_and_code(&e);
            assert_eq!(status, Some(403), "put {bucket}/{key}: {e:?}");
            false
        }
    }
}

/// Whether `client` may get `bucket/key`.
async fn can_get(client: &Client, bucket: &str, key: &str) -> bool {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) => {
            let (status, _) = common::s3::status_and_code(&e);
            assert_eq!(status, Some(403), "get {bucket}/{key}: {e:?}");
            false
        }
    }
}

/// The status of an anonymous request.
fn anonymous(cluster: &Cluster, method: &str, target: &str) -> u16 {
    http_request(cluster.addr, method, target, &[], b"written").status
}

/// The grants of a Get*Acl answer as (grantee id or group URI, permission), sorted.
fn grants_of(grants: &[Grant]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = grants
        .iter()
        .map(|g| {
            let grantee = g.grantee().expect("grantee");
            let who = grantee
                .id()
                .or(grantee.uri())
                .expect("id or uri")
                .to_owned();
            (who, g.permission().expect("permission").as_str().to_owned())
        })
        .collect();
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_acls_grants_and_documents() {
    let cluster = Cluster::start();
    let owner = cluster.s3();
    let owner_id = cluster.user.uid.clone();
    let alice_user = cluster.create_user("alice", "Alice");
    let alice = cluster.client_for(&alice_user);
    let bob = cluster.client_for(&cluster.create_user("bob", "Bob"));

    // Bucket canned ACLs: who may list and who may write.
    owner
        .create_bucket()
        .bucket("acl-b")
        .send()
        .await
        .must("create");
    for (acl, anon_list, user_list, anon_put, user_put) in [
        (BucketCannedAcl::Private, false, false, false, false),
        (BucketCannedAcl::PublicRead, true, true, false, false),
        (BucketCannedAcl::PublicReadWrite, true, true, true, true),
        (
            BucketCannedAcl::AuthenticatedRead,
            false,
            true,
            false,
            false,
        ),
    ] {
        owner
            .put_bucket_acl()
            .bucket("acl-b")
            .acl(acl.clone())
            .send()
            .await
            .must("PutBucketAcl");
        let what = acl.as_str();
        assert_eq!(
            anonymous(&cluster, "GET", "/acl-b"),
            if anon_list { 200 } else { 403 },
            "{what}: anonymous list"
        );
        assert_eq!(
            can_list(&alice, "acl-b").await,
            user_list,
            "{what}: alice lists"
        );
        assert_eq!(
            anonymous(&cluster, "PUT", "/acl-b/anon"),
            if anon_put { 200 } else { 403 },
            "{what}: anonymous put"
        );
        assert_eq!(
            can_put(&alice, "acl-b", "by-alice").await,
            user_put,
            "{what}: alice puts"
        );
        assert!(can_list(&owner, "acl-b").await, "{what}: the owner lists");
        // Only the owner changes the bucket's ACL or configuration.
        expect_err(
            alice
                .put_bucket_acl()
                .bucket("acl-b")
                .acl(BucketCannedAcl::PublicReadWrite)
                .send()
                .await,
            403,
            Some("AccessDenied"),
            &format!("{what}: alice replaces the ACL"),
        );
        expect_err(
            alice.get_bucket_versioning().bucket("acl-b").send().await,
            403,
            Some("AccessDenied"),
            &format!("{what}: alice reads the configuration"),
        );
    }
    // An anonymous write belongs to the bucket's owner.
    assert_eq!(get(&owner, "acl-b", "anon").await, b"written");

    // Object canned ACLs on alice's object in the owner's (public-read-write) bucket.
    owner
        .put_bucket_acl()
        .bucket("acl-b")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .must("public-read-write again");
    for (acl, owner_reads, bob_reads, anon_reads) in [
        (ObjectCannedAcl::Private, false, false, false),
        (ObjectCannedAcl::PublicRead, true, true, true),
        (ObjectCannedAcl::AuthenticatedRead, true, true, false),
        (ObjectCannedAcl::BucketOwnerRead, true, false, false),
        (ObjectCannedAcl::BucketOwnerFullControl, true, false, false),
    ] {
        let what = acl.as_str().to_owned();
        alice
            .put_object()
            .bucket("acl-b")
            .key("obj")
            .acl(acl)
            .body(ByteStream::from_static(b"alice's"))
            .send()
            .await
            .must("alice puts");
        assert!(
            can_get(&alice, "acl-b", "obj").await,
            "{what}: the writer reads"
        );
        assert_eq!(
            can_get(&owner, "acl-b", "obj").await,
            owner_reads,
            "{what}: bucket owner"
        );
        assert_eq!(
            can_get(&bob, "acl-b", "obj").await,
            bob_reads,
            "{what}: bob"
        );
        assert_eq!(
            anonymous(&cluster, "GET", "/acl-b/obj"),
            if anon_reads { 200 } else { 403 },
            "{what}: anonymous"
        );
        let acl = alice
            .get_object_acl()
            .bucket("acl-b")
            .key("obj")
            .send()
            .await
            .must("acl");
        assert_eq!(
            acl.owner().and_then(|o| o.id()),
            Some("alice"),
            "{what}: owner"
        );
    }
    // The bucket owner may read the ACL of the object it fully controls, and delete any
    // object in its bucket even unreadable to it.
    let acl = owner
        .get_object_acl()
        .bucket("acl-b")
        .key("obj")
        .send()
        .await
        .must("owner reads acl");
    assert_eq!(
        grants_of(acl.grants()),
        pairs(&[("alice", "FULL_CONTROL"), (&owner_id, "FULL_CONTROL")])
    );
    alice
        .put_object_acl()
        .bucket("acl-b")
        .key("obj")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .must("alice makes it private");
    expect_err(
        owner
            .get_object_acl()
            .bucket("acl-b")
            .key("obj")
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "the bucket owner reads a private object's ACL",
    );
    owner
        .delete_object()
        .bucket("acl-b")
        .key("obj")
        .send()
        .await
        .must("owner deletes");

    // Grant headers: exactly the grants named, by id and by group; the owner keeps the
    // bucket all the same.
    owner
        .create_bucket()
        .bucket("acl-g")
        .send()
        .await
        .must("create g");
    owner
        .put_bucket_acl()
        .bucket("acl-g")
        .grant_read("id=alice")
        .grant_write("id=\"bob\"")
        .grant_read_acp(format!("uri=\"{AUTHENTICATED}\""))
        .send()
        .await
        .must("grant headers");
    let acl = owner
        .get_bucket_acl()
        .bucket("acl-g")
        .send()
        .await
        .must("GetBucketAcl");
    assert_eq!(
        grants_of(acl.grants()),
        pairs(&[
            ("alice", "READ"),
            ("bob", "WRITE"),
            (AUTHENTICATED, "READ_ACP")
        ])
    );
    let alice_grant = acl
        .grants()
        .iter()
        .find(|g| g.grantee().and_then(|g| g.id()) == Some("alice"))
        .expect("alice's grant");
    assert_eq!(alice_grant.grantee().unwrap().display_name(), Some("Alice"));
    assert!(can_list(&alice, "acl-g").await, "alice was granted READ");
    assert!(!can_list(&bob, "acl-g").await, "bob was not granted READ");
    assert!(can_put(&bob, "acl-g", "k").await, "bob was granted WRITE");
    assert!(
        !can_put(&alice, "acl-g", "k2").await,
        "alice was not granted WRITE"
    );
    alice
        .get_bucket_acl()
        .bucket("acl-g")
        .send()
        .await
        .must("signed users were granted READ_ACP");
    assert_eq!(
        anonymous(&cluster, "GET", "/acl-g?acl"),
        403,
        "anonymous is not signed"
    );
    assert!(
        can_list(&owner, "acl-g").await,
        "the owner keeps its bucket"
    );

    // Object grant headers: full control for bob, read for alice.
    owner
        .put_object()
        .bucket("acl-g")
        .key("shared")
        .grant_full_control("id=bob")
        .grant_read("id=alice")
        .body(ByteStream::from_static(b"shared"))
        .send()
        .await
        .must("object grant headers");
    assert!(can_get(&bob, "acl-g", "shared").await);
    assert!(can_get(&alice, "acl-g", "shared").await);
    assert_eq!(anonymous(&cluster, "GET", "/acl-g/shared"), 403);
    bob.put_object_acl()
        .bucket("acl-g")
        .key("shared")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .must("bob, with full control, replaces the ACL");
    assert!(!can_get(&alice, "acl-g", "shared").await);
    // Now private: only the owner (the writer) has anything; bob lost full control.
    expect_err(
        bob.get_object_acl()
            .bucket("acl-g")
            .key("shared")
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "bob after the ACL went private",
    );

    // An AccessControlPolicy document reads back as given.
    let grantee = |id: &str| {
        Grantee::builder()
            .r#type(Type::CanonicalUser)
            .id(id)
            .build()
            .unwrap()
    };
    let group = |uri: &str| {
        Grantee::builder()
            .r#type(Type::Group)
            .uri(uri)
            .build()
            .unwrap()
    };
    let document = AccessControlPolicy::builder()
        .owner(Owner::builder().id(&owner_id).build())
        .grants(
            Grant::builder()
                .grantee(grantee(&owner_id))
                .permission(Permission::FullControl)
                .build(),
        )
        .grants(
            Grant::builder()
                .grantee(grantee("alice"))
                .permission(Permission::WriteAcp)
                .build(),
        )
        .grants(
            Grant::builder()
                .grantee(group(ALL_USERS))
                .permission(Permission::Read)
                .build(),
        )
        .build();
    owner
        .put_bucket_acl()
        .bucket("acl-g")
        .access_control_policy(document)
        .send()
        .await
        .must("PutBucketAcl with a document");
    let acl = owner
        .get_bucket_acl()
        .bucket("acl-g")
        .send()
        .await
        .must("GetBucketAcl");
    assert_eq!(
        grants_of(acl.grants()),
        pairs(&[
            (&owner_id, "FULL_CONTROL"),
            ("alice", "WRITE_ACP"),
            (ALL_USERS, "READ")
        ])
    );
    assert_eq!(
        anonymous(&cluster, "GET", "/acl-g"),
        200,
        "AllUsers READ lists"
    );
    // WRITE_ACP lets alice replace the ACL (and nothing else).
    assert!(!can_put(&alice, "acl-g", "k3").await);
    alice
        .put_bucket_acl()
        .bucket("acl-g")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .must("alice, with WRITE_ACP, replaces the ACL");
    assert_eq!(anonymous(&cluster, "GET", "/acl-g"), 403);

    // Bad grants.
    expect_err(
        owner
            .put_bucket_acl()
            .bucket("acl-g")
            .grant_read("id=nobody")
            .send()
            .await,
        400,
        Some("InvalidArgument"),
        "a grant to a user who does not exist",
    );
    expect_err(
        owner
            .put_bucket_acl()
            .bucket("acl-g")
            .grant_read("emailAddress=\"a@example.com\"")
            .send()
            .await,
        400,
        Some("UnresolvableGrantByEmailAddress"),
        "a grant by email",
    );
    expect_err(
        owner
            .put_bucket_acl()
            .bucket("acl-g")
            .grant_read("uri=http://example.com/group")
            .send()
            .await,
        400,
        Some("InvalidArgument"),
        "a grant to a group that does not exist",
    );
    expect_err(
        owner
            .put_object()
            .bucket("acl-g")
            .key("both")
            .acl(ObjectCannedAcl::PublicRead)
            .grant_read("id=alice")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        400,
        Some("InvalidRequest"),
        "a canned ACL and grant headers together",
    );
    expect_err(
        owner
            .put_object()
            .bucket("acl-g")
            .key("exec")
            .acl(ObjectCannedAcl::AwsExecRead)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        400,
        Some("InvalidArgument"),
        "aws-exec-read",
    );
    // A bucket that does not exist is NoSuchBucket, before any AccessDenied.
    expect_err(
        alice.get_bucket_acl().bucket("no-such-bucket").send().await,
        404,
        Some("NoSuchBucket"),
        "ACL of a missing bucket",
    );
}

/// What a WRITE grant does not give: another user's multipart upload (only its initiator
/// adds parts and completes it; the bucket's owner may abort it), object lock on a write,
/// and bypassing governance retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_locks_stay_with_their_owners() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectLockMode};
    let cluster = Cluster::start();
    let owner = cluster.s3();
    let bob_user = cluster.create_user("bob", "Bob");
    let bob = cluster.client_for(&bob_user);
    owner
        .create_bucket()
        .bucket("acl-mp")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .must("create");
    owner
        .put_bucket_acl()
        .bucket("acl-mp")
        .grant_write("id=bob")
        .grant_read("id=bob")
        .send()
        .await
        .must("bob may write and list");

    let mine = owner
        .create_multipart_upload()
        .bucket("acl-mp")
        .key("mp")
        .send()
        .await
        .must("owner starts an upload");
    let id = mine.upload_id().expect("upload id");
    expect_err(
        bob.upload_part()
            .bucket("acl-mp")
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from_static(b"bob's bytes"))
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "bob uploads a part of the owner's upload",
    );
    let part = CompletedPart::builder()
        .part_number(1)
        .e_tag("\"x\"")
        .build();
    expect_err(
        bob.complete_multipart_upload()
            .bucket("acl-mp")
            .key("mp")
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "bob completes the owner's upload",
    );
    expect_err(
        bob.abort_multipart_upload()
            .bucket("acl-mp")
            .key("mp")
            .upload_id(id)
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "bob aborts the owner's upload",
    );
    expect_err(
        bob.list_parts()
            .bucket("acl-mp")
            .key("mp")
            .upload_id(id)
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "bob lists the owner's parts",
    );
    let his = bob
        .create_multipart_upload()
        .bucket("acl-mp")
        .key("mp-bob")
        .send()
        .await
        .must("bob starts his own upload");
    let his_id = his.upload_id().expect("upload id");
    let listed = owner
        .list_multipart_uploads()
        .bucket("acl-mp")
        .send()
        .await
        .must("ListMultipartUploads");
    let initiators: Vec<(&str, &str)> = listed
        .uploads()
        .iter()
        .map(|u| {
            let who = u.initiator().and_then(|i| i.id()).expect("initiator");
            (u.key().expect("key"), who)
        })
        .collect();
    assert_eq!(
        initiators,
        [("mp", cluster.user.uid.as_str()), ("mp-bob", "bob")]
    );
    owner
        .list_parts()
        .bucket("acl-mp")
        .key("mp-bob")
        .upload_id(his_id)
        .send()
        .await
        .must("the bucket's owner lists bob's parts");
    owner
        .abort_multipart_upload()
        .bucket("acl-mp")
        .key("mp-bob")
        .upload_id(his_id)
        .send()
        .await
        .must("the bucket's owner aborts bob's upload");

    // Object lock stays the owner's.
    let until = aws_sdk_s3::primitives::DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 3600,
    );
    expect_err(
        bob.put_object()
            .bucket("acl-mp")
            .key("pinned")
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(until)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "bob pins a version",
    );
    let locked = owner
        .put_object()
        .bucket("acl-mp")
        .key("governed")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .must("the owner locks a version");
    let version = locked.version_id().expect("version id");
    expect_err(
        bob.delete_object()
            .bucket("acl-mp")
            .key("governed")
            .version_id(version)
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "bob bypasses governance retention",
    );
    owner
        .delete_object()
        .bucket("acl-mp")
        .key("governed")
        .version_id(version)
        .bypass_governance_retention(true)
        .send()
        .await
        .must("the owner bypasses governance retention");
}
