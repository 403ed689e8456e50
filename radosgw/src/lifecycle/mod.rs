//! Lifecycle rules (pure): a bucket's configuration as stored, and what it says to do with
//! one object version or upload at a given time. The worker ([`crate::lc_worker`]) reads
//! the facts, asks here, and acts with guards; nothing here does I/O or reads a clock.
//!
//! Time: a rule's "day" is `day_ms` long (a day in production; seconds in tests, like RGW's
//! `rgw_lc_debug_interval`). As in S3, an action falls due at the first day boundary (UTC
//! midnight for real days) after the object's time plus the rule's days.

use serde::{Deserialize, Serialize};

/// One day, in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Most rules in one configuration (S3's limit).
pub const MAX_RULES: usize = 1000;

/// A bucket's lifecycle configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    /// The rules, in the order given.
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its id (given, or generated).
    pub id: String,
    /// Enabled (Disabled rules are kept, never applied).
    pub enabled: bool,
    /// Which objects it applies to.
    pub filter: Filter,
    /// When current versions expire.
    pub expiration: Option<Expiration>,
    /// Remove a delete marker that is a key's only version.
    pub expired_object_delete_marker: bool,
    /// When noncurrent versions expire.
    pub noncurrent: Option<NoncurrentExpiration>,
    /// Abort multipart uploads this many days after they began.
    pub abort_upload_days: Option<u32>,
    /// When current versions move to other storage classes.
    #[serde(default)]
    pub transitions: Vec<Transition>,
    /// When noncurrent versions move to other storage classes.
    #[serde(default)]
    pub noncurrent_transitions: Vec<NoncurrentTransition>,
}

/// A move of noncurrent versions to another storage class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentTransition {
    /// Days after the version became noncurrent.
    pub days: u32,
    /// Leave this many newest noncurrent versions where they are whatever their age.
    pub keep_newer: u32,
    /// The storage class it moves to.
    pub class: String,
}

/// A move of current versions to another storage class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// When: days after the version was written, or a date (as an Expiration's).
    pub at: Expiration,
    /// The storage class it moves to.
    pub class: String,
}

/// Which objects a rule applies to: all conditions hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Key prefix ("" for all).
    pub prefix: String,
    /// Tags the object must carry, each with this value.
    pub tags: Vec<(String, String)>,
    /// Size strictly greater than this.
    pub size_greater_than: Option<u64>,
    /// Size strictly less than this.
    pub size_less_than: Option<u64>,
}

impl Filter {
    /// Whether an object with `key`, `size` and `tags` matches.
    pub fn matches(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix)
            && self.size_greater_than.is_none_or(|n| size > n)
            && self.size_less_than.is_none_or(|n| size < n)
            && self.tags.iter().all(|t| tags.contains(t))
    }
}

/// When a current version expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// This many days after it was written.
    Days(u32),
    /// From this time on (ms since the epoch; midnight UTC, as S3 requires).
    Date(i64),
}

/// When a noncurrent version expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after it became noncurrent.
    pub days: u32,
    /// Keep this many newest noncurrent versions whatever their age.
    pub keep_newer: u32,
}

/// The first day boundary at or after `at + days` days.
pub fn due(at_ms: i64, days: u32, day_ms: i64) -> i64 {
    let at = at_ms.saturating_add(i64::from(days).saturating_mul(day_ms));
    at.div_euclid(day_ms)
        .saturating_add(i64::from(at.rem_euclid(day_ms) != 0))
        * day_ms
}

/// What a version is, for the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionFacts<'a> {
    /// Its key.
    pub key: &'a str,
    /// Its size.
    pub size: u64,
    /// Its tags.
    pub tags: &'a [(String, String)],
    /// When it was written (ms).
    pub mtime_ms: i64,
    /// It is a delete marker.
    pub delete_marker: bool,
    /// Its storage class.
    pub class: &'a str,
    /// Its place: current, or noncurrent since when and behind how many newer noncurrent
    /// versions.
    pub place: Place,
}

/// Where a version stands in its key's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The current version; `alone`: no other version of the key exists.
    Current {
        /// No other version exists.
        alone: bool,
    },
    /// Noncurrent since `since_ms` (when the next newer version was written), with
    /// `newer` noncurrent versions newer than it.
    Noncurrent {
        /// When it became noncurrent.
        since_ms: i64,
        /// How many noncurrent versions are newer.
        newer: u32,
    },
}

/// What to do with a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Expire the current version: delete it (unversioned bucket) or write a delete marker
    /// over it (versioned); named by the rule that decided.
    Expire(String),
    /// Remove this version for good (a noncurrent version, or a lone delete marker).
    Remove(String),
    /// Move the current version's data to storage class `class`, by rule `rule`.
    Transition {
        /// The rule that decided.
        rule: String,
        /// The class it moves to.
        class: String,
    },
}

/// When `at` (Days after `mtime_ms`, or a Date) falls due.
fn due_at(at: Expiration, mtime_ms: i64, day_ms: i64) -> i64 {
    match at {
        Expiration::Days(d) => due(mtime_ms, d, day_ms),
        Expiration::Date(date) => date,
    }
}

/// What `config` says to do now with the version `facts` describes, in a bucket that keeps
/// versions or not. For a version, any due expiry or removal wins (the first rule in order
/// names it), then the transition due latest among all rules; for a delete marker the
/// first applicable rule in order decides.
pub fn action(
    config: &LifecycleConfig,
    facts: &VersionFacts<'_>,
    versioned: bool,
    now_ms: i64,
    day_ms: i64,
) -> Option<Action> {
    let applicable = || {
        config
            .rules
            .iter()
            .filter(|r| r.enabled && r.filter.matches(facts.key, facts.size, facts.tags))
    };
    // Whether a rule's Expiration has come for what was written at `mtime_ms`.
    let expired = |rule: &Rule| {
        rule.expiration
            .is_some_and(|at| due_at(at, facts.mtime_ms, day_ms) <= now_ms)
    };
    if let Place::Current { .. } = facts.place
        && !facts.delete_marker
    {
        if let Some(rule) = applicable().find(|r| expired(r)) {
            return Some(Action::Expire(rule.id.clone()));
        }
        let due = applicable().flat_map(|r| {
            r.transitions.iter().map(|t| {
                let at = due_at(t.at, facts.mtime_ms, day_ms);
                (at, t.class.as_str(), r.id.as_str())
            })
        });
        return transition(due, facts.class, now_ms);
    }
    if let Place::Noncurrent { since_ms, newer } = facts.place
        && !facts.delete_marker
    {
        let removed = |r: &&Rule| {
            r.noncurrent
                .is_some_and(|n| newer >= n.keep_newer && due(since_ms, n.days, day_ms) <= now_ms)
        };
        if let Some(rule) = applicable().find(removed) {
            return Some(Action::Remove(rule.id.clone()));
        }
        let moves = applicable().flat_map(|r| {
            r.noncurrent_transitions
                .iter()
                .filter(move |t| newer >= t.keep_newer)
                .map(move |t| {
                    (
                        due(since_ms, t.days, day_ms),
                        t.class.as_str(),
                        r.id.as_str(),
                    )
                })
        });
        return transition(moves, facts.class, now_ms);
    }
    for rule in applicable() {
        match facts.place {
            Place::Current { alone } => {
                // A delete marker. Only one with nothing under it expires: at once with
                // ExpiredObjectDeleteMarker, else once old enough for the rule's Expiration
                // (tags never match a marker).
                let by_age = expired(rule) && rule.filter.tags.is_empty() && versioned;
                if alone && (rule.expired_object_delete_marker || by_age) {
                    return Some(Action::Remove(rule.id.clone()));
                }
            }
            Place::Noncurrent { since_ms, newer } => {
                if let Some(n) = rule.noncurrent
                    && newer >= n.keep_newer
                    && due(since_ms, n.days, day_ms) <= now_ms
                {
                    return Some(Action::Remove(rule.id.clone()));
                }
            }
        }
    }
    None
}

/// The move a version in class `class` is due, given its transitions as (when due, to
/// which class, by which rule): to the class of the one due latest, if the version is not
/// there yet and is where the waterfall starts (STANDARD) or where an earlier one of these
/// transitions put it. A version written into a class of its own is left there, and one
/// further along never moves back.
fn transition<'r>(
    transitions: impl Iterator<Item = (i64, &'r str, &'r str)>,
    class: &str,
    now_ms: i64,
) -> Option<Action> {
    let mut due: Vec<(i64, &str, &str)> = transitions.filter(|(at, _, _)| *at <= now_ms).collect();
    // Latest first; of equal ones, the first rule's.
    due.sort_by_key(|(at, _, _)| std::cmp::Reverse(*at));
    let (at, to, rule) = *due.first()?;
    let from_here = class == crate::storage_class::STANDARD
        || due.iter().any(|(a, c, _)| *a < at && *c == class);
    (to != class && from_here).then(|| Action::Transition {
        rule: rule.to_owned(),
        class: to.to_owned(),
    })
}

/// When the current version `current` expires and by which rule: the earliest that any
/// enabled rule with an Expiration gives it (what `x-amz-expiration` shows).
pub fn expiry<'a>(
    config: &'a LifecycleConfig,
    current: &VersionFacts<'_>,
    day_ms: i64,
) -> Option<(i64, &'a str)> {
    config
        .rules
        .iter()
        .filter(|r| r.enabled && r.filter.matches(current.key, current.size, current.tags))
        .filter_map(|r| {
            Some((
                due_at(r.expiration?, current.mtime_ms, day_ms),
                r.id.as_str(),
            ))
        })
        .min_by_key(|(at, _)| *at)
}

/// Whether `config` says to abort an upload of `key` begun at `initiated_ms`.
pub fn abort_upload(
    config: &LifecycleConfig,
    key: &str,
    initiated_ms: i64,
    now_ms: i64,
    day_ms: i64,
) -> Option<String> {
    config
        .rules
        .iter()
        .filter(|r| r.enabled && key.starts_with(&r.filter.prefix))
        .find(|r| {
            r.abort_upload_days
                .is_some_and(|d| due(initiated_ms, d, day_ms) <= now_ms)
        })
        .map(|r| r.id.clone())
}

/// Why a configuration is refused, with the S3 error each maps to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadConfig {
    /// Structure S3 calls MalformedXML.
    #[error("{0}")]
    Malformed(String),
    /// A value S3 calls InvalidArgument.
    #[error("{0}")]
    Invalid(String),
}

/// Checks a configuration as S3 does (after parsing: ids, actions, values).
pub fn validate(config: &LifecycleConfig) -> Result<(), BadConfig> {
    use BadConfig::{Invalid, Malformed};
    if config.rules.is_empty() {
        return Err(Malformed(
            "a lifecycle configuration needs at least one rule".into(),
        ));
    }
    if config.rules.len() > MAX_RULES {
        return Err(Invalid(format!("at most {MAX_RULES} rules")));
    }
    let mut ids = std::collections::BTreeSet::new();
    for rule in &config.rules {
        if rule.id.len() > 255 {
            return Err(Invalid(
                "ID length should not exceed allowed limit of 255".into(),
            ));
        }
        if !ids.insert(rule.id.as_str()) {
            return Err(Invalid(
                "Rule ID must be unique. Found same ID for more than one rule".into(),
            ));
        }
        if rule.expiration.is_none()
            && !rule.expired_object_delete_marker
            && rule.noncurrent.is_none()
            && rule.abort_upload_days.is_none()
            && rule.transitions.is_empty()
            && rule.noncurrent_transitions.is_empty()
        {
            return Err(Invalid(
                "At least one action needs to be specified in a rule".into(),
            ));
        }
        if matches!(rule.expiration, Some(Expiration::Days(0))) {
            return Err(Invalid(
                "'Days' for Expiration action must be a positive integer".into(),
            ));
        }
        if let Some(Expiration::Date(at)) = rule.expiration
            && at.rem_euclid(DAY_MS) != 0
        {
            return Err(Invalid("'Date' must be at midnight GMT".into()));
        }
        if rule.noncurrent.is_some_and(|n| n.days == 0) {
            return Err(Invalid("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer".into()));
        }
        check_transitions(rule)?;
        check_noncurrent_transitions(rule)?;
        if rule.abort_upload_days == Some(0) {
            return Err(Invalid("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer".into()));
        }
        let tagged = !rule.filter.tags.is_empty();
        if tagged && rule.expired_object_delete_marker {
            return Err(Invalid(
                "ExpiredObjectDeleteMarker cannot be specified with tags".into(),
            ));
        }
        if tagged && rule.abort_upload_days.is_some() {
            return Err(Invalid(
                "AbortIncompleteMultipartUpload cannot be specified with tags".into(),
            ));
        }
        if let (Some(gt), Some(lt)) = (rule.filter.size_greater_than, rule.filter.size_less_than)
            && gt >= lt
        {
            return Err(Invalid(
                "ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into(),
            ));
        }
    }
    Ok(())
}

/// A rule's noncurrent transitions: each to a class other than STANDARD, at most one per
/// class, before the rule's NoncurrentVersionExpiration.
fn check_noncurrent_transitions(rule: &Rule) -> Result<(), BadConfig> {
    use BadConfig::Invalid;
    let mut classes = std::collections::BTreeSet::new();
    for t in &rule.noncurrent_transitions {
        if t.class == crate::storage_class::STANDARD {
            return Err(Invalid(
                "a NoncurrentVersionTransition's StorageClass cannot be STANDARD".into(),
            ));
        }
        if !classes.insert(t.class.as_str()) {
            return Err(Invalid(format!(
                "'StorageClass' {} is named by more than one NoncurrentVersionTransition of a rule",
                t.class
            )));
        }
        if rule.noncurrent.is_some_and(|n| n.days <= t.days) {
            return Err(Invalid(
                "'NoncurrentDays' in the NoncurrentVersionExpiration action must be greater than 'NoncurrentDays' in the NoncurrentVersionTransition action".into(),
            ));
        }
    }
    Ok(())
}

/// A rule's transitions: each to a class other than STANDARD, at most one per class, by
/// Days or by Date as the rule's Expiration is, before that Expiration.
fn check_transitions(rule: &Rule) -> Result<(), BadConfig> {
    use BadConfig::Invalid;
    let mut classes = std::collections::BTreeSet::new();
    for t in &rule.transitions {
        if t.class == crate::storage_class::STANDARD {
            return Err(Invalid(
                "a transition's StorageClass cannot be STANDARD".into(),
            ));
        }
        if !classes.insert(t.class.as_str()) {
            return Err(Invalid(format!(
                "'StorageClass' {} is named by more than one transition of a rule",
                t.class
            )));
        }
        if let Expiration::Date(at) = t.at
            && at.rem_euclid(DAY_MS) != 0
        {
            return Err(Invalid("'Date' must be at midnight GMT".into()));
        }
        let by_days = matches!(t.at, Expiration::Days(_));
        match (rule.expiration, t.at) {
            (Some(Expiration::Days(e)), Expiration::Days(d)) if d >= e => {
                return Err(Invalid(
                    "'Days' in the Expiration action must be greater than 'Days' in the Transition action".into(),
                ));
            }
            (Some(Expiration::Date(e)), Expiration::Date(d)) if d >= e => {
                return Err(Invalid(
                    "'Date' in the Expiration action must be later than 'Date' in the Transition action".into(),
                ));
            }
            (Some(Expiration::Days(_)), Expiration::Date(_))
            | (Some(Expiration::Date(_)), Expiration::Days(_)) => {
                return Err(Invalid(
                    "Expiration and Transition of a rule must both use Days or both Date".into(),
                ));
            }
            _ => {}
        }
        if rule
            .transitions
            .iter()
            .any(|o| matches!(o.at, Expiration::Days(_)) != by_days)
        {
            return Err(Invalid(
                "the transitions of a rule must all use Days or all Date".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
