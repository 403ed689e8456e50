//! Policy conditions: `"Condition": {"Operator": {"key": value-or-values}}`. Every
//! condition of a statement must hold. Operators: String(Not)Equals(IgnoreCase),
//! String(Not)Like, Arn(Not)Equals/Like, Numeric*, Date*, Bool, (Not)IpAddress and Null, each
//! with an optional `IfExists` suffix and `ForAnyValue:` / `ForAllValues:` prefix.
//!
//! A key the request lacks fails a positive operator and satisfies a plain negated one (as
//! IAM evaluates them), unless `IfExists` (then it holds) or `Null` asks about exactly that;
//! `ForAllValues:` of no values holds, `ForAnyValue:` of none fails.

use std::net::IpAddr;

use serde_json::Value;

use super::{Context, MalformedPolicy, glob, malformed};

/// How values are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text { ignore_case: bool },
    Like,
    Numeric,
    Date,
    Bool,
    Ip,
    Null,
}

/// The comparison, for numbers and dates (`Eq` for the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// How a key with several values is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Set {
    /// One value (or any of several).
    Plain,
    /// At least one of the request's values.
    ForAnyValue,
    /// Every one of the request's values (and none at all).
    ForAllValues,
}

/// One condition: an operator on one key with the values it compares against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    kind: Kind,
    cmp: Cmp,
    negated: bool,
    if_exists: bool,
    set: Set,
    key: String,
    values: Vec<String>,
}

/// Parses a statement's Condition block.
pub fn parse_block(v: &Value) -> Result<Vec<Condition>, MalformedPolicy> {
    let Value::Object(ops) = v else {
        return malformed("Condition is a JSON object");
    };
    let mut out = Vec::new();
    for (op, keys) in ops {
        let Value::Object(keys) = keys else {
            return malformed(format!("condition {op}: a JSON object of keys"));
        };
        for (key, values) in keys {
            out.push(Condition::new(op, key, values)?);
        }
    }
    Ok(out)
}

impl Condition {
    fn new(op: &str, key: &str, values: &Value) -> Result<Condition, MalformedPolicy> {
        let (set, name) = if let Some(rest) = op.strip_prefix("ForAnyValue:") {
            (Set::ForAnyValue, rest)
        } else if let Some(rest) = op.strip_prefix("ForAllValues:") {
            (Set::ForAllValues, rest)
        } else {
            (Set::Plain, op)
        };
        let (name, if_exists) = match name.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (name, false),
        };
        let (kind, cmp, negated) = operator(name)
            .ok_or_else(|| MalformedPolicy(format!("invalid condition operator {op}")))?;
        if kind == Kind::Null && if_exists {
            return malformed("NullIfExists is not an operator");
        }
        let values: Vec<String> = match values {
            Value::Array(list) if !list.is_empty() => list.iter().map(scalar).collect(),
            Value::Array(_) => return malformed(format!("condition {op} {key}: no values")),
            one => vec![scalar(one)],
        }
        .into_iter()
        .collect::<Result<_, _>>()?;
        for v in &values {
            let valid = match kind {
                Kind::Numeric => v.parse::<f64>().is_ok(),
                Kind::Date => epoch_secs(v).is_some(),
                Kind::Ip => Cidr::parse(v).is_some(),
                Kind::Bool | Kind::Null => {
                    v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
                }
                Kind::Text { .. } | Kind::Like => true,
            };
            if !valid {
                return malformed(format!("condition {op} {key}: invalid value {v:?}"));
            }
        }
        Ok(Condition {
            kind,
            cmp,
            negated,
            if_exists,
            set,
            key: key.to_owned(),
            values,
        })
    }

    /// Whether it holds of a request with condition keys `cx`.
    pub fn holds(&self, cx: &Context) -> bool {
        let got = cx.get(&self.key);
        if self.kind == Kind::Null {
            let absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return got.is_none() == absent;
        }
        // A missing key: IfExists holds; ForAllValues of no values holds; ForAnyValue of
        // none fails, negated or not; a plain negated operator holds.
        let Some(got) = got else {
            return self.if_exists
                || self.set == Set::ForAllValues
                || (self.negated && self.set == Set::Plain);
        };
        let hit = |v: &String| self.values.iter().any(|p| self.compare(v, p));
        match (self.set, self.negated) {
            (Set::Plain, false) | (Set::ForAnyValue, false) => got.iter().any(hit),
            (Set::Plain, true) => !got.iter().any(hit),
            (Set::ForAnyValue, true) => got.iter().any(|v| !hit(v)),
            (Set::ForAllValues, negated) => got.iter().all(|v| hit(v) != negated),
        }
    }

    /// Whether it confines who may act to fixed values (a source address range, an
    /// account): a policy that grants everyone something only under such a condition is
    /// not public. Only a plain equality or address check of fixed values counts (no
    /// IfExists, set operator, wildcard, or `/0` range: those let anyone in).
    pub fn narrows_principals(&self) -> bool {
        const NARROWING: &[&str] = &[
            "aws:sourceip",
            "aws:sourcevpc",
            "aws:sourcevpce",
            "aws:sourcearn",
            "aws:sourceaccount",
            "aws:principalaccount",
            "aws:principalorgid",
            "aws:userid",
            "aws:username",
        ];
        let fixed = match self.kind {
            Kind::Text { ignore_case: false } => {
                self.values.iter().all(|v| !v.contains(['*', '?']))
            }
            Kind::Ip => self
                .values
                .iter()
                .all(|v| Cidr::parse(v).is_some_and(|c| c.bits > 0)),
            _ => false,
        };
        fixed
            && !self.negated
            && !self.if_exists
            && self.set == Set::Plain
            && NARROWING.contains(&self.key.to_ascii_lowercase().as_str())
    }

    /// Whether request value `v` matches policy value `p` (before negation).
    fn compare(&self, v: &str, p: &str) -> bool {
        match self.kind {
            Kind::Text { ignore_case: false } => v == p,
            Kind::Text { ignore_case: true } => v.eq_ignore_ascii_case(p),
            Kind::Like => glob(p, v),
            Kind::Bool => v.eq_ignore_ascii_case(p),
            Kind::Numeric => match (v.parse::<f64>(), p.parse::<f64>()) {
                (Ok(v), Ok(p)) => ordered(self.cmp, v.partial_cmp(&p)),
                _ => false,
            },
            Kind::Date => match (epoch_secs(v), epoch_secs(p)) {
                (Some(v), Some(p)) => ordered(self.cmp, Some(v.cmp(&p))),
                _ => false,
            },
            Kind::Ip => match (v.parse::<IpAddr>(), Cidr::parse(p)) {
                (Ok(ip), Some(net)) => net.contains(ip),
                _ => false,
            },
            Kind::Null => false,
        }
    }
}

/// The operator named `name` (without prefix or IfExists): kind, comparison, negation.
fn operator(name: &str) -> Option<(Kind, Cmp, bool)> {
    let text = Kind::Text { ignore_case: false };
    let text_ic = Kind::Text { ignore_case: true };
    Some(match name {
        "StringEquals" => (text, Cmp::Eq, false),
        "StringNotEquals" => (text, Cmp::Eq, true),
        "StringEqualsIgnoreCase" => (text_ic, Cmp::Eq, false),
        "StringNotEqualsIgnoreCase" => (text_ic, Cmp::Eq, true),
        "StringLike" | "ArnLike" | "ArnEquals" => (Kind::Like, Cmp::Eq, false),
        "StringNotLike" | "ArnNotLike" | "ArnNotEquals" => (Kind::Like, Cmp::Eq, true),
        "Bool" => (Kind::Bool, Cmp::Eq, false),
        "IpAddress" => (Kind::Ip, Cmp::Eq, false),
        "NotIpAddress" => (Kind::Ip, Cmp::Eq, true),
        "Null" => (Kind::Null, Cmp::Eq, false),
        _ => {
            let (kind, rest) = if let Some(rest) = name.strip_prefix("Numeric") {
                (Kind::Numeric, rest)
            } else {
                (Kind::Date, name.strip_prefix("Date")?)
            };
            match rest {
                "Equals" => (kind, Cmp::Eq, false),
                "NotEquals" => (kind, Cmp::Eq, true),
                "LessThan" => (kind, Cmp::Lt, false),
                "LessThanEquals" => (kind, Cmp::Le, false),
                "GreaterThan" => (kind, Cmp::Gt, false),
                "GreaterThanEquals" => (kind, Cmp::Ge, false),
                _ => return None,
            }
        }
    })
}

fn ordered(cmp: Cmp, o: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    matches!(
        (cmp, o),
        (Cmp::Eq, Some(Equal))
            | (Cmp::Lt, Some(Less))
            | (Cmp::Le, Some(Less | Equal))
            | (Cmp::Gt, Some(Greater))
            | (Cmp::Ge, Some(Greater | Equal))
    )
}

/// A condition value as text (strings, numbers and booleans alike).
fn scalar(v: &Value) -> Result<String, MalformedPolicy> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => malformed(format!("invalid condition value {other}")),
    }
}

/// A date as seconds since the epoch: ISO 8601 (`2026-12-07T00:00:00Z`) or a number of
/// seconds.
pub fn epoch_secs(v: &str) -> Option<i64> {
    if let Ok(secs) = v.parse::<i64>() {
        return Some(secs);
    }
    let t = s3s::dto::Timestamp::parse(s3s::dto::TimestampFormat::DateTime, v).ok()?;
    let t: time::OffsetDateTime = t.into();
    Some(t.unix_timestamp())
}

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    bits: u32,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u32>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { net: addr, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, width) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(n.to_bits()), u128::from(i.to_bits()), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u128::from(n.to_bits()), u128::from(i.to_bits()), 32),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
        };
        if self.bits == 0 {
            return true;
        }
        let shift = width - self.bits;
        (net >> shift) == (ip >> shift)
    }
}
