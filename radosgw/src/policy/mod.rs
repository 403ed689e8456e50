//! Bucket policies: the JSON policy language of S3 (and IAM), parsed and validated once when
//! a policy is put, evaluated per request. Pure: a request is what the S3 layer says it is
//! (principal, action, resource, condition keys), and the answer is whether a statement
//! explicitly denies it, allows it, or neither (then the ACLs decide; [`crate::authz`]).
//!
//! Supported: Version, Id, Statement (one or a list) with Sid, Effect, Principal /
//! NotPrincipal (`*`, `{"AWS": ...}` by user id or ARN, `{"CanonicalUser": ...}`), Action /
//! NotAction (`s3:` actions with `*` and `?`), Resource / NotResource (ARNs of this bucket
//! and its objects, with wildcards) and Condition ([`condition`]).

pub mod condition;

use std::collections::BTreeMap;

use serde_json::Value;

pub use condition::Condition;

/// A policy that does not parse or validate (S3's MalformedPolicy, with the reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedPolicy(pub String);

fn malformed<T>(why: impl Into<String>) -> Result<T, MalformedPolicy> {
    Err(MalformedPolicy(why.into()))
}

/// A statement's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Allows what it matches.
    Allow,
    /// Denies what it matches, whatever else allows it.
    Deny,
}

/// Who a statement is about.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Principals {
    /// Everyone, signed or not (`"*"`, `{"AWS": "*"}`).
    Anyone,
    /// These users (uids).
    Users(Vec<String>),
}

impl Principals {
    fn includes(&self, principal: Option<&str>) -> bool {
        match self {
            Principals::Anyone => true,
            Principals::Users(uids) => principal.is_some_and(|p| uids.iter().any(|u| u == p)),
        }
    }
}

/// A list of patterns, or (`Not...`) everything but them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Patterns {
    not: bool,
    patterns: Vec<String>,
}

impl Patterns {
    fn matches(&self, value: &str, ignore_case: bool) -> bool {
        let hit = self.patterns.iter().any(|p| {
            if ignore_case {
                glob(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
            } else {
                glob(p, value)
            }
        });
        hit != self.not
    }
}

/// One statement.
#[derive(Clone, Debug, PartialEq)]
struct Statement {
    effect: Effect,
    principal: Principals,
    not_principal: bool,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// A parsed bucket policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// The condition keys of a request, by lowercase name, each with its values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    values: BTreeMap<String, Vec<String>>,
}

/// A condition key as looked up: its name is case-insensitive, what follows a `/` (a tag
/// key, as in `s3:ExistingObjectTag/Env`) is not.
fn normal_key(key: &str) -> String {
    match key.split_once('/') {
        Some((name, rest)) => format!("{}/{rest}", name.to_ascii_lowercase()),
        None => key.to_ascii_lowercase(),
    }
}

impl Context {
    /// Sets `key` to `values`.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(normal_key(key), values);
    }

    /// Sets `key` to one value.
    pub fn set_one(&mut self, key: &str, value: impl Into<String>) {
        self.set(key, vec![value.into()]);
    }

    /// The values of `key`, if the request has it.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&normal_key(key)).map(Vec::as_slice)
    }
}

/// What a request is, as policies see it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The caller's uid (`None`: anonymous).
    pub principal: Option<&'a str>,
    /// The action, e.g. `s3:GetObject`.
    pub action: &'a str,
    /// The resource's ARN: `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    /// Its condition keys.
    pub context: &'a Context,
}

/// What a policy says of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it.
    Deny,
    /// No statement applies.
    Neither,
}

/// The ARN of a bucket, or of an object in it.
pub fn arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

/// Which kind of policy a document is.
#[derive(Clone, Copy, Debug)]
enum Kind<'a> {
    /// A bucket's: every statement names its principals; resources are in the bucket.
    Bucket(&'a str),
    /// A user's: no principals (it is the user's); resources anywhere in S3.
    User,
}

impl Policy {
    /// Parses and validates the policy `text` of `bucket`.
    pub fn parse(text: &str, bucket: &str) -> Result<Policy, MalformedPolicy> {
        Policy::parse_kind(text, Kind::Bucket(bucket))
    }

    /// Parses and validates a user's policy: what the user's keys are confined to.
    pub fn parse_user(text: &str) -> Result<Policy, MalformedPolicy> {
        Policy::parse_kind(text, Kind::User)
    }

    fn parse_kind(text: &str, kind: Kind<'_>) -> Result<Policy, MalformedPolicy> {
        let doc: Value = serde_json::from_str(text)
            .or_else(|e| malformed(format!("the policy is not JSON: {e}")))?;
        let Value::Object(doc) = doc else {
            return malformed("the policy is not a JSON object");
        };
        let mut statements = None;
        for (name, value) in &doc {
            match name.as_str() {
                "Version" => match value.as_str() {
                    Some("2012-10-17" | "2008-10-17") => {}
                    _ => return malformed(format!("invalid policy version {value}")),
                },
                "Id" => {}
                "Statement" => statements = Some(value),
                other => return malformed(format!("unknown field {other}")),
            }
        }
        let statements = match statements {
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return malformed("Statement is a statement or a list of them"),
            None => return malformed("missing required field Statement"),
        };
        if statements.is_empty() {
            return malformed("a policy needs at least one statement");
        }
        let statements = statements
            .into_iter()
            .map(|s| statement(s, kind))
            .collect::<Result<_, _>>()?;
        Ok(Policy { statements })
    }

    /// What the policy says of `req`: an explicit deny wins over any allow.
    pub fn evaluate(&self, req: &Request<'_>) -> Verdict {
        let mut verdict = Verdict::Neither;
        for s in self.statements.iter().filter(|s| s.applies(req)) {
            match s.effect {
                Effect::Deny => return Verdict::Deny,
                Effect::Allow => verdict = Verdict::Allow,
            }
        }
        verdict
    }

    /// Whether the policy allows anyone at all something without a condition narrowing it
    /// (GetBucketPolicyStatus's IsPublic; public access blocks look for it).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            // NotPrincipal allows everyone it does not name, anonymous callers included.
            s.effect == Effect::Allow
                && (s.not_principal || s.principal == Principals::Anyone)
                && s.conditions.iter().all(|c| !c.narrows_principals())
        })
    }
}

impl Statement {
    fn applies(&self, req: &Request<'_>) -> bool {
        self.principal.includes(req.principal) != self.not_principal
            && self.actions.matches(req.action, true)
            && self.resources.matches(req.resource, false)
            && self.conditions.iter().all(|c| c.holds(req.context))
    }
}

/// Parses one statement.
fn statement(value: &Value, kind: Kind<'_>) -> Result<Statement, MalformedPolicy> {
    let Value::Object(fields) = value else {
        return malformed("a statement is a JSON object");
    };
    let mut effect = None;
    let mut principal = None;
    let mut actions = None;
    let mut resources = None;
    let mut conditions = Vec::new();
    for (name, v) in fields {
        match name.as_str() {
            "Sid" => {}
            "Effect" => {
                effect = Some(match v.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return malformed(format!("invalid effect {v}")),
                });
            }
            "Principal" | "NotPrincipal" if matches!(kind, Kind::User) => {
                return malformed("a user's policy names no Principal: it is the user's");
            }
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return malformed("Principal and NotPrincipal together");
                }
                principal = Some((principals(v)?, name == "NotPrincipal"));
            }
            "Action" | "NotAction" => {
                if actions.is_some() {
                    return malformed("Action and NotAction together");
                }
                let list = strings(v, name)?;
                for a in &list {
                    if a != "*" && !a.to_ascii_lowercase().starts_with("s3:") {
                        return malformed(format!("Policy has invalid action {a:?}"));
                    }
                }
                actions = Some(Patterns {
                    not: name == "NotAction",
                    patterns: list,
                });
            }
            "Resource" | "NotResource" => {
                if resources.is_some() {
                    return malformed("Resource and NotResource together");
                }
                let list = strings(v, name)?;
                for r in &list {
                    check_resource(r, kind)?;
                }
                resources = Some(Patterns {
                    not: name == "NotResource",
                    patterns: list,
                });
            }
            "Condition" => conditions = condition::parse_block(v)?,
            other => return malformed(format!("unknown field {other} in a statement")),
        }
    }
    let Some(effect) = effect else {
        return malformed("missing required field Effect");
    };
    let (principal, not_principal) = match (principal, kind) {
        (Some(p), _) => p,
        (None, Kind::User) => (Principals::Anyone, false),
        (None, Kind::Bucket(_)) => return malformed("missing required field Principal"),
    };
    let Some(actions) = actions else {
        return malformed("missing required field Action");
    };
    let Some(resources) = resources else {
        return malformed("missing required field Resource");
    };
    Ok(Statement {
        effect,
        principal,
        not_principal,
        actions,
        resources,
        conditions,
    })
}

/// A resource is an S3 ARN (or `*` in a user's policy); a bucket policy's must be in
/// the bucket.
fn check_resource(resource: &str, kind: Kind<'_>) -> Result<(), MalformedPolicy> {
    let Some(rest) = resource.strip_prefix("arn:aws:s3:::") else {
        if resource == "*" && matches!(kind, Kind::User) {
            return Ok(());
        }
        return malformed(format!("Policy has invalid resource {resource:?}"));
    };
    let Kind::Bucket(bucket) = kind else {
        return Ok(());
    };
    let named = rest.split('/').next().unwrap_or_default();
    if glob(named, bucket) {
        Ok(())
    } else {
        malformed(format!(
            "Policy has invalid resource {resource:?}: not bucket {bucket:?}"
        ))
    }
}

/// A Principal element.
fn principals(v: &Value) -> Result<Principals, MalformedPolicy> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Anyone),
        Value::Object(map) => {
            let mut uids = Vec::new();
            for (kind, ids) in map {
                if kind != "AWS" && kind != "CanonicalUser" {
                    return malformed(format!("unsupported principal type {kind}"));
                }
                for id in strings(ids, kind)? {
                    if id == "*" {
                        return Ok(Principals::Anyone);
                    }
                    uids.push(principal_uid(&id)?);
                }
            }
            if uids.is_empty() {
                return malformed("a Principal naming nobody");
            }
            Ok(Principals::Users(uids))
        }
        _ => malformed(format!("invalid principal {v}")),
    }
}

/// The uid a principal names: a bare uid, `arn:aws:iam::UID:root`, or
/// `arn:aws:iam::ACCOUNT:user/UID` (also with an empty account, as Ceph RGW writes it).
fn principal_uid(id: &str) -> Result<String, MalformedPolicy> {
    let Some(rest) = id.strip_prefix("arn:aws:iam::") else {
        return if id.is_empty() || id.contains(':') {
            malformed(format!("invalid principal {id:?}"))
        } else {
            Ok(id.to_owned())
        };
    };
    match rest.split_once(':') {
        Some((account, "root")) if !account.is_empty() => Ok(account.to_owned()),
        Some((_, user)) => match user.strip_prefix("user/") {
            Some(uid) if !uid.is_empty() => Ok(uid.to_owned()),
            _ => malformed(format!("invalid principal {id:?}")),
        },
        None => malformed(format!("invalid principal {id:?}")),
    }
}

/// A string or a list of strings.
fn strings(v: &Value, field: &str) -> Result<Vec<String>, MalformedPolicy> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(list) if !list.is_empty() => list
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => malformed(format!("{field}: {other} is not a string")),
            })
            .collect(),
        _ => malformed(format!("{field} is a string or a list of strings")),
    }
}

/// Whether `value` matches `pattern`, where `*` is any run of characters and `?` any one.
pub fn glob(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    // Classic two-pointer match with backtracking to the last star.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests;
