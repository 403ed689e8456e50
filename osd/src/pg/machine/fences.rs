//! Which messages belong to the peering attempt a member is in: the stamps every answer,
//! order and copy carries, checked against the newest attempt seen and the newest question
//! answered (`asked_up_to`). Split from the machine for size; the same state, the same rules.

use placement::{Epoch, OsdId};

use super::PgMachine;
use crate::pg::types::{Mapping, PgMsg};

impl PgMachine {
    /// Whether a message belongs to the peering attempt we are in: answers to the primary
    /// must echo its current attempt; orders to a replica must come from its primary and be
    /// no older than the newest attempt it has seen (which then becomes current).
    pub(super) fn accepts(&mut self, from: OsdId, msg: &PgMsg) -> bool {
        let stamp = msg.interval();
        match msg {
            PgMsg::Notify { .. }
            | PgMsg::Versions { .. }
            | PgMsg::PushAck { .. }
            | PgMsg::ActivateAck { .. }
            | PgMsg::SubWriteAck { .. }
            | PgMsg::LeaseAck { .. } => self.is_primary() && stamp == self.attempt,
            // A copy reaches the primary only as the answer to its own PushTo, and not
            // once it answered a newer attempt's question (a primary that has not seen the
            // new map yet): that asker counts on our objects staying as we said.
            PgMsg::Push { .. } if self.is_primary() => {
                stamp == self.attempt && stamp >= self.asked_up_to
            }
            // Copies come from the authoritative member, on the primary's order. Not one
            // of an attempt older than a question we answered since (whoever asked, and
            // whatever our interval): that asker counts on our objects staying as we said.
            PgMsg::Push { .. } => {
                stamp >= self.asked_up_to && self.knows_epoch(stamp) && self.note_stamp(stamp)
            }
            // Orders come from our map's primary, and (like copies) not from an attempt
            // older than a question we answered since: a paused primary's sub-write
            // applied after a newer primary counted our objects would be acknowledged
            // to its client and then rolled back by that newer peering.
            _ => {
                self.map.as_ref().and_then(Mapping::primary) == Some(from)
                    && stamp >= self.asked_up_to
                    && self.knows_epoch(stamp)
                    && self.note_stamp(stamp)
            }
        }
    }

    /// Whether we have the map of epoch `stamp`. An order from a newer epoch waits (the
    /// primary resends it) until that map arrived here: acting on it first would let the
    /// map, arriving after, start a new interval under an activation the primary already
    /// counts.
    pub(super) fn knows_epoch(&self, stamp: Epoch) -> bool {
        self.map.as_ref().is_some_and(|m| stamp <= m.epoch)
    }

    /// Whether to leave a primary's question unanswered for now (it asks again): an
    /// erasure-coded member without the asker's map may hold another shard position in it,
    /// and would describe its objects as the shard of the position it knows, so a moved
    /// member's wrong shards would pass for right ones (simulation seed 132 with remaps).
    pub(super) fn defers_question(&self, stamp: Epoch) -> bool {
        self.map.as_ref().is_some_and(|m| m.ec.is_some()) && !self.knows_epoch(stamp)
    }

    /// Records a newer attempt of our primary (a question of it, answered whatever our
    /// map): older attempts' orders are ignored from now on, even before we have the map.
    pub(super) fn note_attempt(&mut self, from: OsdId, stamp: Epoch) {
        if self.map.as_ref().and_then(Mapping::primary) == Some(from) {
            self.note_stamp(stamp);
        }
    }

    /// A replica's check of a stamp: within the interval and no older than seen.
    fn note_stamp(&mut self, stamp: Epoch) -> bool {
        if self.is_primary() || stamp < self.interval || stamp < self.attempt {
            return false;
        }
        self.attempt = stamp;
        true
    }
}
