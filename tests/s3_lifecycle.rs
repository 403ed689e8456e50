//! S3 lifecycle end to end through the official AWS SDK for Rust, with a scaled day (the
//! gateway's `--lc-day-secs`): the configuration and its errors, expiration of current
//! versions by prefix, noncurrent versions and lone delete markers (the delayed-purge
//! recipe: a deleted object restorable inside the window, gone after it), aborting
//! incomplete uploads, and object lock winning over lifecycle.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, NoncurrentVersionTransition, ObjectLockLegalHoldStatus,
    Transition, TransitionStorageClass, VersioningConfiguration,
};
use common::gateway::Cluster;
use common::s3::{Must, eventually, expect_err, list_keys};

/// One lifecycle "day", in seconds, for these tests.
const DAY_SECS: &str = "2";

fn start() -> Cluster {
    Cluster::start_with(&["--lc-day-secs", DAY_SECS, "--lc-every", "1"])
}

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn put_rules(s3: &Client, bucket: &str, rules: Vec<LifecycleRule>) {
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .must("PutBucketLifecycleConfiguration");
}

async fn put(s3: &Client, bucket: &str, key: &str) -> Option<String> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .must("PUT")
        .version_id()
        .map(str::to_owned)
}

/// Every (key, version id) ListObjectVersions shows, markers included.
async fn versions(s3: &Client, bucket: &str) -> Vec<(String, String)> {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .must("ListObjectVersions");
    let mut all: Vec<(String, String)> = out
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap().to_owned(),
                v.version_id().unwrap().to_owned(),
            )
        })
        .chain(out.delete_markers().iter().map(|m| {
            (
                m.key().unwrap().to_owned(),
                m.version_id().unwrap().to_owned(),
            )
        }))
        .collect();
    all.sort();
    all
}

/// The configuration reads back as given, and what S3 refuses is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_configuration_is_kept_and_checked() {
    let cluster = start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("conf")
        .send()
        .await
        .must("create");
    expect_err(
        s3.get_bucket_lifecycle_configuration()
            .bucket("conf")
            .send()
            .await,
        404,
        Some("NoSuchLifecycleConfiguration"),
        "no configuration yet",
    );
    let rules = vec![
        rule("logs", "logs/")
            .expiration(LifecycleExpiration::builder().days(7).build())
            .build()
            .unwrap(),
        rule("old", "")
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(30)
                    .newer_noncurrent_versions(2)
                    .build(),
            )
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(3)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    put_rules(&s3, "conf", rules.clone()).await;
    let got = s3
        .get_bucket_lifecycle_configuration()
        .bucket("conf")
        .send()
        .await
        .must("GetBucketLifecycleConfiguration");
    assert_eq!(got.rules(), rules.as_slice());

    let refused = |rule: LifecycleRule| {
        s3.put_bucket_lifecycle_configuration()
            .bucket("conf")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    expect_err(
        refused(
            rule("t", "")
                .noncurrent_version_transitions(
                    NoncurrentVersionTransition::builder()
                        .noncurrent_days(30)
                        .storage_class(TransitionStorageClass::StandardIa)
                        .build(),
                )
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(10)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .await,
        400,
        Some("InvalidArgument"),
        "a noncurrent version transition after its expiration",
    );
    for (class, status, code) in [
        (TransitionStorageClass::Glacier, 400, "InvalidStorageClass"),
        (
            TransitionStorageClass::DeepArchive,
            400,
            "InvalidStorageClass",
        ),
    ] {
        let what = format!("a transition to {}", class.as_str());
        expect_err(
            refused(
                rule("t", "")
                    .transitions(Transition::builder().days(30).storage_class(class).build())
                    .build()
                    .unwrap(),
            )
            .await,
            status,
            Some(code),
            &what,
        );
    }
    expect_err(
        refused(
            rule("t", "")
                .expiration(LifecycleExpiration::builder().days(10).build())
                .transitions(
                    Transition::builder()
                        .days(30)
                        .storage_class(TransitionStorageClass::StandardIa)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .await,
        400,
        Some("InvalidArgument"),
        "a transition after the expiration",
    );
    expect_err(
        refused(
            rule("z", "")
                .expiration(LifecycleExpiration::builder().days(0).build())
                .build()
                .unwrap(),
        )
        .await,
        400,
        Some("InvalidArgument"),
        "Days 0",
    );
    expect_err(
        refused(rule("none", "").build().unwrap()).await,
        400,
        Some("InvalidArgument"),
        "a rule without an action",
    );
    expect_err(
        refused(
            rule("d", "")
                .expiration(
                    LifecycleExpiration::builder()
                        .date(DateTime::from_secs(1_700_000_123))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .await,
        400,
        Some("InvalidArgument"),
        "a date not at midnight",
    );
    // Refusals left the configuration as it was; a delete removes it.
    let got = s3
        .get_bucket_lifecycle_configuration()
        .bucket("conf")
        .send()
        .await
        .must("GetBucketLifecycleConfiguration");
    assert_eq!(got.rules().len(), 2);
    s3.delete_bucket_lifecycle()
        .bucket("conf")
        .send()
        .await
        .must("DeleteBucketLifecycle");
    expect_err(
        s3.get_bucket_lifecycle_configuration()
            .bucket("conf")
            .send()
            .await,
        404,
        Some("NoSuchLifecycleConfiguration"),
        "deleted",
    );
}

/// Current versions expire by prefix (deleted where nothing is versioned), incomplete
/// uploads are aborted, and other keys stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_and_uploads_expire_after_their_days() {
    let cluster = start();
    let s3 = cluster.s3();
    s3.create_bucket().bucket("tmp").send().await.must("create");
    put_rules(
        &s3,
        "tmp",
        vec![
            rule("logs", "logs/")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
            rule("uploads", "")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    for key in ["logs/a", "logs/b", "keep/c"] {
        let out = s3
            .put_object()
            .bucket("tmp")
            .key(key)
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .must("PUT");
        // x-amz-expiration names the rule that will expire it, and when.
        assert_eq!(
            out.expiration()
                .is_some_and(|e| e.contains(r#"rule-id="logs""#)),
            key.starts_with("logs/"),
            "{key}: {:?}",
            out.expiration()
        );
    }
    let head = s3
        .head_object()
        .bucket("tmp")
        .key("logs/a")
        .send()
        .await
        .must("HEAD");
    let expiration = head.expiration().expect("x-amz-expiration");
    assert!(
        expiration.starts_with("expiry-date=\"") && expiration.ends_with(r#"GMT", rule-id="logs""#),
        "{expiration}"
    );
    s3.create_multipart_upload()
        .bucket("tmp")
        .key("big")
        .send()
        .await
        .must("CreateMultipartUpload");
    assert_eq!(
        list_keys(&s3, "tmp", "", 1000).await.len(),
        3,
        "nothing expires at once"
    );
    eventually(Duration::from_secs(30), "logs/ expired", || async {
        list_keys(&s3, "tmp", "", 1000).await == ["keep/c"]
    })
    .await;
    eventually(Duration::from_secs(30), "the upload aborted", || async {
        let out = s3
            .list_multipart_uploads()
            .bucket("tmp")
            .send()
            .await
            .must("ListMultipartUploads");
        out.uploads().is_empty()
    })
    .await;
    // `shoal lc status` tells what the passes did (the counts of the last one).
    eventually(Duration::from_secs(10), "lc status", || async {
        let status = cluster.shoal_json(&["lc", "status", "--bucket", "tmp"]);
        status[0]["rules"] == 2 && status[0]["last_pass"].is_object()
    })
    .await;
}

/// `shoal lc run` makes a pass now, as a gateway would (a gateway that passes once an hour
/// has not got to it), and gives the bucket's lease back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoal_lc_run_applies_the_rules_now() {
    let cluster = Cluster::start_with(&["--lc-every", "3600"]);
    let s3 = cluster.s3();
    s3.create_bucket().bucket("now").send().await.must("create");
    put_rules(
        &s3,
        "now",
        vec![
            rule("all", "")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
        ],
    )
    .await;
    put(&s3, "now", "k").await;
    let status = cluster.shoal_json(&["lc", "status"]);
    assert_eq!(status[0]["bucket"], "now", "{status}");
    assert!(status[0]["last_pass"].is_null(), "{status}");
    // A "day" of one second: due within two.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ran = cluster.shoal_json(&["lc", "run", "--day-secs", "1"]);
    assert_eq!(ran["buckets"], 1, "{ran}");
    assert!(
        list_keys(&s3, "now", "", 10).await.is_empty(),
        "expired by the pass"
    );
    let status = cluster.shoal_json(&["lc", "status", "--bucket", "now"]);
    assert_eq!(status[0]["last_pass"]["expired"], 1, "{status}");
    // The lease was given back: a second run gets the bucket again.
    let ran = cluster.shoal_json(&["lc", "run"]);
    assert_eq!(ran["buckets"], 1, "{ran}");
}

/// The delayed-purge recipe: versioning, noncurrent versions expiring after a day, and
/// lone delete markers removed. A deleted object can be restored inside the window; after
/// it, nothing is left. A version under legal hold outlives every rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_objects_are_purged_after_the_window_unless_locked() {
    let cluster = start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("trash")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .must("create");
    s3.get_bucket_versioning()
        .bucket("trash")
        .send()
        .await
        .must("versioning")
        .status()
        .filter(|s| **s == BucketVersioningStatus::Enabled)
        .expect("versioned with object lock");
    put_rules(
        &s3,
        "trash",
        vec![
            rule("purge", "")
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    let doc = put(&s3, "trash", "doc").await.expect("a version");
    let held = s3
        .put_object()
        .bucket("trash")
        .key("held")
        .body(ByteStream::from_static(b"h"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .must("PUT held")
        .version_id()
        .unwrap()
        .to_owned();
    for key in ["doc", "held"] {
        s3.delete_object()
            .bucket("trash")
            .key(key)
            .send()
            .await
            .must("DELETE");
    }
    // Inside the window: restorable by deleting the marker... which this test does not do;
    // the version is still there to read.
    s3.get_object()
        .bucket("trash")
        .key("doc")
        .version_id(&doc)
        .send()
        .await
        .must("a deleted object's version inside the window");
    // After it: doc's version and then its lone marker are gone; the held version stays
    // (and so does the marker over it, which is not alone).
    eventually(Duration::from_secs(40), "doc purged", || async {
        versions(&s3, "trash").await.iter().all(|(k, _)| k != "doc")
    })
    .await;
    let left = versions(&s3, "trash").await;
    assert!(
        left.contains(&("held".to_owned(), held.clone())),
        "{left:?}"
    );
    s3.get_object()
        .bucket("trash")
        .key("held")
        .version_id(&held)
        .send()
        .await
        .must("the held version reads");
}

/// Inside the window a deleted object is restored by deleting its marker, and a current
/// version never expires by a noncurrent rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioning_recipe_restores_inside_the_window() {
    let cluster = start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("docs")
        .send()
        .await
        .must("create");
    s3.put_bucket_versioning()
        .bucket("docs")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .must("versioning");
    put_rules(
        &s3,
        "docs",
        vec![
            rule("soft-delete", "")
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    put(&s3, "docs", "a").await;
    let marker = s3
        .delete_object()
        .bucket("docs")
        .key("a")
        .send()
        .await
        .must("DELETE")
        .version_id()
        .unwrap()
        .to_owned();
    // Restore inside the window: delete the marker.
    s3.delete_object()
        .bucket("docs")
        .key("a")
        .version_id(&marker)
        .send()
        .await
        .must("delete the marker");
    assert_eq!(list_keys(&s3, "docs", "", 10).await, ["a"]);
    // A current version never expires by a noncurrent rule: still there after the window.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(list_keys(&s3, "docs", "", 10).await, ["a"]);
}

/// Two gateways share the buckets: a bucket's passes are made by one gateway at a time (its
/// lease), and when that gateway dies the other takes the bucket over once the lease runs
/// out (a minute at least).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_gateways_buckets_are_taken_over() {
    let mut cluster = start();
    let mut other = Some(cluster.extra_gateway());
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("shared")
        .send()
        .await
        .must("create");
    put_rules(
        &s3,
        "shared",
        vec![
            rule("all", "")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
        ],
    )
    .await;
    put(&s3, "shared", "first").await;
    eventually(Duration::from_secs(30), "first expired", || async {
        list_keys(&s3, "shared", "", 100).await.is_empty()
    })
    .await;
    let status = cluster.shoal_json(&["lc", "status", "--bucket", "shared"]);
    let holder = status[0]["last_pass"]["holder"]
        .as_str()
        .unwrap_or_else(|| panic!("no holder in {status}"))
        .to_owned();
    // Kill the gateway that holds the bucket; write through the other.
    let (survivor, survivor_addr) = if holder.starts_with(&cluster.addr.to_string()) {
        cluster.kill_gateway();
        let other = other.as_ref().unwrap();
        (other.client_for(&cluster.user), other.addr)
    } else {
        drop(other.take());
        (cluster.s3(), cluster.addr)
    };
    put(&survivor, "shared", "second").await;
    eventually(Duration::from_secs(150), "second expired", || async {
        list_keys(&survivor, "shared", "", 100).await.is_empty()
    })
    .await;
    let status = cluster.shoal_json(&["lc", "status", "--bucket", "shared"]);
    let now = status[0]["last_pass"]["holder"].as_str().unwrap();
    assert!(
        now.starts_with(&survivor_addr.to_string()),
        "{now}: not the surviving gateway ({holder} died)"
    );
}
