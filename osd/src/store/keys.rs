//! Table definitions and key ranges. Every per-PG table leads its key with `(pool, seed)`, so
//! a PG, and within it an object, is one contiguous key range.

use std::ops::Bound;

use placement::{PgId, PoolId};
use redb::TableDefinition;

/// Object name -> rmp-serde (named) [`ObjectMeta`](super::ObjectMeta).
pub(super) const OBJECTS: TableDefinition<(u32, u32, &str), &[u8]> =
    TableDefinition::new("objects");
/// Object name and block index -> `crc32c(data)` as u32 LE, then the block's data.
pub(super) const BLOCKS: TableDefinition<(u32, u32, &str, u64), &[u8]> =
    TableDefinition::new("blocks");
/// Object name and omap key -> omap value.
pub(super) const OMAP: TableDefinition<(u32, u32, &str, &[u8]), &[u8]> =
    TableDefinition::new("omap");
/// PG and version (epoch, seq) -> opaque log entry.
pub(super) const PG_LOG: TableDefinition<(u32, u32, u64, u64), &[u8]> =
    TableDefinition::new("pg_log");
/// PG -> opaque PG info.
pub(super) const PG_META: TableDefinition<(u32, u32), &[u8]> = TableDefinition::new("pg_meta");
/// OSD-wide metadata from [`TxOp::SetMeta`](super::TxOp::SetMeta).
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The store's own counters and format parameters; kept apart from [`META`] so that no
/// caller key can collide with them.
pub(super) const INFO: TableDefinition<&str, u64> = TableDefinition::new("store_info");

/// [`INFO`] key: on-disk format version.
pub(super) const INFO_FORMAT: &str = "format_version";
/// [`INFO`] key: block size fixed when the store was created.
pub(super) const INFO_BLOCK_SIZE: &str = "block_size";
/// [`INFO`] key: sum of object sizes.
pub(super) const INFO_USAGE_BYTES: &str = "usage_bytes";
/// [`INFO`] key: number of objects.
pub(super) const INFO_USAGE_OBJECTS: &str = "usage_objects";

/// [`INFO`] key: present once the per-pool usage keys are kept (files from before them are
/// counted once on open).
pub(super) const INFO_POOL_USAGE: &str = "pool_usage";
/// [`INFO`] keys `pool_usage/bytes/{pool}` and `pool_usage/objects/{pool}`: one pool
/// column's share of `usage_*`.
pub(super) const POOL_USAGE_PREFIX: &str = "pool_usage/";

/// The [`INFO`] key of one pool's `field` (`bytes` or `objects`).
pub(super) fn pool_usage_key(field: &str, pool: u32) -> String {
    format!("{POOL_USAGE_PREFIX}{field}/{pool}")
}

/// `(field, pool)` of a key [`pool_usage_key`] made; `None` for any other key.
pub(super) fn parse_pool_usage_key(key: &str) -> Option<(&str, u32)> {
    let (field, pool) = key.strip_prefix(POOL_USAGE_PREFIX)?.split_once('/')?;
    matches!(field, "bytes" | "objects").then_some(())?;
    Some((field, pool.parse().ok()?))
}

/// The format this code writes and reads.
pub(super) const FORMAT_VERSION: u64 = 1;

/// A PG as the leading key columns.
pub(super) fn pg_cols(pg: PgId) -> (u32, u32) {
    (pg.pool.0, pg.seed)
}

/// The PG right after `pg` in key order, or `None` for the last possible one.
pub(super) fn next_pg(pool: u32, seed: u32) -> Option<(u32, u32)> {
    match seed.checked_add(1) {
        Some(s) => Some((pool, s)),
        None => pool.checked_add(1).map(|p| (p, 0)),
    }
}

/// The PG a key's leading columns name.
pub(super) fn pg_of(pool: u32, seed: u32) -> PgId {
    PgId {
        pool: PoolId(pool),
        seed,
    }
}

/// Bounds covering every key of the PG `(pool, seed)` in a table keyed `(u32, u32, rest..)`,
/// where `first` is the key with the smallest `rest` and `succ` builds a key from a PG.
pub(super) fn pg_bounds<K>(
    pool: u32,
    seed: u32,
    first: K,
    succ: impl FnOnce(u32, u32) -> K,
) -> (Bound<K>, Bound<K>) {
    let hi = match next_pg(pool, seed) {
        Some((p, s)) => Bound::Excluded(succ(p, s)),
        None => Bound::Unbounded,
    };
    (Bound::Included(first), hi)
}

/// The smallest name greater than every key that starts with `name` as a whole column: the
/// exclusive upper bound of one object's omap.
pub(super) fn name_successor(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 1);
    s.push_str(name);
    s.push('\0');
    s
}
