//! Bucket tagging and GetObjectAttributes end to end through the AWS SDK.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, ObjectAttributes, StorageClass, Tag, Tagging,
};
use common::gateway::Cluster;
use common::s3::{Must, expect_err, random_bytes, upload_parts};

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let mut t = Tagging::builder();
    for (k, v) in pairs {
        t = t.tag_set(Tag::builder().key(*k).value(*v).build().unwrap());
    }
    t.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_tags_and_object_attributes() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    let bob = cluster.client_for(&cluster.create_user("bob", "Bob"));
    s3.create_bucket()
        .bucket("attrs")
        .send()
        .await
        .must("create");

    // Bucket tagging.
    expect_err(
        s3.get_bucket_tagging().bucket("attrs").send().await,
        404,
        Some("NoSuchTagSet"),
        "no tags yet",
    );
    s3.put_bucket_tagging()
        .bucket("attrs")
        .tagging(tagging(&[("team", "red"), ("cost", "42")]))
        .send()
        .await
        .must("PutBucketTagging");
    let got = s3
        .get_bucket_tagging()
        .bucket("attrs")
        .send()
        .await
        .must("get");
    let tags: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "red"), ("cost", "42")]);
    expect_err(
        s3.put_bucket_tagging()
            .bucket("attrs")
            .tagging(tagging(&[("a", "1"), ("a", "2")]))
            .send()
            .await,
        400,
        Some("InvalidTag"),
        "a repeated key",
    );
    let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    expect_err(
        s3.put_bucket_tagging()
            .bucket("attrs")
            .tagging(tagging(&many))
            .send()
            .await,
        400,
        Some("InvalidTag"),
        "51 tags",
    );
    expect_err(
        bob.get_bucket_tagging().bucket("attrs").send().await,
        403,
        Some("AccessDenied"),
        "another user's bucket",
    );
    s3.delete_bucket_tagging()
        .bucket("attrs")
        .send()
        .await
        .must("delete");
    expect_err(
        s3.get_bucket_tagging().bucket("attrs").send().await,
        404,
        Some("NoSuchTagSet"),
        "after delete",
    );

    // An object written whole: its ETag, size, class, checksum; no parts.
    let data = random_bytes(1000, 1);
    let put = s3
        .put_object()
        .bucket("attrs")
        .key("whole")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .must("put");
    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectParts,
        ObjectAttributes::StorageClass,
        ObjectAttributes::ObjectSize,
    ];
    let got = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("whole")
        .set_object_attributes(Some(all.to_vec()))
        .send()
        .await
        .must("GetObjectAttributes");
    assert_eq!(
        got.e_tag().map(|e| e.trim_matches('"')),
        put.e_tag().map(|e| e.trim_matches('"'))
    );
    assert_eq!(got.object_size(), Some(1000));
    assert_eq!(got.storage_class(), Some(&StorageClass::Standard));
    assert!(put.checksum_crc32_c().is_some(), "the PUT's checksum");
    assert_eq!(
        got.checksum().and_then(|c| c.checksum_crc32_c()),
        put.checksum_crc32_c()
    );
    assert!(got.object_parts().is_none(), "written whole");
    // Only what is asked for.
    let got = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("whole")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .must("size only");
    assert_eq!((got.object_size(), got.e_tag()), (Some(1000), None));

    // A multipart object: its parts, a page at a time.
    let parts: Vec<Vec<u8>> = (0..3).map(|i| random_bytes(5 << 20, 10 + i)).collect();
    let up = s3
        .create_multipart_upload()
        .bucket("attrs")
        .key("parts")
        .send()
        .await
        .must("create upload");
    let id = up.upload_id().unwrap();
    let done = upload_parts(&s3, "attrs", "parts", id, &parts).await;
    s3.complete_multipart_upload()
        .bucket("attrs")
        .key("parts")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .must("complete");
    let got = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("parts")
        .object_attributes(ObjectAttributes::ObjectParts)
        .max_parts(2)
        .send()
        .await
        .must("parts");
    let p = got.object_parts().expect("parts");
    assert_eq!(p.total_parts_count(), Some(3));
    assert_eq!(p.is_truncated(), Some(true));
    assert_eq!(p.next_part_number_marker(), Some("2"));
    let sizes: Vec<(Option<i32>, Option<i64>)> = p
        .parts()
        .iter()
        .map(|q| (q.part_number(), q.size()))
        .collect();
    assert_eq!(sizes, [(Some(1), Some(5 << 20)), (Some(2), Some(5 << 20))]);
    let got = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("parts")
        .object_attributes(ObjectAttributes::ObjectParts)
        .part_number_marker("2")
        .send()
        .await
        .must("the rest");
    let p = got.object_parts().expect("parts");
    assert_eq!(p.is_truncated(), Some(false));
    assert_eq!(p.parts().len(), 1);
    assert_eq!(p.parts()[0].part_number(), Some(3));

    expect_err(
        bob.get_object_attributes()
            .bucket("attrs")
            .key("whole")
            .object_attributes(ObjectAttributes::ObjectSize)
            .send()
            .await,
        403,
        Some("AccessDenied"),
        "another user's private object",
    );
    expect_err(
        s3.get_object_attributes()
            .bucket("attrs")
            .key("missing")
            .object_attributes(ObjectAttributes::ObjectSize)
            .send()
            .await,
        404,
        Some("NoSuchKey"),
        "a missing key",
    );
}
