//! Recovery progress for `shoal status`, pure (time passed in): rates from the OSDs'
//! cumulative copy counters in successive beacons, and degraded / misplaced object copies
//! from the PG states their primaries report.

use std::collections::BTreeMap;
use std::time::Duration;

use placement::OsdId;
use rados::proto::mon::PgStatus;

/// A rate older than this no longer counts (its OSD stopped beaconing).
const WINDOW: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Duration,
    objects: u64,
    bytes: u64,
}

#[derive(Clone, Copy, Debug)]
struct Rate {
    at: Duration,
    objects_per_sec: f64,
    bytes_per_sec: f64,
}

/// Per-OSD recovery rates.
#[derive(Debug, Default)]
pub struct RecoveryRates {
    last: BTreeMap<OsdId, Sample>,
    rates: BTreeMap<OsdId, Rate>,
}

impl RecoveryRates {
    /// An OSD reported `objects` and `bytes` copied since it started.
    pub fn observe(&mut self, now: Duration, osd: OsdId, objects: u64, bytes: u64) {
        let sample = Sample {
            at: now,
            objects,
            bytes,
        };
        if let Some(prev) = self.last.insert(osd, sample) {
            let dt = now.saturating_sub(prev.at).as_secs_f64();
            // A restarted OSD counts from zero again: no rate from that pair.
            if dt > 0.0 && objects >= prev.objects && bytes >= prev.bytes {
                self.rates.insert(
                    osd,
                    Rate {
                        at: now,
                        objects_per_sec: (objects - prev.objects) as f64 / dt,
                        bytes_per_sec: (bytes - prev.bytes) as f64 / dt,
                    },
                );
            }
        }
    }

    /// Cluster-wide (objects/s, bytes/s) at `now`.
    pub fn total(&self, now: Duration) -> (f64, f64) {
        self.rates
            .values()
            .filter(|r| now.saturating_sub(r.at) <= WINDOW)
            .fold((0.0, 0.0), |(o, b), r| {
                (o + r.objects_per_sec, b + r.bytes_per_sec)
            })
    }
}

/// What `shoal status` shows about recovery.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Recovery {
    /// Object copies missing from acting sets.
    pub degraded: u64,
    /// Object copies still to be backfilled.
    pub misplaced: u64,
    /// Copies per second.
    pub objects_per_sec: f64,
    /// Bytes per second.
    pub bytes_per_sec: f64,
    /// Seconds left at the current rate, when there is work and a rate.
    pub eta_secs: Option<u64>,
}

/// Sums the PGs' degraded and misplaced copies and estimates the time left.
pub fn summarize(pgs: &[PgStatus], (objects_per_sec, bytes_per_sec): (f64, f64)) -> Recovery {
    let degraded = pgs.iter().map(|p| p.degraded).sum();
    let misplaced = pgs.iter().map(|p| p.misplaced).sum();
    let work = degraded + misplaced;
    let eta_secs =
        (work > 0 && objects_per_sec > 0.0).then(|| (work as f64 / objects_per_sec).ceil() as u64);
    Recovery {
        degraded,
        misplaced,
        objects_per_sec,
        bytes_per_sec,
        eta_secs,
    }
}

#[cfg(test)]
mod tests {
    use placement::{Epoch, PgId, PoolId};
    use rados::proto::osd::Version;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn rates_come_from_successive_counters_and_expire() {
        let mut r = RecoveryRates::default();
        r.observe(secs(0), OsdId(1), 0, 0);
        r.observe(secs(2), OsdId(1), 20, 2000);
        r.observe(secs(1), OsdId(2), 5, 500);
        r.observe(secs(2), OsdId(2), 10, 1000);
        assert_eq!(r.total(secs(3)), (15.0, 1500.0));
        // osd.2 restarted: its counter went back; its old rate stands until it expires.
        r.observe(secs(4), OsdId(2), 1, 10);
        assert_eq!(r.total(secs(5)), (15.0, 1500.0));
        assert_eq!(r.total(secs(30)), (0.0, 0.0));
    }

    #[test]
    fn the_estimate_divides_the_work_left_by_the_rate() {
        let pg = |degraded, misplaced| PgStatus {
            pg: PgId {
                pool: PoolId(1),
                seed: 0,
            },
            state: "active".into(),
            acting: vec![],
            since: Epoch(1),
            last_update: Version::ZERO,
            objects: 10,
            degraded,
            misplaced,
            scrub_errors: 0,
        };
        let s = summarize(&[pg(10, 0), pg(0, 25)], (7.0, 700.0));
        assert_eq!((s.degraded, s.misplaced, s.eta_secs), (10, 25, Some(5)));
        assert_eq!(summarize(&[pg(10, 0)], (0.0, 0.0)).eta_secs, None);
        assert_eq!(summarize(&[], (5.0, 1.0)).eta_secs, None);
    }
}
