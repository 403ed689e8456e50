//! Placement properties: determinism, failure domains, balance, minimal movement.

mod common;

use common::*;
use placement::analysis::{distribution, movement};
use placement::synth::{self, Shape};
use placement::{Change, ClusterMap, DomainType, OsdId, Placement, PoolKind, Weight};
use proptest::prelude::*;

fn all_sets(map: &ClusterMap, pool: placement::PoolId) -> Vec<Vec<Option<OsdId>>> {
    Placement::new(map).pool_crush_sets(pool).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Same inputs, same result, whatever order OSDs joined in and however many epochs that took.
    #[test]
    fn placement_ignores_osd_insertion_order(
        hosts in 3u32..8,
        per_host in 1u32..4,
        zones in 1u32..3,
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
    ) {
        let shape = Shape { zones, hosts, osds_per_host: per_host };
        let mut osds = synth::osds(shape);
        // Fisher-Yates with the proptest RNG's seed, so a failure replays.
        let mut state = order;
        for i in (1..osds.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            osds.swap(i, (state >> 33) as usize % (i + 1));
        }
        let (in_order, rep_a) = map_with_pool(shape, REP3, 64, DomainType::Host);
        let mut in_order = in_order;
        let ec_a = synth::add_pool(&mut in_order, EC42, 64, DomainType::Osd).unwrap();

        // Same OSDs, joined in another order over many epochs, with a visitor that comes and
        // goes and weights that change and change back.
        let mut shuffled = ClusterMap::new(in_order.fsid);
        for chunk in osds.chunks(3) {
            commit(&mut shuffled, chunk.iter().cloned().map(Change::OsdAdd).collect());
        }
        let visitor = OsdId(1000);
        commit(&mut shuffled, vec![Change::OsdAdd(synth::osd(visitor.0, "host-x", "zone-0"))]);
        let first = osds[0].id;
        commit(&mut shuffled, vec![Change::OsdWeight { id: first, weight: Weight(3 * Weight::ONE.0) }]);
        commit(&mut shuffled, vec![Change::OsdRemove(visitor), Change::OsdOut(first)]);
        commit(&mut shuffled, vec![Change::OsdIn(first), Change::OsdWeight { id: first, weight: Weight::ONE }]);
        let rep_b = synth::add_pool(&mut shuffled, REP3, 64, DomainType::Host).unwrap();
        let ec_b = synth::add_pool(&mut shuffled, EC42, 64, DomainType::Osd).unwrap();
        prop_assert_eq!(all_sets(&in_order, rep_a), all_sets(&shuffled, rep_b));
        prop_assert_eq!(all_sets(&in_order, ec_a), all_sets(&shuffled, ec_b));
    }

    /// With at least `size` domains, no PG puts two positions in one domain.
    #[test]
    fn positions_land_in_distinct_failure_domains(
        hosts in 3u32..12,
        per_host in 1u32..5,
        zones in 1u32..4,
        size in 2u8..4,
        erasure in any::<bool>(),
        by_zone in any::<bool>(),
    ) {
        let zones = zones.min(hosts);
        let level = if by_zone { DomainType::Zone } else { DomainType::Host };
        let domains = if by_zone { zones } else { hosts };
        prop_assume!(u32::from(size) <= domains);
        let kind = if erasure {
            PoolKind::erasure(size - 1, 1)
        } else {
            PoolKind::Replicated { size, min_size: 1 }
        };
        let (map, pool) = map_with_pool(Shape { zones, hosts, osds_per_host: per_host }, kind, 128, level);
        for set in all_sets(&map, pool) {
            prop_assert_eq!(set.len(), usize::from(size));
            let mut seen = Vec::new();
            for osd in set {
                let osd = osd.expect("enough domains: no holes");
                let loc = &map.osds[&osd].location;
                let domain = if by_zone { &loc.zone } else { &loc.host };
                prop_assert!(!seen.contains(domain), "two positions in {}", domain);
                seen.push(domain.clone());
            }
        }
    }
}

#[test]
fn equal_osds_get_equal_shares() {
    let (map, pool) = map_with_pool(shape(1, 10, 4), REP3, 4096, DomainType::Host);
    let dist = distribution(&map, pool).unwrap();
    assert_eq!(dist.per_osd.len(), 40);
    assert!(
        dist.max_deviation_pct <= 20.0,
        "worst OSD deviates {:.1}% from its share",
        dist.max_deviation_pct
    );
}

#[test]
fn double_weight_gets_double_share() {
    let (mut map, pool) = map_with_pool(shape(1, 10, 4), REP3, 4096, DomainType::Host);
    commit(
        &mut map,
        vec![Change::OsdWeight {
            id: OsdId(0),
            weight: Weight(2 * Weight::ONE.0),
        }],
    );
    let dist = distribution(&map, pool).unwrap();
    let heavy = dist.per_osd[&OsdId(0)].0 as f64;
    let others: Vec<f64> = dist
        .per_osd
        .iter()
        .filter(|(id, _)| id.0 != 0)
        .map(|(_, (n, _))| *n as f64)
        .collect();
    let mean = others.iter().sum::<f64>() / others.len() as f64;
    let ratio = heavy / mean;
    assert!(
        (1.6..=2.4).contains(&ratio),
        "double weight got {ratio:.2}x"
    );
}

#[test]
fn erasure_pools_are_balanced_too() {
    let (map, pool) = map_with_pool(shape(1, 10, 4), EC42, 4096, DomainType::Host);
    let dist = distribution(&map, pool).unwrap();
    assert_eq!(dist.holes, 0);
    assert!(
        dist.max_deviation_pct <= 20.0,
        "{:.1}%",
        dist.max_deviation_pct
    );
}

/// Adds one OSD and checks: moved <= 1.3x ideal, and every moved slot went to the new OSD.
fn check_add(host: &str, zone: &str) {
    let (before, pool) = map_with_pool(shape(1, 10, 4), REP3, 4096, DomainType::Host);
    let mut after = before.clone();
    let new = after.next_osd_id();
    commit(
        &mut after,
        vec![Change::OsdAdd(synth::osd(new.0, host, zone))],
    );
    let m = movement(&before, &after, pool).unwrap();
    let ideal = 1.0 / 41.0;
    assert!(m.moved > 0);
    assert!(
        m.fraction() <= 1.3 * ideal,
        "moved {:.4} of slots, ideal {ideal:.4}",
        m.fraction()
    );
    assert_eq!(
        m.moved_to.keys().collect::<Vec<_>>(),
        vec![&Some(new)],
        "moves onto the new OSD only"
    );
}

#[test]
fn adding_an_osd_to_an_existing_host_moves_only_onto_it() {
    check_add("host-3", "zone-0");
}

#[test]
fn adding_an_osd_as_a_new_host_moves_only_onto_it() {
    check_add("host-new", "zone-0");
}

#[test]
fn marking_out_changes_only_the_slot_it_held() {
    let cases = [
        (REP3, DomainType::Host, shape(1, 10, 4)),
        (REP3, DomainType::Osd, shape(1, 10, 4)),
        (EC42, DomainType::Host, shape(1, 10, 4)),
        (EC42, DomainType::Osd, shape(1, 10, 4)),
        (EC42, DomainType::Host, shape(1, 12, 1)), // its domain dies with it
        (EC42, DomainType::Host, shape(1, 6, 3)),  // exactly k+m hosts
        (EC42, DomainType::Zone, shape(6, 12, 2)),
    ];
    for (kind, level, shape) in cases {
        let (before, pool) = map_with_pool(shape, kind, 2048, level);
        let out = OsdId(5);
        let mut after = before.clone();
        commit(&mut after, vec![Change::OsdOut(out)]);
        let old = all_sets(&before, pool);
        let new = all_sets(&after, pool);
        let case = format!("{kind:?} across {level:?}, {shape:?}");
        for (seed, (a, b)) in old.iter().zip(&new).enumerate() {
            if !a.contains(&Some(out)) {
                assert_eq!(a, b, "{case}: PG {seed} did not hold {out} but changed");
                continue;
            }
            assert!(!b.contains(&Some(out)));
            assert!(
                b.iter().all(Option::is_some),
                "{case}: PG {seed} lost a position: {b:?}"
            );
            if kind == EC42 {
                // indep: only that position changes.
                let changed: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
                assert_eq!(changed.len(), 1, "{case}: PG {seed}: {a:?} -> {b:?}");
                assert_eq!(a[changed[0]], Some(out));
            } else {
                let kept = a.iter().filter(|o| b.contains(o)).count();
                assert_eq!(kept, a.len() - 1, "{case}: PG {seed}: {a:?} -> {b:?}");
            }
        }
        let m = movement(&before, &after, pool).unwrap();
        assert!(m.moved > 0, "{case}");
        assert_eq!(
            m.moved_from.keys().collect::<Vec<_>>(),
            vec![&Some(out)],
            "{case}"
        );
    }
}

/// An out OSD's data spreads over the cluster instead of piling onto its host-mates (which
/// would push them towards full).
#[test]
fn an_out_osds_data_spreads_over_the_cluster() {
    for kind in [REP3, EC42] {
        let (before, pool) = map_with_pool(shape(1, 10, 4), kind, 4096, DomainType::Host);
        let out = OsdId(5); // on host-1 with osds 4, 6, 7
        let mut after = before.clone();
        commit(&mut after, vec![Change::OsdOut(out)]);
        let m = movement(&before, &after, pool).unwrap();
        let mates: u64 = [4, 6, 7]
            .iter()
            .map(|&id| m.moved_to.get(&Some(OsdId(id))).copied().unwrap_or(0))
            .sum();
        // A fair share for 3 of the 39 remaining OSDs is about 8%; all of it would be 100%.
        let share = mates as f64 / m.moved as f64;
        assert!(
            share < 0.2,
            "{kind:?}: host-mates took {:.0}% of the moved data",
            share * 100.0
        );
    }
}

#[test]
fn too_few_hosts_share_hosts_for_replicas_and_leave_holes_for_shards() {
    // One host with four OSDs: three copies on three distinct OSDs.
    let (map, pool) = map_with_pool(shape(1, 1, 4), REP3, 64, DomainType::Host);
    for set in all_sets(&map, pool) {
        let mut ids: Vec<_> = set.iter().map(|o| o.unwrap()).collect();
        ids.dedup();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3, "{set:?}");
    }
    // Four hosts for six shards: two holes per PG, the rest on distinct hosts.
    let (map, pool) = map_with_pool(shape(1, 4, 2), EC42, 64, DomainType::Host);
    for set in all_sets(&map, pool) {
        assert_eq!(set.len(), 6);
        assert_eq!(set.iter().filter(|o| o.is_none()).count(), 2, "{set:?}");
        let mut hosts: Vec<_> = set.iter().flatten().map(|o| host_of(&map, *o)).collect();
        hosts.sort();
        hosts.dedup();
        assert_eq!(hosts.len(), 4);
    }
}

#[test]
fn up_set_drops_or_holes_down_osds_and_pg_temp_overrides_acting() {
    let (mut map, rep) = map_with_pool(shape(1, 6, 2), REP3, 32, DomainType::Host);
    let ec = synth::add_pool(&mut map, EC42, 32, DomainType::Host).unwrap();
    let pg = placement::PgId { pool: rep, seed: 5 };
    let ec_pg = placement::PgId { pool: ec, seed: 5 };
    let crush = Placement::new(&map).crush_set(pg).unwrap();
    let ec_crush = Placement::new(&map).crush_set(ec_pg).unwrap();
    let down = crush[0].unwrap();
    let ec_down = ec_crush[2].unwrap();
    commit(
        &mut map,
        vec![Change::OsdDown(down), Change::OsdDown(ec_down)],
    );
    let placement = Placement::new(&map);

    let p = placement.map_pg(pg).unwrap();
    assert_eq!(
        p.up,
        crush[1..].to_vec(),
        "replicated: down OSD dropped, no replacement"
    );
    assert_eq!(p.acting, p.up);
    assert_eq!(p.primary, crush[1]);

    let e = placement.map_pg(ec_pg).unwrap();
    for (i, osd) in ec_crush.iter().enumerate() {
        let is_down = *osd == Some(down) || *osd == Some(ec_down);
        assert_eq!(
            e.up[i].is_none(),
            is_down,
            "erasure: a hole exactly where an OSD is down"
        );
    }
    assert_eq!(e.up.len(), 6);

    let temp: Vec<_> = crush.iter().rev().copied().collect();
    commit(
        &mut map,
        vec![Change::PgTempSet {
            pg,
            osds: temp.clone(),
        }],
    );
    let p = Placement::new(&map).map_pg(pg).unwrap();
    let temp_up: Vec<_> = temp.into_iter().filter(|o| *o != Some(down)).collect();
    assert_eq!(p.acting, temp_up);
    assert_eq!(p.primary, p.acting[0]);
    assert_eq!(p.up, crush[1..].to_vec());
}
