//! Past intervals: the runs of map epochs during which a PG's acting set stayed the same.
//! Peering must hear from at least one member (k, erasure-coded) of every interval since the
//! PG was last clean that may have accepted writes; if fewer are up, the PG is down — it
//! waits rather than guess. Pure.

use std::collections::BTreeSet;

use placement::{Epoch, OsdId};
use serde::{Deserialize, Serialize};

/// A closed interval of epochs with one acting set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    /// First epoch of the interval.
    pub first: Epoch,
    /// Last epoch of the interval.
    pub last: Epoch,
    /// The acting set (up OSDs only).
    pub acting: Vec<OsdId>,
    /// Whether it had at least `min_size` members, so it may have gone active and
    /// accepted writes (conservative: a short interval that never peered counts too).
    pub maybe_went_rw: bool,
}

/// The current interval and the closed ones since the PG was last known clean.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastIntervals {
    current: Option<Current>,
    past: Vec<Interval>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Current {
    first: Epoch,
    last: Epoch,
    acting: Vec<OsdId>,
    up_from: Vec<Epoch>,
    primary: Option<OsdId>,
    min_size: usize,
    /// Erasure-coded: each shard position's holder (`None`: a hole). Empty for a
    /// replicated PG.
    #[serde(default)]
    positions: Vec<Option<OsdId>>,
}

/// Who peering must hear from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorSet {
    /// Up OSDs that may hold writes from a past interval.
    pub probe: BTreeSet<OsdId>,
    /// Intervals that may have accepted writes and have no member up: the PG is down.
    pub blocked_by: Vec<Interval>,
}

impl PastIntervals {
    /// Feeds one map epoch; returns whether it starts a new interval. `up_from` holds, for
    /// each acting member, the epoch it last booted: a member that restarted lost its
    /// volatile state, so its PGs must peer again even if the acting set looks the same.
    /// `positions` (erasure-coded; else empty): each shard position's holder. A member that
    /// moves to another position (the acting members unchanged) holds the wrong shard of
    /// everything now: that is a new interval too, as Ceph compares acting shards.
    pub fn observe(
        &mut self,
        epoch: Epoch,
        acting: &[OsdId],
        positions: &[Option<OsdId>],
        up_from: &[Epoch],
        primary: Option<OsdId>,
        min_size: usize,
    ) -> bool {
        if let Some(cur) = &mut self.current {
            if epoch <= cur.last {
                return false;
            }
            if cur.acting == acting
                && cur.positions == positions
                && cur.up_from == up_from
                && cur.primary == primary
                && cur.min_size == min_size
            {
                cur.last = epoch;
                return false;
            }
            let closed = Interval {
                first: cur.first,
                last: Epoch(epoch.0 - 1),
                acting: cur.acting.clone(),
                maybe_went_rw: !cur.acting.is_empty() && cur.acting.len() >= cur.min_size,
            };
            self.past.push(closed);
        }
        self.current = Some(Current {
            first: epoch,
            last: epoch,
            acting: acting.to_vec(),
            up_from: up_from.to_vec(),
            primary,
            min_size,
            positions: positions.to_vec(),
        });
        true
    }

    /// First epoch of the current interval.
    pub fn current_start(&self) -> Option<Epoch> {
        self.current.as_ref().map(|c| c.first)
    }

    /// The closed intervals, oldest first.
    pub fn past(&self) -> &[Interval] {
        &self.past
    }

    /// Every OSD that was acting in a closed interval since the PG was last known clean:
    /// those that may still keep its data outside the current acting set.
    pub fn past_members(&self) -> BTreeSet<OsdId> {
        self.past
            .iter()
            .flat_map(|i| i.acting.iter().copied())
            .collect()
    }

    /// Forgets intervals that ended before `epoch` (the PG was clean then).
    pub fn prune_before(&mut self, epoch: Epoch) {
        self.past.retain(|i| i.last >= epoch);
    }

    /// Who to probe, given the up OSDs and the newest epoch the PG is known clean at.
    /// `needed`: how many members of an interval must be up for what it wrote to be
    /// readable: one for a replicated PG, k for an erasure-coded one (each member held
    /// its own shard; with fewer than k, a write acknowledged then may be one no up OSD
    /// can rebuild, and a peering without it would roll it back, as Ceph's
    /// `IsPGRecoverablePredicate` decides).
    pub fn prior_set(
        &self,
        up_osds: &BTreeSet<OsdId>,
        clean_since: Epoch,
        needed: usize,
    ) -> PriorSet {
        let mut set = PriorSet::default();
        for interval in self.past.iter().filter(|i| i.last >= clean_since) {
            if !interval.maybe_went_rw {
                continue;
            }
            let alive: Vec<OsdId> = interval
                .acting
                .iter()
                .copied()
                .filter(|o| up_osds.contains(o))
                .collect();
            if alive.len() < needed.max(1) {
                set.blocked_by.push(interval.clone());
            }
            set.probe.extend(alive);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn osds(ids: &[u32]) -> Vec<OsdId> {
        ids.iter().map(|i| OsdId(*i)).collect()
    }

    #[test]
    fn a_write_interval_with_every_member_down_blocks_peering() {
        let mut pi = PastIntervals::default();
        assert!(pi.observe(Epoch(1), &osds(&[0, 1, 2]), &[], &[], Some(OsdId(0)), 2));
        assert!(!pi.observe(Epoch(2), &osds(&[0, 1, 2]), &[], &[], Some(OsdId(0)), 2));
        assert!(pi.observe(Epoch(3), &osds(&[0, 1]), &[], &[], Some(OsdId(0)), 2));
        assert!(pi.observe(Epoch(4), &osds(&[0]), &[], &[], Some(OsdId(0)), 2));
        assert!(pi.observe(Epoch(5), &osds(&[2]), &[], &[], Some(OsdId(2)), 2));
        let up: BTreeSet<OsdId> = osds(&[2]).into_iter().collect();
        let prior = pi.prior_set(&up, Epoch(0), 1);
        // [0,1] (epochs 3..3) could have taken writes 2 never saw; [0] could not.
        assert_eq!(prior.blocked_by.len(), 1);
        assert_eq!(prior.blocked_by[0].acting, osds(&[0, 1]));
        // Once 1 is back it is probed and nothing blocks.
        let up: BTreeSet<OsdId> = osds(&[1, 2]).into_iter().collect();
        let prior = pi.prior_set(&up, Epoch(0), 1);
        assert!(prior.blocked_by.is_empty());
        assert!(prior.probe.contains(&OsdId(1)));
        // Every member of a closed interval may still keep data, whether or not it could
        // have taken writes; the current interval's are not "past".
        let members: Vec<OsdId> = pi.past_members().into_iter().collect();
        assert_eq!(members, osds(&[0, 1, 2]));
        // Erasure-coded: the same members in other positions are another interval.
        let mut ec = PastIntervals::default();
        let at = |v: &[Option<u32>]| v.iter().map(|o| o.map(OsdId)).collect::<Vec<_>>();
        let (a, b) = (at(&[Some(0), None, Some(1)]), at(&[Some(0), Some(1), None]));
        assert!(ec.observe(Epoch(1), &osds(&[0, 1]), &a, &[], Some(OsdId(0)), 2));
        assert!(!ec.observe(Epoch(2), &osds(&[0, 1]), &a, &[], Some(OsdId(0)), 2));
        assert!(ec.observe(Epoch(3), &osds(&[0, 1]), &b, &[], Some(OsdId(0)), 2));
        // Erasure-coded with k = 2: [0,1] needs both of its shards' holders up.
        assert_eq!(pi.prior_set(&up, Epoch(0), 2).blocked_by.len(), 1);
        let up: BTreeSet<OsdId> = osds(&[0, 1, 2]).into_iter().collect();
        assert!(pi.prior_set(&up, Epoch(0), 2).blocked_by.is_empty());
        // Known clean at epoch 5: nothing before matters.
        pi.prune_before(Epoch(5));
        assert!(pi.past().is_empty());
        assert!(pi.past_members().is_empty());
    }
}
