//! Signs of life: beacons to the monitors (with usage and PG states), pings to the OSDs this
//! one shares PGs with (a peer that misses several in a row is reported failed — the
//! monitors decide), and re-booting when the map says this running OSD is down.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use placement::{ClusterMap, OsdId};
use rados::proto::mon::{OsdBeacon, OsdBoot, OsdFailure, PgStatus};
use rados::proto::osd::Ping;
use tracing::{info, warn};

use super::OsdTiming;
use super::shared::Shared;

/// Sends a beacon every `every`.
pub async fn beacons(shared: Arc<Shared>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let usage = shared.store.usage();
        let pgs = primary_pg_statuses(&shared);
        let beacon = OsdBeacon {
            id: shared.id,
            epoch: shared.map().epoch,
            bytes: usage.bytes,
            objects: usage.objects,
            pgs,
        };
        if let Err(e) = shared.mon.call(&beacon).await {
            warn!(error = %e, "beacon not delivered");
        }
    }
}

/// The PGs this OSD is primary of, as `shoal pg dump` shows them.
pub fn primary_pg_statuses(shared: &Shared) -> Vec<PgStatus> {
    let pgs = shared.pgs.lock().expect("pgs lock");
    pgs.iter()
        .filter_map(|(pg, h)| {
            let snap = h.snapshot.lock().expect("snapshot lock").clone();
            let acting = snap.mapping.as_ref()?.acting.clone();
            if !snap.primary {
                return None;
            }
            let (state, scrub_errors) = shared.scrub.decorate(*pg, snap.state_string());
            Some(PgStatus {
                pg: *pg,
                state,
                acting,
                since: snap.since,
                last_update: snap.last_update,
                scrub_errors,
            })
        })
        .collect()
}

/// The up OSDs this one shares an acting set with.
fn peers(shared: &Shared) -> BTreeSet<OsdId> {
    let pgs = shared.pgs.lock().expect("pgs lock");
    pgs.values()
        .filter_map(|h| h.snapshot.lock().expect("snapshot lock").mapping.clone())
        .filter(|m| m.acting.contains(&shared.id))
        .flat_map(|m| m.acting)
        .filter(|o| *o != shared.id)
        .collect()
}

/// Pings peers; reports one that missed `ping_misses` in a row (again while it stays
/// silent and up in the map).
pub async fn pings(shared: Arc<Shared>, timing: OsdTiming) {
    let mut misses: BTreeMap<OsdId, u32> = BTreeMap::new();
    let mut ticker = tokio::time::interval(timing.ping);
    loop {
        ticker.tick().await;
        let map = shared.map();
        let peers = peers(&shared);
        misses.retain(|o, _| peers.contains(o));
        let checks = peers.clone().into_iter().filter_map(|osd| {
            let entry = map.osds.get(&osd)?;
            let addr = entry.addr.filter(|_| entry.up)?;
            let messenger = shared.messenger.clone();
            let wait = timing.ping;
            Some(async move {
                let ok = matches!(
                    tokio::time::timeout(wait, messenger.call(addr, &Ping)).await,
                    Ok(Ok(()))
                );
                (osd, ok)
            })
        });
        let results = futures_join(checks.collect()).await;
        for (osd, ok) in results {
            let n = misses.entry(osd).or_default();
            *n = if ok { 0 } else { *n + 1 };
            if *n >= timing.ping_misses
                && (*n - timing.ping_misses).is_multiple_of(timing.ping_misses)
            {
                warn!(%osd, misses = *n, "peer not answering; reporting it");
                let report = OsdFailure {
                    target: osd,
                    reporter: shared.id,
                };
                let mon = shared.mon.clone();
                tokio::spawn(async move {
                    if let Err(e) = mon.call(&report).await {
                        warn!(error = %e, "failure report not delivered");
                    }
                });
            }
        }
    }
}

/// Runs futures concurrently and collects their outputs (a tiny join_all).
async fn futures_join<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    futures: Vec<F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

static REBOOTING: AtomicBool = AtomicBool::new(false);

/// A running OSD the map calls down (a false failure report, a partition that healed)
/// boots again; the monitors mark it up in a new epoch and its PGs peer again.
pub fn reboot_if_marked_down(shared: &Arc<Shared>, boot: &Arc<OsdBoot>, map: &ClusterMap) {
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
