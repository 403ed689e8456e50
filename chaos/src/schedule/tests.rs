use std::collections::BTreeSet;

use super::*;

fn params(seed: u64) -> Params {
    Params {
        seed,
        duration_ms: 60_000,
        osds: 5,
        width: 3,
        mons: 3,
        gateways: 2,
        max_down: 1,
        every: None,
    }
}

const ALL: [Scenario; 8] = [
    Scenario::KillOsds,
    Scenario::HangOsd,
    Scenario::KillMons,
    Scenario::OutAndRebalance,
    Scenario::Partition,
    Scenario::Bitrot,
    Scenario::KillGateways,
    Scenario::KillLeaderAndOsd,
];

/// Replays the steps; returns the most daemons out at once, and fails on an end without a
/// start, a start of a daemon already out, a step out of time order or past the duration,
/// or a fault still in force at the end.
fn replay(s: &Schedule, p: &Params) -> usize {
    let mut out = BTreeSet::new();
    let mut most = 0;
    let mut last = 0;
    for step in &s.steps {
        assert!(step.at_ms >= last, "steps out of order: {s:?}");
        assert!(
            step.at_ms <= p.duration_ms,
            "step past the duration: {step}"
        );
        last = step.at_ms;
        if let Some(t) = step.action.starts_fault() {
            assert!(out.insert(t), "{t} faulted twice: {s:?}");
        }
        if let Some(t) = step.action.ends_fault() {
            assert!(out.remove(&t), "{t} returned without a fault: {s:?}");
        }
        most = most.max(out.len());
    }
    assert!(out.is_empty(), "faults left in force: {out:?}");
    most
}

#[test]
fn the_same_seed_gives_the_same_schedule() {
    for scenario in ALL {
        for seed in 0..50 {
            let a = build(scenario, &params(seed)).unwrap();
            let b = build(scenario, &params(seed)).unwrap();
            assert_eq!(a, b);
        }
        // And different seeds differ (some of them, for the random on/off families).
        let distinct: BTreeSet<String> = (0..20)
            .map(|seed| format!("{:?}", build(scenario, &params(seed)).unwrap().steps))
            .collect();
        assert!(distinct.len() > 1, "{scenario:?} ignores its seed");
    }
}

#[test]
fn never_more_than_max_down_at_once_and_every_fault_ends() {
    for scenario in ALL {
        for max_down in 1..=3 {
            for seed in 0..200 {
                let p = Params {
                    max_down,
                    // Gateway faults always leave one gateway up.
                    gateways: max_down + 1,
                    ..params(seed)
                };
                let s = build(scenario, &p).unwrap();
                let most = replay(&s, &p);
                // The leader goes down with its one OSD.
                let allowed = match scenario {
                    Scenario::KillLeaderAndOsd => 2,
                    _ => max_down as usize,
                };
                assert!(most <= allowed, "{scenario:?} seed {seed}: {most} down");
            }
        }
    }
}

#[test]
fn on_off_scenarios_inject_faults_and_use_more_than_one_daemon() {
    for (scenario, pick) in [
        (Scenario::KillOsds, "kill -9 osd."),
        (Scenario::HangOsd, "SIGSTOP osd."),
        (Scenario::KillMons, "kill -9 mon."),
        (Scenario::Partition, "isolate "),
    ] {
        let s = build(scenario, &params(1)).unwrap();
        let starts: BTreeSet<String> = s
            .steps
            .iter()
            .map(ToString::to_string)
            .filter(|l| l.contains(pick))
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
            .collect();
        assert!(starts.len() > 1, "{scenario:?}: {s:?}");
        // With a larger budget, two daemons are out together at some point.
        let p = Params {
            max_down: 2,
            ..params(1)
        };
        assert_eq!(replay(&build(scenario, &p).unwrap(), &p), 2, "{scenario:?}");
    }
}

#[test]
fn kill_mons_and_partition_name_only_existing_daemons() {
    for seed in 0..100 {
        let p = params(seed);
        for scenario in [Scenario::KillMons, Scenario::Partition, Scenario::KillOsds] {
            for step in build(scenario, &p).unwrap().steps {
                match step.action.starts_fault() {
                    Some(Target::Osd(i)) => assert!(i < p.osds),
                    Some(Target::Mon(i)) => assert!(i < p.mons),
                    Some(Target::Gateway(_) | Target::Leader) => {
                        panic!("{scenario:?} took a gateway or the leader down")
                    }
                    None => {}
                }
                if scenario == Scenario::KillMons {
                    assert!(matches!(
                        step.action.starts_fault(),
                        None | Some(Target::Mon(_))
                    ));
                }
            }
        }
    }
}

#[test]
fn out_and_rebalance_adds_a_new_osd_and_waits_twice() {
    let s = build(Scenario::OutAndRebalance, &params(9)).unwrap();
    let actions: Vec<Action> = s.steps.iter().map(|s| s.action).collect();
    let Action::Out(out) = actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(
        actions[1..],
        [
            Action::AddOsd(5),
            Action::WaitClean,
            Action::In(out),
            Action::WaitClean
        ]
    );
}

#[test]
fn bad_parameters_are_refused() {
    let p = params(0);
    assert_eq!(
        build(Scenario::KillOsds, &Params { osds: 2, ..p }),
        Err(ScheduleError::TooFewOsds { osds: 2, width: 3 })
    );
    assert_eq!(
        build(Scenario::KillOsds, &Params { width: 6, ..p }),
        Err(ScheduleError::TooFewOsds { osds: 5, width: 6 })
    );
    assert_eq!(
        build(Scenario::KillOsds, &Params { max_down: 0, ..p }),
        Err(ScheduleError::NothingDown)
    );
    assert!(matches!(
        build(
            Scenario::HangOsd,
            &Params {
                duration_ms: 4_000,
                ..p
            }
        ),
        Err(ScheduleError::TooShort(4_000, _))
    ));
}

#[test]
fn steps_print_their_time_and_target() {
    let step = Step {
        at_ms: 3_250,
        action: Action::Kill(Target::Osd(2)),
    };
    assert_eq!(step.to_string(), "+3.250s kill -9 osd.2");
    assert_eq!(Scenario::OutAndRebalance.to_string(), "out-and-rebalance");
}

#[test]
fn bitrot_picks_stay_inside_the_object_and_its_acting_set() {
    let mut rng = crate::rng::Rng::new(5);
    let mut replicas_seen = BTreeSet::new();
    for _ in 0..1000 {
        let pick = rng.next_u64();
        let size = rng.range(9, 70_000);
        let b = BitrotPick::new(pick, 10, 3, size);
        assert!(b.object < 10 && b.replica < 3);
        assert!((8..size).contains(&b.offset), "{b:?} of {size}");
        assert_eq!(b, BitrotPick::new(pick, 10, 3, size));
        replicas_seen.insert(b.replica);
    }
    assert_eq!(replicas_seen.len(), 3);
    assert_eq!(BitrotPick::new(7, 1, 1, 4).offset, 0);
}

#[test]
fn a_fixed_period_faults_every_n_seconds_for_m_seconds() {
    let p = Params {
        duration_ms: 120_000,
        every: Some((20_000, 10_000)),
        osds: 3,
        ..params(4)
    };
    for scenario in [
        Scenario::KillOsds,
        Scenario::HangOsd,
        Scenario::KillGateways,
    ] {
        let s = build(scenario, &p).unwrap();
        let starts: Vec<u64> = s
            .steps
            .iter()
            .filter(|s| s.action.starts_fault().is_some())
            .map(|s| s.at_ms)
            .collect();
        assert_eq!(
            starts,
            [3_000, 23_000, 43_000, 63_000, 83_000, 103_000],
            "{scenario:?}"
        );
        let ends: Vec<u64> = s
            .steps
            .iter()
            .filter(|s| s.action.ends_fault().is_some())
            .map(|s| s.at_ms)
            .collect();
        assert_eq!(ends, [13_000, 33_000, 53_000, 73_000, 93_000, 113_000]);
        assert_eq!(replay(&s, &p), 1);
    }
}

#[test]
fn gateway_faults_keep_one_gateway_up() {
    let p = params(3);
    for step in build(Scenario::KillGateways, &p).unwrap().steps {
        assert!(matches!(
            step.action.starts_fault(),
            None | Some(Target::Gateway(0 | 1))
        ));
    }
    assert_eq!(
        build(Scenario::KillGateways, &Params { gateways: 1, ..p }),
        Err(ScheduleError::TooFewGateways)
    );
    assert_eq!(
        build(Scenario::KillGateways, &Params { max_down: 2, ..p }),
        Err(ScheduleError::TooFewGateways)
    );
}

#[test]
fn the_leader_goes_down_with_each_osd_and_comes_back_with_it() {
    let p = Params {
        every: Some((20_000, 10_000)),
        duration_ms: 60_000,
        ..params(2)
    };
    let s = build(Scenario::KillLeaderAndOsd, &p).unwrap();
    let pairs: Vec<(u64, String)> = s
        .steps
        .iter()
        .map(|s| (s.at_ms, s.action.to_string()))
        .collect();
    assert_eq!(pairs.len(), 12, "{pairs:?}");
    for pair in pairs.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0);
        assert!(
            pair[0].1.contains("osd.") && pair[1].1.contains("leader"),
            "{pair:?}"
        );
    }
    assert_eq!(replay(&s, &p), 2);
    assert_eq!(
        build(Scenario::KillLeaderAndOsd, &Params { mons: 1, ..p }),
        Err(ScheduleError::TooFewMons(1))
    );
}
