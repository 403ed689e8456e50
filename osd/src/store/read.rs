//! The read side: plain sync fns on redb read snapshots, so a read never sees part of a txn.
//! Callers on an async runtime use `spawn_blocking`.

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Included};
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use placement::PgId;
use rados::proto::osd::Version;
use redb::ReadableDatabase;

use super::apply::distinct_pgs;
use super::keys::{
    BLOCKS, META, OBJECTS, OMAP, PG_LOG, PG_META, name_successor, pg_bounds, pg_cols,
};
use super::{ObjectKey, ObjectMeta, OmapEntry, Store, StoreError, decode_meta, lock};

impl Store {
    /// A consistent view of the store as of now: every read through it sees the same
    /// committed transactions, so an object's metadata and data always belong together.
    pub fn snapshot(&self) -> Result<Snapshot<'_>, StoreError> {
        Ok(Snapshot {
            store: self,
            txn: self.shared().db.begin_read()?,
        })
    }

    /// [`Snapshot::read`] in a snapshot of its own.
    pub fn read(
        &self,
        obj: &ObjectKey,
        off: u64,
        len: Option<u64>,
    ) -> Result<Option<(ObjectMeta, Bytes)>, StoreError> {
        self.snapshot()?.read(obj, off, len)
    }

    /// [`Snapshot::stat`] in a snapshot of its own.
    pub fn stat(&self, obj: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        self.snapshot()?.stat(obj)
    }

    /// [`Snapshot::omap_get`] in a snapshot of its own.
    pub fn omap_get(
        &self,
        obj: &ObjectKey,
        keys: &[Vec<u8>],
    ) -> Result<Vec<OmapEntry>, StoreError> {
        self.snapshot()?.omap_get(obj, keys)
    }

    /// [`Snapshot::omap_list`] in a snapshot of its own.
    pub fn omap_list(
        &self,
        obj: &ObjectKey,
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<OmapEntry>, StoreError> {
        self.snapshot()?.omap_list(obj, start_after, limit)
    }

    pub(super) fn corrupt(&self, obj: &ObjectKey, block: u64) -> StoreError {
        tracing::warn!(%obj, block, "corrupt object block");
        self.shared().corrupt_reads.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared().corrupt_pgs).insert(obj.pg);
        StoreError::Corrupt {
            obj: obj.clone(),
            block,
        }
    }

    /// Up to `limit` objects of a PG in name order, starting after `start_after`.
    pub fn list(
        &self,
        pg: PgId,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ObjectMeta)>, StoreError> {
        let r = self.shared().db.begin_read()?;
        let t = r.open_table(OBJECTS)?;
        let (pool, seed) = pg_cols(pg);
        let (mut lo, hi) = pg_bounds(pool, seed, (pool, seed, ""), |p, s| (p, s, ""));
        if let Some(after) = start_after {
            lo = Excluded((pool, seed, after));
        }
        let mut out = Vec::new();
        for item in t.range((lo, hi))?.take(limit) {
            let (k, v) = item?;
            out.push((k.value().2.to_owned(), decode_meta(v.value())?));
        }
        Ok(out)
    }

    /// PGs with any object, log entry or info here, ascending.
    pub fn pgs(&self) -> Result<Vec<PgId>, StoreError> {
        let r = self.shared().db.begin_read()?;
        let mut out = BTreeSet::new();
        distinct_pgs(&r.open_table(OBJECTS)?, &mut out)?;
        distinct_pgs(&r.open_table(PG_LOG)?, &mut out)?;
        distinct_pgs(&r.open_table(PG_META)?, &mut out)?;
        // Roll-back copies belong to their PG; they are not PGs of their own.
        out.retain(|pg| pg.pool.0 & super::types::STASH_POOL_BIT == 0);
        Ok(out.into_iter().collect())
    }

    /// The PG's info from [`TxOp::SetPgMeta`].
    pub fn pg_meta(&self, pg: PgId) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.shared().db.begin_read()?;
        let t = r.open_table(PG_META)?;
        Ok(t.get(pg_cols(pg))?.map(|v| v.value().to_vec()))
    }

    /// The PG's log, ascending by version.
    pub fn log(&self, pg: PgId) -> Result<Vec<(Version, Vec<u8>)>, StoreError> {
        let r = self.shared().db.begin_read()?;
        let t = r.open_table(PG_LOG)?;
        let (pool, seed) = pg_cols(pg);
        let mut out = Vec::new();
        for item in t.range((pool, seed, 0, 0)..=(pool, seed, u64::MAX, u64::MAX))? {
            let (k, v) = item?;
            let (_, _, epoch, seq) = k.value();
            let version = Version {
                epoch: placement::Epoch(epoch),
                seq,
            };
            out.push((version, v.value().to_vec()));
        }
        Ok(out)
    }

    /// OSD-wide metadata from [`TxOp::SetMeta`].
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.shared().db.begin_read()?;
        let t = r.open_table(META)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    /// Test hook: the indices of an object's stored blocks.
    #[cfg(test)]
    pub(crate) fn block_indices_for_test(&self, obj: &ObjectKey) -> Result<Vec<u64>, StoreError> {
        let r = self.shared().db.begin_read()?;
        let t = r.open_table(BLOCKS)?;
        let (pool, seed) = pg_cols(obj.pg);
        let name = obj.name.as_str();
        let mut out = Vec::new();
        for item in t.range((pool, seed, name, 0)..=(pool, seed, name, u64::MAX))? {
            out.push(item?.0.value().3);
        }
        Ok(out)
    }

    /// Test hook: the number of stored omap entries in a PG, whatever object they belong to.
    #[cfg(test)]
    pub(crate) fn pg_omap_len_for_test(&self, pg: PgId) -> Result<usize, StoreError> {
        let r = self.shared().db.begin_read()?;
        let t = r.open_table(OMAP)?;
        let (pool, seed) = pg_cols(pg);
        let empty: &[u8] = &[];
        let range = pg_bounds(pool, seed, (pool, seed, "", empty), |p, s| {
            (p, s, "", empty)
        });
        Ok(t.range(range)?.count())
    }

    /// Test hook: the number of stored blocks in a PG, whatever object they belong to.
    #[cfg(test)]
    pub(crate) fn pg_blocks_len_for_test(&self, pg: PgId) -> Result<usize, StoreError> {
        let r = self.shared().db.begin_read()?;
        let t = r.open_table(BLOCKS)?;
        let (pool, seed) = pg_cols(pg);
        let range = pg_bounds(pool, seed, (pool, seed, "", 0), |p, s| (p, s, "", 0));
        Ok(t.range(range)?.count())
    }

    /// Test hook: flips a data byte of a stored block, leaving its checksum stale.
    #[cfg(test)]
    pub(crate) fn corrupt_block_for_test(
        &self,
        obj: &ObjectKey,
        block: u64,
    ) -> Result<(), StoreError> {
        use redb::ReadableTable;
        let w = self.shared().db.begin_write()?;
        {
            let mut t = w.open_table(BLOCKS)?;
            let (pool, seed) = pg_cols(obj.pg);
            let key = (pool, seed, obj.name.as_str(), block);
            let mut v = t
                .get(key)?
                .expect("block to corrupt exists")
                .value()
                .to_vec();
            let i = v.len() - 1;
            v[i] ^= 0x5a;
            t.insert(key, v.as_slice())?;
        }
        w.commit()?;
        Ok(())
    }
}

/// A consistent read view of the store ([`Store::snapshot`]).
pub struct Snapshot<'a> {
    store: &'a Store,
    txn: redb::ReadTransaction,
}

impl Snapshot<'_> {
    /// Reads `[off, off+len)` of an object's data (`len: None` = to the end), clamped to its
    /// size; an `off` at or past the end gives empty data. Reads and checks only the blocks
    /// covering the range. `None` if the object does not exist.
    ///
    /// A block failing its checksum yields [`StoreError::Corrupt`], bumps
    /// [`Store::corrupt_reads`] and records the PG in [`Store::corrupt_pgs`].
    pub fn read(
        &self,
        obj: &ObjectKey,
        off: u64,
        len: Option<u64>,
    ) -> Result<Option<(ObjectMeta, Bytes)>, StoreError> {
        let r = &self.txn;
        let (pool, seed) = pg_cols(obj.pg);
        let Some(meta) = r
            .open_table(OBJECTS)?
            .get((pool, seed, obj.name.as_str()))?
            .map(|v| decode_meta(v.value()))
            .transpose()?
        else {
            return Ok(None);
        };
        let end = match len {
            Some(len) => off.saturating_add(len).min(meta.size),
            None => meta.size,
        };
        if off >= end {
            return Ok(Some((meta, Bytes::new())));
        }
        let bs = u64::from(self.store.shared().block_size);
        let (first, last) = (off / bs, (end - 1) / bs);
        let blocks = r.open_table(BLOCKS)?;
        let name = obj.name.as_str();
        // `end - off` is at most the object's size, which was once a single `Bytes` in memory.
        let mut out = BytesMut::with_capacity(usize::try_from(end - off).unwrap_or(0));
        let mut expect = first;
        for item in blocks.range((pool, seed, name, first)..=(pool, seed, name, last))? {
            let (k, v) = item?;
            let index = k.value().3;
            let v = v.value();
            let start = index * bs;
            let want_len = bs.min(meta.size - start);
            if index != expect || v.len() < 4 || (v.len() - 4) as u64 != want_len {
                return Err(self.store.corrupt(obj, expect));
            }
            let (crc, data) = v.split_at(4);
            if crc32c::crc32c(data).to_le_bytes() != crc {
                return Err(self.store.corrupt(obj, index));
            }
            let lo = (off.max(start) - start) as usize;
            let hi = (end.min(start + want_len) - start) as usize;
            out.extend_from_slice(&data[lo..hi]);
            expect += 1;
        }
        if expect != last + 1 {
            return Err(self.store.corrupt(obj, expect));
        }
        Ok(Some((meta, out.freeze())))
    }

    /// An object's metadata, or `None` if it does not exist.
    pub fn stat(&self, obj: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        let r = &self.txn;
        let (pool, seed) = pg_cols(obj.pg);
        let t = r.open_table(OBJECTS)?;
        let v = t.get((pool, seed, obj.name.as_str()))?;
        v.map(|v| decode_meta(v.value())).transpose()
    }

    /// The omap entries among `keys` that exist, in key order (duplicates collapse).
    pub fn omap_get(
        &self,
        obj: &ObjectKey,
        keys: &[Vec<u8>],
    ) -> Result<Vec<OmapEntry>, StoreError> {
        let r = &self.txn;
        let t = r.open_table(OMAP)?;
        let (pool, seed) = pg_cols(obj.pg);
        let wanted: BTreeSet<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        for k in wanted {
            if let Some(v) = t.get((pool, seed, obj.name.as_str(), k))? {
                out.push((k.to_vec(), v.value().to_vec()));
            }
        }
        Ok(out)
    }

    /// Up to `limit` omap entries in key order, starting after `start_after`.
    pub fn omap_list(
        &self,
        obj: &ObjectKey,
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<OmapEntry>, StoreError> {
        let r = &self.txn;
        let t = r.open_table(OMAP)?;
        let (pool, seed) = pg_cols(obj.pg);
        let name = obj.name.as_str();
        let succ = name_successor(name);
        let lo = match start_after {
            Some(k) => Excluded((pool, seed, name, k)),
            None => Included((pool, seed, name, &[][..])),
        };
        let hi = Excluded((pool, seed, succ.as_str(), &[][..]));
        let mut out = Vec::new();
        for item in t.range((lo, hi))?.take(limit) {
            let (k, v) = item?;
            out.push((k.value().3.to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}
