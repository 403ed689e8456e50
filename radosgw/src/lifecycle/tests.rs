//! Tests of the lifecycle rules.

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

fn version(key: &str, size: u64, mtime_ms: i64, marker: bool, place: Place) -> VersionFacts<'_> {
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

#[test]
fn noncurrent_versions_move_after_their_days_unless_kept_newer() {
    let config = LifecycleConfig {
        rules: vec![Rule {
            noncurrent_transitions: vec![NoncurrentTransition {
                days: 1,
                keep_newer: 1,
                class: "STANDARD_IA".into(),
            }],
            noncurrent: Some(NoncurrentExpiration {
                days: 3,
                keep_newer: 0,
            }),
            ..rule("r")
        }],
    };
    validate(&config).unwrap();
    let old = |newer: u32| Place::Noncurrent { since_ms: 0, newer };
    let at = |newer: u32, class: &'static str, now: i64| {
        let facts = VersionFacts {
            class,
            ..version("k", 1, 0, false, old(newer))
        };
        action(&config, &facts, true, now, DAY)
    };
    let moves = Some(Action::Transition {
        rule: "r".into(),
        class: "STANDARD_IA".into(),
    });
    assert_eq!(at(1, "STANDARD", DAY - 1), None, "not yet");
    assert_eq!(at(1, "STANDARD", DAY), moves);
    assert_eq!(
        at(0, "STANDARD", DAY),
        None,
        "the newest noncurrent one stays"
    );
    assert_eq!(at(1, "STANDARD_IA", 2 * DAY), None, "already there");
    assert_eq!(
        at(1, "STANDARD_IA", 3 * DAY),
        Some(Action::Remove("r".into()))
    );
    // A current version is not a noncurrent transition's.
    let current = version("k", 1, 0, false, Place::Current { alone: true });
    assert_eq!(action(&config, &current, true, 2 * DAY, DAY), None);
    // The expiration must come after the transition.
    let mut bad = config.clone();
    bad.rules[0].noncurrent = Some(NoncurrentExpiration {
        days: 1,
        keep_newer: 0,
    });
    assert!(validate(&bad).is_err());
}
