//! Get/Put/DeleteBucketLifecycleConfiguration: S3's rule documents to and from
//! [`crate::lifecycle`]'s model.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use super::convert::{self, timestamp};
use crate::authz::Action;
use crate::lc_worker;
use crate::lifecycle::{
    self, BadConfig, Expiration, Filter, LifecycleConfig, NoncurrentExpiration,
    NoncurrentTransition, Rule, Transition,
};
use crate::records::{BucketRecord, ObjectMeta};

pub(super) async fn put_bucket_lifecycle_configuration(
    s3: &ShoalS3,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    let Some(given) = input.lifecycle_configuration else {
        return Err(s3_error!(MalformedXML, "no LifecycleConfiguration given"));
    };
    let config = LifecycleConfig {
        rules: given
            .rules
            .into_iter()
            .map(parse_rule)
            .collect::<S3Result<_>>()?,
    };
    lifecycle::validate(&config).map_err(|e| match e {
        BadConfig::Malformed(m) => s3_error!(MalformedXML, "{m}"),
        BadConfig::Invalid(m) => s3_error!(InvalidArgument, "{m}"),
    })?;
    let bucket = s3
        .bucket_now(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::OwnerOnly("s3:PutLifecycleConfiguration"),
        )
        .await?;
    for rule in &config.rules {
        let classes = rule.transitions.iter().map(|t| &t.class);
        for class in classes.chain(rule.noncurrent_transitions.iter().map(|t| &t.class)) {
            s3.objects.classes.check(class).await?;
        }
    }
    lc_worker::prepare(&s3.objects, &bucket).await?;
    s3.buckets.set_lifecycle(&bucket.name, Some(config)).await?;
    Ok(S3Response::new(
        PutBucketLifecycleConfigurationOutput::default(),
    ))
}

pub(super) async fn get_bucket_lifecycle_configuration(
    s3: &ShoalS3,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:GetLifecycleConfiguration")
        .await?;
    let Some(config) = bucket.lifecycle else {
        return Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist"
        ));
    };
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(config.rules.iter().map(show_rule).collect()),
        ..Default::default()
    }))
}

pub(super) async fn delete_bucket_lifecycle(
    s3: &ShoalS3,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutLifecycleConfiguration")
        .await?;
    s3.buckets.set_lifecycle(&bucket.name, None).await?;
    Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
}

/// `x-amz-expiration` for the current version `meta` of `key` in `bucket`, if a rule will
/// expire it: `expiry-date="<HTTP date>", rule-id="<id>"`, as S3 shows it.
pub(super) fn expiration_header(
    s3: &ShoalS3,
    bucket: &BucketRecord,
    key: &str,
    meta: &ObjectMeta,
) -> Option<String> {
    let config = bucket.lifecycle.as_ref()?;
    let day_ms = i64::try_from(s3.lc_day.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let current = lc_worker::facts_of(key, meta, lifecycle::Place::Current { alone: true });
    let (at, rule) = lifecycle::expiry(config, &current, day_ms)?;
    let mut date = Vec::new();
    timestamp(at)
        .format(TimestampFormat::HttpDate, &mut date)
        .ok()?;
    let date = String::from_utf8(date).ok()?;
    Some(format!("expiry-date=\"{date}\", rule-id=\"{rule}\""))
}

fn malformed(why: &str) -> S3Error {
    s3_error!(MalformedXML, "{why}")
}

/// One rule of a PutBucketLifecycleConfiguration body.
fn parse_rule(rule: LifecycleRule) -> S3Result<Rule> {
    let enabled = match rule.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(malformed("Status must be Enabled or Disabled")),
    };
    let noncurrent_transitions = rule
        .noncurrent_version_transitions
        .unwrap_or_default()
        .into_iter()
        .map(parse_noncurrent_transition)
        .collect::<S3Result<_>>()?;
    let transitions = rule
        .transitions
        .unwrap_or_default()
        .into_iter()
        .map(parse_transition)
        .collect::<S3Result<_>>()?;
    let filter = match (rule.prefix, rule.filter) {
        (Some(_), Some(_)) => return Err(malformed("a rule has Prefix or Filter, not both")),
        (Some(prefix), None) => Filter {
            prefix,
            ..Filter::default()
        },
        (None, Some(f)) => parse_filter(f)?,
        (None, None) => Filter::default(),
    };
    let (expiration, expired_object_delete_marker) = match rule.expiration {
        None => (None, false),
        Some(e) => {
            let marker = e.expired_object_delete_marker.unwrap_or(false);
            match (e.days, e.date, e.expired_object_delete_marker.is_some()) {
                (Some(d), None, false) => (Some(Expiration::Days(days(d, "Days")?)), false),
                (None, Some(at), false) => (Some(Expiration::Date(convert::to_ms(&at))), false),
                (None, None, true) => (None, marker),
                _ => {
                    return Err(malformed(
                        "Expiration has exactly one of Days, Date and ExpiredObjectDeleteMarker",
                    ));
                }
            }
        }
    };
    let noncurrent = match rule.noncurrent_version_expiration {
        None => None,
        Some(n) => {
            let Some(d) = n.noncurrent_days else {
                return Err(malformed(
                    "NoncurrentVersionExpiration needs NoncurrentDays",
                ));
            };
            Some(NoncurrentExpiration {
                days: days(d, "NoncurrentDays")?,
                keep_newer: newer_versions(n.newer_noncurrent_versions)?,
            })
        }
    };
    let abort_upload_days = rule
        .abort_incomplete_multipart_upload
        .map(|a| match a.days_after_initiation {
            Some(d) => days(d, "DaysAfterInitiation"),
            None => Err(malformed(
                "AbortIncompleteMultipartUpload needs DaysAfterInitiation",
            )),
        })
        .transpose()?;
    Ok(Rule {
        id: rule
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(crate::ids::random_hex::<8>),
        enabled,
        filter,
        expiration,
        expired_object_delete_marker,
        noncurrent,
        abort_upload_days,
        transitions,
        noncurrent_transitions,
    })
}

/// One NoncurrentVersionTransition: NoncurrentDays and a StorageClass, and perhaps
/// NewerNoncurrentVersions.
fn parse_noncurrent_transition(t: NoncurrentVersionTransition) -> S3Result<NoncurrentTransition> {
    let Some(d) = t.noncurrent_days else {
        return Err(malformed(
            "NoncurrentVersionTransition needs NoncurrentDays",
        ));
    };
    let Some(class) = t.storage_class else {
        return Err(malformed(
            "NoncurrentVersionTransition needs a StorageClass",
        ));
    };
    Ok(NoncurrentTransition {
        days: days(d, "NoncurrentDays")?,
        keep_newer: newer_versions(t.newer_noncurrent_versions)?,
        class: class.as_str().to_owned(),
    })
}

/// NewerNoncurrentVersions: 1 to 100 (0 when absent: none kept).
fn newer_versions(n: Option<i32>) -> S3Result<u32> {
    match n {
        None => Ok(0),
        Some(k) if (1..=100).contains(&k) => Ok(k as u32),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "NewerNoncurrentVersions must be between 1 and 100"
        )),
    }
}

/// One Transition: exactly one of Days and Date, and a StorageClass.
fn parse_transition(t: s3s::dto::Transition) -> S3Result<Transition> {
    let at = match (t.days, t.date) {
        (Some(d), None) => Expiration::Days(days(d, "Days")?),
        (None, Some(at)) => Expiration::Date(convert::to_ms(&at)),
        _ => return Err(malformed("a Transition has exactly one of Days and Date")),
    };
    let Some(class) = t.storage_class else {
        return Err(malformed("a Transition needs a StorageClass"));
    };
    Ok(Transition {
        at,
        class: class.as_str().to_owned(),
    })
}

/// A count of days; 0 is left to validation (S3 words that error itself), negatives are
/// refused here.
fn days(n: i32, what: &str) -> S3Result<u32> {
    u32::try_from(n).map_err(|_| {
        s3_error!(
            InvalidArgument,
            "'{what}' in a lifecycle rule must be a positive integer"
        )
    })
}

/// A rule's Filter: exactly one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan
/// and And (an empty Filter: every object).
fn parse_filter(f: LifecycleRuleFilter) -> S3Result<Filter> {
    let given = usize::from(f.prefix.is_some())
        + usize::from(f.tag.is_some())
        + usize::from(f.object_size_greater_than.is_some())
        + usize::from(f.object_size_less_than.is_some())
        + usize::from(f.and.is_some());
    if given > 1 {
        return Err(malformed(
            "a Filter has one of Prefix, Tag, ObjectSize*, And (use And to combine them)",
        ));
    }
    let size = |n: Option<i64>| {
        n.map(|n| {
            u64::try_from(n)
                .map_err(|_| s3_error!(InvalidArgument, "object sizes are not negative"))
        })
        .transpose()
    };
    let tag = |t: Tag| -> S3Result<(String, String)> {
        match (t.key, t.value) {
            (Some(k), v) => Ok((k, v.unwrap_or_default())),
            (None, _) => Err(malformed("a Tag needs a Key")),
        }
    };
    let mut out = Filter {
        prefix: f.prefix.unwrap_or_default(),
        size_greater_than: size(f.object_size_greater_than)?,
        size_less_than: size(f.object_size_less_than)?,
        tags: f.tag.map(tag).transpose()?.into_iter().collect(),
    };
    if let Some(and) = f.and {
        out.prefix = and.prefix.unwrap_or_default();
        out.size_greater_than = size(and.object_size_greater_than)?;
        out.size_less_than = size(and.object_size_less_than)?;
        out.tags = and
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(tag)
            .collect::<S3Result<_>>()?;
    }
    Ok(out)
}

/// A stored rule as GetBucketLifecycleConfiguration shows it.
fn show_rule(rule: &Rule) -> LifecycleRule {
    let f = &rule.filter;
    let conditions = usize::from(!f.prefix.is_empty())
        + f.tags.len()
        + usize::from(f.size_greater_than.is_some())
        + usize::from(f.size_less_than.is_some());
    let as_tag = |(k, v): &(String, String)| Tag {
        key: Some(k.clone()),
        value: Some(v.clone()),
    };
    let size = |n: Option<u64>| n.map(|n| n as i64);
    let filter = if conditions > 1 {
        LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: (!f.prefix.is_empty()).then(|| f.prefix.clone()),
                tags: (!f.tags.is_empty()).then(|| f.tags.iter().map(as_tag).collect()),
                object_size_greater_than: size(f.size_greater_than),
                object_size_less_than: size(f.size_less_than),
            }),
            ..Default::default()
        }
    } else {
        LifecycleRuleFilter {
            prefix: Some(f.prefix.clone()).filter(|p| !p.is_empty() || conditions == 0),
            tag: f.tags.first().map(as_tag),
            object_size_greater_than: size(f.size_greater_than),
            object_size_less_than: size(f.size_less_than),
            ..Default::default()
        }
    };
    let expiration = match (rule.expiration, rule.expired_object_delete_marker) {
        (None, false) => None,
        (e, marker) => Some(LifecycleExpiration {
            days: match e {
                Some(Expiration::Days(d)) => Some(d as i32),
                _ => None,
            },
            date: match e {
                Some(Expiration::Date(at)) => Some(timestamp(at)),
                _ => None,
            },
            expired_object_delete_marker: marker.then_some(true),
        }),
    };
    LifecycleRule {
        id: Some(rule.id.clone()),
        status: ExpirationStatus::from_static(if rule.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        filter: Some(filter),
        expiration,
        noncurrent_version_expiration: rule.noncurrent.map(|n| NoncurrentVersionExpiration {
            noncurrent_days: Some(n.days as i32),
            newer_noncurrent_versions: (n.keep_newer > 0).then_some(n.keep_newer as i32),
        }),
        abort_incomplete_multipart_upload: rule.abort_upload_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: Some(d as i32),
            }
        }),
        prefix: None,
        transitions: (!rule.transitions.is_empty()).then(|| {
            rule.transitions
                .iter()
                .map(|t| s3s::dto::Transition {
                    days: match t.at {
                        Expiration::Days(d) => Some(d as i32),
                        Expiration::Date(_) => None,
                    },
                    date: match t.at {
                        Expiration::Date(at) => Some(timestamp(at)),
                        Expiration::Days(_) => None,
                    },
                    storage_class: Some(TransitionStorageClass::from(t.class.clone())),
                })
                .collect()
        }),
        noncurrent_version_transitions: (!rule.noncurrent_transitions.is_empty()).then(|| {
            rule.noncurrent_transitions
                .iter()
                .map(|t| NoncurrentVersionTransition {
                    noncurrent_days: Some(t.days as i32),
                    newer_noncurrent_versions: (t.keep_newer > 0).then_some(t.keep_newer as i32),
                    storage_class: Some(TransitionStorageClass::from(t.class.clone())),
                })
                .collect()
        }),
    }
}
