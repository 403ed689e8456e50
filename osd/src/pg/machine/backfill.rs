//! Backfill behind a pg_temp, the machine's side: a new member of the up set stores the
//! copies it is sent, and, erasure-coded, also applies the writes of the position it takes
//! meanwhile; the primary sends those writes, stops waiting for targets a map removes, and
//! calls the PG clean once its acting set is its whole up set.
//! Split from the machine for size; the same state, the same rules.

use std::collections::BTreeSet;

use placement::{Epoch, OsdId};

use super::PgMachine;
use crate::pg::log::LogEntry;
use crate::pg::types::{Effect, Mapping, Mutation, ObjectCopy, ObjectView, PgMsg, PgState};
use crate::store::Txn;

impl PgMachine {
    /// A copy from the primary serving behind a pg_temp, to this new member of the up set.
    /// Stored like a recovery copy: the PG is then `incomplete` here, so the peering that
    /// follows the pg_temp compares listings with this member instead of trusting its log.
    pub(super) fn on_backfill(
        &mut self,
        from: OsdId,
        interval: Epoch,
        name: String,
        copy: ObjectCopy,
        view: &dyn ObjectView,
        out: &mut Vec<Effect>,
    ) {
        let Some(m) = &self.map else { return };
        let target = m.up.contains(&self.me) && !m.acting.contains(&self.me);
        // The sender's interval is not compared with ours: a new OSD dates the interval
        // from the first map it saw, later than the primary does. A stray copy is harmless
        // anyway: it only makes this member compare by listing.
        let _ = interval;
        // Erasure-coded copies come from the old holder of our position (an acting member).
        let sender = m.primary() == Some(from) || (m.ec.is_some() && m.acting.contains(&from));
        if !target || !sender {
            return;
        }
        // A write forwarded to us meanwhile may be newer than this copy (erasure-coded
        // targets get writes during backfill): keep the newer. Still acknowledged.
        if view.version(&name).is_some_and(|v| v >= copy.version) {
            out.push(Effect::Backfilled { name });
            return;
        }
        self.info.incomplete = true;
        let op = ObjectCopy::into_op(Some(copy), self.key(&name));
        out.push(Effect::Persist(Txn {
            ops: vec![op, self.meta_op()],
        }));
        out.push(Effect::Backfilled { name });
    }

    /// Erasure-coded, under a pg_temp: whether we are the CRUSH member of a shard position
    /// its old holder still serves (being backfilled from it). Such a member also applies
    /// the position's writes, so the final peering finds every acknowledged write on k
    /// acting members even when several positions moved at once.
    pub(super) fn is_backfill_target(&self) -> bool {
        self.backfill_targets().contains(&self.me)
    }

    /// A write as a backfill target applies it: the object only (our log describes nothing
    /// yet: we are `incomplete`, compared by listing at the next peering), and only if it
    /// is newer than what we hold (a backfill copy may bring it, or an older state, in any
    /// order). The acknowledgement echoes the primary's stamp.
    pub(super) fn on_backfill_write(
        &mut self,
        from: OsdId,
        interval: Epoch,
        entry: LogEntry,
        mutations: Vec<Mutation>,
        view: &dyn ObjectView,
        out: &mut Vec<Effect>,
    ) {
        if self.map.as_ref().and_then(Mapping::primary) != Some(from) {
            return;
        }
        let version = entry.version;
        if view
            .version(&entry.object)
            .is_none_or(|held| held < version)
        {
            self.info.incomplete = true;
            let mut ops = self.object_ops(&entry, mutations);
            ops.push(self.meta_op());
            out.push(Effect::Persist(Txn { ops }));
        }
        out.push(self.send(from, PgMsg::SubWriteAck { interval, version }));
    }

    /// Writes in flight stop waiting for backfill targets the new map no longer has (down,
    /// or the position moved again); those all acting members applied are answered.
    pub(super) fn forget_departed_targets(&mut self, out: &mut Vec<Effect>) {
        let Some(m) = &self.map else { return };
        let keep: BTreeSet<OsdId> = m
            .acting
            .iter()
            .copied()
            .chain(self.backfill_targets())
            .collect();
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        let mut done = Vec::new();
        for (version, w) in p.inflight.iter_mut() {
            w.waiting.retain(|o| keep.contains(o));
            if w.waiting.is_empty() {
                done.push(*version);
            }
        }
        for version in done {
            let w = p.inflight.remove(&version).expect("present");
            out.push(Effect::Reply {
                reqid: w.reqid,
                result: Ok(version),
            });
        }
    }

    /// Erasure-coded, under a pg_temp: the CRUSH members of positions their old holders
    /// still serve (see `is_backfill_target`); they get every write too.
    pub(super) fn backfill_targets(&self) -> Vec<OsdId> {
        let Some(m) = &self.map else {
            return Vec::new();
        };
        let Some(ec) = &m.ec else { return Vec::new() };
        ec.backfill_targets().map(|(t, _)| t).collect()
    }

    /// An active primary whose acting set came to be its whole up set without a new
    /// interval (a pg_temp cleared that named the up set, or an up set that moved to what
    /// the pg_temp kept): every acting member was recovered before activation and got every
    /// write since, and no backfill target is left, so the PG is clean now. Without this it
    /// would report `active` (and keep strays) until the next interval, which may never
    /// come. Members learn it from a repeated activation that says so.
    pub(super) fn clean_without_new_interval(&mut self, out: &mut Vec<Effect>) {
        let Some(m) = &self.map else { return };
        let whole = m.acting.len() == m.size && m.acting == m.up;
        if self.clean || !whole || self.state != PgState::Active || !self.is_primary() {
            return;
        }
        if !self.backfill_targets().is_empty() {
            return;
        }
        self.clean = true;
        self.info.last_epoch_clean = self.interval;
        out.push(self.persist_meta());
        for to in self.replicas() {
            out.push(self.send(to, self.activate_msg(true)));
        }
    }
}
