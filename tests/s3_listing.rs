//! S3 listings end to end through the official AWS SDK for Rust: ListObjectsV2 and V1
//! pagination over 2,500 nested keys, delimiters and common prefixes, `encoding-type=url`,
//! `fetch-owner`, ListObjectVersions on an unversioned bucket, and list-after-write.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::collections::BTreeSet;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::EncodingType;
use common::gateway::Cluster;
use common::s3::{Must, expect_err, list_keys, put, put_many, url_decode};

/// `dir{0..4}/sub{0..9}/file{0..49}`: 2,500 keys.
fn nested_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for d in 0..5 {
        for s in 0..10 {
            for f in 0..50 {
                keys.insert(format!("dir{d}/sub{s}/file{f}"));
            }
        }
    }
    keys
}

/// One ListObjectsV2 page with a delimiter: (keys, common prefixes, next token).
async fn v2_page(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    max_keys: i32,
    token: Option<String>,
) -> (Vec<String>, Vec<String>, Option<String>) {
    let page = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .max_keys(max_keys)
        .set_continuation_token(token)
        .send()
        .await
        .must(&format!("list {prefix:?} with delimiter"));
    let keys = page
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(str::to_string)
        .collect::<Vec<_>>();
    let prefixes = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert_eq!(
        page.key_count(),
        Some((keys.len() + prefixes.len()) as i32),
        "KeyCount counts keys and common prefixes"
    );
    let next = match page.is_truncated() {
        Some(true) => Some(
            page.next_continuation_token()
                .expect("truncated page has a token")
                .to_string(),
        ),
        _ => None,
    };
    (keys, prefixes, next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_2500_nested_keys_paginates_and_rolls_up() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("tree")
        .send()
        .await
        .must("create");
    let all = nested_keys();
    let keys: Vec<String> = all.iter().cloned().collect();
    put_many(&s3, "tree", &keys, 16).await;

    // ListObjectsV2, pages of 1000 and of 7: every key once, in byte order.
    for max_keys in [1000, 7] {
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket("tree")
                .max_keys(max_keys)
                .set_continuation_token(token.clone())
                .send()
                .await
                .must(&format!("list page {pages} of {max_keys}"));
            pages += 1;
            let n = page.contents().len();
            assert_eq!(page.key_count(), Some(n as i32), "KeyCount of page {pages}");
            assert_eq!(page.max_keys(), Some(max_keys), "MaxKeys echoed");
            assert!(n <= max_keys as usize, "page of {n} > max-keys {max_keys}");
            for o in page.contents() {
                assert_eq!(
                    o.size(),
                    Some(o.key().unwrap().len() as i64),
                    "Size of {:?}",
                    o.key()
                );
                assert!(
                    o.e_tag().is_some() && o.last_modified().is_some(),
                    "ETag/LastModified of {:?}",
                    o.key()
                );
            }
            listed.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
            if page.is_truncated() == Some(true) {
                assert_eq!(n, max_keys as usize, "a truncated page is full");
                token = Some(
                    page.next_continuation_token()
                        .expect("NextContinuationToken")
                        .to_string(),
                );
            } else {
                assert!(
                    page.next_continuation_token().is_none(),
                    "last page has no token"
                );
                break;
            }
        }
        assert_eq!(
            pages,
            2500_usize.div_ceil(max_keys as usize),
            "pages of {max_keys}"
        );
        assert_eq!(
            listed, keys,
            "ListObjectsV2 by {max_keys}: every key once, sorted"
        );
    }

    // Delimiter at the root: five prefixes, no keys; paging through prefixes too.
    let (k, p, next) = v2_page(&s3, "tree", "", 1000, None).await;
    assert!(k.is_empty(), "keys at the root: {k:?}");
    assert_eq!(
        p,
        ["dir0/", "dir1/", "dir2/", "dir3/", "dir4/"],
        "root common prefixes"
    );
    assert!(next.is_none());
    let mut rolled = Vec::new();
    let mut token = None;
    loop {
        let (k, p, next) = v2_page(&s3, "tree", "", 2, token).await;
        assert!(k.is_empty());
        rolled.extend(p);
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(
        rolled,
        ["dir0/", "dir1/", "dir2/", "dir3/", "dir4/"],
        "root prefixes by pages of 2"
    );

    // One level down.
    let (k, p, _) = v2_page(&s3, "tree", "dir1/", 1000, None).await;
    assert!(k.is_empty());
    let want: Vec<String> = (0..10).map(|s| format!("dir1/sub{s}/")).collect();
    assert_eq!(p, want, "dir1/ common prefixes");
    // The leaves: keys only.
    let (k, p, _) = v2_page(&s3, "tree", "dir3/sub7/", 1000, None).await;
    assert!(p.is_empty());
    let want: Vec<String> = all
        .iter()
        .filter(|k| k.starts_with("dir3/sub7/"))
        .cloned()
        .collect();
    assert_eq!(k, want, "dir3/sub7/ keys");
    // A prefix that is not a whole directory name.
    let (k, p, _) = v2_page(&s3, "tree", "dir2/sub", 1000, None).await;
    assert!(k.is_empty());
    assert_eq!(p.len(), 10, "dir2/sub* prefixes: {p:?}");
    assert_eq!(
        list_keys(&s3, "tree", "dir4/sub9/file4", 1000).await.len(),
        11,
        "file4, file40..49"
    );
    assert!(list_keys(&s3, "tree", "nothing/", 1000).await.is_empty());

    // start-after.
    let after = "dir4/sub9/file48";
    let page = s3
        .list_objects_v2()
        .bucket("tree")
        .start_after(after)
        .send()
        .await
        .must("start-after");
    let got: Vec<&str> = page.contents().iter().filter_map(|o| o.key()).collect();
    let want: Vec<&str> = all
        .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
        .map(String::as_str)
        .collect();
    assert_eq!(got, want, "keys after {after}");
    let page = s3
        .list_objects_v2()
        .bucket("tree")
        .prefix("dir0/")
        .start_after("dir0/sub9/file8")
        .send()
        .await
        .must("start-after within a prefix");
    let got: Vec<&str> = page.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, ["dir0/sub9/file9"], "start-after within a prefix");

    // ListObjects V1: without a delimiter, page by the last key as marker.
    let mut listed: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = s3
            .list_objects()
            .bucket("tree")
            .max_keys(1000)
            .set_marker(marker.clone())
            .send()
            .await
            .must("ListObjects V1");
        assert_eq!(
            page.marker().unwrap_or(""),
            marker.as_deref().unwrap_or(""),
            "Marker echoed"
        );
        listed.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
        if page.is_truncated() != Some(true) {
            break;
        }
        // NextMarker is only promised with a delimiter; else the last key is the marker.
        marker = Some(
            page.next_marker()
                .map(str::to_string)
                .unwrap_or_else(|| listed.last().unwrap().clone()),
        );
    }
    assert_eq!(listed, keys, "ListObjects V1: every key once, sorted");
    // With a delimiter, a truncated page carries NextMarker.
    let mut rolled: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = s3
            .list_objects()
            .bucket("tree")
            .prefix("dir2/")
            .delimiter("/")
            .max_keys(3)
            .set_marker(marker.clone())
            .send()
            .await
            .must("ListObjects V1 with delimiter");
        assert!(page.contents().is_empty());
        rolled.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .map(str::to_string),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        let next = page
            .next_marker()
            .expect("NextMarker on a truncated page with a delimiter");
        assert_eq!(
            Some(next),
            rolled.last().map(String::as_str),
            "NextMarker is the last prefix"
        );
        marker = Some(next.to_string());
    }
    let want: Vec<String> = (0..10).map(|s| format!("dir2/sub{s}/")).collect();
    assert_eq!(rolled, want, "V1 prefixes by pages of 3");

    // ListObjectVersions of an unversioned bucket: every object once, version "null".
    let mut seen = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket("tree")
            .max_keys(1000)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .must("ListObjectVersions");
        assert!(
            page.delete_markers().is_empty(),
            "delete markers in an unversioned bucket"
        );
        for v in page.versions() {
            assert_eq!(v.version_id(), Some("null"), "VersionId of {:?}", v.key());
            assert_eq!(v.is_latest(), Some(true), "IsLatest of {:?}", v.key());
            seen.push(v.key().unwrap().to_string());
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = Some(page.next_key_marker().expect("NextKeyMarker").to_string());
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
    assert_eq!(seen, keys, "ListObjectVersions: every key once, sorted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_encodes_keys_fetches_owner_and_sees_writes() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket().bucket("odd").send().await.must("create");
    let odd = [
        "a b/c d.txt",
        "ünï/cødé ✓.bin",
        "plus+sign",
        "percent%41",
        "xml&<>\"'chars",
        "tab\there",
        "a b/nested/deeper",
    ];
    for k in odd {
        put(&s3, "odd", k, k.as_bytes()).await;
    }
    let mut sorted: Vec<&str> = odd.to_vec();
    sorted.sort();

    // Plain listing returns keys verbatim (XML-escaped on the wire, unescaped by the SDK).
    let keys = list_keys(&s3, "odd", "", 1000).await;
    assert_eq!(keys, sorted, "keys verbatim");
    for k in odd {
        assert_eq!(
            common::s3::get(&s3, "odd", k).await,
            k.as_bytes(),
            "GET {k:?}"
        );
    }

    // encoding-type=url: keys, prefixes and delimiter come back encoded.
    let page = s3
        .list_objects_v2()
        .bucket("odd")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .must("list with encoding-type=url");
    assert_eq!(
        page.encoding_type(),
        Some(&EncodingType::Url),
        "EncodingType echoed"
    );
    let raw: Vec<&str> = page.contents().iter().filter_map(|o| o.key()).collect();
    for k in &raw {
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_graphic() && !b"<>&\"'".contains(&b)),
            "encoded key {k:?} has raw characters"
        );
    }
    let decoded: Vec<String> = raw.iter().map(|k| url_decode(k)).collect();
    assert_eq!(decoded, sorted, "url-decoded keys");
    let page = s3
        .list_objects_v2()
        .bucket("odd")
        .delimiter("/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .must("list with delimiter and encoding-type=url");
    let prefixes: Vec<String> = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .map(url_decode)
        .collect();
    assert_eq!(prefixes, ["a b/", "ünï/"], "url-decoded common prefixes");
    let page = s3
        .list_objects()
        .bucket("odd")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .must("V1 with encoding-type=url");
    let decoded: Vec<String> = page
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(url_decode)
        .collect();
    assert_eq!(decoded, sorted, "V1 url-decoded keys");

    // fetch-owner: V2 shows owners only when asked.
    let page = s3
        .list_objects_v2()
        .bucket("odd")
        .send()
        .await
        .must("list without owner");
    assert!(
        page.contents().iter().all(|o| o.owner().is_none()),
        "V2 sends Owner only with fetch-owner"
    );
    let page = s3
        .list_objects_v2()
        .bucket("odd")
        .fetch_owner(true)
        .send()
        .await
        .must("list with fetch-owner");
    for o in page.contents() {
        let owner = o
            .owner()
            .unwrap_or_else(|| panic!("no Owner for {:?} with fetch-owner", o.key()));
        assert_eq!(owner.id(), Some("tester"), "owner id of {:?}", o.key());
    }

    // ListObjectVersions: one "null" version per key.
    let page = s3
        .list_object_versions()
        .bucket("odd")
        .send()
        .await
        .must("versions");
    let versions: Vec<(&str, &str)> = page
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap()))
        .collect();
    let want: Vec<(&str, &str)> = sorted.iter().map(|k| (*k, "null")).collect();
    assert_eq!(versions, want, "ListObjectVersions");

    // List-after-write: a put is listed at once, a delete is gone at once; also when the
    // key lands between existing ones and when it is overwritten.
    for round in 0..20 {
        let key = format!("a b/c d.txt-{round}");
        put(&s3, "odd", &key, b"new").await;
        let listed = list_keys(&s3, "odd", "a b/", 1000).await;
        assert!(
            listed.contains(&key),
            "round {round}: {key:?} not listed right after PUT: {listed:?}"
        );
        put(&s3, "odd", &key, b"newer and longer").await;
        let page = s3
            .list_objects_v2()
            .bucket("odd")
            .prefix(&key)
            .send()
            .await
            .must("list overwritten");
        assert_eq!(
            page.contents().len(),
            1,
            "round {round}: overwritten key listed once"
        );
        assert_eq!(
            page.contents()[0].size(),
            Some(16),
            "round {round}: size of the overwrite"
        );
        s3.delete_object()
            .bucket("odd")
            .key(&key)
            .send()
            .await
            .must("delete");
        let listed = list_keys(&s3, "odd", "a b/", 1000).await;
        assert!(
            !listed.contains(&key),
            "round {round}: {key:?} still listed after DELETE"
        );
    }
    assert_eq!(
        list_keys(&s3, "odd", "", 1000).await,
        sorted,
        "only the odd keys remain"
    );

    // Listing a missing bucket; an emptied bucket lists nothing and can be deleted.
    expect_err(
        s3.list_objects_v2().bucket("no-such-bucket").send().await,
        404,
        Some("NoSuchBucket"),
        "list a missing bucket",
    );
    for k in odd {
        s3.delete_object()
            .bucket("odd")
            .key(k)
            .send()
            .await
            .must("delete odd key");
    }
    let page = s3
        .list_objects_v2()
        .bucket("odd")
        .send()
        .await
        .must("list emptied");
    assert!(page.contents().is_empty() && page.common_prefixes().is_empty());
    assert_eq!(page.key_count(), Some(0), "KeyCount of an empty listing");
    assert_eq!(
        page.is_truncated(),
        Some(false),
        "IsTruncated of an empty listing"
    );
    s3.delete_bucket()
        .bucket("odd")
        .send()
        .await
        .must("delete emptied bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_chooses_its_index_shards() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    let with_shards = |name: &'static str, shards: &'static str| {
        s3.create_bucket()
            .bucket(name)
            .customize()
            .mutate_request(move |req| {
                req.headers_mut()
                    .insert("x-shoal-bucket-index-shards", shards);
            })
            .send()
    };
    with_shards("wide", "16")
        .await
        .must("create a 16-shard bucket");
    expect_err(
        with_shards("bad-shards", "0").await,
        400,
        Some("InvalidArgument"),
        "zero index shards",
    );
    // Every shard object exists from the start (it carries the bucket's live state), so the
    // index pool holds exactly 16 shards of one bucket id.
    let out = cluster.shoal(&["rados", "-p", "default.rgw.buckets.index", "ls"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = String::from_utf8_lossy(&out.stdout).into_owned();
    let shards: Vec<&str> = names.lines().filter(|n| n.contains(".index.")).collect();
    assert_eq!(shards.len(), 16, "index shard objects: {shards:?}");

    // The merge over 16 shards lists in order, exactly once each.
    let keys: Vec<String> = (0..300).map(|i| format!("k/{i:04}")).collect();
    put_many(&s3, "wide", &keys, 8).await;
    assert_eq!(
        list_keys(&s3, "wide", "", 37).await,
        keys,
        "paged listing over 16 shards"
    );
}
