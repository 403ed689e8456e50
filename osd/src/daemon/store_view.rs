//! The store as a PG machine reads it ([`ObjectView`]).

use placement::PgId;
use rados::proto::osd::Version;

use crate::pg::types::WRONG_SHARD;
use crate::pg::{MovedShard, ObjectView};
use crate::store::{ObjectKey, Store};

/// The store as the PG machine reads it.
pub struct StoreView<'a> {
    pub store: &'a Store,
    pub pg: PgId,
    /// Erasure-coded PGs: the shard this OSD's position holds; a stored shard of another
    /// index reports [`WRONG_SHARD`].
    pub shard: Option<u8>,
}

impl StoreView<'_> {
    fn version_of(&self, meta: &crate::store::ObjectMeta) -> Version {
        match (self.shard, crate::ec::ShardMeta::of(meta)) {
            (Some(want), Some(have)) if have.shard != want => WRONG_SHARD,
            (Some(_), None) => WRONG_SHARD,
            _ => meta.version,
        }
    }

    /// A roll-back copy's state, as peering may count it: one of another shard (this OSD
    /// moved position) is [`WRONG_SHARD`], like a current copy of another shard, and so is
    /// a tombstone beside such a copy. Peering counts a copy of the wrong shard neither for
    /// the version it has nor for the state it replaced: counting only the latter made an
    /// older state look decodable by more members than the acknowledged one and rolled it
    /// back. A tombstone carries no shard meta, so the current copy beside it speaks for it.
    fn stashed_version_of(&self, name: &str, stash: &crate::store::ObjectMeta) -> Version {
        if stash.version != Version::ZERO {
            return self.version_of(stash);
        }
        match self.version(name) {
            Some(WRONG_SHARD) => WRONG_SHARD,
            _ => Version::ZERO,
        }
    }

    /// Every object of `pg`'s key space, page by page, as `state` describes it (`None`:
    /// left out). A store error ends the listing early (an issue-tracked gap: peering then
    /// takes the rest for absent).
    fn list_all<T>(
        &self,
        pg: PgId,
        state: impl Fn(String, &crate::store::ObjectMeta) -> Option<T>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let Ok(page) = self.store.list(pg, after.as_deref(), 1024) else {
                return out;
            };
            let done = page.len() < 1024;
            after = page.last().map(|(n, _)| n.clone());
            out.extend(page.into_iter().filter_map(|(n, m)| state(n, &m)));
            if done {
                return out;
            }
        }
    }

    /// `meta`'s copy as a [`MovedShard`], if it is a shard other than this position's.
    fn moved_copy(
        &self,
        name: String,
        meta: &crate::store::ObjectMeta,
        rollback: bool,
    ) -> Option<MovedShard> {
        let have = crate::ec::ShardMeta::of(meta)?;
        (Some(have.shard) != self.shard).then_some(MovedShard {
            name,
            version: meta.version,
            shard: have.shard,
            rollback,
        })
    }
}

impl ObjectView for StoreView<'_> {
    fn stashed(&self) -> Vec<(String, Version)> {
        if self.shard.is_none() {
            return Vec::new();
        }
        let stash = crate::store::stash_pg(self.pg);
        self.list_all(stash, |n, m| {
            let v = self.stashed_version_of(&n, m);
            Some((n, v))
        })
    }

    fn stash_version(&self, name: &str) -> Option<Version> {
        self.shard?;
        let key = ObjectKey {
            pg: self.pg,
            name: name.to_string(),
        };
        let stash = self.store.stat(&key.stash()).ok().flatten()?;
        Some(self.stashed_version_of(name, &stash))
    }

    fn moved(&self) -> Vec<MovedShard> {
        if self.shard.is_none() {
            return Vec::new();
        }
        let mut out = self.list_all(self.pg, |n, m| self.moved_copy(n, m, false));
        let stash = crate::store::stash_pg(self.pg);
        out.extend(self.list_all(stash, |n, m| self.moved_copy(n, m, true)));
        out
    }

    fn version(&self, name: &str) -> Option<Version> {
        let key = ObjectKey {
            pg: self.pg,
            name: name.to_string(),
        };
        let meta = self.store.stat(&key).ok().flatten()?;
        Some(self.version_of(&meta))
    }

    fn versions(&self) -> Vec<(String, Version)> {
        self.list_all(self.pg, |n, m| Some((n, self.version_of(m))))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use placement::{PgId, PoolId};

    use super::*;
    use crate::ec::{SHARD_XATTR, ShardMeta};
    use crate::store::TxOp;
    use crate::store::tests::{TempDir, commit, open};
    use crate::testing::v;

    const PG: PgId = PgId {
        pool: PoolId(1),
        seed: 0,
    };

    /// Writes version `seq` of `name` as shard `shard`, keeping the previous state as its
    /// roll-back copy, as an erasure-coded sub-write does.
    fn write_shard(name: &str, shard: u8, seq: u64) -> Vec<TxOp> {
        let obj = ObjectKey {
            pg: PG,
            name: name.to_owned(),
        };
        let meta = ShardMeta {
            shard,
            size: 3,
            crc: 0,
            chunk_crcs: Vec::new(),
        };
        vec![
            TxOp::Stash { obj: obj.clone() },
            TxOp::WriteFull {
                obj: obj.clone(),
                data: Bytes::from_static(b"abc"),
                version: v(seq),
            },
            TxOp::SetXattr {
                obj,
                name: SHARD_XATTR.into(),
                value: meta.encode(),
                version: v(seq),
            },
        ]
    }

    #[tokio::test]
    async fn copies_of_another_shard_match_no_state_but_count_as_their_shard() {
        let dir = TempDir::new();
        let store = open(&dir);
        // "kept": written twice as shard 2 (a roll-back copy of version 1); "made": created
        // as shard 2 (a tombstone); "here": created as shard 0.
        let mut ops = write_shard("kept", 2, 1);
        ops.extend(write_shard("kept", 2, 2));
        ops.extend(write_shard("made", 2, 3));
        ops.extend(write_shard("here", 0, 4));
        commit(&store, ops).await;

        // This OSD holds position 2: shard 2's roll-back copies are what they say; the
        // tombstone beside a shard-0 copy is of the wrong shard too.
        let at = |shard| StoreView {
            store: &store,
            pg: PG,
            shard: Some(shard),
        };
        let mut stashed = at(2).stashed();
        stashed.sort();
        assert_eq!(
            stashed,
            vec![
                ("here".to_owned(), WRONG_SHARD),
                ("kept".to_owned(), v(1)),
                ("made".to_owned(), Version::ZERO),
            ]
        );
        // Moved to position 0: shard 2's copies, kept or tombstones, are the wrong shard;
        // the tombstone beside a shard-0 copy still says "absent before".
        let mut stashed = at(0).stashed();
        stashed.sort();
        assert_eq!(
            stashed,
            vec![
                ("here".to_owned(), Version::ZERO),
                ("kept".to_owned(), WRONG_SHARD),
                ("made".to_owned(), WRONG_SHARD),
            ]
        );
        assert_eq!(at(0).version("kept"), Some(WRONG_SHARD));
        assert_eq!(at(0).version("here"), Some(v(4)));
        // Peering still counts them as shards 2 of their versions (a tombstone is none).
        let moved = |name: &str, seq, rollback| MovedShard {
            name: name.to_owned(),
            version: v(seq),
            shard: 2,
            rollback,
        };
        let mut copies = at(0).moved();
        copies.sort();
        assert_eq!(
            copies,
            vec![
                moved("kept", 1, true),
                moved("kept", 2, false),
                moved("made", 3, false)
            ]
        );
        assert!(at(2).moved().iter().all(|c| c.name == "here"));
    }
}
