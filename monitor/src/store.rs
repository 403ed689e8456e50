//! Raft storage on redb: the log, the vote, the committed id and snapshots, each write
//! committed with fsync before it is acknowledged. The state machine itself ([`MonState`])
//! lives in memory: on start it is restored from the latest snapshot and openraft replays the
//! log after it, so applying needs no disk write. Snapshots compact the log.

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

use openraft::storage::{
    LogFlushed, LogState, RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
    Snapshot, SnapshotMeta,
};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, OptionalSend, StorageError, StorageIOError,
    StoredMembership, Vote,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::state::{MonCommand, MonResponse, MonState};

openraft::declare_raft_types!(
    /// Raft types of the monitor quorum.
    pub TypeConfig:
        D            = MonCommand,
        R            = MonResponse,
        NodeId       = u64,
        Node         = openraft::BasicNode,
        Entry        = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        Responder    = openraft::impls::OneshotResponder<TypeConfig>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A monitor's id in the quorum.
pub type NodeId = u64;
type StResult<T> = Result<T, StorageError<NodeId>>;

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

fn any<E: std::error::Error + 'static>(e: E) -> AnyError {
    AnyError::new(&e)
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, AnyError> {
    rmp_serde::to_vec_named(v).map_err(any)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AnyError> {
    rmp_serde::from_slice(bytes).map_err(any)
}

/// Opens (creating if needed) the monitor's database with its tables.
pub fn open_db(path: &std::path::Path) -> Result<Arc<Database>, redb::Error> {
    let db = Database::create(path)?;
    let w = db.begin_write()?;
    {
        w.open_table(LOGS)?;
        w.open_table(META)?;
    }
    w.commit()?;
    Ok(Arc::new(db))
}

fn get_meta<T: DeserializeOwned>(db: &Database, key: &str) -> Result<Option<T>, AnyError> {
    let r = db.begin_read().map_err(any)?;
    let t = r.open_table(META).map_err(any)?;
    let Some(v) = t.get(key).map_err(any)? else {
        return Ok(None);
    };
    decode(v.value()).map(Some)
}

/// One durable write transaction.
fn write(
    db: &Database,
    f: impl FnOnce(&redb::WriteTransaction) -> Result<(), AnyError>,
) -> Result<(), AnyError> {
    let w = db.begin_write().map_err(any)?;
    f(&w)?;
    w.commit().map_err(any)
}

fn put_meta<T: Serialize>(w: &redb::WriteTransaction, key: &str, v: &T) -> Result<(), AnyError> {
    let bytes = encode(v)?;
    w.open_table(META)
        .map_err(any)?
        .insert(key, bytes.as_slice())
        .map_err(any)?;
    Ok(())
}

/// The Raft log and vote.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    /// The log in `db`.
    pub fn new(db: Arc<Database>) -> LogStore {
        LogStore { db }
    }

    fn read_range(&self, range: impl RangeBounds<u64>) -> Result<Vec<Entry<TypeConfig>>, AnyError> {
        let r = self.db.begin_read().map_err(any)?;
        let t = r.open_table(LOGS).map_err(any)?;
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        let mut out = Vec::new();
        for item in t.range(bounds).map_err(any)? {
            let (_, v) = item.map_err(any)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    fn state(&self) -> Result<LogState<TypeConfig>, AnyError> {
        let last_purged: Option<LogId<NodeId>> = get_meta(&self.db, "last_purged")?;
        let r = self.db.begin_read().map_err(any)?;
        let t = r.open_table(LOGS).map_err(any)?;
        let last = match t.last().map_err(any)? {
            Some((_, v)) => Some(decode::<Entry<TypeConfig>>(v.value())?.log_id),
            None => None,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StResult<Vec<Entry<TypeConfig>>> {
        Ok(self.read_range(range).map_err(StorageIOError::read_logs)?)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StResult<LogState<TypeConfig>> {
        Ok(self.state().map_err(StorageIOError::read_logs)?)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StResult<()> {
        write(&self.db, |w| put_meta(w, "vote", vote)).map_err(StorageIOError::write_vote)?;
        Ok(())
    }

    async fn read_vote(&mut self) -> StResult<Option<Vote<NodeId>>> {
        Ok(get_meta(&self.db, "vote").map_err(StorageIOError::read_vote)?)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StResult<()> {
        write(&self.db, |w| put_meta(w, "committed", &committed)).map_err(StorageIOError::write)?;
        Ok(())
    }

    async fn read_committed(&mut self) -> StResult<Option<LogId<NodeId>>> {
        let c: Option<Option<LogId<NodeId>>> =
            get_meta(&self.db, "committed").map_err(StorageIOError::read)?;
        Ok(c.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = write(&self.db, |w| {
            let mut t = w.open_table(LOGS).map_err(any)?;
            for entry in entries {
                let bytes = encode(&entry)?;
                t.insert(entry.log_id.index, bytes.as_slice())
                    .map_err(any)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(())); // committed with fsync: durable
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StResult<()> {
        write(&self.db, |w| {
            let mut t = w.open_table(LOGS).map_err(any)?;
            t.retain_in(log_id.index.., |_, _| false).map_err(any)
        })
        .map_err(StorageIOError::write_logs)?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StResult<()> {
        write(&self.db, |w| {
            put_meta(w, "last_purged", &log_id)?;
            let mut t = w.open_table(LOGS).map_err(any)?;
            t.retain_in(..=log_id.index, |_, _| false).map_err(any)
        })
        .map_err(StorageIOError::write_logs)?;
        Ok(())
    }
}

/// A snapshot as stored and shipped: the whole [`MonState`] at `meta.last_log_id`.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

/// What the state machine holds in memory.
struct Machine {
    state: MonState,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

/// The monitor's state machine: [`MonState`] in memory, snapshots in redb. Cloning shares it.
#[derive(Clone)]
pub struct StateMachine {
    db: Arc<Database>,
    machine: Arc<Mutex<Machine>>,
    epoch_tx: Arc<watch::Sender<placement::Epoch>>,
}

impl StateMachine {
    /// The state machine in `db`, restored from its latest snapshot (or new, for `fsid`).
    pub fn open(db: Arc<Database>, fsid: placement::Fsid) -> Result<StateMachine, AnyError> {
        let (state, last_applied, membership) = match get_meta::<StoredSnapshot>(&db, "snapshot")? {
            Some(s) => (decode(&s.data)?, s.meta.last_log_id, s.meta.last_membership),
            None => (MonState::new(fsid), None, StoredMembership::default()),
        };
        let (epoch_tx, _) = watch::channel(state.map.epoch);
        Ok(StateMachine {
            db,
            machine: Arc::new(Mutex::new(Machine {
                state,
                last_applied,
                membership,
            })),
            epoch_tx: Arc::new(epoch_tx),
        })
    }

    /// Reads the current state (as applied on this monitor).
    pub fn read<T>(&self, f: impl FnOnce(&MonState) -> T) -> T {
        f(&self.machine.lock().expect("state machine lock").state)
    }

    /// Watches the applied map epoch (for subscribers).
    pub fn epochs(&self) -> watch::Receiver<placement::Epoch> {
        self.epoch_tx.subscribe()
    }

    fn publish(&self, epoch: placement::Epoch) {
        self.epoch_tx.send_if_modified(|e| {
            let newer = *e != epoch;
            *e = epoch;
            newer
        });
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StResult<Snapshot<TypeConfig>> {
        let (data, last_log_id, last_membership) = {
            let m = self.machine.lock().expect("state machine lock");
            let data = encode(&m.state).map_err(StorageIOError::read_state_machine)?;
            (data, m.last_applied, m.membership.clone())
        };
        let snapshot_id = match last_log_id {
            Some(id) => format!("{}-{}", id.leader_id, id.index),
            None => "empty".to_owned(),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        write(&self.db, |w| put_meta(w, "snapshot", &stored))
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> StResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let m = self.machine.lock().expect("state machine lock");
        Ok((m.last_applied, m.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StResult<Vec<MonResponse>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let (out, epoch) = {
            let mut m = self.machine.lock().expect("state machine lock");
            let mut out = Vec::new();
            for entry in entries {
                m.last_applied = Some(entry.log_id);
                out.push(match entry.payload {
                    EntryPayload::Blank => MonResponse::Epoch(m.state.map.epoch),
                    EntryPayload::Normal(cmd) => m.state.apply(&cmd),
                    EntryPayload::Membership(mem) => {
                        m.membership = StoredMembership::new(Some(entry.log_id), mem);
                        MonResponse::Epoch(m.state.map.epoch)
                    }
                });
            }
            (out, m.state.map.epoch)
        };
        self.publish(epoch);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StResult<()> {
        let data = snapshot.into_inner();
        let fail = |e| StorageIOError::write_snapshot(Some(meta.signature()), e);
        let state: MonState = decode(&data).map_err(fail)?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        write(&self.db, |w| put_meta(w, "snapshot", &stored)).map_err(fail)?;
        let epoch = state.map.epoch;
        {
            let mut m = self.machine.lock().expect("state machine lock");
            m.state = state;
            m.last_applied = meta.last_log_id;
            m.membership = meta.last_membership.clone();
        }
        self.publish(epoch);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StResult<Option<Snapshot<TypeConfig>>> {
        let s: Option<StoredSnapshot> =
            get_meta(&self.db, "snapshot").map_err(|e| StorageIOError::read_snapshot(None, e))?;
        Ok(s.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

#[cfg(test)]
mod tests;
