//! The OSD daemon (`shoal osd`): boots to the monitors, follows the map, runs a task per PG,
//! serves client requests on the PGs it is primary of, gossips with its peers (SWIM) and
//! reports failures, sends beacons, and exposes `/metrics` and `/health`. A shell: the PG logic is in
//! [`crate::pg`], the disk in [`crate::store`].

mod backfill;
mod ec;
mod ec_scrub;
mod error;
mod gossip;
mod http;
mod liveness;
mod maps;
mod ops;
mod peer;
mod pg_handle;
mod pg_task;
mod repair;
mod routing;
mod scrub;
mod scrub_state;
mod shared;
mod slow_ops;
mod store_view;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use placement::{ClusterMap, Location, OsdId, Weight};
use rados::proto::mon::{GetMap, MapUpdate, OsdBoot};
use rados::proto::osd::{GetScrubStatus, ListObjects, ObjectRequest, Ping, ScrubRequest};
use rados::{Keyring, Messenger, MessengerConfig, MonClient, Router};
use tokio::sync::watch;
use tracing::info;

pub use error::OsdError;
pub use ops::MAX_OBJECT;
pub use peer::PgPeer;
pub use pg_handle::PgSnapshot;

use crate::gossip::GossipTiming;
use crate::pg::scrub::ScrubConfig;
use crate::pg::{Event, LogLimits};
use crate::store::{Store, StoreConfig, TxOp, Txn};

/// Timing of the daemon. Defaults suit a LAN or one machine.
#[derive(Debug, Clone)]
pub struct OsdTiming {
    /// How often PGs resend unanswered peering and replication messages.
    pub pg_tick: Duration,
    /// How often beacons go to the monitors.
    pub beacon: Duration,
    /// The SWIM failure detector's timing.
    pub gossip: GossipTiming,
    /// Read lease timing.
    pub lease: crate::pg::LeaseConfig,
}

impl Default for OsdTiming {
    fn default() -> Self {
        OsdTiming {
            pg_tick: Duration::from_millis(500),
            beacon: Duration::from_secs(2),
            gossip: GossipTiming::default(),
            lease: crate::pg::LeaseConfig::default(),
        }
    }
}

/// What an OSD needs to start.
#[derive(Debug, Clone)]
pub struct OsdOptions {
    /// Its data directory (store, identity).
    pub data: PathBuf,
    /// The monitors.
    pub mons: Vec<SocketAddr>,
    /// The cluster key.
    pub keyring: Keyring,
    /// Where the messenger listens (port 0: any free port).
    pub addr: SocketAddr,
    /// Where `/metrics` and `/health` are served, if anywhere.
    pub http: Option<SocketAddr>,
    /// Its place in the CRUSH hierarchy.
    pub location: Location,
    /// Its CRUSH weight.
    pub weight: Weight,
    /// The id the operator expects (checked against the data directory's).
    pub expect_id: Option<OsdId>,
    /// Timing.
    pub timing: OsdTiming,
    /// Store tuning.
    pub store: StoreConfig,
    /// PG log limits.
    pub log_limits: LogLimits,
    /// Scrub intervals and auto-repair.
    pub scrub: ScrubConfig,
}

/// A running OSD.
pub struct Osd {
    shared: Arc<shared::Shared>,
    http: Option<SocketAddr>,
}

const UUID_KEY: &str = "uuid";
const ID_KEY: &str = "id";
const FSID_KEY: &str = "fsid";

impl Osd {
    /// Starts the OSD: opens its store, boots to the monitors, loads its PGs and follows
    /// the map. Returns once it serves.
    pub async fn start(opts: OsdOptions) -> Result<Osd, OsdError> {
        let data_err = |reason: String| OsdError::DataDir {
            path: opts.data.display().to_string(),
            reason,
        };
        let clock = shared::Clock::start();
        std::fs::create_dir_all(&opts.data).map_err(|e| data_err(e.to_string()))?;
        let store = Store::open(&opts.data.join("store.redb"), opts.store.clone())?;
        // The store is ours alone only once an earlier run of this OSD has stopped, so any
        // lease that run granted ended by now plus one lease.
        let started = clock.now();
        let uuid = identity(&store).await?;
        let messenger = Messenger::bind(opts.addr, &opts.keyring, MessengerConfig::default())?;
        let addr = messenger.listen_addr().expect("a bound messenger listens");
        let gossip_socket = tokio::net::UdpSocket::bind(SocketAddr::new(addr.ip(), 0))
            .await
            .map_err(|e| data_err(format!("cannot bind the gossip socket: {e}")))?;
        let mon = MonClient::new(messenger.clone(), opts.mons.clone());

        let boot = OsdBoot {
            uuid,
            addr,
            location: opts.location.clone(),
            weight: opts.weight,
            gossip: gossip_socket.local_addr().ok(),
        };
        let map = current_map(&store, &mon).await?;
        check_cluster(&store, &map).await?;
        let before_boot = map.last().expect("current_map returns a map").epoch;
        let (id, epoch) = mon.call(&boot).await?;
        if let Some(expected) = opts.expect_id.filter(|e| *e != id) {
            return Err(OsdError::Identity(format!(
                "this data directory belongs to {id}, not {expected}"
            )));
        }
        store
            .commit(Txn {
                ops: vec![TxOp::SetMeta {
                    key: ID_KEY.into(),
                    value: id.0.to_le_bytes().to_vec(),
                }],
            })
            .await?;
        info!(%id, %addr, epoch = epoch.0, "booted");

        let (fatal, _) = watch::channel(None);
        let shared = Arc::new(shared::Shared {
            id,
            store,
            messenger: messenger.clone(),
            mon,
            maps: RwLock::new(VecDeque::from(map.clone())),
            pgs: Mutex::new(BTreeMap::new()),
            locks: Mutex::new(HashMap::new()),
            clock,
            started,
            before_boot,
            lease: opts.timing.lease,
            advancing: tokio::sync::Mutex::new(()),
            boot: Arc::new(boot),
            log_limits: opts.log_limits,
            pg_tick: opts.timing.pg_tick,
            counters: shared::Counters::default(),
            backfills: Mutex::new(BTreeMap::new()),
            scrub: scrub_state::Scrubs::new(opts.scrub.clone(), u64::from(id.0)),
            in_flight: slow_ops::InFlightOps::default(),
            stray_removals: tokio::sync::Semaphore::new(1),
            fatal,
        });
        messenger.serve(Arc::new(router(shared.clone())));

        // PGs held on disk get tasks first, seeded with the history replayed from the
        // monitors; then the newest map goes to everyone.
        let tick = opts.timing.pg_tick;
        let latest = shared.map();
        {
            let mut maps = shared.maps.write().expect("maps lock");
            maps.pop_back();
        }
        let stored = maps::start_stored_pgs(&shared, tick)?;
        info!(pgs = stored, "loaded PGs from the store");
        {
            let _one_at_a_time = shared.advancing.lock().await;
            maps::advance(&shared, latest, tick).await;
        }
        tokio::spawn(maps::follow(shared.clone(), tick));
        tokio::spawn(backfill::run(shared.clone()));
        tokio::spawn(liveness::beacons(shared.clone(), opts.timing.beacon));
        let gossip_key =
            crate::gossip::seal::GossipKey::from_secret(opts.keyring.key().secret_der());
        tokio::spawn(gossip::run(
            shared.clone(),
            gossip_socket,
            epoch,
            opts.timing.gossip,
            gossip_key,
        ));
        tokio::spawn(scrub::scheduler(shared.clone()));
        let s = shared.clone();
        tokio::spawn(async move { slow_ops::report(&s.in_flight, || s.clock.now()).await });
        let http = match opts.http {
            Some(addr) => Some(http::serve(shared.clone(), addr).await?),
            None => None,
        };
        Ok(Osd { shared, http })
    }

    /// This OSD's id.
    pub fn id(&self) -> OsdId {
        self.shared.id
    }

    /// Where its messenger listens.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.shared.messenger.listen_addr()
    }

    /// Where `/metrics` and `/health` are served.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// Waits until the OSD must stop (a fatal error); returns why.
    pub async fn stopped(&self) -> OsdError {
        let mut rx = self.shared.fatal.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return OsdError::Fatal(reason);
            }
            if rx.changed().await.is_err() {
                return OsdError::Fatal("shut down".into());
            }
        }
    }

    /// Snapshots of its PGs.
    pub fn pgs(&self) -> Vec<(placement::PgId, PgSnapshot)> {
        self.shared
            .pgs
            .lock()
            .expect("pgs lock")
            .iter()
            .map(|(pg, h)| (*pg, h.snapshot()))
            .collect()
    }
}

fn router(shared: Arc<shared::Shared>) -> Router {
    let (s1, s2, s3, s4, s5, s6) = (
        shared.clone(),
        shared.clone(),
        shared.clone(),
        shared.clone(),
        shared.clone(),
        shared.clone(),
    );
    scrub_router(shared)
        .route_with_payload(move |req: peer::ShardRead, _| {
            let shared = s5.clone();
            async move { ec::serve_shard_read(shared, req).await }
        })
        .route_with_payload(move |req: ObjectRequest, ctx| {
            let shared = s1.clone();
            let epoch = placement::Epoch(ctx.epoch);
            async move { ops::serve(shared, req, epoch, ctx.payload).await }
        })
        .route(move |req: ListObjects, _| {
            let shared = s2.clone();
            async move { ops::list(shared, req).await }
        })
        .route(|_: Ping, _| async {})
        .route(move |req: backfill::BackfillPush, ctx| {
            let shared = s4.clone();
            async move { backfill::serve_push(shared, req, ctx).await }
        })
        .route(move |req: backfill::BackfillRelay, _| {
            let shared = s6.clone();
            async move { backfill::serve_relay(shared, req).await }
        })
        .route(move |req: PgPeer, ctx| {
            let shared = s3.clone();
            async move { deliver_peer(&shared, req, ctx).await }
        })
}

/// Scrub, repair and read-repair requests (operator -> primary, primary -> members).
fn scrub_router(shared: Arc<shared::Shared>) -> Router {
    let (s1, s2, s3, s4, s5) = (
        shared.clone(),
        shared.clone(),
        shared.clone(),
        shared.clone(),
        shared,
    );
    Router::new()
        .route(move |req: ScrubRequest, _| {
            let shared = s1.clone();
            async move { scrub::serve_request(&shared, req) }
        })
        .route(move |req: GetScrubStatus, _| {
            let shared = s2.clone();
            async move { scrub::serve_status(&shared, req) }
        })
        .route(move |req: peer::ScrubMap, _| {
            let shared = s3.clone();
            async move { scrub::serve_scrub_map(shared, req).await }
        })
        .route_with_payload(move |req: peer::FetchObject, _| {
            let shared = s4.clone();
            async move { scrub::serve_fetch(shared, req).await }
        })
        .route(move |req: peer::RepairObject, ctx| {
            let shared = s5.clone();
            async move { scrub::serve_repair(shared, req, ctx).await }
        })
}

/// Hands a peer's PG message to the PG's task, starting one for a PG this OSD does not
/// run yet (a primary may probe any OSD that could hold the PG).
async fn deliver_peer(shared: &Arc<shared::Shared>, req: PgPeer, ctx: rados::Context) {
    // A peer on a newer map: fetch that map first. The PG ignores orders from an epoch it
    // has not seen (the peer resends them), so catching up now saves a resend; and a peer
    // that booted since is known by its address only in the newer map.
    let epoch = placement::Epoch(ctx.epoch);
    if epoch > shared.map().epoch {
        maps::catch_up(shared, epoch, PEER_CATCH_UP).await;
    }
    let Some(from) = routing::sender(shared, &ctx) else {
        return;
    };
    let Some(handle) = routing::pg_task_for(shared, req.pg).await else {
        return;
    };
    let msg = pg_task::join_payload(req.msg, ctx.payload);
    let _ = handle
        .tx
        .send(pg_handle::PgInput::Event(Event::Msg { from, msg }))
        .await;
}

/// How long a peer's message waits for this OSD to fetch the peer's newer map.
const PEER_CATCH_UP: Duration = Duration::from_secs(2);

/// The data directory's identity: created on first start, kept forever.
async fn identity(store: &Store) -> Result<[u8; 16], OsdError> {
    if let Some(bytes) = store.meta(UUID_KEY)? {
        return bytes
            .try_into()
            .map_err(|_| OsdError::Identity("corrupt uuid in the data directory".into()));
    }
    // Two independent OS-seeded hashers: random enough for an identity, no extra crate.
    let mut uuid = [0u8; 16];
    for half in uuid.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id() as u64);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    store
        .commit(Txn {
            ops: vec![TxOp::SetMeta {
                key: UUID_KEY.into(),
                value: uuid.to_vec(),
            }],
        })
        .await?;
    Ok(uuid)
}

/// The map to start from: the stored one brought up to date with the monitors' history
/// (so PGs see every epoch they missed), or a fresh full map.
async fn current_map(store: &Store, mon: &MonClient) -> Result<Vec<Arc<ClusterMap>>, OsdError> {
    let stored: Option<ClusterMap> = store
        .meta(maps::MAP_KEY)?
        .and_then(|b| rmp_serde::from_slice(&b).ok());
    let update = mon
        .call(&GetMap {
            have: stored.as_ref().map(|m| m.epoch),
        })
        .await?;
    Ok(match stored {
        Some(old) => {
            let mut maps = maps::apply_update(&old, update);
            if maps.is_empty() {
                maps.push(Arc::new(old));
            }
            maps
        }
        // No map yet: whatever the monitors hold is newer, even at epoch 0.
        None => match update {
            MapUpdate::Full(map) => vec![Arc::new(*map)],
            other => maps::apply_update(&ClusterMap::new(placement::Fsid([0; 16])), other),
        },
    })
    .and_then(|maps: Vec<Arc<ClusterMap>>| {
        if maps.is_empty() {
            Err(OsdError::Identity("the monitors sent no map".into()))
        } else {
            Ok(maps)
        }
    })
}

/// Refuses a data directory of another cluster; records the cluster on first start.
async fn check_cluster(store: &Store, maps: &[Arc<ClusterMap>]) -> Result<(), OsdError> {
    let fsid = maps.last().expect("non-empty").fsid;
    match store.meta(FSID_KEY)? {
        Some(stored) if stored != fsid.0 => Err(OsdError::Identity(
            "this data directory belongs to another cluster".into(),
        )),
        Some(_) => Ok(()),
        None => Ok(store
            .commit(Txn {
                ops: vec![TxOp::SetMeta {
                    key: FSID_KEY.into(),
                    value: fsid.0.to_vec(),
                }],
            })
            .await?),
    }
}
