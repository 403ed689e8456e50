//! A bucket's public access block and object ownership controls end to end: public ACLs
//! and policies refused or ignored, a public policy restricted to the owner, ACLs turned
//! off by BucketOwnerEnforced (objects owned by the bucket's owner, ACL requests refused),
//! and BucketOwnerPreferred taking objects written with bucket-owner-full-control.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketCannedAcl, ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration,
};
use common::gateway::Cluster;
use common::http::http_request;
use common::s3::{Must, expect_err, put};

fn anonymous_get(cluster: &Cluster, target: &str) -> u16 {
    http_request(cluster.addr, "GET", target, &[], b"").status
}

fn block(acls: bool, ignore: bool, policy: bool, restrict: bool) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(acls)
        .ignore_public_acls(ignore)
        .block_public_policy(policy)
        .restrict_public_buckets(restrict)
        .build()
}

fn ownership(o: ObjectOwnership) -> OwnershipControls {
    OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(o)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_access_blocks_and_ownership_controls() {
    let cluster = Cluster::start();
    let owner = cluster.s3();
    let alice_user = cluster.create_user("alice", "Alice");
    let alice = cluster.client_for(&alice_user);
    let owner_id = cluster.user.uid.clone();

    // Public access block.
    owner
        .create_bucket()
        .bucket("blocked")
        .send()
        .await
        .must("create");
    expect_err(
        owner
            .get_public_access_block()
            .bucket("blocked")
            .send()
            .await,
        404,
        Some("NoSuchPublicAccessBlockConfiguration"),
        "no block yet",
    );
    put(&owner, "blocked", "k", b"k").await;
    owner
        .put_object_acl()
        .bucket("blocked")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .must("public-read before the block");
    assert_eq!(anonymous_get(&cluster, "/blocked/k"), 200);
    owner
        .put_public_access_block()
        .bucket("blocked")
        .public_access_block_configuration(block(true, true, true, true))
        .send()
        .await
        .must("PutPublicAccessBlock");
    let got = owner
        .get_public_access_block()
        .bucket("blocked")
        .send()
        .await
        .must("GetPublicAccessBlock");
    let c = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    // IgnorePublicAcls: the grant made before no longer counts.
    assert_eq!(anonymous_get(&cluster, "/blocked/k"), 403);
    // BlockPublicAcls: new public ACLs are refused, on buckets and objects.
    expect_err(
        owner
            .put_bucket_acl()
            .bucket("blocked")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "a public bucket ACL under the block",
    );
    expect_err(
        owner
            .put_object()
            .bucket("blocked")
            .key("p")
            .acl(ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"p"))
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "a public object ACL under the block",
    );
    owner
        .put_object()
        .bucket("blocked")
        .key("p")
        .acl(ObjectCannedAcl::Private)
        .body(ByteStream::from_static(b"p"))
        .send()
        .await
        .must("a private object under the block");
    // BlockPublicPolicy: a public policy is refused, one confined to addresses is not.
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::blocked/*"}]}"#;
    expect_err(
        owner
            .put_bucket_policy()
            .bucket("blocked")
            .policy(public)
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "a public policy under the block",
    );
    let confined = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::blocked/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    owner
        .put_bucket_policy()
        .bucket("blocked")
        .policy(confined)
        .send()
        .await
        .must("a policy confined to addresses is not public");
    for open in [
        r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
        r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        r#"{"StringLike":{"aws:username":"*"}}"#,
    ] {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::blocked/*","Condition":{open}}}]}}"#
        );
        expect_err(
            owner
                .put_bucket_policy()
                .bucket("blocked")
                .policy(policy)
                .send()
                .await,
            403,
            Some("AccessDenied"),
            &format!("a condition that lets anyone in is public: {open}"),
        );
    }
    // RestrictPublicBuckets: with only that part of the block, a public policy may be put
    // but allows nobody but the owner.
    owner
        .put_public_access_block()
        .bucket("blocked")
        .public_access_block_configuration(block(false, false, false, true))
        .send()
        .await
        .must("restrict only");
    owner
        .put_bucket_policy()
        .bucket("blocked")
        .policy(public)
        .send()
        .await
        .must("a public policy, restricted");
    owner
        .put_object_acl()
        .bucket("blocked")
        .key("k")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .must("k private again");
    assert_eq!(anonymous_get(&cluster, "/blocked/k"), 403, "restricted");
    owner
        .delete_public_access_block()
        .bucket("blocked")
        .send()
        .await
        .must("DeletePublicAccessBlock");
    assert_eq!(
        anonymous_get(&cluster, "/blocked/k"),
        200,
        "the policy applies again"
    );

    // BucketOwnerEnforced: ACLs off.
    owner
        .create_bucket()
        .bucket("enforced")
        .send()
        .await
        .must("create");
    owner
        .put_bucket_acl()
        .bucket("enforced")
        .grant_write("id=alice")
        .send()
        .await
        .must("alice may write");
    alice
        .put_object()
        .bucket("enforced")
        .key("before")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .body(ByteStream::from_static(b"b"))
        .send()
        .await
        .must("alice writes before ACLs go off");
    assert_eq!(anonymous_get(&cluster, "/enforced/before"), 200);
    expect_err(
        owner
            .put_bucket_ownership_controls()
            .bucket("enforced")
            .ownership_controls(ownership(ObjectOwnership::BucketOwnerEnforced))
            .send()
            .await,
        400,
        Some("InvalidBucketAclWithObjectOwnership"),
        "enforcing while the ACL grants alice",
    );
    owner
        .put_bucket_acl()
        .bucket("enforced")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .must("private");
    owner
        .put_bucket_ownership_controls()
        .bucket("enforced")
        .ownership_controls(ownership(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .must("enforce");
    let got = owner
        .get_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .must("get");
    let rule = &got.ownership_controls().unwrap().rules()[0];
    assert_eq!(
        rule.object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );
    // What alice wrote before is the owner's now, its public grant void.
    let acl = owner
        .get_object_acl()
        .bucket("enforced")
        .key("before")
        .send()
        .await
        .must("the owner reads the ACL of what alice wrote before");
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(owner_id.as_str()));
    assert_eq!(acl.grants().len(), 1, "full control for the owner only");
    assert_eq!(anonymous_get(&cluster, "/enforced/before"), 403);
    expect_err(
        owner
            .create_bucket()
            .bucket("born-enforced")
            .acl(BucketCannedAcl::PublicRead)
            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
            .send()
            .await,
        400,
        Some("InvalidBucketAclWithObjectOwnership"),
        "CreateBucket with an ACL and ACLs off",
    );
    owner
        .create_bucket()
        .bucket("born-enforced")
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await
        .must("CreateBucket with ACLs off");
    let got = owner
        .get_bucket_ownership_controls()
        .bucket("born-enforced")
        .send()
        .await
        .must("get");
    assert_eq!(
        got.ownership_controls().unwrap().rules()[0].object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );
    expect_err(
        owner
            .put_bucket_acl()
            .bucket("enforced")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        400,
        Some("AccessControlListNotSupported"),
        "an ACL with ACLs off",
    );
    expect_err(
        owner
            .put_object()
            .bucket("enforced")
            .key("x")
            .acl(ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        400,
        Some("AccessControlListNotSupported"),
        "an object ACL with ACLs off",
    );
    // Writes through a policy: alice's object is the bucket owner's.
    let grant_alice = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::enforced/*"}]}"#;
    owner
        .put_bucket_policy()
        .bucket("enforced")
        .policy(grant_alice)
        .send()
        .await
        .must("policy");
    alice
        .put_object()
        .bucket("enforced")
        .key("from-alice")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .must("alice writes, bucket-owner-full-control accepted");
    let acl = owner
        .get_object_acl()
        .bucket("enforced")
        .key("from-alice")
        .send()
        .await
        .must("the owner reads the ACL of alice's write");
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(owner_id.as_str()));

    // BucketOwnerPreferred: bucket-owner-full-control hands the object to the owner.
    owner
        .create_bucket()
        .bucket("preferred")
        .send()
        .await
        .must("create");
    owner
        .put_bucket_acl()
        .bucket("preferred")
        .grant_write("id=alice")
        .send()
        .await
        .must("alice may write");
    owner
        .put_bucket_ownership_controls()
        .bucket("preferred")
        .ownership_controls(ownership(ObjectOwnership::BucketOwnerPreferred))
        .send()
        .await
        .must("prefer");
    for (key, acl, reader, owned_by) in [
        (
            "given",
            Some(ObjectCannedAcl::BucketOwnerFullControl),
            &owner,
            owner_id.as_str(),
        ),
        ("kept", None, &alice, "alice"),
    ] {
        let mut put = alice
            .put_object()
            .bucket("preferred")
            .key(key)
            .body(ByteStream::from_static(b"a"));
        if let Some(acl) = acl {
            put = put.acl(acl);
        }
        put.send().await.must("alice writes");
        let acl = reader
            .get_object_acl()
            .bucket("preferred")
            .key(key)
            .send()
            .await
            .must("its owner reads the ACL");
        assert_eq!(acl.owner().and_then(|o| o.id()), Some(owned_by), "{key}");
    }
    owner
        .delete_bucket_ownership_controls()
        .bucket("preferred")
        .send()
        .await
        .must("delete");
    expect_err(
        owner
            .get_bucket_ownership_controls()
            .bucket("preferred")
            .send()
            .await,
        404,
        Some("OwnershipControlsNotFoundError"),
        "after delete",
    );
}
