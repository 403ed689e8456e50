//! The primary's side of peering: choosing the authority, planning and tracking copies,
//! activation, and resending what was not answered. Split from the machine for size; the
//! same state, the same rules.

use std::collections::{BTreeMap, BTreeSet};

use placement::OsdId;
use rados::proto::osd::Version;

use super::{PgMachine, Phase, encode};
use crate::pg::lease::PrimaryLease;
use crate::pg::log::{Divergence, PgLog};
use crate::pg::types::{Effect, MovedShard, ObjectView, PgInfo, PgMsg, PgState, WRONG_SHARD};
use crate::store::{TxOp, Txn};

impl PgMachine {
    // ----- peering progress (primary) -----

    /// Moves the primary's peering forward as far as the answers so far allow.
    pub(super) fn progress(&mut self, view: &dyn ObjectView, out: &mut Vec<Effect>) {
        loop {
            let Some(p) = self.primary.as_mut() else {
                return;
            };
            let next = match &mut p.phase {
                Phase::GetInfo { waiting, infos } if waiting.is_empty() => {
                    let infos = std::mem::take(infos);
                    self.choose_authority(infos, view, out)
                }
                Phase::GetVersions {
                    waiting,
                    auth,
                    auth_log,
                    auth_incomplete,
                    plans,
                    versions,
                    stashed,
                    moved,
                    complete,
                    ..
                } if waiting.is_empty() => {
                    let complete = std::mem::take(complete);
                    let moved = std::mem::take(moved);
                    let (auth, mut auth_log) = (*auth, auth_log.clone());
                    let (plans, versions) = (std::mem::take(plans), std::mem::take(versions));
                    let stashed = std::mem::take(stashed);
                    let auth_wrong = wrong_shard_states(versions.get(&auth), moved.get(&auth));
                    if *auth_incomplete {
                        let mut on_disk = versions.get(&auth).cloned().unwrap_or_default();
                        // A copy of another position's shard is of its version all the same.
                        on_disk.extend(auth_wrong.iter().map(|(n, v)| (n.clone(), *v)));
                        auth_log.retain_consistent(&on_disk);
                        // Its objects came partly from recovery copies, of a history its
                        // log does not describe (some newer than its log, some not): no
                        // member may catch up from this log by entries. Seal it at a
                        // version no other log holds (this attempt's epoch, above every
                        // sequence used), so every member not activated with it is
                        // compared by listing. (Erasure-coded PGs keep their entries:
                        // their roll-back rules count shards by log; issue-tracked.)
                        let replicated = self.map.as_ref().is_some_and(|m| m.ec.is_none());
                        if replicated {
                            let seq = on_disk
                                .values()
                                .filter(|v| **v != WRONG_SHARD)
                                .map(|v| v.seq)
                                .chain([auth_log.head().seq, self.info.issued.seq])
                                .max()
                                .unwrap_or_default();
                            let epoch = self.attempt;
                            auth_log.seal(Version { epoch, seq });
                        }
                    }
                    let seen = Seen {
                        plans,
                        versions,
                        stashed,
                        moved,
                        complete,
                    };
                    self.plan_copies(auth, auth_log, seen, auth_wrong, out)
                }
                Phase::Recover {
                    outstanding,
                    auth_log,
                    ..
                } if outstanding.is_empty() => {
                    let auth_log = auth_log.clone();
                    self.activate(auth_log, out)
                }
                Phase::Activate { waiting } if waiting.is_empty() => {
                    // Serve only once every older read lease has run out (`end_wait`).
                    self.state = PgState::Waiting;
                    Phase::Active
                }
                _ => return,
            };
            let lease = matches!(next, Phase::Active).then(|| PrimaryLease::new(self.replicas()));
            let p = self.primary.as_mut().expect("primary");
            p.phase = next;
            if lease.is_some() {
                p.lease = lease;
            }
        }
    }

    fn choose_authority(
        &mut self,
        infos: BTreeMap<OsdId, (PgInfo, PgLog)>,
        view: &dyn ObjectView,
        out: &mut Vec<Effect>,
    ) -> Phase {
        let m = self.map.as_ref().expect("map set");
        let clean_since = infos
            .values()
            .map(|(i, _)| i.last_epoch_clean)
            .max()
            .unwrap_or_default();
        let prior = self
            .intervals
            .prior_set(&m.up_osds, clean_since, m.shards_needed());
        if !prior.blocked_by.is_empty() {
            self.state = PgState::Down;
            return Phase::Idle;
        }
        // Newest activation first: a member that missed it may lack acknowledged writes.
        // Then the longest history; ties prefer a member whose objects match its log, then
        // ourselves. Erasure-coded: a history no newer than what k shards hold (the
        // longest such), else the shortest one (like Ceph's `find_best_info`); its writes
        // fewer than k members hold are undone object by object (`ec_rollbacks`).
        let me = self.me;
        let decodable = m.ec.as_ref().map(|ec| decodable_head(&infos, ec.layout.k));
        let fits = |info: &PgInfo| decodable.is_none_or(|v| info.last_update <= v);
        // Erasure-coded histories of one length may still differ: a write undone object by
        // object leaves the log's head where it was. Of two such, prefer the one with fewer
        // writes that fewer than k members applied (a member that missed the undoing still
        // names the write, and no k shards of it exist to rebuild).
        let lone_writes = |log: &PgLog| match m.ec.as_ref() {
            Some(ec) => log
                .entries()
                .filter(|e| {
                    let applied = infos.values().filter(|(_, l)| l.applied(e.version));
                    applied.count() < ec.layout.k
                })
                .count(),
            None => 0,
        };
        let (auth, (auth_info, auth_log)) = infos
            .iter()
            .max_by_key(|(id, (info, log))| {
                let fit = fits(info);
                (
                    info.last_epoch_started,
                    fit,
                    fit.then_some(info.last_update),
                    std::cmp::Reverse((!fit).then_some(info.last_update)),
                    std::cmp::Reverse(lone_writes(log)),
                    !info.incomplete,
                    **id == me,
                    std::cmp::Reverse(**id),
                )
            })
            .map(|(id, v)| (*id, v.clone()))
            .expect("own info present");
        let complete: BTreeMap<OsdId, Version> = infos
            .iter()
            .filter(|(_, (info, _))| !info.incomplete)
            .map(|(id, (info, _))| (*id, info.last_update))
            .collect();
        let mut plans = BTreeMap::new();
        for member in &m.acting {
            if *member == auth {
                continue;
            }
            let Some((info, log)) = infos.get(member) else {
                continue;
            };
            let plan = if info.incomplete || auth_info.incomplete {
                None
            } else {
                match log.divergence(&auth_log) {
                    // Erasure-coded members are asked even so: their roll-back copies may be
                    // what decodes an object the authority holds a lone shard of.
                    Divergence::Overlap { objects, .. } if objects.is_empty() && m.ec.is_some() => {
                        Some(Vec::new())
                    }
                    Divergence::Overlap { objects, .. } if objects.is_empty() => continue,
                    Divergence::Overlap { objects, .. } => Some(objects),
                    Divergence::Disjoint => None,
                }
            };
            plans.insert(*member, plan);
        }
        if plans.is_empty() && !auth_info.incomplete {
            return self.activate(auth_log, out);
        }
        let mut ask: BTreeSet<OsdId> = plans.keys().copied().collect();
        ask.insert(auth);
        // Erasure-coded: the other OSDs that answered (members of past intervals outside
        // the acting set) may keep shards of a write the acting members hold fewer than k
        // of; they are asked too, and count by the shards they name (`ec_rollbacks`).
        if m.ec.is_some() {
            ask.extend(infos.keys().filter(|o| !m.acting.contains(o)));
        }
        // An incomplete authority's log may name writes its objects no longer hold: read
        // all its versions so the log can be checked against them.
        let auth_names = if auth_info.incomplete {
            None
        } else {
            union_names(plans.values())
        };
        for member in ask.iter().filter(|m| **m != self.me) {
            let names = match plans.get(member) {
                Some(plan) if *member != auth => plan.clone(),
                _ => auth_names.clone(),
            };
            let msg = PgMsg::GetVersions {
                interval: self.attempt,
                names,
            };
            out.push(self.send(*member, msg));
        }
        let (mut versions, mut stashed, mut moved) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        if ask.remove(&self.me) {
            let names = if self.me == auth {
                auth_names.clone()
            } else {
                plans[&self.me].clone()
            };
            versions.insert(self.me, local_versions(view, names));
            stashed.insert(self.me, view.stashed().into_iter().collect());
            moved.insert(self.me, view.moved());
        }
        self.state = PgState::Peering;
        Phase::GetVersions {
            auth,
            auth_log,
            auth_names,
            auth_incomplete: auth_info.incomplete,
            plans,
            waiting: ask,
            versions,
            stashed,
            moved,
            complete,
        }
    }

    fn plan_copies(
        &mut self,
        auth: OsdId,
        mut auth_log: PgLog,
        mut seen: Seen,
        auth_wrong: BTreeMap<String, Version>,
        out: &mut Vec<Effect>,
    ) -> Phase {
        let mut outstanding = BTreeSet::new();
        // The authority's state of an object it holds only as another position's shard is
        // the version of that copy (`wrong_shard_states`); the copy itself is replaced like
        // any other member's.
        if let Some(auth_versions) = seen.versions.get_mut(&auth) {
            auth_versions.extend(auth_wrong.iter().map(|(n, v)| (n.clone(), *v)));
        }
        if self.map.as_ref().is_some_and(|m| m.acting.contains(&auth)) {
            for name in auth_wrong.keys() {
                outstanding.insert((auth, name.clone()));
            }
        }
        let (plans, versions) = (&seen.plans, &seen.versions);
        let empty = BTreeMap::new();
        let auth_versions = versions.get(&auth).unwrap_or(&empty);
        for (member, plan) in plans {
            let theirs = versions.get(member).unwrap_or(&empty);
            let names: BTreeSet<String> = match plan {
                Some(names) => names.iter().cloned().collect(),
                None => auth_versions.keys().chain(theirs.keys()).cloned().collect(),
            };
            for name in names {
                let (a, b) = (auth_versions.get(&name), theirs.get(&name));
                // A shard of the wrong position matches nothing, not even another one.
                if a != b || b == Some(&WRONG_SHARD) {
                    outstanding.insert((*member, name));
                }
            }
        }
        let mut rollbacks = self.ec_rollbacks(auth, &seen, &auth_wrong, &outstanding);
        for (name, target) in &rollbacks {
            // The undone writes leave the authoritative log; every member (the authority
            // too, if it is one) whose copy is not `target` gets `target`.
            auth_log.drop_undone(name, *target);
            outstanding.retain(|(_, n)| n != name);
            let m = self.map.as_ref().expect("map set");
            for member in &m.acting {
                let have = seen.state_of(*member, name, auth);
                if have != *target || (*member == auth && auth_wrong.contains_key(name)) {
                    outstanding.insert((*member, name.clone()));
                }
            }
        }
        // The authority's copy is not the shard it pushes: its version is rebuilt.
        for (name, version) in auth_wrong {
            rollbacks.entry(name).or_insert(Some(version));
        }
        self.state = PgState::Recovering;
        for (member, name) in &outstanding {
            let rollback = rollbacks.get(name).copied();
            out.push(self.copy_effect(auth, *member, name.clone(), rollback));
        }
        Phase::Recover {
            auth,
            auth_log,
            outstanding,
            rollbacks,
        }
    }

    /// Erasure-coded PGs: the objects whose authoritative state fewer than k members hold
    /// (so it cannot be decoded), each with the newest other state at least k members hold,
    /// current or as their roll-back copy (an unacknowledged write rolled back, or one the
    /// authority missed kept). An object no state of which k members hold is left as it
    /// is: recovery waits for more shards.
    fn ec_rollbacks(
        &self,
        auth: OsdId,
        seen: &Seen,
        auth_wrong: &BTreeMap<String, Version>,
        outstanding: &BTreeSet<(OsdId, String)>,
    ) -> BTreeMap<String, Option<Version>> {
        let Some(m) = self.map.as_ref() else {
            return BTreeMap::new();
        };
        let Some(ec) = m.ec.as_ref() else {
            return BTreeMap::new();
        };
        let k = ec.layout.k;
        let members: BTreeSet<OsdId> = m.acting.iter().copied().chain([auth]).collect();
        let names: BTreeSet<&String> = outstanding.iter().map(|(_, n)| n).collect();
        // Copies of other positions' shards, by object (one pass: a member that moved
        // reports every object it holds): the members', and those of the OSDs outside the
        // acting set that were asked (every copy such a stray keeps is one).
        let mut moved: BTreeMap<&str, Vec<&MovedShard>> = BTreeMap::new();
        for c in seen.moved.values().flatten() {
            moved.entry(c.name.as_str()).or_default().push(c);
        }
        let mut out = BTreeMap::new();
        for name in names {
            let Some(wanted) = seen.state_of(auth, name, auth) else {
                continue;
            };
            let want = Some(wanted);
            // Each member's current state and the state its roll-back copy keeps, if any
            // (`Some(None)`: a tombstone, absent before the write).
            type States = (Option<Option<Version>>, Option<Option<Version>>);
            let states: Vec<States> = members
                .iter()
                .map(|o| {
                    if *o == auth && auth_wrong.contains_key(name) {
                        // Its copy is another position's shard: it holds nothing here.
                        return (Some(Some(WRONG_SHARD)), None);
                    }
                    let now = seen.state_of(*o, name, auth);
                    // A member may lack the object only because it has not recovered it
                    // yet (it is incomplete) or never heard of the write (its log ends
                    // before it): neither says anything about the object's history.
                    let vouches =
                        now.is_some() || seen.complete.get(o).is_some_and(|head| *head >= wanted);
                    (vouches.then_some(now), seen.stash_of(*o, name))
                })
                .collect();
            // Distinct shards of a state: each member's own position's, and any copy of
            // another position's shard of that version (a member that moved keeps those).
            let holders = |s: Option<Version>| {
                let kept = |(now, stash): &States| *now == Some(s) || *stash == Some(s);
                let mut shards: BTreeSet<Holder> = members
                    .iter()
                    .zip(&states)
                    .filter(|(_, x)| kept(x))
                    .map(|(o, _)| match ec.position(*o) {
                        Some(p) => Holder::Shard(p as u8),
                        None => Holder::Osd(*o),
                    })
                    .collect();
                if let Some(v) = s {
                    let copies = moved.get(name.as_str()).into_iter().flatten();
                    shards.extend(
                        copies
                            .filter(|c| c.version == v)
                            .map(|c| Holder::Shard(c.shard)),
                    );
                }
                shards.len()
            };
            if holders(want) >= k {
                continue;
            }
            // Any other state k members hold, newest first; absent last (k members lack
            // it). Absence held by fewer is not trusted: a member may lack an object only
            // because it has not recovered it yet, so the PG waits for more shards.
            let mut others: Vec<Option<Version>> = states
                .iter()
                .flat_map(|(now, stash)| [now.flatten(), stash.flatten()])
                .filter(|s| s.is_some() && *s != want && *s != Some(WRONG_SHARD))
                .collect();
            others.sort();
            others.dedup();
            let target = others
                .into_iter()
                .rev()
                .chain([None])
                .find(|s| holders(*s) >= k);
            if let Some(target) = target {
                out.insert(name.clone(), target);
            }
        }
        out
    }

    fn copy_effect(
        &self,
        auth: OsdId,
        to: OsdId,
        name: String,
        rollback: Option<Option<Version>>,
    ) -> Effect {
        if auth == self.me {
            Effect::Push {
                to,
                name,
                interval: self.attempt,
                rollback,
                also_from: self.holders_elsewhere(),
            }
        } else {
            self.send(
                auth,
                PgMsg::PushTo {
                    interval: self.attempt,
                    name,
                    to,
                    rollback,
                },
            )
        }
    }

    /// Up OSDs outside the acting set that were members of an interval since the PG was
    /// last clean: an erasure-coded rebuild may find shards there when the acting members
    /// hold fewer than k (a position whose old holder left when a pg_temp cleared, and one
    /// more member died). Strays keep their copies until the PG is clean. None for a
    /// replicated PG, whose push is the authority's own copy.
    pub(super) fn holders_elsewhere(&self) -> Vec<OsdId> {
        let Some(m) = self.map.as_ref().filter(|m| m.ec.is_some()) else {
            return Vec::new();
        };
        self.intervals
            .past_members()
            .into_iter()
            .filter(|o| !m.acting.contains(o) && m.up_osds.contains(o))
            .collect()
    }

    pub(super) fn activate(&mut self, auth_log: PgLog, out: &mut Vec<Effect>) -> Phase {
        let m = self.map.as_ref().expect("map set");
        let clean = m.acting.len() == m.size && m.acting == m.up;
        let members: BTreeSet<OsdId> = m.acting.iter().copied().filter(|o| *o != self.me).collect();
        self.adopt(auth_log, clean, out);
        for to in &members {
            out.push(self.send(*to, self.activate_msg(clean)));
        }
        self.clean = clean;
        self.state = PgState::Activating;
        Phase::Activate { waiting: members }
    }

    pub(super) fn activate_msg(&self, clean: bool) -> PgMsg {
        PgMsg::Activate {
            interval: self.attempt,
            tail: self.log.tail(),
            log: self.log.entries().cloned().collect(),
            dups: self.log.dups().copied().collect(),
            clean,
        }
    }

    /// Takes the authoritative log as ours and records activation in this interval.
    pub(super) fn adopt(&mut self, log: PgLog, clean: bool, out: &mut Vec<Effect>) {
        let mut ops = vec![TxOp::ClearLog { pg: self.pg }];
        ops.extend(log.entries().map(|e| TxOp::AppendLog {
            pg: self.pg,
            version: e.version,
            entry: encode(e),
        }));
        self.info.issued = self.info.issued.max(self.log.head()).max(log.head());
        self.log = log;
        self.info.last_update = self.log.head();
        self.info.log_tail = self.log.tail();
        self.info.last_epoch_started = self.interval;
        self.info.incomplete = false;
        if clean {
            self.info.last_epoch_clean = self.interval;
            self.intervals.prune_before(self.interval);
            // Every shard holds the authoritative state: roll-back copies are not needed.
            if self.map.as_ref().is_some_and(|m| m.ec.is_some()) {
                ops.push(TxOp::RemovePg {
                    pg: crate::store::stash_pg(self.pg),
                });
            }
        }
        ops.push(self.meta_op());
        out.push(Effect::Persist(Txn { ops }));
    }

    // ----- resends -----

    pub(super) fn resend(&mut self, out: &mut Vec<Effect>) {
        let interval = self.attempt;
        let Some(p) = self.primary.as_ref() else {
            return;
        };
        match &p.phase {
            Phase::GetInfo { waiting, .. } => {
                for to in waiting {
                    out.push(self.send(*to, PgMsg::Query { interval }));
                }
            }
            Phase::GetVersions {
                waiting,
                plans,
                auth,
                auth_names,
                ..
            } => {
                for to in waiting {
                    let names = match plans.get(to) {
                        Some(plan) if to != auth => plan.clone(),
                        _ => auth_names.clone(),
                    };
                    out.push(self.send(*to, PgMsg::GetVersions { interval, names }));
                }
            }
            Phase::Recover {
                outstanding,
                auth,
                rollbacks,
                ..
            } => {
                for (to, name) in outstanding {
                    let rollback = rollbacks.get(name).copied();
                    out.push(self.copy_effect(*auth, *to, name.clone(), rollback));
                }
            }
            Phase::Activate { waiting } => {
                for to in waiting {
                    out.push(self.send(*to, self.activate_msg(self.clean)));
                }
            }
            Phase::Active => {
                for w in p.inflight.values() {
                    for to in &w.waiting {
                        out.push(self.send(*to, w.msg.clone()));
                    }
                }
            }
            Phase::Idle => {}
        }
    }
}

/// The names every plan needs (`None`: a plan wants the whole listing).
fn union_names<'a>(plans: impl Iterator<Item = &'a Option<Vec<String>>>) -> Option<Vec<String>> {
    let mut all = BTreeSet::new();
    for plan in plans {
        all.extend(plan.as_ref()?.iter().cloned());
    }
    Some(all.into_iter().collect())
}

fn local_versions(view: &dyn ObjectView, names: Option<Vec<String>>) -> BTreeMap<String, Version> {
    match names {
        None => view.versions().into_iter().collect(),
        Some(names) => names
            .into_iter()
            .filter_map(|n| view.version(&n).map(|v| (n, v)))
            .collect(),
    }
}

/// The newest write at least `k` members applied: an erasure-coded PG can decode nothing
/// newer, so no newer history may become authoritative.
pub(crate) fn decodable_head(infos: &BTreeMap<OsdId, (PgInfo, PgLog)>, k: usize) -> Version {
    let mut versions: Vec<Version> = infos
        .values()
        .flat_map(|(info, log)| {
            log.entries()
                .map(|e| e.version)
                .chain([info.last_update, log.tail()])
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
        .into_iter()
        .rev()
        .find(|v| {
            infos
                .values()
                .filter(|(info, log)| info.last_update >= *v && log.applied(*v))
                .count()
                >= k
        })
        .unwrap_or(Version::ZERO)
}

/// The objects the authority holds only as another position's shard (a copy from a
/// position it left), each with the version that copy is: its current state, though no
/// shard to match or push as it is.
fn wrong_shard_states(
    versions: Option<&BTreeMap<String, Version>>,
    moved: Option<&Vec<MovedShard>>,
) -> BTreeMap<String, Version> {
    let current: BTreeMap<&str, Version> = moved
        .into_iter()
        .flatten()
        .filter(|c| !c.rollback)
        .map(|c| (c.name.as_str(), c.version))
        .collect();
    versions
        .into_iter()
        .flatten()
        .filter(|(_, v)| **v == WRONG_SHARD)
        .filter_map(|(name, _)| Some((name.clone(), *current.get(name.as_str())?)))
        .collect()
}

/// Who holds a shard, for counting distinct shards: a shard index, or a member outside the
/// acting set (its position's shard is not known here; counted once).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Holder {
    Shard(u8),
    Osd(OsdId),
}

/// What peering learned of the members' objects.
pub(super) struct Seen {
    /// Which objects each member was asked about (`None`: all).
    plans: BTreeMap<OsdId, Option<Vec<String>>>,
    /// Their answers (the authority's included).
    versions: BTreeMap<OsdId, BTreeMap<String, Version>>,
    /// Erasure-coded: their roll-back copies.
    stashed: BTreeMap<OsdId, BTreeMap<String, Version>>,
    /// Erasure-coded: their copies of other positions' shards.
    moved: BTreeMap<OsdId, Vec<MovedShard>>,
    /// Members that were not `incomplete` when peering began, with their log heads.
    complete: BTreeMap<OsdId, Version>,
}

impl Seen {
    /// What `member` holds of `name`: its reported version if it was asked about the
    /// object, else the authority's (its log matched the authority's for it).
    fn state_of(&self, member: OsdId, name: &str, auth: OsdId) -> Option<Version> {
        let asked = member == auth
            || match self.plans.get(&member) {
                Some(None) => true,
                Some(Some(names)) => names.iter().any(|n| n == name),
                None => false,
            };
        let from = if asked { member } else { auth };
        self.versions.get(&from).and_then(|v| v.get(name)).copied()
    }

    /// The state `member`'s roll-back copy of `name` keeps, if it reported one: a version,
    /// or `Some(None)` for a tombstone (version zero: the object was absent).
    fn stash_of(&self, member: OsdId, name: &str) -> Option<Option<Version>> {
        let v = self
            .stashed
            .get(&member)
            .and_then(|s| s.get(name))
            .copied()?;
        Some((v != Version::ZERO).then_some(v))
    }
}
