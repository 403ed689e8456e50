//! Signs of life: beacons to the monitors (with usage and PG states), and re-booting when
//! the map says this running OSD is down. Peers' failures are found by gossip
//! (`daemon::gossip`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use placement::ClusterMap;
use rados::proto::mon::{OsdBeacon, OsdBoot, PgStatus};
use tracing::{info, warn};

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
            snap.primary.then(|| PgStatus {
                pg: *pg,
                state: snap.state_string(),
                acting,
                since: snap.since,
                last_update: snap.last_update,
            })
        })
        .collect()
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
