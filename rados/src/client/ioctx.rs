//! [`IoCtx`]: object operations on one pool, and [`WriteOp`], a guarded compound write.

use std::sync::Arc;

use bytes::Bytes;
use placement::{PgId, PoolId};
use serde_bytes::ByteBuf;

use super::error::ClientError;
use super::list::{ListCursor, ListPager};
use super::memory::{self, MemoryPool};
use super::rules::Locate;
use super::{MAX_OBJECT_SIZE, RadosClient};
use crate::proto::osd::{
    ListObjects, ObjectReply, ObjectRequest, ObjectStat, Op, OpResult, OsdError, Version,
};

/// A compound write on one object: guards (compare an xattr, assert the version or that
/// the object exists), then writes, applied atomically by the PG or not at all. Built with
/// chained calls; guards always go first, whatever the order of the calls.
///
/// A lease: `WriteOp::new().cmp_xattr("lease", Some(b"me")).set_xattr("lease", b"me")`.
/// An index update that must not lose a race:
/// `WriteOp::new().assert_version(seen).omap_set(entries)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOp {
    guards: Vec<Op>,
    writes: Vec<Op>,
    data: Bytes,
}

impl WriteOp {
    /// An empty op.
    pub fn new() -> WriteOp {
        WriteOp::default()
    }

    /// Guard: the xattr `name` has `value` (`None`: it is absent).
    pub fn cmp_xattr(mut self, name: &str, value: Option<&[u8]>) -> WriteOp {
        self.guards.push(Op::CmpXattr {
            name: name.to_owned(),
            value: value.map(|v| ByteBuf::from(v.to_vec())),
        });
        self
    }

    /// Guard: the object's version is `version` ([`Version::ZERO`]: it does not exist).
    pub fn assert_version(mut self, version: Version) -> WriteOp {
        self.guards.push(Op::AssertVersion(version));
        self
    }

    /// Guard: the object exists.
    pub fn assert_exists(mut self) -> WriteOp {
        self.guards.push(Op::AssertExists);
        self
    }

    /// Guard: the object exists and its omap entry `key` has `value` (`None`: is absent).
    pub fn cmp_omap(mut self, key: &[u8], value: Option<&[u8]>) -> WriteOp {
        self.guards.push(Op::CmpOmap {
            key: ByteBuf::from(key.to_vec()),
            value: value.map(|v| ByteBuf::from(v.to_vec())),
        });
        self
    }

    /// Replaces the object's data (a second call replaces the data of the first).
    pub fn write_full(mut self, data: impl Into<Bytes>) -> WriteOp {
        if !self.writes.contains(&Op::WriteFull) {
            self.writes.push(Op::WriteFull);
        }
        self.data = data.into();
        self
    }

    /// Deletes the object.
    pub fn remove(mut self) -> WriteOp {
        self.writes.push(Op::Remove);
        self
    }

    /// Sets xattr `name`.
    pub fn set_xattr(mut self, name: &str, value: &[u8]) -> WriteOp {
        self.writes.push(Op::SetXattr {
            name: name.to_owned(),
            value: ByteBuf::from(value.to_vec()),
        });
        self
    }

    /// Removes xattr `name`.
    pub fn rm_xattr(mut self, name: &str) -> WriteOp {
        self.writes.push(Op::RmXattr(name.to_owned()));
        self
    }

    /// Sets omap entries.
    pub fn omap_set(mut self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> WriteOp {
        self.writes.push(Op::OmapSet(
            entries
                .into_iter()
                .map(|(k, v)| (ByteBuf::from(k), ByteBuf::from(v)))
                .collect(),
        ));
        self
    }

    /// Removes omap keys.
    pub fn omap_rm(mut self, keys: Vec<Vec<u8>>) -> WriteOp {
        self.writes
            .push(Op::OmapRm(keys.into_iter().map(ByteBuf::from).collect()));
        self
    }

    /// The steps as sent (guards first) and the data payload.
    pub fn into_parts(self) -> (Vec<Op>, Bytes) {
        let mut ops = self.guards;
        ops.extend(self.writes);
        (ops, self.data)
    }
}

/// Object operations on one pool (Ceph's `IoCtx`). Each method is one request to the
/// primary of the object's PG, retried as [`RadosClient`] describes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IoCtx {
    backend: Backend,
    name: String,
}

/// Where a pool's objects are.
#[derive(Clone, Debug)]
enum Backend {
    /// In the cluster, reached through a client.
    Cluster {
        client: Arc<RadosClient>,
        pool: PoolId,
    },
    /// In memory, for simulations ([`MemoryPool`]).
    Memory(Arc<MemoryPool>),
}

fn bytes_pairs(pairs: Vec<(ByteBuf, ByteBuf)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into_vec(), v.into_vec()))
        .collect()
}

fn unexpected(what: &str, got: &OpResult) -> ClientError {
    ClientError::BadReply(format!("expected a {what} result, got {got:?}"))
}

impl IoCtx {
    pub(super) fn new(client: Arc<RadosClient>, pool: PoolId, name: String) -> IoCtx {
        IoCtx {
            backend: Backend::Cluster { client, pool },
            name,
        }
    }

    /// A handle on `pool`, held in memory (simulations of code built on `IoCtx`).
    pub fn in_memory(name: &str, pool: Arc<MemoryPool>) -> IoCtx {
        IoCtx {
            backend: Backend::Memory(pool),
            name: name.to_owned(),
        }
    }

    /// The pool's id (`None` for a pool in memory).
    pub fn pool_id(&self) -> Option<PoolId> {
        match &self.backend {
            Backend::Cluster { pool, .. } => Some(*pool),
            Backend::Memory(_) => None,
        }
    }

    /// The pool's name.
    pub fn pool_name(&self) -> &str {
        &self.name
    }

    /// Runs `ops` on `object` atomically, with `payload` as a `WriteFull`'s data, and
    /// returns the reply and its payload (a `Read`'s data). Every other method is built on
    /// this. One reqid for the op, kept across retries.
    pub async fn operate(
        &self,
        object: &str,
        ops: Vec<Op>,
        payload: Bytes,
    ) -> Result<(ObjectReply, Bytes), ClientError> {
        if payload.len() as u64 > MAX_OBJECT_SIZE {
            return Err(ClientError::TooLarge {
                size: payload.len() as u64,
                max: MAX_OBJECT_SIZE,
            });
        }
        let steps = ops.len();
        let (client, pool) = match &self.backend {
            Backend::Cluster { client, pool } => (client, *pool),
            Backend::Memory(memory) => {
                memory::yield_once().await;
                return memory
                    .operate(object, &ops, payload)
                    .map_err(|e| memory::client_error(&self.name, object, e));
            }
        };
        let req = &ObjectRequest {
            pool,
            object: object.to_owned(),
            reqid: client.next_reqid(),
            ops,
        };
        let messenger = &client.shared.messenger;
        let (reply, data) = client
            .with_retry(pool, &self.name, Locate::Object(object), |addr| {
                let payload = payload.clone();
                async move {
                    let (reply, data) = messenger.call_with_payload(addr, req, payload).await?;
                    Ok(reply.map(|reply| (reply, data)))
                }
            })
            .await
            .map_err(|e| self.object_error(object, e))?;
        if reply.results.len() != steps {
            return Err(ClientError::BadReply(format!(
                "{} results for {steps} steps",
                reply.results.len()
            )));
        }
        Ok((reply, data))
    }

    /// Names the object in the errors that are about it.
    fn object_error(&self, object: &str, e: ClientError) -> ClientError {
        match e {
            ClientError::Osd(OsdError::NoSuchObject) => ClientError::NoSuchObject {
                pool: self.name.clone(),
                object: object.to_owned(),
            },
            ClientError::Osd(OsdError::GuardFailed(reason)) => ClientError::GuardFailed {
                object: object.to_owned(),
                reason,
            },
            other => other,
        }
    }

    /// One read step's result.
    async fn read_one(&self, object: &str, op: Op) -> Result<(OpResult, Bytes), ClientError> {
        let (reply, data) = self.operate(object, vec![op], Bytes::new()).await?;
        let result = reply.results.into_iter().next();
        Ok((result.expect("operate checked one result per step"), data))
    }

    /// Runs a compound write; returns the version it wrote. A failed guard is
    /// [`ClientError::GuardFailed`] and changes nothing.
    pub async fn write(&self, object: &str, op: WriteOp) -> Result<Version, ClientError> {
        let (ops, data) = op.into_parts();
        Ok(self.operate(object, ops, data).await?.0.version)
    }

    /// Creates or replaces the object with `data` (at most [`MAX_OBJECT_SIZE`] bytes).
    pub async fn write_full(
        &self,
        object: &str,
        data: impl Into<Bytes>,
    ) -> Result<Version, ClientError> {
        self.write(object, WriteOp::new().write_full(data)).await
    }

    /// Deletes the object ([`ClientError::NoSuchObject`] if it does not exist).
    pub async fn remove(&self, object: &str) -> Result<Version, ClientError> {
        self.write(object, WriteOp::new().remove()).await
    }

    /// Sets xattr `name` on the object.
    pub async fn set_xattr(
        &self,
        object: &str,
        name: &str,
        value: &[u8],
    ) -> Result<Version, ClientError> {
        self.write(object, WriteOp::new().set_xattr(name, value))
            .await
    }

    /// Removes xattr `name` from the object.
    pub async fn rm_xattr(&self, object: &str, name: &str) -> Result<Version, ClientError> {
        self.write(object, WriteOp::new().rm_xattr(name)).await
    }

    /// Sets omap entries on the object.
    pub async fn omap_set(
        &self,
        object: &str,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Version, ClientError> {
        self.write(object, WriteOp::new().omap_set(entries)).await
    }

    /// Removes omap keys from the object.
    pub async fn omap_rm(&self, object: &str, keys: Vec<Vec<u8>>) -> Result<Version, ClientError> {
        self.write(object, WriteOp::new().omap_rm(keys)).await
    }

    /// Reads `len` bytes (`None`: to the end) from `off`.
    pub async fn read(
        &self,
        object: &str,
        off: u64,
        len: Option<u64>,
    ) -> Result<Bytes, ClientError> {
        match self.read_one(object, Op::Read { off, len }).await? {
            (OpResult::Read(n), data) if n == data.len() as u64 => Ok(data),
            (OpResult::Read(n), data) => Err(ClientError::BadReply(format!(
                "read result says {n} bytes, payload has {}",
                data.len()
            ))),
            (other, _) => Err(unexpected("read", &other)),
        }
    }

    /// The object's size, version and checksum.
    pub async fn stat(&self, object: &str) -> Result<ObjectStat, ClientError> {
        match self.read_one(object, Op::Stat).await?.0 {
            OpResult::Stat(stat) => Ok(stat),
            other => Err(unexpected("stat", &other)),
        }
    }

    /// Xattr `name` of the object (`None`: the object has no such xattr).
    pub async fn get_xattr(
        &self,
        object: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        match self
            .read_one(object, Op::GetXattr(name.to_owned()))
            .await?
            .0
        {
            OpResult::Xattr(value) => Ok(value.map(ByteBuf::into_vec)),
            other => Err(unexpected("xattr", &other)),
        }
    }

    /// Every xattr of the object.
    pub async fn get_xattrs(&self, object: &str) -> Result<Vec<(String, Vec<u8>)>, ClientError> {
        match self.read_one(object, Op::GetXattrs).await?.0 {
            OpResult::Xattrs(all) => Ok(all.into_iter().map(|(k, v)| (k, v.into_vec())).collect()),
            other => Err(unexpected("xattrs", &other)),
        }
    }

    /// The omap entries of `keys` that exist.
    pub async fn omap_get(
        &self,
        object: &str,
        keys: Vec<Vec<u8>>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ClientError> {
        let op = Op::OmapGet(keys.into_iter().map(ByteBuf::from).collect());
        match self.read_one(object, op).await?.0 {
            OpResult::Omap(entries) => Ok(bytes_pairs(entries)),
            other => Err(unexpected("omap", &other)),
        }
    }

    /// Up to `limit` omap entries in key order, after `start_after` (`None`: from the
    /// first). Fewer than `limit` means the end was reached.
    pub async fn omap_list(
        &self,
        object: &str,
        start_after: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ClientError> {
        let op = Op::OmapList {
            start_after: start_after.map(|k| ByteBuf::from(k.to_vec())),
            limit,
        };
        match self.read_one(object, op).await?.0 {
            OpResult::Omap(entries) => Ok(bytes_pairs(entries)),
            other => Err(unexpected("omap", &other)),
        }
    }

    /// One page of the pool's objects: up to `limit` (at least 1) names with their stat,
    /// from `cursor` (`None`: the start), and the cursor of the next page (`None`: done).
    /// Walks the PGs in seed order, each in name order, asking each PG's primary.
    pub async fn list_objects(
        &self,
        cursor: Option<ListCursor>,
        limit: u32,
    ) -> Result<(Vec<(String, ObjectStat)>, Option<ListCursor>), ClientError> {
        let (client, pool) = match &self.backend {
            Backend::Cluster { client, pool } => (client, *pool),
            // One page of every object: simulations hold few.
            Backend::Memory(memory) => {
                let all = memory.names().into_iter().filter_map(|name| {
                    match memory.operate(&name, &[Op::Stat], Bytes::new()) {
                        Ok((reply, _)) => match reply.results.into_iter().next() {
                            Some(OpResult::Stat(stat)) => Some((name, stat)),
                            _ => None,
                        },
                        Err(_) => None,
                    }
                });
                return Ok((all.collect(), None));
            }
        };
        let pg_num = match client.map().pools.get(&pool) {
            Some(p) => p.pg_num,
            None => return Err(ClientError::NoSuchPool(self.name.clone())),
        };
        let messenger = &client.shared.messenger;
        let mut pager = ListPager::new(pg_num, cursor, limit);
        while let Some(want) = pager.poll_request() {
            let req = &ListObjects {
                pg: PgId {
                    pool,
                    seed: want.seed,
                },
                start_after: want.start_after,
                limit: want.limit,
            };
            let page = client
                .with_retry(pool, &self.name, Locate::Pg(want.seed), |addr| {
                    messenger.call(addr, req)
                })
                .await?;
            pager.handle_page(page);
        }
        Ok(pager.finish())
    }
}
