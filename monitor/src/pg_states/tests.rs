use placement::synth::{self, Shape};
use placement::{Change, DomainType, PoolId, PoolKind};

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// 3 hosts x 2 OSDs and two replicated pools (size 2) of 8 PGs each.
fn map() -> ClusterMap {
    let mut map = synth::map(Shape {
        zones: 1,
        hosts: 3,
        osds_per_host: 2,
    });
    let rep = PoolKind::Replicated {
        size: 2,
        min_size: 1,
    };
    synth::add_pool(&mut map, rep, 8, DomainType::Host).unwrap();
    synth::add_pool(&mut map, rep, 8, DomainType::Host).unwrap();
    map
}

fn pg(pool: u32, seed: u32) -> PgId {
    PgId {
        pool: PoolId(pool),
        seed,
    }
}

/// What `reporter` would say about `pg`.
fn status(placement: &Placement, pg: PgId, state: &str) -> PgStatus {
    let mapped = placement.map_pg(pg).unwrap();
    PgStatus {
        pg,
        state: state.into(),
        acting: mapped.acting.iter().flatten().copied().collect(),
        since: Epoch(3),
        last_update: Version {
            epoch: Epoch(3),
            seq: 7,
        },
        objects: 0,
        degraded: 0,
        misplaced: 0,
        scrub_errors: 0,
    }
}

fn state_of(view: &PgDumpView, pg: PgId) -> &str {
    &view.pgs.iter().find(|s| s.pg == pg).unwrap().state
}

#[test]
fn unreported_pgs_are_unknown_with_the_maps_acting_set() {
    let map = map();
    let placement = Placement::new(&map);
    let view = PgStates::new(secs(20)).dump(secs(0), &map, &placement);
    assert_eq!(view.reported, 0);
    assert_eq!(view.pgs.len(), 16, "every PG of every pool");
    for s in &view.pgs {
        let mapped = placement.map_pg(s.pg).unwrap();
        assert_eq!(s.state, UNKNOWN);
        assert_eq!(
            s.acting,
            mapped.acting.iter().flatten().copied().collect::<Vec<_>>()
        );
        assert_eq!((s.since, s.last_update), (Epoch(0), Version::ZERO));
    }
    let order: Vec<PgId> = view.pgs.iter().map(|s| s.pg).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "PG order");
}

#[test]
fn only_the_primarys_fresh_report_counts() {
    let map = map();
    let placement = Placement::new(&map);
    let target = pg(1, 3);
    let mapped = placement.map_pg(target).unwrap();
    let primary = mapped.primary.unwrap();
    let replica = mapped.acting[1].unwrap();
    let mut states = PgStates::new(secs(20));

    let kept = states.handle_beacon(
        secs(0),
        &placement,
        replica,
        &[status(&placement, target, "active+clean")],
    );
    assert_eq!(kept, 0, "a replica's view is ignored");
    let bogus = PgStatus {
        pg: pg(9, 0),
        ..status(&placement, target, "active+clean")
    };
    let kept = states.handle_beacon(
        secs(0),
        &placement,
        primary,
        &[status(&placement, target, "active+clean"), bogus],
    );
    assert_eq!(kept, 1, "a PG of no pool is ignored");

    let view = states.dump(secs(5), &map, &placement);
    assert_eq!(view.reported, 1);
    assert_eq!(state_of(&view, target), "active+clean");
    let reported = view.pgs.iter().find(|s| s.pg == target).unwrap();
    assert_eq!(reported.last_update.seq, 7);
    assert_eq!(state_of(&view, pg(2, 3)), UNKNOWN, "same seed, other pool");

    // A report older than the ttl no longer counts.
    let view = states.dump(secs(21), &map, &placement);
    assert_eq!((view.reported, state_of(&view, target)), (0, UNKNOWN));
}

#[test]
fn a_reporter_that_is_no_longer_primary_is_dropped() {
    let mut map = map();
    let placement = Placement::new(&map);
    let target = pg(1, 3);
    let primary = placement.map_pg(target).unwrap().primary.unwrap();
    let mut states = PgStates::new(secs(20));
    states.handle_beacon(
        secs(0),
        &placement,
        primary,
        &[status(&placement, target, "active+clean")],
    );

    // The primary goes down: the PG has a new primary, which has not reported yet.
    let inc = map.next_incremental(vec![Change::OsdDown(primary)]);
    map.apply(&inc).unwrap();
    let placement = Placement::new(&map);
    let view = states.dump(secs(1), &map, &placement);
    assert_eq!(state_of(&view, target), UNKNOWN);
    states.prune(secs(1), &placement);
    assert!(states.reports.is_empty(), "pruned");

    // The new primary's report counts.
    let new_primary = placement.map_pg(target).unwrap().primary.unwrap();
    let degraded = status(&placement, target, "active+undersized+degraded");
    assert_eq!(
        states.handle_beacon(secs(2), &placement, new_primary, &[degraded]),
        1
    );
    let view = states.dump(secs(2), &map, &placement);
    assert_eq!(state_of(&view, target), "active+undersized+degraded");

    // The pool is deleted: its PGs vanish from the dump and from the reports.
    let inc = map.next_incremental(vec![Change::PoolRemove(PoolId(1))]);
    map.apply(&inc).unwrap();
    let placement = Placement::new(&map);
    let view = states.dump(secs(3), &map, &placement);
    assert_eq!(view.pgs.len(), 8);
    assert!(view.pgs.iter().all(|s| s.pg.pool == PoolId(2)));
    states.prune(secs(3), &placement);
    assert!(states.reports.is_empty());
}
