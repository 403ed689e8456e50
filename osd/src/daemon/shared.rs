//! State every part of the OSD daemon reads: its identity, store, messenger, current map
//! and PG tasks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use placement::{ClusterMap, OsdId, PgId};
use rados::{Messenger, MonClient};
use tokio::sync::watch;

use super::pg_task::PgHandle;
use crate::pg::LogLimits;
use crate::store::Store;

/// Maps kept to seed the interval history of PGs created while the OSD runs.
pub const MAP_HISTORY: usize = 200;

/// One object's write lock.
pub type ObjectMutex = Arc<tokio::sync::Mutex<()>>;

/// Operation counters for `/metrics`.
#[derive(Default)]
pub struct Counters {
    /// Client reads served.
    pub reads: AtomicU64,
    /// Client writes acknowledged.
    pub writes: AtomicU64,
    /// Client requests that failed.
    pub errors: AtomicU64,
    /// Object copies made by recovery and backfill (as the source).
    pub recovered_objects: AtomicU64,
    /// Bytes copied by recovery and backfill (as the source).
    pub recovered_bytes: AtomicU64,
}

impl Counters {
    /// Adds one.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The daemon's shared state.
pub struct Shared {
    /// This OSD.
    pub id: OsdId,
    /// Its store.
    pub store: Store,
    /// Its messenger.
    pub messenger: Arc<Messenger>,
    /// Its monitor client.
    pub mon: MonClient,
    /// The newest map it has, and the recent ones (oldest first).
    pub maps: RwLock<VecDeque<Arc<ClusterMap>>>,
    /// Running PG tasks.
    pub pgs: Mutex<BTreeMap<PgId, PgHandle>>,
    /// Per-object write locks (the primary orders writes per object).
    pub locks: Mutex<HashMap<(PgId, String), ObjectMutex>>,
    /// PG log limits.
    pub log_limits: LogLimits,
    /// How often PG tasks tick.
    pub pg_tick: std::time::Duration,
    /// Counters.
    pub counters: Counters,
    /// Backfills this OSD runs or waits to run, as primary.
    pub backfills: Mutex<BTreeMap<PgId, super::backfill::Progress>>,
    /// Scrub results, queues, schedule and per-PG write gates.
    pub scrub: super::scrub::Scrubs,
    /// Set when the OSD must stop (its disk failed).
    pub fatal: watch::Sender<Option<String>>,
}

impl Shared {
    /// The newest map.
    pub fn map(&self) -> Arc<ClusterMap> {
        self.maps
            .read()
            .expect("maps lock")
            .back()
            .cloned()
            .expect("a map is loaded before anything runs")
    }

    /// Where `osd` listens, per the newest map.
    pub fn addr_of(&self, osd: OsdId) -> Option<SocketAddr> {
        self.map().osds.get(&osd).and_then(|o| o.addr)
    }

    /// A PG's task, if running.
    pub fn pg(&self, pg: PgId) -> Option<PgHandle> {
        self.pgs.lock().expect("pgs lock").get(&pg).cloned()
    }

    /// Stops the OSD with `reason`.
    pub fn fail(&self, reason: String) {
        self.fatal.send_replace(Some(reason));
    }
}
