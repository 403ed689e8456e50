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
/// versions or not. For a current version, any due expiry wins (the first rule in order
/// names it), then the transition due latest among all rules; otherwise the first
/// applicable rule in order decides.
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
        return transition(applicable(), facts, now_ms, day_ms);
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

/// The move a current version is due: to the class of the transition due latest among
/// `rules`, if the version is not there yet and is where the waterfall starts (STANDARD)
/// or where an earlier transition of these rules put it. A version written into a class
/// of its own is left there, and one further along never moves back.
fn transition<'r>(
    rules: impl Iterator<Item = &'r Rule>,
    facts: &VersionFacts<'_>,
    now_ms: i64,
    day_ms: i64,
) -> Option<Action> {
    let mut due: Vec<(i64, &str, &str)> = rules
        .flat_map(|r| r.transitions.iter().map(move |t| (r, t)))
        .map(|(r, t)| {
            (
                due_at(t.at, facts.mtime_ms, day_ms),
                t.class.as_str(),
                r.id.as_str(),
            )
        })
        .filter(|(at, _, _)| *at <= now_ms)
        .collect();
    // Latest last; of equal ones, the first rule's.
    due.sort_by_key(|(at, _, _)| std::cmp::Reverse(*at));
    let (at, class, rule) = *due.first()?;
    let from_here = facts.class == crate::storage_class::STANDARD
        || due.iter().any(|(a, c, _)| *a < at && *c == facts.class);
    (class != facts.class && from_here).then(|| Action::Transition {
        rule: rule.to_owned(),
        class: class.to_owned(),
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 1000;

    fn rule(id: &str) -> Rule {
        Rule {
            id: id.into(),
            enabled: true,
            ..Rule::default()
        }
    }

    fn version(
        key: &str,
        size: u64,
        mtime_ms: i64,
        marker: bool,
        place: Place,
    ) -> VersionFacts<'_> {
        VersionFacts {
            key,
            size,
            tags: &[],
            mtime_ms,
            delete_marker: marker,
            class: "STANDARD",
            place,
        }
    }

    fn to(class: &str, days: u32) -> Transition {
        Transition {
            at: Expiration::Days(days),
            class: class.into(),
        }
    }

    #[test]
    fn a_current_version_moves_once_its_transition_comes() {
        let config = LifecycleConfig {
            rules: vec![Rule {
                transitions: vec![to("STANDARD_IA", 1), to("COLD", 3)],
                expiration: Some(Expiration::Days(5)),
                ..rule("r")
            }],
        };
        validate(&config).unwrap();
        let current = Place::Current { alone: true };
        let at = |now: i64, class: &'static str| {
            let facts = VersionFacts {
                class,
                ..version("k", 1, 0, false, current)
            };
            action(&config, &facts, false, now, DAY)
        };
        let moves = |class: &str| {
            Some(Action::Transition {
                rule: "r".into(),
                class: class.into(),
            })
        };
        assert_eq!(at(DAY - 1, "STANDARD"), None);
        assert_eq!(at(DAY, "STANDARD"), moves("STANDARD_IA"));
        assert_eq!(at(2 * DAY, "STANDARD_IA"), None, "already there");
        assert_eq!(
            at(3 * DAY, "STANDARD"),
            moves("COLD"),
            "the farthest one due"
        );
        assert_eq!(at(3 * DAY, "STANDARD_IA"), moves("COLD"));
        assert_eq!(at(5 * DAY, "COLD"), Some(Action::Expire("r".into())));
        // Noncurrent versions and markers do not move.
        let old = Place::Noncurrent {
            since_ms: 0,
            newer: 0,
        };
        assert_eq!(
            action(&config, &version("k", 1, 0, false, old), true, 4 * DAY, DAY),
            None
        );
    }

    #[test]
    fn rules_together_move_down_the_waterfall_only() {
        let all = Rule {
            transitions: vec![to("STANDARD_IA", 1)],
            ..rule("all")
        };
        let logs = Rule {
            filter: Filter {
                prefix: "logs/".into(),
                ..Filter::default()
            },
            transitions: vec![to("COLD", 3)],
            ..rule("logs")
        };
        let expire_later = Rule {
            expiration: Some(Expiration::Days(4)),
            ..rule("expire")
        };
        let config = LifecycleConfig {
            rules: vec![all, logs, expire_later],
        };
        let current = Place::Current { alone: true };
        let at = |key: &'static str, class: &'static str, now: i64| {
            let facts = VersionFacts {
                class,
                ..version(key, 1, 0, false, current)
            };
            action(&config, &facts, false, now, DAY)
        };
        let moves = |rule: &str, class: &str| {
            Some(Action::Transition {
                rule: rule.into(),
                class: class.into(),
            })
        };
        assert_eq!(at("logs/a", "STANDARD", DAY), moves("all", "STANDARD_IA"));
        assert_eq!(at("logs/a", "STANDARD_IA", 3 * DAY), moves("logs", "COLD"));
        // In COLD by the later rule: the earlier one never moves it back.
        assert_eq!(at("logs/a", "COLD", 3 * DAY), None);
        // Written into a class of its own: left there.
        assert_eq!(at("x", "COLD", 3 * DAY), None);
        // A later rule's due expiry wins over an earlier rule's transition.
        assert_eq!(
            at("x", "STANDARD", 4 * DAY),
            Some(Action::Expire("expire".into()))
        );
    }

    #[test]
    fn transitions_are_validated_as_s3_does() {
        let bad = |r: Rule| {
            matches!(
                validate(&LifecycleConfig { rules: vec![r] }),
                Err(BadConfig::Invalid(_))
            )
        };
        assert!(bad(Rule {
            transitions: vec![to("STANDARD", 1)],
            ..rule("a")
        }));
        assert!(bad(Rule {
            transitions: vec![to("STANDARD_IA", 1), to("STANDARD_IA", 2)],
            ..rule("a")
        }));
        assert!(bad(Rule {
            transitions: vec![to("STANDARD_IA", 5)],
            expiration: Some(Expiration::Days(5)),
            ..rule("a")
        }));
        assert!(bad(Rule {
            transitions: vec![Transition {
                at: Expiration::Date(DAY_MS + 1),
                class: "STANDARD_IA".into()
            }],
            ..rule("a")
        }));
        assert!(bad(Rule {
            transitions: vec![
                to("STANDARD_IA", 1),
                Transition {
                    at: Expiration::Date(DAY_MS),
                    class: "COLD".into()
                }
            ],
            ..rule("a")
        }));
        assert!(
            validate(&LifecycleConfig {
                rules: vec![Rule {
                    transitions: vec![to("STANDARD_IA", 0)],
                    ..rule("a")
                }]
            })
            .is_ok(),
            "a transition alone is an action; Days 0 moves at the next day boundary"
        );
    }

    #[test]
    fn due_rounds_up_to_a_day_boundary() {
        assert_eq!(due(0, 1, DAY), DAY);
        assert_eq!(due(1, 1, DAY), 2 * DAY);
        assert_eq!(due(999, 2, DAY), 3 * DAY);
        assert_eq!(due(3 * DAY, 0, DAY), 3 * DAY);
    }

    #[test]
    fn validation_refuses_what_s3_refuses() {
        let ok = LifecycleConfig {
            rules: vec![Rule {
                expiration: Some(Expiration::Days(1)),
                ..rule("a")
            }],
        };
        assert_eq!(validate(&ok), Ok(()));
        let bad = |r: Rule| validate(&LifecycleConfig { rules: vec![r] });
        assert!(matches!(bad(rule("none")), Err(BadConfig::Invalid(_))));
        assert!(matches!(
            bad(Rule {
                expiration: Some(Expiration::Days(0)),
                ..rule("z")
            }),
            Err(BadConfig::Invalid(_))
        ));
        assert!(matches!(
            bad(Rule {
                expiration: Some(Expiration::Date(5)),
                ..rule("d")
            }),
            Err(BadConfig::Invalid(_))
        ));
        let tagged = Filter {
            tags: vec![("k".into(), "v".into())],
            ..Filter::default()
        };
        assert!(matches!(
            bad(Rule {
                filter: tagged,
                abort_upload_days: Some(1),
                ..rule("t")
            }),
            Err(BadConfig::Invalid(_))
        ));
        let twice = LifecycleConfig {
            rules: vec![ok.rules[0].clone(), ok.rules[0].clone()],
        };
        assert!(matches!(validate(&twice), Err(BadConfig::Invalid(_))));
        assert!(matches!(
            validate(&LifecycleConfig::default()),
            Err(BadConfig::Malformed(_))
        ));
    }

    proptest! {
        /// A current version expires exactly when its first matching enabled rule's time has
        /// come: never before its write plus the days, always from the next day boundary.
        #[test]
        fn current_versions_expire_on_time(
            days in 1u32..5, mtime in 0i64..10_000, now in 0i64..20_000,
            size in 0u64..100, min in proptest::option::of(0u64..100), prefix in "[ab]?",
            key in "[ab][ab]", enabled: bool, versioned: bool,
        ) {
            let config = LifecycleConfig {
                rules: vec![Rule {
                    enabled,
                    filter: Filter { prefix: prefix.clone(), size_greater_than: min, ..Filter::default() },
                    expiration: Some(Expiration::Days(days)),
                    ..rule("r")
                }],
            };
            let facts = version(&key, size, mtime, false, Place::Current { alone: false });
            let got = action(&config, &facts, versioned, now, DAY);
            let applies = enabled && key.starts_with(&prefix) && min.is_none_or(|m| size > m);
            let time = now >= mtime + i64::from(days) * DAY
                && now >= (mtime + i64::from(days) * DAY + DAY - 1) / DAY * DAY;
            prop_assert_eq!(got.is_some(), applies && time);
            if got.is_some() {
                prop_assert!(now >= mtime + i64::from(days) * DAY);
            }
        }

        /// Noncurrent versions go once old enough and behind enough newer ones; the newest
        /// `keep_newer` noncurrent versions stay whatever their age; current ones never go by
        /// a noncurrent rule.
        #[test]
        fn noncurrent_versions_keep_the_newest(
            days in 1u32..5, keep in 0u32..4, since in 0i64..10_000, now in 0i64..20_000,
            newer in 0u32..6, current: bool,
        ) {
            let config = LifecycleConfig {
                rules: vec![Rule {
                    noncurrent: Some(NoncurrentExpiration { days, keep_newer: keep }),
                    ..rule("n")
                }],
            };
            let place = if current {
                Place::Current { alone: false }
            } else {
                Place::Noncurrent { since_ms: since, newer }
            };
            let facts = version("k", 1, 0, false, place);
            let got = action(&config, &facts, true, now, DAY);
            let want = !current && newer >= keep && due(since, days, DAY) <= now;
            prop_assert_eq!(got.is_some(), want);
        }
    }

    #[test]
    fn only_a_lone_delete_marker_is_removed() {
        let config = LifecycleConfig {
            rules: vec![Rule {
                expired_object_delete_marker: true,
                ..rule("m")
            }],
        };
        let at = |alone| version("k", 0, 0, true, Place::Current { alone });
        assert_eq!(
            action(&config, &at(true), true, 0, DAY),
            Some(Action::Remove("m".into()))
        );
        assert_eq!(action(&config, &at(false), true, 0, DAY), None);
        // By an Expiration of days, a lone marker goes once it is that old, as S3 does.
        let aged = LifecycleConfig {
            rules: vec![Rule {
                expiration: Some(Expiration::Days(2)),
                ..rule("d")
            }],
        };
        let marker = version("k", 0, DAY / 2, true, Place::Current { alone: true });
        assert_eq!(action(&aged, &marker, true, 2 * DAY, DAY), None);
        assert_eq!(
            action(&aged, &marker, true, 3 * DAY, DAY),
            Some(Action::Remove("d".into()))
        );
    }

    #[test]
    fn expiry_is_the_earliest_rule_that_applies() {
        let config = LifecycleConfig {
            rules: vec![
                Rule {
                    expiration: Some(Expiration::Days(3)),
                    ..rule("slow")
                },
                Rule {
                    filter: Filter {
                        prefix: "tmp/".into(),
                        ..Filter::default()
                    },
                    expiration: Some(Expiration::Days(1)),
                    ..rule("fast")
                },
                Rule {
                    enabled: false,
                    expiration: Some(Expiration::Days(1)),
                    ..rule("off")
                },
            ],
        };
        let current = Place::Current { alone: true };
        let tmp = version("tmp/x", 1, 10, false, current);
        let other = version("x", 1, 10, false, current);
        assert_eq!(expiry(&config, &tmp, DAY), Some((2 * DAY, "fast")));
        assert_eq!(expiry(&config, &other, DAY), Some((4 * DAY, "slow")));
        assert_eq!(expiry(&LifecycleConfig::default(), &other, DAY), None);
    }

    #[test]
    fn uploads_are_aborted_after_their_days() {
        let config = LifecycleConfig {
            rules: vec![Rule {
                filter: Filter {
                    prefix: "tmp/".into(),
                    ..Filter::default()
                },
                abort_upload_days: Some(2),
                ..rule("u")
            }],
        };
        assert_eq!(abort_upload(&config, "tmp/x", 0, 2 * DAY - 1, DAY), None);
        assert_eq!(
            abort_upload(&config, "tmp/x", 0, 2 * DAY, DAY),
            Some("u".into())
        );
        assert_eq!(abort_upload(&config, "x", 0, 9 * DAY, DAY), None);
    }
}
