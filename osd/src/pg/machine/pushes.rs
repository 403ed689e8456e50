//! A recovery copy arriving at a member (`PgMsg::Push`): installed, the log made to agree
//! with it, and acknowledged. Split from the machine for size; the same state, the same
//! rules.

use placement::OsdId;
use rados::proto::osd::Version;

use super::{PgMachine, Phase};
use crate::pg::types::{Effect, Mapping, ObjectCopy, ObjectView, PgMsg, WRONG_SHARD};
use crate::store::{TxOp, Txn};

impl PgMachine {
    pub(super) fn on_push(
        &mut self,
        name: String,
        copy: Option<ObjectCopy>,
        view: &dyn ObjectView,
        out: &mut Vec<Effect>,
    ) {
        let kept = copy.as_ref().map(|c| c.version);
        let erasure = self.map.as_ref().is_some_and(|m| m.ec.is_some());
        let mut ops = Vec::new();
        // Erasure-coded: a push that does not supersede our copy keeps it as the roll-back
        // copy (`keeps_replaced`).
        if erasure && keeps_replaced(view.version(&name), view.stash_version(&name), kept) {
            ops.push(TxOp::Stash {
                obj: self.key(&name),
            });
        }
        ops.push(ObjectCopy::into_op(copy, self.key(&name)));
        // Objects may now be newer than the log: until activation, peering must compare
        // listings with this member rather than trust its log.
        self.info.incomplete = true;
        // Erasure-coded: a copy older than our log's entries for the object undoes them
        // (a write fewer than k shards hold, rolled back). Drop them, so our log never
        // claims a write a later peering would count as decodable.
        if erasure {
            self.info.issued = self.info.issued.max(self.log.head());
            let undone = self.log.drop_undone(&name, kept);
            if !undone.is_empty() {
                self.info.last_update = self.log.head().max(self.log.tail());
                ops.push(TxOp::RemoveLog {
                    pg: self.pg,
                    versions: undone,
                });
            }
        }
        ops.push(self.meta_op());
        out.push(Effect::Persist(Txn { ops }));
        let primary = self.map.as_ref().and_then(Mapping::primary);
        if primary == Some(self.me) {
            self.push_done(self.me, &name);
            self.progress(view, out);
        } else if let Some(primary) = primary {
            out.push(self.send(
                primary,
                PgMsg::PushAck {
                    interval: self.attempt,
                    name,
                },
            ));
        }
    }

    pub(super) fn push_done(&mut self, member: OsdId, name: &str) {
        if let Some(Phase::Recover { outstanding, .. }) = self.phase_mut() {
            outstanding.remove(&(member, name.to_string()));
        }
    }
}

/// Erasure-coded: whether a recovery push that installs `kept` (`None`: absence) keeps the
/// copy it replaces (`now`, as the member's view reports it) as the object's roll-back
/// copy, in place of the one there (`stash`). A push that rolls our shard back, or gives
/// us our position's shard where we kept another position's (we moved), would otherwise
/// destroy a shard: the peering that ordered it may never activate, and a later one may
/// need that shard to count k of a write and rebuild it. One slot per object: a roll-back
/// copy of our own shard newer than `kept` stays (it is the state before our newest
/// write, the likelier to have been acknowledged).
fn keeps_replaced(now: Option<Version>, stash: Option<Version>, kept: Option<Version>) -> bool {
    let Some(now) = now else {
        return false;
    };
    if now != WRONG_SHARD && Some(now) <= kept {
        return false;
    }
    let ours_newer = |s: Version| s != WRONG_SHARD && s != Version::ZERO && Some(s) > kept;
    !stash.is_some_and(ours_newer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::v;

    #[test]
    fn a_push_keeps_the_shard_it_replaces_unless_it_supersedes_it() {
        // Rolled back (to an older version, or to absence): ours is kept.
        assert!(keeps_replaced(Some(v(3)), None, Some(v(2))));
        assert!(keeps_replaced(Some(v(3)), Some(Version::ZERO), None));
        // Our copy was another position's shard (we moved): kept, whatever the version.
        assert!(keeps_replaced(
            Some(WRONG_SHARD),
            Some(WRONG_SHARD),
            Some(v(3))
        ));
        // Brought forward, or nothing to keep: nothing kept.
        assert!(!keeps_replaced(Some(v(2)), None, Some(v(3))));
        assert!(!keeps_replaced(Some(v(3)), None, Some(v(3))));
        assert!(!keeps_replaced(None, None, Some(v(3))));
        // The slot keeps our own shard of a state newer than the one installed: it stays.
        assert!(!keeps_replaced(Some(v(3)), Some(v(2)), Some(v(1))));
        // ... but not one the push installs anyway.
        assert!(keeps_replaced(Some(v(3)), Some(v(2)), Some(v(2))));
    }
}
