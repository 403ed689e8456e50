//! Distribution and movement statistics of a pool's placement, as `crushtool --test` reports
//! them. Used by `shoal crush test` and the property tests.

use std::collections::BTreeMap;

use crate::error::PlacementError;
use crate::ids::{OsdId, PoolId};
use crate::map::ClusterMap;
use crate::placement::Placement;

/// PG slots held by each placeable OSD, and how many it should hold by weight.
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution {
    /// `(slots held, slots expected)` per OSD that is in with non-zero weight; the filled
    /// slots are expected to split by weight.
    pub per_osd: BTreeMap<OsdId, (u64, f64)>,
    /// Largest `|held - expected| / expected`, in percent.
    pub max_deviation_pct: f64,
    /// Positions no OSD could fill (erasure pools with too few failure domains).
    pub holes: u64,
}

/// Counts each OSD's PG slots in `pool` at `map`'s epoch.
pub fn distribution(map: &ClusterMap, pool: PoolId) -> Result<Distribution, PlacementError> {
    let sets = Placement::new(map).pool_crush_sets(pool)?;
    let placeable: Vec<_> = map.osds.values().filter(|o| o.is_placeable()).collect();
    let total_weight: f64 = placeable.iter().map(|o| o.weight.as_f64()).sum();
    let holes = sets.iter().flatten().filter(|o| o.is_none()).count();
    let slots = (sets.iter().map(Vec::len).sum::<usize>() - holes) as f64;
    let mut per_osd: BTreeMap<OsdId, (u64, f64)> = placeable
        .iter()
        .map(|o| (o.id, (0, slots * o.weight.as_f64() / total_weight)))
        .collect();
    for id in sets.iter().flatten().flatten() {
        per_osd.entry(*id).or_insert((0, 0.0)).0 += 1;
    }
    let max_deviation_pct = per_osd
        .values()
        .filter(|(_, want)| *want > 0.0)
        .map(|&(got, want)| (got as f64 - want).abs() / want * 100.0)
        .fold(0.0, f64::max);
    Ok(Distribution {
        per_osd,
        max_deviation_pct,
        holes: holes as u64,
    })
}

/// How a pool's placement changed between two epochs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Movement {
    /// PG slots in all (PGs x positions).
    pub slots: u64,
    /// Slots whose data must move. Replicated: members of the new set not in the old (order
    /// changes move nothing). Erasure: positions whose OSD changed.
    pub moved: u64,
    /// Moved slots, by the OSD they moved onto (`None`: the slot became a hole).
    pub moved_to: BTreeMap<Option<OsdId>, u64>,
    /// Moved slots, by the OSD they left (`None`: the slot was a hole).
    pub moved_from: BTreeMap<Option<OsdId>, u64>,
    /// PGs with at least one moved slot.
    pub pgs_changed: u64,
}

impl Movement {
    /// Moved slots as a fraction of all slots.
    pub fn fraction(&self) -> f64 {
        if self.slots == 0 {
            0.0
        } else {
            self.moved as f64 / self.slots as f64
        }
    }
}

/// Compares `pool`'s CRUSH placement at `before` and `after`.
pub fn movement(
    before: &ClusterMap,
    after: &ClusterMap,
    pool: PoolId,
) -> Result<Movement, PlacementError> {
    let erasure = Placement::new(before).pool(pool)?.is_erasure();
    let old = Placement::new(before).pool_crush_sets(pool)?;
    let new = Placement::new(after).pool_crush_sets(pool)?;
    let mut m = Movement::default();
    for (old, new) in old.iter().zip(&new) {
        m.slots += new.len().max(old.len()) as u64;
        let changed: Vec<(Option<OsdId>, Option<OsdId>)> = if erasure {
            old.iter()
                .zip(new)
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (*a, *b))
                .collect()
        } else {
            let mut gone = old.iter().filter(|o| !new.contains(o)).copied();
            new.iter()
                .filter(|o| !old.contains(o))
                .map(|to| (gone.next().flatten(), *to))
                .collect()
        };
        if !changed.is_empty() {
            m.pgs_changed += 1;
        }
        for (from, to) in changed {
            m.moved += 1;
            *m.moved_to.entry(to).or_default() += 1;
            *m.moved_from.entry(from).or_default() += 1;
        }
    }
    Ok(m)
}
