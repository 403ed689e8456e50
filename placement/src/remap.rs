//! pg_temp bookkeeping for a map change: when OSDs go out, come in, join or change weight,
//! the PGs whose CRUSH set changes keep being served by their old holders (a pg_temp) while
//! the new members backfill. A PG's primary clears the entry once they hold its data.
//!
//! Only CRUSH-set changes count: an OSD that merely goes down or comes back up keeps its
//! slots, and catches up by log recovery inside the acting set, which is far cheaper.
//! Erasure-coded pools keep their old holders position by position (see `erasure_changes`).

use std::collections::BTreeSet;

use crate::error::MapError;
use crate::ids::{OsdId, PgId};
use crate::incremental::Change;
use crate::map::ClusterMap;
use crate::placement::{PgPlacement, Placement};

/// The pg_temp changes that should accompany the step from `before` to `after` (the map
/// with the other changes already applied).
pub fn pg_temp_changes(before: &ClusterMap, after: &ClusterMap) -> Vec<Change> {
    let old = Placement::new(before);
    let new = Placement::new(after);
    let mut changes = Vec::new();
    for pool in after.pools.values() {
        let same_pool = before
            .pools
            .get(&pool.id)
            .is_some_and(|p| p.pg_num == pool.pg_num && p.rule == pool.rule);
        for seed in 0..pool.pg_num {
            let pg = PgId {
                pool: pool.id,
                seed,
            };
            let Ok(now) = new.map_pg(pg) else { continue };
            // The acting set before the step, if the step changed the PG's CRUSH set.
            let moved_from = || match (old.map_pg(pg), old.crush_set(pg), new.crush_set(pg)) {
                (Ok(was), Ok(raw_was), Ok(raw_now)) if same_pool && raw_was != raw_now => {
                    Some(was.acting)
                }
                _ => None,
            };
            changes.extend(if pool.is_erasure() {
                erasure_change(after, &now, moved_from)
            } else {
                replicated_change(after, &now, moved_from)
            });
        }
    }
    changes
}

/// Of `changes` (pg_temp changes for `after`), those the map takes, and why each other one
/// is refused: one bad entry must not block the step it came with (a mark-out, most
/// often); the PG it was for peers on its CRUSH set as if none had been asked for.
pub fn valid_pg_temps(after: &ClusterMap, changes: Vec<Change>) -> (Vec<Change>, Vec<MapError>) {
    let (mut kept, mut refused) = (Vec::new(), Vec::new());
    for change in changes {
        let mut alone = after.clone();
        match alone.apply(&after.next_incremental(vec![change.clone()])) {
            Ok(()) => kept.push(change),
            Err(e) => refused.push(e),
        }
    }
    (kept, refused)
}

/// Replicated pools: the old acting set serves a PG whose CRUSH set changed until the new
/// members are backfilled from it.
fn replicated_change(
    after: &ClusterMap,
    now: &PgPlacement,
    moved_from: impl FnOnce() -> Option<Vec<Option<OsdId>>>,
) -> Option<Change> {
    let pg = now.pg;
    let up: BTreeSet<OsdId> = now.up.iter().flatten().copied().collect();
    if after.pg_temp.contains_key(&pg) {
        let serving: BTreeSet<OsdId> = now.acting.iter().flatten().copied().collect();
        return (serving.is_empty() || serving == up).then_some(Change::PgTempClear(pg));
    }
    let acting: Vec<Option<OsdId>> = moved_from()?.into_iter().flatten().map(Some).collect();
    let holders: BTreeSet<OsdId> = acting.iter().flatten().copied().collect();
    // Someone new must receive the data, and someone old can still serve it.
    (!holders.is_empty() && !up.is_subset(&holders))
        .then_some(Change::PgTempSet { pg, osds: acting })
}

/// Erasure-coded pools, position by position: a shard position whose CRUSH member changed
/// stays with its old holder while that holder is up, so the new member is backfilled with
/// exactly that shard and every acknowledged object keeps k readable shards however many
/// positions move at once. A position whose old holder is down (or that was a hole) goes
/// to its CRUSH member at once, which recovery fills by decoding. The entry is cleared when
/// every position is served by its CRUSH member.
fn erasure_change(
    after: &ClusterMap,
    now: &PgPlacement,
    moved_from: impl FnOnce() -> Option<Vec<Option<OsdId>>>,
) -> Option<Change> {
    let pg = now.pg;
    let current = after.pg_temp.get(&pg);
    // Who serves each position now: the pg_temp's holder if set, else (when the CRUSH set
    // changed) the old map's.
    let serving = match current {
        Some(_) => now.acting.clone(),
        None => moved_from()?,
    };
    if serving.len() != now.up.len() {
        return None;
    }
    let is_up = |o: &OsdId| after.osds.get(o).is_some_and(|e| e.up);
    let held: Vec<Option<OsdId>> = serving.iter().map(|h| h.filter(is_up)).collect();
    let mut temp: Vec<Option<OsdId>> = held
        .iter()
        .zip(&now.up)
        .map(|(held, crush)| match held {
            // Kept even while its CRUSH member is down: it still has the shard.
            Some(h) if *held != *crush => Some(*h),
            _ => *crush,
        })
        .collect();
    // An OSD kept at its old position cannot also take its new one (an OSD serves one
    // position): that position keeps its own old holder, or stays a hole until the entry
    // clears and recovery fills it.
    let kept: BTreeSet<OsdId> = temp
        .iter()
        .zip(&held)
        .filter(|(t, h)| t.is_some() && t == h)
        .filter_map(|(t, _)| *t)
        .collect();
    for (p, t) in temp.iter_mut().enumerate() {
        if t.is_some_and(|o| kept.contains(&o)) && *t != held[p] {
            *t = held[p].filter(|h| !kept.contains(h));
        }
    }
    if temp == now.up {
        current.is_some().then_some(Change::PgTempClear(pg))
    } else {
        (current != Some(&temp)).then_some(Change::PgTempSet { pg, osds: temp })
    }
}

#[cfg(test)]
mod tests;
