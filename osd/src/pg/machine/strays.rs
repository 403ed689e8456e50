//! Stray copies: a PG's data left on an OSD that is no longer in its acting or up set (an
//! OSD marked out, a remap after a failure, a finished backfill). As Ceph's primary purges
//! its strays once the PG is clean, the holder asks the primary now and then; a primary that
//! is active+clean in the same interval, with the asker outside its acting and up sets, tells
//! it to delete its copy.
//!
//! Why that is safe: clean means every member of the current acting set (the pool's full
//! size, in CRUSH's places) holds every acknowledged write and recorded this interval as
//! `last_epoch_clean`, so no later peering probes intervals before it, and no stray copy can
//! hold a write that is not also on the acting set. Both sides check the same interval, so
//! a primary with an old map never vouches for an interval it has not seen, and a holder
//! whose map made it a member again keeps its copy. A holder that a newer interval's
//! primary has already asked about its copy keeps it too: that primary may be counting on
//! the answer (its map may be ahead of ours).

use std::time::Duration;

use placement::{Epoch, OsdId};
use rados::proto::osd::Version;

use super::PgMachine;
use crate::pg::log::PgLog;
use crate::pg::types::{Effect, PgInfo, PgMsg, PgState};
use crate::store::{TxOp, Txn};

/// How often a stray asks the primary whether it may delete its copy.
pub const STRAY_CHECK_EVERY: Duration = Duration::from_secs(3);

impl PgMachine {
    /// Whether this OSD holds the PG only as a stray in its current map: not in the acting
    /// or up set (a backfill target is in the up set), with another OSD as primary.
    fn is_stray_here(&self) -> bool {
        let Some(m) = self.map.as_ref() else {
            return false;
        };
        self.state == PgState::Stray
            && !m.acting.contains(&self.me)
            && !m.up.contains(&self.me)
            && m.primary().is_some_and(|p| p != self.me)
    }

    /// On a tick: a stray asks the primary, at most once per [`STRAY_CHECK_EVERY`].
    pub(super) fn ask_about_stray(&mut self, out: &mut Vec<Effect>) {
        if !self.is_stray_here()
            || self
                .stray_asked
                .is_some_and(|at| self.now.saturating_sub(at) < STRAY_CHECK_EVERY)
        {
            return;
        }
        let primary = self.map.as_ref().and_then(|m| m.primary());
        if let Some(primary) = primary {
            self.stray_asked = Some(self.now);
            let interval = self.interval;
            out.push(self.send(primary, PgMsg::StrayCheck { interval }));
        }
    }

    /// The primary's answer to a stray: delete only while active+clean in the very interval
    /// the stray asks about, and only an OSD outside the acting and up sets.
    pub(super) fn on_stray_check(&self, from: OsdId, interval: Epoch, out: &mut Vec<Effect>) {
        let Some(m) = self.map.as_ref() else { return };
        if self.is_primary()
            && self.is_clean()
            && interval == self.interval
            && !m.acting.contains(&from)
            && !m.up.contains(&from)
        {
            out.push(self.send(from, PgMsg::StrayRemove { interval }));
        }
    }

    /// Deletes this stray copy if the primary of our current interval says so. The machine
    /// is left empty and is not used again (the shell ends the PG here; a later map or
    /// peer starts it afresh, as on a new OSD).
    pub(super) fn on_stray_remove(&mut self, from: OsdId, interval: Epoch, out: &mut Vec<Effect>) {
        let primary = self.map.as_ref().and_then(|m| m.primary());
        if !self.is_stray_here() || interval != self.interval || primary != Some(from) {
            return;
        }
        // A primary of a newer interval (whose map we lack yet) asked about our copy: it
        // may be relying on our answer, whatever the older interval's primary says.
        if self.asked_up_to > interval {
            return;
        }
        tracing::info!(pg = %self.pg, %interval, "stray copy deleted: the pg is clean elsewhere");
        self.info = PgInfo::default();
        self.log = PgLog::from_parts(
            Version::default(),
            Vec::new(),
            Vec::new(),
            self.log.limits(),
        );
        self.pending.clear();
        out.push(Effect::RemoveStray(Txn {
            ops: vec![TxOp::RemovePg { pg: self.pg }],
        }));
    }
}
