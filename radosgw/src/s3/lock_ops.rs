//! Object lock: the bucket's configuration (Get/PutObjectLockConfiguration), each version's
//! retention and legal hold (Get/PutObjectRetention, Get/PutObjectLegalHold), the lock a
//! write asks for in its headers, and the headers GET and HEAD show. The rules themselves
//! are in [`crate::lock`].

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use super::convert::{self, timestamp};
use super::version_ops::version_ref;
use crate::authz::Action;
use crate::lock::{self, BadDefault, LockConfig, Mode, Period, Retention};
use crate::records::{BucketRecord, ObjectMeta, UserRecord, now_ms};

pub(super) async fn put_object_lock_configuration(
    s3: &ShoalS3,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let user = s3.user(&req).await?;
    let input = req.input;
    if input.token.is_some() {
        return Err(s3_error!(
            InvalidRequest,
            "object lock tokens are not used: enable object lock with versioning enabled"
        ));
    }
    let config = parse_config(input.object_lock_configuration.as_ref())?;
    let bucket = s3
        .bucket_now(
            &req.extensions,
            Some(&user),
            &input.bucket,
            Action::OwnerOnly("s3:PutBucketObjectLockConfiguration"),
        )
        .await?;
    s3.buckets.set_object_lock(&bucket.name, config).await?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

/// The configuration a PutObjectLockConfiguration body gives, checked as S3 checks it.
fn parse_config(given: Option<&ObjectLockConfiguration>) -> S3Result<LockConfig> {
    let Some(given) = given else {
        return Err(s3_error!(MalformedXML, "no ObjectLockConfiguration given"));
    };
    if given
        .object_lock_enabled
        .as_ref()
        .map(ObjectLockEnabled::as_str)
        != Some(ObjectLockEnabled::ENABLED)
    {
        return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled"));
    }
    let Some(default) = given
        .rule
        .as_ref()
        .and_then(|r| r.default_retention.as_ref())
    else {
        return Ok(LockConfig::default());
    };
    let mode = parse_mode(default.mode.as_ref()).map_err(|_| {
        s3_error!(
            MalformedXML,
            "DefaultRetention needs a Mode of GOVERNANCE or COMPLIANCE"
        )
    })?;
    let period = lock::period(default.days, default.years).map_err(|e| match e {
        BadDefault::DaysOrYears => S3Error::with_message(S3ErrorCode::MalformedXML, e.to_string()),
        BadDefault::NotPositive => {
            let mut err = S3Error::with_message(
                S3ErrorCode::Custom("InvalidRetentionPeriod".into()),
                e.to_string(),
            );
            err.set_status_code(http::StatusCode::BAD_REQUEST);
            err
        }
    })?;
    Ok(LockConfig {
        default: Some(lock::DefaultRetention { mode, period }),
    })
}

/// A retention mode as S3 spells it (exactly).
fn parse_mode(mode: Option<&ObjectLockRetentionMode>) -> Result<Mode, ()> {
    mode.and_then(|m| Mode::parse(m.as_str())).ok_or(())
}

pub(super) async fn get_object_lock_configuration(
    s3: &ShoalS3,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let bucket = s3
        .owner_call(
            &req,
            &req.input.bucket,
            "s3:GetBucketObjectLockConfiguration",
        )
        .await?;
    let Some(config) = bucket.object_lock else {
        return Err(s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket"
        ));
    };
    let rule = config.default.map(|d| {
        let (days, years) = match d.period {
            Period::Days(n) => (Some(n as i32), None),
            Period::Years(n) => (None, Some(n as i32)),
        };
        ObjectLockRule {
            default_retention: Some(DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from_static(d.mode.as_str())),
                days,
                years,
            }),
        }
    });
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        }),
    }))
}

/// The bucket of a retention or legal hold request, which must have object lock
/// (InvalidRequest otherwise, as S3); read now, so a lock enabled a moment ago counts.
async fn lock_bucket<T>(
    s3: &ShoalS3,
    req: &S3Request<T>,
    name: &str,
    action: &'static str,
) -> S3Result<BucketRecord> {
    let user = s3.user(req).await?;
    let bucket = s3
        .bucket_now(
            &req.extensions,
            Some(&user),
            name,
            Action::OwnerOnly(action),
        )
        .await?;
    if bucket.object_lock.is_none() {
        return Err(missing_lock());
    }
    Ok(bucket)
}

fn missing_lock() -> S3Error {
    s3_error!(
        InvalidRequest,
        "Bucket is missing Object Lock Configuration"
    )
}

pub(super) async fn put_object_retention(
    s3: &ShoalS3,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let bucket = lock_bucket(s3, &req, &req.input.bucket, "s3:PutObjectRetention").await?;
    let user = s3.user(&req).await?;
    let input = req.input;
    let Some(given) = &input.retention else {
        return Err(s3_error!(MalformedXML, "no Retention given"));
    };
    let new = match given {
        r if r.mode.is_some() || r.retain_until_date.is_some() => {
            let mode = parse_mode(r.mode.as_ref())
                .map_err(|_| s3_error!(MalformedXML, "Mode must be GOVERNANCE or COMPLIANCE"))?;
            let Some(until) = r.retain_until_date.as_ref() else {
                return Err(s3_error!(MalformedXML, "RetainUntilDate is missing"));
            };
            let until_ms = convert::to_ms(until);
            if until_ms <= now_ms() {
                return Err(s3_error!(
                    InvalidArgument,
                    "The retain until date must be in the future"
                ));
            }
            Some(Retention { mode, until_ms })
        }
        // An empty Retention removes it (allowed only where it may be weakened).
        _ => None,
    };
    let bypass = input.bypass_governance_retention == Some(true);
    check_bypass(&req.extensions, &user, &bucket, bypass)?;
    let which = version_ref(&bucket, input.version_id.as_deref())?;
    s3.objects
        .update_meta(&bucket, &input.key, which.as_ref(), |m| {
            lock::may_change(m.retention.as_ref(), new.as_ref(), now_ms(), bypass)?;
            m.retention = new;
            Ok(())
        })
        .await?;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

pub(super) async fn get_object_retention(
    s3: &ShoalS3,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let bucket = lock_bucket(s3, &req, &req.input.bucket, "s3:GetObjectRetention").await?;
    let meta = locked_version(s3, &bucket, &req.input.key, req.input.version_id.as_deref()).await?;
    let Some(r) = meta.retention else {
        return Err(s3_error!(
            NoSuchObjectLockConfiguration,
            "The specified object does not have a ObjectLock configuration"
        ));
    };
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from_static(r.mode.as_str())),
            retain_until_date: Some(timestamp(r.until_ms)),
        }),
    }))
}

pub(super) async fn put_object_legal_hold(
    s3: &ShoalS3,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let bucket = lock_bucket(s3, &req, &req.input.bucket, "s3:PutObjectLegalHold").await?;
    let input = req.input;
    let status = input.legal_hold.as_ref().and_then(|h| h.status.as_ref());
    let on = parse_hold(status.map(ObjectLockLegalHoldStatus::as_str))
        .ok_or_else(|| s3_error!(MalformedXML, "Status must be ON or OFF"))?;
    let which = version_ref(&bucket, input.version_id.as_deref())?;
    s3.objects
        .update_meta(&bucket, &input.key, which.as_ref(), |m| {
            m.legal_hold = on;
            Ok(())
        })
        .await?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}

/// A legal hold status as S3 spells it.
fn parse_hold(status: Option<&str>) -> Option<bool> {
    match status? {
        ObjectLockLegalHoldStatus::ON => Some(true),
        ObjectLockLegalHoldStatus::OFF => Some(false),
        _ => None,
    }
}

pub(super) async fn get_object_legal_hold(
    s3: &ShoalS3,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let bucket = lock_bucket(s3, &req, &req.input.bucket, "s3:GetObjectLegalHold").await?;
    let meta = locked_version(s3, &bucket, &req.input.key, req.input.version_id.as_deref()).await?;
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold {
            status: Some(hold_status(meta.legal_hold)),
        }),
    }))
}

fn hold_status(on: bool) -> ObjectLockLegalHoldStatus {
    ObjectLockLegalHoldStatus::from_static(if on {
        ObjectLockLegalHoldStatus::ON
    } else {
        ObjectLockLegalHoldStatus::OFF
    })
}

/// The version a Get retention or legal hold request names (a delete marker has neither).
async fn locked_version(
    s3: &ShoalS3,
    bucket: &BucketRecord,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<ObjectMeta> {
    let which = version_ref(bucket, version_id)?;
    let found = match &which {
        None => s3.objects.meta(bucket, key).await?.filter(|m| !m.vacant),
        Some(which) => s3
            .objects
            .version_meta(bucket, key, which)
            .await?
            .map(|(meta, _)| meta),
    };
    match found {
        None if which.is_some() => Err(s3_error!(NoSuchVersion)),
        None => Err(crate::objects::no_such_key(key).into()),
        Some(m) if m.delete_marker && which.is_some() => Err(s3_error!(
            MethodNotAllowed,
            "the specified version is a delete marker"
        )),
        Some(m) if m.delete_marker => Err(crate::objects::no_such_key(key).into()),
        Some(m) => Ok(m),
    }
}

/// The object lock a write asks for in its headers (mode and date together, and a legal
/// hold), or else the bucket's default retention from now: what the new version carries.
/// Lock headers on a bucket without object lock are InvalidRequest, as S3.
pub(super) fn requested_lock(
    cx: &http::Extensions,
    caller: Option<&UserRecord>,
    (bucket, key): (&BucketRecord, &str),
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    legal_hold: Option<&ObjectLockLegalHoldStatus>,
) -> S3Result<(Option<Retention>, bool)> {
    let asked = mode.is_some() || until.is_some() || legal_hold.is_some();
    // A writer granted WRITE by an ACL may not pin versions the owner then cannot delete.
    let subject = super::Subject {
        key: Some(key),
        version: None,
    };
    let action = Action::OwnerOnly("s3:PutObjectRetention");
    if asked && !super::may_on_key(cx, caller, bucket, subject, action) {
        return Err(s3_error!(
            AccessDenied,
            "only the bucket's owner sets object lock on a write"
        ));
    }
    let Some(config) = bucket.object_lock else {
        return if asked {
            Err(missing_lock())
        } else {
            Ok((None, false))
        };
    };
    let hold = match legal_hold {
        None => false,
        Some(h) => parse_hold(Some(h.as_str())).ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "x-amz-object-lock-legal-hold must be ON or OFF"
            )
        })?,
    };
    let now = now_ms();
    let retention = match (mode, until) {
        (None, None) => config.retention_at(now),
        (Some(mode), Some(until)) => {
            let mode = Mode::parse(mode.as_str())
                .ok_or_else(|| s3_error!(InvalidArgument, "Unknown wormMode directive"))?;
            let until_ms = convert::to_ms(until);
            if until_ms <= now {
                return Err(s3_error!(
                    InvalidArgument,
                    "The retain until date must be in the future"
                ));
            }
            Some(Retention { mode, until_ms })
        }
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
            ));
        }
    };
    Ok((retention, hold))
}

/// The object lock headers GET and HEAD show for a version.
pub(super) struct LockHeaders {
    pub mode: Option<ObjectLockMode>,
    pub until: Option<Timestamp>,
    pub legal_hold: Option<ObjectLockLegalHoldStatus>,
}

/// What GET and HEAD say of `meta`'s lock in a bucket with object lock.
pub(super) fn lock_headers(bucket: &BucketRecord, meta: &ObjectMeta) -> LockHeaders {
    if bucket.object_lock.is_none() {
        return LockHeaders {
            mode: None,
            until: None,
            legal_hold: None,
        };
    }
    LockHeaders {
        mode: meta
            .retention
            .map(|r| ObjectLockMode::from_static(r.mode.as_str())),
        until: meta.retention.map(|r| timestamp(r.until_ms)),
        legal_hold: meta.legal_hold.then(|| hold_status(true)),
    }
}

/// Bypassing a governance retention is the bucket owner's (an ACL cannot grant it).
pub(super) fn check_bypass(
    cx: &http::Extensions,
    user: &UserRecord,
    bucket: &BucketRecord,
    bypass: bool,
) -> S3Result<()> {
    let action = Action::OwnerOnly("s3:BypassGovernanceRetention");
    if bypass && !super::may_on_bucket(cx, Some(user), bucket, action) {
        return Err(s3_error!(
            AccessDenied,
            "only the bucket's owner bypasses governance retention"
        ));
    }
    Ok(())
}
