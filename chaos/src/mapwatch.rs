//! Follows the cluster map while the workload runs, recording when each epoch arrived and
//! which OSDs it had down, so a fault's detection time can be read off afterwards.
//!
//! Shell module: a task, the monitors and the clock.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use placement::ClusterMap;
use rados::MonClient;
use rados::proto::mon::{GetMap, MapUpdate, Subscribe};
use tokio::time::Instant;

/// When each epoch arrived (since the workload started) and the OSD ids it had down.
type Seen = Vec<(Duration, BTreeSet<u32>)>;

/// A running map follower.
pub struct MapWatch {
    task: tokio::task::JoinHandle<()>,
    seen: Arc<Mutex<Seen>>,
}

impl MapWatch {
    /// Starts following the map; times are measured from `started`.
    pub fn start(mon: MonClient, started: Instant) -> MapWatch {
        let seen = Arc::new(Mutex::new(Seen::new()));
        let task = tokio::spawn(follow(mon, started, seen.clone()));
        MapWatch { task, seen }
    }

    /// When the first map at or after `after` that has OSD `osd` down arrived.
    pub fn down_at(&self, osd: u32, after: Duration) -> Option<Duration> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .find(|(at, down)| *at >= after && down.contains(&osd))
            .map(|(at, _)| *at)
    }
}

impl Drop for MapWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn down(map: &ClusterMap) -> BTreeSet<u32> {
    map.osds
        .values()
        .filter(|o| !o.up)
        .map(|o| o.id.0)
        .collect()
}

async fn follow(mon: MonClient, started: Instant, seen: Arc<Mutex<Seen>>) {
    let mut map: Option<ClusterMap> = None;
    loop {
        let update = match &map {
            None => mon.call_racing(&GetMap { have: None }, 2).await,
            Some(m) => mon.call_racing(&Subscribe { have: m.epoch }, 2).await,
        };
        let Ok(update) = update else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let next = match (update, map.take()) {
            (MapUpdate::Full(full), _) => Some(*full),
            (MapUpdate::Incrementals(incs), Some(mut m)) => {
                let have = m.epoch;
                let applied = incs
                    .iter()
                    .filter(|i| i.epoch > have)
                    .try_for_each(|i| m.apply(i));
                // A gap: start over from a full map.
                applied.ok().map(|_| m)
            }
            (MapUpdate::UpToDate(_), m) => m,
            (MapUpdate::Incrementals(_), None) => None,
        };
        if let Some(m) = &next {
            let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
            if s.last().is_none_or(|(_, d)| *d != down(m)) {
                s.push((started.elapsed(), down(m)));
            }
        }
        map = next;
    }
}
