//! Signs of life: beacons to the monitors (with usage and PG states), and re-booting when
//! the map says this running OSD is down. Peers' failures are found by gossip
//! (`daemon::gossip`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use placement::PoolId;
use rados::proto::mon::{OsdBeacon, PgStatus, PoolStored};
use tracing::warn;

use super::backfill;
use super::shared::Shared;
use crate::store::STASH_POOL_BIT;

/// Sends a beacon every `every`.
pub async fn beacons(shared: Arc<Shared>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let usage = shared.store.usage();
        let pgs = with_object_counts(&shared, primary_pg_statuses(&shared)).await;
        let (recovered_objects, recovered_bytes) = backfill::recovered(&shared);
        let stored = stored(&shared).await;
        let beacon = OsdBeacon {
            id: shared.id,
            epoch: shared.map().epoch,
            bytes: usage.bytes,
            objects: usage.objects,
            pgs,
            recovered_objects,
            recovered_bytes,
            file_bytes: stored.file_bytes,
            pgs_stored: stored.pgs,
            pools: stored.pools,
        };
        if let Err(e) = shared.mon.call(&beacon).await {
            warn!(error = %e, "beacon not delivered");
        }
    }
}

/// What the store holds beyond its totals, for `shoal osd df` and `shoal df`.
struct Stored {
    file_bytes: u64,
    pgs: u64,
    pools: Vec<PoolStored>,
}

/// Reads the store's per-pool usage, file size and PG count; a part that cannot be read
/// is reported as zero (and logged), the beacon still goes out.
async fn stored(shared: &Shared) -> Stored {
    let store = shared.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let file_bytes = store.file_bytes();
        let pgs = store.pgs();
        (file_bytes, pgs, store.pool_usage())
    })
    .await;
    let Ok((file_bytes, pgs, by_column)) = read else {
        return Stored {
            file_bytes: 0,
            pgs: 0,
            pools: Vec::new(),
        };
    };
    let file_bytes = file_bytes.unwrap_or_else(|e| {
        warn!(error = %e, "store file size unknown");
        0
    });
    let pgs = match pgs {
        Ok(pgs) => pgs.len() as u64, // roll-back copies are not listed as PGs of their own
        Err(e) => {
            warn!(error = %e, "store PGs not listed");
            0
        }
    };
    let mut pools: BTreeMap<u32, PoolStored> = BTreeMap::new();
    for (column, usage) in by_column {
        let id = column & !STASH_POOL_BIT;
        let p = pools.entry(id).or_insert(PoolStored {
            pool: PoolId(id),
            bytes: 0,
            objects: 0,
            rollback_bytes: 0,
        });
        if column & STASH_POOL_BIT == 0 {
            p.bytes += usage.bytes;
            p.objects += usage.objects;
        } else {
            p.rollback_bytes += usage.bytes;
        }
    }
    Stored {
        file_bytes,
        pgs,
        pools: pools.into_values().collect(),
    }
}

/// The PGs this OSD is primary of, as `shoal pg dump` shows them (object counts not yet
/// filled in).
pub fn primary_pg_statuses(shared: &Shared) -> Vec<PgStatus> {
    let backfills = shared.backfills.lock().expect("backfills lock").clone();
    let pgs = shared.pgs.lock().expect("pgs lock");
    pgs.iter()
        .filter_map(|(pg, h)| {
            let snap = h.snapshot();
            let m = snap.mapping.as_ref()?;
            if !snap.primary {
                return None;
            }
            let (mut state, scrub_errors) = shared.scrub.decorate(*pg, snap.state_string());
            let progress = backfills.get(pg);
            match progress {
                Some(p) if p.running => state.push_str("+backfilling"),
                Some(p) if !p.done => state.push_str("+backfill_wait"),
                _ => {}
            }
            Some(PgStatus {
                pg: *pg,
                state,
                acting: m.acting.clone(),
                since: snap.since,
                last_update: snap.last_update,
                objects: progress.map_or(0, |p| p.total),
                degraded: (m.size.saturating_sub(m.acting.len())) as u64,
                misplaced: progress.map_or(0, |p| p.misplaced()),
                scrub_errors,
            })
        })
        .collect()
}

/// Fills in object counts of degraded PGs and of backfills not started yet: `degraded`
/// arrives holding the number of missing members, and becomes missing object copies.
async fn with_object_counts(shared: &Shared, mut pgs: Vec<PgStatus>) -> Vec<PgStatus> {
    for s in &mut pgs {
        let waiting = s.state.ends_with("+backfill_wait") && s.objects == 0;
        if s.degraded == 0 && !waiting {
            continue;
        }
        if s.objects == 0 {
            s.objects = backfill::count(&shared.store, s.pg).await.unwrap_or(0);
        }
        s.degraded *= s.objects;
        if waiting {
            let targets = shared
                .backfills
                .lock()
                .expect("backfills lock")
                .get(&s.pg)
                .map_or(0, |p| p.targets);
            s.misplaced = s.objects * targets;
        }
    }
    pgs
}
