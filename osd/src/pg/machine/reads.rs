//! Reads: the gate a read must pass (the primary's lease, its state), the wait for older
//! leases after activation, and the lease requests reads trigger. Split from the machine for
//! size; the rules are in [`crate::pg::lease`].

use std::time::Duration;

use super::PgMachine;
use crate::pg::lease::ReadGate;
use crate::pg::types::{Effect, PgMsg, PgState};

impl PgMachine {
    /// Whether a read may be served, and until when: only by the primary of an active
    /// interval whose every replica granted it a lease, and never once a newer primary has
    /// asked for this PG's history. Below min_size nothing is served (as in Ceph): such a
    /// primary has not peered, so it cannot know its copy is current. The caller also keeps
    /// reads off objects with a write in flight.
    pub fn read_gate(&self) -> ReadGate {
        let Some(p) = self.primary.as_ref() else {
            return ReadGate::CLOSED;
        };
        if self.state != PgState::Active || !self.grants.may_grant(self.attempt) {
            return ReadGate::CLOSED;
        }
        ReadGate {
            serving: true,
            readable_until: p
                .lease
                .as_ref()
                .and_then(|l| l.readable_until(&self.lease_config, self.now)),
        }
    }

    /// Whether a write to `name` is in flight (ordered, not yet committed by every member).
    pub fn writing(&self, name: &str) -> bool {
        self.primary.as_ref().is_some_and(|p| {
            p.inflight
                .values()
                .any(|w| matches!(&w.msg, PgMsg::SubWrite { entry, .. } if entry.object == name))
        })
    }

    /// When the machine next wants an event even if nothing arrives (`handle` with any
    /// event, `Tick` will do): the end of the wait for older leases.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match (&self.primary, self.state) {
            (Some(p), PgState::Waiting) => Some(p.prior.until()),
            _ => None,
        }
    }

    /// Ends the wait for older leases once they have run out.
    pub(super) fn end_wait(&mut self) {
        if self.state == PgState::Waiting
            && self
                .primary
                .as_ref()
                .is_some_and(|p| self.now >= p.prior.until())
        {
            self.state = PgState::Active;
        }
    }

    /// Asks the replicas to (re)grant the read lease if reads want it and it runs out.
    pub(super) fn request_lease(&mut self, out: &mut Vec<Effect>) {
        let (now, config, interval) = (self.now, self.lease_config, self.attempt);
        let Some(lease) = self.primary.as_mut().and_then(|p| p.lease.as_mut()) else {
            return;
        };
        if !lease.should_request(&config, now) {
            return;
        }
        lease.requested(now);
        for to in lease.members() {
            out.push(Effect::Send {
                to: *to,
                msg: PgMsg::Lease {
                    interval,
                    sent_at: now,
                },
            });
        }
    }
}
