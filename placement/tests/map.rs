//! Cluster map evolution: incrementals replay exactly, apply atomically, and round-trip
//! through the wire encodings.

mod common;

use std::net::SocketAddr;

use common::*;
use placement::synth;
use placement::{
    Change, ClusterMap, DomainType, Epoch, Flag, Fsid, Incremental, Location, MapError, OsdId,
    PgId, Placement, Pool, PoolId, PoolKind, RuleId, Weight,
};
use proptest::prelude::*;

/// Turns abstract numbers into a change against `map`: valid most of the time, sometimes not,
/// so that rejected incrementals are exercised too.
fn change_for(map: &ClusterMap, op: u8, a: u32, b: u32) -> Change {
    let osds: Vec<OsdId> = map.osds.keys().copied().collect();
    let pick_osd = |n: u32| {
        if osds.is_empty() || n.is_multiple_of(17) {
            OsdId(1000 + n % 5) // usually missing
        } else {
            osds[n as usize % osds.len()]
        }
    };
    let pools: Vec<PoolId> = map.pools.keys().copied().collect();
    let pick_pool = |n: u32| {
        pools
            .get(n as usize % pools.len().max(1))
            .copied()
            .unwrap_or(PoolId(99))
    };
    match op % 16 {
        0 | 1 => Change::OsdAdd(synth::osd(
            map.next_osd_id().0 + a % 3,
            &format!("h{}", b % 6),
            &format!("z{}", b % 6 % 2),
        )),
        2 => Change::OsdRemove(pick_osd(a)),
        3 => Change::OsdUp {
            id: pick_osd(a),
            addr: SocketAddr::from(([127, 0, 0, 1], 6800 + (b % 100) as u16)),
        },
        4 => Change::OsdDown(pick_osd(a)),
        5 => Change::OsdOut(pick_osd(a)),
        6 => Change::OsdIn(pick_osd(a)),
        7 => Change::OsdWeight {
            id: pick_osd(a),
            weight: Weight(b % 0x3_0000),
        },
        8 => {
            // Valid unless a.is_multiple_of(11) (size 0) or the name is taken.
            let size = if a.is_multiple_of(11) {
                0
            } else {
                1 + (a % 3) as u8
            };
            Change::PoolCreate(Pool {
                id: map.next_pool_id(),
                name: format!("p{}", a % 5),
                kind: if b.is_multiple_of(2) {
                    PoolKind::Replicated {
                        size,
                        min_size: 1 + (b / 2 % 3) as u8 % size.max(1),
                    }
                } else {
                    PoolKind::erasure((a % 3) as u8 + 1, 1)
                },
                pg_num: 1 + a % 64,
                rule: RuleId(b % 2),
            })
        }
        9 => Change::PoolRemove(pick_pool(a)),
        10 => {
            let pool = pick_pool(a);
            let pg_num = map.pools.get(&pool).map_or(8, |p| p.pg_num);
            let first = pick_osd(b);
            let second = osds
                .iter()
                .copied()
                .find(|o| *o != first)
                .unwrap_or(OsdId(1001));
            let mut set = vec![Some(first), Some(second)];
            if map.pools.get(&pool).is_some_and(Pool::is_erasure) && b.is_multiple_of(3) {
                set.push(None);
            }
            Change::PgTempSet {
                pg: PgId {
                    pool,
                    seed: b % pg_num,
                },
                osds: set,
            }
        }
        11 => Change::PgTempClear(PgId {
            pool: pick_pool(a),
            seed: b % 8,
        }),
        _ => {
            let flag = Flag::ALL[a as usize % Flag::ALL.len()];
            if b.is_multiple_of(2) {
                Change::FlagSet(flag)
            } else {
                Change::FlagClear(flag)
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Applying incrementals e0..en to the map at e0 gives exactly the map at en; rejected
    /// incrementals change nothing; every map passes its checks and survives the wire.
    #[test]
    fn incrementals_replay_to_the_same_map(
        steps in proptest::collection::vec(
            proptest::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..3),
            1..60,
        ),
    ) {
        let start = ClusterMap::new(Fsid([7; 16]));
        let mut map = start.clone();
        let mut log: Vec<Incremental> = Vec::new();
        for step in steps {
            let changes = step.iter().map(|&(op, a, b)| change_for(&map, op, a, b)).collect();
            let inc = map.next_incremental(changes);
            let before = map.clone();
            match map.apply(&inc) {
                Ok(()) => {
                    prop_assert_eq!(map.epoch, before.epoch.next());
                    map.check().unwrap();
                    let compact: Incremental = rmp_serde::from_slice(&rmp_serde::to_vec(&inc).unwrap()).unwrap();
                    prop_assert_eq!(&compact, &inc);
                    let wire = rmp_serde::to_vec_named(&inc).unwrap();
                    log.push(rmp_serde::from_slice(&wire).unwrap());
                }
                Err(_) => prop_assert_eq!(&map, &before, "a rejected incremental changed the map"),
            }
        }
        let mut replayed = start;
        for inc in &log {
            replayed.apply(inc).unwrap();
        }
        prop_assert_eq!(&replayed, &map);

        let named: ClusterMap = rmp_serde::from_slice(&rmp_serde::to_vec_named(&map).unwrap()).unwrap();
        prop_assert_eq!(&named, &map);
        let compact: ClusterMap = rmp_serde::from_slice(&rmp_serde::to_vec(&map).unwrap()).unwrap();
        prop_assert_eq!(&compact, &map);

        // The map computes the same placement after the round trip.
        let a = Placement::new(&map);
        let b = Placement::new(&named);
        for pool in map.pools.keys() {
            prop_assert_eq!(a.pool_crush_sets(*pool).unwrap(), b.pool_crush_sets(*pool).unwrap());
        }
    }
}

#[test]
fn map_round_trips_through_json() {
    let (mut map, pool) = map_with_pool(shape(2, 4, 2), REP3, 16, DomainType::Host);
    commit(
        &mut map,
        vec![
            Change::PgTempSet {
                pg: PgId { pool, seed: 3 },
                osds: vec![Some(OsdId(1)), Some(OsdId(3))],
            },
            Change::FlagSet(Flag::Noout),
            Change::OsdUp {
                id: OsdId(2),
                addr: "127.0.0.1:6801".parse().unwrap(),
            },
        ],
    );
    let text = serde_json::to_string(&map).unwrap();
    let back: ClusterMap = serde_json::from_str(&text).unwrap();
    assert_eq!(back, map);
}

#[test]
fn incrementals_must_follow_in_order_and_belong_to_the_cluster() {
    let mut map = synth::map(shape(1, 3, 1));
    let skip = Incremental {
        fsid: map.fsid,
        epoch: Epoch(map.epoch.0 + 2),
        changes: vec![],
    };
    assert_eq!(
        map.apply(&skip),
        Err(MapError::EpochGap {
            have: Epoch(1),
            got: Epoch(3)
        })
    );
    let stranger = Incremental {
        fsid: Fsid([1; 16]),
        ..map.next_incremental(vec![])
    };
    assert!(matches!(
        map.apply(&stranger),
        Err(MapError::FsidMismatch { .. })
    ));
    assert_eq!(map.epoch, Epoch(1));
}

#[test]
fn a_bad_change_rejects_the_whole_incremental() {
    let mut map = synth::map(shape(1, 3, 1));
    let before = map.clone();
    let inc = map.next_incremental(vec![
        Change::FlagSet(Flag::Noout),
        Change::OsdOut(OsdId(42)),
    ]);
    assert_eq!(map.apply(&inc), Err(MapError::NoSuchOsd(OsdId(42))));
    assert_eq!(map, before);
}

#[test]
fn invalid_pools_and_references_are_refused() {
    let mut map = synth::map(shape(1, 3, 1));
    let id = map.next_pool_id();
    let pool = |name: &str, kind, pg_num, rule| Pool {
        id,
        name: name.into(),
        kind,
        pg_num,
        rule: RuleId(rule),
    };
    let cases = [
        pool(
            "a",
            PoolKind::Replicated {
                size: 2,
                min_size: 3,
            },
            8,
            0,
        ),
        pool(
            "a",
            PoolKind::Replicated {
                size: 0,
                min_size: 0,
            },
            8,
            0,
        ),
        pool("a", PoolKind::erasure(0, 2), 8, 1),
        pool("a", PoolKind::erasure(4, 2), 8, 0), // firstn rule for an EC pool
        pool(
            "a",
            PoolKind::Replicated {
                size: 3,
                min_size: 2,
            },
            0,
            0,
        ),
        pool(
            "a",
            PoolKind::Replicated {
                size: 3,
                min_size: 2,
            },
            8,
            9,
        ),
        pool(
            "bad name!",
            PoolKind::Replicated {
                size: 3,
                min_size: 2,
            },
            8,
            0,
        ),
    ];
    for bad in cases {
        let inc = map.next_incremental(vec![Change::PoolCreate(bad.clone())]);
        match map.apply(&inc) {
            Err(MapError::InvalidPool { .. }) => {}
            Err(MapError::NoSuchRule(RuleId(9))) if bad.rule == RuleId(9) => {}
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    let good = pool(
        "a",
        PoolKind::Replicated {
            size: 3,
            min_size: 2,
        },
        8,
        0,
    );
    commit(&mut map, vec![Change::PoolCreate(good.clone())]);
    let dup = Pool {
        id: map.next_pool_id(),
        ..good
    };
    let inc = map.next_incremental(vec![Change::PoolCreate(dup)]);
    assert_eq!(map.apply(&inc), Err(MapError::PoolExists("a".into())));
    let inc = map.next_incremental(vec![Change::RuleRemove(RuleId(0))]);
    assert!(matches!(map.apply(&inc), Err(MapError::RuleInUse { .. })));

    let elsewhere = Change::OsdLocation {
        id: OsdId(0),
        location: Location {
            zone: "other".into(),
            host: "host-1".into(),
        },
    };
    let inc = map.next_incremental(vec![elsewhere]);
    assert!(matches!(
        map.apply(&inc),
        Err(MapError::HostInTwoZones { .. })
    ));
}

#[test]
fn erasure_pg_temp_has_one_entry_per_shard_and_someone_in_it() {
    let (mut map, pool) = map_with_pool(shape(1, 6, 1), EC42, 8, DomainType::Host);
    let pg = PgId { pool, seed: 1 };
    for osds in [vec![Some(OsdId(0)), Some(OsdId(1))], vec![None; 6]] {
        let inc = map.next_incremental(vec![Change::PgTempSet { pg, osds }]);
        assert!(matches!(
            map.apply(&inc),
            Err(MapError::InvalidPgTemp { .. })
        ));
    }
    let osds = vec![
        Some(OsdId(0)),
        None,
        Some(OsdId(2)),
        Some(OsdId(3)),
        Some(OsdId(4)),
        Some(OsdId(5)),
    ];
    commit(&mut map, vec![Change::PgTempSet { pg, osds }]);
}

#[test]
fn reserved_ids_are_refused() {
    let mut map = synth::map(shape(1, 1, 1));
    let inc = map.next_incremental(vec![Change::OsdAdd(synth::osd(u32::MAX, "h", "z"))]);
    assert!(map.apply(&inc).is_err());
    assert_eq!(map.next_osd_id(), OsdId(1));
}

#[test]
fn removing_an_osd_voids_pg_temp_entries_naming_it() {
    let (mut map, pool) = map_with_pool(shape(1, 4, 1), REP3, 8, DomainType::Host);
    let pg = PgId { pool, seed: 1 };
    commit(
        &mut map,
        vec![Change::PgTempSet {
            pg,
            osds: vec![Some(OsdId(0)), Some(OsdId(1))],
        }],
    );
    commit(&mut map, vec![Change::OsdRemove(OsdId(1))]);
    assert!(map.pg_temp.is_empty());
    assert_eq!(map.next_osd_id(), OsdId(4), "ids are not reused");
}

/// Placement of a fixed map, pinned: if this changes, every existing object moved.
#[test]
fn placement_never_changes() {
    let (mut map, rep) = map_with_pool(shape(1, 5, 2), REP3, 8, DomainType::Host);
    let ec = synth::add_pool(&mut map, PoolKind::erasure(2, 1), 8, DomainType::Host).unwrap();
    let p = Placement::new(&map);
    let show = |pool| {
        p.pool_crush_sets(pool)
            .unwrap()
            .iter()
            .map(|s| {
                s.iter()
                    .map(|o| o.map_or("-".into(), |o| o.0.to_string()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("rep: {}\nec: {}", show(rep), show(ec));
    assert_eq!(show(rep), GOLDEN_REP);
    assert_eq!(show(ec), GOLDEN_EC);
    assert_eq!(map.pools[&rep].pg_of(b"foo").seed, 0x59c4_ba3f % 8);
}

const GOLDEN_REP: &str = "4,1,8 0,6,8 6,9,0 9,4,1 4,2,0 6,9,5 0,7,5 9,5,2";
const GOLDEN_EC: &str = "3,4,0 4,0,2 9,3,0 8,2,6 3,1,7 6,5,9 9,3,7 7,0,5";

#[test]
fn ids_parse_and_print_like_ceph() {
    let pg: PgId = "3.1f".parse().unwrap();
    assert_eq!(
        pg,
        PgId {
            pool: PoolId(3),
            seed: 0x1f
        }
    );
    assert_eq!(pg.to_string(), "3.1f");
    assert_eq!("osd.7".parse::<OsdId>().unwrap(), OsdId(7));
    assert_eq!("7".parse::<OsdId>().unwrap().to_string(), "osd.7");
    assert!("x.1".parse::<PgId>().is_err());
    let fsid = Fsid([0xab; 16]);
    assert_eq!(fsid.to_string().parse::<Fsid>().unwrap(), fsid);
    assert_eq!("1.5".parse::<Weight>().unwrap(), Weight(0x1_8000));
    assert!("-1".parse::<Weight>().is_err());
}
