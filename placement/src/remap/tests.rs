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
