//! Backfill decisions, pure: which PGs this OSD must backfill and in what order, and the
//! bandwidth cap. The shell (`daemon::backfill`) copies the objects.
//!
//! A PG needs backfill when this OSD is its primary behind a pg_temp and its up set has
//! members outside the acting set (erasure-coded: per shard position, each fed by the
//! position's old holder). Degraded PGs (fewer acting copies than the pool's size)
//! go first: they are one failure closer to losing data than merely misplaced ones.

use std::time::Duration;

use placement::{Epoch, OsdId, PgId};

use crate::pg::Mapping;

/// A PG to backfill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The PG.
    pub pg: PgId,
    /// Whether it has fewer acting copies than its pool's size.
    pub degraded: bool,
    /// Up members that are not acting: they receive the copies.
    pub targets: Vec<Target>,
}

/// One new member and where its copies come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The new member.
    pub osd: OsdId,
    /// The member that sends it every object: the primary (replicated), or the old holder
    /// of the shard position it takes (erasure-coded: that holder's objects are exactly the
    /// shard it needs).
    pub source: OsdId,
}

impl Job {
    /// The job for `pg` as mapped by `m`, if this OSD (`me`) must backfill it.
    pub fn of(pg: PgId, m: &Mapping, me: OsdId) -> Option<Job> {
        if m.primary() != Some(me) {
            return None;
        }
        let targets: Vec<Target> = match &m.ec {
            None => {
                m.up.iter()
                    .filter(|o| !m.acting.contains(o))
                    .map(|o| Target {
                        osd: *o,
                        source: me,
                    })
                    .collect()
            }
            // A new member already acting at another position is not sent this one's
            // shard over the one it serves: recovery decodes it there once the pg_temp
            // clears.
            Some(ec) => ec
                .backfill_targets()
                .filter_map(|(osd, held)| held.map(|source| Target { osd, source }))
                .collect(),
        };
        let degraded = m.acting.len() < m.size;
        (!targets.is_empty()).then_some(Job {
            pg,
            degraded,
            targets,
        })
    }
}

/// Orders jobs: degraded first, then by PG (a stable order, so a restarted scheduler picks
/// the same ones).
pub fn order(mut jobs: Vec<Job>) -> Vec<Job> {
    jobs.sort_by_key(|j| (!j.degraded, j.pg));
    jobs
}

/// A token bucket over bytes: at most `rate` bytes per second on average, bursts up to one
/// second's worth. Time is passed in.
#[derive(Clone, Debug)]
pub struct Bandwidth {
    rate: u64,
    tokens: f64,
    last: Duration,
}

impl Bandwidth {
    /// A full bucket at `now`; `rate` 0 means unlimited.
    pub fn new(rate: u64, now: Duration) -> Bandwidth {
        Bandwidth {
            rate,
            tokens: rate as f64,
            last: now,
        }
    }

    /// Changes the rate (a runtime setting change); keeps the tokens it has, up to the new
    /// burst size.
    pub fn set_rate(&mut self, rate: u64) {
        self.rate = rate;
        self.tokens = self.tokens.min(rate as f64);
    }

    /// Takes `bytes` at `now`; returns how long the caller must wait before sending them.
    /// An object larger than the burst is let through once the bucket is full, so the wait
    /// stays proportional to its size.
    pub fn take(&mut self, bytes: u64, now: Duration) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let rate = self.rate as f64;
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use placement::{Epoch, PoolId};

    use super::*;

    fn mapping(up: &[u32], acting: &[u32]) -> Mapping {
        Mapping {
            epoch: Epoch(5),
            up_from: acting.iter().map(|_| Epoch(1)).collect(),
            up: up.iter().map(|o| OsdId(*o)).collect(),
            acting: acting.iter().map(|o| OsdId(*o)).collect(),
            size: 3,
            min_size: 2,
            up_osds: (0..6).map(OsdId).collect(),
            ec: None,
        }
    }

    fn pg(seed: u32) -> PgId {
        PgId {
            pool: PoolId(1),
            seed,
        }
    }

    #[test]
    fn only_the_acting_primary_backfills_the_new_members() {
        let m = mapping(&[3, 1, 2], &[0, 1, 2]);
        let job = Job::of(pg(0), &m, OsdId(0)).unwrap();
        let target = Target {
            osd: OsdId(3),
            source: OsdId(0),
        };
        assert_eq!(job.targets, vec![target]);
        assert!(!job.degraded);
        assert_eq!(Job::of(pg(0), &m, OsdId(1)), None, "not the primary");
        let clean = mapping(&[0, 1, 2], &[0, 1, 2]);
        assert_eq!(Job::of(pg(0), &clean, OsdId(0)), None, "nothing to move");
    }

    #[test]
    fn erasure_coded_targets_are_fed_by_the_old_holder_of_their_position() {
        let l = crate::ec::Layout {
            k: 2,
            m: 1,
            stripe_unit: 8,
        };
        let held = [Some(0), Some(1), Some(2)];
        let crush = [Some(0), Some(4), Some(1)];
        let osds = |s: &[Option<u32>]| s.iter().map(|o| o.map(OsdId)).collect::<Vec<_>>();
        let mut m = mapping(&[0, 4, 1], &[0, 1, 2]);
        m.ec = Some(crate::pg::types::EcMapping {
            layout: l,
            shards: osds(&held),
            up: osds(&crush),
        });
        let job = Job::of(pg(0), &m, OsdId(0)).unwrap();
        // osd.4 takes position 1 from osd.1; osd.1 moves to position 2 but serves 1 now,
        // so it gets its new shard by decoding later, never over the one it serves.
        let target = Target {
            osd: OsdId(4),
            source: OsdId(1),
        };
        assert_eq!(job.targets, vec![target]);
    }

    #[test]
    fn degraded_pgs_come_first() {
        let misplaced = Job::of(pg(1), &mapping(&[3, 1, 2], &[0, 1, 2]), OsdId(0)).unwrap();
        let degraded = Job::of(pg(7), &mapping(&[3, 1, 0], &[0, 1]), OsdId(0)).unwrap();
        assert!(degraded.degraded);
        let jobs = order(vec![misplaced.clone(), degraded.clone()]);
        assert_eq!(jobs, vec![degraded, misplaced]);
    }

    #[test]
    fn bandwidth_averages_to_the_rate() {
        let mut bw = Bandwidth::new(1000, Duration::ZERO);
        let mut now = Duration::ZERO;
        // 10 KB in 100-byte pieces at 1 KB/s: about 9 s after the first second's burst.
        for _ in 0..100 {
            now += bw.take(100, now);
        }
        let secs = now.as_secs_f64();
        assert!((8.9..=9.1).contains(&secs), "{secs}");
        // Unlimited never waits; a lowered rate applies at once.
        let mut free = Bandwidth::new(0, Duration::ZERO);
        assert_eq!(free.take(1 << 30, Duration::ZERO), Duration::ZERO);
        bw.set_rate(10);
        assert!(bw.take(100, now) >= Duration::from_secs(9));
    }
}

/// A PG's backfill as `shoal pg dump` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The interval it belongs to.
    pub interval: Epoch,
    /// Copying now (else waiting for a slot, or done).
    pub running: bool,
    /// Every object copied to every target.
    pub done: bool,
    /// Objects copied to every target.
    pub copied: u64,
    /// Objects to copy.
    pub total: u64,
    /// Targets.
    pub targets: u64,
}

impl Progress {
    /// Object copies still to be made.
    pub fn misplaced(&self) -> u64 {
        self.total.saturating_sub(self.copied) * self.targets
    }
}
