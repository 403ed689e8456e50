//! What a request is beyond its S3 input, as bucket policies see it: where it came from,
//! when, and the condition keys its headers and query carry. Read once per request, before
//! the operation runs ([`crate::access`]), and kept in the request's extensions; the
//! decision adds what only the operation knows (the caller's name, the object's tags).

use std::net::IpAddr;

use http::{HeaderMap, Uri};

use crate::authz::{Action, Verdicts};
use crate::policy::{self, Context, Policy, Verdict};
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
        for (header, key) in HEADER_KEYS {
            if let Some(v) = headers.get(*header).and_then(|v| v.to_str().ok()) {
                cx.set_one(key, v);
            }
        }
        if let Some(tagging) = headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()) {
            set_request_tags(&mut cx, tagging);
        }
        Facts {
            context: cx,
            key: key.map(str::to_owned),
        }
    }
}

/// Request headers and the condition keys S3 names them by (a browser's POST form sends
/// the same names as fields).
const HEADER_KEYS: &[(&str, &str)] = &[
    ("x-amz-acl", "s3:x-amz-acl"),
    ("x-amz-grant-read", "s3:x-amz-grant-read"),
    ("x-amz-grant-write", "s3:x-amz-grant-write"),
    ("x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"),
    ("x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"),
    ("x-amz-grant-full-control", "s3:x-amz-grant-full-control"),
    (
        "x-amz-server-side-encryption",
        "s3:x-amz-server-side-encryption",
    ),
    ("x-amz-copy-source", "s3:x-amz-copy-source"),
    ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
    ("x-amz-storage-class", "s3:x-amz-storage-class"),
    ("x-amz-object-lock-mode", "s3:object-lock-mode"),
    ("x-amz-object-lock-legal-hold", "s3:object-lock-legal-hold"),
    (
        "x-amz-object-lock-retain-until-date",
        "s3:object-lock-retain-until-date",
    ),
    ("referer", "aws:Referer"),
    ("user-agent", "aws:UserAgent"),
];

/// `s3:RequestObjectTag/<k>` and `s3:RequestObjectTagKeys` from a tagging string (`a=1&b=2`).
fn set_request_tags(cx: &mut Context, tagging: &str) {
    let mut keys = Vec::new();
    for (k, v) in query_pairs(tagging) {
        cx.set_one(&format!("s3:RequestObjectTag/{k}"), v);
        keys.push(k);
    }
    cx.set("s3:RequestObjectTagKeys", keys);
}

impl Facts {
    /// Adds what a browser's POST form says in its body rather than its headers: the key,
    /// and the fields (named as the headers they stand for) policies have keys for.
    pub fn add_form(&mut self, key: &str, fields: &[(&str, Option<&str>)], tagging: Option<&str>) {
        self.key = Some(key.to_owned());
        for (name, value) in fields {
            let known = HEADER_KEYS.iter().find(|(header, _)| header == name);
            if let (Some((_, cond)), Some(v)) = (known, value) {
                self.context.set_one(cond, *v);
            }
        }
        if let Some(t) = tagging {
            set_request_tags(&mut self.context, t);
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

/// Which object a decision is about, when it is not the request's own: its key and the
/// version named (a DeleteObjects entry, a copy's source).
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject<'a> {
    /// The key (`None`: the request's path key).
    pub key: Option<&'a str>,
    /// The version named (`None`: the request's `versionId`, if any).
    pub version: Option<&'a str>,
}

/// What the policies say of `caller` doing `action` in `bucket` on `subject` for an action on
/// an object whose current metadata is `meta` when known: the bucket's policy and the
/// caller's own.
pub fn policy_verdicts(
    facts: Option<&Facts>,
    caller: Option<&UserRecord>,
    bucket: &BucketRecord,
    action: Action,
    subject: Subject<'_>,
    meta: Option<&ObjectMeta>,
) -> Verdicts {
    let key = subject.key;
    let user_policy = caller.and_then(|u| u.policy.as_deref());
    if bucket.policy.is_none() && user_policy.is_none() {
        return Verdicts::NONE;
    }
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
    if let Some(v) = subject.version {
        cx.set_one("s3:VersionId", v);
    }
    let key = key.or(facts.key.as_deref());
    let resource = if action.on_object_resource() {
        policy::arn(&bucket.name, Some(key.unwrap_or("")))
    } else {
        policy::arn(&bucket.name, None)
    };
    // A request naming a version is S3's `*Version*` action.
    let name = match action.version_name() {
        Some(versioned) if cx.get("s3:VersionId").is_some() => versioned,
        _ => action.name(),
    };
    let request = policy::Request {
        principal: caller.map(|u| u.uid.as_str()),
        action: name,
        resource: &resource,
        context: &cx,
    };
    let restricted = bucket
        .public_access_block
        .is_some_and(|b| b.restrict_public_buckets);
    let is_owner = caller.is_some_and(|u| u.uid == bucket.owner);
    Verdicts {
        bucket: bucket.policy.as_deref().map_or(Verdict::Neither, |text| {
            let parsed = Policy::parse(text, &bucket.name);
            // RestrictPublicBuckets: a public policy allows the bucket's owner alone.
            let public = parsed.as_ref().is_ok_and(Policy::is_public);
            match evaluate(parsed, &request, &bucket.name) {
                Verdict::Allow if restricted && public && !is_owner => Verdict::Neither,
                v => v,
            }
        }),
        user: user_policy.map(|text| evaluate(Policy::parse_user(text), &request, "(user)")),
    }
}

/// What a stored policy says of `request`. It was validated when put: one that no longer
/// parses denies rather than silently dropping what its statements deny.
fn evaluate(
    parsed: Result<Policy, policy::MalformedPolicy>,
    request: &policy::Request<'_>,
    whose: &str,
) -> Verdict {
    match parsed {
        Ok(p) => p.evaluate(request),
        Err(e) => {
            tracing::warn!(whose, error = %e, "stored policy does not parse");
            Verdict::Deny
        }
    }
}

/// Whether `user`'s own policy (if any) lets it do `action` on `resource` (an ARN), for
/// what is about no existing bucket (CreateBucket, ListBuckets).
pub fn user_allows(facts: Option<&Facts>, user: &UserRecord, action: &str, resource: &str) -> bool {
    let Some(text) = user.policy.as_deref() else {
        return true;
    };
    let default = Facts::default();
    let mut cx = facts.unwrap_or(&default).context.clone();
    cx.set_one("aws:username", user.uid.clone());
    cx.set_one("aws:userid", user.uid.clone());
    let request = policy::Request {
        principal: Some(&user.uid),
        action,
        resource,
        context: &cx,
    };
    evaluate(Policy::parse_user(text), &request, "(user)") == Verdict::Allow
}
