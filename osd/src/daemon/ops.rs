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

use super::pg_task::{PgHandle, PgInput};
use super::scrub;
use super::shared::{Counters, Shared};
use crate::StoreError;
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

/// Finds the PG of `object` and checks this OSD is its active primary.
fn primary_pg(
    shared: &Shared,
    pool: placement::PoolId,
    object: &str,
) -> Result<(PgId, PgHandle), OsdError> {
    let map = shared.map();
    let p = map.pools.get(&pool).ok_or(OsdError::NoSuchPool)?;
    if p.is_erasure() {
        return Err(OsdError::Invalid(
            "erasure-coded pools are not served yet".into(),
        ));
    }
    let pg = Placement::new(&map)
        .map_object(pool, object.as_bytes())
        .map_err(|_| OsdError::NoSuchPool)?;
    active_primary(shared, pg.pg, &map)
}

/// The handle of `pg` if this OSD is its active primary in `map`, else why not.
pub(super) fn active_primary(
    shared: &Shared,
    pg: PgId,
    map: &placement::ClusterMap,
) -> Result<(PgId, PgHandle), OsdError> {
    let not_primary = || OsdError::NotPrimary {
        pg: pg.to_string(),
        epoch: map.epoch,
    };
    let handle = shared.pg(pg).ok_or_else(not_primary)?;
    let snap = handle.snapshot.lock().expect("snapshot lock").clone();
    if !snap.primary {
        return Err(not_primary());
    }
    if snap.state != PgState::Active {
        return Err(OsdError::Unavailable {
            pg: pg.to_string(),
            state: snap.state_string(),
        });
    }
    Ok((pg, handle))
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
    let (pg, handle) = primary_pg(shared, req.pool, &req.object)?;
    let key = ObjectKey {
        pg,
        name: req.object.clone(),
    };
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
        Err(OsdError::Corrupt(why)) if writes == 0 => {
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

fn store_err(e: StoreError) -> OsdError {
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
                OpResult::Xattrs(m.xattrs.clone().into_iter().collect())
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

/// What a client sees of stored object metadata.
fn stat_of(m: &ObjectMeta) -> ObjectStat {
    ObjectStat {
        size: m.size,
        version: m.version,
        crc: m.crc,
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
