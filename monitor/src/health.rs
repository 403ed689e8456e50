//! Cluster health from the map, the quorum and the PG states the primaries report:
//! HEALTH_OK / HEALTH_WARN / HEALTH_ERR with named checks, as Ceph reports them. Pure.

use std::collections::BTreeMap;

use placement::{ClusterMap, PgId, Placement};
use rados::proto::mon::{HealthCheck, PgStatus, PgSummary, QuorumStatus};

const WARN: &str = "HEALTH_WARN";
/// Detail lines kept per check; the rest are summarized, as `ceph health detail` does.
const MAX_DETAIL: usize = 20;
const ERR: &str = "HEALTH_ERR";

/// The overall status string, the checks that raised it, and PG counts.
///
/// `reported` is every PG with its state (`pg dump`: reported, or `unknown`); pass `None`
/// while no OSD has reported any, and PG health is derived from the map alone.
pub fn evaluate(
    map: &ClusterMap,
    quorum: &QuorumStatus,
    reported: Option<&[PgStatus]>,
) -> (String, Vec<HealthCheck>, PgSummary) {
    let mut checks = Vec::new();
    let mut check = |code: &str, severity: &str, summary: String, mut detail: Vec<String>| {
        if detail.len() > MAX_DETAIL {
            let more = detail.len() - MAX_DETAIL;
            detail.truncate(MAX_DETAIL);
            detail.push(format!("... and {more} more"));
        }
        checks.push(HealthCheck {
            code: code.into(),
            severity: severity.into(),
            summary,
            detail,
        })
    };

    let down: Vec<String> = map
        .osds
        .values()
        .filter(|o| !o.up && o.is_in)
        .map(|o| format!("osd.{} ({}) is down", o.id.0, o.location.host))
        .collect();
    if !down.is_empty() {
        check("OSD_DOWN", WARN, format!("{} osds down", down.len()), down);
    }

    let absent: Vec<String> = quorum
        .mons
        .iter()
        .filter(|m| !m.in_quorum)
        .map(|m| format!("mon.{} ({}) is out of quorum", m.id, m.addr))
        .collect();
    if !absent.is_empty() {
        check(
            "MON_DOWN",
            WARN,
            format!("{}/{} mons down", absent.len(), quorum.mons.len()),
            absent,
        );
    }

    if !map.flags.is_empty() {
        let names: Vec<&str> = map.flags.iter().map(|f| f.name()).collect();
        check(
            "OSDMAP_FLAGS",
            WARN,
            format!("{} flag(s) set", names.join(",")),
            vec![],
        );
    }

    let (total, inactive, degraded) = match reported {
        Some(pgs) => pg_problems_reported(pgs),
        None => pg_problems_from_map(map),
    };
    let pgs = PgSummary {
        total,
        clean: total - inactive.len() as u64 - degraded.len() as u64,
        degraded: degraded.len() as u64,
        inactive: inactive.len() as u64,
    };
    if !inactive.is_empty() {
        check(
            "PG_AVAILABILITY",
            ERR,
            format!("Reduced data availability: {} pgs inactive", inactive.len()),
            inactive,
        );
    }
    if !degraded.is_empty() {
        check(
            "PG_DEGRADED",
            WARN,
            format!("Degraded data redundancy: {} pgs degraded", degraded.len()),
            degraded,
        );
    }

    if let Some(pgs) = reported {
        scrub_checks(pgs, &mut check);
    }

    let status = if checks.iter().any(|c| c.severity == ERR) {
        ERR
    } else if checks.is_empty() {
        "HEALTH_OK"
    } else {
        WARN
    };
    (status.to_owned(), checks, pgs)
}

/// `OSD_SCRUB_ERRORS` (bad copies counted by the primaries' last scrubs) and
/// `PG_INCONSISTENT` (PGs whose last scrub found any), both errors as in Ceph: a bad copy
/// is data at risk until repaired.
fn scrub_checks(pgs: &[PgStatus], check: &mut impl FnMut(&str, &str, String, Vec<String>)) {
    let inconsistent: Vec<&PgStatus> = pgs.iter().filter(|s| s.scrub_errors > 0).collect();
    if inconsistent.is_empty() {
        return;
    }
    let errors: u64 = inconsistent.iter().map(|s| s.scrub_errors).sum();
    check(
        "OSD_SCRUB_ERRORS",
        ERR,
        format!("{errors} scrub errors"),
        vec![],
    );
    let detail = inconsistent
        .iter()
        .map(|s| {
            let acting: Vec<String> = s.acting.iter().map(|o| o.0.to_string()).collect();
            format!(
                "pg {} is {}, acting [{}], {} scrub errors",
                s.pg,
                s.state,
                acting.join(","),
                s.scrub_errors
            )
        })
        .collect();
    check(
        "PG_INCONSISTENT",
        ERR,
        format!(
            "Possible data damage: {} pgs inconsistent",
            inconsistent.len()
        ),
        detail,
    );
}

/// What a PG's state string means for health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PgClass {
    /// Serving I/O with every copy.
    Clean,
    /// Serving I/O with fewer copies than it should have (`degraded`, `undersized`).
    Degraded,
    /// Not serving I/O: not `active`, or `down`, `peering`, `incomplete`, `unknown`, `stale`.
    Inactive,
}

fn classify(state: &str) -> PgClass {
    let has = |part: &str| state.split('+').any(|p| p == part);
    let blocked = ["down", "peering", "incomplete", "unknown", "stale"];
    if !has("active") || blocked.iter().any(|p| has(p)) {
        PgClass::Inactive
    } else if has("degraded") || has("undersized") {
        PgClass::Degraded
    } else {
        PgClass::Clean
    }
}

/// PG counts by state string, e.g. `{"active+clean": 60, "unknown": 4}`.
pub fn count_states(pgs: &[PgStatus]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for pg in pgs {
        *counts.entry(pg.state.clone()).or_default() += 1;
    }
    counts
}

/// PGs in all, and inactive and degraded PGs (detail lines) by their reported states.
fn pg_problems_reported(pgs: &[PgStatus]) -> (u64, Vec<String>, Vec<String>) {
    let (mut inactive, mut degraded) = (Vec::new(), Vec::new());
    for s in pgs {
        let acting: Vec<String> = s.acting.iter().map(|o| o.0.to_string()).collect();
        let line = format!("pg {} is {}, acting [{}]", s.pg, s.state, acting.join(","));
        match classify(&s.state) {
            PgClass::Inactive => inactive.push(line),
            PgClass::Degraded => degraded.push(line),
            PgClass::Clean => {}
        }
    }
    (pgs.len() as u64, inactive, degraded)
}

/// PGs in all, and inactive and degraded PGs (detail lines) from the map alone: acting
/// sets below `min_size` (inactive) or below `size` (degraded).
fn pg_problems_from_map(map: &ClusterMap) -> (u64, Vec<String>, Vec<String>) {
    let placement = Placement::new(map);
    let (mut total, mut degraded, mut inactive) = (0, Vec::new(), Vec::new());
    for pool in map.pools.values() {
        for seed in 0..pool.pg_num {
            let pg = PgId {
                pool: pool.id,
                seed,
            };
            let Ok(p) = placement.map_pg(pg) else {
                continue;
            };
            let acting = p.acting.iter().flatten().count();
            total += 1;
            if acting < pool.min_size() {
                inactive.push(format!(
                    "pg {pg} is inactive ({acting} of {} OSDs)",
                    pool.size()
                ));
            } else if acting < pool.size() {
                degraded.push(format!(
                    "pg {pg} is degraded ({acting} of {} OSDs)",
                    pool.size()
                ));
            }
        }
    }
    (total, inactive, degraded)
}

#[cfg(test)]
mod tests {
    use placement::synth::{self, Shape};
    use placement::{Change, DomainType, Fsid, OsdId, PoolKind};
    use rados::proto::mon::MonInfo;

    use super::*;

    fn quorum(in_quorum: [bool; 3]) -> QuorumStatus {
        QuorumStatus {
            mons: (0..3)
                .map(|i| MonInfo {
                    id: i,
                    addr: format!("127.0.0.1:{}", 6789 + i).parse().unwrap(),
                    in_quorum: in_quorum[i as usize],
                })
                .collect(),
            leader: Some(0),
            term: 1,
            answered_by: 0,
        }
    }

    #[test]
    fn reports_ok_warn_and_err_with_named_checks() {
        let shape = Shape {
            zones: 1,
            hosts: 3,
            osds_per_host: 1,
        };
        let mut map = synth::map(shape);
        let rep = PoolKind::Replicated {
            size: 3,
            min_size: 2,
        };
        synth::add_pool(&mut map, rep, 8, DomainType::Host).unwrap();
        let (status, _, pgs) = evaluate(&map, &quorum([true; 3]), None);
        assert_eq!(status, "HEALTH_OK");
        assert_eq!((pgs.total, pgs.clean), (8, 8));
        assert_eq!(
            evaluate(&ClusterMap::new(Fsid([0; 16])), &quorum([true; 3]), None).0,
            "HEALTH_OK"
        );

        let (status, checks, _) = evaluate(&map, &quorum([true, true, false]), None);
        assert_eq!(status, "HEALTH_WARN");
        assert_eq!(checks[0].code, "MON_DOWN");

        let inc = map.next_incremental(vec![Change::OsdDown(OsdId(1))]);
        map.apply(&inc).unwrap();
        let (status, checks, pgs) = evaluate(&map, &quorum([true; 3]), None);
        assert_eq!(status, "HEALTH_WARN");
        assert_eq!(pgs.degraded, 8);
        let codes: Vec<&str> = checks.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["OSD_DOWN", "PG_DEGRADED"]);
        assert_eq!(checks[0].detail, ["osd.1 (host-1) is down"]);

        let inc = map.next_incremental(vec![Change::OsdDown(OsdId(2))]);
        map.apply(&inc).unwrap();
        let (status, checks, pgs) = evaluate(&map, &quorum([true; 3]), None);
        assert_eq!(status, "HEALTH_ERR");
        assert_eq!(pgs.inactive, 8);
        assert!(checks.iter().any(|c| c.code == "PG_AVAILABILITY"));
    }

    fn reported(states: &[&str]) -> Vec<PgStatus> {
        states
            .iter()
            .enumerate()
            .map(|(seed, state)| PgStatus {
                pg: PgId {
                    pool: placement::PoolId(1),
                    seed: seed as u32,
                },
                state: (*state).into(),
                acting: vec![OsdId(0), OsdId(1)],
                since: placement::Epoch(2),
                last_update: rados::proto::osd::Version::ZERO,
                objects: 0,
                degraded: 0,
                misplaced: 0,
                scrub_errors: 0,
            })
            .collect()
    }

    #[test]
    fn scrub_errors_raise_health_err_with_the_inconsistent_pgs() {
        let map = ClusterMap::new(Fsid([0; 16]));
        let q = quorum([true; 3]);
        let mut pgs = reported(&["active+clean+inconsistent", "active+clean", "active+clean"]);
        pgs[0].scrub_errors = 2;
        pgs[2].scrub_errors = 1;
        let (status, checks, summary) = evaluate(&map, &q, Some(&pgs));
        assert_eq!(status, "HEALTH_ERR");
        let codes: Vec<&str> = checks.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["OSD_SCRUB_ERRORS", "PG_INCONSISTENT"]);
        assert_eq!(checks[0].summary, "3 scrub errors");
        assert_eq!(
            checks[1].summary,
            "Possible data damage: 2 pgs inconsistent"
        );
        assert_eq!(
            checks[1].detail,
            [
                "pg 1.0 is active+clean+inconsistent, acting [0,1], 2 scrub errors",
                "pg 1.2 is active+clean, acting [0,1], 1 scrub errors"
            ]
        );
        assert_eq!(summary.clean, 3, "inconsistent PGs still serve");
        pgs[0].scrub_errors = 0;
        pgs[2].scrub_errors = 0;
        assert_eq!(evaluate(&map, &q, Some(&pgs)).0, "HEALTH_OK");
    }

    #[test]
    fn reported_states_decide_pg_health() {
        let map = ClusterMap::new(Fsid([0; 16]));
        let q = quorum([true; 3]);
        let clean = reported(&["active+clean", "active+clean+remapped"]);
        let (status, checks, pgs) = evaluate(&map, &q, Some(&clean));
        assert_eq!((status.as_str(), checks.len()), ("HEALTH_OK", 0));
        assert_eq!((pgs.total, pgs.clean), (2, 2));

        let some = reported(&[
            "active+undersized+degraded",
            "active+clean",
            "active+recovering",
        ]);
        let (status, checks, pgs) = evaluate(&map, &q, Some(&some));
        assert_eq!(status, "HEALTH_WARN");
        assert_eq!(checks[0].code, "PG_DEGRADED");
        assert_eq!(
            checks[0].detail,
            ["pg 1.0 is active+undersized+degraded, acting [0,1]"]
        );
        assert_eq!((pgs.degraded, pgs.clean), (1, 2));

        for blocked in [
            "unknown",
            "peering",
            "down",
            "incomplete",
            "stale+active+clean",
        ] {
            let (status, checks, pgs) =
                evaluate(&map, &q, Some(&reported(&[blocked, "active+clean"])));
            assert_eq!(status, "HEALTH_ERR", "{blocked}");
            assert_eq!(checks[0].code, "PG_AVAILABILITY", "{blocked}");
            assert_eq!((pgs.inactive, pgs.clean), (1, 1), "{blocked}");
        }
        let peered = reported(&["undersized+degraded+peered"]);
        assert_eq!(
            evaluate(&map, &q, Some(&peered)).2.inactive,
            1,
            "not active"
        );
        assert_eq!(
            count_states(&reported(&["unknown", "active+clean", "unknown"])),
            BTreeMap::from([("active+clean".into(), 1), ("unknown".into(), 2)])
        );
    }
}
