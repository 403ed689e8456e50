//! The OSD's scrub state ([`Scrubs`]): per-PG results and queues, write gates, the
//! schedule, counters. `scrub` runs the passes; the rest of the OSD reads this.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use placement::PgId;
use rados::proto::osd::{ScrubKind, ScrubStatus};
use tokio::sync::RwLock;

use crate::pg::scrub::{Schedule, ScrubConfig};

/// Scrub state of one PG on its primary.
#[derive(Default)]
pub(super) struct PgScrub {
    pub(super) status: ScrubStatus,
    /// The strongest kind asked for and not started yet.
    pub(super) queued: Option<ScrubKind>,
    /// Tickets handed out (the last one).
    pub(super) requested: u64,
    /// A runner task serves this PG's queue.
    pub(super) runner: bool,
}

/// The OSD's scrub state: per-PG results and queues, write gates, the schedule, counters.
pub struct Scrubs {
    pub(super) config: ScrubConfig,
    pub(super) pgs: Mutex<BTreeMap<PgId, PgScrub>>,
    /// One per PG ever written or scrubbed here (bounded by the PG count).
    pub(super) gates: Mutex<HashMap<PgId, Arc<RwLock<()>>>>,
    pub(super) schedule: Mutex<Schedule>,
    /// The OSD's clock origin for the schedule.
    pub(super) start: tokio::time::Instant,
    /// Client reads served from a replica because the local copy was corrupt.
    pub read_repairs: AtomicU64,
    /// Bad copies rewritten by repair.
    pub repaired: AtomicU64,
}

impl Scrubs {
    /// Scrub state for an OSD with `config`; `seed` spreads its schedule.
    pub fn new(config: ScrubConfig, seed: u64) -> Scrubs {
        Scrubs {
            schedule: Mutex::new(Schedule::new(config.clone(), seed)),
            config,
            pgs: Mutex::new(BTreeMap::new()),
            gates: Mutex::new(HashMap::new()),
            start: tokio::time::Instant::now(),
            read_repairs: AtomicU64::new(0),
            repaired: AtomicU64::new(0),
        }
    }

    /// The PG's write gate: client writes hold it shared until every member committed;
    /// a scrub page and a read repair hold it exclusively.
    pub fn gate(&self, pg: PgId) -> Arc<RwLock<()>> {
        self.gates
            .lock()
            .expect("gates lock")
            .entry(pg)
            .or_default()
            .clone()
    }

    /// The PG's state string with its scrub flags (`+scrubbing`, `+deep`, `+inconsistent`,
    /// `+repair`) and its scrub error count, for beacons and metrics.
    pub fn decorate(&self, pg: PgId, mut state: String) -> (String, u64) {
        let pgs = self.pgs.lock().expect("scrub lock");
        let Some(s) = pgs.get(&pg) else {
            return (state, 0);
        };
        if let Some(kind) = s.status.running {
            state.push_str("+scrubbing");
            if kind != ScrubKind::Light {
                state.push_str("+deep");
            }
        }
        if s.status.errors > 0 {
            state.push_str("+inconsistent");
        }
        if s.status.running == Some(ScrubKind::Repair) {
            state.push_str("+repair");
        }
        (state, s.status.errors)
    }

    /// Scrub errors over every PG this OSD scrubbed as primary.
    pub fn errors(&self) -> u64 {
        let pgs = self.pgs.lock().expect("scrub lock");
        pgs.values().map(|s| s.status.errors).sum()
    }

    pub(super) fn now(&self) -> Duration {
        self.start.elapsed()
    }
}
