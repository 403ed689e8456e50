//! What a request is beyond its S3 input, as bucket policies see it: where it came from,
//! when, and the condition keys its headers and query carry. Read once per request, before
//! the operation runs ([`crate::access`]), and kept in the request's extensions; the
//! decision adds what only the operation knows (the caller's name, the object's tags).

use std::net::IpAddr;

use http::{HeaderMap, Uri};

use crate::policy::{self, Context, Verdict};
use crate::records::{BucketRecord, ObjectMeta, UserRecord};

/// A request's facts.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Its condition keys.
    pub context: Context,
    /// The object key its path names, if any.
    pub key: Option<String>,
}

impl Facts {
    /// The facts of a request to `uri` with `headers` from `peer`, naming `key`, at `now`.
    pub fn of(
        uri: &Uri,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        key: Option<&str>,
        now: time::OffsetDateTime,
    ) -> Facts {
        let mut cx = Context::default();
        if let Some(ip) = peer {
            cx.set_one("aws:SourceIp", ip.to_string());
        }
        // The gateway serves plain HTTP only.
        cx.set_one("aws:SecureTransport", "false");
        if let Ok(t) = now.format(&time::format_description::well_known::Rfc3339) {
            cx.set_one("aws:CurrentTime", t);
        }
        cx.set_one("aws:EpochTime", now.unix_timestamp().to_string());
        for (name, value) in query_pairs(uri.query().unwrap_or("")) {
            let key = match name.as_str() {
                "prefix" => "s3:prefix",
                "delimiter" => "s3:delimiter",
                "max-keys" => "s3:max-keys",
                "versionId" => "s3:VersionId",
                _ => continue,
            };
            cx.set_one(key, value);
        }
        for header in [
            "x-amz-acl",
            "x-amz-server-side-encryption",
            "x-amz-copy-source",
            "x-amz-metadata-directive",
            "x-amz-storage-class",
            "x-amz-object-lock-mode",
        ] {
            if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
                cx.set_one(&format!("s3:{header}"), v);
            }
        }
        if let Some(tagging) = headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()) {
            let mut keys = Vec::new();
            for (k, v) in query_pairs(tagging) {
                cx.set_one(&format!("s3:RequestObjectTag/{k}"), v);
                keys.push(k);
            }
            cx.set("s3:RequestObjectTagKeys", keys);
        }
        Facts {
            context: cx,
            key: key.map(str::to_owned),
        }
    }
}

/// A query component decoded (as sent when it does not decode).
fn decode(s: &str) -> String {
    crate::text::url_decode(s).unwrap_or_else(|| s.to_owned())
}

/// `a=1&b=2` decoded into pairs.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// What `bucket`'s policy says of `caller` doing `action`, on `key` (the request's path key
/// when `None`) for an action on an object, whose current metadata is `meta` when known.
pub fn policy_verdict(
    facts: Option<&Facts>,
    caller: Option<&UserRecord>,
    bucket: &BucketRecord,
    action: crate::authz::Action,
    key: Option<&str>,
    meta: Option<&ObjectMeta>,
) -> Verdict {
    let Some(text) = &bucket.policy else {
        return Verdict::Neither;
    };
    let policy = match policy::Policy::parse(text, &bucket.name) {
        Ok(p) => p,
        Err(e) => {
            // It was validated when put: a record that no longer parses denies rather than
            // silently dropping what its statements deny.
            tracing::warn!(bucket = bucket.name, error = %e, "stored bucket policy does not parse");
            return Verdict::Deny;
        }
    };
    let default = Facts::default();
    let facts = facts.unwrap_or(&default);
    let mut cx = facts.context.clone();
    if let Some(user) = caller {
        cx.set_one("aws:username", user.uid.clone());
        cx.set_one("aws:userid", user.uid.clone());
    }
    if let Some(meta) = meta {
        for (k, v) in &meta.tags {
            cx.set_one(&format!("s3:ExistingObjectTag/{k}"), v.clone());
        }
    }
    let key = key.or(facts.key.as_deref());
    let resource = if action.on_object_resource() {
        policy::arn(&bucket.name, Some(key.unwrap_or("")))
    } else {
        policy::arn(&bucket.name, None)
    };
    policy.evaluate(&policy::Request {
        principal: caller.map(|u| u.uid.as_str()),
        action: action.name(),
        resource: &resource,
        context: &cx,
    })
}
