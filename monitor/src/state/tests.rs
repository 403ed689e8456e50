use placement::{DomainType, Location, PoolKind, Weight};
use rados::proto::mon::{AdminCommand as A, MapUpdate, MonError, OsdBoot};

use super::*;

fn boot(n: u8, host: &str) -> MonCommand {
    MonCommand::Boot(OsdBoot {
        uuid: [n; 16],
        addr: format!("127.0.0.1:{}", 7000 + u16::from(n))
            .parse()
            .unwrap(),
        location: Location {
            zone: "default".into(),
            host: host.into(),
        },
        weight: Weight::ONE,
        gossip: None,
    })
}

fn cluster(osds: u8) -> MonState {
    let mut s = MonState::new(Fsid([1; 16]));
    for n in 0..osds {
        s.apply(&boot(n, &format!("h{n}")));
    }
    s
}

fn pool(name: &str, kind: PoolKind) -> MonCommand {
    MonCommand::Admin(A::PoolCreate {
        name: name.into(),
        kind,
        pg_num: 16,
        failure_domain: DomainType::Host,
    })
}

fn rejected(r: MonResponse) -> MonError {
    match r {
        MonResponse::Rejected(e) => e,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn boot_assigns_ids_once_and_reboot_marks_up() {
    let mut s = MonState::new(Fsid([1; 16]));
    assert_eq!(
        s.apply(&boot(7, "a")),
        MonResponse::Booted(OsdId(0), Epoch(1))
    );
    assert_eq!(
        s.apply(&boot(8, "b")),
        MonResponse::Booted(OsdId(1), Epoch(2))
    );
    // Same OSD again while up: a new epoch all the same (its PGs must peer again).
    assert_eq!(
        s.apply(&boot(7, "a")),
        MonResponse::Booted(OsdId(0), Epoch(3))
    );
    s.apply(&MonCommand::MarkDown(vec![OsdId(0)]));
    assert!(!s.map.osds[&OsdId(0)].up);
    assert_eq!(
        s.apply(&boot(7, "a")),
        MonResponse::Booted(OsdId(0), Epoch(5))
    );
    assert!(s.map.osds[&OsdId(0)].up);
}

#[test]
fn flags_hold_back_the_failure_policy() {
    let mut s = cluster(3);
    s.apply(&MonCommand::Admin(A::SetFlag(Flag::Noout)));
    s.apply(&MonCommand::MarkDown(vec![OsdId(1)]));
    let epoch = s.map.epoch;
    assert_eq!(
        s.apply(&MonCommand::MarkOut(vec![OsdId(1)])),
        MonResponse::Epoch(epoch)
    );
    assert!(s.map.osds[&OsdId(1)].is_in, "noout keeps it in");
    s.apply(&MonCommand::Admin(A::UnsetFlag(Flag::Noout)));
    s.apply(&MonCommand::MarkOut(vec![OsdId(1), OsdId(2)]));
    assert!(!s.map.osds[&OsdId(1)].is_in);
    assert!(
        s.map.osds[&OsdId(2)].is_in,
        "an up OSD is never marked out by the policy"
    );
}

#[test]
fn bad_admin_commands_change_nothing() {
    let mut s = cluster(4);
    s.apply(&pool(
        "rbd",
        PoolKind::Replicated {
            size: 3,
            min_size: 2,
        },
    ));
    let before = s.clone();
    let cases = [
        (
            pool(
                "rbd",
                PoolKind::Replicated {
                    size: 3,
                    min_size: 2,
                },
            ),
            "exists",
        ),
        (
            pool(
                "x",
                PoolKind::Replicated {
                    size: 2,
                    min_size: 3,
                },
            ),
            "min_size",
        ),
        (pool("y", PoolKind::erasure(4, 2)), "domains"),
        (MonCommand::Admin(A::PoolRm("nope".into())), "no pool"),
        (MonCommand::Admin(A::OsdOut(vec![OsdId(9)])), "no osd"),
        (
            MonCommand::Admin(A::OsdOut(vec![OsdId(0), OsdId(9)])),
            "one of several missing",
        ),
        (MonCommand::Admin(A::OsdRm(OsdId(0))), "up"),
    ];
    for (cmd, why) in cases {
        let err = rejected(s.apply(&cmd));
        assert!(!err.to_string().is_empty(), "{why}");
        assert_eq!(s, before, "{why}: state changed");
    }
    assert_eq!(
        rejected(s.apply(&pool("y", PoolKind::erasure(4, 2)))),
        MonError::TooFewDomains {
            need: 6,
            have: 4,
            level: DomainType::Host
        }
    );
}

#[test]
fn several_osds_go_out_and_in_in_one_epoch() {
    let mut s = cluster(3);
    let before = s.map.epoch;
    let ids = vec![OsdId(0), OsdId(2), OsdId(0)];
    assert_eq!(
        s.apply(&MonCommand::Admin(A::OsdOut(ids.clone()))),
        MonResponse::Epoch(before.next())
    );
    let is_in = |s: &MonState, i: u32| s.map.osds[&OsdId(i)].is_in;
    assert!(!is_in(&s, 0) && is_in(&s, 1) && !is_in(&s, 2));
    assert_eq!(
        s.apply(&MonCommand::Admin(A::OsdIn(vec![
            OsdId(0),
            OsdId(1),
            OsdId(2)
        ]))),
        MonResponse::Epoch(before.next().next())
    );
    assert!((0..3).all(|i| is_in(&s, i)));
}

#[test]
fn removed_osds_get_new_ids_when_they_return() {
    let mut s = cluster(2);
    s.apply(&MonCommand::Admin(A::OsdDown(OsdId(1))));
    assert!(matches!(
        s.apply(&MonCommand::Admin(A::OsdRm(OsdId(1)))),
        MonResponse::Epoch(_)
    ));
    let next = s.map.epoch.next();
    assert_eq!(s.apply(&boot(1, "h1")), MonResponse::Booted(OsdId(2), next));
}

#[test]
fn callers_catch_up_by_incrementals_or_full_map() {
    let mut s = cluster(3);
    let old = s.map.clone();
    s.apply(&pool(
        "a",
        PoolKind::Replicated {
            size: 2,
            min_size: 1,
        },
    ));
    s.apply(&MonCommand::Admin(A::OsdOut(vec![OsdId(0)])));
    match s.updates_since(Some(old.epoch)) {
        MapUpdate::Incrementals(incs) => {
            let mut caught_up = old;
            for inc in &incs {
                caught_up.apply(inc).unwrap();
            }
            assert_eq!(caught_up, s.map);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.updates_since(Some(s.map.epoch)),
        MapUpdate::UpToDate(s.map.epoch)
    );
    assert!(matches!(s.updates_since(None), MapUpdate::Full(_)));
    // Beyond the history kept: the full map.
    for _ in 0..HISTORY + 5 {
        s.apply(&MonCommand::Admin(A::SetFlag(Flag::Noscrub)));
        s.apply(&MonCommand::Admin(A::UnsetFlag(Flag::Noscrub)));
    }
    assert!(matches!(
        s.updates_since(Some(Epoch(1))),
        MapUpdate::Full(_)
    ));
    assert_eq!(s.history.len(), HISTORY);
}

#[test]
fn replicas_applying_the_same_log_agree_and_state_round_trips() {
    let log = vec![
        boot(0, "h0"),
        boot(1, "h1"),
        pool(
            "p",
            PoolKind::Replicated {
                size: 2,
                min_size: 1,
            },
        ),
        MonCommand::Admin(A::OsdReweight(OsdId(1), Weight(3 * Weight::ONE.0))),
        MonCommand::MarkDown(vec![OsdId(0)]),
        MonCommand::Admin(A::PoolRm("missing".into())),
    ];
    let mut a = MonState::new(Fsid([2; 16]));
    let mut b = MonState::new(Fsid([2; 16]));
    for cmd in &log {
        let wire: MonCommand = rmp_serde::from_slice(&rmp_serde::to_vec(cmd).unwrap()).unwrap();
        assert_eq!(a.apply(cmd), b.apply(&wire));
    }
    assert_eq!(a, b);
    let snapshot: MonState = rmp_serde::from_slice(&rmp_serde::to_vec(&a).unwrap()).unwrap();
    assert_eq!(snapshot, a);
}

#[test]
fn a_retried_admin_command_gets_its_first_answer_and_changes_nothing_more() {
    let mut s = cluster(3);
    let create = A::PoolCreate {
        name: "a".into(),
        kind: PoolKind::erasure(2, 1),
        pg_num: 16,
        failure_domain: DomainType::Host,
    };
    let once = |id| MonCommand::AdminOnce {
        id,
        cmd: create.clone(),
    };
    let first = s.apply(&once(7));
    assert!(matches!(first, MonResponse::Epoch(_)), "{first:?}");
    let after = s.clone();
    assert_eq!(s.apply(&once(7)), first, "the retry's answer");
    assert_eq!(s, after, "the retry changed the state");
    assert!(
        matches!(rejected(s.apply(&once(8))), MonError::PoolExists(_)),
        "another request for the same pool is refused"
    );
    for id in 100..100 + ANSWERED as u64 {
        s.apply(&MonCommand::AdminOnce {
            id,
            cmd: A::OsdIn(vec![OsdId(0)]),
        });
    }
    assert_eq!(s.answered.len(), ANSWERED, "answers kept are bounded");
    assert!(
        !s.answered.iter().any(|(id, _)| *id == 7),
        "the oldest went first"
    );
}
