//! The scrub read: one page of a PG's objects, with the PG log's head, from one read
//! snapshot, optionally re-reading and re-checksumming every byte (deep scrub).

use std::ops::Bound::{Excluded, Included};

use placement::PgId;
use rados::proto::osd::Version;
use redb::{ReadableDatabase, ReadableTable};

use super::keys::{BLOCKS, OBJECTS, OMAP, PG_LOG, name_successor, pg_bounds, pg_cols};
use super::{ObjectKey, ObjectMeta, Store, StoreError, decode_meta};

/// One object as a scrub sees it on this OSD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrubItem {
    /// The object's name.
    pub name: String,
    /// Its stored metadata (size, version, stored crc, xattrs).
    pub meta: ObjectMeta,
    /// Deep scrub only: what re-reading the data gave.
    pub deep: Option<DeepRead>,
}

/// What a deep scrub read of one object found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeepRead {
    /// crc32c of the data as read, or the first block that failed its own crc32c (or is
    /// missing, or of the wrong length).
    pub data: Result<u32, u64>,
    /// crc32c over the omap entries in key order (each as length-prefixed key and value).
    pub omap_digest: u32,
}

/// A page of [`Store::scrub_page`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrubRead {
    /// The newest entry of the PG's log in the same snapshot ([`Version::ZERO`] if empty):
    /// two members whose pages carry the same head have applied the same writes.
    pub head: Version,
    /// Objects in name order.
    pub items: Vec<ScrubItem>,
    /// More objects follow the last item (the page hit `limit` or the byte budget).
    pub truncated: bool,
}

impl Store {
    /// Up to `limit` objects of `pg` after `start_after`, in name order, with the PG log's
    /// head, all from one read snapshot. With `deep`, every block of each object is read
    /// and checked, and the page also stops once `byte_budget` data bytes were read (after
    /// at least one object), so a page's cost is bounded whatever the object sizes. Memory
    /// is one block at a time. A bad block counts as a corrupt read.
    pub fn scrub_page(
        &self,
        pg: PgId,
        start_after: Option<&str>,
        limit: usize,
        deep: bool,
        byte_budget: u64,
    ) -> Result<ScrubRead, StoreError> {
        let r = self.shared().db.begin_read()?;
        let (pool, seed) = pg_cols(pg);
        let head = r
            .open_table(PG_LOG)?
            .range((pool, seed, 0, 0)..=(pool, seed, u64::MAX, u64::MAX))?
            .next_back()
            .transpose()?
            .map_or(Version::ZERO, |(k, _)| {
                let (_, _, epoch, seq) = k.value();
                Version {
                    epoch: placement::Epoch(epoch),
                    seq,
                }
            });
        let objects = r.open_table(OBJECTS)?;
        let blocks = r.open_table(BLOCKS)?;
        let omap = r.open_table(OMAP)?;
        let (mut lo, hi) = pg_bounds(pool, seed, (pool, seed, ""), |p, s| (p, s, ""));
        if let Some(after) = start_after {
            lo = Excluded((pool, seed, after));
        }
        let mut items = Vec::new();
        let mut read = 0u64;
        let mut truncated = false;
        for item in objects.range((lo, hi))? {
            if items.len() >= limit.max(1) || (deep && read >= byte_budget && !items.is_empty()) {
                truncated = true;
                break;
            }
            let (k, v) = item?;
            let name = k.value().2.to_owned();
            let meta = decode_meta(v.value())?;
            if deep {
                read += meta.size;
                let key = ObjectKey { pg, name };
                let data = self.deep_data(&blocks, &key, meta.size)?;
                let omap_digest = omap_digest(&omap, &key)?;
                items.push(ScrubItem {
                    name: key.name,
                    meta,
                    deep: Some(DeepRead { data, omap_digest }),
                });
                continue;
            }
            items.push(ScrubItem {
                name,
                meta,
                deep: None,
            });
        }
        Ok(ScrubRead {
            head,
            items,
            truncated,
        })
    }

    /// crc32c of an object's data read block by block, or the first bad block.
    fn deep_data(
        &self,
        blocks: &impl ReadableTable<(u32, u32, &'static str, u64), &'static [u8]>,
        obj: &ObjectKey,
        size: u64,
    ) -> Result<Result<u32, u64>, StoreError> {
        let (pool, seed) = pg_cols(obj.pg);
        let name = obj.name.as_str();
        let bs = u64::from(self.block_size());
        let want_blocks = size.div_ceil(bs);
        let mut crc = 0u32;
        let mut expect = 0u64;
        for item in blocks.range((pool, seed, name, 0)..=(pool, seed, name, u64::MAX))? {
            let (k, v) = item?;
            let index = k.value().3;
            let v = v.value();
            if index != expect || index >= want_blocks {
                return Ok(Err(self.scrub_corrupt(obj, expect)));
            }
            let want_len = bs.min(size - index * bs);
            if v.len() < 4 || (v.len() - 4) as u64 != want_len {
                return Ok(Err(self.scrub_corrupt(obj, index)));
            }
            let (stored, data) = v.split_at(4);
            if crc32c::crc32c(data).to_le_bytes() != stored {
                return Ok(Err(self.scrub_corrupt(obj, index)));
            }
            crc = crc32c::crc32c_append(crc, data);
            expect += 1;
        }
        if expect != want_blocks {
            return Ok(Err(self.scrub_corrupt(obj, expect)));
        }
        Ok(Ok(crc))
    }

    /// Counts and logs a bad block found by scrub, as a read would.
    fn scrub_corrupt(&self, obj: &ObjectKey, block: u64) -> u64 {
        let _counted = self.corrupt(obj, block);
        block
    }
}

/// crc32c over an object's omap entries in key order, each as `len(key) key len(value)
/// value` (lengths u64 LE), so that moving bytes between key and value changes the digest.
fn omap_digest(
    omap: &impl ReadableTable<(u32, u32, &'static str, &'static [u8]), &'static [u8]>,
    obj: &ObjectKey,
) -> Result<u32, StoreError> {
    let (pool, seed) = pg_cols(obj.pg);
    let name = obj.name.as_str();
    let succ = name_successor(name);
    let range = (
        Included((pool, seed, name, &[][..])),
        Excluded((pool, seed, succ.as_str(), &[][..])),
    );
    let mut crc = 0u32;
    for item in omap.range(range)? {
        let (k, v) = item?;
        let (key, value) = (k.value().3, v.value());
        crc = crc32c::crc32c_append(crc, &(key.len() as u64).to_le_bytes());
        crc = crc32c::crc32c_append(crc, key);
        crc = crc32c::crc32c_append(crc, &(value.len() as u64).to_le_bytes());
        crc = crc32c::crc32c_append(crc, value);
    }
    Ok(crc)
}
