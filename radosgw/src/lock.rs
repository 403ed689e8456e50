//! Object lock (pure): what a bucket's lock configuration and a version's retention and
//! legal hold allow. S3's rules, as AWS documents them and Ceph RGW serves them:
//! - a version under legal hold, or retained until a later time, cannot be deleted; a
//!   GOVERNANCE retention yields to a request that asks to bypass it, COMPLIANCE to nobody;
//! - a retention can always be lengthened in its own mode; shortening or removing one, or
//!   turning GOVERNANCE into COMPLIANCE, needs the bypass for GOVERNANCE and is never
//!   allowed for COMPLIANCE;
//! - a bucket's default retention gives every new version a retention counted from its
//!   write.
//!
//! The gateway reads the clock and passes `now_ms`; nothing here does I/O.

use serde::{Deserialize, Serialize};

/// Milliseconds in a day, and in the year object lock counts (365 days, as S3).
const DAY_MS: i64 = 86_400_000;
const YEAR_MS: i64 = 365 * DAY_MS;

/// How strictly a retention holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Yields to a request that asks to bypass it.
    Governance,
    /// Yields to nobody until it ends.
    Compliance,
}

impl Mode {
    /// The mode S3 names `name` (exactly, as S3: case matters).
    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "GOVERNANCE" => Some(Mode::Governance),
            "COMPLIANCE" => Some(Mode::Compliance),
            _ => None,
        }
    }

    /// S3's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Governance => "GOVERNANCE",
            Mode::Compliance => "COMPLIANCE",
        }
    }
}

/// A version's retention: kept, in `mode`, until `until_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// How strictly.
    pub mode: Mode,
    /// Until when (ms since the epoch).
    pub until_ms: i64,
}

impl Retention {
    /// Whether it still holds at `now_ms`.
    pub fn holds(&self, now_ms: i64) -> bool {
        self.until_ms > now_ms
    }
}

/// How long a default retention lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    /// This many days.
    Days(u32),
    /// This many years of 365 days.
    Years(u32),
}

impl Period {
    fn ms(self) -> i64 {
        match self {
            Period::Days(d) => i64::from(d) * DAY_MS,
            Period::Years(y) => i64::from(y) * YEAR_MS,
        }
    }
}

/// A bucket's default retention: every new version gets `mode` for `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    /// The mode.
    pub mode: Mode,
    /// How long.
    pub period: Period,
}

/// A bucket's object lock configuration; its presence on a bucket means object lock is
/// enabled there (which cannot be undone, as in S3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockConfig {
    /// The default retention of new versions, if any.
    pub default: Option<DefaultRetention>,
}

/// Why a default retention is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadDefault {
    /// Not exactly one of days and years (S3: MalformedXML).
    #[error("a default retention gives exactly one of Days and Years")]
    DaysOrYears,
    /// Days or years not positive (S3: InvalidRetentionPeriod).
    #[error("a default retention period must be a positive number")]
    NotPositive,
}

/// The period a configuration gives in `days` or `years`.
pub fn period(days: Option<i32>, years: Option<i32>) -> Result<Period, BadDefault> {
    let positive = |n: i32| u32::try_from(n).ok().filter(|n| *n > 0);
    match (days, years) {
        (Some(d), None) => positive(d).map(Period::Days),
        (None, Some(y)) => positive(y).map(Period::Years),
        _ => return Err(BadDefault::DaysOrYears),
    }
    .ok_or(BadDefault::NotPositive)
}

impl LockConfig {
    /// The retention a version written at `now_ms` gets when its request names none.
    pub fn retention_at(&self, now_ms: i64) -> Option<Retention> {
        self.default.map(|d| Retention {
            mode: d.mode,
            until_ms: now_ms.saturating_add(d.period.ms()),
        })
    }
}

/// What object lock refuses (S3: AccessDenied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Locked {
    /// The version is under legal hold.
    #[error("the version is under legal hold")]
    LegalHold,
    /// The version is retained and the request may not bypass it.
    #[error("the version is retained in {} mode until a later date", .0.as_str())]
    Retained(Mode),
    /// The change would weaken a retention the request may not weaken.
    #[error("a {} retention may only be lengthened{}", .0.as_str(), if *.0 == Mode::Governance { " without the governance bypass" } else { "" })]
    Weakened(Mode),
}

/// Whether a version with `retention` and `legal_hold` may be deleted at `now_ms`, the
/// request asking to bypass a governance retention or not.
pub fn may_delete(
    retention: Option<&Retention>,
    legal_hold: bool,
    now_ms: i64,
    bypass: bool,
) -> Result<(), Locked> {
    if legal_hold {
        return Err(Locked::LegalHold);
    }
    match retention {
        Some(r) if r.holds(now_ms) && !(bypass && r.mode == Mode::Governance) => {
            Err(Locked::Retained(r.mode))
        }
        _ => Ok(()),
    }
}

/// Whether a version's retention may change from `old` to `new` at `now_ms`.
pub fn may_change(
    old: Option<&Retention>,
    new: Option<&Retention>,
    now_ms: i64,
    bypass: bool,
) -> Result<(), Locked> {
    let Some(old) = old.filter(|o| o.holds(now_ms)) else {
        return Ok(());
    };
    let lengthens = new.is_some_and(|n| n.mode == old.mode && n.until_ms >= old.until_ms);
    match old.mode {
        _ if lengthens => Ok(()),
        Mode::Governance if bypass => Ok(()),
        mode => Err(Locked::Weakened(mode)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mode() -> impl Strategy<Value = Mode> {
        prop_oneof![Just(Mode::Governance), Just(Mode::Compliance)]
    }

    fn retention() -> impl Strategy<Value = Option<Retention>> {
        proptest::option::of(
            (mode(), 0i64..200).prop_map(|(mode, until_ms)| Retention { mode, until_ms }),
        )
    }

    #[test]
    fn modes_parse_exactly() {
        assert_eq!(Mode::parse("GOVERNANCE"), Some(Mode::Governance));
        assert_eq!(Mode::parse("COMPLIANCE"), Some(Mode::Compliance));
        for bad in ["governance", "abc", ""] {
            assert_eq!(Mode::parse(bad), None);
        }
    }

    #[test]
    fn periods_are_one_positive_number() {
        assert_eq!(period(Some(1), None), Ok(Period::Days(1)));
        assert_eq!(period(None, Some(2)), Ok(Period::Years(2)));
        assert_eq!(period(Some(1), Some(1)), Err(BadDefault::DaysOrYears));
        assert_eq!(period(None, None), Err(BadDefault::DaysOrYears));
        assert_eq!(period(Some(0), None), Err(BadDefault::NotPositive));
        assert_eq!(period(None, Some(-1)), Err(BadDefault::NotPositive));
    }

    #[test]
    fn a_default_counts_from_the_write() {
        let config = LockConfig {
            default: Some(DefaultRetention {
                mode: Mode::Compliance,
                period: Period::Years(1),
            }),
        };
        assert_eq!(
            config.retention_at(1000),
            Some(Retention {
                mode: Mode::Compliance,
                until_ms: 1000 + 365 * DAY_MS
            })
        );
        assert_eq!(LockConfig::default().retention_at(1000), None);
    }

    proptest! {
        /// A legal hold refuses every delete; a retention refuses it while it holds, a
        /// governance one unless bypassed; nothing else refuses.
        #[test]
        fn deletes_follow_hold_and_retention(
            r in retention(), hold: bool, now in 0i64..200, bypass: bool,
        ) {
            let refused = may_delete(r.as_ref(), hold, now, bypass).is_err();
            let retained = r.is_some_and(|r| {
                r.until_ms > now && (r.mode == Mode::Compliance || !bypass)
            });
            prop_assert_eq!(refused, hold || retained);
        }

        /// Whatever changes are allowed, a compliance retention that holds never ends
        /// sooner and never changes mode, and without the bypass no retention that holds
        /// ends sooner or changes mode.
        #[test]
        fn changes_never_weaken_what_may_not_be_weakened(
            old in retention(), new in retention(), now in 0i64..200, bypass: bool,
        ) {
            if may_change(old.as_ref(), new.as_ref(), now, bypass).is_ok()
                && let Some(old) = old.filter(|o| o.holds(now))
                && (old.mode == Mode::Compliance || !bypass)
            {
                let new = new.expect("a holding retention is never removed");
                prop_assert_eq!(new.mode, old.mode);
                prop_assert!(new.until_ms >= old.until_ms);
            }
        }

        /// Lengthening in the same mode, or anything over a retention that no longer holds,
        /// is always allowed.
        #[test]
        fn lengthening_is_always_allowed(
            old in retention(), extra in 0i64..100, now in 0i64..200, bypass: bool,
        ) {
            if let Some(o) = old {
                let longer = Retention { until_ms: o.until_ms + extra, ..o };
                prop_assert!(may_change(Some(&o), Some(&longer), now, bypass).is_ok());
                if !o.holds(now) {
                    prop_assert!(may_change(Some(&o), None, now, bypass).is_ok());
                }
            }
        }
    }
}
