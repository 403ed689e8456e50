//! Following the cluster map: every new epoch goes to every PG this OSD serves or holds, in
//! order; PGs newly mapped here get a task (seeded with the interval history the OSD saw).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use placement::{ClusterMap, Epoch, OsdId, PgId, Placement, PoolKind};
use rados::proto::mon::{MapUpdate, Subscribe};
use tracing::{info, warn};

use super::pg_handle::{PgHandle, PgInput};
use super::pg_task;
use super::shared::{MAP_HISTORY, Shared};
use crate::StoreError;
use crate::ec::Layout;
use crate::pg::types::EcMapping;
use crate::pg::{Event, LogEntry, Mapping, PgLog, PgMachine, PgMeta};
use crate::store::{TxOp, Txn};

/// Store meta key of the newest map the OSD processed.
pub const MAP_KEY: &str = "osdmap";

/// One PG's view of `map`.
pub fn mapping(map: &ClusterMap, placement: &Placement, pg: PgId) -> Option<Mapping> {
    let pool = map.pools.get(&pg.pool)?;
    let p = placement.map_pg(pg).ok()?;
    let acting: Vec<OsdId> = p.acting.iter().flatten().copied().collect();
    let ec = match pool.kind {
        PoolKind::Erasure {
            k, m, stripe_unit, ..
        } => Some(EcMapping {
            layout: Layout {
                k: usize::from(k),
                m: usize::from(m),
                stripe_unit: stripe_unit as usize,
            },
            shards: p.acting.clone(),
            up: p.up.clone(),
        }),
        PoolKind::Replicated { .. } => None,
    };
    Some(Mapping {
        epoch: map.epoch,
        up_from: acting
            .iter()
            .map(|o| map.osds.get(o).map_or(Epoch(0), |e| e.up_from))
            .collect(),
        up: p.up.iter().flatten().copied().collect(),
        acting,
        size: pool.size(),
        min_size: pool.min_size(),
        up_osds: map.osds.values().filter(|o| o.up).map(|o| o.id).collect(),
        ec,
    })
}

/// Loads a PG's persisted state into a machine.
pub fn load_machine(shared: &Shared, pg: PgId) -> Result<PgMachine, StoreError> {
    let decode_err = |what: &'static str| {
        move |e: rmp_serde::decode::Error| StoreError::Decode {
            what,
            source: Arc::new(e),
        }
    };
    let meta: PgMeta = match shared.store.pg_meta(pg)? {
        Some(bytes) => rmp_serde::from_slice(&bytes).map_err(decode_err("pg meta"))?,
        None => PgMeta::default(),
    };
    let entries = shared
        .store
        .log(pg)?
        .into_iter()
        .map(|(_, e)| rmp_serde::from_slice::<LogEntry>(&e).map_err(decode_err("pg log entry")))
        .collect::<Result<Vec<_>, _>>()?;
    let log = PgLog::from_parts(
        meta.info.log_tail,
        entries,
        meta.dups.clone(),
        shared.log_limits,
    );
    Ok(
        PgMachine::new(pg, shared.id, meta, log, shared.lease, shared.started)
            .restarted_after(shared.before_boot),
    )
}

/// Starts a task for `pg`, seeding its interval history with the maps seen before `now`.
fn start_pg(shared: &Arc<Shared>, pg: PgId, tick: Duration) -> Option<PgHandle> {
    let mut machine = match load_machine(shared, pg) {
        Ok(m) => m,
        Err(e) => {
            shared.fail(format!("cannot load pg {pg}: {e}"));
            return None;
        }
    };
    // Every epoch the OSD knows, the current one included: observing an epoch before it
    // arrives as an event is harmless, missing one could hide a write interval.
    let history: Vec<Arc<ClusterMap>> = shared
        .maps
        .read()
        .expect("maps lock")
        .iter()
        .cloned()
        .collect();
    for map in &history {
        let placement = Placement::new(map);
        if let Some(m) = mapping(map, &placement, pg) {
            machine.observe_history(&m);
        }
    }
    // Loading ran unlocked: whoever started the PG meanwhile (a peer's message racing the
    // map, or start-up) wins, and this copy is dropped unstarted. Two tasks for one PG would
    // split its messages: one could acknowledge an activation the other never saw.
    let mut pgs = shared.pgs.lock().expect("pgs lock");
    if let Some(running) = pgs.get(&pg) {
        tracing::debug!(%pg, "pg started meanwhile by another task; using that one");
        return Some(running.clone());
    }
    let handle = pg_task::spawn(machine, shared.clone(), tick);
    pgs.insert(pg, handle.clone());
    Some(handle)
}

/// Makes `map` current: records it, and feeds it to every PG served or held here. Callers
/// hold [`Shared::advancing`].
pub async fn advance(shared: &Arc<Shared>, map: Arc<ClusterMap>, tick: Duration) {
    {
        let mut maps = shared.maps.write().expect("maps lock");
        if maps.back().is_some_and(|m| m.epoch >= map.epoch) {
            return;
        }
        maps.push_back(map.clone());
        while maps.len() > MAP_HISTORY {
            maps.pop_front();
        }
    }
    // Logged once per epoch: several racing subscriptions may deliver the same map.
    info!(epoch = map.epoch.0, "new map");
    shared.messenger.set_epoch(map.epoch.0);
    let placement = Placement::new(&map);
    for pool in map.pools.values() {
        for seed in 0..pool.pg_num {
            let pg = PgId {
                pool: pool.id,
                seed,
            };
            let Some(m) = mapping(&map, &placement, pg) else {
                continue;
            };
            let handle = match shared.pg(pg) {
                Some(h) => Some(h),
                None if m.acting.contains(&shared.id) || m.up.contains(&shared.id) => {
                    start_pg(shared, pg, tick)
                }
                None => None,
            };
            if let Some(h) = handle {
                let _ = h.tx.send(PgInput::Event(Event::Map(m))).await;
            }
        }
    }
    let bytes = rmp_serde::to_vec_named(map.as_ref()).expect("maps encode");
    let txn = Txn {
        ops: vec![TxOp::SetMeta {
            key: MAP_KEY.into(),
            value: bytes,
        }],
    };
    if let Err(e) = shared.store.commit(txn).await {
        shared.fail(format!("cannot record the map: {e}"));
    }
}

/// Starts tasks for the PGs found in the store (before the first map is fed).
pub fn start_stored_pgs(shared: &Arc<Shared>, tick: Duration) -> Result<usize, StoreError> {
    let pgs = shared.store.pgs()?;
    for pg in &pgs {
        start_pg(shared, *pg, tick);
    }
    Ok(pgs.len())
}

/// Applies a monitor's answer to `current`; returns the newer maps in epoch order (none if
/// the answer holds nothing newer: another task may have applied it first).
pub fn apply_update(current: &ClusterMap, update: MapUpdate) -> Vec<Arc<ClusterMap>> {
    match update {
        MapUpdate::UpToDate(_) => Vec::new(),
        MapUpdate::Full(map) if map.epoch > current.epoch => vec![Arc::new(*map)],
        MapUpdate::Full(_) => Vec::new(),
        MapUpdate::Incrementals(incs) => {
            let mut out = Vec::new();
            let mut map = current.clone();
            for inc in incs.into_iter().filter(|i| i.epoch > current.epoch) {
                if let Err(e) = map.apply(&inc) {
                    warn!(error = %e, "incremental does not apply; waiting for a full map");
                    break;
                }
                out.push(Arc::new(map.clone()));
            }
            out
        }
    }
}

/// Applies a monitor's answer on top of whatever map is current by the time it runs
/// (maps are applied by one task at a time, so every PG sees every epoch in order).
async fn apply(shared: &Arc<Shared>, update: MapUpdate, tick: Duration) {
    let _one_at_a_time = shared.advancing.lock().await;
    let current = shared.map();
    for map in apply_update(&current, update) {
        reboot_if_marked_down(shared, &map);
        advance(shared, map, tick).await;
    }
}

/// Brings the map up to `epoch` (a peer or client named it) before going on, within
/// `within`; returns whether the map is now at least that new and fed to every PG. A
/// request from a newer epoch is answered from the newer map, never from the one this OSD
/// happened to have.
///
/// One fetch at a time: callers wait on the lock maps are applied under, and find the map
/// there once the first of them fetched it (maps are recorded and fed under that lock, so a
/// map seen under it has reached every PG queue).
pub async fn catch_up(shared: &Arc<Shared>, epoch: Epoch, within: Duration) -> bool {
    let fetch = async {
        loop {
            let one_at_a_time = shared.advancing.lock().await;
            let current = shared.map();
            if current.epoch >= epoch {
                return;
            }
            let have = Some(current.epoch);
            let update = shared
                .mon
                .call_racing(&rados::proto::mon::GetMap { have }, 2)
                .await;
            let newer = match update {
                Ok(update) => apply_update(&current, update),
                Err(e) => {
                    warn!(error = %e, "cannot fetch a newer map; retrying");
                    Vec::new()
                }
            };
            let fetched = !newer.is_empty();
            for map in newer {
                reboot_if_marked_down(shared, &map);
                advance(shared, map, shared.pg_tick).await;
            }
            drop(one_at_a_time);
            if !fetched {
                // A monitor behind the others, or none reachable: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    tokio::time::timeout(within, fetch).await.is_ok()
}

/// Follows new epochs for as long as the OSD runs.
pub async fn follow(shared: Arc<Shared>, tick: Duration) {
    loop {
        let current = shared.map();
        // Two monitors at once: one that died mid-poll must not blind this OSD to new maps.
        match shared
            .mon
            .call_racing(
                &Subscribe {
                    have: current.epoch,
                },
                2,
            )
            .await
        {
            Ok(update) => apply(&shared, update, tick).await,
            Err(e) => {
                warn!(error = %e, "cannot reach the monitors; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Starts `pg`'s task if it is not running (a peer probes a PG this OSD may hold) and
/// feeds it the current map.
pub async fn ensure_pg(shared: &Arc<Shared>, pg: PgId, map: &ClusterMap) -> Option<PgHandle> {
    if let Some(h) = shared.pg(pg) {
        return Some(h);
    }
    let m = mapping(map, &Placement::new(map), pg)?;
    let handle = start_pg(shared, pg, shared.pg_tick)?;
    let _ = handle.tx.send(PgInput::Event(Event::Map(m))).await;
    Some(handle)
}

/// Set while a re-boot is on its way to the monitors (one at a time).
static REBOOTING: AtomicBool = AtomicBool::new(false);

/// A running OSD the map calls down (a false failure report, a partition that healed)
/// boots again; the monitors mark it up in a new epoch and its PGs peer again.
pub fn reboot_if_marked_down(shared: &Arc<Shared>, map: &ClusterMap) {
    let boot = &shared.boot;
    let me = map.osds.get(&shared.id);
    let down = me.is_none_or(|o| !o.up || o.addr != Some(boot.addr));
    if !down || REBOOTING.swap(true, Ordering::SeqCst) {
        return;
    }
    info!(
        epoch = map.epoch.0,
        "the map says this OSD is down; booting again"
    );
    let (mon, boot) = (shared.mon.clone(), boot.clone());
    tokio::spawn(async move {
        if let Err(e) = mon.call(boot.as_ref()).await {
            warn!(error = %e, "re-boot failed; will retry on the next map");
        }
        REBOOTING.store(false, Ordering::SeqCst);
    });
}
