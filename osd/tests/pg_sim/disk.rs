//! A simulated OSD's disk: what survives a kill (objects, roll-back copies, log, PG meta),
//! the transactions the PG machine asks for applied to it, and the view its machine reads.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use osd::pg::types::WRONG_SHARD;
use osd::pg::{LeaseConfig, LogEntry, MovedShard, ObjectView, PgLog, PgMachine, PgMeta};
use osd::store::TxOp;
use placement::OsdId;
use rados::proto::osd::Version;

use super::{LIMITS, PG, shards};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Obj {
    pub version: Version,
    /// The object's data, or this member's shard of it.
    pub data: Bytes,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// What survives a kill: objects, log, PG meta.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub objects: BTreeMap<String, Obj>,
    /// Erasure-coded roll-back copies (`TxOp::Stash`).
    pub stash: BTreeMap<String, Obj>,
    pub log: BTreeMap<Version, Vec<u8>>,
    pub meta: Option<Vec<u8>>,
}

impl Disk {
    pub fn apply(&mut self, ops: Vec<TxOp>) {
        for op in ops {
            match op {
                TxOp::WriteFull { obj, data, version } => {
                    let o = self.objects.entry(obj.name).or_default();
                    (o.version, o.data) = (version, data);
                }
                TxOp::Remove { obj } if obj.pg.pool.0 & osd::store::STASH_POOL_BIT != 0 => {
                    self.stash.remove(&obj.name);
                }
                TxOp::Remove { obj } => {
                    self.objects.remove(&obj.name);
                }
                TxOp::PutObject {
                    obj,
                    version,
                    data,
                    xattrs,
                    ..
                } => {
                    let xattrs = xattrs.into_iter().map(|(k, v)| (k, v.into_vec())).collect();
                    let o = Obj {
                        version,
                        data,
                        xattrs,
                    };
                    self.objects.insert(obj.name, o);
                }
                TxOp::SetXattr {
                    obj,
                    version,
                    name,
                    value,
                } => {
                    let o = self.objects.entry(obj.name).or_default();
                    o.version = version;
                    o.xattrs.insert(name, value);
                }
                TxOp::RmXattr { obj, version, .. }
                | TxOp::OmapSet { obj, version, .. }
                | TxOp::OmapRm { obj, version, .. } => {
                    self.objects.entry(obj.name).or_default().version = version;
                }
                TxOp::AppendLog { version, entry, .. } => {
                    self.log.insert(version, entry);
                }
                TxOp::TrimLog { through, .. } => self.log.retain(|v, _| *v > through),
                TxOp::RemoveLog { versions, .. } => self.log.retain(|v, _| !versions.contains(v)),
                TxOp::ClearLog { .. } => self.log.clear(),
                TxOp::SetPgMeta { value, .. } => self.meta = Some(value),
                TxOp::Stash { obj } => match self.objects.get(&obj.name) {
                    Some(o) => {
                        self.stash.insert(obj.name, o.clone());
                    }
                    // A tombstone: absent before this write, as the store keeps it.
                    None => {
                        let tombstone = Obj {
                            version: Version::ZERO,
                            data: Bytes::new(),
                            xattrs: BTreeMap::new(),
                        };
                        self.stash.insert(obj.name, tombstone);
                    }
                },
                // Roll-back copies, or the whole PG (a stray copy, with its roll-back copies).
                TxOp::RemovePg { pg } => {
                    self.stash.clear();
                    if pg.pool.0 & osd::store::STASH_POOL_BIT == 0 {
                        *self = Disk::default();
                    }
                }
                TxOp::SetMeta { .. } => unreachable!("not used by PGs"),
            }
        }
    }

    pub fn load(&self, me: OsdId, now: Duration) -> PgMachine {
        let meta: PgMeta = self
            .meta
            .as_ref()
            .map(|m| rmp_serde::from_slice(m).expect("meta decodes"))
            .unwrap_or_default();
        let entries: Vec<LogEntry> = self
            .log
            .values()
            .map(|e| rmp_serde::from_slice(e).expect("entry decodes"))
            .collect();
        let log = PgLog::from_parts(meta.info.log_tail, entries, meta.dups.clone(), LIMITS);
        PgMachine::new(PG, me, meta, log, LeaseConfig::default(), now)
    }
}

/// A member's disk as its PG machine sees it: for an erasure-coded PG, a stored shard of
/// another position reports `WRONG_SHARD`, as the OSD's store view does.
pub struct View<'a> {
    pub disk: &'a Disk,
    pub shard: Option<u8>,
}

impl View<'_> {
    fn version_of(&self, o: &Obj) -> Version {
        match self.shard {
            Some(want) if shards::index(o) != Some(want) => WRONG_SHARD,
            _ => o.version,
        }
    }

    /// A roll-back copy's state, as the OSD's store view reports it: one of another shard,
    /// or a tombstone beside a current copy of another shard, is `WRONG_SHARD`.
    fn stashed_version_of(&self, name: &str, o: &Obj) -> Version {
        if o.version != Version::ZERO {
            self.version_of(o)
        } else if self.version(name) == Some(WRONG_SHARD) {
            WRONG_SHARD
        } else {
            Version::ZERO
        }
    }
}

impl ObjectView for View<'_> {
    fn stashed(&self) -> Vec<(String, Version)> {
        let stash = self.disk.stash.iter();
        stash
            .map(|(n, o)| (n.clone(), self.stashed_version_of(n, o)))
            .collect()
    }

    fn stash_version(&self, name: &str) -> Option<Version> {
        self.shard?;
        let o = self.disk.stash.get(name)?;
        Some(self.stashed_version_of(name, o))
    }

    fn moved(&self) -> Vec<MovedShard> {
        let Some(want) = self.shard else {
            return Vec::new();
        };
        let current = self.disk.objects.iter().map(|c| (c, false));
        let copies = current.chain(self.disk.stash.iter().map(|c| (c, true)));
        copies
            .filter_map(|((name, o), rollback)| {
                let shard = shards::index(o).filter(|s| *s != want)?;
                Some(MovedShard {
                    name: name.clone(),
                    version: o.version,
                    shard,
                    rollback,
                })
            })
            .collect()
    }

    fn version(&self, name: &str) -> Option<Version> {
        self.disk.objects.get(name).map(|o| self.version_of(o))
    }
    fn versions(&self) -> Vec<(String, Version)> {
        self.disk
            .objects
            .iter()
            .map(|(n, o)| (n.clone(), self.version_of(o)))
            .collect()
    }
}
