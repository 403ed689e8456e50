//! Cluster health from the map and the quorum: HEALTH_OK / HEALTH_WARN / HEALTH_ERR with
//! named checks, as Ceph reports them. Pure: later issues add checks from OSD reports.

use placement::{ClusterMap, PgId, Placement};
use rados::proto::mon::{HealthCheck, PgSummary, QuorumStatus};

const WARN: &str = "HEALTH_WARN";
/// Detail lines kept per check; the rest are summarized, as `ceph health detail` does.
const MAX_DETAIL: usize = 20;
const ERR: &str = "HEALTH_ERR";

/// The overall status string, the checks that raised it, and PG counts.
pub fn evaluate(map: &ClusterMap, quorum: &QuorumStatus) -> (String, Vec<HealthCheck>, PgSummary) {
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

    // PG availability from the map alone: acting sets below size (degraded) or below
    // min_size (inactive). OSD-reported PG states refine this once OSDs exist.
    let placement = Placement::new(map);
    let (mut degraded, mut inactive) = (Vec::new(), Vec::new());
    let mut pgs = PgSummary::default();
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
            pgs.total += 1;
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
    pgs.inactive = inactive.len() as u64;
    pgs.degraded = degraded.len() as u64;
    pgs.clean = pgs.total - pgs.inactive - pgs.degraded;
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

    let status = if checks.iter().any(|c| c.severity == ERR) {
        ERR
    } else if checks.is_empty() {
        "HEALTH_OK"
    } else {
        WARN
    };
    (status.to_owned(), checks, pgs)
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
        let (status, _, pgs) = evaluate(&map, &quorum([true; 3]));
        assert_eq!(status, "HEALTH_OK");
        assert_eq!((pgs.total, pgs.clean), (8, 8));
        assert_eq!(
            evaluate(&ClusterMap::new(Fsid([0; 16])), &quorum([true; 3])).0,
            "HEALTH_OK"
        );

        let (status, checks, _) = evaluate(&map, &quorum([true, true, false]));
        assert_eq!(status, "HEALTH_WARN");
        assert_eq!(checks[0].code, "MON_DOWN");

        let inc = map.next_incremental(vec![Change::OsdDown(OsdId(1))]);
        map.apply(&inc).unwrap();
        let (status, checks, pgs) = evaluate(&map, &quorum([true; 3]));
        assert_eq!(status, "HEALTH_WARN");
        assert_eq!(pgs.degraded, 8);
        let codes: Vec<&str> = checks.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["OSD_DOWN", "PG_DEGRADED"]);
        assert_eq!(checks[0].detail, ["osd.1 (host-1) is down"]);

        let inc = map.next_incremental(vec![Change::OsdDown(OsdId(2))]);
        map.apply(&inc).unwrap();
        let (status, checks, pgs) = evaluate(&map, &quorum([true; 3]));
        assert_eq!(status, "HEALTH_ERR");
        assert_eq!(pgs.inactive, 8);
        assert!(checks.iter().any(|c| c.code == "PG_AVAILABILITY"));
    }
}
