//! The OSD's crash-safe local object store, on one redb file.
//!
//! Writes are [`Txn`]s applied atomically: all of a txn's ops or none, across object data,
//! xattrs, omap, the PG log and PG info. One committer thread drains a bounded queue and
//! applies up to [`StoreConfig::max_batch`] queued txns in a single redb write transaction
//! committed with `Durability::Immediate` (fsync), then answers them all: many ops share one
//! fsync (group commit). [`Store::commit`] resolves only after that fsync, so an acknowledged
//! txn survives `kill -9` at any instant. Reads are plain sync fns on redb read snapshots
//! (callers on a runtime use `spawn_blocking`); a read never sees part of a txn.
//!
//! Object data is cut into fixed-size blocks, each with its own crc32c, so a ranged read
//! touches only the blocks it covers and a damaged block is detected before its bytes are
//! returned ([`StoreError::Corrupt`]). Large aligned writes (data blocks) bypass the page
//! cache (`direct.rs`).
//!
//! # On-disk format (version 1)
//!
//! Tables (`pool` is `PoolId.0`, `seed` is `PgId.seed`; tuple keys order column by column,
//! integers numerically, strings and byte strings bytewise, so a PG and an object are each one
//! contiguous key range):
//!
//! | table | key | value |
//! |---|---|---|
//! | `objects` | `(u32 pool, u32 seed, &str name)` | rmp-serde (named fields) of [`ObjectMeta`] |
//! | `blocks` | `(u32 pool, u32 seed, &str name, u64 index)` | `crc32c(data)` as u32 LE, then `data` |
//! | `omap` | `(u32 pool, u32 seed, &str name, &[u8] key)` | value bytes |
//! | `pg_log` | `(u32 pool, u32 seed, u64 epoch, u64 seq)` | opaque log entry |
//! | `pg_meta` | `(u32 pool, u32 seed)` | opaque PG info |
//! | `meta` | `&str` | OSD-wide metadata bytes |
//! | `store_info` | `&str` | `u64`: `format_version`, `block_size`, `usage_bytes`, `usage_objects`, `pool_usage`, `pool_usage/{bytes,objects}/{pool}` |
//!
//! Block `i` of an object of size `n` holds bytes `[i*B, min((i+1)*B, n))` where `B` is the
//! `block_size` recorded in `store_info` when the file was created (a later
//! [`StoreConfig::block_size`] does not change it). An object of size `n` has exactly
//! `ceil(n/B)` blocks, indices `0..ceil(n/B)`; an empty object has none. `ObjectMeta::crc` is
//! crc32c of the whole data. `usage_*` and the per-pool `pool_usage/*` (nonzero pools only) are
//! rewritten in every write transaction, so they are exact after a crash.

mod apply;
mod direct;
mod error;
pub mod fault;
mod keys;
mod read;
mod scrub;
#[cfg(test)]
pub(crate) mod tests;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use placement::PgId;
use redb::Database;
use tokio::sync::{mpsc, oneshot};

pub use error::StoreError;
use error::{decode_meta, encode_meta};
pub use read::Snapshot;
pub use scrub::{DeepRead, ScrubItem, ScrubRead};
pub use types::{
    Accounts, CommitStats, DEFAULT_BLOCK_SIZE, ObjectKey, ObjectMeta, OmapEntry, STASH_POOL_BIT,
    StoreConfig, TxOp, Txn, Usage, stash_pg,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by readers and the committer thread.
struct Shared {
    db: Database,
    /// Block size of this file (from `store_info`, not the config).
    block_size: u32,
    /// The redb file.
    path: PathBuf,
    /// Written only by the committer, after a successful commit.
    usage: Mutex<Accounts>,
    stats: Mutex<CommitStats>,
    corrupt_reads: AtomicU64,
    /// Bounded by the number of PGs.
    corrupt_pgs: Mutex<BTreeSet<PgId>>,
}

/// A queued txn and where to send its outcome.
struct Request {
    txn: Txn,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

struct Inner {
    shared: Arc<Shared>,
    /// `None` only while dropping, so that the committer sees the queue close.
    submit: Option<mpsc::Sender<Request>>,
    committer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    /// Closes the queue and waits for the committer to finish what is queued, so that the
    /// file is closed when the last handle is gone and can be reopened at once.
    fn drop(&mut self) {
        self.submit = None;
        if let Some(h) = self.committer.take() {
            let _ = h.join();
        }
    }
}

/// Handle to an open store; clones share it. The file closes when the last clone drops
/// (which waits for queued txns to commit).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens the redb file at `path`, creating it and its tables if needed, and starts the
    /// committer thread.
    pub fn open(path: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        if config.block_size == 0 {
            return Err(StoreError::Config("block_size must be > 0"));
        }
        if config.max_batch == 0 || config.queue == 0 {
            return Err(StoreError::Config("max_batch and queue must be > 0"));
        }
        let db = redb::Builder::new()
            .set_cache_size(config.cache_bytes)
            .create_with_backend(
                direct::DirectWrites::open(path).map_err(redb::StorageError::from)?,
            )?;
        let (block_size, usage) = apply::init(&db, config.block_size)?;
        tracing::info!(path = %path.display(), block_size, ?usage, "object store open");
        let shared = Arc::new(Shared {
            db,
            block_size,
            path: path.to_owned(),
            usage: Mutex::new(usage),
            stats: Mutex::new(CommitStats::default()),
            corrupt_reads: AtomicU64::new(0),
            corrupt_pgs: Mutex::new(BTreeSet::new()),
        });
        let (tx, rx) = mpsc::channel(config.queue);
        let committer = {
            let shared = shared.clone();
            let max_batch = config.max_batch;
            std::thread::Builder::new()
                .name("osd-store-commit".into())
                .spawn(move || apply::run_committer(&shared, rx, max_batch))
                .map_err(|e| StoreError::Thread(Arc::new(e)))?
        };
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                submit: Some(tx),
                committer: Some(committer),
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Applies `txn` atomically and resolves once it is durable (fsynced, possibly together
    /// with other txns). Waits for room in the submit queue first.
    ///
    /// Cancel-safe: dropping the future while it waits for queue room submits nothing;
    /// dropping it later does not un-apply the txn, whose outcome is then unknown to the caller.
    pub async fn commit(&self, txn: Txn) -> Result<(), StoreError> {
        let submit = self.inner.submit.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        submit
            .send(Request { txn, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Data bytes and object count as of the last commit.
    pub fn usage(&self) -> Usage {
        lock(&self.shared().usage).total
    }

    /// [`Usage`] per pool column of the keys, as of the last commit: a pool's roll-back
    /// copies count under its id with [`STASH_POOL_BIT`] set.
    pub fn pool_usage(&self) -> BTreeMap<u32, Usage> {
        lock(&self.shared().usage).pools.clone()
    }

    /// The size of the store's file: what it takes on disk, free pages and all.
    pub fn file_bytes(&self) -> Result<u64, StoreError> {
        Ok(std::fs::metadata(&self.shared().path)
            .map_err(|e| StoreError::File(Arc::new(e)))?
            .len())
    }

    /// Reads that hit a corrupt block since open.
    pub fn corrupt_reads(&self) -> u64 {
        self.shared().corrupt_reads.load(Ordering::Relaxed)
    }

    /// PGs in which a corrupt block was read since open, ascending.
    pub fn corrupt_pgs(&self) -> Vec<PgId> {
        lock(&self.shared().corrupt_pgs).iter().copied().collect()
    }

    /// Group-commit counters since open.
    pub fn stats(&self) -> CommitStats {
        *lock(&self.shared().stats)
    }

    /// The block size this file was created with.
    pub fn block_size(&self) -> u32 {
        self.shared().block_size
    }
}
