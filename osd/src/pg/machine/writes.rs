//! The primary's client writes: ordering, logging, replicating, and the transaction that
//! applies one. Split from the machine for size; the same state, the same rules.

use std::collections::BTreeSet;

use placement::OsdId;
use rados::proto::osd::{ReqId, Version};
use serde_bytes::ByteBuf;

use super::{InFlight, PgMachine, encode};
use crate::pg::log::{LogEntry, LogOp};
use crate::pg::types::{Effect, Mutation, PgMsg, PgState, WriteError};
use crate::store::{TxOp, Txn};

impl PgMachine {
    pub(super) fn on_write(
        &mut self,
        reqid: ReqId,
        name: String,
        mutations: Vec<Mutation>,
        out: &mut Vec<Effect>,
    ) {
        let reply = |result| Effect::Reply { reqid, result };
        if !self.is_primary() {
            out.push(reply(Err(WriteError::NotPrimary)));
            return;
        }
        if self.state != PgState::Active {
            out.push(reply(Err(WriteError::NotActive(self.state))));
            return;
        }
        if let Some(version) = self.log.find_reqid(reqid) {
            let p = self.primary.as_ref().expect("primary");
            if !p.inflight.contains_key(&version) {
                out.push(reply(Ok(version)));
            }
            // Still in flight: the reply comes when every replica has it.
            return;
        }
        let m = self.map.as_ref().expect("map set");
        let prior = self.log.head();
        let version = Version {
            epoch: m.epoch,
            seq: prior.seq.max(self.info.issued.seq) + 1,
        };
        self.info.issued = version;
        let entry = LogEntry {
            version,
            object: name,
            op: if mutations.contains(&Mutation::Remove) {
                LogOp::Delete
            } else {
                LogOp::Modify
            },
            crc: mutations.iter().rev().find_map(|m| match m {
                Mutation::WriteFull(data) => Some(crc32c::crc32c(data)),
                _ => None,
            }),
            reqid: Some(reqid),
        };
        let replicas: BTreeSet<OsdId> = m
            .acting
            .iter()
            .copied()
            .chain(self.backfill_targets())
            .filter(|o| *o != self.me)
            .collect();
        let msg = PgMsg::SubWrite {
            interval: self.attempt,
            prior,
            entry: entry.clone(),
            mutations: mutations.clone(),
            all_applied: self.all_applied,
        };
        out.push(Effect::Persist(self.write_txn(entry, mutations)));
        if replicas.is_empty() {
            out.push(reply(Ok(version)));
            return;
        }
        for to in &replicas {
            out.push(self.send(*to, msg.clone()));
        }
        let p = self.primary.as_mut().expect("primary");
        p.inflight.insert(
            version,
            InFlight {
                reqid,
                waiting: replicas,
                msg,
                since: self.now,
            },
        );
    }

    /// The transaction applying one logged write: object changes and the log entry together
    /// (erasure-coded: after dropping the roll-back copies no longer needed).
    pub(super) fn write_txn(&mut self, entry: LogEntry, mutations: Vec<Mutation>) -> Txn {
        let version = entry.version;
        let mut ops = self.roll_forward();
        ops.extend(self.object_ops(&entry, mutations));
        ops.push(TxOp::AppendLog {
            pg: self.pg,
            version,
            entry: encode(&entry),
        });
        if let Some(tail) = self.log.append(entry) {
            self.info.log_tail = tail;
            ops.push(TxOp::TrimLog {
                pg: self.pg,
                through: tail,
            });
            ops.push(self.meta_op());
        }
        self.info.last_update = version;
        Txn { ops }
    }

    /// Primary, erasure-coded: after a write completed, the newest version through which
    /// every write completed (every acting member applied it).
    pub(super) fn note_all_applied(&mut self) {
        if self.map.as_ref().is_none_or(|m| m.ec.is_none()) {
            return;
        }
        let Some(p) = self.primary.as_ref() else {
            return;
        };
        let through = match p.inflight.keys().next() {
            None => Some(self.log.head()),
            Some(open) => self
                .log
                .entries()
                .rev()
                .map(|e| e.version)
                .find(|v| v < open),
        };
        if let Some(through) = through {
            self.all_applied = self.all_applied.max(through);
        }
    }

    /// Erasure-coded: drops the roll-back copies of the writes every member applied since
    /// the last call (like Ceph's roll-forward of its log entries), so a PG that stays
    /// active keeps them only for writes in flight and the last ones. A copy goes only if
    /// no newer write of its object follows: that one's roll-back copy is the slot's now.
    fn roll_forward(&mut self) -> Vec<TxOp> {
        let through = self.all_applied.min(self.log.head());
        let erasure = self.map.as_ref().is_some_and(|m| m.ec.is_some());
        if !erasure || through <= self.rolled_forward {
            return Vec::new();
        }
        let since = std::mem::replace(&mut self.rolled_forward, through);
        let newer: BTreeSet<&str> = self
            .log
            .entries()
            .rev()
            .take_while(|e| e.version > through)
            .map(|e| e.object.as_str())
            .collect();
        let done: BTreeSet<&str> = self
            .log
            .entries()
            .rev()
            .skip_while(|e| e.version > through)
            .take_while(|e| e.version > since)
            .map(|e| e.object.as_str())
            .filter(|name| !newer.contains(name))
            .collect();
        done.into_iter()
            .map(|name| TxOp::Remove {
                obj: self.key(name).stash(),
            })
            .collect()
    }

    /// What a write does to its object.
    pub(super) fn object_ops(&self, entry: &LogEntry, mutations: Vec<Mutation>) -> Vec<TxOp> {
        let obj = self.key(&entry.object);
        let version = entry.version;
        // Erasure-coded: keep the shard's previous state until the PG is next clean, so a
        // write that fewer than k shards applied can be rolled back by decoding it.
        let erasure = self.map.as_ref().is_some_and(|m| m.ec.is_some());
        let stash = erasure.then(|| TxOp::Stash { obj: obj.clone() });
        stash
            .into_iter()
            .chain(mutations.into_iter().map(|m| {
                let obj = obj.clone();
                match m {
                    Mutation::WriteFull(data) => TxOp::WriteFull { obj, data, version },
                    Mutation::Remove => TxOp::Remove { obj },
                    Mutation::SetXattr(name, value) => TxOp::SetXattr {
                        obj,
                        name,
                        value: value.into_vec(),
                        version,
                    },
                    Mutation::RmXattr(name) => TxOp::RmXattr { obj, name, version },
                    Mutation::OmapSet(entries) => TxOp::OmapSet {
                        obj,
                        entries: entries
                            .into_iter()
                            .map(|(k, v)| (k.into_vec(), v.into_vec()))
                            .collect(),
                        version,
                    },
                    Mutation::OmapRm(keys) => TxOp::OmapRm {
                        obj,
                        keys: keys.into_iter().map(ByteBuf::into_vec).collect(),
                        version,
                    },
                }
            }))
            .collect()
    }
}
