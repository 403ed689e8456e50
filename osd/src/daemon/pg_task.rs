//! One tokio task per PG: feeds events to its [`PgMachine`] and carries out the effects in
//! order — a `Persist` is durable before any later effect runs, which is what makes a reply
//! mean "on disk on every member".

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use placement::{Epoch, OsdId, PgId};
use rados::proto::osd::{ReqId, Version};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use super::ec::{self, EncodedWrite};
use super::peer::PgPeer;
use super::shared::Shared;
use super::slow_ops::SLOW;

/// How long a stray PG waits for its turn to delete its copy before skipping this chance.
const STRAY_REMOVAL_WAIT: Duration = Duration::from_secs(1);
use crate::pg::types::{EcMapping, WRONG_SHARD};
use crate::pg::{
    Effect, Event, Mapping, Mutation, ObjectCopy, ObjectView, PgMachine, PgMsg, PgState, ReadGate,
    WriteError,
};
use crate::store::{ObjectKey, Store, Txn};

/// Events queued per PG before senders wait (bounded memory under load).
const QUEUE: usize = 256;

/// What a PG task is asked to do.
pub enum PgInput {
    /// Feed an event.
    Event(Event),
    /// A client write; answered when every acting member committed it.
    Write {
        /// The request.
        reqid: ReqId,
        /// The object.
        name: String,
        /// The changes.
        mutations: Vec<Mutation>,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Version, WriteError>>,
    },
    /// A backfill copy (see [`Event::Backfill`]); `reply` learns whether it was stored.
    Backfill {
        /// The event.
        event: Event,
        /// True once durable; false if the PG refused it.
        reply: oneshot::Sender<bool>,
    },
}

/// What the rest of the OSD sees of a PG without asking its task.
#[derive(Clone, Debug)]
pub struct PgSnapshot {
    /// Its state.
    pub state: PgState,
    /// Active and clean.
    pub clean: bool,
    /// Whether this OSD is its primary.
    pub primary: bool,
    /// The map it last saw (shared: snapshots are taken after every event and cloned by
    /// every read).
    pub mapping: Option<Arc<Mapping>>,
    /// First epoch of its interval.
    pub since: Epoch,
    /// Its newest write.
    pub last_update: Version,
    /// Whether, and until when (the daemon's clock), it may serve reads.
    pub read_gate: ReadGate,
}

impl PgSnapshot {
    /// The Ceph-style state string (`active+clean`, `active+undersized+degraded`, ...).
    pub fn state_string(&self) -> String {
        let Some(m) = &self.mapping else {
            return "unknown".into();
        };
        match self.state {
            PgState::Active => {
                let mut s = String::from("active");
                if m.acting.len() < m.size {
                    s.push_str("+undersized+degraded");
                }
                if m.acting != m.up {
                    s.push_str("+remapped");
                }
                if self.clean {
                    s.push_str("+clean");
                }
                s
            }
            PgState::Undersized => "undersized+degraded+peered".into(),
            PgState::Waiting => "peered+wait".into(),
            other => other.to_string(),
        }
    }
}

/// A handle on a running PG task.
#[derive(Clone)]
pub struct PgHandle {
    /// Its input queue.
    pub tx: mpsc::Sender<PgInput>,
    /// Its latest snapshot, replaced after every event (and before the event's effects, so
    /// a reply never reaches a client ahead of the state change that caused it).
    snapshot: watch::Receiver<PgSnapshot>,
    /// When reads last asked for the read lease (ms of the daemon's clock), to ask at most
    /// once per [`LEASE_ASK_EVERY`].
    lease_asked: Arc<AtomicU64>,
}

/// Reads ask a PG task for its read lease at most this often.
const LEASE_ASK_EVERY: Duration = Duration::from_millis(100);

impl PgHandle {
    /// Its latest snapshot.
    pub fn snapshot(&self) -> PgSnapshot {
        self.snapshot.borrow().clone()
    }

    /// A receiver that sees every new snapshot.
    pub fn watch(&self) -> watch::Receiver<PgSnapshot> {
        self.snapshot.clone()
    }

    /// Tells the PG that reads want its lease (now, at `now`); never waits for queue room.
    pub fn want_lease(&self, now: Duration) {
        let now_ms = now.as_millis() as u64;
        let last = self.lease_asked.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < LEASE_ASK_EVERY.as_millis() as u64 && last != 0 {
            return;
        }
        self.lease_asked.store(now_ms.max(1), Ordering::Relaxed);
        let _ = self.tx.try_send(PgInput::Event(Event::WantLease));
    }
}

/// The store as the PG machine reads it.
struct StoreView<'a> {
    store: &'a Store,
    pg: PgId,
    /// Erasure-coded PGs: the shard this OSD's position holds; a stored shard of another
    /// index reports [`WRONG_SHARD`].
    shard: Option<u8>,
}

impl StoreView<'_> {
    fn version_of(&self, meta: &crate::store::ObjectMeta) -> Version {
        match (self.shard, crate::ec::ShardMeta::of(meta)) {
            (Some(want), Some(have)) if have.shard != want => WRONG_SHARD,
            (Some(_), None) => WRONG_SHARD,
            _ => meta.version,
        }
    }
}

impl ObjectView for StoreView<'_> {
    fn stashed(&self) -> Vec<(String, Version)> {
        if self.shard.is_none() {
            return Vec::new();
        }
        let stash = crate::store::stash_pg(self.pg);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let Ok(page) = self.store.list(stash, after.as_deref(), 1024) else {
                return out;
            };
            let done = page.len() < 1024;
            after = page.last().map(|(n, _)| n.clone());
            out.extend(page.into_iter().map(|(n, m)| (n, m.version)));
            if done {
                return out;
            }
        }
    }

    fn version(&self, name: &str) -> Option<Version> {
        let key = ObjectKey {
            pg: self.pg,
            name: name.to_string(),
        };
        let meta = self.store.stat(&key).ok().flatten()?;
        Some(self.version_of(&meta))
    }

    fn versions(&self) -> Vec<(String, Version)> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let Ok(page) = self.store.list(self.pg, after.as_deref(), 1024) else {
                return out;
            };
            let done = page.len() < 1024;
            after = page.last().map(|(n, _)| n.clone());
            out.extend(page.into_iter().map(|(n, m)| {
                let v = self.version_of(&m);
                (n, v)
            }));
            if done {
                return out;
            }
        }
    }
}

/// Starts the task for `machine`.
pub fn spawn(machine: PgMachine, shared: Arc<Shared>, tick: Duration) -> PgHandle {
    let (tx, rx) = mpsc::channel(QUEUE);
    let mapping = machine.mapping().cloned().map(Arc::new);
    let (snapshot, watch) = watch::channel(snapshot_of(&machine, shared.id, mapping));
    let handle = PgHandle {
        tx,
        snapshot: watch,
        lease_asked: Arc::new(AtomicU64::new(0)),
    };
    tokio::spawn(run(machine, shared, rx, snapshot, tick));
    handle
}

fn snapshot_of(machine: &PgMachine, me: OsdId, mapping: Option<Arc<Mapping>>) -> PgSnapshot {
    PgSnapshot {
        state: machine.state(),
        clean: machine.is_clean(),
        primary: machine.mapping().and_then(Mapping::primary) == Some(me),
        mapping,
        since: machine.interval(),
        last_update: machine.log().head(),
        read_gate: machine.read_gate(),
    }
}

/// Replaces the snapshot if it changed (readers wake only for news). The mapping is copied
/// only when its epoch changed.
fn publish(snapshot: &watch::Sender<PgSnapshot>, machine: &PgMachine, me: OsdId) {
    let epoch = machine.mapping().map(|m| m.epoch);
    let kept = snapshot
        .borrow()
        .mapping
        .clone()
        .filter(|m| Some(m.epoch) == epoch);
    let mapping = kept.or_else(|| machine.mapping().cloned().map(Arc::new));
    let next = snapshot_of(machine, me, mapping);
    snapshot.send_if_modified(|s| {
        let changed = s.state != next.state
            || s.clean != next.clean
            || s.primary != next.primary
            || s.since != next.since
            || s.last_update != next.last_update
            || s.read_gate != next.read_gate
            || s.mapping.as_ref().map(|m| m.epoch) != next.mapping.as_ref().map(|m| m.epoch);
        *s = next;
        changed
    });
}

/// Where a primary's time between a new interval and serving went, logged when it starts
/// serving: what an operator reads to see what a fault's stall was made of.
#[derive(Default)]
struct Activation {
    /// When the current interval began here.
    interval: Option<(Epoch, Duration)>,
    /// When it started waiting out older leases.
    waiting: Option<Duration>,
}

impl Activation {
    fn observe(&mut self, pg: PgId, machine: &PgMachine, before: PgState, now: Duration) {
        let interval = machine.interval();
        if self.interval.is_none_or(|(e, _)| e != interval) {
            self.interval = Some((interval, now));
            self.waiting = None;
        }
        let state = machine.state();
        if state == before || !machine.is_primary() {
            return;
        }
        match state {
            PgState::Waiting => self.waiting = Some(now),
            PgState::Active => {
                let began = self.interval.map_or(now, |(_, t)| t);
                let lease_wait = self.waiting.map_or(Duration::ZERO, |w| now - w);
                info!(
                    %pg,
                    epoch = interval.0,
                    serving_after_ms = (now - began).as_millis() as u64,
                    lease_wait_ms = lease_wait.as_millis() as u64,
                    "pg active"
                );
            }
            _ => {}
        }
    }
}

async fn run(
    mut machine: PgMachine,
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<PgInput>,
    snapshot: watch::Sender<PgSnapshot>,
    tick: Duration,
) {
    let pg = machine.pg();
    let mut waiters: HashMap<ReqId, Vec<oneshot::Sender<Result<Version, WriteError>>>> =
        HashMap::new();
    let mut ec_writes: HashMap<ReqId, Arc<EncodedWrite>> = HashMap::new();
    let mut activation = Activation::default();
    let mut stalls = StallReport::default();
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut backfill_reply = None;
        // The machine's own deadline (the end of a lease wait); far away if none.
        let deadline = machine
            .poll_timeout()
            .map_or_else(|| shared.clock.far_future(), |t| shared.clock.instant_at(t));
        let event = tokio::select! {
            input = rx.recv() => match input {
                None => return,
                Some(PgInput::Event(e)) => e,
                Some(PgInput::Write { reqid, name, mutations, reply }) => {
                    waiters.entry(reqid).or_default().push(reply);
                    let mutations = encode_shards(&machine, shared.id, reqid, mutations, &mut ec_writes).await;
                    Event::Write { reqid, name, mutations }
                }
                Some(PgInput::Backfill { event, reply }) => {
                    backfill_reply = Some(reply);
                    event
                }
            },
            _ = ticker.tick() => Event::Tick,
            _ = tokio::time::sleep_until(deadline) => Event::Tick,
        };
        let effects = {
            let mapping = match &event {
                Event::Map(m) => Some(m),
                _ => machine.mapping(),
            };
            let shard = mapping
                .and_then(|m| m.ec.as_ref())
                .and_then(|ec| ec.position(shared.id))
                .map(|p| p as u8);
            let view = StoreView {
                store: &shared.store,
                pg,
                shard,
            };
            let before = machine.state();
            let effects = machine.handle(event, shared.clock.now(), &view);
            activation.observe(pg, &machine, before, shared.clock.now());
            effects
        };
        publish(&snapshot, &machine, shared.id);
        for effect in effects {
            match effect {
                Effect::Persist(txn) => {
                    if !commit_or_stop(&shared, pg, txn).await {
                        return;
                    }
                }
                Effect::Send { to, msg } => {
                    match shard_for(machine.mapping(), to, msg, &ec_writes) {
                        Some(msg) => send(&shared, pg, to, msg, Bytes::new()),
                        None => warn!(%pg, %to, "no shard for this member; write not sent"),
                    }
                }
                Effect::Push {
                    to,
                    name,
                    interval,
                    rollback,
                } => match machine.mapping().and_then(|m| m.ec.clone()) {
                    Some(ec) => push_shard(&shared, pg, ec, to, name, interval, rollback),
                    None => push(&shared, pg, to, name, interval),
                },
                Effect::Reply { reqid, result } => {
                    ec_writes.remove(&reqid);
                    for w in waiters.remove(&reqid).unwrap_or_default() {
                        let _ = w.send(result.clone());
                    }
                }
                Effect::RemoveStray(txn) => {
                    // One deletion at a time per OSD. Waiting parks this PG's queue, so not
                    // for long: behind a large deletion it skips, and asks again later.
                    // Events that queue meanwhile find the copy gone, as on a new OSD.
                    let permit = shared.stray_removals.acquire();
                    let Ok(Ok(_one_at_a_time)) =
                        tokio::time::timeout(STRAY_REMOVAL_WAIT, permit).await
                    else {
                        continue;
                    };
                    if !commit_or_stop(&shared, pg, txn).await {
                        return;
                    }
                    machine.forget_copy();
                    super::shared::Counters::bump(&shared.counters.stray_pgs_removed);
                }
                Effect::Backfilled { .. } => {
                    if let Some(reply) = backfill_reply.take() {
                        let _ = reply.send(true);
                    }
                }
            }
        }
        if let Some(reply) = backfill_reply {
            let _ = reply.send(false);
        }
        // Writers whose caller gave up must not pile up.
        waiters.retain(|_, ws| {
            ws.retain(|w| !w.is_closed());
            !ws.is_empty()
        });
        publish(&snapshot, &machine, shared.id);
        stalls.observe(pg, &machine, shared.clock.now());
    }
}

/// Commits a PG's transaction; if the store fails, stops the OSD (the disk failed under
/// us: nothing later may claim durability) and returns false.
async fn commit_or_stop(shared: &Shared, pg: PgId, txn: Txn) -> bool {
    match shared.store.commit(txn).await {
        Ok(()) => true,
        Err(e) => {
            error!(%pg, error = %e, "store commit failed; stopping the OSD");
            shared.fail(format!("store commit failed: {e}"));
            false
        }
    }
}

/// Warns, at most once per [`SLOW`], about this PG's writes that replicas have not
/// acknowledged for [`SLOW`], and about replica writes held back for [`SLOW`] behind the
/// same missing write: a stall within one interval names the member it waits for.
#[derive(Default)]
struct StallReport {
    /// When it last warned.
    last: Option<Duration>,
    /// The earliest missing write replica writes are held back for, and since when.
    held: Option<(Version, Duration)>,
}

impl StallReport {
    fn observe(&mut self, pg: PgId, machine: &PgMachine, now: Duration) {
        let held = machine.held_subwrites();
        // Held back for the same write all along: progress resets the clock.
        self.held = match (held, self.held) {
            (Some((_, prior, _)), Some((was, since))) if prior == was => Some((prior, since)),
            (Some((_, prior, _)), _) => Some((prior, now)),
            (None, _) => None,
        };
        if self.last.is_some_and(|t| now.saturating_sub(t) < SLOW) {
            return;
        }
        let slow = machine.slow_writes(now, SLOW);
        if let Some(oldest) = slow.first() {
            self.last = Some(now);
            let waiting: Vec<u32> = oldest.waiting.iter().map(|o| o.0).collect();
            warn!(
                %pg,
                writes = slow.len(),
                oldest = %oldest.version,
                waited_ms = oldest.age.as_millis() as u64,
                ?waiting,
                state = %machine.state(),
                "writes waiting for replicas"
            );
        }
        let held_long = self
            .held
            .is_some_and(|(_, since)| now.saturating_sub(since) >= SLOW);
        if let Some((held, prior, head)) = held.filter(|_| held_long) {
            self.last = Some(now);
            warn!(%pg, held, %prior, %head, "replica writes held back for an earlier write");
        }
    }
}

/// Erasure-coded PGs: encodes a write's data once, keeps every shard for the sub-writes (and
/// their resends) until the write is answered, and returns our own shard's mutations.
async fn encode_shards(
    machine: &PgMachine,
    me: OsdId,
    reqid: ReqId,
    mutations: Vec<Mutation>,
    ec_writes: &mut HashMap<ReqId, Arc<EncodedWrite>>,
) -> Vec<Mutation> {
    let Some(ec) = machine.mapping().and_then(|m| m.ec.as_ref()) else {
        return mutations;
    };
    let (Some(position), layout) = (ec.position(me), ec.layout) else {
        return mutations; // not a member: the machine refuses the write
    };
    let input = mutations.clone();
    let encoded = tokio::task::spawn_blocking(move || EncodedWrite::encode(layout, &input))
        .await
        .ok()
        .flatten();
    match encoded {
        Some(enc) => {
            let ours = enc.shard_mutations(&mutations, position);
            ec_writes.insert(reqid, Arc::new(enc));
            ours
        }
        None => mutations,
    }
}

/// A message as `to` must receive it: a sub-write of an erasure-coded object carries `to`'s
/// shard (`None`: `to` holds no shard, or the write's encoding is gone, so the only data at
/// hand is our own shard, which must never reach another position).
fn shard_for(
    mapping: Option<&Mapping>,
    to: OsdId,
    msg: PgMsg,
    ec_writes: &HashMap<ReqId, Arc<EncodedWrite>>,
) -> Option<PgMsg> {
    let PgMsg::SubWrite {
        interval,
        prior,
        entry,
        mutations,
    } = msg
    else {
        return Some(msg);
    };
    let encoded = entry.reqid.and_then(|r| ec_writes.get(&r));
    let ec = mapping.and_then(|m| m.ec.as_ref());
    let carries_data = mutations
        .iter()
        .any(|m| matches!(m, Mutation::WriteFull(_)));
    if ec.is_some() && encoded.is_none() && carries_data {
        return None;
    }
    let (Some(ec), Some(enc)) = (ec, encoded) else {
        return Some(PgMsg::SubWrite {
            interval,
            prior,
            entry,
            mutations,
        });
    };
    let mutations = enc.shard_mutations(&mutations, ec.write_position(to)?);
    Some(PgMsg::SubWrite {
        interval,
        prior,
        entry,
        mutations,
    })
}

/// Erasure-coded recovery: rebuilds `to`'s shard of `name` (at our version, or the
/// roll-back state) from `k` holders and pushes it.
fn push_shard(
    shared: &Arc<Shared>,
    pg: PgId,
    ec: EcMapping,
    to: OsdId,
    name: String,
    interval: Epoch,
    rollback: Option<Option<Version>>,
) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let key = ObjectKey {
            pg,
            name: name.clone(),
        };
        match ec::rebuild_for(&shared, &ec, &key, to, rollback).await {
            Ok(copy) => {
                let bytes = copy.as_ref().map_or(0, |c| c.data.len() as u64);
                super::shared::Counters::add(&shared.counters.recovered_objects, 1);
                super::shared::Counters::add(&shared.counters.recovered_bytes, bytes);
                let msg = PgMsg::Push {
                    interval,
                    name,
                    copy,
                };
                send(&shared, pg, to, msg, Bytes::new());
            }
            Err(e) => ec::rebuild_failed(&key, to, &e),
        }
    });
}

/// Sends a PG message to another OSD (fire and forget; the machine resends on its tick).
/// One to ourselves (an erasure-coded authority rolling back its own shard) goes straight
/// to the PG's queue.
fn send(shared: &Arc<Shared>, pg: PgId, to: OsdId, msg: PgMsg, payload: Bytes) {
    if to == shared.id {
        let handle = shared.pg(pg);
        let (me, msg) = (shared.id, join_payload(msg, payload));
        tokio::spawn(async move {
            if let Some(h) = handle {
                let _ =
                    h.tx.send(PgInput::Event(Event::Msg { from: me, msg }))
                        .await;
            }
        });
        return;
    }
    let (msg, payload) = split_payload(msg, payload);
    let Some(addr) = shared.addr_of(to) else {
        debug!(%pg, %to, "no address for peer; message dropped");
        return;
    };
    let messenger = shared.messenger.clone();
    tokio::spawn(async move {
        let req = PgPeer { pg, msg };
        if let Err(e) = messenger.call_with_payload(addr, &req, payload).await {
            debug!(%pg, %to, error = %e, "pg message not delivered");
        }
    });
}

/// Moves object data out of a message into the frame payload (never re-encoded).
fn split_payload(mut msg: PgMsg, payload: Bytes) -> (PgMsg, Bytes) {
    let data = match &mut msg {
        PgMsg::SubWrite { mutations, .. } => mutations.iter_mut().find_map(|m| match m {
            Mutation::WriteFull(d) => Some(std::mem::take(d)),
            _ => None,
        }),
        PgMsg::Push {
            copy: Some(copy), ..
        } => Some(std::mem::take(&mut copy.data)),
        _ => None,
    };
    (msg, data.unwrap_or(payload))
}

/// Puts the frame payload back where [`split_payload`] took it from.
pub fn join_payload(mut msg: PgMsg, payload: Bytes) -> PgMsg {
    match &mut msg {
        PgMsg::SubWrite { mutations, .. } => {
            if let Some(Mutation::WriteFull(d)) = mutations
                .iter_mut()
                .find(|m| matches!(m, Mutation::WriteFull(_)))
            {
                *d = payload;
            }
        }
        PgMsg::Push {
            copy: Some(copy), ..
        } => copy.data = payload,
        _ => {}
    }
    msg
}

/// Reads the local copy of `name` and pushes it to `to`.
fn push(shared: &Arc<Shared>, pg: PgId, to: OsdId, name: String, interval: Epoch) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let store = shared.store.clone();
        let key = ObjectKey {
            pg,
            name: name.clone(),
        };
        let copy = tokio::task::spawn_blocking(move || read_copy(&store, &key)).await;
        match copy {
            Ok(Ok(copy)) => {
                let bytes = copy.as_ref().map_or(0, |c| c.data.len() as u64);
                super::shared::Counters::add(&shared.counters.recovered_objects, 1);
                super::shared::Counters::add(&shared.counters.recovered_bytes, bytes);
                send(
                    &shared,
                    pg,
                    to,
                    PgMsg::Push {
                        interval,
                        name,
                        copy,
                    },
                    Bytes::new(),
                )
            }
            Ok(Err(e)) => warn!(%pg, %name, error = %e, "cannot read object to push"),
            Err(e) => warn!(%pg, %name, error = %e, "push reader failed"),
        }
    });
}

pub(super) fn read_copy(
    store: &Store,
    key: &ObjectKey,
) -> Result<Option<ObjectCopy>, crate::StoreError> {
    let Some((meta, data)) = store.read(key, 0, None)? else {
        return Ok(None);
    };
    let omap = store
        .omap_list(key, None, usize::MAX)?
        .into_iter()
        .map(|(k, v)| (ByteBuf::from(k), ByteBuf::from(v)))
        .collect();
    Ok(Some(ObjectCopy {
        version: meta.version,
        data,
        xattrs: meta.xattrs,
        omap,
    }))
}
