use super::*;
use crate::crush::DomainType;
use crate::pool::PoolKind;
use crate::synth::{self, Shape};

fn cluster() -> (ClusterMap, crate::ids::PoolId) {
    let mut map = synth::map(Shape {
        zones: 1,
        hosts: 5,
        osds_per_host: 1,
    });
    let pool = synth::add_pool(
        &mut map,
        PoolKind::Replicated {
            size: 3,
            min_size: 2,
        },
        64,
        DomainType::Host,
    )
    .unwrap();
    (map, pool)
}

/// Applies `changes` plus the pg_temp changes they call for; returns those.
fn step(map: &mut ClusterMap, changes: Vec<Change>) -> Vec<Change> {
    let mut tentative = map.clone();
    tentative
        .apply(&tentative.next_incremental(changes.clone()))
        .unwrap();
    let temps = pg_temp_changes(map, &tentative);
    let inc = map.next_incremental(changes.into_iter().chain(temps.clone()).collect());
    map.apply(&inc).unwrap();
    temps
}

#[test]
fn an_out_osd_leaves_its_old_holders_serving_the_pgs_that_move() {
    let (mut map, pool) = cluster();
    let before = Placement::new(&map);
    let temps = step(&mut map, vec![Change::OsdOut(OsdId(2))]);
    assert!(!temps.is_empty());
    let after = Placement::new(&map);
    for seed in 0..64 {
        let pg = PgId { pool, seed };
        let was = before.map_pg(pg).unwrap();
        let now = after.map_pg(pg).unwrap();
        if was.acting.contains(&Some(OsdId(2))) {
            // Served by exactly the old set (osd.2 included, it still has the data) while
            // the replacement backfills.
            assert_eq!(now.acting, was.acting, "{pg}");
            assert!(!now.up.contains(&Some(OsdId(2))));
            assert_ne!(now.up, now.acting);
        } else {
            assert_eq!(now.acting, now.up, "{pg} did not move");
            assert!(!map.pg_temp.contains_key(&pg));
        }
    }
}

#[test]
fn down_and_up_never_set_a_pg_temp() {
    let (mut map, _) = cluster();
    assert!(step(&mut map, vec![Change::OsdDown(OsdId(1))]).is_empty());
    let addr = "127.0.0.1:7000".parse().unwrap();
    assert!(step(&mut map, vec![Change::OsdUp { id: OsdId(1), addr }]).is_empty());
}

#[test]
fn entries_clear_when_the_up_set_is_served_or_nobody_can_serve() {
    let (mut map, _) = cluster();
    step(&mut map, vec![Change::OsdOut(OsdId(2))]);
    let n = map.pg_temp.len();
    assert!(n > 0);
    // osd.2 back in: the CRUSH sets are the old ones again, so every entry clears.
    let temps = step(&mut map, vec![Change::OsdIn(OsdId(2))]);
    assert_eq!(temps.len(), n, "{temps:?}");
    assert!(temps.iter().all(|c| matches!(c, Change::PgTempClear(_))));
    assert!(map.pg_temp.is_empty());

    // Out again; then every old holder of one PG goes down: nobody serves it, so it clears.
    step(&mut map, vec![Change::OsdOut(OsdId(2))]);
    let (pg, holders) = map
        .pg_temp
        .iter()
        .next()
        .map(|(pg, h)| (*pg, h.clone()))
        .unwrap();
    let downs = holders
        .iter()
        .flatten()
        .map(|o| Change::OsdDown(*o))
        .collect();
    step(&mut map, downs);
    assert!(!map.pg_temp.contains_key(&pg));
}

#[test]
fn a_new_osd_receives_data_behind_a_pg_temp() {
    let (mut map, pool) = cluster();
    let osd = synth::osd(9, "host-9", &synth::zone_name(0));
    let temps = step(&mut map, vec![Change::OsdAdd(osd)]);
    assert!(!temps.is_empty());
    let now = Placement::new(&map);
    for pg in map.pg_temp.keys() {
        let p = now.map_pg(*pg).unwrap();
        assert_eq!(pg.pool, pool);
        assert!(p.up.contains(&Some(OsdId(9))));
        assert!(!p.acting.contains(&Some(OsdId(9))));
    }
}

fn erasure_cluster() -> (ClusterMap, crate::ids::PoolId) {
    let mut map = synth::map(Shape {
        zones: 1,
        hosts: 10,
        osds_per_host: 1,
    });
    let pool = synth::add_pool(&mut map, PoolKind::erasure(4, 2), 64, DomainType::Host).unwrap();
    (map, pool)
}

#[test]
fn erasure_positions_that_move_stay_with_their_old_holders_however_many_move() {
    let (mut map, pool) = erasure_cluster();
    let before = Placement::new(&map);
    let out = [OsdId(2), OsdId(5), OsdId(7)];
    step(&mut map, out.iter().map(|o| Change::OsdOut(*o)).collect());
    let after = Placement::new(&map);
    let mut moved_together = 0;
    for seed in 0..64 {
        let pg = PgId { pool, seed };
        let was = before.map_pg(pg).unwrap();
        let now = after.map_pg(pg).unwrap();
        // Every shard is served where it was: nothing needs decoding to be read.
        assert_eq!(now.acting, was.acting, "{pg}");
        let moved = (0..6).filter(|p| now.up[*p] != was.acting[*p]).count();
        assert_eq!(moved > 0, map.pg_temp.contains_key(&pg), "{pg}");
        moved_together += usize::from(moved >= 2);
    }
    assert!(moved_together > 0, "no PG moved two positions at once");
    // Backfilled: each primary clears its entry; every PG is then served by CRUSH.
    let done: Vec<Change> = map
        .pg_temp
        .keys()
        .map(|pg| Change::PgTempClear(*pg))
        .collect();
    step(&mut map, done);
    let settled = Placement::new(&map);
    for seed in 0..64 {
        let now = settled.map_pg(PgId { pool, seed }).unwrap();
        assert_eq!(now.acting, now.up);
        assert!(out.iter().all(|o| !now.up.contains(&Some(*o))));
    }
}

#[test]
fn erasure_a_holder_that_goes_down_hands_its_position_to_the_crush_member() {
    let (mut map, pool) = erasure_cluster();
    step(&mut map, vec![Change::OsdOut(OsdId(3))]);
    let held: Vec<PgId> = map.pg_temp.keys().copied().collect();
    assert!(!held.is_empty());
    // osd.3 serves its old positions behind the pg_temps; then it dies.
    let temps = step(&mut map, vec![Change::OsdDown(OsdId(3))]);
    assert!(
        temps.iter().all(|c| matches!(c, Change::PgTempClear(_))),
        "{temps:?}"
    );
    let now = Placement::new(&map);
    for pg in held {
        assert!(!map.pg_temp.contains_key(&pg));
        let p = now.map_pg(pg).unwrap();
        assert_eq!(p.acting, p.up, "{pg}: the replacement recovers by decoding");
    }
    // A down OSD that merely keeps its slot moves nothing.
    let (mut map, _) = erasure_cluster();
    assert!(step(&mut map, vec![Change::OsdDown(OsdId(1))]).is_empty());
    let _ = pool;
}

#[test]
fn erasure_pg_temps_never_name_an_osd_twice_through_outs_ins_and_deaths() {
    let (mut map, _) = erasure_cluster();
    let addr = "127.0.0.1:7000".parse().unwrap();
    // Seeded waves of outs, ins, deaths and returns while older entries still pin OSDs
    // (OSDs trade positions), a few OSDs at a time; some entries clear as if backfilled.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut repeats = 0;
    for _ in 0..300 {
        let mut changes = Vec::new();
        let mut touched = BTreeSet::new();
        for _ in 0..1 + next(3) {
            let o = OsdId(next(10) as u32);
            if !touched.insert(o) {
                continue;
            }
            let entry = &map.osds[&o];
            changes.push(match (next(4), entry.is_in, entry.up) {
                (0, true, _) => Change::OsdOut(o),
                (0, false, _) => Change::OsdIn(o),
                (1, _, true) => Change::OsdDown(o),
                (1, _, false) => Change::OsdUp { id: o, addr },
                (_, true, _) if next(2) == 0 => Change::OsdOut(o),
                _ => Change::OsdIn(o),
            });
        }
        if next(3) == 0 {
            let pgs: Vec<PgId> = map.pg_temp.keys().copied().collect();
            changes.extend(
                pgs.into_iter()
                    .filter(|_| next(2) == 0)
                    .map(Change::PgTempClear),
            );
        }
        step(&mut map, changes);
        for (pg, temp) in &map.pg_temp {
            let osds: Vec<OsdId> = temp.iter().flatten().copied().collect();
            let unique: BTreeSet<OsdId> = osds.iter().copied().collect();
            repeats += usize::from(unique.len() != osds.len());
            assert_eq!(unique.len(), osds.len(), "{pg}: {temp:?}");
        }
    }
    assert_eq!(repeats, 0);
}

#[test]
fn a_refused_pg_temp_is_dropped_and_the_others_are_kept() {
    let (map, pool) = erasure_cluster();
    let (a, b) = (PgId { pool, seed: 0 }, PgId { pool, seed: 1 });
    let up = Placement::new(&map).map_pg(b).unwrap().up;
    let twice = vec![Some(OsdId(1)), Some(OsdId(1)), None, None, None, None];
    let changes = vec![
        Change::PgTempSet { pg: a, osds: twice },
        Change::PgTempSet { pg: b, osds: up },
    ];
    // Together the map refuses them all.
    let mut whole = map.clone();
    assert!(whole.apply(&map.next_incremental(changes.clone())).is_err());
    let (kept, refused) = valid_pg_temps(&map, changes.clone());
    assert_eq!(kept, changes[1..].to_vec());
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].to_string().contains("appears twice"),
        "{}",
        refused[0]
    );
}
