//! Fault injection for tests and chaos scripts (`shoal osd corrupt`): silent corruption of
//! a stored object on a stopped OSD. Never called by the daemon.
//!
//! It flips one data byte of one block and leaves the block's crc32c and the object's
//! stored crc as they were, which is what bit rot on a disk looks like to the store: reads
//! of that block fail with [`StoreError::Corrupt`] and a deep scrub reports it.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable};

use super::StoreError;
use super::keys::{BLOCKS, INFO, INFO_BLOCK_SIZE, OBJECTS};
use super::{decode_meta, keys::pg_of};
use crate::store::ObjectKey;

/// What [`corrupt_object`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The object (its PG and name).
    pub obj: ObjectKey,
    /// Byte offset within the object's data.
    pub offset: u64,
    /// The block holding it.
    pub block: u64,
    /// The byte before.
    pub old: u8,
    /// The byte after.
    pub new: u8,
}

/// Why [`corrupt_object`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// Another process (the OSD) has the store open; redb's file lock refuses a second one.
    #[error("the store {0} is in use: stop the OSD first")]
    InUse(String),
    /// No object of that name (in that pool, if given).
    #[error("no object {0:?} in this store")]
    NotFound(String),
    /// The name exists in several pools; say which.
    #[error("object {name:?} exists in pools {pools:?}: pass --pool-id")]
    Ambiguous {
        /// The name.
        name: String,
        /// Pools holding it.
        pools: Vec<u32>,
    },
    /// The offset is at or past the object's end (an empty object has no byte to flip).
    #[error("offset {offset} is outside object {name:?} of {size} bytes")]
    Offset {
        /// The object.
        name: String,
        /// Asked.
        offset: u64,
        /// Its size.
        size: u64,
    },
    /// The store failed (or a block to corrupt is already missing).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Flips one byte (xor 0xff) at `offset` of object `name`'s data in the store file at
/// `path`, in `pool` if given, leaving every checksum unchanged. The store must not be open
/// elsewhere.
pub fn corrupt_object(
    path: &Path,
    name: &str,
    pool: Option<u32>,
    offset: u64,
) -> Result<Corruption, FaultError> {
    let db = match redb::Database::open(path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
            return Err(FaultError::InUse(path.display().to_string()));
        }
        Err(e) => return Err(StoreError::from(e).into()),
    };
    let r = db.begin_read().map_err(StoreError::from)?;
    let objects = r.open_table(OBJECTS).map_err(StoreError::from)?;
    let mut found = Vec::new();
    // A fault tool on one OSD's store: a full scan of object keys is fine.
    for item in objects.iter().map_err(StoreError::from)? {
        let (k, v) = item.map_err(StoreError::from)?;
        let (p, seed, n) = k.value();
        // Roll-back copies are not objects a user names.
        let stash = p & super::types::STASH_POOL_BIT != 0;
        if n == name && !stash && pool.is_none_or(|want| want == p) {
            found.push((p, seed, decode_meta(v.value())?));
        }
    }
    let (p, seed, meta) = match found.len() {
        0 => return Err(FaultError::NotFound(name.to_owned())),
        1 => found.pop().expect("one"),
        _ => {
            return Err(FaultError::Ambiguous {
                name: name.to_owned(),
                pools: found.iter().map(|f| f.0).collect(),
            });
        }
    };
    if offset >= meta.size {
        return Err(FaultError::Offset {
            name: name.to_owned(),
            offset,
            size: meta.size,
        });
    }
    let bs = r
        .open_table(INFO)
        .map_err(StoreError::from)?
        .get(INFO_BLOCK_SIZE)
        .map_err(StoreError::from)?
        .map_or(64 << 10, |v| v.value());
    drop((objects, r));
    let (block, at) = (offset / bs, (offset % bs) as usize + 4);
    let obj = ObjectKey {
        pg: pg_of(p, seed),
        name: name.to_owned(),
    };
    let w = db.begin_write().map_err(StoreError::from)?;
    let (old, new) = {
        let mut t = w.open_table(BLOCKS).map_err(StoreError::from)?;
        let key = (p, seed, name, block);
        let mut v = match t.get(key).map_err(StoreError::from)? {
            Some(v) if v.value().len() > at => v.value().to_vec(),
            _ => return Err(StoreError::Corrupt { obj, block }.into()),
        };
        let old = v[at];
        v[at] = old ^ 0xff;
        t.insert(key, v.as_slice()).map_err(StoreError::from)?;
        (old, v[at])
    };
    w.commit().map_err(StoreError::from)?;
    Ok(Corruption {
        obj,
        offset,
        block,
        old,
        new,
    })
}
