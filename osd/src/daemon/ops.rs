//! Client requests on the primary: guards and reads against the local store, writes ordered
//! per object and handed to the PG task, which replicates them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use placement::{Epoch, PgId};
use rados::proto::osd::{
    ListObjects, ObjectReply, ObjectRequest, ObjectStat, Op, OpResult, OsdError, Version,
};
use serde_bytes::ByteBuf;
use tokio::sync::oneshot;

use super::ec;
use super::maps;
use super::pg_handle::{PgHandle, PgInput, PgSnapshot};
use super::routing::serving_primary;
use super::scrub;
use super::shared::{Counters, Shared, store_err};
use super::slow_ops::TrackedOp;
use crate::ec::{Layout, RESERVED_XATTR_PREFIX};
use crate::pg::types::EcMapping;
use crate::pg::{Mutation, PgState, ReadRefused, WriteError};
use crate::store::{ObjectKey, ObjectMeta, Store};

/// Largest object a request may write (the gateway stripes bigger S3 objects).
pub const MAX_OBJECT: usize = 16 << 20;

/// How long a request waits for its PG to serve (peering, a lease wait or renewal) before
/// it is refused as retryable; below the client's request timeout.
const SERVE_WAIT: Duration = Duration::from_secs(3);

/// How long a request from a client with a newer map waits for this OSD to fetch it.
const CATCH_UP: Duration = Duration::from_secs(2);

/// Serves one object request from a client whose map is at `epoch`; the reply payload
/// carries read data.
pub async fn serve(
    shared: Arc<Shared>,
    req: ObjectRequest,
    epoch: Epoch,
    payload: Bytes,
) -> (Result<ObjectReply, OsdError>, Bytes) {
    let kind = if req.ops.iter().any(Op::is_write) {
        "write"
    } else {
        "read"
    };
    let what = format!("{kind} pool {} object {:?}", req.pool.0, req.object);
    let op = shared.in_flight.start(what, shared.clock.now());
    // A client that saw a newer map is answered from that map, never from an older one
    // this OSD happened to hold (a paused OSD that resumes is the usual case).
    op.stage("catching up with the client's map");
    if epoch > shared.map().epoch && !maps::catch_up(&shared, epoch, CATCH_UP).await {
        Counters::bump(&shared.counters.errors);
        let pg = req.object.clone();
        return (
            Err(unavailable_named(&pg, "catching up with the map")),
            Bytes::new(),
        );
    }
    let result = handle(&shared, &op, req, payload).await;
    match &result {
        Ok(_) => {}
        Err(_) => Counters::bump(&shared.counters.errors),
    }
    match result {
        Ok((reply, data)) => (Ok(reply), data),
        Err(e) => (Err(e), Bytes::new()),
    }
}

/// The PG `object` falls in, with the pool's erasure layout if it has one.
fn pg_of(
    shared: &Shared,
    pool: placement::PoolId,
    object: &str,
) -> Result<(PgId, Option<Layout>), OsdError> {
    let map = shared.map();
    // The name's hash picks the PG; which OSDs hold it is the PG task's business (a PG no
    // rule can place has no primary here: the client hears NotPrimary, as from any OSD).
    let pg = map
        .pools
        .get(&pool)
        .ok_or(OsdError::NoSuchPool)?
        .pg_of(object.as_bytes());
    Ok((pg, ec::layout_of(&map, pool)))
}

/// Refuses what an erasure-coded pool cannot hold (omap: index data lives in replicated
/// pools) and the xattrs the OSD reserves for itself, on any pool.
fn check_ops(ops: &[Op], erasure: bool) -> Result<(), OsdError> {
    for op in ops {
        let xattr = match op {
            Op::CmpXattr { name, .. } | Op::SetXattr { name, .. } => Some(name),
            Op::RmXattr(name) | Op::GetXattr(name) => Some(name),
            _ => None,
        };
        if xattr.is_some_and(|n| n.starts_with(RESERVED_XATTR_PREFIX)) {
            return Err(OsdError::Invalid(format!(
                "xattr names starting with {RESERVED_XATTR_PREFIX:?} are reserved"
            )));
        }
        let omap = matches!(
            op,
            Op::OmapSet(_)
                | Op::OmapRm(_)
                | Op::OmapGet(_)
                | Op::OmapList { .. }
                | Op::CmpOmap { .. }
        );
        if erasure && omap {
            return Err(OsdError::Invalid(
                "omap is not supported on erasure-coded pools; keep index and omap data in a \
                 replicated pool"
                    .into(),
            ));
        }
    }
    Ok(())
}

async fn handle(
    shared: &Arc<Shared>,
    op: &TrackedOp<'_>,
    req: ObjectRequest,
    payload: Bytes,
) -> Result<(ObjectReply, Bytes), OsdError> {
    let writes = req.ops.iter().filter(|o| o.is_write()).count();
    let reads = req
        .ops
        .iter()
        .filter(|o| !o.is_write() && !is_guard(o))
        .count();
    if writes > 0 && reads > 0 {
        return Err(OsdError::Invalid(
            "a request either writes or reads, not both".into(),
        ));
    }
    if !payload.is_empty() && !req.ops.contains(&Op::WriteFull) {
        return Err(OsdError::Invalid("data sent without a write_full".into()));
    }
    if payload.len() > MAX_OBJECT {
        return Err(OsdError::Invalid(format!(
            "object of {} bytes exceeds the {} byte limit",
            payload.len(),
            MAX_OBJECT
        )));
    }
    if req.object.is_empty() || req.object.len() > 1024 {
        return Err(OsdError::Invalid("object names are 1 to 1024 bytes".into()));
    }
    let (pg, layout) = pg_of(shared, req.pool, &req.object)?;
    check_ops(&req.ops, layout.is_some())?;
    let map = shared.map();
    let (handle, _) = serving_primary(shared, pg, &map)?;
    let key = ObjectKey {
        pg,
        name: req.object.clone(),
    };
    if writes == 0 {
        return read(shared, op, &handle, &key, &req.ops).await;
    }
    op.stage("waiting for the PG to be active");
    wait_for(shared, &handle, pg, |s, _| s.state == PgState::Active).await?;
    // A write holds its PG's scrub gate until every member committed it, so a scrub that
    // holds the gate exclusively compares members with no write in flight.
    op.stage("waiting for the PG's scrub gate");
    let _gate = shared.scrub.gate(pg).read_owned().await;
    // Writes to one object are ordered here, and reads wait for them: guards see the state
    // the write applies to, and no read sees a write before every member has it.
    op.stage("waiting for the object's lock");
    let _lock = ObjectLock::write(shared, &key).await;
    op.stage("checking guards");
    let (meta, _, results) = evaluate_blocking(shared, &key, &req.ops).await?;
    let mutations = mutations_of(&req.ops, payload, meta.is_some())?;
    let (tx, rx) = oneshot::channel();
    op.stage("queued for the PG");
    handle
        .tx
        .send(PgInput::Write {
            reqid: req.reqid,
            name: req.object.clone(),
            mutations,
            reply: tx,
        })
        .await
        .map_err(|_| unavailable(pg, "stopping"))?;
    op.stage("waiting for every member to commit");
    let version = rx
        .await
        .map_err(|_| unavailable(pg, "stopping"))?
        .map_err(|e| match e {
            WriteError::NotPrimary => OsdError::NotPrimary {
                pg: pg.to_string(),
                epoch: shared.map().epoch,
            },
            WriteError::NotActive(state) => unavailable(pg, &state.to_string()),
            WriteError::IntervalChanged => unavailable(pg, "changing interval"),
        })?;
    Counters::bump(&shared.counters.writes);
    Ok((ObjectReply { version, results }, Bytes::new()))
}

/// Serves a read: after any write in flight to the object has committed everywhere (the
/// object's lock), and only while the PG's read lease holds, so a paused or partitioned
/// primary never answers from data a newer primary has moved past. The gate is checked
/// again once the store was read: a PG closes its gate before it answers a newer primary,
/// so a gate still open then means the read saw nothing a newer interval wrote or undid.
async fn read(
    shared: &Arc<Shared>,
    op: &TrackedOp<'_>,
    handle: &PgHandle,
    key: &ObjectKey,
    ops: &[Op],
) -> Result<(ObjectReply, Bytes), OsdError> {
    op.stage("waiting for the object's lock (a write in flight)");
    let _lock = ObjectLock::read(shared, key).await;
    op.stage("waiting for the read lease, or reading");
    under_lease(shared, handle, key.pg, |snap| async move {
        read_once(shared, &snap, key, ops).await
    })
    .await
}

/// Runs `read` once the PG's read gate is open, and again (up to [`READ_TRIES`] in all)
/// if the gate closed before `read` finished: a PG closes its gate before it answers a
/// newer primary, so a gate still open afterwards means `read` saw nothing a newer
/// interval wrote or undid.
async fn under_lease<T, F, Fut>(
    shared: &Arc<Shared>,
    handle: &PgHandle,
    pg: PgId,
    mut read: F,
) -> Result<T, OsdError>
where
    F: FnMut(PgSnapshot) -> Fut,
    Fut: std::future::Future<Output = Result<T, OsdError>>,
{
    for _ in 0..READ_TRIES {
        let snap = wait_for(shared, handle, pg, |s, now| {
            readable(shared, handle, s, now)
        })
        .await?;
        let answer = read(snap).await;
        let after = handle.snapshot();
        if after.primary && after.read_gate.check(shared.clock.now()).is_ok() {
            return answer;
        }
    }
    Err(unavailable(pg, "lost its read lease while reading"))
}

/// Reads that end with the gate closed are tried again this many times in all.
const READ_TRIES: usize = 3;

async fn read_once(
    shared: &Arc<Shared>,
    snap: &PgSnapshot,
    key: &ObjectKey,
    ops: &[Op],
) -> Result<(ObjectReply, Bytes), OsdError> {
    if let Some(ec) = snap.mapping.as_ref().and_then(|m| m.ec.as_ref()) {
        return ec_read(shared, ec, key, ops).await;
    }
    let (meta, data, results) = match evaluate_blocking(shared, key, ops).await {
        // Read repair: serve from a replica's clean copy, which also fixes ours.
        Err(OsdError::Corrupt(why)) => {
            tracing::warn!(obj = %key, %why, "corrupt local copy; read repair");
            scrub::read_repair(shared, key).await?;
            evaluate_blocking(shared, key, ops).await?
        }
        other => other?,
    };
    Counters::bump(&shared.counters.reads);
    let version = meta.map_or(Version::ZERO, |m| m.version);
    Ok((ObjectReply { version, results }, data))
}

/// Whether `snap` lets a read be served at `now`; asks the PG for its lease when it holds
/// none, or will not for long.
fn readable(shared: &Shared, handle: &PgHandle, snap: &PgSnapshot, now: Duration) -> bool {
    match snap.read_gate.check(now) {
        Ok(()) => {
            let left = snap.read_gate.readable_until.unwrap_or_default() - now;
            if left < shared.lease.renew_below() {
                handle.want_lease(now);
            }
            true
        }
        Err(ReadRefused::NoLease) => {
            handle.want_lease(now);
            false
        }
        Err(ReadRefused::NotServing) => false,
    }
}

/// Waits until this OSD, still the PG's primary, has a snapshot `ready` accepts at the
/// daemon's time (checked again on every change), for at most [`SERVE_WAIT`]; returns that
/// snapshot. Not the primary: `NotPrimary` at once; still not ready: `Unavailable`.
async fn wait_for(
    shared: &Shared,
    handle: &PgHandle,
    pg: PgId,
    mut ready: impl FnMut(&PgSnapshot, Duration) -> bool,
) -> Result<PgSnapshot, OsdError> {
    let mut rx = handle.watch();
    let deadline = shared.clock.now() + SERVE_WAIT;
    loop {
        let now = shared.clock.now();
        let snap = rx.borrow_and_update().clone();
        if !snap.primary {
            return Err(OsdError::NotPrimary {
                pg: pg.to_string(),
                epoch: shared.map().epoch,
            });
        }
        if ready(&snap, now) {
            return Ok(snap);
        }
        // Lease renewals arrive as snapshot changes; re-check at least every 100 ms too (a
        // lone primary's self-granted lease moves on with the clock, not with events).
        let wait = (deadline.saturating_sub(now)).min(Duration::from_millis(100));
        if now >= deadline {
            return Err(unavailable(pg, &snap.state_string()));
        }
        if let Ok(Err(_)) = tokio::time::timeout(wait, rx.changed()).await {
            return Err(unavailable(pg, "stopping"));
        }
    }
}

/// A read on an erasure-coded PG: guards, stat and xattrs from our shard's metadata, data
/// gathered from `k` shards.
async fn ec_read(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    key: &ObjectKey,
    ops: &[Op],
) -> Result<(ObjectReply, Bytes), OsdError> {
    let local_ops: Vec<Op> = ops
        .iter()
        .filter(|o| !matches!(o, Op::Read { .. }))
        .cloned()
        .collect();
    let (meta, _, mut results) = evaluate_blocking(shared, key, &local_ops).await?;
    let mut data = Bytes::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::Read { off, len } = op {
            let m = meta.as_ref().ok_or(OsdError::NoSuchObject)?;
            data = ec::read(shared, ec, key, m, *off, *len).await?;
            results.insert(i, OpResult::Read(data.len() as u64));
        }
    }
    Counters::bump(&shared.counters.reads);
    let version = meta.map_or(Version::ZERO, |m| m.version);
    Ok((ObjectReply { version, results }, data))
}

async fn evaluate_blocking(
    shared: &Shared,
    key: &ObjectKey,
    ops: &[Op],
) -> Result<Evaluated, OsdError> {
    let store = shared.store.clone();
    let (key, ops) = (key.clone(), ops.to_vec());
    tokio::task::spawn_blocking(move || evaluate(&store, &key, &ops))
        .await
        .map_err(|e| OsdError::Io(e.to_string()))?
}

fn unavailable(pg: PgId, state: &str) -> OsdError {
    unavailable_named(&pg.to_string(), state)
}

fn unavailable_named(pg: &str, state: &str) -> OsdError {
    OsdError::Unavailable {
        pg: pg.to_string(),
        state: state.to_string(),
    }
}

fn is_guard(op: &Op) -> bool {
    matches!(
        op,
        Op::CmpXattr { .. } | Op::AssertVersion(_) | Op::AssertExists | Op::CmpOmap { .. }
    )
}

/// Holds an object's lock (shared for reads, exclusive for writes); on release, forgets
/// the lock if nobody else wants it, so the lock table stays as small as the set of
/// objects in use.
struct ObjectLock<'a> {
    shared: &'a Shared,
    key: (PgId, String),
    lock: super::shared::ObjectLock,
    guard: Option<Guard>,
}

/// Either kind of hold on an object's lock.
enum Guard {
    Shared(#[allow(dead_code)] tokio::sync::OwnedRwLockReadGuard<()>),
    Exclusive(#[allow(dead_code)] tokio::sync::OwnedRwLockWriteGuard<()>),
}

impl<'a> ObjectLock<'a> {
    fn entry(shared: &Shared, obj: &ObjectKey) -> ((PgId, String), super::shared::ObjectLock) {
        let key = (obj.pg, obj.name.clone());
        let lock = shared
            .locks
            .lock()
            .expect("locks lock")
            .entry(key.clone())
            .or_default()
            .clone();
        (key, lock)
    }

    /// Waits for the object's writes to finish; keeps new ones out while held.
    async fn read(shared: &'a Shared, obj: &ObjectKey) -> ObjectLock<'a> {
        let (key, lock) = Self::entry(shared, obj);
        let guard = Some(Guard::Shared(lock.clone().read_owned().await));
        ObjectLock {
            shared,
            key,
            lock,
            guard,
        }
    }

    /// Waits until nobody reads or writes the object; keeps everyone out while held.
    async fn write(shared: &'a Shared, obj: &ObjectKey) -> ObjectLock<'a> {
        let (key, lock) = Self::entry(shared, obj);
        let guard = Some(Guard::Exclusive(lock.clone().write_owned().await));
        ObjectLock {
            shared,
            key,
            lock,
            guard,
        }
    }
}

impl Drop for ObjectLock<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = self.shared.locks.lock().expect("locks lock");
        // Ours plus the table's: nobody else holds or waits on it.
        if Arc::strong_count(&self.lock) <= 2 {
            locks.remove(&self.key);
        }
    }
}

type Evaluated = (Option<ObjectMeta>, Bytes, Vec<OpResult>);

/// Checks guards and runs reads against the stored object, all in one snapshot of the
/// store: the metadata, xattrs and data of a reply always belong to one version.
fn evaluate(store: &Store, key: &ObjectKey, ops: &[Op]) -> Result<Evaluated, OsdError> {
    let store = store.snapshot().map_err(store_err)?;
    let meta = store.stat(key).map_err(store_err)?;
    let mut data = Bytes::new();
    let mut results = Vec::with_capacity(ops.len());
    let missing = || OsdError::NoSuchObject;
    for op in ops {
        let result = match op {
            Op::CmpXattr { name, value } => {
                let have = meta.as_ref().and_then(|m| m.xattrs.get(name));
                if have != value.as_ref() {
                    return Err(OsdError::GuardFailed(format!("xattr {name:?} differs")));
                }
                OpResult::Done
            }
            Op::AssertVersion(v) => {
                let have = meta.as_ref().map_or(Version::ZERO, |m| m.version);
                if have != *v {
                    return Err(OsdError::GuardFailed(format!(
                        "version is {have}, expected {v}"
                    )));
                }
                OpResult::Done
            }
            Op::AssertExists => {
                meta.as_ref().ok_or_else(missing)?;
                OpResult::Done
            }
            Op::CmpOmap {
                key: omap_key,
                value,
            } => {
                meta.as_ref().ok_or_else(missing)?;
                let found = store
                    .omap_get(key, std::slice::from_ref(&omap_key.to_vec()))
                    .map_err(store_err)?;
                let have = found.first().map(|(_, v)| v.as_slice());
                if have != value.as_ref().map(|v| v.as_slice()) {
                    return Err(OsdError::GuardFailed("omap entry differs".into()));
                }
                OpResult::Done
            }
            Op::Remove => {
                meta.as_ref().ok_or_else(missing)?;
                OpResult::Done
            }
            Op::WriteFull
            | Op::SetXattr { .. }
            | Op::RmXattr(_)
            | Op::OmapSet(_)
            | Op::OmapRm(_) => OpResult::Done,
            Op::Read { off, len } => {
                let (_, bytes) = store
                    .read(key, *off, *len)
                    .map_err(store_err)?
                    .ok_or_else(missing)?;
                let n = bytes.len() as u64;
                data = bytes;
                OpResult::Read(n)
            }
            Op::Stat => OpResult::Stat(stat_of(meta.as_ref().ok_or_else(missing)?)),
            Op::GetXattr(name) => {
                let m = meta.as_ref().ok_or_else(missing)?;
                OpResult::Xattr(m.xattrs.get(name).cloned())
            }
            Op::GetXattrs => {
                let m = meta.as_ref().ok_or_else(missing)?;
                let visible = m
                    .xattrs
                    .iter()
                    .filter(|(n, _)| !n.starts_with(RESERVED_XATTR_PREFIX));
                OpResult::Xattrs(visible.map(|(n, v)| (n.clone(), v.clone())).collect())
            }
            Op::OmapGet(keys) => {
                meta.as_ref().ok_or_else(missing)?;
                let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
                OpResult::Omap(bufs(store.omap_get(key, &keys).map_err(store_err)?))
            }
            Op::OmapList { start_after, limit } => {
                meta.as_ref().ok_or_else(missing)?;
                let entries = store
                    .omap_list(
                        key,
                        start_after.as_ref().map(|k| k.as_slice()),
                        *limit as usize,
                    )
                    .map_err(store_err)?;
                OpResult::Omap(bufs(entries))
            }
        };
        results.push(result);
    }
    Ok((meta, data, results))
}

/// What a client sees of stored object metadata (of the whole object, for a shard).
fn stat_of(m: &ObjectMeta) -> ObjectStat {
    let (size, crc) = crate::ec::ShardMeta::of(m).map_or((m.size, m.crc), |s| (s.size, s.crc));
    ObjectStat {
        size,
        version: m.version,
        crc,
    }
}

fn bufs(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(ByteBuf, ByteBuf)> {
    entries
        .into_iter()
        .map(|(k, v)| (ByteBuf::from(k), ByteBuf::from(v)))
        .collect()
}

/// The PG mutations of a request's write steps.
fn mutations_of(ops: &[Op], payload: Bytes, exists: bool) -> Result<Vec<Mutation>, OsdError> {
    let mut out = Vec::new();
    let mut payload = Some(payload);
    for op in ops {
        match op {
            Op::WriteFull => {
                let data = payload
                    .take()
                    .ok_or_else(|| OsdError::Invalid("one write_full per request".into()))?;
                out.push(Mutation::WriteFull(data));
            }
            Op::Remove if exists => out.push(Mutation::Remove),
            Op::Remove => return Err(OsdError::NoSuchObject),
            Op::SetXattr { name, value } => {
                out.push(Mutation::SetXattr(name.clone(), value.clone()))
            }
            Op::RmXattr(name) => out.push(Mutation::RmXattr(name.clone())),
            Op::OmapSet(entries) => out.push(Mutation::OmapSet(entries.clone())),
            Op::OmapRm(keys) => out.push(Mutation::OmapRm(keys.clone())),
            _ => {}
        }
    }
    Ok(out)
}

/// Lists one PG of which this OSD is the active primary.
pub async fn list(
    shared: Arc<Shared>,
    req: ListObjects,
) -> Result<Vec<(String, ObjectStat)>, OsdError> {
    let map = shared.map();
    if !map.pools.contains_key(&req.pg.pool) {
        return Err(OsdError::NoSuchPool);
    }
    // A listing is a read: served under the read lease like any other.
    let (handle, _) = serving_primary(&shared, req.pg, &map)?;
    let limit = req.limit.clamp(1, 10_000) as usize;
    under_lease(&shared, &handle, req.pg, |_| {
        let store = shared.store.clone();
        let start_after = req.start_after.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                store
                    .list(req.pg, start_after.as_deref(), limit)
                    .map_err(store_err)
                    .map(|page| {
                        page.into_iter()
                            .map(|(name, m)| (name, stat_of(&m)))
                            .collect()
                    })
            })
            .await
            .map_err(|e| OsdError::Io(e.to_string()))?
        }
    })
    .await
}
