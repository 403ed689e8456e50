//! The store's value types: configuration, keys, metadata, counters and transactions.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use placement::PgId;
use rados::proto::osd::Version;
use serde::{Deserialize, Serialize};

/// Tuning for [`Store::open`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// redb page cache size in bytes.
    pub cache_bytes: usize,
    /// Data block size for a newly created store; an existing store keeps the size it was
    /// created with.
    pub block_size: u32,
    /// Most txns applied in one write transaction (one fsync).
    pub max_batch: usize,
    /// Capacity of the submit queue; [`Store::commit`] waits for room, which bounds the memory
    /// held by queued txns.
    pub queue: usize,
}

/// The data block size of a new store. redb keeps a value with its key in one allocation of
/// a power-of-two number of pages: a 64 KiB block plus its crc and key took 128 KiB of disk,
/// doubling every large write; 124 KiB leaves room for both in 128 KiB.
pub const DEFAULT_BLOCK_SIZE: u32 = 124 << 10;

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_bytes: 32 << 20,
            block_size: DEFAULT_BLOCK_SIZE,
            max_batch: 256,
            queue: 256,
        }
    }
}

/// One omap `(key, value)` pair.
pub type OmapEntry = (Vec<u8>, Vec<u8>);

/// An object's identity on this OSD: its PG and its name within the PG.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The PG holding the object.
    pub pg: PgId,
    /// The object's name.
    pub name: String,
}

/// Pool-id bit of the key space holding erasure-coded roll-back copies: the stash of an
/// object lives under the same name in its PG with this bit set, out of every listing.
pub const STASH_POOL_BIT: u32 = 1 << 31;

impl ObjectKey {
    /// Where the roll-back copy of this object is kept (see [`TxOp::Stash`]).
    pub fn stash(&self) -> ObjectKey {
        ObjectKey {
            pg: stash_pg(self.pg),
            name: self.name.clone(),
        }
    }
}

/// The key space of `pg`'s roll-back copies.
pub fn stash_pg(pg: PgId) -> PgId {
    PgId {
        pool: placement::PoolId(pg.pool.0 | STASH_POOL_BIT),
        seed: pg.seed,
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pg, self.name)
    }
}

/// What the store keeps about an object besides its data and omap. Serialized on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Data length in bytes.
    pub size: u64,
    /// The version of the last op that changed the object.
    pub version: Version,
    /// crc32c of the whole data, for scrub and for comparing replicas without reading data.
    pub crc: u32,
    /// Extended attributes.
    pub xattrs: BTreeMap<String, serde_bytes::ByteBuf>,
}

impl ObjectMeta {
    pub(super) fn empty(version: Version) -> ObjectMeta {
        ObjectMeta {
            size: 0,
            version,
            crc: 0,
            xattrs: BTreeMap::new(),
        }
    }
}

/// Space used by object data, reported to the monitor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sum of object data sizes (xattrs, omap and logs not counted).
    pub bytes: u64,
    /// Number of objects.
    pub objects: u64,
}

/// [`Usage`] in all and per pool, as of the last commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accounts {
    /// Every object.
    pub total: Usage,
    /// Per pool column of the keys: a pool's roll-back copies count under its id with
    /// [`STASH_POOL_BIT`] set. Pools holding nothing are absent.
    pub pools: BTreeMap<u32, Usage>,
}

impl Accounts {
    /// Moves usage from an object's old state to its new one (`None` = absent) in `pool`.
    pub(super) fn account(&mut self, pool: u32, old: Option<u64>, new: Option<u64>) {
        let entry = self.pools.entry(pool).or_default();
        for u in [&mut self.total, entry] {
            if let Some(size) = old {
                u.bytes = u.bytes.saturating_sub(size);
                u.objects = u.objects.saturating_sub(1);
            }
            if let Some(size) = new {
                u.bytes = u.bytes.saturating_add(size);
                u.objects = u.objects.saturating_add(1);
            }
        }
    }

    /// Takes `bytes` and `objects` away from `pool` (a removed PG).
    pub(super) fn remove(&mut self, pool: u32, bytes: u64, objects: u64) {
        let entry = self.pools.entry(pool).or_default();
        for u in [&mut self.total, entry] {
            u.bytes = u.bytes.saturating_sub(bytes);
            u.objects = u.objects.saturating_sub(objects);
        }
    }
}

/// Group-commit counters since [`Store::open`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CommitStats {
    /// Write transactions committed (fsyncs).
    pub batches: u64,
    /// Txns acknowledged as committed.
    pub txns: u64,
}

/// Ops applied atomically: all of them or none.
#[derive(Debug, Default, Clone)]
pub struct Txn {
    /// Applied in order; a later op sees the effects of earlier ones.
    pub ops: Vec<TxOp>,
}

/// One change inside a [`Txn`].
#[derive(Debug, Clone)]
pub enum TxOp {
    /// Replace the data, creating the object if absent; xattrs and omap are kept.
    WriteFull {
        /// The object.
        obj: ObjectKey,
        /// The new data.
        data: Bytes,
        /// The object's new version.
        version: Version,
    },
    /// Remove data, xattrs and omap; a no-op if the object is absent.
    Remove {
        /// The object.
        obj: ObjectKey,
    },
    /// Set one xattr, creating an empty object if absent.
    SetXattr {
        /// The object.
        obj: ObjectKey,
        /// Attribute name.
        name: String,
        /// Attribute value.
        value: Vec<u8>,
        /// The object's new version.
        version: Version,
    },
    /// Remove one xattr; a no-op if the object is absent.
    RmXattr {
        /// The object.
        obj: ObjectKey,
        /// Attribute name.
        name: String,
        /// The object's new version.
        version: Version,
    },
    /// Set omap entries, creating an empty object if absent.
    OmapSet {
        /// The object.
        obj: ObjectKey,
        /// `(key, value)` pairs.
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        /// The object's new version.
        version: Version,
    },
    /// Remove omap keys; a no-op if the object is absent.
    OmapRm {
        /// The object.
        obj: ObjectKey,
        /// Keys to remove; absent ones are ignored.
        keys: Vec<Vec<u8>>,
        /// The object's new version.
        version: Version,
    },
    /// Replace the object entirely (data, xattrs, omap), as recovery pushes it.
    PutObject {
        /// The object.
        obj: ObjectKey,
        /// The object's version.
        version: Version,
        /// The data.
        data: Bytes,
        /// All xattrs.
        xattrs: BTreeMap<String, serde_bytes::ByteBuf>,
        /// All omap entries; the old omap is removed.
        omap: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// Add a PG log entry (opaque to the store).
    AppendLog {
        /// The PG.
        pg: PgId,
        /// The entry's version, its key in the log.
        version: Version,
        /// The encoded entry.
        entry: Vec<u8>,
    },
    /// Drop log entries with version `<= through`.
    TrimLog {
        /// The PG.
        pg: PgId,
        /// Last version to drop.
        through: Version,
    },
    /// Drop these log entries (an erasure-coded member undoing writes it cannot keep).
    RemoveLog {
        /// The PG.
        pg: PgId,
        /// The entries' versions.
        versions: Vec<Version>,
    },
    /// Drop the whole log of a PG.
    ClearLog {
        /// The PG.
        pg: PgId,
    },
    /// Set the PG's opaque info.
    SetPgMeta {
        /// The PG.
        pg: PgId,
        /// Encoded info.
        value: Vec<u8>,
    },
    /// Erasure-coded shards: keep the object's current state (data and meta) as its
    /// roll-back copy, replacing an older one. A write fewer than k shards applied can then
    /// be undone by decoding the previous version. An absent object leaves a tombstone (no
    /// data, version zero): "absent before this write" counts for a roll-back like a copy.
    Stash {
        /// The object.
        obj: ObjectKey,
    },
    /// Remove every object, block, omap entry, log entry and the info of a PG.
    RemovePg {
        /// The PG.
        pg: PgId,
    },
    /// Set OSD-wide metadata (its id, uuid, fsid).
    SetMeta {
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
    },
}
