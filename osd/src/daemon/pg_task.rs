//! One tokio task per PG: feeds events to its [`PgMachine`] and carries out the effects in
//! order — a `Persist` is durable before any later effect runs, which is what makes a reply
//! mean "on disk on every member".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use placement::{Epoch, OsdId, PgId};
use rados::proto::osd::{ReqId, Version};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use super::ec;
use super::peer::PgPeer;
use super::pg_handle::{self, PgHandle, PgInput, PgSnapshot, publish};
use super::shared::Shared;
use super::slow_ops::SLOW;
use super::store_view::StoreView;
use crate::ec::shards::{EncodedWrite, sub_write_for};
use crate::pg::types::EcMapping;
use crate::pg::{Effect, Event, Mutation, ObjectCopy, PgMachine, PgMsg, PgState, WriteError};
use crate::store::{ObjectKey, Store, Txn};

/// How long a stray PG waits for its turn to delete its copy before skipping this chance.
const STRAY_REMOVAL_WAIT: Duration = Duration::from_secs(1);

/// Starts the task for `machine`.
pub fn spawn(machine: PgMachine, shared: Arc<Shared>, tick: Duration) -> PgHandle {
    let (handle, rx, snapshot) = pg_handle::channel(&machine, shared.id);
    tokio::spawn(run(machine, shared, rx, snapshot, tick));
    handle
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
            let shard = mapping.and_then(|m| m.view_shard(shared.id));
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
                    let encoded = |r| ec_writes.get(&r).map(|e| &**e);
                    match sub_write_for(machine.mapping(), to, msg, encoded) {
                        Some(msg) => send(&shared, pg, to, msg, Bytes::new()),
                        None => warn!(%pg, %to, "no shard for this member; write not sent"),
                    }
                }
                Effect::Push {
                    to,
                    name,
                    interval,
                    rollback,
                    also_from,
                } => match machine.mapping().and_then(|m| m.ec.clone()) {
                    Some(ec) => {
                        let rebuild = ShardPush {
                            ec,
                            to,
                            name,
                            interval,
                            rollback,
                            also_from,
                        };
                        push_shard(&shared, pg, rebuild)
                    }
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

/// An erasure-coded recovery push ([`Effect::Push`]) to carry out.
struct ShardPush {
    ec: EcMapping,
    to: OsdId,
    name: String,
    interval: Epoch,
    rollback: Option<Option<Version>>,
    also_from: Vec<OsdId>,
}

/// Erasure-coded recovery: rebuilds `to`'s shard of `name` (at our version, or the
/// roll-back state) from `k` holders and pushes it.
fn push_shard(shared: &Arc<Shared>, pg: PgId, push: ShardPush) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let ShardPush {
            ec,
            to,
            name,
            interval,
            rollback,
            also_from,
        } = push;
        let key = ObjectKey {
            pg,
            name: name.clone(),
        };
        match ec::rebuild_for(&shared, &ec, &key, to, rollback, &also_from).await {
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
