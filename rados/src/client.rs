//! The RADOS client: object operations on pools, routed to each PG's primary by the cluster
//! map the client follows.
//!
//! [`RadosClient::connect`] fetches the full map from the monitors and keeps following new
//! epochs with `Subscribe` in a background task (stopped when the client is dropped).
//! [`RadosClient::pool`] gives an [`IoCtx`], whose methods each send one request to the
//! primary of the object's PG. Every failure that a newer map or a later try may fix (see
//! `rules::judge`) refreshes the map, backs off and resends the *same* request with the
//! *same* reqid, so the PG recognises a resent write instead of applying it twice, until
//! [`ClientConfig::op_timeout`].
//!
//! Shell module: it spawns the map follower and reads the clock (tokio's) for deadlines and
//! backoff. The decisions are pure and live in `rules` and `list`.

mod error;
mod ioctx;
mod list;
mod memory;
mod rules;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use placement::{ClusterMap, Epoch, Placement, PoolId};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::debug;

pub use error::{ClientError, RetryCause};
pub use ioctx::{IoCtx, WriteOp};
pub use list::{LIST_BATCH, ListCursor};
pub use memory::MemoryPool;

use crate::error::CallError;
use crate::keyring::Keyring;
use crate::messenger::{Messenger, MessengerConfig};
use crate::mon_client::MonClient;
use crate::proto::mon::{GetMap, MapUpdate, Subscribe};
use crate::proto::osd::{OsdError, ReqId};
use rules::{Backoff, Locate, RouteError, Verdict};

/// The largest object one request may carry. Frames allow 64 MiB of payload
/// ([`crate::frame::MAX_PAYLOAD`]); objects are kept well below so that an OSD holding a
/// few in memory at once stays small. Larger data is striped over several objects by the
/// caller (the gateway).
pub const MAX_OBJECT_SIZE: u64 = 16 << 20;

/// Timing of a [`RadosClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// How long one op may take, retries included, before it fails with
    /// [`ClientError::Timeout`].
    pub op_timeout: Duration,
    /// First wait between retries of an op; doubles up to `backoff_max`. A new map epoch
    /// cuts the wait short.
    pub backoff_min: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// The messenger's timing (its `request_timeout` bounds each attempt).
    pub messenger: MessengerConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            op_timeout: Duration::from_secs(30),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            messenger: MessengerConfig::default(),
        }
    }
}

/// One epoch's map, with its placement compiled once for every op routed at that epoch.
struct MapState {
    map: Arc<ClusterMap>,
    placement: Placement,
}

impl MapState {
    fn new(map: ClusterMap) -> Arc<MapState> {
        Arc::new(MapState {
            placement: Placement::new(&map),
            map: Arc::new(map),
        })
    }

    fn epoch(&self) -> Epoch {
        self.map.epoch
    }
}

/// What the client and its map follower share.
struct Shared {
    messenger: Arc<Messenger>,
    mons: MonClient,
    map: watch::Sender<Arc<MapState>>,
    /// One map refresh at a time: ops failing together then share one `GetMap`.
    refreshing: tokio::sync::Mutex<()>,
    config: ClientConfig,
}

impl Shared {
    fn current(&self) -> Arc<MapState> {
        self.map.borrow().clone()
    }

    /// Applies a monitor's update; on a gap, fetches the full map. Returns the epoch held.
    async fn install(&self, update: MapUpdate) -> Result<Epoch, RetryCause> {
        match self.try_install(update) {
            Err(gap) => {
                debug!(%gap, "map update does not apply; fetching the full map");
                let full = self
                    .mons
                    .call(&GetMap { have: None })
                    .await
                    .map_err(RetryCause::Map)?;
                self.try_install(full).map_err(RetryCause::MapUpdate)
            }
            ok => ok.map_err(RetryCause::MapUpdate),
        }
    }

    fn try_install(&self, update: MapUpdate) -> Result<Epoch, placement::MapError> {
        let mut result = Ok(());
        self.map.send_if_modified(|state| {
            match rules::apply_update(&state.map, update) {
                Ok(Some(next)) => {
                    *state = MapState::new(next);
                    return true;
                }
                Ok(None) => {}
                Err(e) => result = Err(e),
            }
            false
        });
        result?;
        let epoch = self.current().epoch();
        self.messenger.set_epoch(epoch.0);
        Ok(epoch)
    }

    /// Brings the map past `seen` if the monitors have a newer one. Skipped when another
    /// refresh or the subscription already did.
    async fn refresh(&self, seen: Epoch) -> Result<Epoch, RetryCause> {
        let _one = self.refreshing.lock().await;
        let have = self.current().epoch();
        if have > seen {
            return Ok(have);
        }
        let update = self
            .mons
            .call_racing(&GetMap { have: Some(have) }, 2)
            .await
            .map_err(RetryCause::Map)?;
        self.install(update).await
    }

    /// Follows new epochs until the task is aborted (when the client is dropped).
    async fn follow(self: Arc<Self>) {
        let mut backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max);
        loop {
            let have = self.current().epoch();
            // Two monitors at once: one that died mid-poll must not hide new maps.
            let result = match self.mons.call_racing(&Subscribe { have }, 2).await {
                Ok(update) => self.install(update).await,
                Err(e) => Err(RetryCause::Map(e)),
            };
            match result {
                Ok(_) => backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max),
                Err(e) => {
                    debug!(%e, "map subscription failed; retrying");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
            }
        }
    }
}

/// A connection to a cluster: the map, the monitors, and a messenger to reach the OSDs.
/// Cheap to share (`Arc`); open one per process. Must be created inside a tokio runtime.
pub struct RadosClient {
    shared: Arc<Shared>,
    /// This client's random instance id: the `client` half of every reqid.
    id: u64,
    next_tid: AtomicU64,
    follower: tokio::task::AbortHandle,
}

impl Drop for RadosClient {
    fn drop(&mut self) {
        self.follower.abort();
        self.shared.messenger.close();
    }
}

impl std::fmt::Debug for RadosClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadosClient")
            .field("id", &format_args!("{:016x}", self.id))
            .field("epoch", &self.current().epoch())
            .finish()
    }
}

impl RadosClient {
    /// Connects to the cluster whose monitors are `mons`, authenticating with `keyring`:
    /// fetches the full map (failing if no monitor gives one) and starts following new
    /// epochs.
    pub async fn connect(
        mons: Vec<SocketAddr>,
        keyring: &Keyring,
        config: ClientConfig,
    ) -> Result<Arc<RadosClient>, ClientError> {
        let messenger = Messenger::client(keyring, config.messenger.clone())?;
        let mons = MonClient::new(messenger.clone(), mons);
        let map = match mons.call(&GetMap { have: None }).await? {
            MapUpdate::Full(map) => *map,
            other => {
                return Err(ClientError::BadReply(format!(
                    "monitor answered a request for the full map with {}",
                    match other {
                        MapUpdate::UpToDate(e) => format!("up-to-date at {e}"),
                        _ => "incrementals".to_owned(),
                    }
                )));
            }
        };
        messenger.set_epoch(map.epoch.0);
        let (map, _) = watch::channel(MapState::new(map));
        let shared = Arc::new(Shared {
            messenger,
            mons,
            map,
            refreshing: tokio::sync::Mutex::new(()),
            config,
        });
        let follower = tokio::spawn(shared.clone().follow()).abort_handle();
        Ok(Arc::new(RadosClient {
            shared,
            id: instance_id(),
            next_tid: AtomicU64::new(1),
            follower,
        }))
    }

    /// The cluster map this client routes by (the newest it has seen).
    pub fn map(&self) -> Arc<ClusterMap> {
        self.current().map.clone()
    }

    /// The epoch of [`map`](Self::map).
    pub fn epoch(&self) -> Epoch {
        self.current().epoch()
    }

    /// This client's instance id (the `client` half of its reqids).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The monitors this client follows, for admin requests (e.g. creating the pools a
    /// service needs on first start).
    pub fn mon_client(&self) -> &MonClient {
        &self.shared.mons
    }

    /// The id of the pool named `name` in the current map.
    pub fn pool_id(&self, name: &str) -> Option<PoolId> {
        self.current().map.pool_by_name(name).map(|p| p.id)
    }

    /// A handle for objects in pool `name`. Refreshes the map once if the pool is unknown
    /// (it may have just been created).
    pub async fn pool(self: &Arc<Self>, name: &str) -> Result<IoCtx, ClientError> {
        let id = match self.pool_id(name) {
            Some(id) => id,
            None => {
                if let Err(e) = self.shared.refresh(self.epoch()).await {
                    debug!(%e, "map refresh for an unknown pool failed");
                }
                self.pool_id(name)
                    .ok_or_else(|| ClientError::NoSuchPool(name.to_owned()))?
            }
        };
        Ok(IoCtx::new(self.clone(), id, name.to_owned()))
    }

    /// Asks the monitors for a newer map now; returns the epoch held afterwards.
    pub async fn refresh_map(&self) -> Result<Epoch, ClientError> {
        self.shared
            .refresh(self.epoch())
            .await
            .map_err(|cause| match cause {
                RetryCause::Map(e) => ClientError::Mon(e),
                other => ClientError::BadReply(other.to_string()),
            })
    }

    fn current(&self) -> Arc<MapState> {
        self.shared.current()
    }

    /// A fresh request id; resends of one op reuse it.
    fn next_reqid(&self) -> ReqId {
        ReqId {
            client: self.id,
            tid: self.next_tid.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Resolves once a map newer than `state` routes the op to another OSD than `osd` (or to
    /// none); returns that map's epoch. Never resolves otherwise.
    async fn moved(
        &self,
        state: &MapState,
        pool: PoolId,
        locate: Locate<'_>,
        osd: placement::OsdId,
    ) -> Epoch {
        let mut epochs = self.shared.map.subscribe();
        let seen = state.epoch();
        loop {
            if epochs.changed().await.is_err() {
                return std::future::pending().await;
            }
            let next = epochs.borrow_and_update().clone();
            if next.epoch() > seen && rules::moved(&next.map, &next.placement, pool, locate, osd) {
                return next.epoch();
            }
        }
    }

    /// Runs `attempt` against the primary of the PG `locate` names until it succeeds, fails
    /// for good, or the op timeout passes. Between attempts: refresh the map, then wait for
    /// the backoff or a newer epoch, whichever comes first. `attempt` must resend the same
    /// request each time.
    async fn with_retry<T, F, Fut>(
        &self,
        pool: PoolId,
        pool_name: &str,
        locate: Locate<'_>,
        mut attempt: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(SocketAddr) -> Fut,
        Fut: Future<Output = Result<Result<T, OsdError>, CallError>>,
    {
        let timeout = self.shared.config.op_timeout;
        let deadline = Instant::now() + timeout;
        let mut backoff = Backoff::new(
            self.shared.config.backoff_min,
            self.shared.config.backoff_max,
        );
        let mut refreshed = false;
        loop {
            let state = self.current();
            let cause = match rules::route(&state.map, &state.placement, pool, locate) {
                Ok(target) => {
                    // A newer map that routes the op elsewhere (its primary marked down,
                    // say) ends the attempt at once: no waiting out a dead peer's timeout.
                    // The same reqid goes to the new primary; a write the old one applied
                    // is answered from the PG log, never applied twice.
                    let moved = self.moved(&state, pool, locate, target.osd);
                    tokio::select! {
                        outcome = tokio::time::timeout_at(deadline, attempt(target.addr)) => {
                            match outcome {
                                Ok(outcome) => match rules::judge(outcome) {
                                    Verdict::Done(reply) => return Ok(reply),
                                    Verdict::Fail(e) => return Err(e),
                                    Verdict::Retry(cause) => cause,
                                },
                                Err(_) => RetryCause::Call(CallError::Timeout {
                                    peer: target.addr,
                                    after: timeout,
                                }),
                            }
                        }
                        epoch = moved => RetryCause::Moved {
                            osd: target.osd,
                            epoch,
                        },
                    }
                }
                Err(RouteError::NoSuchPool) if refreshed => {
                    return Err(ClientError::NoSuchPool(pool_name.to_owned()));
                }
                Err(RouteError::NoSuchPool) => RetryCause::NoSuchPool,
                Err(RouteError::Retry(cause)) => cause,
            };
            debug!(%cause, epoch = %state.epoch(), "op attempt failed; retrying");
            let give_up = |last| ClientError::Timeout {
                after: timeout,
                last: Box::new(last),
            };
            // A failed refresh is the better last cause: the map is what a retry waits for.
            let cause =
                match tokio::time::timeout_at(deadline, self.shared.refresh(state.epoch())).await {
                    Err(_) => return Err(give_up(cause)),
                    Ok(Err(e)) => {
                        debug!(%e, "map refresh failed");
                        e
                    }
                    Ok(Ok(_)) => {
                        refreshed = true;
                        cause
                    }
                };
            // Wait out the backoff, unless a newer epoch arrives first (it may route the op
            // elsewhere, or be the epoch the OSD said it is at).
            let mut epochs = self.shared.map.subscribe();
            let until = (Instant::now() + backoff.next_wait()).min(deadline);
            let seen = state.epoch();
            let _ = tokio::time::timeout_at(until, epochs.wait_for(|m| m.epoch() > seen)).await;
            if Instant::now() >= deadline {
                return Err(give_up(cause));
            }
        }
    }
}

/// A random client instance id without an RNG dependency: std's `RandomState` keys come
/// from the OS once per thread and advance per instance; the pid is mixed in for good
/// measure. Two clients sharing an id would see each other's reqids as resends.
fn instance_id() -> u64 {
    RandomState::new().hash_one(std::process::id())
}
