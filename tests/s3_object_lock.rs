//! S3 object lock end to end through the official AWS SDK for Rust: the bucket's
//! configuration (at creation and later, default retention, its errors), retention and
//! legal hold on current and noncurrent versions, the rules for changing a retention, and
//! that a locked version cannot be deleted by anyone before its date — through
//! DeleteObject, DeleteObjects, promotion of an older version and a suspended-style
//! overwrite — while delete markers stay free to come and go.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, DefaultRetention, Delete,
    ObjectIdentifier, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
    ObjectLockRule, VersioningConfiguration,
};
use common::gateway::Cluster;
use common::s3::{Must, body, expect_err};

/// A time `secs` seconds from now, whole seconds (as S3 keeps them).
fn in_secs(secs: u64) -> DateTime {
    let at = SystemTime::now() + Duration::from_secs(secs);
    let whole = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    DateTime::from_secs(whole as i64)
}

const DAY: u64 = 86_400;

fn retention(mode: ObjectLockRetentionMode, until: DateTime) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(mode)
        .retain_until_date(until)
        .build()
}

fn hold(on: bool) -> ObjectLockLegalHold {
    ObjectLockLegalHold::builder()
        .status(if on {
            ObjectLockLegalHoldStatus::On
        } else {
            ObjectLockLegalHoldStatus::Off
        })
        .build()
}

fn config(mode: &str, days: Option<i32>, years: Option<i32>) -> ObjectLockConfiguration {
    let mut d = DefaultRetention::builder().mode(ObjectLockRetentionMode::from(mode));
    if let Some(days) = days {
        d = d.days(days);
    }
    if let Some(years) = years {
        d = d.years(years);
    }
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(d.build())
                .build(),
        )
        .build()
}

async fn lock_bucket(s3: &Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .must("create a bucket with object lock");
}

async fn put(s3: &Client, bucket: &str, key: &str, data: &[u8]) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .must("PUT")
        .version_id()
        .expect("a version id")
        .to_owned()
}

async fn set_retention(
    s3: &Client,
    bucket: &str,
    key: &str,
    version: &str,
    r: ObjectLockRetention,
    bypass: bool,
) -> Result<(), String> {
    let mut req = s3
        .put_object_retention()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .retention(r);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send().await.map(drop).map_err(|e| {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        e.code().unwrap_or("?").to_owned()
    })
}

async fn delete_version(
    s3: &Client,
    bucket: &str,
    key: &str,
    version: &str,
    bypass: bool,
) -> Result<(), String> {
    let mut req = s3
        .delete_object()
        .bucket(bucket)
        .key(key)
        .version_id(version);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send().await.map(drop).map_err(|e| {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        e.code().unwrap_or("?").to_owned()
    })
}

/// The bucket's lock configuration: at creation (which enables versioning) or later (which
/// needs versioning enabled), read back as given, and every refusal S3 gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_configuration_is_kept_and_checked() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    lock_bucket(&s3, "locked").await;
    let versioning = s3
        .get_bucket_versioning()
        .bucket("locked")
        .send()
        .await
        .must("GetBucketVersioning");
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let got = s3
        .get_object_lock_configuration()
        .bucket("locked")
        .send()
        .await
        .must("GetObjectLockConfiguration");
    let got = got.object_lock_configuration().expect("a configuration");
    assert_eq!(got.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(got.rule().is_none(), "no default retention yet");

    for (given, days) in [
        (config("GOVERNANCE", Some(1), None), true),
        (config("COMPLIANCE", None, Some(1)), false),
    ] {
        s3.put_object_lock_configuration()
            .bucket("locked")
            .object_lock_configuration(given.clone())
            .send()
            .await
            .must("PutObjectLockConfiguration");
        let got = s3
            .get_object_lock_configuration()
            .bucket("locked")
            .send()
            .await
            .must("GetObjectLockConfiguration");
        assert_eq!(
            got.object_lock_configuration(),
            Some(&given),
            "days: {days}"
        );
    }

    for (bad, code) in [
        (config("GOVERNANCE", Some(1), Some(1)), "MalformedXML"),
        (
            config("GOVERNANCE", Some(0), None),
            "InvalidRetentionPeriod",
        ),
        (
            config("GOVERNANCE", None, Some(-1)),
            "InvalidRetentionPeriod",
        ),
        (config("governance", None, Some(1)), "MalformedXML"),
        (config("abc", None, Some(1)), "MalformedXML"),
        (
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::from("Disabled"))
                .build(),
            "MalformedXML",
        ),
    ] {
        expect_err(
            s3.put_object_lock_configuration()
                .bucket("locked")
                .object_lock_configuration(bad.clone())
                .send()
                .await,
            400,
            Some(code),
            &format!("{bad:?}"),
        );
    }
    expect_err(
        s3.put_bucket_versioning()
            .bucket("locked")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await,
        409,
        Some("InvalidBucketState"),
        "suspending versioning on a bucket with object lock",
    );

    // A bucket created without it: no configuration; enabling it needs versioning enabled.
    s3.create_bucket()
        .bucket("plain")
        .send()
        .await
        .must("create");
    expect_err(
        s3.get_object_lock_configuration()
            .bucket("plain")
            .send()
            .await,
        404,
        Some("ObjectLockConfigurationNotFoundError"),
        "GetObjectLockConfiguration without object lock",
    );
    for status in [None, Some(BucketVersioningStatus::Suspended)] {
        if let Some(status) = status {
            s3.put_bucket_versioning()
                .bucket("plain")
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .must("PutBucketVersioning");
        }
        expect_err(
            s3.put_object_lock_configuration()
                .bucket("plain")
                .object_lock_configuration(config("GOVERNANCE", Some(1), None))
                .send()
                .await,
            409,
            Some("InvalidBucketState"),
            "object lock without versioning enabled",
        );
    }
    let key = "before";
    s3.put_object()
        .bucket("plain")
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .must("PUT");
    expect_err(
        s3.put_object_retention()
            .bucket("plain")
            .key(key)
            .retention(retention(ObjectLockRetentionMode::Governance, in_secs(DAY)))
            .send()
            .await,
        400,
        Some("InvalidRequest"),
        "PutObjectRetention without object lock",
    );
    expect_err(
        s3.get_object_legal_hold()
            .bucket("plain")
            .key(key)
            .send()
            .await,
        400,
        Some("InvalidRequest"),
        "GetObjectLegalHold without object lock",
    );
    s3.put_bucket_versioning()
        .bucket("plain")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .must("enable versioning");
    s3.put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(config("GOVERNANCE", Some(1), None))
        .send()
        .await
        .must("object lock once versioning is enabled");
    // A version written before holds no retention; a new one gets the default.
    expect_err(
        s3.get_object_retention()
            .bucket("plain")
            .key(key)
            .send()
            .await,
        404,
        Some("NoSuchObjectLockConfiguration"),
        "GetObjectRetention of a version without one",
    );
    put(&s3, "plain", key, b"y").await;
    let r = s3
        .get_object_retention()
        .bucket("plain")
        .key(key)
        .send()
        .await
        .must("GetObjectRetention");
    let r = r.retention().expect("the default retention");
    assert_eq!(r.mode(), Some(&ObjectLockRetentionMode::Governance));
    let until = r.retain_until_date().expect("a date").secs();
    let expect = in_secs(DAY).secs();
    assert!(
        (until - expect).abs() < 60,
        "one day from the write: {until} vs {expect}"
    );
}

/// Retention and legal hold on versions: what may change, what may be deleted, by whom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_versions_are_not_deleted_before_their_date() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    let b = "vault";
    lock_bucket(&s3, b).await;
    let gov = ObjectLockRetentionMode::Governance;
    let comp = ObjectLockRetentionMode::Compliance;

    // Lock headers on PUT, shown by HEAD and GET.
    let far = in_secs(30 * DAY);
    let v1 = s3
        .put_object()
        .bucket(b)
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(far)
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .must("PUT with lock headers")
        .version_id()
        .unwrap()
        .to_owned();
    let head = s3
        .head_object()
        .bucket(b)
        .key("k")
        .send()
        .await
        .must("HEAD");
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(head.object_lock_retain_until_date(), Some(&far));
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    let got = s3.get_object().bucket(b).key("k").send().await.must("GET");
    assert_eq!(got.object_lock_mode(), Some(&ObjectLockMode::Governance));

    // Legal hold wins over everything, bypass included.
    for bypass in [false, true] {
        assert_eq!(
            delete_version(&s3, b, "k", &v1, bypass).await,
            Err("AccessDenied".into()),
            "legal hold, bypass {bypass}"
        );
    }
    s3.put_object_legal_hold()
        .bucket(b)
        .key("k")
        .version_id(&v1)
        .legal_hold(hold(false))
        .send()
        .await
        .must("legal hold off");
    let held = s3
        .get_object_legal_hold()
        .bucket(b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .must("GetObjectLegalHold");
    assert_eq!(
        held.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::Off)
    );
    expect_err(
        s3.put_object_legal_hold()
            .bucket(b)
            .key("k")
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(ObjectLockLegalHoldStatus::from("abc"))
                    .build(),
            )
            .send()
            .await,
        400,
        Some("MalformedXML"),
        "a legal hold status that is neither ON nor OFF",
    );

    // Governance: lengthen freely; shorten, or turn into compliance, only with the bypass.
    let farther = in_secs(31 * DAY);
    assert_eq!(
        set_retention(&s3, b, "k", &v1, retention(gov.clone(), farther), false).await,
        Ok(())
    );
    assert_eq!(
        set_retention(&s3, b, "k", &v1, retention(gov.clone(), far), false).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        set_retention(&s3, b, "k", &v1, retention(comp.clone(), farther), false).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        set_retention(&s3, b, "k", &v1, retention(gov.clone(), far), true).await,
        Ok(())
    );
    let got = s3
        .get_object_retention()
        .bucket(b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .must("GetObjectRetention");
    assert_eq!(got.retention(), Some(&retention(gov.clone(), far)));
    assert_eq!(
        delete_version(&s3, b, "k", &v1, false).await,
        Err("AccessDenied".into())
    );

    // A newer version makes v1 noncurrent; its lock travels with it and can still change.
    let v2 = put(&s3, b, "k", b"two").await;
    assert_eq!(
        delete_version(&s3, b, "k", &v1, false).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        set_retention(&s3, b, "k", &v1, retention(comp.clone(), far), true).await,
        Ok(())
    );
    // Compliance: nobody shortens it or turns it back, bypass or not; deletes fail.
    for bypass in [false, true] {
        assert_eq!(
            set_retention(&s3, b, "k", &v1, retention(gov.clone(), farther), bypass).await,
            Err("AccessDenied".into()),
            "compliance to governance, bypass {bypass}"
        );
        assert_eq!(
            set_retention(
                &s3,
                b,
                "k",
                &v1,
                retention(comp.clone(), in_secs(DAY)),
                bypass
            )
            .await,
            Err("AccessDenied".into()),
            "compliance shortened, bypass {bypass}"
        );
        assert_eq!(
            delete_version(&s3, b, "k", &v1, bypass).await,
            Err("AccessDenied".into()),
            "compliance delete, bypass {bypass}"
        );
    }
    assert_eq!(
        set_retention(&s3, b, "k", &v1, retention(comp.clone(), farther), false).await,
        Ok(())
    );

    // Delete markers are free: written over a locked version, and deleted by id.
    let marker = s3
        .delete_object()
        .bucket(b)
        .key("k")
        .send()
        .await
        .must("DELETE writes a marker");
    assert_eq!(marker.delete_marker(), Some(true));
    let marker = marker.version_id().unwrap().to_owned();
    delete_version(&s3, b, "k", &marker, false)
        .await
        .expect("a marker is not locked");
    // The unlocked v2 goes; v1 is promoted, lock and all.
    delete_version(&s3, b, "k", &v2, false)
        .await
        .expect("an unlocked version");
    let head = s3
        .head_object()
        .bucket(b)
        .key("k")
        .send()
        .await
        .must("HEAD");
    assert_eq!(head.version_id(), Some(v1.as_str()));
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(head.object_lock_retain_until_date(), Some(&farther));
    assert_eq!(
        delete_version(&s3, b, "k", &v1, true).await,
        Err("AccessDenied".into())
    );
    let got = s3
        .get_object()
        .bucket(b)
        .key("k")
        .send()
        .await
        .must("GET v1");
    assert_eq!(body(got.body).await, b"one");

    // DeleteObjects: the locked version is an AccessDenied error, the other is deleted.
    let free = put(&s3, b, "free", b"f").await;
    let ids = [("k", v1.as_str()), ("free", free.as_str())];
    let out = s3
        .delete_objects()
        .bucket(b)
        .delete(
            Delete::builder()
                .set_objects(Some(
                    ids.iter()
                        .map(|(k, v)| {
                            ObjectIdentifier::builder()
                                .key(*k)
                                .version_id(*v)
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .build()
                .unwrap(),
        )
        .bypass_governance_retention(true)
        .send()
        .await
        .must("DeleteObjects");
    let deleted: Vec<_> = out.deleted().iter().map(|d| d.key().unwrap()).collect();
    assert_eq!(deleted, ["free"]);
    let errors: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap(), e.version_id().unwrap()))
        .collect();
    assert_eq!(errors, [("k", "AccessDenied", v1.as_str())]);

    // Multipart and copy take lock headers; their versions are locked.
    let up = s3
        .create_multipart_upload()
        .bucket(b)
        .key("mp")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(far)
        .send()
        .await
        .must("CreateMultipartUpload with lock headers");
    let id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket(b)
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"abc"))
        .send()
        .await
        .must("UploadPart");
    let done = s3
        .complete_multipart_upload()
        .bucket(b)
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .must("CompleteMultipartUpload");
    let mp = done.version_id().expect("a version id").to_owned();
    assert_eq!(
        delete_version(&s3, b, "mp", &mp, false).await,
        Err("AccessDenied".into())
    );
    delete_version(&s3, b, "mp", &mp, true)
        .await
        .expect("governance yields to the bypass");
    let copy = s3
        .copy_object()
        .bucket(b)
        .key("copy")
        .copy_source(format!("{b}/k?versionId={v1}"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .must("CopyObject with a legal hold");
    let copied = copy.version_id().unwrap().to_owned();
    let head = s3
        .head_object()
        .bucket(b)
        .key("copy")
        .send()
        .await
        .must("HEAD copy");
    assert_eq!(
        head.object_lock_mode(),
        None,
        "the source's retention is not copied"
    );
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(
        delete_version(&s3, b, "copy", &copied, true).await,
        Err("AccessDenied".into())
    );

    // Bad lock headers.
    for (mode, until, what) in [
        (
            Some(ObjectLockMode::Governance),
            None,
            "mode without a date",
        ),
        (None, Some(far), "a date without a mode"),
        (
            Some(ObjectLockMode::from("abc")),
            Some(far),
            "an unknown mode",
        ),
        (
            Some(ObjectLockMode::Governance),
            Some(DateTime::from_secs(1_000_000)),
            "a past date",
        ),
    ] {
        expect_err(
            s3.put_object()
                .bucket(b)
                .key("bad")
                .body(ByteStream::from_static(b"x"))
                .set_object_lock_mode(mode)
                .set_object_lock_retain_until_date(until)
                .send()
                .await,
            400,
            Some("InvalidArgument"),
            what,
        );
    }

    // A retention ends: before its date nobody deletes the version, after it anyone may.
    let soon = in_secs(3);
    let short = s3
        .put_object()
        .bucket(b)
        .key("short")
        .body(ByteStream::from_static(b"s"))
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(soon)
        .send()
        .await
        .must("PUT retained 3 s")
        .version_id()
        .unwrap()
        .to_owned();
    assert_eq!(
        delete_version(&s3, b, "short", &short, true).await,
        Err("AccessDenied".into())
    );
    let wait = soon.secs() + 1 - in_secs(0).secs();
    tokio::time::sleep(Duration::from_secs(wait.max(0) as u64 + 1)).await;
    delete_version(&s3, b, "short", &short, false)
        .await
        .expect("a retention that has ended");
}
