//! PG states as the primaries report them in their beacons (`shoal pg dump`). Pure: time is
//! an argument (`now`, time since an arbitrary origin), and the map comes in compiled.
//!
//! A report counts while it is fresh (younger than `ttl`) and its reporter is still the PG's
//! primary in the current map. Every other PG is [`UNKNOWN`], as Ceph shows a PG nobody has
//! reported, with the map's acting set.

use std::collections::BTreeMap;
use std::time::Duration;

use placement::{ClusterMap, Epoch, OsdId, PgId, Placement};
use rados::proto::mon::PgStatus;
use rados::proto::osd::Version;

/// The state of a PG that no current primary has reported recently.
pub const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone)]
struct Report {
    status: PgStatus,
    reporter: OsdId,
    at: Duration,
}

/// The latest report per PG. Soft state of the leader: not replicated, rebuilt from beacons.
#[derive(Debug, Clone)]
pub struct PgStates {
    ttl: Duration,
    reports: BTreeMap<PgId, Report>,
}

impl PgStates {
    /// Reports older than `ttl` no longer count.
    pub fn new(ttl: Duration) -> PgStates {
        PgStates {
            ttl,
            reports: BTreeMap::new(),
        }
    }

    /// Call on every beacon, with the current map compiled: keeps each status whose PG
    /// exists and whose primary is `reporter`, ignores the others. Returns how many it kept.
    pub fn handle_beacon(
        &mut self,
        now: Duration,
        placement: &Placement,
        reporter: OsdId,
        pgs: &[PgStatus],
    ) -> usize {
        let mut kept = 0;
        for status in pgs {
            if primary(placement, status.pg) == Some(reporter) {
                let report = Report {
                    status: status.clone(),
                    reporter,
                    at: now,
                };
                self.reports.insert(status.pg, report);
                kept += 1;
            }
        }
        kept
    }

    /// Call periodically and on becoming leader: drops reports that no longer count (stale,
    /// the PG is gone, or the reporter is no longer its primary).
    pub fn prune(&mut self, now: Duration, placement: &Placement) {
        let ttl = self.ttl;
        self.reports
            .retain(|pg, r| counts(r, now, ttl) && primary(placement, *pg) == Some(r.reporter));
    }

    /// Forgets every report (a new leader starts from the beacons it receives).
    pub fn clear(&mut self) {
        self.reports.clear();
    }

    /// Every PG of every pool in `map` (compiled as `placement`), in PG order: the reported
    /// status where a report counts, else [`UNKNOWN`] with the map's acting set (holes left
    /// out), since epoch 0 and last update 0'0.
    pub fn dump(&self, now: Duration, map: &ClusterMap, placement: &Placement) -> PgDumpView {
        let mut view = PgDumpView::default();
        for pool in map.pools.values() {
            for seed in 0..pool.pg_num {
                let pg = PgId {
                    pool: pool.id,
                    seed,
                };
                let Ok(mapped) = placement.map_pg(pg) else {
                    continue;
                };
                match self.reports.get(&pg) {
                    Some(r) if counts(r, now, self.ttl) && mapped.primary == Some(r.reporter) => {
                        view.reported += 1;
                        view.pgs.push(r.status.clone());
                    }
                    _ => view.pgs.push(PgStatus {
                        pg,
                        state: UNKNOWN.to_owned(),
                        acting: mapped.acting.iter().flatten().copied().collect(),
                        since: Epoch(0),
                        last_update: Version::ZERO,
                        objects: 0,
                        degraded: 0,
                        misplaced: 0,
                        scrub_errors: 0,
                    }),
                }
            }
        }
        view
    }
}

/// What [`PgStates::dump`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgDumpView {
    /// Every PG, in PG order.
    pub pgs: Vec<PgStatus>,
    /// How many of them carry a reported state (the rest are [`UNKNOWN`]).
    pub reported: usize,
}

fn counts(r: &Report, now: Duration, ttl: Duration) -> bool {
    now.saturating_sub(r.at) <= ttl
}

fn primary(placement: &Placement, pg: PgId) -> Option<OsdId> {
    placement.map_pg(pg).ok().and_then(|p| p.primary)
}

#[cfg(test)]
mod tests;
