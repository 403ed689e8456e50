//! S3 versioning end to end through the official AWS SDK for Rust: enabling and suspending,
//! version ids on every write, reads of any version (objects written before versioning are
//! the "null" version, large ones too), delete markers, deleting exactly the version named
//! (the next newest taking a deleted current version's place), ListObjectVersions paging and
//! prefixes, multipart and copy with versions, and GC leaving nothing once every version is
//! gone.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
    VersioningConfiguration,
};
use common::gateway::Cluster;
use common::s3::{Must, assert_same, body, expect_err, list_keys, random_bytes};

const MIB: usize = 1 << 20;

async fn set_versioning(s3: &Client, bucket: &str, status: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .must("PutBucketVersioning");
}

/// PUTs `data` and returns the version id the response names.
async fn put_version(s3: &Client, bucket: &str, key: &str, data: &[u8]) -> String {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .must("PUT");
    out.version_id().expect("a version id").to_owned()
}

async fn get_version(s3: &Client, bucket: &str, key: &str, version: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .must(&format!("GET {key} version {version}"));
    assert_eq!(out.version_id(), Some(version), "GET names the version");
    body(out.body).await
}

async fn get_current(s3: &Client, bucket: &str, key: &str) -> (Vec<u8>, String) {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .must(&format!("GET {key}"));
    let version = out.version_id().expect("a version id").to_owned();
    (body(out.body).await, version)
}

/// One entry of ListObjectVersions: (key, version id, is latest, is a delete marker).
type Listed = (String, String, bool, bool);

/// Every version and delete marker of `bucket` under `prefix`, paging `page` at a time: each
/// page's versions, then its markers. The XML keeps the two apart, so S3's one order (key,
/// then newest first) shows in each kind on its own: compare with [`same_listing`].
async fn all_versions(s3: &Client, bucket: &str, prefix: &str, page: i32) -> Vec<Listed> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    for _ in 0..10_000 {
        let resp = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(page)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .must("ListObjectVersions");
        let before = out.len();
        for v in resp.versions() {
            out.push((
                v.key().unwrap().to_owned(),
                v.version_id().unwrap().to_owned(),
                v.is_latest().unwrap(),
                false,
            ));
        }
        for m in resp.delete_markers() {
            out.push((
                m.key().unwrap().to_owned(),
                m.version_id().unwrap().to_owned(),
                m.is_latest().unwrap(),
                true,
            ));
        }
        assert!(
            out.len() - before <= page as usize,
            "a page holds at most max-keys"
        );
        if !resp.is_truncated().unwrap_or(false) {
            return out;
        }
        key_marker = resp.next_key_marker().map(str::to_owned);
        version_marker = resp.next_version_id_marker().map(str::to_owned);
        assert!(
            key_marker.is_some(),
            "a truncated page names where to go on"
        );
    }
    panic!("ListObjectVersions never ended");
}

/// Asserts that `got` ([`all_versions`]) lists what `want` (in S3's order) does: the same
/// versions in the same order, and the same delete markers in the same order.
#[track_caller]
fn same_listing(got: &[Listed], want: &[Listed], what: &str) {
    let kind = |list: &[Listed], marker: bool| -> Vec<Listed> {
        list.iter().filter(|e| e.3 == marker).cloned().collect()
    };
    assert_eq!(kind(got, false), kind(want, false), "{what}: versions");
    assert_eq!(kind(got, true), kind(want, true), "{what}: delete markers");
}

/// The x-amz-delete-marker and x-amz-version-id headers of a failed SDK call.
fn marker_headers<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (Option<String>, Option<String>) {
    let headers = err.raw_response().expect("a response").headers();
    (
        headers.get("x-amz-delete-marker").map(str::to_owned),
        headers.get("x-amz-version-id").map(str::to_owned),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_kept_read_and_deleted_exactly() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket().bucket("ver").send().await.must("create");

    // Written before versioning: these become the "null" versions. `big` has bytes in its
    // head and in tails, so keeping it noncurrent moves its head bytes.
    let old_big = random_bytes(5 * MIB + 7, 1);
    let out = s3
        .put_object()
        .bucket("ver")
        .key("big")
        .body(ByteStream::from(old_big.clone()))
        .send()
        .await
        .must("PUT big");
    assert_eq!(out.version_id(), None, "no version ids before versioning");
    s3.put_object()
        .bucket("ver")
        .key("k")
        .body(ByteStream::from_static(b"v0"))
        .send()
        .await
        .must("PUT k");
    let status = s3
        .get_bucket_versioning()
        .bucket("ver")
        .send()
        .await
        .must("GetBucketVersioning");
    assert_eq!(status.status(), None, "never enabled");

    set_versioning(&s3, "ver", BucketVersioningStatus::Enabled).await;
    let status = s3
        .get_bucket_versioning()
        .bucket("ver")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), Some(&BucketVersioningStatus::Enabled));
    same_listing(
        &all_versions(&s3, "ver", "", 1000).await,
        &[
            ("big".into(), "null".into(), true, false),
            ("k".into(), "null".into(), true, false),
        ],
        "objects from before versioning are listed as their null versions",
    );

    let v1 = put_version(&s3, "ver", "k", b"v1").await;
    let v2 = put_version(&s3, "ver", "k", b"v2").await;
    assert!(v1 != v2 && v1 != "null" && v2 != "null", "{v1} {v2}");
    let new_big = random_bytes(4 * MIB, 2);
    let big2 = put_version(&s3, "ver", "big", &new_big).await;

    // Every version reads back; the current one without an id.
    assert_eq!(
        get_current(&s3, "ver", "k").await,
        (b"v2".to_vec(), v2.clone())
    );
    assert_eq!(get_version(&s3, "ver", "k", &v1).await, b"v1");
    assert_eq!(get_version(&s3, "ver", "k", "null").await, b"v0");
    assert_same(
        &get_version(&s3, "ver", "big", "null").await,
        &old_big,
        "old big",
    );
    assert_same(
        &get_version(&s3, "ver", "big", &big2).await,
        &new_big,
        "new big",
    );
    let ranged = s3
        .get_object()
        .bucket("ver")
        .key("big")
        .version_id("null")
        .range("bytes=4194300-4194310")
        .send()
        .await
        .must("ranged GET of a noncurrent version");
    assert_eq!(body(ranged.body).await, old_big[4_194_300..=4_194_310]);
    let head = s3
        .head_object()
        .bucket("ver")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .must("HEAD v1");
    assert_eq!(head.content_length(), Some(2));
    assert_eq!(head.version_id(), Some(v1.as_str()));

    // Ids we never gave: NoSuchVersion; ids that cannot be ours: InvalidArgument.
    let unknown = format!("{:016x}{}", 1u64 << 40, "0123456789abcdef");
    expect_err(
        s3.get_object()
            .bucket("ver")
            .key("k")
            .version_id(&unknown)
            .send()
            .await,
        404,
        Some("NoSuchVersion"),
        "GET of an unknown version",
    );
    expect_err(
        s3.get_object()
            .bucket("ver")
            .key("k")
            .version_id("not-an-id")
            .send()
            .await,
        400,
        Some("InvalidArgument"),
        "GET of a malformed version id",
    );

    // DELETE without an id writes a delete marker: the key looks gone but every version stays.
    let out = s3
        .delete_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .must("DELETE k");
    assert_eq!(out.delete_marker(), Some(true));
    let marker = out.version_id().expect("the marker's id").to_owned();
    let err = s3
        .get_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchKey"));
    assert_eq!(
        marker_headers(&err),
        (Some("true".into()), Some(marker.clone()))
    );
    let err = s3
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 405);
    assert_eq!(marker_headers(&err).0.as_deref(), Some("true"));
    let modified = err
        .raw_response()
        .unwrap()
        .headers()
        .get("last-modified")
        .expect("a marker's Last-Modified")
        .to_owned();
    assert!(
        !modified.contains("1970"),
        "the marker's time is when it was written: {modified}"
    );
    assert_eq!(
        list_keys(&s3, "ver", "", 1000).await,
        vec!["big"],
        "a marker hides the key"
    );
    same_listing(
        &all_versions(&s3, "ver", "k", 2).await,
        &[
            ("k".into(), marker.clone(), true, true),
            ("k".into(), v2.clone(), false, false),
            ("k".into(), v1.clone(), false, false),
            ("k".into(), "null".into(), false, false),
        ],
        "versions",
    );

    // The admin's view: `shoal bucket stats` counts what the listings show.
    let stats = cluster.shoal_json(&["bucket", "stats", "--bucket", "ver"]);
    assert_eq!(stats["versioning"], "Enabled", "{stats}");
    let s = &stats["stats"];
    assert_eq!(
        (s["objects"].as_u64(), s["bytes"].as_u64()),
        (Some(1), Some(new_big.len() as u64)),
        "{stats}"
    );
    assert_eq!(
        s["versions"].as_u64(),
        Some(5),
        "k: v2, v1, null; big: two: {stats}"
    );
    assert_eq!(
        s["version_bytes"].as_u64(),
        Some((6 + old_big.len() + new_big.len()) as u64)
    );
    assert_eq!(s["delete_markers"].as_u64(), Some(1));
    let listed = cluster.shoal_json(&["bucket", "ls"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "ver" && b["versioning"] == "Enabled"),
        "{listed}"
    );

    // Deleting the marker brings v2 back; deleting current v2 brings v1 back.
    let out = s3
        .delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .must("DELETE the marker");
    assert_eq!(out.delete_marker(), Some(true));
    assert_eq!(out.version_id(), Some(marker.as_str()));
    assert_eq!(
        get_current(&s3, "ver", "k").await,
        (b"v2".to_vec(), v2.clone())
    );
    s3.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .must("DELETE v2");
    assert_eq!(
        get_current(&s3, "ver", "k").await,
        (b"v1".to_vec(), v1.clone())
    );
    // A noncurrent version goes alone; the current one stays.
    s3.delete_object()
        .bucket("ver")
        .key("k")
        .version_id("null")
        .send()
        .await
        .must("DELETE null");
    assert_eq!(
        get_current(&s3, "ver", "k").await,
        (b"v1".to_vec(), v1.clone())
    );
    same_listing(
        &all_versions(&s3, "ver", "k", 1000).await,
        &[("k".into(), v1.clone(), true, false)],
        "versions",
    );
    // Deleting a version that is gone changes nothing and succeeds, as in S3.
    s3.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .must("DELETE v2 again");

    // Suspended: writes replace the null version and keep the others.
    set_versioning(&s3, "ver", BucketVersioningStatus::Suspended).await;
    assert_eq!(put_version(&s3, "ver", "k", b"s1").await, "null");
    assert_eq!(put_version(&s3, "ver", "k", b"s2").await, "null");
    assert_eq!(
        get_current(&s3, "ver", "k").await,
        (b"s2".to_vec(), "null".into())
    );
    assert_eq!(get_version(&s3, "ver", "k", &v1).await, b"v1");
    same_listing(
        &all_versions(&s3, "ver", "k", 1000).await,
        &[
            ("k".into(), "null".into(), true, false),
            ("k".into(), v1.clone(), false, false),
        ],
        "versions",
    );
    let out = s3
        .delete_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .must("DELETE suspended");
    assert_eq!(
        (out.delete_marker(), out.version_id()),
        (Some(true), Some("null"))
    );
    same_listing(
        &all_versions(&s3, "ver", "k", 1000).await,
        &[
            ("k".into(), "null".into(), true, true),
            ("k".into(), v1.clone(), false, false),
        ],
        "the null marker replaced the null version",
    );

    // DeleteObjects with versions removes every one named; then the bucket is empty and
    // GC leaves no data behind.
    let everything: Vec<ObjectIdentifier> = all_versions(&s3, "ver", "", 1000)
        .await
        .into_iter()
        .map(|(key, version, _, _)| {
            ObjectIdentifier::builder()
                .key(key)
                .version_id(version)
                .build()
                .unwrap()
        })
        .collect();
    assert_eq!(everything.len(), 4, "big: 2, k: marker and v1");
    let out = s3
        .delete_objects()
        .bucket("ver")
        .delete(
            Delete::builder()
                .set_objects(Some(everything))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .must("DeleteObjects");
    assert!(out.errors().is_empty(), "{out:?}");
    assert_eq!(out.deleted().len(), 4);
    assert!(all_versions(&s3, "ver", "", 1000).await.is_empty());
    s3.delete_bucket()
        .bucket("ver")
        .send()
        .await
        .must("delete the emptied bucket");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = cluster.data_pool_objects();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "data left after every version went: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_listings_page_and_roll_up_prefixes() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("pages")
        .send()
        .await
        .must("create");
    set_versioning(&s3, "pages", BucketVersioningStatus::Enabled).await;

    // Three versions of each key, a delete marker on one.
    let keys = ["a", "d/x", "d/y", "e"];
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for round in 0..3 {
        for key in keys {
            let id = put_version(&s3, "pages", key, format!("{key}{round}").as_bytes()).await;
            want.entry(key.to_owned()).or_default().insert(0, id);
        }
    }
    let marker = s3
        .delete_object()
        .bucket("pages")
        .key("e")
        .send()
        .await
        .unwrap();
    want.get_mut("e")
        .unwrap()
        .insert(0, marker.version_id().unwrap().to_owned());
    let expected: Vec<Listed> = want
        .iter()
        .flat_map(|(key, ids)| {
            ids.iter()
                .enumerate()
                .map(move |(i, id)| (key.clone(), id.clone(), i == 0, key == "e" && i == 0))
        })
        .collect();
    for page in [1, 2, 5, 1000] {
        same_listing(
            &all_versions(&s3, "pages", "", page).await,
            &expected,
            &format!("pages of {page}"),
        );
    }

    // With a delimiter, d/x and d/y roll up into one common prefix.
    let resp = s3
        .list_object_versions()
        .bucket("pages")
        .delimiter("/")
        .send()
        .await
        .must("ListObjectVersions with a delimiter");
    let prefixes: Vec<&str> = resp
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["d/"]);
    let keys: Vec<&str> = resp.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys, vec!["a", "a", "a", "e", "e", "e"]);
    assert_eq!(resp.delete_markers().len(), 1);

    // ListObjects shows current versions only.
    assert_eq!(
        list_keys(&s3, "pages", "", 1000).await,
        vec!["a", "d/x", "d/y"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_and_copy_make_versions() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket().bucket("mpu").send().await.must("create");
    set_versioning(&s3, "mpu", BucketVersioningStatus::Enabled).await;
    let first = put_version(&s3, "mpu", "obj", b"first").await;

    let part = random_bytes(5 * MIB, 3);
    let upload = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("obj")
        .send()
        .await
        .must("create upload");
    let upload_id = upload.upload_id().unwrap();
    let etag = s3
        .upload_part()
        .bucket("mpu")
        .key("obj")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(part.clone()))
        .send()
        .await
        .must("upload part")
        .e_tag()
        .unwrap()
        .to_owned();
    let done = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("obj")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                .build(),
        )
        .send()
        .await
        .must("complete");
    let multipart = done.version_id().expect("a version id").to_owned();
    assert_ne!(multipart, first);
    assert_same(
        &get_version(&s3, "mpu", "obj", &multipart).await,
        &part,
        "multipart version",
    );
    assert_eq!(get_version(&s3, "mpu", "obj", &first).await, b"first");

    // Copy from a noncurrent version.
    let copied = s3
        .copy_object()
        .bucket("mpu")
        .key("copy")
        .copy_source(format!("mpu/obj?versionId={first}"))
        .send()
        .await
        .must("copy from a version");
    assert_eq!(copied.copy_source_version_id(), Some(first.as_str()));
    let copy_id = copied.version_id().expect("the copy's version").to_owned();
    assert_eq!(
        get_current(&s3, "mpu", "copy").await,
        (b"first".to_vec(), copy_id)
    );

    // Tags go on the version named, when it is the current one.
    s3.put_object_tagging()
        .bucket("mpu")
        .key("obj")
        .version_id(&multipart)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("t")
                        .value("1")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .must("tag the current version");
    let tags = s3
        .get_object_tagging()
        .bucket("mpu")
        .key("obj")
        .version_id(&multipart)
        .send()
        .await
        .must("tags of the current version");
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.version_id(), Some(multipart.as_str()));
}

/// Four clients at once on one key: PUTs, delete markers and deletes of their own older
/// versions by id, racing each other's head swaps and promotions. Afterwards the version list
/// is exactly what was acknowledged and not deleted, each client's versions in the order its
/// writes were acknowledged; every version reads back; the latest is what a plain GET sees;
/// and once all are deleted GC leaves no data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writes_and_deletes_keep_an_exact_version_list() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("race")
        .send()
        .await
        .must("create");
    set_versioning(&s3, "race", BucketVersioningStatus::Enabled).await;

    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let s3 = s3.clone();
            tokio::spawn(async move {
                // (id, content; None for a marker), in acknowledgement order; then deleted ids.
                let mut made: Vec<(String, Option<Vec<u8>>)> = Vec::new();
                let mut deleted = Vec::new();
                for n in 0..12u64 {
                    if n % 4 == 3 {
                        let victim = made
                            .iter()
                            .map(|(id, _)| id.clone())
                            .find(|id| !deleted.contains(id));
                        if let Some(id) = victim {
                            s3.delete_object()
                                .bucket("race")
                                .key("hot")
                                .version_id(&id)
                                .send()
                                .await
                                .must("delete own version");
                            deleted.push(id);
                            continue;
                        }
                    }
                    if n % 5 == 4 {
                        let out = s3
                            .delete_object()
                            .bucket("race")
                            .key("hot")
                            .send()
                            .await
                            .must("delete marker");
                        made.push((out.version_id().unwrap().to_owned(), None));
                    } else {
                        let data =
                            random_bytes(if n % 3 == 0 { 5 * MIB } else { 1000 }, c * 100 + n);
                        let id = put_version(&s3, "race", "hot", &data).await;
                        made.push((id, Some(data)));
                    }
                }
                (made, deleted)
            })
        })
        .collect();
    let mut results = Vec::new();
    for c in clients {
        results.push(c.await.unwrap());
    }

    let listed = all_versions(&s3, "race", "", 1000).await;
    let listed_ids: Vec<&str> = listed.iter().map(|e| e.1.as_str()).collect();
    let mut want = std::collections::BTreeSet::new();
    for (made, deleted) in &results {
        let live: Vec<&str> = made
            .iter()
            .map(|(id, _)| id.as_str())
            .filter(|id| !deleted.iter().any(|d| d == id))
            .collect();
        // The list is newest first: a client's live versions appear in reverse ack order.
        let order: Vec<&str> = listed_ids
            .iter()
            .copied()
            .filter(|id| live.contains(id))
            .collect();
        let mut newest_first = live.clone();
        newest_first.reverse();
        let (versions, markers): (Vec<&str>, Vec<&str>) = newest_first
            .iter()
            .partition(|id| made.iter().any(|(m, d)| m == *id && d.is_some()));
        let (got_versions, got_markers): (Vec<&str>, Vec<&str>) = order
            .iter()
            .partition(|id| made.iter().any(|(m, d)| m == *id && d.is_some()));
        assert_eq!(
            got_versions, versions,
            "a client's versions in its ack order"
        );
        assert_eq!(got_markers, markers, "a client's markers in its ack order");
        for (id, data) in made {
            if let (Some(data), false) = (data, deleted.contains(id)) {
                assert_same(&get_version(&s3, "race", "hot", id).await, data, id);
            }
        }
        want.extend(live.iter().map(|id| id.to_string()));
    }
    let got: std::collections::BTreeSet<String> =
        listed_ids.iter().map(|id| id.to_string()).collect();
    assert_eq!(got, want, "exactly the acknowledged, undeleted versions");
    assert_eq!(listed.len(), want.len(), "each version listed once");

    // The latest listed is what a plain GET sees.
    let latest: Vec<&Listed> = listed.iter().filter(|e| e.2).collect();
    assert_eq!(latest.len(), 1, "one latest version: {listed:?}");
    match s3.get_object().bucket("race").key("hot").send().await {
        Ok(out) => assert_eq!(out.version_id(), Some(latest[0].1.as_str())),
        Err(e) => {
            assert!(latest[0].3, "a plain GET fails only under a delete marker");
            assert_eq!(marker_headers(&e).1.as_deref(), Some(latest[0].1.as_str()));
        }
    }

    for (key, id, _, _) in &listed {
        s3.delete_object()
            .bucket("race")
            .key(key)
            .version_id(id)
            .send()
            .await
            .must("delete a version");
    }
    assert!(all_versions(&s3, "race", "", 1000).await.is_empty());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = cluster.data_pool_objects();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "data left: {left:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Thousands of versions: four keys with 550 each (the first key's oldest is the "null"
/// version written before versioning), listed whole at several page sizes, in S3's order;
/// the null version is found behind a thousand newer ones; a version deep in the list is
/// deleted exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_versions_list_page_by_page() {
    const PER_KEY: usize = 550;
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("many")
        .send()
        .await
        .must("create");
    s3.put_object()
        .bucket("many")
        .key("k0")
        .body(ByteStream::from_static(b"null"))
        .send()
        .await
        .must("PUT before versioning");
    set_versioning(&s3, "many", BucketVersioningStatus::Enabled).await;
    let keys: [&'static str; 4] = ["k0", "k1", "k2", "k3"];
    let writers: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let s3 = s3.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                let first = usize::from(key == "k0");
                for n in first..PER_KEY {
                    ids.push(put_version(&s3, "many", key, format!("{key}-{n}").as_bytes()).await);
                }
                ids
            })
        })
        .collect();
    let mut written = Vec::new();
    for w in writers {
        written.push(w.await.expect("writer"));
    }
    // S3's order: key, then newest first.
    let mut want: Vec<Listed> = Vec::new();
    for (key, ids) in keys.iter().zip(&written) {
        let mut ids: Vec<String> = ids.iter().rev().cloned().collect();
        if *key == "k0" {
            ids.push("null".to_owned());
        }
        for (i, id) in ids.into_iter().enumerate() {
            want.push(((*key).to_owned(), id, i == 0, false));
        }
    }
    assert_eq!(want.len(), 4 * PER_KEY);
    for page in [1000, 333] {
        let got = all_versions(&s3, "many", "", page).await;
        same_listing(&got, &want, &format!("pages of {page}"));
    }
    assert_eq!(get_version(&s3, "many", "k0", "null").await, b"null");
    let deep = written[2][17].clone();
    s3.delete_object()
        .bucket("many")
        .key("k2")
        .version_id(&deep)
        .send()
        .await
        .must("delete a deep version");
    want.retain(|e| e.1 != deep);
    let got = all_versions(&s3, "many", "k2", 1000).await;
    let want_k2: Vec<Listed> = want.iter().filter(|e| e.0 == "k2").cloned().collect();
    same_listing(&got, &want_k2, "after deleting one");
    assert_eq!(
        get_version(&s3, "many", "k2", &written[2][18]).await,
        b"k2-18"
    );
}
