//! The rest of the OSD's side of a PG task: its input queue and the snapshot of its state
//! the task publishes after every event, so readers never wait on the task to look.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use placement::{Epoch, OsdId};
use rados::proto::osd::{ReqId, Version};
use tokio::sync::{mpsc, oneshot, watch};

use crate::pg::{Event, Mapping, Mutation, PgMachine, PgState, ReadGate, WriteError};

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

/// A handle on a new task for `machine`, with the task's ends: the queue it reads and the
/// snapshot it publishes.
pub fn channel(
    machine: &PgMachine,
    me: OsdId,
) -> (PgHandle, mpsc::Receiver<PgInput>, watch::Sender<PgSnapshot>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let mapping = machine.mapping().cloned().map(Arc::new);
    let (snapshot, watch) = watch::channel(snapshot_of(machine, me, mapping));
    let handle = PgHandle {
        tx,
        snapshot: watch,
        lease_asked: Arc::new(AtomicU64::new(0)),
    };
    (handle, rx, snapshot)
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
pub fn publish(snapshot: &watch::Sender<PgSnapshot>, machine: &PgMachine, me: OsdId) {
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
