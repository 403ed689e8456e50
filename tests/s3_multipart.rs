//! Multipart uploads end to end through the official AWS SDK for Rust: a 100 MiB object in
//! 20 parts (ETag, whole and per-part reads, ranges across parts), the errors S3 documents
//! for UploadPart and CompleteMultipartUpload, ListParts and ListMultipartUploads with
//! pagination, replaced parts, UploadPartCopy, and a data pool without leftovers once an
//! upload is completed or aborted.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::operation::abort_multipart_upload::builders::AbortMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::list_parts::builders::ListPartsFluentBuilder;
use aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder;
use aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MultipartUpload};
use common::gateway::Cluster;
use common::s3::{Must, assert_same, etag_of, expect_err, md5, put, random_bytes};

const MIB: usize = 1 << 20;
const DATA_POOL: &str = "default.rgw.buckets.data";

/// Parts as CompleteMultipartUpload lists them: (number, ETag).
type Parts<'a> = &'a [(i32, &'a str)];

/// Records the HTTP status of a response (the SDK's outputs do not carry it).
#[derive(Clone, Debug, Default)]
struct Status(Arc<AtomicU16>);

impl Intercept for Status {
    fn name(&self) -> &'static str {
        "Status"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let status = context.response().status().as_u16();
        self.0.store(status, Ordering::SeqCst);
        Ok(())
    }
}

/// Sends a GetObject that must answer 206 Partial Content.
async fn get_partial(req: GetObjectFluentBuilder, what: &str) -> GetObjectOutput {
    let status = Status::default();
    let req = req.customize().interceptor(status.clone());
    let out = req.send().await.must(what);
    assert_eq!(status.0.load(Ordering::SeqCst), 206, "{what}: HTTP status");
    out
}

/// One multipart upload of `bucket/key`.
#[derive(Clone)]
struct Mpu {
    s3: Client,
    bucket: String,
    key: String,
    id: String,
}

impl Mpu {
    async fn create(s3: &Client, bucket: &str, key: &str) -> Mpu {
        let out = s3.create_multipart_upload().bucket(bucket).key(key).send();
        let out = out.await.must(&format!("CreateMultipartUpload {key}"));
        let id = out.upload_id().expect("UploadId").to_string();
        let (s3, bucket, key) = (s3.clone(), bucket.to_string(), key.to_string());
        Mpu {
            s3,
            bucket,
            key,
            id,
        }
    }

    /// UploadPart `n`, without a body.
    fn part(&self, n: i32) -> UploadPartFluentBuilder {
        self.s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .part_number(n)
    }

    /// UploadPart `n` of `data`; asserts and returns its ETag (the quoted MD5).
    async fn upload(&self, n: i32, data: Vec<u8>) -> String {
        let want = etag_of(&data);
        let out = self.part(n).body(ByteStream::from(data)).send().await;
        let out = out.must(&format!("UploadPart {n} of {}", self.key));
        assert_eq!(out.e_tag(), Some(want.as_str()), "{}: part {n}", self.key);
        want
    }

    /// UploadPartCopy `n` from `bucket/source`.
    fn copy(&self, n: i32, source: &str) -> UploadPartCopyFluentBuilder {
        self.s3
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .part_number(n)
            .copy_source(format!("{}/{source}", self.bucket))
    }

    /// CompleteMultipartUpload listing `parts` (number, ETag) as given.
    fn complete(&self, parts: Parts) -> CompleteMultipartUploadFluentBuilder {
        let parts = parts.iter().map(|(n, etag)| {
            CompletedPart::builder()
                .part_number(*n)
                .e_tag(*etag)
                .build()
        });
        let body = CompletedMultipartUpload::builder()
            .set_parts(Some(parts.collect()))
            .build();
        self.s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .multipart_upload(body)
    }

    fn abort(&self) -> AbortMultipartUploadFluentBuilder {
        self.s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
    }

    fn list_parts(&self) -> ListPartsFluentBuilder {
        self.s3
            .list_parts()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
    }
}

/// The multipart ETag S3 gives parts with these contents: MD5 of the binary MD5s, `-count`.
fn multipart_etag<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let (mut md5s, mut count) = (Vec::new(), 0);
    for part in parts {
        md5s.extend(md5(part));
        count += 1;
    }
    format!("\"{}-{count}\"", hex::encode(md5(&md5s)))
}

/// Reads `stream` chunk by chunk, comparing each with the matching slice of `want`.
async fn assert_stream(mut stream: ByteStream, want: &[u8], what: &str) {
    let mut at = 0;
    while let Some(chunk) = stream
        .try_next()
        .await
        .unwrap_or_else(|e| panic!("{what}: body after {at} bytes: {e}"))
    {
        let end = at + chunk.len();
        assert!(end <= want.len(), "{what}: more than {} bytes", want.len());
        assert_same(&chunk, &want[at..end], &format!("{what} at offset {at}"));
        at = end;
    }
    assert_eq!(at, want.len(), "{what}: body length");
}

/// GetObject of `bucket/key`: asserts its ETag, length and body.
async fn assert_object(s3: &Client, bucket: &str, key: &str, etag: &str, want: &[u8]) {
    let got = s3.get_object().bucket(bucket).key(key).send().await;
    let got = got.must(&format!("get {bucket}/{key}"));
    assert_eq!(got.e_tag(), Some(etag), "{key}: ETag");
    assert_eq!(
        got.content_length(),
        Some(want.len() as i64),
        "{key}: length"
    );
    assert_stream(got.body, want, key).await;
}

/// The data pool's objects as `shoal rados ls` prints them (one name a line): the keys of
/// the heads (`<bucket id>/<key>`), sorted, and the number of tails (`<bucket id>.tail.*`).
fn data_pool(cluster: &Cluster) -> (Vec<String>, usize) {
    let out = cluster.shoal(&["rados", "-p", DATA_POOL, "ls"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rados ls: {err}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (tails, heads): (Vec<&str>, Vec<&str>) = text.lines().partition(|n| n.contains(".tail."));
    let key = |h: &str| {
        h.split_once('/')
            .unwrap_or_else(|| panic!("head {h:?}"))
            .1
            .to_string()
    };
    let mut keys: Vec<String> = heads.into_iter().map(key).collect();
    keys.sort();
    (keys, tails.len())
}

/// Waits until the data pool holds exactly the heads of `keys` (sorted) and `tails` tails.
/// GC runs every second and deletes 2 s (`--gc-delay 2`) after an object is dropped, the
/// tails of part uploads that may still be running 3 s (`--janitor-after 3`) after.
async fn wait_data_pool(cluster: &Cluster, keys: &[&str], tails: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (heads, got) = data_pool(cluster);
        if heads == keys && got == tails {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the data pool holds heads {heads:?} and {got} tails, want {keys:?} and {tails}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_mib_in_twenty_parts_then_abort_leaves_nothing() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket().bucket("big").send().await.must("create");
    const PART: usize = 5 * MIB;
    let data = Arc::new(random_bytes(20 * PART, 100));
    let part = |n: usize| &data[(n - 1) * PART..n * PART];
    let mpu = Mpu::create(&s3, "big", "big.bin").await;

    // 20 parts, 4 in flight (finishing in any order).
    let mut tasks = tokio::task::JoinSet::new();
    let mut etags = vec![String::new(); 20];
    for n in 1..=20 {
        if tasks.len() == 4 {
            let (n, etag): (usize, String) = tasks.join_next().await.unwrap().unwrap();
            etags[n - 1] = etag;
        }
        let (mpu, data) = (mpu.clone(), data.clone());
        tasks.spawn(async move {
            let body = data[(n - 1) * PART..n * PART].to_vec();
            (n, mpu.upload(n as i32, body).await)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (n, etag) = done.unwrap();
        etags[n - 1] = etag;
    }
    let parts: Vec<(i32, &str)> = (1..=20).zip(etags.iter().map(String::as_str)).collect();
    let out = mpu.complete(&parts).send().await.must("Complete");
    let etag = multipart_etag((1..=20).map(part));
    assert_eq!(out.e_tag(), Some(etag.as_str()), "multipart ETag");
    assert_eq!(out.key(), Some("big.bin"), "Complete: Key");

    let head = s3.head_object().bucket("big").key("big.bin").send().await;
    let head = head.must("HeadObject");
    assert_eq!(head.content_length(), Some(100 * MIB as i64), "HEAD length");
    assert_eq!(head.e_tag(), Some(etag.as_str()), "HEAD ETag");
    assert_object(&s3, "big", "big.bin", &etag, &data).await;

    // partNumber=3: exactly part 3, as a 206 placing it in the object.
    let get = || s3.get_object().bucket("big").key("big.bin");
    let got = get_partial(get().part_number(3), "GET partNumber=3").await;
    assert_eq!(got.parts_count(), Some(20), "x-amz-mp-parts-count");
    assert_eq!(
        got.e_tag(),
        Some(etag.as_str()),
        "part 3: the object's ETag"
    );
    assert_eq!(got.content_length(), Some(PART as i64), "part 3 length");
    let range = format!("bytes {}-{}/{}", 2 * PART, 3 * PART - 1, 20 * PART);
    assert_eq!(got.content_range(), Some(range.as_str()), "part 3 range");
    assert_stream(got.body, part(3), "part 3").await;
    let res = get().part_number(21).send().await;
    expect_err(res, 416, Some("InvalidPartNumber"), "partNumber=21 of 20");

    // Ranges across part boundaries (and the 4 MiB stripes inside parts).
    for (first, last) in [
        (PART - 1000, PART + 999),
        (4 * MIB - 7, 3 * PART + 11),
        (19 * PART - 1, 20 * PART - 1),
    ] {
        let asked = format!("bytes={first}-{last}");
        let got = get_partial(get().range(&asked), &asked).await;
        let range = format!("bytes {first}-{last}/{}", 20 * PART);
        assert_eq!(got.content_range(), Some(range.as_str()), "Content-Range");
        assert_stream(got.body, &data[first..=last], &range).await;
    }

    // A completed multipart object's data lives only in its parts' tails: a part of `s`
    // bytes is ceil(s / 4 MiB stripe) tails, so 20 parts of 5 MiB are 20 × 2 = 40 tails,
    // plus the object's head (metadata and manifest, no data).
    wait_data_pool(&cluster, &["big.bin"], 40, "after Complete").await;

    // An aborted upload leaves nothing: neither its parts (part 1 uploaded twice, part 2 a
    // single short tail) nor the replaced part 1's old tails.
    let dropped = Mpu::create(&s3, "big", "dropped").await;
    dropped.upload(1, random_bytes(PART, 1)).await;
    dropped.upload(2, random_bytes(1000, 2)).await;
    dropped.upload(1, random_bytes(PART, 3)).await;
    let (_, tails) = data_pool(&cluster);
    assert!(tails >= 43, "the upload's parts: {tails} tails in all");
    dropped.abort().send().await.must("AbortMultipartUpload");
    wait_data_pool(&cluster, &["big.bin"], 40, "after Abort").await;
    let left = s3.list_multipart_uploads().bucket("big").send().await;
    let left = left.must("ListMultipartUploads");
    assert!(left.uploads().is_empty(), "uploads left: {left:?}");

    // DeleteBucket: objects keep the bucket (and its uploads); uploads alone do not, and
    // are aborted with it, as S3 and RGW do.
    let pending = Mpu::create(&s3, "big", "pending").await;
    pending.upload(1, random_bytes(PART, 4)).await;
    let res = s3.delete_bucket().bucket("big").send().await;
    expect_err(
        res,
        409,
        Some("BucketNotEmpty"),
        "DeleteBucket with an object",
    );
    let left = s3.list_multipart_uploads().bucket("big").send().await;
    let left = left.must("ListMultipartUploads after BucketNotEmpty");
    assert_eq!(left.uploads().len(), 1, "the upload stays: {left:?}");
    s3.delete_object()
        .bucket("big")
        .key("big.bin")
        .send()
        .await
        .must("DeleteObject");
    s3.delete_bucket()
        .bucket("big")
        .send()
        .await
        .must("DeleteBucket with an upload in progress");
    wait_data_pool(&cluster, &[], 0, "after DeleteBucket").await;
    let res = s3.list_multipart_uploads().bucket("big").send().await;
    expect_err(
        res,
        404,
        Some("NoSuchBucket"),
        "ListMultipartUploads, bucket gone",
    );
    let res = pending
        .part(2)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(res, 404, Some("NoSuchBucket"), "UploadPart, bucket gone");
    let res = s3
        .put_object()
        .bucket("big")
        .key("again")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(res, 404, Some("NoSuchBucket"), "PutObject, bucket gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_errors() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("errs")
        .send()
        .await
        .must("create");
    let x = || ByteStream::from_static(b"x");
    let gone = Some("NoSuchUpload");

    let mpu = Mpu::create(&s3, "errs", "k").await;
    let unknown = Mpu {
        id: "no-such-upload-id".into(),
        ..mpu.clone()
    };
    let res = unknown.part(1).body(x()).send().await;
    expect_err(res, 404, gone, "UploadPart to an unknown upload");
    for n in [0, 10_001, -1] {
        let res = mpu.part(n).body(x()).send().await;
        expect_err(
            res,
            400,
            Some("InvalidArgument"),
            &format!("part number {n}"),
        );
    }

    let (p1, p2) = (random_bytes(5 * MIB, 1), random_bytes(5 * MIB, 2));
    let (p3, p4) = (random_bytes(1024, 3), random_bytes(1024, 4));
    let e1 = mpu.upload(1, p1.clone()).await;
    let e2 = mpu.upload(2, p2.clone()).await;
    let e3 = mpu.upload(3, p3.clone()).await;
    let e4 = mpu.upload(4, p4).await;
    let wrong = etag_of(b"not a part");
    let cases: [(Parts, &str, &str); 5] = [
        (
            &[(2, &e2), (1, &e1)],
            "InvalidPartOrder",
            "parts out of order",
        ),
        (&[(1, &wrong), (2, &e2)], "InvalidPart", "a wrong ETag"),
        (
            &[(1, &e2), (2, &e1)],
            "InvalidPart",
            "the ETags of other parts",
        ),
        (
            &[(1, &e1), (2, &e2), (7, &e3)],
            "InvalidPart",
            "a part never uploaded",
        ),
        (
            &[(1, &e1), (3, &e3), (4, &e4)],
            "EntityTooSmall",
            "a small non-last part",
        ),
    ];
    for (parts, code, what) in cases {
        expect_err(mpu.complete(parts).send().await, 400, Some(code), what);
    }
    // A refused completion leaves the upload as it was; the last part may be small.
    let parts = [(1, e1.as_str()), (2, &e2), (3, &e3)];
    let out = mpu.complete(&parts).send().await.must("Complete");
    let etag = multipart_etag([&p1[..], &p2, &p3]);
    assert_eq!(out.e_tag(), Some(etag.as_str()), "ETag");
    assert_object(&s3, "errs", "k", &etag, &[p1, p2, p3].concat()).await;
    // A completed upload is gone.
    let res = mpu.part(5).body(x()).send().await;
    expect_err(res, 404, gone, "UploadPart after Complete");
    let res = mpu.list_parts().send().await;
    expect_err(res, 404, gone, "ListParts after Complete");

    // After an abort, UploadPart, ListParts, Complete and Abort find no upload.
    let aborted = Mpu::create(&s3, "errs", "aborted").await;
    let e1 = aborted.upload(1, random_bytes(MIB, 5)).await;
    aborted.abort().send().await.must("Abort");
    let res = aborted.abort().send().await;
    expect_err(res, 404, gone, "Abort after Abort");
    let res = aborted.part(2).body(x()).send().await;
    expect_err(res, 404, gone, "UploadPart after Abort");
    let res = aborted.list_parts().send().await;
    expect_err(res, 404, gone, "ListParts after Abort");
    let res = aborted.complete(&[(1, &e1)]).send().await;
    expect_err(res, 404, gone, "Complete after Abort");
    let res = s3.head_object().bucket("errs").key("aborted").send().await;
    expect_err(res, 404, None, "the aborted upload's object");

    // Left: the head of "k" and its parts' tails, 5 MiB (2), 5 MiB (2) and 1 KiB (1). Part
    // 4, uploaded but not listed, and the aborted upload are collected.
    wait_data_pool(&cluster, &["k"], 5, "after Complete and Abort").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_replaced_parts_and_part_copies() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket().bucket("mpu").send().await.must("create");

    // ListParts, two a page: numbers, sizes and ETags, each page after the marker.
    let a = Mpu::create(&s3, "mpu", "dir/a").await;
    let mut want = Vec::new();
    for n in 1..=5 {
        let size = n as usize * 1000 + 7;
        let etag = a.upload(n, random_bytes(size, n as u64)).await;
        want.push((n, size as i64, etag));
    }
    let (mut got, mut marker) = (Vec::new(), None::<String>);
    for page_no in 1.. {
        let page = a.list_parts().max_parts(2).set_part_number_marker(marker);
        let page = page.send().await.must("ListParts");
        assert_eq!(page.max_parts(), Some(2), "MaxParts");
        assert!(
            page.parts().len() <= 2,
            "page {page_no}: {:?}",
            page.parts()
        );
        for p in page.parts() {
            let etag = p.e_tag().unwrap_or_default().to_string();
            got.push((p.part_number().unwrap(), p.size().unwrap(), etag));
        }
        if page.is_truncated() != Some(true) {
            assert_eq!(page_no, 3, "pages of ListParts");
            break;
        }
        assert!(
            page_no < 3,
            "5 parts, 2 a page, page {page_no} is truncated"
        );
        let next = page
            .next_part_number_marker()
            .expect("NextPartNumberMarker");
        assert_eq!(
            next,
            got.last().unwrap().0.to_string(),
            "NextPartNumberMarker"
        );
        marker = Some(next.to_string());
    }
    assert_eq!(got, want, "ListParts (number, size, ETag)");

    // ListMultipartUploads: by key, then upload id; prefix and delimiter; one a page.
    let mut all = vec![a];
    for key in ["dir/sub/b", "other", "dir/a"] {
        all.push(Mpu::create(&s3, "mpu", key).await);
    }
    all.sort_by(|x, y| (&x.key, &x.id).cmp(&(&y.key, &y.id)));
    let all_pairs: Vec<(String, String)> =
        all.iter().map(|u| (u.key.clone(), u.id.clone())).collect();
    let pairs = |u: &[MultipartUpload]| -> Vec<(String, String)> {
        let pair = |u: &MultipartUpload| (u.key().unwrap().into(), u.upload_id().unwrap().into());
        u.iter().map(pair).collect()
    };
    let list = || s3.list_multipart_uploads().bucket("mpu");
    let out = list().send().await.must("ListMultipartUploads");
    assert_eq!(pairs(out.uploads()), all_pairs, "every upload");
    let out = list().prefix("dir/").delimiter("/").send().await;
    let out = out.must("ListMultipartUploads prefix dir/ delimiter /");
    assert_eq!(pairs(out.uploads()), all_pairs[..2], "uploads of dir/a");
    let prefixes: Vec<_> = out.common_prefixes().iter().map(|p| p.prefix()).collect();
    assert_eq!(prefixes, [Some("dir/sub/")], "CommonPrefixes");
    let (mut paged, mut key_marker, mut id_marker) = (Vec::new(), None, None);
    for page_no in 1.. {
        let page = list().max_uploads(1).set_key_marker(key_marker);
        let page = page.set_upload_id_marker(id_marker).send().await;
        let page = page.must("ListMultipartUploads max-uploads 1");
        assert_eq!(page.uploads().len(), 1, "page {page_no}: {page:?}");
        paged.extend(pairs(page.uploads()));
        if page.is_truncated() != Some(true) {
            break;
        }
        assert!(
            page_no < 4,
            "4 uploads, one a page, page {page_no} is truncated"
        );
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
    }
    assert_eq!(paged, all_pairs, "uploads page by page");
    for upload in &all {
        upload.abort().send().await.must("abort");
    }

    // Uploading a part number again replaces the part: Complete takes the new data only.
    let re = Mpu::create(&s3, "mpu", "replaced").await;
    let (new, last) = (random_bytes(5 * MIB + 1, 11), random_bytes(100, 12));
    let e_old = re.upload(1, random_bytes(5 * MIB, 10)).await;
    let e_last = re.upload(2, last.clone()).await;
    let e_new = re.upload(1, new.clone()).await;
    let parts = re
        .list_parts()
        .send()
        .await
        .must("ListParts after re-upload");
    let p1 = &parts.parts()[0];
    assert_eq!(p1.e_tag(), Some(e_new.as_str()), "replaced part's ETag");
    assert_eq!(p1.size(), Some(new.len() as i64), "replaced part's size");
    let res = re.complete(&[(1, &e_old), (2, &e_last)]).send().await;
    expect_err(res, 400, Some("InvalidPart"), "the replaced part's ETag");
    let out = re.complete(&[(1, &e_new), (2, &e_last)]).send().await;
    let etag = multipart_etag([&new[..], &last]);
    assert_eq!(out.must("Complete").e_tag(), Some(etag.as_str()), "ETag");
    assert_object(&s3, "mpu", "replaced", &etag, &[&new[..], &last].concat()).await;

    // UploadPartCopy: a range of an object, then all of it.
    let src = random_bytes(12 * MIB + 3, 20);
    put(&s3, "mpu", "src", &src).await;
    let cp = Mpu::create(&s3, "mpu", "copied").await;
    let out = cp
        .copy(1, "src")
        .copy_source_range("bytes=0-5242879")
        .send()
        .await;
    let out = out.must("UploadPartCopy bytes=0-5242879");
    let result = out.copy_part_result().expect("CopyPartResult");
    let e1 = etag_of(&src[..5 * MIB]);
    assert_eq!(result.e_tag(), Some(e1.as_str()), "ranged copy's ETag");
    assert!(
        result.last_modified().is_some(),
        "CopyPartResult LastModified"
    );
    let out = cp
        .copy(2, "src")
        .send()
        .await
        .must("UploadPartCopy (whole)");
    let e2 = etag_of(&src);
    let result = out.copy_part_result().expect("CopyPartResult");
    assert_eq!(result.e_tag(), Some(e2.as_str()), "whole copy's ETag");
    let out = cp.complete(&[(1, &e1), (2, &e2)]).send().await;
    let etag = multipart_etag([&src[..5 * MIB], &src]);
    assert_eq!(out.must("Complete").e_tag(), Some(etag.as_str()), "ETag");
    let copied = [&src[..5 * MIB], &src].concat();
    assert_object(&s3, "mpu", "copied", &etag, &copied).await;

    // A multipart head holds no data; a PUT's head holds the first 4 MiB stripe. Tails hold
    // 4 MiB each: "copied" 5 MiB (2) + 12 MiB + 3 (4); "replaced" 5 MiB + 1 (2) + 100 (1);
    // "src" 8 MiB + 3 past its head (3). The replaced part and aborted uploads are gone.
    let keys = ["copied", "replaced", "src"];
    wait_data_pool(&cluster, &keys, 6 + 3 + 3, "after copies").await;

    // A malformed copy range is 400 InvalidArgument; one reaching past the source's end is
    // 416 InvalidRange, as RGW answers and s3-tests expects.
    let bad = Mpu::create(&s3, "mpu", "bad-range").await;
    let res = bad
        .copy(1, "src")
        .copy_source_range("bytes=5-")
        .send()
        .await;
    expect_err(res, 400, Some("InvalidArgument"), "copy range bytes=5-");
    let past_end = format!("bytes=0-{}", src.len());
    let res = bad.copy(1, "src").copy_source_range(&past_end).send().await;
    let what = format!("copy range {past_end} of a {} byte source", src.len());
    expect_err(res, 416, Some("InvalidRange"), &what);
}
