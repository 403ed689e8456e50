//! The monitor daemon (`shoal mon`): Raft node + the monitor service over the messenger.
//! A shell: decisions live in [`crate::state`] and [`crate::health`].

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft};
use placement::{Epoch, Fsid};
use rados::proto::mon::{
    Admin, GetMap, MapUpdate, MonError, MonInfo, OsdBeacon, OsdBoot, OsdFailure, QuorumStatus,
    Status, StatusReport, Subscribe,
};
use rados::{Keyring, Messenger, MessengerConfig, Router, Rpc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::network::{Contacts, Network, RaftAppend, RaftSnapshot, RaftVote};
use crate::state::{MonCommand, MonResponse};
use crate::store::{LogStore, NodeId, StateMachine, TypeConfig, open_db};

/// Timing of the quorum. Defaults suit a LAN or one machine.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Leader heartbeat interval.
    pub heartbeat: Duration,
    /// Election timeout range: a follower that hears no leader for this long stands.
    pub election: (Duration, Duration),
    /// How long a write may wait for quorum before failing with "no quorum".
    pub propose_timeout: Duration,
    /// How long a subscriber's request waits for a new epoch.
    pub subscribe_wait: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat: Duration::from_millis(250),
            election: (Duration::from_millis(1000), Duration::from_millis(2000)),
            propose_timeout: Duration::from_secs(5),
            subscribe_wait: Duration::from_secs(3),
        }
    }
}

/// What a monitor needs to start.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// This monitor's id.
    pub id: NodeId,
    /// Every monitor, by id.
    pub mons: BTreeMap<NodeId, SocketAddr>,
    /// Its data directory.
    pub data: PathBuf,
    /// The cluster key.
    pub keyring: Keyring,
    /// The cluster's identity.
    pub fsid: Fsid,
    /// Quorum timing.
    pub timing: Timing,
}

/// Why a monitor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The id is not among the configured monitors.
    #[error("mon.{0} is not in the monitor list")]
    UnknownId(NodeId),
    /// The data directory or database could not be opened.
    #[error("monitor store {path}: {reason}")]
    Store {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The messenger could not start.
    #[error(transparent)]
    Messenger(#[from] rados::MessengerError),
    /// Raft could not start.
    #[error("raft: {0}")]
    Raft(String),
}

/// A write forwarded from a follower to the leader.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forward(pub MonCommand);
impl Rpc for Forward {
    const METHOD: u16 = 160;
    type Reply = Result<MonResponse, MonError>;
}

/// A running monitor.
pub struct Monitor {
    id: NodeId,
    mons: BTreeMap<NodeId, SocketAddr>,
    raft: Raft<TypeConfig>,
    sm: StateMachine,
    messenger: Arc<Messenger>,
    contacts: Contacts,
    timing: Timing,
    usage: Mutex<HashMap<placement::OsdId, (u64, u64)>>,
}

impl Monitor {
    /// Starts the monitor and serves until the process ends.
    pub async fn start(opts: MonitorOptions) -> Result<Arc<Monitor>, StartError> {
        let addr = *opts
            .mons
            .get(&opts.id)
            .ok_or(StartError::UnknownId(opts.id))?;
        let store_err = |reason: String| StartError::Store {
            path: opts.data.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(&opts.data).map_err(|e| store_err(e.to_string()))?;
        let db = open_db(&opts.data.join("mon.redb")).map_err(|e| store_err(e.to_string()))?;
        let sm = StateMachine::open(db.clone(), opts.fsid).map_err(|e| store_err(e.to_string()))?;
        let messenger = Messenger::bind(
            addr,
            &opts.keyring,
            MessengerConfig {
                // Forwarded writes wait for the leader's quorum; a shorter timeout would
                // make the follower retry a write the leader may still commit.
                request_timeout: opts.timing.propose_timeout + Duration::from_secs(1),
                ..MessengerConfig::default()
            },
        )?;
        let contacts = Contacts::default();
        let config = openraft::Config {
            cluster_name: opts.fsid.to_string(),
            heartbeat_interval: opts.timing.heartbeat.as_millis() as u64,
            election_timeout_min: opts.timing.election.0.as_millis() as u64,
            election_timeout_max: opts.timing.election.1.as_millis() as u64,
            install_snapshot_timeout: 2000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 200,
            purge_batch_size: 64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let network = Network {
            messenger: messenger.clone(),
            contacts: contacts.clone(),
        };
        let raft = Raft::new(
            opts.id,
            Arc::new(config),
            network,
            LogStore::new(db),
            sm.clone(),
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let monitor = Arc::new(Monitor {
            id: opts.id,
            mons: opts.mons.clone(),
            raft,
            sm,
            messenger,
            contacts,
            timing: opts.timing,
            usage: Mutex::new(HashMap::new()),
        });
        monitor.messenger.serve(Arc::new(monitor.router()));

        let members: BTreeMap<NodeId, BasicNode> = opts
            .mons
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        match monitor.raft.initialize(members).await {
            Ok(()) => info!(id = opts.id, "initialized the monitor quorum"),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
            Err(e) => return Err(StartError::Raft(e.to_string())),
        }
        info!(id = opts.id, %addr, "monitor started");
        Ok(monitor)
    }

    fn router(self: &Arc<Self>) -> Router {
        let me = self.clone();
        let raft = self.raft.clone();
        let (r1, r2, r3) = (raft.clone(), raft.clone(), raft);
        let (m1, m2, m3, m4, m5, m6, m7) = (
            me.clone(),
            me.clone(),
            me.clone(),
            me.clone(),
            me.clone(),
            me.clone(),
            me,
        );
        Router::new()
            .route(move |r: RaftAppend, _| {
                let raft = r1.clone();
                async move { raft.append_entries(r.0).await }
            })
            .route(move |r: RaftVote, _| {
                let raft = r2.clone();
                async move { raft.vote(r.0).await }
            })
            .route(move |r: RaftSnapshot, _| {
                let raft = r3.clone();
                async move { raft.install_snapshot(r.0).await }
            })
            .route(move |r: GetMap, _| {
                let m = m1.clone();
                async move { Ok(m.sm.read(|s| s.updates_since(r.have))) }
            })
            .route(move |r: Subscribe, _| {
                let m = m2.clone();
                async move { Ok(m.subscribe(r.have).await) }
            })
            .route(move |r: OsdBoot, _| {
                let m = m3.clone();
                async move {
                    match m.propose(MonCommand::Boot(r)).await? {
                        MonResponse::Booted(id, epoch) => Ok((id, epoch)),
                        MonResponse::Rejected(e) => Err(e),
                        MonResponse::Epoch(_) => {
                            Err(MonError::Invalid("unexpected boot result".into()))
                        }
                    }
                }
            })
            .route(move |r: Admin, _| {
                let m = m4.clone();
                async move {
                    match m.propose(MonCommand::Admin(r.0)).await? {
                        MonResponse::Epoch(e) | MonResponse::Booted(_, e) => Ok(e),
                        MonResponse::Rejected(e) => Err(e),
                    }
                }
            })
            .route(move |r: Forward, _| {
                let m = m5.clone();
                async move { m.propose_local(r.0).await }
            })
            .route(move |_: Status, _| {
                let m = m6.clone();
                async move { m.status().await }
            })
            .route(move |r: OsdBeacon, _| {
                let m = m7.clone();
                async move {
                    m.usage
                        .lock()
                        .expect("usage lock")
                        .insert(r.id, (r.bytes, r.objects));
                    Ok(())
                }
            })
            .route(|_: OsdFailure, _| async { Ok(()) })
    }

    /// Waits for an epoch newer than `have` (or the subscribe wait), then returns the update.
    async fn subscribe(&self, have: Epoch) -> MapUpdate {
        let mut epochs = self.sm.epochs();
        let _ =
            tokio::time::timeout(self.timing.subscribe_wait, epochs.wait_for(|e| *e > have)).await;
        self.sm.read(|s| s.updates_since(Some(have)))
    }

    fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Commits `cmd` through the leader, forwarding if this monitor is not it.
    async fn propose(&self, cmd: MonCommand) -> Result<MonResponse, MonError> {
        let deadline = Instant::now() + self.timing.propose_timeout;
        loop {
            let result = match self.leader() {
                Some(id) if id == self.id => self.propose_local(cmd.clone()).await,
                Some(id) => match self.mons.get(&id) {
                    Some(addr) => self
                        .messenger
                        .call(*addr, &Forward(cmd.clone()))
                        .await
                        .unwrap_or(Err(MonError::NoQuorum)),
                    None => Err(MonError::NoQuorum),
                },
                None => Err(MonError::NoQuorum),
            };
            match result {
                Err(MonError::NoQuorum | MonError::NotLeader { .. })
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(MonError::NotLeader { .. }) => return Err(MonError::NoQuorum),
                other => return other,
            }
        }
    }

    /// Commits `cmd` on this monitor, which must be the leader. Refuses without a quorum
    /// *before* appending anything, so a refused command is never applied later.
    async fn propose_local(&self, cmd: MonCommand) -> Result<MonResponse, MonError> {
        let wait = self.timing.propose_timeout;
        match tokio::time::timeout(wait, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => {}
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                return Err(MonError::NotLeader {
                    leader: f.leader_id.and_then(|id| self.mons.get(&id).copied()),
                });
            }
            Ok(Err(_)) | Err(_) => return Err(MonError::NoQuorum),
        }
        match tokio::time::timeout(wait, self.raft.client_write(cmd)).await {
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(MonError::NotLeader {
                    leader: f.leader_id.and_then(|id| self.mons.get(&id).copied()),
                })
            }
            Ok(Err(e)) => {
                warn!(error = %e, "write failed");
                Err(MonError::Storage(e.to_string()))
            }
            Err(_) => Err(MonError::NoQuorum),
        }
    }

    /// Quorum as this monitor sees it; the leader knows who answered recently.
    fn quorum(&self) -> QuorumStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader;
        let fresh = self.timing.election.1 * 2;
        let contacts = self.contacts.lock().expect("contacts lock").clone();
        let mons = self
            .mons
            .iter()
            .map(|(id, addr)| MonInfo {
                id: *id,
                addr: *addr,
                in_quorum: leader.is_some()
                    && (*id == self.id
                        || (leader == Some(self.id)
                            && contacts.get(id).is_some_and(|t| t.elapsed() < fresh))
                        || (leader != Some(self.id) && leader == Some(*id))),
            })
            .collect();
        QuorumStatus {
            mons,
            leader,
            term: metrics.current_term,
            answered_by: self.id,
        }
    }

    async fn status(&self) -> Result<StatusReport, MonError> {
        // The leader knows the whole quorum: ask it when we are not it.
        if let Some(leader) = self.leader().filter(|l| *l != self.id) {
            if let Some(addr) = self.mons.get(&leader) {
                // Briefly: a dead leader must not hold up the answer.
                let ask = self.messenger.call(*addr, &Status);
                if let Ok(Ok(Ok(report))) =
                    tokio::time::timeout(self.timing.heartbeat * 4, ask).await
                {
                    return Ok(report);
                }
            }
        }
        let quorum = self.quorum();
        let map = self.sm.read(|s| s.map.clone());
        let (health, checks, pgs) = crate::health::evaluate(&map, &quorum);
        let (bytes, objects) = self
            .usage
            .lock()
            .expect("usage lock")
            .values()
            .fold((0, 0), |(b, o), (nb, no)| (b + nb, o + no));
        Ok(StatusReport {
            health,
            checks,
            quorum,
            map,
            pgs,
            bytes,
            objects,
        })
    }

    /// This monitor's address.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.messenger.listen_addr()
    }
}
