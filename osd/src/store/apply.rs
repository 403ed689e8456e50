//! The write side: table setup on open, the committer thread's group-commit loop, and how
//! each [`TxOp`] changes the tables.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Included};

use bytes::Bytes;
use placement::PgId;
use rados::proto::osd::Version;
use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
use tokio::sync::mpsc;

use super::keys::{
    BLOCKS, FORMAT_VERSION, INFO, INFO_BLOCK_SIZE, INFO_FORMAT, INFO_POOL_USAGE, INFO_USAGE_BYTES,
    INFO_USAGE_OBJECTS, META, OBJECTS, OMAP, PG_LOG, PG_META, POOL_USAGE_PREFIX, name_successor,
    next_pg, parse_pool_usage_key, pg_bounds, pg_cols, pg_of, pool_usage_key,
};
use super::types::{STASH_POOL_BIT, stash_pg};
use super::{
    Accounts, ObjectKey, ObjectMeta, Request, Shared, StoreError, TxOp, Txn, Usage, decode_meta,
    encode_meta, lock,
};

/// Creates the tables if needed, checks the format and returns the file's block size and
/// persisted usage. A new file records `block_size`; an existing one keeps its own.
pub(super) fn init(db: &Database, block_size: u32) -> Result<(u32, Accounts), StoreError> {
    let w = db.begin_write()?;
    let out = {
        let mut t = Tables::open(&w)?;
        let format = t.info.get(INFO_FORMAT)?.map(|v| v.value());
        match format {
            Some(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(StoreError::Format {
                    found,
                    expected: FORMAT_VERSION,
                });
            }
            None => {
                t.info.insert(INFO_FORMAT, FORMAT_VERSION)?;
            }
        }
        let stored = t.info.get(INFO_BLOCK_SIZE)?.map(|v| v.value());
        let block_size = match stored {
            Some(v) => match u32::try_from(v) {
                Ok(bs) if bs > 0 => {
                    if bs != block_size {
                        tracing::info!(
                            file = bs,
                            config = block_size,
                            "object store keeps the block size it was created with"
                        );
                    }
                    bs
                }
                _ => {
                    return Err(StoreError::BadInfo {
                        key: INFO_BLOCK_SIZE,
                        value: v,
                    });
                }
            },
            None => {
                t.info.insert(INFO_BLOCK_SIZE, u64::from(block_size))?;
                block_size
            }
        };
        let bytes = t.info.get(INFO_USAGE_BYTES)?.map_or(0, |v| v.value());
        let objects = t.info.get(INFO_USAGE_OBJECTS)?.map_or(0, |v| v.value());
        let usage = if t.info.get(INFO_POOL_USAGE)?.is_some() {
            Accounts {
                total: Usage { bytes, objects },
                pools: load_pool_usage(&t.info)?,
            }
        } else {
            // A file from before per-pool accounting: count once, from the objects (the
            // totals too, so that they agree).
            let mut usage = count_pool_usage(&t.objects)?;
            save_usage(&mut t.info, &mut usage)?;
            t.info.insert(INFO_POOL_USAGE, 1)?;
            usage
        };
        (block_size, usage)
    };
    w.commit()?;
    Ok(out)
}

/// The committer thread: takes the first queued txn, drains up to `max_batch - 1` more that
/// are already waiting, applies them in one write transaction, fsyncs once and answers them
/// all. Returns when every sender is gone and the queue is empty.
pub(super) fn run_committer(shared: &Shared, mut rx: mpsc::Receiver<Request>, max_batch: usize) {
    let mut batch: Vec<Request> = Vec::with_capacity(max_batch.min(1024));
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let txns: Vec<&Txn> = batch.iter().map(|r| &r.txn).collect();
        let outcome = commit_txns(shared, &txns);
        drop(txns);
        match outcome {
            Ok(()) => {
                tracing::trace!(txns = batch.len(), "group commit");
                // A caller that dropped its future is not waiting: ignore failed replies.
                for r in batch.drain(..) {
                    let _ = r.reply.send(Ok(()));
                }
            }
            Err(e) if batch.len() == 1 => {
                tracing::error!(error = %e, "object store commit failed");
                for r in batch.drain(..) {
                    let _ = r.reply.send(Err(e.clone()));
                }
            }
            Err(e) => {
                // One bad txn must not fail its neighbours: nothing was committed, so retry
                // each alone and give each its own outcome.
                tracing::warn!(error = %e, txns = batch.len(), "group commit failed; retrying txns one by one");
                for r in batch.drain(..) {
                    let res = commit_txns(shared, &[&r.txn]);
                    if let Err(e) = &res {
                        tracing::error!(error = %e, "object store commit failed");
                    }
                    let _ = r.reply.send(res);
                }
            }
        }
    }
    tracing::debug!("object store committer stopped");
}

/// Applies `txns` in order in one durable write transaction. On error nothing is committed
/// and the in-memory usage is unchanged.
fn commit_txns(shared: &Shared, txns: &[&Txn]) -> Result<(), StoreError> {
    let mut w = shared.db.begin_write()?;
    w.set_durability(Durability::Immediate)?;
    let mut usage = lock(&shared.usage).clone();
    {
        let mut t = Tables::open(&w)?;
        for txn in txns {
            for op in &txn.ops {
                t.apply(op, &mut usage, shared.block_size)?;
            }
        }
        save_usage(&mut t.info, &mut usage)?;
    }
    w.commit()?;
    *lock(&shared.usage) = usage;
    let mut stats = lock(&shared.stats);
    stats.batches += 1;
    stats.txns += txns.len() as u64;
    Ok(())
}

/// Writes the totals and each pool's usage to `store_info`; pools left holding nothing lose
/// their keys and their entry.
fn save_usage(
    info: &mut Table<'_, &'static str, u64>,
    usage: &mut Accounts,
) -> Result<(), StoreError> {
    info.insert(INFO_USAGE_BYTES, usage.total.bytes)?;
    info.insert(INFO_USAGE_OBJECTS, usage.total.objects)?;
    for (pool, u) in &usage.pools {
        let (bytes, objects) = (
            pool_usage_key("bytes", *pool),
            pool_usage_key("objects", *pool),
        );
        if *u == Usage::default() {
            info.remove(bytes.as_str())?;
            info.remove(objects.as_str())?;
        } else {
            info.insert(bytes.as_str(), u.bytes)?;
            info.insert(objects.as_str(), u.objects)?;
        }
    }
    usage.pools.retain(|_, u| *u != Usage::default());
    Ok(())
}

/// Each pool's usage as [`save_usage`] wrote it.
fn load_pool_usage(
    info: &Table<'_, &'static str, u64>,
) -> Result<BTreeMap<u32, Usage>, StoreError> {
    let mut pools: BTreeMap<u32, Usage> = BTreeMap::new();
    for item in info.range(POOL_USAGE_PREFIX..)? {
        let (k, v) = item?;
        let Some((field, pool)) = parse_pool_usage_key(k.value()) else {
            break;
        };
        let u = pools.entry(pool).or_default();
        match field {
            "bytes" => u.bytes = v.value(),
            _ => u.objects = v.value(),
        }
    }
    Ok(pools)
}

/// Each pool's usage, counted from the objects table.
fn count_pool_usage(
    objects: &Table<'_, (u32, u32, &'static str), &'static [u8]>,
) -> Result<Accounts, StoreError> {
    let mut usage = Accounts::default();
    for item in objects.iter()? {
        let (k, v) = item?;
        let meta = decode_meta(v.value())?;
        usage.account(k.value().0, None, Some(meta.size));
    }
    Ok(usage)
}

/// Adds the PGs that have any key in `t` to `out`, seeking once per PG.
pub(super) fn distinct_pgs<K: PgKeyed, V: redb::Value + 'static>(
    t: &impl ReadableTable<K, V>,
    out: &mut BTreeSet<PgId>,
) -> Result<(), StoreError> {
    let mut from = K::first_of(0, 0);
    loop {
        let Some(item) = t.range(from..)?.next() else {
            return Ok(());
        };
        let (k, _) = item?;
        let (pool, seed) = K::pg(&k.value());
        out.insert(pg_of(pool, seed));
        match next_pg(pool, seed) {
            Some((p, s)) => from = K::first_of(p, s),
            None => return Ok(()),
        }
    }
}

/// A table key that starts with `(pool, seed)`.
pub(super) trait PgKeyed: redb::Key + 'static {
    /// The smallest key of the PG.
    fn first_of(pool: u32, seed: u32) -> Self::SelfType<'static>;
    /// The PG columns of a key.
    fn pg(k: &Self::SelfType<'_>) -> (u32, u32);
}

impl PgKeyed for (u32, u32, &'static str) {
    fn first_of(pool: u32, seed: u32) -> (u32, u32, &'static str) {
        (pool, seed, "")
    }
    fn pg(k: &(u32, u32, &str)) -> (u32, u32) {
        (k.0, k.1)
    }
}

impl PgKeyed for (u32, u32, u64, u64) {
    fn first_of(pool: u32, seed: u32) -> (u32, u32, u64, u64) {
        (pool, seed, 0, 0)
    }
    fn pg(k: &(u32, u32, u64, u64)) -> (u32, u32) {
        (k.0, k.1)
    }
}

impl PgKeyed for (u32, u32) {
    fn first_of(pool: u32, seed: u32) -> (u32, u32) {
        (pool, seed)
    }
    fn pg(k: &(u32, u32)) -> (u32, u32) {
        *k
    }
}

/// Every table, open in one write transaction.
struct Tables<'t> {
    objects: Table<'t, (u32, u32, &'static str), &'static [u8]>,
    blocks: Table<'t, (u32, u32, &'static str, u64), &'static [u8]>,
    omap: Table<'t, (u32, u32, &'static str, &'static [u8]), &'static [u8]>,
    log: Table<'t, (u32, u32, u64, u64), &'static [u8]>,
    pg_meta: Table<'t, (u32, u32), &'static [u8]>,
    meta: Table<'t, &'static str, &'static [u8]>,
    info: Table<'t, &'static str, u64>,
}

impl<'t> Tables<'t> {
    fn open(w: &'t WriteTransaction) -> Result<Tables<'t>, StoreError> {
        Ok(Tables {
            objects: w.open_table(OBJECTS)?,
            blocks: w.open_table(BLOCKS)?,
            omap: w.open_table(OMAP)?,
            log: w.open_table(PG_LOG)?,
            pg_meta: w.open_table(PG_META)?,
            meta: w.open_table(META)?,
            info: w.open_table(INFO)?,
        })
    }

    fn get_meta(&self, obj: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        let (pool, seed) = pg_cols(obj.pg);
        let v = self.objects.get((pool, seed, obj.name.as_str()))?;
        v.map(|v| decode_meta(v.value())).transpose()
    }

    /// The object's metadata at `version`; an absent object is created empty (xattr and
    /// omap writes create objects, as in Ceph) and counted.
    fn meta_or_create(
        &self,
        obj: &ObjectKey,
        version: Version,
        usage: &mut Accounts,
    ) -> Result<ObjectMeta, StoreError> {
        let mut meta = match self.get_meta(obj)? {
            Some(meta) => meta,
            None => {
                usage.account(obj.pg.pool.0, None, Some(0));
                ObjectMeta::empty(version)
            }
        };
        meta.version = version;
        Ok(meta)
    }

    fn put_meta(&mut self, obj: &ObjectKey, meta: &ObjectMeta) -> Result<(), StoreError> {
        let (pool, seed) = pg_cols(obj.pg);
        let bytes = encode_meta(meta)?;
        self.objects
            .insert((pool, seed, obj.name.as_str()), bytes.as_slice())?;
        Ok(())
    }

    /// Writes `data` as blocks `0..ceil(len/bs)` and drops any blocks past them.
    fn write_blocks(&mut self, obj: &ObjectKey, data: &Bytes, bs: u32) -> Result<(), StoreError> {
        let (pool, seed) = pg_cols(obj.pg);
        let name = obj.name.as_str();
        let mut count = 0u64;
        for chunk in data.chunks(bs as usize) {
            // Written in place in the B-tree's page: the block's bytes are copied once.
            let mut value = self
                .blocks
                .insert_reserve((pool, seed, name, count), 4 + chunk.len())?;
            let (crc, bytes) = value.as_mut().split_at_mut(4);
            crc.copy_from_slice(&crc32c::crc32c(chunk).to_le_bytes());
            bytes.copy_from_slice(chunk);
            count += 1;
        }
        self.drop_blocks_from(obj, count)
    }

    /// Removes the object's blocks with index `>= from`.
    fn drop_blocks_from(&mut self, obj: &ObjectKey, from: u64) -> Result<(), StoreError> {
        let (pool, seed) = pg_cols(obj.pg);
        let name = obj.name.as_str();
        self.blocks.retain_in(
            (pool, seed, name, from)..=(pool, seed, name, u64::MAX),
            |_, _| false,
        )?;
        Ok(())
    }

    /// Copies `obj` (meta and blocks) over its stash, or drops the stash if `obj` is absent.
    fn stash(&mut self, obj: &ObjectKey, usage: &mut Accounts) -> Result<(), StoreError> {
        let to = obj.stash();
        let (tp, ts) = pg_cols(to.pg);
        let old = self.get_meta(&to)?;
        if old.is_some() {
            self.objects.remove((tp, ts, to.name.as_str()))?;
            self.drop_blocks_from(&to, 0)?;
        }
        let Some(meta) = self.get_meta(obj)? else {
            // Absent before the write: a tombstone says so (see `TxOp::Stash`).
            self.put_meta(&to, &ObjectMeta::empty(Version::ZERO))?;
            usage.account(to.pg.pool.0, old.map(|m| m.size), Some(0));
            return Ok(());
        };
        let (pool, seed) = pg_cols(obj.pg);
        let name = obj.name.as_str();
        let blocks: Vec<(u64, Vec<u8>)> = self
            .blocks
            .range((pool, seed, name, 0)..=(pool, seed, name, u64::MAX))?
            .map(|r| r.map(|(k, v)| (k.value().3, v.value().to_vec())))
            .collect::<Result<_, _>>()?;
        for (i, block) in blocks {
            self.blocks
                .insert((tp, ts, to.name.as_str(), i), block.as_slice())?;
        }
        self.put_meta(&to, &meta)?;
        usage.account(to.pg.pool.0, old.map(|m| m.size), Some(meta.size));
        Ok(())
    }

    fn clear_omap(&mut self, obj: &ObjectKey) -> Result<(), StoreError> {
        let (pool, seed) = pg_cols(obj.pg);
        let name = obj.name.as_str();
        let succ = name_successor(name);
        let range = (
            Included((pool, seed, name, &[][..])),
            Excluded((pool, seed, succ.as_str(), &[][..])),
        );
        self.omap.retain_in(range, |_, _| false)?;
        Ok(())
    }

    fn set_omap(
        &mut self,
        obj: &ObjectKey,
        entries: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let (pool, seed) = pg_cols(obj.pg);
        for (k, v) in entries {
            self.omap
                .insert((pool, seed, obj.name.as_str(), k.as_slice()), v.as_slice())?;
        }
        Ok(())
    }

    /// Removes every trace of a PG and returns the data bytes and objects it held.
    fn remove_pg(&mut self, pg: PgId) -> Result<(u64, u64), StoreError> {
        let (pool, seed) = pg_cols(pg);
        let (mut bytes, mut objects, mut bad) = (0u64, 0u64, None);
        let range = pg_bounds(pool, seed, (pool, seed, ""), |p, s| (p, s, ""));
        self.objects.retain_in(range, |_, v| {
            match decode_meta(v) {
                Ok(m) => bytes = bytes.saturating_add(m.size),
                Err(e) => bad = Some(e),
            }
            objects += 1;
            false
        })?;
        if let Some(e) = bad {
            return Err(e);
        }
        let range = pg_bounds(pool, seed, (pool, seed, "", 0), |p, s| (p, s, "", 0));
        self.blocks.retain_in(range, |_, _| false)?;
        let empty: &[u8] = &[];
        let range = pg_bounds(pool, seed, (pool, seed, "", empty), |p, s| {
            (p, s, "", empty)
        });
        self.omap.retain_in(range, |_, _| false)?;
        self.clear_log(pg)?;
        self.pg_meta.remove((pool, seed))?;
        Ok((bytes, objects))
    }

    fn clear_log(&mut self, pg: PgId) -> Result<(), StoreError> {
        let (pool, seed) = pg_cols(pg);
        self.log.retain_in(
            (pool, seed, 0, 0)..=(pool, seed, u64::MAX, u64::MAX),
            |_, _| false,
        )?;
        Ok(())
    }

    /// Applies one op. On error the caller aborts the whole write transaction.
    fn apply(&mut self, op: &TxOp, usage: &mut Accounts, bs: u32) -> Result<(), StoreError> {
        match op {
            TxOp::WriteFull { obj, data, version } => {
                let old = self.get_meta(obj)?;
                let old_size = old.as_ref().map(|m| m.size);
                self.write_blocks(obj, data, bs)?;
                let meta = ObjectMeta {
                    size: data.len() as u64,
                    version: *version,
                    crc: crc32c::crc32c(data),
                    xattrs: old.map(|m| m.xattrs).unwrap_or_default(),
                };
                self.put_meta(obj, &meta)?;
                usage.account(obj.pg.pool.0, old_size, Some(meta.size));
            }
            TxOp::Stash { obj } => self.stash(obj, usage)?,
            TxOp::Remove { obj } => {
                if let Some(old) = self.get_meta(obj)? {
                    let (pool, seed) = pg_cols(obj.pg);
                    self.objects.remove((pool, seed, obj.name.as_str()))?;
                    self.drop_blocks_from(obj, 0)?;
                    self.clear_omap(obj)?;
                    usage.account(obj.pg.pool.0, Some(old.size), None);
                }
            }
            TxOp::SetXattr {
                obj,
                name,
                value,
                version,
            } => {
                let mut meta = self.meta_or_create(obj, *version, usage)?;
                meta.xattrs
                    .insert(name.clone(), serde_bytes::ByteBuf::from(value.clone()));
                self.put_meta(obj, &meta)?;
            }
            TxOp::RmXattr { obj, name, version } => {
                if let Some(mut meta) = self.get_meta(obj)? {
                    meta.xattrs.remove(name);
                    meta.version = *version;
                    self.put_meta(obj, &meta)?;
                }
            }
            TxOp::OmapSet {
                obj,
                entries,
                version,
            } => {
                let meta = self.meta_or_create(obj, *version, usage)?;
                self.put_meta(obj, &meta)?;
                self.set_omap(obj, entries)?;
            }
            TxOp::OmapRm { obj, keys, version } => {
                if let Some(mut meta) = self.get_meta(obj)? {
                    let (pool, seed) = pg_cols(obj.pg);
                    for k in keys {
                        self.omap
                            .remove((pool, seed, obj.name.as_str(), k.as_slice()))?;
                    }
                    meta.version = *version;
                    self.put_meta(obj, &meta)?;
                }
            }
            TxOp::PutObject {
                obj,
                version,
                data,
                xattrs,
                omap,
            } => {
                let old_size = self.get_meta(obj)?.map(|m| m.size);
                self.write_blocks(obj, data, bs)?;
                self.clear_omap(obj)?;
                self.set_omap(obj, omap)?;
                let meta = ObjectMeta {
                    size: data.len() as u64,
                    version: *version,
                    crc: crc32c::crc32c(data),
                    xattrs: xattrs.clone(),
                };
                self.put_meta(obj, &meta)?;
                usage.account(obj.pg.pool.0, old_size, Some(meta.size));
            }
            TxOp::AppendLog { pg, version, entry } => {
                let (pool, seed) = pg_cols(*pg);
                self.log
                    .insert((pool, seed, version.epoch.0, version.seq), entry.as_slice())?;
            }
            TxOp::TrimLog { pg, through } => {
                let (pool, seed) = pg_cols(*pg);
                self.log.retain_in(
                    (pool, seed, 0, 0)..=(pool, seed, through.epoch.0, through.seq),
                    |_, _| false,
                )?;
            }
            TxOp::RemoveLog { pg, versions } => {
                let (pool, seed) = pg_cols(*pg);
                for v in versions {
                    self.log.remove((pool, seed, v.epoch.0, v.seq))?;
                }
            }
            TxOp::ClearLog { pg } => self.clear_log(*pg)?,
            TxOp::SetPgMeta { pg, value } => {
                self.pg_meta.insert(pg_cols(*pg), value.as_slice())?;
            }
            TxOp::RemovePg { pg } => {
                let mut pgs = vec![*pg];
                if pg.pool.0 & STASH_POOL_BIT == 0 {
                    pgs.push(stash_pg(*pg)); // its roll-back copies go with it
                }
                for pg in pgs {
                    let (bytes, objects) = self.remove_pg(pg)?;
                    usage.remove(pg.pool.0, bytes, objects);
                }
            }
            TxOp::SetMeta { key, value } => {
                self.meta.insert(key.as_str(), value.as_slice())?;
            }
        }
        Ok(())
    }
}
