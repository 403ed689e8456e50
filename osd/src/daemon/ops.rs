//! Client requests on the primary: guards and reads against the local store, writes ordered
//! per object and handed to the PG task, which replicates them.

use std::sync::Arc;

use bytes::Bytes;
use placement::{PgId, Placement};
use rados::proto::osd::{
    ListObjects, ObjectReply, ObjectRequest, ObjectStat, Op, OpResult, OsdError, Version,
};
use serde_bytes::ByteBuf;
use tokio::sync::oneshot;

use super::ec;
use super::pg_task::{PgHandle, PgInput, PgSnapshot};
use super::scrub;
use super::shared::{Counters, Shared};
use crate::StoreError;
use crate::ec::{Layout, RESERVED_XATTR_PREFIX};
use crate::pg::types::EcMapping;
use crate::pg::{Mutation, PgState, WriteError};
use crate::store::{ObjectKey, ObjectMeta, Store};

/// Largest object a request may write (the gateway stripes bigger S3 objects).
pub const MAX_OBJECT: usize = 16 << 20;

/// Serves one object request; the reply payload carries read data.
pub async fn serve(
    shared: Arc<Shared>,
    req: ObjectRequest,
    payload: Bytes,
) -> (Result<ObjectReply, OsdError>, Bytes) {
    let result = handle(&shared, req, payload).await;
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
    if !map.pools.contains_key(&pool) {
        return Err(OsdError::NoSuchPool);
    }
    let pg = Placement::new(&map)
        .map_object(pool, object.as_bytes())
        .map_err(|_| OsdError::NoSuchPool)?;
    Ok((pg.pg, ec::layout_of(&map, pool)))
}

/// The handle of `pg` if this OSD is its active primary in `map`, else why not.
pub(super) fn active_primary(
    shared: &Shared,
    pg: PgId,
    map: &placement::ClusterMap,
) -> Result<(PgId, PgHandle), OsdError> {
    let (handle, snap) = serving_primary(shared, pg, map)?;
    if snap.state != PgState::Active {
        return Err(OsdError::Unavailable {
            pg: pg.to_string(),
            state: snap.state_string(),
        });
    }
    Ok((pg, handle))
}

/// The handle and state of `pg` if this OSD is its primary in `map`.
fn serving_primary(
    shared: &Shared,
    pg: PgId,
    map: &placement::ClusterMap,
) -> Result<(PgHandle, PgSnapshot), OsdError> {
    let not_primary = || OsdError::NotPrimary {
        pg: pg.to_string(),
        epoch: map.epoch,
    };
    let handle = shared.pg(pg).ok_or_else(not_primary)?;
    let snap = handle.snapshot.lock().expect("snapshot lock").clone();
    if !snap.primary {
        return Err(not_primary());
    }
    Ok((handle, snap))
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
            Op::OmapSet(_) | Op::OmapRm(_) | Op::OmapGet(_) | Op::OmapList { .. }
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
    let (handle, snap) = serving_primary(shared, pg, &map)?;
    // An erasure-coded PG below min_size takes no writes but still serves reads from any k
    // shards (the newest version they hold; see `ec::newest`).
    let degraded_read = writes == 0 && layout.is_some() && snap.state == PgState::Undersized;
    if snap.state != PgState::Active && !degraded_read {
        return Err(unavailable(pg, &snap.state_string()));
    }
    let ec = snap.mapping.as_ref().and_then(|m| m.ec.clone());
    let key = ObjectKey {
        pg,
        name: req.object.clone(),
    };
    if let Some(ec) = &ec
        && writes == 0
    {
        return ec_read(shared, ec, &key, &req.ops, degraded_read).await;
    }
    // A write holds its PG's scrub gate until every member committed it, so a scrub that
    // holds the gate exclusively compares members with no write in flight.
    let _gate = if writes > 0 {
        Some(shared.scrub.gate(pg).read_owned().await)
    } else {
        None
    };
    // Writes to one object are ordered here: guards see the state the write applies to.
    let _lock = if writes > 0 {
        Some(ObjectLock::acquire(shared, &key).await)
    } else {
        None
    };
    let (meta, read_data, results) = match evaluate_blocking(shared, &key, &req.ops).await {
        // Read repair: serve from a replica's clean copy, which also fixes ours.
        Err(OsdError::Corrupt(why)) if writes == 0 && ec.is_none() => {
            tracing::warn!(obj = %key, %why, "corrupt local copy; read repair");
            scrub::read_repair(shared, &key).await?;
            evaluate_blocking(shared, &key, &req.ops).await?
        }
        other => other?,
    };
    if writes == 0 {
        Counters::bump(&shared.counters.reads);
        let version = meta.map_or(Version::ZERO, |m| m.version);
        return Ok((ObjectReply { version, results }, read_data));
    }
    let mutations = mutations_of(&req.ops, payload, meta.is_some())?;
    let (tx, rx) = oneshot::channel();
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

/// A read on an erasure-coded PG: guards, stat and xattrs from our shard's metadata, data
/// gathered from `k` shards. Below min_size, our shard must hold the newest version any
/// reachable shard holds, or we could serve a stale object.
async fn ec_read(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    key: &ObjectKey,
    ops: &[Op],
    degraded: bool,
) -> Result<(ObjectReply, Bytes), OsdError> {
    let local_ops: Vec<Op> = ops
        .iter()
        .filter(|o| !matches!(o, Op::Read { .. }))
        .cloned()
        .collect();
    let (meta, _, mut results) = evaluate_blocking(shared, key, &local_ops).await?;
    if degraded {
        let newest = ec::newest_version(shared, ec, key).await?;
        if newest != meta.as_ref().map_or(Version::ZERO, |m| m.version) {
            return Err(unavailable(key.pg, "undersized, primary's shard is behind"));
        }
    }
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
    OsdError::Unavailable {
        pg: pg.to_string(),
        state: state.to_string(),
    }
}

fn is_guard(op: &Op) -> bool {
    matches!(
        op,
        Op::CmpXattr { .. } | Op::AssertVersion(_) | Op::AssertExists
    )
}

/// Holds an object's write lock; on release, forgets the lock if nobody else wants it, so
/// the lock table stays as small as the set of objects being written.
struct ObjectLock<'a> {
    shared: &'a Shared,
    key: (PgId, String),
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<'a> ObjectLock<'a> {
    async fn acquire(shared: &'a Shared, obj: &ObjectKey) -> ObjectLock<'a> {
        let key = (obj.pg, obj.name.clone());
        let lock = shared
            .locks
            .lock()
            .expect("locks lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = Some(lock.clone().lock_owned().await);
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

pub(super) fn store_err(e: StoreError) -> OsdError {
    match e {
        StoreError::Corrupt { .. } => OsdError::Corrupt(e.to_string()),
        other => OsdError::Io(other.to_string()),
    }
}

type Evaluated = (Option<ObjectMeta>, Bytes, Vec<OpResult>);

/// Checks guards and runs reads against the stored object.
fn evaluate(store: &Store, key: &ObjectKey, ops: &[Op]) -> Result<Evaluated, OsdError> {
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
    active_primary(&shared, req.pg, &map)?;
    let store = shared.store.clone();
    let limit = req.limit.clamp(1, 10_000) as usize;
    tokio::task::spawn_blocking(move || {
        store
            .list(req.pg, req.start_after.as_deref(), limit)
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
