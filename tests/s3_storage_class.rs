//! Storage classes end to end through the AWS SDK for Rust: STANDARD_IA on PUT, multipart
//! and CopyObject (an erasure-coded pool created on first use, shown by HEAD, GET, listings
//! and `shoal df`), classes refused as S3 refuses them, operator classes (`shoal
//! storage-class`), lifecycle transitions that move the bytes and leave nothing behind in
//! the old class after GC, and delayed purge in one command (`shoal bucket soft-delete`).
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, CompletedMultipartUpload, ExpirationStatus, LifecycleRule,
    LifecycleRuleFilter, StorageClass, Transition, TransitionStorageClass,
};
use common::gateway::Cluster;
use common::s3::{Must, assert_same, eventually, expect_err, random_bytes, upload_parts};

const IA_POOL: &str = "default.rgw.buckets.data.ia";
const MIB: usize = 1 << 20;

async fn put_in(s3: &Client, bucket: &str, key: &str, data: &[u8], class: Option<StorageClass>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .set_storage_class(class)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .must("PUT");
}

async fn get(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    common::s3::get(s3, bucket, key).await
}

/// The class HEAD shows (`None`: STANDARD, which S3 does not name).
async fn class_of(s3: &Client, bucket: &str, key: &str) -> Option<String> {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .must("HEAD")
        .storage_class()
        .map(|c| c.as_str().to_owned())
}

/// The objects in pool `pool` whose names contain `.tail.` (a bucket's data beyond heads).
fn tails_in(cluster: &Cluster, pool: &str) -> Vec<String> {
    let out = cluster.shoal(&["rados", "-p", pool, "ls"]);
    if !out.status.success() {
        return Vec::new(); // not created yet
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(".tail."))
        .map(str::to_owned)
        .collect()
}

/// `shoal df`'s stored bytes of `pool`.
fn stored_bytes(cluster: &Cluster, pool: &str) -> u64 {
    let df = cluster.shoal_json(&["df"]);
    df["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == pool)
        .map_or(0, |p| p["stored_bytes"].as_u64().unwrap())
}

/// PUT, multipart and copy into STANDARD_IA; what S3 refuses, refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_standard_ia_live_in_the_erasure_coded_pool() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket().bucket("iab").send().await.must("create");
    let big = random_bytes(9 * MIB + 5, 1);
    put_in(&s3, "iab", "big", &big, Some(StorageClass::StandardIa)).await;
    put_in(&s3, "iab", "empty", b"", Some(StorageClass::StandardIa)).await;
    put_in(&s3, "iab", "std", b"standard", None).await;
    assert_eq!(
        class_of(&s3, "iab", "big").await.as_deref(),
        Some("STANDARD_IA")
    );
    assert_eq!(class_of(&s3, "iab", "std").await, None);
    assert_same(&get(&s3, "iab", "big").await, &big, "STANDARD_IA read back");
    assert!(get(&s3, "iab", "empty").await.is_empty());
    let ranged = s3
        .get_object()
        .bucket("iab")
        .key("big")
        .range("bytes=4194000-4194500")
        .send()
        .await
        .must("ranged GET");
    assert_eq!(
        ranged.storage_class().map(|c| c.as_str()),
        Some("STANDARD_IA")
    );
    let part = common::s3::body(ranged.body).await;
    assert_same(&part, &big[4_194_000..=4_194_500], "a range across tails");
    // Its bytes are tails in the erasure-coded pool; its head holds none.
    let ia_tails = tails_in(&cluster, IA_POOL);
    assert_eq!(ia_tails.len(), 3, "9 MiB in 4 MiB tails: {ia_tails:?}");
    assert!(tails_in(&cluster, "default.rgw.buckets.data").is_empty());
    let listed = s3.list_objects_v2().bucket("iab").send().await.must("list");
    let classes: Vec<(String, String)> = listed
        .contents()
        .iter()
        .map(|o| {
            (
                o.key().unwrap().to_owned(),
                o.storage_class().unwrap().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        classes,
        [
            ("big".to_owned(), "STANDARD_IA".to_owned()),
            ("empty".to_owned(), "STANDARD_IA".to_owned()),
            ("std".to_owned(), "STANDARD".to_owned())
        ]
    );
    // Three hosts hold 2+1.
    let ia = cluster.shoal_json(&["pool", "get", IA_POOL]);
    assert_eq!(
        (&ia["type"], &ia["k"], &ia["m"]),
        (&"erasure".into(), &2.into(), &1.into()),
        "{ia}"
    );

    // Multipart: parts go to the class's pool; ListParts names the class.
    let up = s3
        .create_multipart_upload()
        .bucket("iab")
        .key("mp")
        .storage_class(StorageClass::StandardIa)
        .send()
        .await
        .must("create upload");
    let id = up.upload_id().unwrap();
    let parts = [random_bytes(5 * MIB, 2), random_bytes(MIB + 3, 3)];
    let done = upload_parts(&s3, "iab", "mp", id, &parts).await;
    let listed = s3
        .list_parts()
        .bucket("iab")
        .key("mp")
        .upload_id(id)
        .send()
        .await
        .must("list parts");
    assert_eq!(
        listed.storage_class().map(|c| c.as_str()),
        Some("STANDARD_IA")
    );
    s3.complete_multipart_upload()
        .bucket("iab")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .must("complete");
    assert_eq!(
        class_of(&s3, "iab", "mp").await.as_deref(),
        Some("STANDARD_IA")
    );
    assert_same(
        &get(&s3, "iab", "mp").await,
        &parts.concat(),
        "multipart IA",
    );

    // CopyObject changes the class, also onto itself.
    s3.copy_object()
        .bucket("iab")
        .key("std")
        .copy_source("iab/std")
        .storage_class(StorageClass::StandardIa)
        .send()
        .await
        .must("copy onto itself into STANDARD_IA");
    assert_eq!(
        class_of(&s3, "iab", "std").await.as_deref(),
        Some("STANDARD_IA")
    );
    assert_eq!(get(&s3, "iab", "std").await, b"standard");
    s3.copy_object()
        .bucket("iab")
        .key("back")
        .copy_source("iab/big")
        .send()
        .await
        .must("copy into STANDARD");
    assert_eq!(
        class_of(&s3, "iab", "back").await,
        None,
        "a copy is STANDARD unless asked"
    );
    assert_same(&get(&s3, "iab", "back").await, &big, "copied back");

    // Refused as S3 refuses them.
    for (class, status, code) in [
        (StorageClass::Glacier, 400, "InvalidStorageClass"),
        (StorageClass::DeepArchive, 400, "InvalidStorageClass"),
        (
            StorageClass::from("NO_SUCH_CLASS"),
            400,
            "InvalidStorageClass",
        ),
    ] {
        let what = format!("PUT {}", class.as_str());
        expect_err(
            s3.put_object()
                .bucket("iab")
                .key("refused")
                .storage_class(class)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            status,
            Some(code),
            &what,
        );
    }
    // `shoal df` counts the bytes in the pool (beacons carry usage every few seconds).
    let want = (big.len() + parts.concat().len() + "standard".len()) as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stored_bytes(&cluster, IA_POOL) < want {
        assert!(
            std::time::Instant::now() < deadline,
            "shoal df: {}",
            cluster.shoal_json(&["df"])
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// An operator's class over their own pool, listed, used and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_add_classes_over_their_pools() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket().bucket("ops").send().await.must("create");
    let refused = cluster.shoal(&["storage-class", "add", "COLD", "--pool", "nope"]);
    assert!(!refused.status.success(), "a class over no pool");
    let created = cluster.shoal(&["pool", "create", "cold", "--pg-num", "8"]);
    assert!(created.status.success(), "{created:?}");
    let bad_name = cluster.shoal(&["storage-class", "add", "cold", "--pool", "cold"]);
    assert!(!bad_name.status.success(), "lower-case names are refused");
    let added = cluster.shoal(&["storage-class", "add", "COLD", "--pool", "cold"]);
    assert!(added.status.success(), "{added:?}");
    let ls = cluster.shoal_json(&["storage-class", "ls"]);
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["class"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["STANDARD", "STANDARD_IA", "COLD"], "{ls}");
    // Gateways see a new class within their cache's life.
    let data = random_bytes(5 * MIB, 9);
    eventually(Duration::from_secs(10), "COLD usable", || async {
        s3.put_object()
            .bucket("ops")
            .key("c")
            .storage_class(StorageClass::from("COLD"))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .is_ok()
    })
    .await;
    assert_eq!(class_of(&s3, "ops", "c").await.as_deref(), Some("COLD"));
    assert_eq!(tails_in(&cluster, "cold").len(), 2);
    let rm = cluster.shoal(&["storage-class", "rm", "COLD"]);
    assert!(rm.status.success(), "{rm:?}");
    assert_same(&get(&s3, "ops", "c").await, &data, "still readable");
    eventually(Duration::from_secs(10), "COLD refused", || async {
        s3.put_object()
            .bucket("ops")
            .key("d")
            .storage_class(StorageClass::from("COLD"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .is_err()
    })
    .await;
}

fn transition_rule(id: &str, days: i32, class: TransitionStorageClass) -> LifecycleRule {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .transitions(
            Transition::builder()
                .days(days)
                .storage_class(class)
                .build(),
        )
        .build()
        .unwrap()
}

/// A STANDARD -> STANDARD_IA transition moves the bytes: the object reads back exact with
/// its ETag, version id and parts, the old tails go after GC, `shoal lc status` counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_moves_the_bytes_to_the_erasure_coded_pool() {
    let cluster = Cluster::start_with(&["--lc-day-secs", "2", "--lc-every", "1"]);
    let s3 = cluster.s3();
    for bucket in ["move", "moveversions"] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .must("create");
    }
    s3.put_bucket_versioning()
        .bucket("moveversions")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .must("versioning");
    let small = random_bytes(1000, 4);
    let large = random_bytes(6 * MIB + 7, 5);
    put_in(&s3, "move", "small", &small, None).await;
    put_in(&s3, "move", "large", &large, None).await;
    let parts = [random_bytes(5 * MIB, 6), random_bytes(2 * MIB, 7)];
    let up = s3
        .create_multipart_upload()
        .bucket("move")
        .key("mp")
        .send()
        .await
        .must("create upload");
    let id = up.upload_id().unwrap();
    let done = upload_parts(&s3, "move", "mp", id, &parts).await;
    s3.complete_multipart_upload()
        .bucket("move")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .must("complete");
    let old_version = s3
        .put_object()
        .bucket("moveversions")
        .key("v")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .must("PUT v1")
        .version_id()
        .unwrap()
        .to_owned();
    let current = s3
        .put_object()
        .bucket("moveversions")
        .key("v")
        .body(ByteStream::from(large.clone()))
        .send()
        .await
        .must("PUT v2");
    let (current_version, current_etag) = (
        current.version_id().unwrap().to_owned(),
        current.e_tag().unwrap().to_owned(),
    );
    let etag_before = s3
        .head_object()
        .bucket("move")
        .key("mp")
        .send()
        .await
        .must("HEAD")
        .e_tag()
        .unwrap()
        .to_owned();
    for bucket in ["move", "moveversions"] {
        // Current versions after a day, noncurrent ones a day after they became so.
        let mut rule = transition_rule("to-ia", 1, TransitionStorageClass::StandardIa);
        rule.noncurrent_version_transitions = Some(vec![
            aws_sdk_s3::types::NoncurrentVersionTransition::builder()
                .noncurrent_days(1)
                .storage_class(TransitionStorageClass::StandardIa)
                .build(),
        ]);
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .must("PutBucketLifecycleConfiguration");
    }
    let got = s3
        .get_bucket_lifecycle_configuration()
        .bucket("move")
        .send()
        .await
        .must("GetBucketLifecycleConfiguration");
    let t = &got.rules()[0].transitions()[0];
    assert_eq!(
        (t.days(), t.storage_class()),
        (Some(1), Some(&TransitionStorageClass::StandardIa))
    );
    let n = &got.rules()[0].noncurrent_version_transitions()[0];
    assert_eq!(
        (n.noncurrent_days(), n.storage_class()),
        (Some(1), Some(&TransitionStorageClass::StandardIa))
    );
    for (bucket, key) in [
        ("move", "small"),
        ("move", "large"),
        ("move", "mp"),
        ("moveversions", "v"),
    ] {
        eventually(Duration::from_secs(40), "the transition", || async {
            class_of(&s3, bucket, key).await.as_deref() == Some("STANDARD_IA")
        })
        .await;
    }
    assert_same(&get(&s3, "move", "small").await, &small, "small moved");
    assert_same(&get(&s3, "move", "large").await, &large, "large moved");
    assert_same(
        &get(&s3, "move", "mp").await,
        &parts.concat(),
        "multipart moved",
    );
    let head = s3
        .head_object()
        .bucket("move")
        .key("mp")
        .send()
        .await
        .must("HEAD");
    assert_eq!(head.e_tag(), Some(etag_before.as_str()), "same ETag");
    let part2 = s3
        .get_object()
        .bucket("move")
        .key("mp")
        .part_number(2)
        .send()
        .await
        .must("GET partNumber=2");
    assert_eq!(part2.parts_count(), Some(2));
    assert_same(
        &common::s3::body(part2.body).await,
        &parts[1],
        "part 2 moved",
    );
    // The version keeps its id and ETag; the noncurrent one stays where it was.
    let v = s3
        .get_object()
        .bucket("moveversions")
        .key("v")
        .send()
        .await
        .must("GET v");
    assert_eq!(v.version_id(), Some(current_version.as_str()));
    assert_eq!(v.e_tag(), Some(current_etag.as_str()));
    assert_same(&common::s3::body(v.body).await, &large, "versioned moved");
    // The noncurrent one moves too, keeping its id.
    let old = |s3: Client, id: String| async move {
        s3.get_object()
            .bucket("moveversions")
            .key("v")
            .version_id(id)
            .send()
            .await
            .must("GET v1")
    };
    eventually(
        Duration::from_secs(40),
        "the noncurrent transition",
        || async {
            old(s3.clone(), old_version.clone()).await.storage_class()
                == Some(&StorageClass::StandardIa)
        },
    )
    .await;
    let v1 = old(s3.clone(), old_version.clone()).await;
    assert_same(&common::s3::body(v1.body).await, &small, "v1 moved");
    let listed = s3
        .list_object_versions()
        .bucket("moveversions")
        .send()
        .await
        .must("ListObjectVersions");
    let shown: Vec<(bool, &str)> = listed
        .versions()
        .iter()
        .map(|v| (v.is_latest().unwrap(), v.storage_class().unwrap().as_str()))
        .collect();
    assert_eq!(shown, [(true, "STANDARD_IA"), (false, "STANDARD_IA")]);
    // After GC (2 s in tests) no moved version keeps tails in the data pool (v1's first
    // stripe, preserved there as a tail when it became noncurrent, included).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = tails_in(&cluster, "default.rgw.buckets.data");
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Passes run every second; the one that moved them counted them, later ones find
    // nothing to move.
    let status = cluster.shoal_json(&["lc", "status", "--bucket", "move"]);
    assert!(
        status[0]["last_pass"]["moved"].as_u64().is_some(),
        "{status}"
    );
    let plain = cluster.shoal(&["lc", "status"]);
    assert!(
        String::from_utf8_lossy(&plain.stdout).contains(" moved"),
        "{plain:?}"
    );
}

/// `shoal bucket soft-delete`: a deleted object is restorable inside the window and purged
/// after it; the bucket's own rules stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_delete_keeps_deleted_objects_for_the_window() {
    let cluster = Cluster::start_with(&["--lc-day-secs", "2", "--lc-every", "1"]);
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("soft")
        .send()
        .await
        .must("create");
    put_in(&s3, "soft", "keep", b"kept", None).await;
    let out = cluster.shoal(&["bucket", "soft-delete", "--bucket", "soft", "--days", "3"]);
    assert!(out.status.success(), "{out:?}");
    let versioning = s3
        .get_bucket_versioning()
        .bucket("soft")
        .send()
        .await
        .must("GetBucketVersioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    // A gateway uses a bucket record it read for up to 2 s (README: bucket changes made
    // elsewhere show within that), and this one read it before the command.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    put_in(&s3, "soft", "gone", b"deleted later", None).await;
    put_in(&s3, "soft", "back", b"restored", None).await;
    s3.delete_object()
        .bucket("soft")
        .key("gone")
        .send()
        .await
        .must("DELETE");
    let marker = s3
        .delete_object()
        .bucket("soft")
        .key("back")
        .send()
        .await
        .must("DELETE");
    // Inside the window: restorable by deleting the marker.
    s3.delete_object()
        .bucket("soft")
        .key("back")
        .version_id(marker.version_id().unwrap())
        .send()
        .await
        .must("undelete");
    assert_eq!(get(&s3, "soft", "back").await, b"restored");
    // After it: "gone" has no version left at all.
    eventually(Duration::from_secs(40), "the purge", || async {
        let listed = s3
            .list_object_versions()
            .bucket("soft")
            .prefix("gone")
            .send()
            .await
            .must("ListObjectVersions");
        listed.versions().is_empty() && listed.delete_markers().is_empty()
    })
    .await;
    assert_eq!(get(&s3, "soft", "keep").await, b"kept");
    assert_eq!(get(&s3, "soft", "back").await, b"restored");
    let rules = s3
        .get_bucket_lifecycle_configuration()
        .bucket("soft")
        .send()
        .await
        .must("GetBucketLifecycleConfiguration");
    assert_eq!(rules.rules()[0].id(), Some("shoal-soft-delete"));
    let off = cluster.shoal(&["bucket", "soft-delete", "--bucket", "soft", "--off"]);
    assert!(off.status.success(), "{off:?}");
    expect_err(
        s3.get_bucket_lifecycle_configuration()
            .bucket("soft")
            .send()
            .await,
        404,
        Some("NoSuchLifecycleConfiguration"),
        "the rule is gone",
    );
}

/// kill -9 of the gateway while transitions move objects: every object reads back whole,
/// and once the janitor and GC have run, each object's bytes are in exactly one pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_transition_loses_nothing_and_leaves_one_copy() {
    let mut cluster = Cluster::start_with(&["--lc-day-secs", "1", "--lc-every", "1"]);
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("crash")
        .send()
        .await
        .must("create");
    let objects: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("k{i}"), random_bytes(6 * MIB + i, 100 + i as u64)))
        .collect();
    for (key, data) in &objects {
        put_in(&s3, "crash", key, data, None).await;
    }
    s3.put_bucket_lifecycle_configuration()
        .bucket("crash")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(transition_rule(
                    "to-ia",
                    1,
                    TransitionStorageClass::StandardIa,
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .must("PutBucketLifecycleConfiguration");
    // Kill as soon as the first object has moved: the pass is then mid-way.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    'watch: loop {
        for (key, _) in &objects {
            if class_of(&s3, "crash", key).await.is_some() {
                break 'watch;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no transition started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.kill_gateway();
    let mut moved = 0;
    cluster.restart_gateway();
    let s3 = cluster.s3();
    for (key, data) in &objects {
        if class_of(&s3, "crash", key).await.is_some() {
            moved += 1;
        }
        assert_same(&get(&s3, "crash", key).await, data, key);
    }
    eprintln!("{moved} of {} moved when the gateway died", objects.len());
    for (key, _) in &objects {
        eventually(Duration::from_secs(60), "the rest moved", || async {
            class_of(&s3, "crash", key).await.as_deref() == Some("STANDARD_IA")
        })
        .await;
    }
    for (key, data) in &objects {
        assert_same(&get(&s3, "crash", key).await, data, key);
    }
    // Each object is two tails in the erasure-coded pool, and nothing else is left.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (data, ia) = (
            tails_in(&cluster, "default.rgw.buckets.data"),
            tails_in(&cluster, IA_POOL),
        );
        if data.is_empty() && ia.len() == 2 * objects.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: data pool {data:?}, {} tails in {IA_POOL}",
            ia.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// INTELLIGENT_TIERING: an object nobody reads goes cold (its bytes move to the
/// erasure-coded pool), is served from there when read, and that read brings it back; an
/// object read all along stays hot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intelligent_tiering_moves_idle_objects_cold_and_read_ones_back() {
    let cluster = Cluster::start_with(&["--lc-day-secs", "1", "--lc-every", "1"]);
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("tier")
        .send()
        .await
        .must("create");
    let idle = random_bytes(5 * MIB + 3, 21);
    let busy = random_bytes(MIB, 22);
    put_in(
        &s3,
        "tier",
        "idle",
        &idle,
        Some(StorageClass::IntelligentTiering),
    )
    .await;
    put_in(
        &s3,
        "tier",
        "busy",
        &busy,
        Some(StorageClass::IntelligentTiering),
    )
    .await;
    assert_eq!(
        class_of(&s3, "tier", "idle").await.as_deref(),
        Some("INTELLIGENT_TIERING")
    );
    let out = cluster.shoal(&["bucket", "tiering", "--bucket", "tier", "--idle-days", "5"]);
    assert!(out.status.success(), "{out:?}");
    let data_pool = "default.rgw.buckets.data";
    // "idle" (two tails beyond its head's stripe... all its bytes once cold) goes cold;
    // "busy", read every half second, never does.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert_same(&get(&s3, "tier", "busy").await, &busy, "busy");
        let cold = tails_in(&cluster, IA_POOL);
        assert!(cold.len() <= 2, "busy went cold: {cold:?}");
        if cold.len() == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "idle never went cold");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        class_of(&s3, "tier", "idle").await.as_deref(),
        Some("INTELLIGENT_TIERING"),
        "the class stays; the tier is internal"
    );
    // Served from the cold pool, and that read brings it back to the data pool.
    assert_same(&get(&s3, "tier", "idle").await, &idle, "read while cold");
    eventually(
        Duration::from_secs(20),
        "idle back in the data pool",
        || async { tails_in(&cluster, data_pool).len() == 2 },
    )
    .await;
    assert_same(
        &get(&s3, "tier", "idle").await,
        &idle,
        "read when hot again",
    );
    let status = cluster.shoal_json(&["lc", "status", "--bucket", "tier"]);
    assert_eq!(status[0]["rules"], 0, "tiering alone: {status}");
}
