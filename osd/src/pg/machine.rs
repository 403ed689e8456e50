//! One PG on one OSD as a pure state machine: events in, effects out, no I/O. The same
//! machine runs in the daemon (driven by the messenger and the store) and in the seeded
//! simulation (driven by a fake network and an in-memory store).
//!
//! Roles follow the acting set of the current interval. The primary peers (gathers infos and
//! logs from everyone who may hold writes, picks the authoritative member, copies objects to
//! members that lack them), then activates every member and only then serves writes. Writes
//! are ordered by the primary, applied locally and on every replica, and acknowledged once
//! all of them committed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use placement::{Epoch, OsdId, PgId};
use rados::proto::osd::{ReqId, Version};

use super::intervals::PastIntervals;
use super::lease::{Grants, LeaseConfig, PrimaryLease, PriorLeases};
use super::log::{LogEntry, PgLog};
use super::types::{
    Effect, Event, Mapping, MovedShard, Mutation, ObjectView, PgInfo, PgMeta, PgMsg, PgState,
    WriteError,
};
use crate::store::{ObjectKey, TxOp, Txn};

mod backfill;
mod fences;
mod peering;
mod pushes;
mod reads;
mod stalls;
mod strays;
mod writes;

pub use stalls::SlowWrite;
pub use strays::STRAY_CHECK_EVERY;

/// Replica writes buffered while an earlier one is still on its way (bounded).
const MAX_PENDING_SUBWRITES: usize = 1024;

/// A PG on one OSD.
#[derive(Debug)]
pub struct PgMachine {
    pg: PgId,
    me: OsdId,
    info: PgInfo,
    intervals: PastIntervals,
    log: PgLog,
    map: Option<Mapping>,
    /// First epoch of the current interval (0 before the first map).
    interval: Epoch,
    /// The peering attempt messages are stamped with: the epoch at which the primary
    /// (re)started peering in this interval. A replica keeps the newest it has seen and
    /// ignores older ones, so a late message of an abandoned attempt changes nothing.
    attempt: Epoch,
    state: PgState,
    clean: bool,
    primary: Option<Primary>,
    /// Replica: activated in the current interval, so it applies writes.
    replica_active: bool,
    /// Replica: writes that arrived before the one they follow, keyed by `prior`.
    pending: BTreeMap<Version, (LogEntry, Vec<Mutation>)>,
    /// The time of the event being handled (the caller's monotonic clock).
    now: Duration,
    lease_config: LeaseConfig,
    /// Read leases this member granted, and the fence a newer primary set.
    grants: Grants,
    /// When this stray last asked the primary whether it may delete its copy.
    stray_asked: Option<Duration>,
    /// Whether the store may hold anything of this PG: false once a stray copy is deleted,
    /// until the machine persists something again.
    copy_here: bool,
    /// The newest stamp any primary asked about our copy with (`Query`, `GetVersions`): one
    /// newer than our map may be a newer interval's primary counting on what we told it.
    asked_up_to: Epoch,
    /// Epochs in which an earlier run of this OSD may have peered as this PG's primary:
    /// peering again in one of them would reuse its attempt stamp, so a late order of that
    /// run (a copy it asked for) would pass for one of ours. Peering waits for a newer map
    /// (the monitor publishes one for every boot).
    peer_floor: Epoch,
    /// Erasure-coded: every acting member applied the writes through this version (our
    /// acknowledgements as primary, or the primary's word in its sub-writes), so the
    /// roll-back copies they made are no longer needed.
    all_applied: Version,
    /// Erasure-coded: the roll-back copies of writes through this version are gone.
    rolled_forward: Version,
}

#[derive(Debug)]
struct Primary {
    phase: Phase,
    inflight: BTreeMap<Version, InFlight>,
    /// Older intervals' read leases this primary must wait out before serving.
    prior: PriorLeases,
    /// This interval's read lease, from activation on.
    lease: Option<PrimaryLease>,
}

impl Primary {
    fn new(phase: Phase) -> Primary {
        Primary {
            phase,
            inflight: BTreeMap::new(),
            prior: PriorLeases::default(),
            lease: None,
        }
    }
}

#[derive(Debug)]
struct InFlight {
    reqid: ReqId,
    waiting: BTreeSet<OsdId>,
    msg: PgMsg,
    /// When the primary ordered it.
    since: Duration,
}

#[derive(Debug)]
enum Phase {
    GetInfo {
        waiting: BTreeSet<OsdId>,
        infos: BTreeMap<OsdId, (PgInfo, PgLog)>,
    },
    GetVersions {
        auth: OsdId,
        auth_log: PgLog,
        auth_names: Option<Vec<String>>,
        auth_incomplete: bool,
        plans: BTreeMap<OsdId, Option<Vec<String>>>,
        waiting: BTreeSet<OsdId>,
        versions: BTreeMap<OsdId, BTreeMap<String, Version>>,
        /// Erasure-coded: each member's roll-back copies.
        stashed: BTreeMap<OsdId, BTreeMap<String, Version>>,
        /// Erasure-coded: each member's copies of other positions' shards.
        moved: BTreeMap<OsdId, Vec<MovedShard>>,
        /// Members whose objects are all their log says (not `incomplete`), with their log
        /// heads: only their lacking an object says it was absent, and only of a write
        /// their log reaches.
        complete: BTreeMap<OsdId, Version>,
    },
    Recover {
        auth: OsdId,
        auth_log: PgLog,
        outstanding: BTreeSet<(OsdId, String)>,
        /// Erasure-coded objects whose pushes carry a state other than the authority's
        /// copy: rolled back (see `ec_rollbacks`), or held by the authority only as
        /// another position's shard.
        rollbacks: BTreeMap<String, Option<Version>>,
    },
    Activate {
        waiting: BTreeSet<OsdId>,
    },
    Active,
    Idle,
}

impl PgMachine {
    /// A PG with the state it persisted (or the default, for a new one), in a process that
    /// started at `started` (the caller's monotonic clock, as every later `now`): leases it
    /// may have granted before it last stopped are assumed to run until `started` plus one.
    pub fn new(
        pg: PgId,
        me: OsdId,
        meta: PgMeta,
        log: PgLog,
        lease_config: LeaseConfig,
        started: Duration,
    ) -> PgMachine {
        let mut info = meta.info;
        // Writes append to the log without rewriting the info: the log is the truth.
        info.last_update = log.head();
        info.log_tail = log.tail();
        info.issued = info.issued.max(log.head());
        PgMachine {
            pg,
            me,
            info,
            intervals: meta.intervals,
            log,
            map: None,
            interval: Epoch(0),
            attempt: Epoch(0),
            state: PgState::Stray,
            clean: false,
            primary: None,
            replica_active: false,
            pending: BTreeMap::new(),
            now: started,
            lease_config,
            grants: Grants::new(&lease_config, started),
            stray_asked: None,
            copy_here: true,
            asked_up_to: Epoch(0),
            peer_floor: Epoch(0),
            all_applied: Version::ZERO,
            rolled_forward: Version::ZERO,
        }
    }

    /// Says this OSD started after an earlier run that may have seen epochs up to `floor`:
    /// as a primary, this machine peers only in a newer epoch (see `peer_floor`).
    pub fn restarted_after(mut self, floor: Epoch) -> PgMachine {
        self.peer_floor = floor;
        self
    }

    /// The PG.
    pub fn pg(&self) -> PgId {
        self.pg
    }

    /// Where it is.
    pub fn state(&self) -> PgState {
        self.state
    }

    /// Whether it is active with every member up to date and in place.
    pub fn is_clean(&self) -> bool {
        self.state == PgState::Active && self.clean
    }

    /// Writes ordered by this primary that some replica has not acknowledged yet.
    pub fn writes_in_flight(&self) -> usize {
        self.primary.as_ref().map_or(0, |p| p.inflight.len())
    }

    /// Its info.
    pub fn info(&self) -> &PgInfo {
        &self.info
    }

    /// Its log.
    pub fn log(&self) -> &PgLog {
        &self.log
    }

    /// The current interval's first epoch.
    pub fn interval(&self) -> Epoch {
        self.interval
    }

    /// The map it last saw.
    pub fn mapping(&self) -> Option<&Mapping> {
        self.map.as_ref()
    }

    /// Whether this OSD is the primary of the current interval.
    pub fn is_primary(&self) -> bool {
        self.map.as_ref().and_then(Mapping::primary) == Some(self.me)
    }

    /// Records an epoch the OSD saw before this PG machine existed (at start-up, or when a PG
    /// is newly mapped here), so its interval history is complete. No effects: the current
    /// epoch then arrives as [`Event::Map`].
    pub fn observe_history(&mut self, m: &Mapping) {
        self.observe_interval(m);
    }

    /// Feeds `m` to the interval history; whether it starts a new interval.
    fn observe_interval(&mut self, m: &Mapping) -> bool {
        self.intervals.observe(
            m.epoch,
            &m.acting,
            m.positions(),
            &m.up_from,
            m.primary(),
            m.min_size,
        )
    }

    /// Handles one event at `now` (the caller's monotonic clock, never going back); the
    /// effects must be carried out in order.
    pub fn handle(&mut self, event: Event, now: Duration, view: &dyn ObjectView) -> Vec<Effect> {
        let mut out = Vec::new();
        self.now = self.now.max(now);
        match event {
            Event::Map(m) => self.advance_map(m, view, &mut out),
            Event::Msg { from, msg } => self.on_msg(from, msg, view, &mut out),
            Event::Write {
                reqid,
                name,
                mutations,
            } => self.on_write(reqid, name, mutations, &mut out),
            Event::Tick => {
                self.resend(&mut out);
                self.ask_about_stray(&mut out);
            }
            Event::WantLease => {
                if let Some(lease) = self.primary.as_mut().and_then(|p| p.lease.as_mut()) {
                    lease.want(self.now);
                }
            }
            Event::Backfill {
                from,
                interval,
                name,
                copy,
            } => self.on_backfill(from, interval, name, copy, view, &mut out),
        }
        self.end_wait();
        self.request_lease(&mut out);
        self.copy_here |= out.iter().any(|e| matches!(e, Effect::Persist(_)));
        out
    }

    // ----- maps and intervals -----

    fn advance_map(&mut self, m: Mapping, view: &dyn ObjectView, out: &mut Vec<Effect>) {
        if self.map.as_ref().is_some_and(|old| m.epoch <= old.epoch) {
            return;
        }
        let new_interval = self.observe_interval(&m) || self.interval.0 == 0;
        let up_changed = self
            .map
            .as_ref()
            .is_some_and(|old| old.up_osds != m.up_osds);
        let held_back = self
            .map
            .as_ref()
            .is_some_and(|old| old.epoch <= self.peer_floor);
        self.map = Some(m);
        if new_interval {
            self.interval = self.intervals.current_start().unwrap_or_default();
            self.attempt = self.interval;
            self.start_interval(view, out);
            return;
        }
        self.forget_departed_targets(out);
        self.clean_without_new_interval(out);
        if (up_changed || held_back)
            && matches!(
                self.state,
                PgState::Peering | PgState::Recovering | PgState::Down
            )
        {
            // A peer we wait for may be gone, or a blocking one back, or the map we were
            // held back at (`peer_floor`) is past: peer again. Not once activation began:
            // members may already serve this interval's log.
            let m = self.map.as_ref().expect("map set");
            if self.is_primary() && m.acting.len() >= m.min_size {
                self.start_peering(view, out);
            }
        }
    }

    fn start_interval(&mut self, view: &dyn ObjectView, out: &mut Vec<Effect>) {
        if let Some(p) = self.primary.take() {
            for (_, w) in p.inflight {
                out.push(Effect::Reply {
                    reqid: w.reqid,
                    result: Err(WriteError::IntervalChanged),
                });
            }
        }
        self.replica_active = false;
        self.pending.clear();
        self.clean = false;
        let m = self.map.as_ref().expect("map set");
        let position = m.ec.as_ref().and_then(|ec| ec.position(self.me));
        if let Some(p) = position.map(|p| p as u8)
            && self.info.shard != Some(p)
        {
            // Moved to another shard position: everything held here is the wrong shard.
            // New to the PG: nothing is held yet. Either way this member's lacking an
            // object says nothing of the object's history until it is recovered.
            self.info.incomplete = true;
            self.info.shard = Some(p);
        }
        let m = self.map.as_ref().expect("map set");
        let member = m.acting.contains(&self.me) || m.up.contains(&self.me);
        // A deleted stray copy stays deleted: nothing is recorded for a PG this OSD neither
        // holds nor serves (a restart or a later map starts it afresh, as on a new OSD).
        if self.copy_here || member {
            out.push(self.persist_meta());
        }
        if self.is_primary() {
            if m.acting.len() < m.min_size {
                self.state = PgState::Undersized;
                self.primary = Some(Primary::new(Phase::Idle));
            } else {
                self.start_peering(view, out);
            }
        } else if m.acting.contains(&self.me) {
            self.state = PgState::Replica;
        } else {
            self.state = PgState::Stray;
        }
    }

    fn start_peering(&mut self, view: &dyn ObjectView, out: &mut Vec<Effect>) {
        let m = self.map.as_ref().expect("map set");
        if m.epoch <= self.peer_floor {
            self.state = PgState::Peering;
            self.primary = Some(Primary::new(Phase::Idle));
            return;
        }
        self.attempt = m.epoch;
        let prior =
            self.intervals
                .prior_set(&m.up_osds, self.info.last_epoch_clean, m.shards_needed());
        let mut probe: BTreeSet<OsdId> = prior.probe;
        probe.extend(m.acting.iter().chain(&m.up).copied());
        probe.retain(|o| m.up_osds.contains(o) && *o != self.me);
        let mut infos = BTreeMap::new();
        infos.insert(self.me, (self.info.clone(), self.log.clone()));
        // Leases this member granted to others (an older primary) must run out before we
        // serve; our own lease as an older primary is ours to ignore.
        let mut prior = PriorLeases::default();
        let (me, now, config) = (self.me, self.now, self.lease_config);
        prior.heard(&config, me, &self.grants.left_for(me, now), now);
        for to in &probe {
            out.push(self.send(
                *to,
                PgMsg::Query {
                    interval: self.attempt,
                },
            ));
        }
        self.state = PgState::Peering;
        let mut p = Primary::new(Phase::GetInfo {
            waiting: probe,
            infos,
        });
        p.prior = prior;
        self.primary = Some(p);
        self.progress(view, out);
    }

    // ----- messages -----

    fn on_msg(&mut self, from: OsdId, msg: PgMsg, view: &dyn ObjectView, out: &mut Vec<Effect>) {
        match msg {
            // Read-only questions are answered whatever our interval; the asker checks.
            // Erasure-coded members answer only once they have the asker's map.
            PgMsg::Query { interval } | PgMsg::GetVersions { interval, .. }
                if self.defers_question(interval) => {}
            PgMsg::Query { interval } => {
                self.note_attempt(from, interval);
                self.asked_up_to = self.asked_up_to.max(interval);
                // Whatever we promised is in this answer: promise older intervals no more.
                let own = self.read_gate().readable_until;
                if from != self.me {
                    self.grants.fence(interval);
                }
                let now = self.now;
                let mut leases = self.grants.left_for(from, now);
                // From now on we serve no read in an interval older than the asker's (the
                // gate checks the fence), unless we are a newer interval's primary.
                leases.fenced = self.primary.is_none() || !self.grants.may_grant(self.attempt);
                if !leases.fenced
                    && let Some(u) = own.filter(|u| *u > now)
                {
                    leases.granted.push((self.me, u - now));
                }
                out.push(self.send(
                    from,
                    PgMsg::Notify {
                        interval,
                        info: self.info.clone(),
                        log: self.log.entries().cloned().collect(),
                        dups: self.log.dups().copied().collect(),
                        leases,
                    },
                ))
            }
            PgMsg::GetVersions { interval, names } => {
                self.note_attempt(from, interval);
                self.asked_up_to = self.asked_up_to.max(interval);
                let versions = match names {
                    None => view.versions(),
                    Some(names) => names
                        .into_iter()
                        .filter_map(|n| view.version(&n).map(|v| (n, v)))
                        .collect(),
                };
                let msg = PgMsg::Versions {
                    interval,
                    versions,
                    stashed: view.stashed(),
                    moved: view.moved(),
                };
                out.push(self.send(from, msg));
            }
            PgMsg::PushTo {
                interval,
                name,
                to,
                rollback,
            } => out.push(Effect::Push {
                to,
                name,
                interval,
                rollback,
                also_from: self.holders_elsewhere(),
            }),
            // Answered and checked on both sides against the current interval.
            PgMsg::StrayCheck { .. } => self.on_stray_check(from, out),
            PgMsg::StrayRemove { interval, epoch } => {
                self.on_stray_remove(from, interval, epoch, out)
            }
            // Not checked against our attempt: a new member dates the interval from the
            // first map it saw, later than the primary does. The version order guards it.
            PgMsg::SubWrite {
                interval,
                entry,
                mutations,
                ..
            } if self.is_backfill_target() => {
                self.on_backfill_write(from, interval, entry, mutations, view, out)
            }
            _ if !self.accepts(from, &msg) => {}
            PgMsg::Notify {
                info,
                log,
                dups,
                leases,
                ..
            } => {
                let log = PgLog::from_parts(info.log_tail, log, dups, self.log.limits());
                let (now, config) = (self.now, self.lease_config);
                if let Some(p) = self.primary.as_mut()
                    && let Phase::GetInfo { waiting, infos } = &mut p.phase
                    && waiting.remove(&from)
                {
                    infos.insert(from, (info, log));
                    p.prior.heard(&config, from, &leases, now);
                }
                self.progress(view, out);
            }
            PgMsg::Versions {
                versions,
                stashed,
                moved,
                ..
            } => {
                if let Some(Phase::GetVersions {
                    waiting,
                    versions: got,
                    stashed: got_stashed,
                    moved: got_moved,
                    ..
                }) = self.phase_mut()
                    && waiting.remove(&from)
                {
                    got.insert(from, versions.into_iter().collect());
                    got_stashed.insert(from, stashed.into_iter().collect());
                    got_moved.insert(from, moved);
                }
                self.progress(view, out);
            }
            PgMsg::Push { name, copy, .. } => {
                // Only recovery installs copies: a late duplicate must not undo newer writes.
                let recovering = match &self.primary {
                    Some(p) => matches!(p.phase, Phase::Recover { .. }),
                    None => self.state == PgState::Replica && !self.replica_active,
                };
                if recovering {
                    self.on_push(name, copy, view, out);
                }
            }
            PgMsg::PushAck { name, .. } => {
                self.push_done(from, &name);
                self.progress(view, out);
            }
            PgMsg::Activate {
                tail,
                log,
                dups,
                clean,
                ..
            } => {
                let Some(m) = self.map.as_ref() else { return };
                if m.primary() != Some(from) || !m.acting.contains(&self.me) {
                    return;
                }
                if !self.replica_active {
                    self.adopt(
                        PgLog::from_parts(tail, log, dups, self.log.limits()),
                        clean,
                        out,
                    );
                    self.replica_active = true;
                    self.state = PgState::Replica;
                } else if clean && self.info.last_epoch_clean < self.interval {
                    // The primary found the PG clean after activating it (see
                    // `clean_without_new_interval`).
                    self.info.last_epoch_clean = self.interval;
                    out.push(self.persist_meta());
                }
                out.push(self.send(
                    from,
                    PgMsg::ActivateAck {
                        interval: self.attempt,
                    },
                ));
            }
            PgMsg::ActivateAck { .. } => {
                if let Some(Phase::Activate { waiting }) = self.phase_mut() {
                    waiting.remove(&from);
                }
                self.progress(view, out);
            }
            PgMsg::SubWrite {
                prior,
                entry,
                mutations,
                all_applied,
                ..
            } => {
                self.all_applied = self.all_applied.max(all_applied);
                self.on_subwrite(from, prior, entry, mutations, out)
            }
            PgMsg::Lease { interval, sent_at } => {
                // `accepts` checked it comes from our primary in our newest attempt.
                let granted = self
                    .grants
                    .grant(&self.lease_config, from, interval, self.now);
                let m = self.map.as_ref().expect("map set");
                if granted && m.acting.contains(&self.me) {
                    let msg = PgMsg::LeaseAck {
                        interval: self.attempt,
                        sent_at,
                    };
                    out.push(self.send(from, msg));
                }
            }
            PgMsg::LeaseAck { sent_at, .. } => {
                if let Some(lease) = self.primary.as_mut().and_then(|p| p.lease.as_mut()) {
                    lease.granted(from, sent_at);
                }
            }
            PgMsg::SubWriteAck { version, .. } => {
                let Some(p) = self.primary.as_mut() else {
                    return;
                };
                let done = p.inflight.get_mut(&version).is_some_and(|w| {
                    w.waiting.remove(&from);
                    w.waiting.is_empty()
                });
                if done {
                    let w = p.inflight.remove(&version).expect("present");
                    out.push(Effect::Reply {
                        reqid: w.reqid,
                        result: Ok(version),
                    });
                    self.note_all_applied();
                }
            }
        }
    }

    fn on_subwrite(
        &mut self,
        from: OsdId,
        prior: Version,
        entry: LogEntry,
        mutations: Vec<Mutation>,
        out: &mut Vec<Effect>,
    ) {
        if !self.replica_active || self.map.as_ref().and_then(Mapping::primary) != Some(from) {
            return;
        }
        let version = entry.version;
        if version <= self.log.head() {
            // A resend of a write we already hold: acknowledge again.
            out.push(self.send(
                from,
                PgMsg::SubWriteAck {
                    interval: self.attempt,
                    version,
                },
            ));
            return;
        }
        if prior != self.log.head() {
            if self.pending.len() < MAX_PENDING_SUBWRITES {
                self.pending.insert(prior, (entry, mutations));
            }
            return;
        }
        let mut next = Some((entry, mutations));
        while let Some((entry, mutations)) = next {
            let version = entry.version;
            out.push(Effect::Persist(self.write_txn(entry, mutations)));
            out.push(self.send(
                from,
                PgMsg::SubWriteAck {
                    interval: self.attempt,
                    version,
                },
            ));
            next = self.pending.remove(&version);
        }
        self.pending.retain(|prior, _| *prior > version);
    }

    // ----- helpers -----

    /// The acting members other than us.
    fn replicas(&self) -> Vec<OsdId> {
        let m = self.map.as_ref().expect("map set");
        m.acting.iter().copied().filter(|o| *o != self.me).collect()
    }

    fn phase_mut(&mut self) -> Option<&mut Phase> {
        self.primary.as_mut().map(|p| &mut p.phase)
    }

    fn send(&self, to: OsdId, msg: PgMsg) -> Effect {
        Effect::Send { to, msg }
    }

    fn key(&self, name: &str) -> ObjectKey {
        ObjectKey {
            pg: self.pg,
            name: name.to_string(),
        }
    }

    fn meta_op(&self) -> TxOp {
        let meta = PgMeta {
            info: self.info.clone(),
            intervals: self.intervals.clone(),
            dups: self.log.dups().copied().collect(),
        };
        TxOp::SetPgMeta {
            pg: self.pg,
            value: encode(&meta),
        }
    }

    pub(super) fn persist_meta(&self) -> Effect {
        Effect::Persist(Txn {
            ops: vec![self.meta_op()],
        })
    }
}

/// Encodes a PG record for the store. These types always encode.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("PG records encode")
}
