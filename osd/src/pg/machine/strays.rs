//! Stray copies: a PG's data left on an OSD that is no longer in its acting or up set (an
//! OSD marked out, a remap after a failure, a finished backfill). As Ceph's primary purges
//! its strays once the PG is clean, the holder asks the primary now and then; a primary that
//! is active+clean, with the asker outside its acting and up sets, tells it so, naming the
//! interval it is clean in and its map's epoch.
//!
//! Why that is safe: clean means every member of the current acting set (the pool's full
//! size, in CRUSH's places) holds every acknowledged write and recorded this interval as
//! `last_epoch_clean`, so no later peering probes intervals before it, and no stray copy can
//! hold a write that is not also on the acting set. The stray deletes only if its current
//! interval, from its start up to the stray's map epoch, overlaps the span the primary
//! vouches for (from the clean interval's start up to the primary's epoch). An OSD that
//! missed epochs (a full map, a crash between recording a map and feeding it to its PGs)
//! may date an interval's start later or earlier than others do, so two spans that overlap
//! may not be one interval everywhere; but a member takes part in an interval only after
//! processing its map (orders from an unknown epoch wait), so whatever the stray's span
//! covers beyond what it processed, it held nothing of. A holder whose map made it a member
//! again keeps its copy. A holder that a primary asked about its copy
//! from an epoch newer than its own map keeps it too: that primary may be counting on the
//! answer.

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
            || !self.copy_here
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

    /// The primary's answer to a stray: only while active+clean, and only to an OSD outside
    /// the acting and up sets.
    pub(super) fn on_stray_check(&self, from: OsdId, out: &mut Vec<Effect>) {
        let Some(m) = self.map.as_ref() else { return };
        if self.is_primary()
            && self.is_clean()
            && !m.acting.contains(&from)
            && !m.up.contains(&from)
        {
            let (interval, epoch) = (self.interval, m.epoch);
            out.push(self.send(from, PgMsg::StrayRemove { interval, epoch }));
        }
    }

    /// Asks the shell to delete this stray copy if the primary vouches for the epoch our map
    /// is at (see the module's comment). The shell carries it out, or not (one deletion at
    /// a time per OSD), and then calls [`PgMachine::forget_copy`].
    pub(super) fn on_stray_remove(
        &mut self,
        from: OsdId,
        clean_since: Epoch,
        vouched_to: Epoch,
        out: &mut Vec<Effect>,
    ) {
        let Some(m) = self.map.as_ref() else { return };
        let ours = m.epoch;
        // Our current interval, as far as we know it, overlaps the span the primary knows
        // clean: intervals do not overlap, so it is that interval, however either of us
        // dates its start.
        let same_interval = clean_since <= ours && self.interval <= vouched_to;
        if !self.is_stray_here()
            || !self.copy_here
            || m.primary() != Some(from)
            || !same_interval
            || self.asked_up_to > ours
        {
            return;
        }
        out.push(Effect::RemoveStray(Txn {
            ops: vec![TxOp::RemovePg { pg: self.pg }],
        }));
    }

    /// The shell deleted this PG's copy here ([`Effect::RemoveStray`]): the machine goes on
    /// as on an OSD that never held it, keeping only the interval history.
    pub fn forget_copy(&mut self) {
        tracing::info!(pg = %self.pg, interval = %self.interval, "stray copy deleted: the pg is clean elsewhere");
        self.info = PgInfo::default();
        self.log = PgLog::from_parts(
            Version::default(),
            Vec::new(),
            Vec::new(),
            self.log.limits(),
        );
        self.pending.clear();
        self.copy_here = false;
    }
}
