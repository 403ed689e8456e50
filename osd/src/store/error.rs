//! [`StoreError`] and the record codec.

use std::sync::Arc;

use super::{ObjectKey, ObjectMeta};

/// Why a store call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A block failed its checksum, or is missing or of the wrong length. Nothing changed and
    /// no bad data was returned; the object needs repair from a replica.
    #[error("corrupt block {block} of object {obj}")]
    Corrupt {
        /// The damaged object.
        obj: ObjectKey,
        /// Index of the first bad block.
        block: u64,
    },
    /// The committer thread is gone (store dropped or the thread died). A txn rejected on
    /// submit was not applied; one already queued may or may not have been.
    #[error("object store closed")]
    Closed,
    /// redb failed. For a commit, the txn was not applied, except after an I/O error in the
    /// final fsync, when its outcome is unknown (redb then fails every later commit).
    #[error("object store database: {0}")]
    Db(#[source] Arc<redb::Error>),
    /// A record could not be encoded. For a commit, the txn was not applied.
    #[error("encode {what}: {source}")]
    Encode {
        /// Which record.
        what: &'static str,
        /// The codec error.
        #[source]
        source: Arc<rmp_serde::encode::Error>,
    },
    /// A stored record does not parse. Nothing changed.
    #[error("decode {what}: {source}")]
    Decode {
        /// Which record.
        what: &'static str,
        /// The codec error.
        #[source]
        source: Arc<rmp_serde::decode::Error>,
    },
    /// The file was written by an unknown format version. Nothing changed.
    #[error("object store format version {found} is not supported (expected {expected})")]
    Format {
        /// Version in the file.
        found: u64,
        /// Version this code reads.
        expected: u64,
    },
    /// `store_info` holds an impossible value. Nothing changed.
    #[error("object store info {key} = {value} is invalid")]
    BadInfo {
        /// The `store_info` key.
        key: &'static str,
        /// Its value.
        value: u64,
    },
    /// The committer thread could not be started. Nothing changed.
    #[error("start object store committer: {0}")]
    Thread(#[source] Arc<std::io::Error>),
    /// The store's file could not be examined (its size). Nothing changed.
    #[error("object store file: {0}")]
    File(#[source] Arc<std::io::Error>),
    /// [`StoreConfig`](super::StoreConfig) is unusable. Nothing changed.
    #[error("bad store config: {0}")]
    Config(&'static str),
}

macro_rules! from_redb {
    ($($t:ty),+) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Arc::new(e.into()))
            }
        }
    )+};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

pub(super) fn encode_meta(m: &ObjectMeta) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(m).map_err(|e| StoreError::Encode {
        what: "object meta",
        source: Arc::new(e),
    })
}

pub(super) fn decode_meta(bytes: &[u8]) -> Result<ObjectMeta, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Decode {
        what: "object meta",
        source: Arc::new(e),
    })
}
