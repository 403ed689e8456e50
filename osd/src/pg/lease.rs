//! Read leases, as Ceph's `readable_until`: a primary serves reads only while every replica
//! of its interval has promised, recently, not to help a newer primary start writing. A
//! paused or partitioned primary therefore stops serving on its own, and a new primary waits
//! until every lease an older interval's primary may still hold has run out before it accepts
//! I/O. Pure: time is a `Duration` since an arbitrary origin of the caller's monotonic clock.
//!
//! **Clock assumption**: each OSD's monotonic clock runs at a rate within
//! [`LeaseConfig::drift_percent`] of every other's; clocks need not agree on the time. No
//! lease value ever crosses machines as a point in time: a primary measures its lease from
//! when *it* sent the request (`sent_at`, its clock), a replica bounds it from when *it*
//! received the request (its clock, later in real time), and a member tells a new primary how
//! much of its bound is *left*, which the new primary adds to its own clock on receipt
//! (later still). Every conversion errs towards waiting longer.
//!
//! A member that answers a new primary's question is fenced by it: from then on it serves no
//! read in an older interval. So the new primary waits only for leases held by members that
//! did not answer (down, paused, partitioned) and for grants a restarted member cannot
//! remember; when the old primary is alive and answers (an OSD coming back, a planned
//! remap) nobody waits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use placement::{Epoch, OsdId};

/// How long leases last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// What a replica's promise is worth to the primary, from the request's send time.
    pub duration: Duration,
    /// Largest difference in clock rate between two OSDs, in percent; bounds are stretched
    /// by it.
    pub drift_percent: u32,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            duration: Duration::from_secs(2),
            drift_percent: 5,
        }
    }
}

impl LeaseConfig {
    /// `d` stretched by the clock-rate bound.
    pub fn stretch(&self, d: Duration) -> Duration {
        d + d * self.drift_percent / 100
    }

    /// How long after receiving a request a replica must assume the primary may read.
    pub fn upper_bound(&self) -> Duration {
        self.stretch(self.duration)
    }

    /// A primary renews once less than this is left of its lease (if reads want it).
    pub fn renew_below(&self) -> Duration {
        self.duration / 2
    }

    /// An unanswered request is sent again after this long.
    pub fn resend_after(&self) -> Duration {
        self.duration / 4
    }
}

/// The primary's side of one interval's lease: which replicas must grant it and the newest
/// request each one answered.
#[derive(Clone, Debug, Default)]
pub struct PrimaryLease {
    /// Replicas whose grant the lease needs (the acting set without us).
    members: BTreeSet<OsdId>,
    /// Per replica, the send time of the newest request it acknowledged.
    acked: BTreeMap<OsdId, Duration>,
    /// When the newest request went out.
    requested_at: Option<Duration>,
    /// When reads last wanted the lease (renewals stop once nobody reads).
    wanted_at: Option<Duration>,
}

impl PrimaryLease {
    /// A lease to be granted by `members`.
    pub fn new(members: impl IntoIterator<Item = OsdId>) -> PrimaryLease {
        PrimaryLease {
            members: members.into_iter().collect(),
            ..PrimaryLease::default()
        }
    }

    /// Until when we may serve reads (our clock), or `None` if some replica has not granted
    /// a lease yet. A primary without replicas (size 1, or the only member left) is its own
    /// grantor: `now + duration`, re-evaluated at every call.
    pub fn readable_until(&self, config: &LeaseConfig, now: Duration) -> Option<Duration> {
        if self.members.is_empty() {
            return Some(now + config.duration);
        }
        self.members
            .iter()
            .map(|m| self.acked.get(m).copied())
            .min()
            .flatten()
            .map(|sent| sent + config.duration)
    }

    /// Records that reads want the lease at `now`.
    pub fn want(&mut self, now: Duration) {
        self.wanted_at = Some(now);
    }

    /// Whether to send a request now: reads wanted the lease within its duration, less than
    /// [`LeaseConfig::renew_below`] of it is left, and no request is pending (one is resent
    /// after [`LeaseConfig::resend_after`]).
    pub fn should_request(&self, config: &LeaseConfig, now: Duration) -> bool {
        if self.members.is_empty() {
            return false;
        }
        let wanted = self
            .wanted_at
            .is_some_and(|w| now.saturating_sub(w) < config.duration);
        let left = self
            .readable_until(config, now)
            .map_or(Duration::ZERO, |u| u.saturating_sub(now));
        let pending = self
            .requested_at
            .is_some_and(|r| now.saturating_sub(r) < config.resend_after());
        let answered_since = self.requested_at.is_some_and(|r| {
            self.members
                .iter()
                .all(|m| self.acked.get(m).is_some_and(|a| *a >= r))
        });
        wanted && left < config.renew_below() && (!pending || answered_since)
    }

    /// Records a request sent at `now` (the members are the message's recipients).
    pub fn requested(&mut self, now: Duration) {
        self.requested_at = Some(now);
    }

    /// The members a request goes to.
    pub fn members(&self) -> &BTreeSet<OsdId> {
        &self.members
    }

    /// `from` granted the request sent at `sent_at`.
    pub fn granted(&mut self, from: OsdId, sent_at: Duration) {
        if self.members.contains(&from) {
            let a = self.acked.entry(from).or_default();
            *a = (*a).max(sent_at);
        }
    }
}

/// A member's side: the leases it granted (to any primary, in any interval) that may still
/// be in force, and the newest interval that asked it to stop granting older ones.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    /// Per grantee, until when (our clock) it may be reading under our promise.
    until: BTreeMap<OsdId, Duration>,
    /// Grants this process cannot remember: a restarted OSD may have granted leases just
    /// before it died, so it assumes one running to its start plus a lease.
    forgotten_until: Duration,
    /// Leases stamped with an interval older than this are refused: a newer primary has
    /// asked for our history, and everything we promised is in our answer.
    fence: Epoch,
}

impl Grants {
    /// Grants of a process that started at `started` (our clock).
    pub fn new(config: &LeaseConfig, started: Duration) -> Grants {
        Grants {
            forgotten_until: started + config.upper_bound(),
            ..Grants::default()
        }
    }

    /// Whether a lease request stamped `interval` may be granted.
    pub fn may_grant(&self, interval: Epoch) -> bool {
        interval >= self.fence
    }

    /// Grants `to` a lease requested at our `now`; returns false (nothing granted) if a
    /// newer primary fenced `interval` off.
    pub fn grant(
        &mut self,
        config: &LeaseConfig,
        to: OsdId,
        interval: Epoch,
        now: Duration,
    ) -> bool {
        if !self.may_grant(interval) {
            return false;
        }
        let u = self.until.entry(to).or_default();
        *u = (*u).max(now + config.upper_bound());
        true
    }

    /// A primary of the interval starting at `interval` asked for our history: refuse
    /// leases of older intervals from now on.
    pub fn fence(&mut self, interval: Epoch) {
        self.fence = self.fence.max(interval);
    }

    /// The leases we granted to anyone but `asker` that may still be in force at `now`, per
    /// grantee, and those this process cannot remember. Expired grants are forgotten.
    pub fn left_for(&mut self, asker: OsdId, now: Duration) -> LeasesLeft {
        self.until.retain(|_, u| *u > now);
        LeasesLeft {
            granted: self
                .until
                .iter()
                .filter(|(to, _)| **to != asker)
                .map(|(to, u)| (*to, *u - now))
                .collect(),
            forgotten: (self.forgotten_until > now).then(|| self.forgotten_until - now),
            fenced: false,
        }
    }
}

/// A member's answer to a new primary about read leases: how much of each may be left, from
/// when it answered (the new primary adds it to its own clock on receipt).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeasesLeft {
    /// Per holder: leases this member granted, and its own lease as a primary if it may
    /// still serve under it (the asker is left out).
    pub granted: Vec<(OsdId, Duration)>,
    /// Leases granted before this process started, to anyone.
    pub forgotten: Option<Duration>,
    /// The question fenced this member: it serves no read in any interval older than the
    /// asker's from now on, so leases granted *to it* are moot (Ceph waits only for prior
    /// members that are down, for the same reason).
    pub fenced: bool,
}

/// What a new primary learned of older leases while peering: per holder, the latest time
/// (its clock) until which each may be in force, and which holders its question fenced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorLeases {
    holders: BTreeMap<OsdId, Duration>,
    forgotten: Duration,
    fenced: BTreeSet<OsdId>,
}

impl PriorLeases {
    /// Adds `from`'s answer received at `now`.
    pub fn heard(&mut self, config: &LeaseConfig, from: OsdId, left: &LeasesLeft, now: Duration) {
        for (holder, l) in &left.granted {
            let u = self.holders.entry(*holder).or_default();
            *u = (*u).max(now + config.stretch(*l));
        }
        if let Some(l) = left.forgotten {
            self.forgotten = self.forgotten.max(now + config.stretch(l));
        }
        if left.fenced {
            self.fenced.insert(from);
        }
    }

    /// When every older lease whose holder may still serve has run out: a fenced holder's
    /// leases are moot, a forgotten one may be anyone's.
    pub fn until(&self) -> Duration {
        self.holders
            .iter()
            .filter(|(h, _)| !self.fenced.contains(h))
            .map(|(_, u)| *u)
            .chain([self.forgotten])
            .max()
            .unwrap_or_default()
    }
}

/// Whether a read may be served now, from what a PG's primary knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadGate {
    /// The PG serves reads in this interval (it is the primary, active or an erasure-coded
    /// PG reading below min_size, and no newer primary has asked for its history).
    pub serving: bool,
    /// Until when its lease lets it (the caller's clock); `None`: no lease yet.
    pub readable_until: Option<Duration>,
}

/// Why a read cannot be served now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadRefused {
    /// The PG is not serving (not the primary, peering, waiting for older leases).
    #[error("the pg is not serving reads")]
    NotServing,
    /// The PG serves, but holds no lease now (none yet, or it ran out): ask for one.
    #[error("the pg holds no read lease")]
    NoLease,
}

impl ReadGate {
    /// A gate that refuses everything.
    pub const CLOSED: ReadGate = ReadGate {
        serving: false,
        readable_until: None,
    };

    /// Whether a read arriving at `now` may be served.
    pub fn check(&self, now: Duration) -> Result<(), ReadRefused> {
        match self.readable_until {
            _ if !self.serving => Err(ReadRefused::NotServing),
            Some(u) if now < u => Ok(()),
            _ => Err(ReadRefused::NoLease),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: LeaseConfig = LeaseConfig {
        duration: Duration::from_secs(2),
        drift_percent: 5,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_lease_needs_every_replica_and_runs_from_the_request() {
        let mut l = PrimaryLease::new([OsdId(1), OsdId(2)]);
        assert_eq!(l.readable_until(&C, ms(0)), None);
        l.want(ms(0));
        assert!(l.should_request(&C, ms(0)));
        l.requested(ms(10));
        assert!(!l.should_request(&C, ms(20)), "one request at a time");
        l.granted(OsdId(1), ms(10));
        assert_eq!(l.readable_until(&C, ms(30)), None);
        l.granted(OsdId(2), ms(10));
        assert_eq!(l.readable_until(&C, ms(30)), Some(ms(2010)));
        // Renewed only past half-time, and only while reads want it.
        assert!(!l.should_request(&C, ms(900)));
        assert!(l.should_request(&C, ms(1100)));
        assert!(
            !l.should_request(&C, ms(2100)),
            "nobody read for a whole lease"
        );
        // A stranger's grant counts for nothing.
        l.granted(OsdId(9), ms(5000));
        assert_eq!(l.readable_until(&C, ms(30)), Some(ms(2010)));
    }

    #[test]
    fn a_lone_primary_grants_itself() {
        let l = PrimaryLease::new([]);
        assert_eq!(l.readable_until(&C, ms(7)), Some(ms(2007)));
        assert!(!l.should_request(&C, ms(7)));
    }

    fn left(granted: &[(u32, u64)], forgotten: Option<u64>, fenced: bool) -> LeasesLeft {
        LeasesLeft {
            granted: granted.iter().map(|(o, l)| (OsdId(*o), ms(*l))).collect(),
            forgotten: forgotten.map(ms),
            fenced,
        }
    }

    #[test]
    fn a_fenced_member_grants_nothing_older_and_reports_what_it_promised() {
        let mut g = Grants::new(&C, ms(0));
        assert!(g.grant(&C, OsdId(1), Epoch(5), ms(3000)));
        g.fence(Epoch(7));
        assert!(!g.grant(&C, OsdId(1), Epoch(5), ms(3500)), "fenced off");
        assert!(g.grant(&C, OsdId(3), Epoch(7), ms(3500)));
        // Asked by OSD 3: its own grant is left out, OSD 1's is reported.
        assert_eq!(
            g.left_for(OsdId(3), ms(4000)),
            left(&[(1, 1100)], None, false)
        );
        // Asked by OSD 1: OSD 3's grant is what remains.
        assert_eq!(
            g.left_for(OsdId(1), ms(4000)),
            left(&[(3, 1600)], None, false)
        );
        assert_eq!(g.left_for(OsdId(1), ms(9000)), LeasesLeft::default());
    }

    #[test]
    fn a_restarted_member_assumes_a_lease_from_its_start() {
        let mut g = Grants::new(&C, ms(1000));
        assert_eq!(g.left_for(OsdId(1), ms(1000)), left(&[], Some(2100), false));
        assert_eq!(g.left_for(OsdId(1), ms(3100)), LeasesLeft::default());
    }

    #[test]
    fn a_new_primary_waits_for_the_longest_lease_stretched() {
        let mut p = PriorLeases::default();
        p.heard(&C, OsdId(1), &left(&[(2, 1000)], None, false), ms(100));
        p.heard(&C, OsdId(2), &LeasesLeft::default(), ms(200));
        p.heard(&C, OsdId(3), &left(&[(2, 500)], None, false), ms(300));
        assert_eq!(p.until(), ms(1150));
    }

    #[test]
    fn leases_held_by_a_fenced_member_are_moot_and_forgotten_ones_are_not() {
        // OSD 2 held a lease as the older primary (granted by 1, and its own); it answered
        // the question, which fenced it.
        let mut p = PriorLeases::default();
        p.heard(&C, OsdId(1), &left(&[(2, 1500)], None, false), ms(100));
        assert_eq!(p.until(), ms(1675));
        p.heard(&C, OsdId(2), &left(&[], None, true), ms(200));
        assert_eq!(p.until(), Duration::ZERO);
        // A lease to a holder that did not answer (paused, down) still counts, and so do a
        // restarted member's forgotten grants.
        p.heard(&C, OsdId(3), &left(&[(4, 1000)], Some(400), true), ms(300));
        assert_eq!(p.until(), ms(1350));
    }

    #[test]
    fn the_gate_opens_only_within_the_lease() {
        let g = ReadGate {
            serving: true,
            readable_until: Some(ms(100)),
        };
        assert_eq!(g.check(ms(99)), Ok(()));
        assert_eq!(g.check(ms(100)), Err(ReadRefused::NoLease));
        let unleased = ReadGate {
            serving: true,
            readable_until: None,
        };
        assert_eq!(unleased.check(ms(0)), Err(ReadRefused::NoLease));
        let stale = ReadGate {
            serving: false,
            readable_until: Some(ms(100)),
        };
        assert_eq!(stale.check(ms(0)), Err(ReadRefused::NotServing));
        assert_eq!(ReadGate::CLOSED.check(ms(0)), Err(ReadRefused::NotServing));
    }
}
