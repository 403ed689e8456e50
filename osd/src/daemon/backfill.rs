//! Backfill, the shell: a scheduler that starts at most `osd_max_backfills` jobs at a time
//! (degraded PGs first), each copying a PG's objects in listing order to the new members of
//! its up set while the old holders keep serving behind the pg_temp; every copy is checked
//! against its stored crc32c before it leaves and again when it lands. When every target
//! holds the PG, the primary tells the monitors (`BackfillDone`); the pg_temp is cleared, the
//! PG peers with its CRUSH set, and peering copies what changed meanwhile (the targets
//! compare by listing, being `incomplete`).
//!
//! Bandwidth is capped per OSD by `osd_recovery_max_bytes_per_sec`; both settings are read
//! from the map, so `shoal config set` changes them at run time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use placement::config::{OSD_MAX_BACKFILLS, OSD_RECOVERY_MAX_BYTES_PER_SEC};
use placement::{Epoch, OsdId, PgId};
use rados::Rpc;
use rados::proto::mon::BackfillDone;
use rados::proto::osd::Version;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio::sync::{Mutex as AsyncMutex, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::pg_handle::PgInput;
use super::routing;
use super::shared::{Counters, Shared};
use crate::StoreError;
use crate::backfill::{Bandwidth, Job, Progress, Target, order};
use crate::pg::{Event, ObjectCopy, PgState};
use crate::store::{ObjectKey, Store};

/// How often the scheduler looks for work.
const EVERY: Duration = Duration::from_millis(500);
/// Objects listed per page.
const PAGE: usize = 32;
/// Attempts per copy before the job gives up (the scheduler starts it again).
const ATTEMPTS: u32 = 3;

/// One backfill copy, primary -> new member; the object's data is the frame payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackfillPush {
    /// The PG.
    pub pg: PgId,
    /// The primary's interval.
    pub interval: Epoch,
    /// The object.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// crc32c of the data, checked on arrival.
    pub crc: u32,
    /// Its xattrs.
    pub xattrs: BTreeMap<String, ByteBuf>,
    /// Its omap.
    pub omap: Vec<(ByteBuf, ByteBuf)>,
}

/// Why a backfill copy was not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum BackfillRefused {
    /// The data does not match its crc32c.
    #[error("backfill copy failed its checksum")]
    Checksum,
    /// This OSD is not a backfill target of the PG in that interval (the map moved on).
    #[error("not a backfill target of this pg now")]
    NotTarget,
    /// A relaying holder could not read its copy or reach the new member.
    #[error("the shard's holder could not send it: {0}")]
    Relay(String),
}

impl Rpc for BackfillPush {
    const METHOD: u16 = 220;
    type Reply = Result<(), BackfillRefused>;
}

/// Erasure-coded backfill, primary -> the old holder of a shard position: send your copy of
/// `name` (exactly the shard the position's new member needs) to `to`. Answers the bytes
/// sent (0: the holder has no such object now).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackfillRelay {
    /// The PG.
    pub pg: PgId,
    /// The primary's interval (carried in the copy).
    pub interval: Epoch,
    /// The object.
    pub name: String,
    /// The new member.
    pub to: OsdId,
}

impl Rpc for BackfillRelay {
    const METHOD: u16 = 221;
    type Reply = Result<u64, BackfillRefused>;
}

/// Stores a backfill copy on this (target) OSD through the PG's task.
pub async fn serve_push(
    shared: Arc<Shared>,
    req: BackfillPush,
    ctx: rados::Context,
) -> Result<(), BackfillRefused> {
    if crc32c::crc32c(&ctx.payload) != req.crc {
        return Err(BackfillRefused::Checksum);
    }
    let from = routing::sender(&shared, &ctx).ok_or(BackfillRefused::NotTarget)?;
    let handle = routing::pg_task_for(&shared, req.pg)
        .await
        .ok_or(BackfillRefused::NotTarget)?;
    let (reply, stored) = oneshot::channel();
    let event = Event::Backfill {
        from,
        interval: req.interval,
        name: req.name,
        copy: ObjectCopy {
            version: req.version,
            data: ctx.payload,
            xattrs: req.xattrs,
            omap: req.omap,
        },
    };
    let sent = handle.tx.send(PgInput::Backfill { event, reply }).await;
    match (sent, stored.await) {
        (Ok(()), Ok(true)) => Ok(()),
        _ => Err(BackfillRefused::NotTarget),
    }
}

/// Sends this OSD's copy of an object to a new member, for the primary (erasure-coded
/// backfill: this OSD held the shard position the new member takes).
pub async fn serve_relay(shared: Arc<Shared>, req: BackfillRelay) -> Result<u64, BackfillRefused> {
    let relay = |e: BackfillError| BackfillRefused::Relay(e.to_string());
    let Some((push, data)) = read_for_push(&shared.store, req.pg, &req.name, req.interval)
        .await
        .map_err(relay)?
    else {
        return Ok(0);
    };
    let bytes = data.len() as u64;
    match send(&shared, req.to, &push, data).await {
        Ok(()) => Ok(bytes),
        Err(BackfillError::Refused { reason, .. }) => Err(reason),
        Err(e) => Err(relay(e)),
    }
}

/// Runs the scheduler until the process ends.
pub async fn run(shared: Arc<Shared>) {
    let start = tokio::time::Instant::now();
    let now = move || start.elapsed();
    let bandwidth = Arc::new(AsyncMutex::new(Bandwidth::new(
        OSD_RECOVERY_MAX_BYTES_PER_SEC.default,
        now(),
    )));
    let mut running: BTreeMap<PgId, JoinHandle<()>> = BTreeMap::new();
    let mut ticker = tokio::time::interval(EVERY);
    loop {
        ticker.tick().await;
        let map = shared.map();
        bandwidth
            .lock()
            .await
            .set_rate(map.setting(&OSD_RECOVERY_MAX_BYTES_PER_SEC));
        let limit = usize::try_from(map.setting(&OSD_MAX_BACKFILLS)).unwrap_or(usize::MAX);
        running.retain(|_, h| !h.is_finished());

        let jobs: Vec<(Job, Epoch)> = {
            let pgs = shared.pgs.lock().expect("pgs lock");
            pgs.iter()
                .filter_map(|(pg, h)| {
                    let snap = h.snapshot();
                    let m = snap.mapping.as_ref()?;
                    (snap.state == PgState::Active)
                        .then(|| Job::of(*pg, m, shared.id))
                        .flatten()
                        .map(|j| (j, snap.since))
                })
                .collect()
        };
        let since: BTreeMap<PgId, Epoch> = jobs.iter().map(|(j, e)| (j.pg, *e)).collect();
        let jobs = order(jobs.into_iter().map(|(j, _)| j).collect());
        let done: Vec<PgId> = {
            let mut progress = shared.backfills.lock().expect("backfills lock");
            progress.retain(|pg, p| since.get(pg) == Some(&p.interval));
            for job in &jobs {
                progress.entry(job.pg).or_insert(Progress {
                    interval: since[&job.pg],
                    targets: job.targets.len() as u64,
                    ..Progress::default()
                });
            }
            progress
                .iter()
                .filter(|(_, p)| p.done)
                .map(|(pg, _)| *pg)
                .collect()
        };
        for job in jobs {
            let Some(temp) = map.pg_temp.get(&job.pg).cloned() else {
                continue;
            };
            if done.contains(&job.pg) {
                // Copied; the monitors were not told yet (or the map is still on its way).
                tell_monitors(&shared, job.pg, temp).await;
                continue;
            }
            if running.contains_key(&job.pg) || running.len() >= limit {
                continue;
            }
            let (shared, bandwidth) = (shared.clone(), bandwidth.clone());
            let (pg, interval) = (job.pg, since[&job.pg]);
            running.insert(
                pg,
                tokio::spawn(async move {
                    let result = backfill_pg(&shared, &job, interval, &bandwidth, now).await;
                    set_progress(&shared, pg, |p| {
                        p.running = false;
                        p.done = result.is_ok();
                    });
                    match result {
                        Ok(()) => {
                            info!(%pg, "backfill copied; asking the monitors to clear pg_temp");
                            tell_monitors(&shared, pg, temp).await;
                        }
                        Err(why) => info!(%pg, %why, "backfill stopped; it will start again"),
                    }
                }),
            );
        }
    }
}

/// Asks the monitors to clear the pg_temp `temp` of `pg` (retried by the next pass).
async fn tell_monitors(shared: &Shared, pg: PgId, temp: Vec<Option<OsdId>>) {
    if let Err(e) = shared.mon.call(&BackfillDone { pg, temp }).await {
        warn!(%pg, error = %e, "backfill done; monitors not told yet");
    }
}

/// Why a backfill pass stopped (the next pass starts it again).
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The local store failed.
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    /// A blocking store task died.
    #[error("store task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// This OSD no longer serves the PG as primary in the interval the job began in.
    #[error("the PG's interval changed")]
    IntervalChanged,
    /// The local copy does not match its checksum; it is not sent.
    #[error("{0}: local copy fails its checksum")]
    Checksum(String),
    /// The target has no address in the map.
    #[error("{0} has no address")]
    NoAddress(OsdId),
    /// The target refused the copy.
    #[error("{target}: {reason}")]
    Refused {
        /// The target.
        target: OsdId,
        /// Why.
        reason: BackfillRefused,
    },
    /// The target did not answer, after every attempt.
    #[error("{target}: {source}")]
    Unreachable {
        /// The target.
        target: OsdId,
        /// The last attempt's failure.
        source: rados::CallError,
    },
}

/// Copies every object of `job.pg` to its targets.
async fn backfill_pg(
    shared: &Arc<Shared>,
    job: &Job,
    interval: Epoch,
    bandwidth: &AsyncMutex<Bandwidth>,
    now: impl Fn() -> Duration,
) -> Result<(), BackfillError> {
    let pg = job.pg;
    let total = count(&shared.store, pg).await?;
    set_progress(shared, pg, |p| {
        p.running = true;
        p.total = total;
        p.copied = 0;
    });
    info!(%pg, objects = total, targets = ?job.targets, "backfill started");
    let mut after: Option<String> = None;
    loop {
        let page = {
            let (store, after) = (shared.store.clone(), after.clone());
            tokio::task::spawn_blocking(move || store.list(pg, after.as_deref(), PAGE)).await??
        };
        for (name, _) in &page {
            if !still_serving(shared, pg, interval) {
                return Err(BackfillError::IntervalChanged);
            }
            let Some((push, data)) = read_for_push(&shared.store, pg, name, interval).await? else {
                continue; // deleted since the listing
            };
            // Erasure-coded shards of one object are the same size: ours stands for each.
            let wait = bandwidth.lock().await.take(data.len() as u64, now());
            tokio::time::sleep(wait).await;
            for target in &job.targets {
                let bytes = if target.source == shared.id {
                    send(shared, target.osd, &push, data.clone()).await?;
                    data.len() as u64
                } else {
                    relay(shared, target, &push).await?
                };
                Counters::add(&shared.counters.recovered_bytes, bytes);
                Counters::add(&shared.counters.recovered_objects, 1);
            }
            set_progress(shared, pg, |p| p.copied += 1);
        }
        if page.len() < PAGE {
            return Ok(());
        }
        after = page.last().map(|(n, _)| n.clone());
    }
}

/// Whether this OSD still serves `pg` as primary in `interval`.
fn still_serving(shared: &Shared, pg: PgId, interval: Epoch) -> bool {
    shared.pg(pg).is_some_and(|h| {
        let snap = h.snapshot();
        snap.primary && snap.since == interval && snap.state == PgState::Active
    })
}

fn set_progress(shared: &Shared, pg: PgId, f: impl FnOnce(&mut Progress)) {
    if let Some(p) = shared
        .backfills
        .lock()
        .expect("backfills lock")
        .get_mut(&pg)
    {
        f(p);
    }
}

/// Objects in `pg` on this OSD.
pub async fn count(store: &Store, pg: PgId) -> Result<u64, BackfillError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut n = 0u64;
        let mut after: Option<String> = None;
        loop {
            let page = store.list(pg, after.as_deref(), 1024)?;
            n += page.len() as u64;
            if page.len() < 1024 {
                return Ok(n);
            }
            after = page.last().map(|(name, _)| name.clone());
        }
    })
    .await?
}

/// Reads `name` and checks its data against the stored crc32c before it leaves.
async fn read_for_push(
    store: &Store,
    pg: PgId,
    name: &str,
    interval: Epoch,
) -> Result<Option<(BackfillPush, Bytes)>, BackfillError> {
    let (store, name) = (store.clone(), name.to_string());
    tokio::task::spawn_blocking(move || {
        let key = ObjectKey {
            pg,
            name: name.clone(),
        };
        let Some((meta, data)) = store.read(&key, 0, None)? else {
            return Ok(None);
        };
        let crc = crc32c::crc32c(&data);
        if crc != meta.crc {
            return Err(BackfillError::Checksum(name));
        }
        let omap = store
            .omap_list(&key, None, usize::MAX)?
            .into_iter()
            .map(|(k, v)| (ByteBuf::from(k), ByteBuf::from(v)))
            .collect();
        let push = BackfillPush {
            pg,
            interval,
            name,
            version: meta.version,
            crc,
            xattrs: meta.xattrs,
            omap,
        };
        Ok(Some((push, data)))
    })
    .await?
}

async fn send(
    shared: &Shared,
    target: OsdId,
    push: &BackfillPush,
    data: Bytes,
) -> Result<(), BackfillError> {
    call(shared, target, push, data)
        .await?
        .map_err(|reason| BackfillError::Refused { target, reason })
}

/// Asks `target.source` to send its copy of the object `push` names to `target.osd`.
async fn relay(
    shared: &Shared,
    target: &Target,
    push: &BackfillPush,
) -> Result<u64, BackfillError> {
    let req = BackfillRelay {
        pg: push.pg,
        interval: push.interval,
        name: push.name.clone(),
        to: target.osd,
    };
    call(shared, target.source, &req, Bytes::new())
        .await?
        .map_err(|reason| BackfillError::Refused {
            target: target.osd,
            reason,
        })
}

/// Calls `osd`, up to [`ATTEMPTS`] times while it does not answer.
async fn call<R: Rpc>(
    shared: &Shared,
    osd: OsdId,
    req: &R,
    payload: Bytes,
) -> Result<R::Reply, BackfillError> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let Some(addr) = shared.addr_of(osd) else {
            return Err(BackfillError::NoAddress(osd));
        };
        match shared
            .messenger
            .call_with_payload(addr, req, payload.clone())
            .await
        {
            Ok((reply, _)) => return Ok(reply),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(source) => BackfillError::Unreachable {
            target: osd,
            source,
        },
        None => BackfillError::NoAddress(osd),
    })
}

/// Total recovery counters, for beacons.
pub fn recovered(shared: &Shared) -> (u64, u64) {
    (
        shared.counters.recovered_objects.load(Ordering::Relaxed),
        shared.counters.recovered_bytes.load(Ordering::Relaxed),
    )
}
