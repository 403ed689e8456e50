//! State every part of the OSD daemon reads: its identity, store, messenger, current map
//! and PG tasks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use placement::{ClusterMap, OsdId, PgId};
use rados::proto::osd::OsdError;
use rados::{Messenger, MonClient};
use tokio::sync::watch;

use super::pg_handle::PgHandle;
use crate::StoreError;
use crate::pg::LogLimits;
use crate::store::Store;

/// A store failure as the wire reports it: corruption apart from other I/O errors.
pub fn store_err(e: StoreError) -> OsdError {
    match e {
        StoreError::Corrupt { .. } => OsdError::Corrupt(e.to_string()),
        other => OsdError::Io(other.to_string()),
    }
}

/// Maps kept to seed the interval history of PGs created while the OSD runs.
pub const MAP_HISTORY: usize = 200;

/// One object's lock: writes hold it exclusively until every member committed, reads
/// share it, so a read never sees a write that is not yet on every member.
pub type ObjectLock = Arc<tokio::sync::RwLock<()>>;

/// The daemon's monotonic clock, read only here: the pure cores take its readings as a
/// `Duration` since the daemon started.
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Clock {
        #[allow(clippy::disallowed_methods)] // the shell's one clock
        let origin = std::time::Instant::now();
        Clock { origin }
    }

    /// Time since the daemon started.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The tokio instant of reading `t`.
    pub fn instant_at(&self, t: Duration) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin + t)
    }

    /// Milliseconds since the Unix epoch (wall time, for stamps other OSDs check; the
    /// monotonic readings above never leave this process).
    #[allow(clippy::disallowed_methods)] // the shell's one clock
    pub fn unix_ms(&self) -> u64 {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }

    /// An instant no timer reaches (a day away).
    pub fn far_future(&self) -> tokio::time::Instant {
        self.instant_at(self.now() + Duration::from_secs(86_400))
    }
}

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
    /// Stray PG copies deleted (the PG is clean elsewhere).
    pub stray_pgs_removed: AtomicU64,
    /// Gossip packets dropped, by [`crate::gossip::seal::Dropped`] reason (short, forged,
    /// replayed, stale).
    pub gossip_dropped: [AtomicU64; 4],
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
    /// Per-object locks (the primary orders writes per object, and reads after them).
    pub locks: Mutex<HashMap<(PgId, String), ObjectLock>>,
    /// The daemon's clock.
    pub clock: Clock,
    /// When the store opened (the clock's reading): leases granted by an earlier run of
    /// this OSD ended by then plus one lease.
    pub started: Duration,
    /// The newest epoch when this run booted: an earlier run may have peered in it, so
    /// PGs peer as primary only in later ones (`PgMachine::restarted_after`).
    pub before_boot: placement::Epoch,
    /// Read lease timing.
    pub lease: crate::pg::LeaseConfig,
    /// What this OSD booted with (sent again if the map calls it down).
    pub boot: Arc<rados::proto::mon::OsdBoot>,
    /// Held while a map is applied, so maps reach PGs one epoch at a time, in order,
    /// whichever task fetched them.
    pub advancing: tokio::sync::Mutex<()>,
    /// PG log limits.
    pub log_limits: LogLimits,
    /// How often PG tasks tick.
    pub pg_tick: std::time::Duration,
    /// Counters.
    pub counters: Counters,
    /// Backfills this OSD runs or waits to run, as primary.
    pub backfills: Mutex<BTreeMap<PgId, crate::backfill::Progress>>,
    /// Scrub results, queues, schedule and per-PG write gates.
    pub scrub: super::scrub_state::Scrubs,
    /// Client requests being served, for slow-request warnings.
    pub in_flight: super::slow_ops::InFlightOps,
    /// One stray PG copy deleted at a time: a deletion is one store transaction as large as
    /// the PG, and client writes share the committer with it.
    pub stray_removals: tokio::sync::Semaphore,
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
