//! The store as a PG machine reads it ([`ObjectView`]).

use placement::PgId;
use rados::proto::osd::Version;

use crate::pg::ObjectView;
use crate::pg::types::WRONG_SHARD;
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
}

impl ObjectView for StoreView<'_> {
    fn stashed(&self) -> Vec<(String, Version)> {
        if self.shard.is_none() {
            return Vec::new();
        }
        let stash = crate::store::stash_pg(self.pg);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let Ok(page) = self.store.list(stash, after.as_deref(), 1024) else {
                return out;
            };
            let done = page.len() < 1024;
            after = page.last().map(|(n, _)| n.clone());
            out.extend(page.into_iter().map(|(n, m)| (n, m.version)));
            if done {
                return out;
            }
        }
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
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let Ok(page) = self.store.list(self.pg, after.as_deref(), 1024) else {
                return out;
            };
            let done = page.len() < 1024;
            after = page.last().map(|(n, _)| n.clone());
            out.extend(page.into_iter().map(|(n, m)| {
                let v = self.version_of(&m);
                (n, v)
            }));
            if done {
                return out;
            }
        }
    }
}
