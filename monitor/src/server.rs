//! The monitor daemon (`shoal mon`): Raft node + the monitor service over the messenger.
//! A shell: decisions live in [`crate::state`], [`crate::policy`], [`crate::pg_states`] and
//! [`crate::health`]; this module owns the clock, the tick task and the channels.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft};
use placement::{ClusterMap, Epoch, Fsid, Placement};
use rados::proto::mon::{
    Admin, BackfillDone, Df, DfReport, GetMap, MapUpdate, MonError, MonInfo, OsdBeacon, OsdBoot,
    OsdFailure, PgDump, PgStatus, QuorumStatus, RecoveryStatus, Status, StatusReport, Subscribe,
};
use rados::{Keyring, Messenger, MessengerConfig, Router, Rpc};
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::network::{Contacts, Network, RaftAppend, RaftSnapshot, RaftVote};
use crate::pg_states::{PgDumpView, PgStates};
use crate::policy::{FailurePolicy, PolicyConfig};
use crate::state::{MonCommand, MonResponse};
use crate::store::{LogStore, NodeId, StateMachine, TypeConfig, open_db};
use crate::usage::UsageBook;

/// How often the leader runs the failure policy.
const TICK: Duration = Duration::from_millis(500);

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
            // A dead leader is replaced within 1.25-1.5 s: OSD failures are decided by the
            // leader, so its election bounds how long a fault that takes both stalls I/O.
            // openraft's followers stand only after a leader lease (the election maximum)
            // plus their election timeout have passed without a heartbeat.
            heartbeat: Duration::from_millis(150),
            election: (Duration::from_millis(500), Duration::from_millis(750)),
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
    /// When to mark OSDs down and out.
    pub policy: PolicyConfig,
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

/// An OSD's beacon or failure report, relayed by a follower to the leader. Never relayed
/// again: a monitor that is not the leader drops it (the OSD sends another soon).
#[derive(Debug, Serialize, Deserialize)]
pub struct Relay(pub Report);
impl Rpc for Relay {
    const METHOD: u16 = 161;
    type Reply = Result<(), MonError>;
}

/// What OSDs tell the monitors about liveness and PGs.
#[derive(Debug, Serialize, Deserialize)]
pub enum Report {
    /// A beacon.
    Beacon(OsdBeacon),
    /// A failure report.
    Failure(OsdFailure),
}

/// The leader's soft state about OSDs: not replicated, rebuilt by each new leader.
struct Lifecycle {
    policy: FailurePolicy,
    pgs: PgStates,
    /// The term in which this monitor became leader and reset `policy`.
    led_term: Option<u64>,
    /// Decisions made on becoming leader (from reports heard during the election), for the
    /// next caller that can propose them.
    to_enact: Vec<MonCommand>,
}

/// The lifecycle state, held by a monitor that is the leader, with the current map.
struct Leading<'a> {
    life: MutexGuard<'a, Lifecycle>,
    map: Arc<ClusterMap>,
    placement: Arc<Placement>,
    now: Duration,
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
    /// Space the OSDs reported in their beacons (soft state).
    usage: Mutex<UsageBook>,
    /// Recovery rates from beacons (soft state, like `usage`).
    recovery: Mutex<crate::recovery::RecoveryRates>,
    lifecycle: Mutex<Lifecycle>,
    /// The applied map and its compiled placement, rebuilt once per epoch.
    compiled: Mutex<Option<(Arc<ClusterMap>, Arc<Placement>)>>,
    /// The origin of the policy's clock (monotonic).
    clock: Instant,
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
            usage: Mutex::new(UsageBook::default()),
            recovery: Mutex::new(crate::recovery::RecoveryRates::default()),
            lifecycle: Mutex::new(Lifecycle {
                pgs: PgStates::new(opts.policy.beacon_grace),
                policy: FailurePolicy::new(opts.policy.clone()),
                led_term: None,
                to_enact: Vec::new(),
            }),
            compiled: Mutex::new(None),
            clock: Instant::now(),
        });
        monitor.messenger.serve(Arc::new(monitor.router()));
        tokio::spawn(drive(Arc::downgrade(&monitor)));

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
        info!(id = opts.id, %addr, policy = ?opts.policy, "monitor started");
        Ok(monitor)
    }

    fn router(self: &Arc<Self>) -> Router {
        let raft = self.raft.clone();
        let (r1, r2, r3) = (raft.clone(), raft.clone(), raft);
        let [m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12]: [Arc<Monitor>; 12] =
            std::array::from_fn(|_| self.clone());
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
                    let cmd = MonCommand::AdminOnce {
                        id: r.id,
                        cmd: r.cmd,
                    };
                    match m.propose(cmd).await? {
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
                    m.take_report(Report::Beacon(r), false);
                    Ok(())
                }
            })
            .route(move |r: OsdFailure, _| {
                let m = m8.clone();
                async move {
                    m.take_report(Report::Failure(r), false);
                    Ok(())
                }
            })
            .route(move |r: Relay, _| {
                let m = m9.clone();
                async move {
                    m.take_report(r.0, true);
                    Ok(())
                }
            })
            .route(move |_: PgDump, _| {
                let m = m10.clone();
                async move { m.pg_dump().await }
            })
            .route(move |_: Df, _| {
                let m = m12.clone();
                async move { Ok(m.df().await) }
            })
            .route(move |r: BackfillDone, _| {
                let m = m11.clone();
                async move {
                    match m.propose(MonCommand::BackfillDone(r)).await? {
                        MonResponse::Epoch(e) | MonResponse::Booted(_, e) => Ok(e),
                        MonResponse::Rejected(e) => Err(e),
                    }
                }
            })
    }

    /// Time since this monitor started, on a monotonic clock: the policy's `now`.
    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The applied map and its placement (compiled once per epoch).
    fn current(&self) -> (Arc<ClusterMap>, Arc<Placement>) {
        let mut compiled = self.compiled.lock().expect("compiled map lock");
        let epoch = self.sm.read(|s| s.map.epoch);
        if let Some((map, placement)) = &*compiled
            && map.epoch == epoch
        {
            return (map.clone(), placement.clone());
        }
        let map = Arc::new(self.sm.read(|s| s.map.clone()));
        let placement = Arc::new(Placement::new(&map));
        *compiled = Some((map.clone(), placement.clone()));
        (map, placement)
    }

    /// The lifecycle state if this monitor leads. The first call in a term resets the policy:
    /// a new leader gives every OSD a fresh grace period and forgets old PG reports.
    fn leading(&self) -> Option<Leading<'_>> {
        let (leader, term) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            (m.current_leader, m.current_term)
        };
        if leader != Some(self.id) {
            self.lifecycle.lock().expect("lifecycle lock").led_term = None;
            return None;
        }
        let (map, placement) = self.current();
        let now = self.now();
        let mut life = self.lifecycle.lock().expect("lifecycle lock");
        if life.led_term != Some(term) {
            info!(term, "leading: every OSD gets a fresh beacon grace period");
            let decided = life.policy.reset(now, &map);
            life.to_enact.extend(decided);
            life.pgs.clear();
            life.led_term = Some(term);
        }
        Some(Leading {
            life,
            map,
            placement,
            now,
        })
    }

    /// An OSD's beacon or failure report: decided here if this monitor leads, else relayed
    /// to the leader (once: a `relayed` report is dropped by a non-leader).
    fn take_report(self: &Arc<Self>, report: Report, relayed: bool) {
        if let Report::Beacon(b) = &report {
            self.usage
                .lock()
                .expect("usage lock")
                .observe(self.now(), b);
            self.recovery.lock().expect("recovery lock").observe(
                self.now(),
                b.id,
                b.recovered_objects,
                b.recovered_bytes,
            );
        }
        // Every monitor remembers failure reports for a while: if it becomes the leader in
        // an election the old leader's death started, it decides on them at once.
        if let Report::Failure(f) = &report {
            let now = self.now();
            let mut life = self.lifecycle.lock().expect("lifecycle lock");
            life.policy.note_report(now, f.target, f.reporter);
        }
        let Some(mut lead) = self.leading() else {
            match self.leader().and_then(|l| self.mons.get(&l)) {
                Some(addr) if !relayed => self.relay(*addr, report),
                _ => debug!(?report, "not the leader: report dropped"),
            }
            return;
        };
        let mut decided = std::mem::take(&mut lead.life.to_enact);
        let Leading {
            life,
            map,
            placement,
            now,
        } = &mut lead;
        match report {
            Report::Beacon(b) => {
                life.policy.handle_beacon(*now, b.id);
                life.pgs.handle_beacon(*now, placement, b.id, &b.pgs);
            }
            Report::Failure(f) => {
                decided.extend(life.policy.handle_report(*now, map, f.target, f.reporter));
            }
        }
        drop(lead);
        for cmd in decided {
            let me = self.clone();
            tokio::spawn(async move { me.enact(cmd).await });
        }
    }

    /// Sends `report` to the leader at `addr` without waiting for it.
    fn relay(&self, addr: SocketAddr, report: Report) {
        let messenger = self.messenger.clone();
        let wait = self.timing.heartbeat * 4;
        tokio::spawn(async move {
            let sent = tokio::time::timeout(wait, messenger.call(addr, &Relay(report))).await;
            if !matches!(sent, Ok(Ok(Ok(())))) {
                debug!(%addr, "relaying a report to the leader failed");
            }
        });
    }

    /// One run of the failure policy on the leader; proposes what it decides.
    async fn tick(&self) {
        let commands = {
            let Some(mut lead) = self.leading() else {
                return;
            };
            let now = lead.now;
            lead.life.pgs.prune(now, &lead.placement);
            let map = lead.map.clone();
            let mut commands = std::mem::take(&mut lead.life.to_enact);
            commands.extend(lead.life.policy.tick(now, &map));
            commands
        };
        for cmd in commands {
            self.enact(cmd).await;
        }
    }

    /// Commits a decision of the failure policy (retried by the next tick if it fails).
    async fn enact(&self, cmd: MonCommand) {
        let names = |ids: &[placement::OsdId]| {
            let names: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            names.join(",")
        };
        match &cmd {
            MonCommand::MarkDown(ids) => info!("failure policy: marking down {}", names(ids)),
            MonCommand::MarkOut(ids) => info!("failure policy: marking out {}", names(ids)),
            other => info!(?other, "failure policy"),
        }
        match self.propose_local(cmd).await {
            Ok(MonResponse::Rejected(e)) => warn!(error = %e, "failure policy: rejected"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "failure policy: not committed, will retry"),
        }
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
        let boot = matches!(cmd, MonCommand::Boot(_));
        match tokio::time::timeout(wait, self.raft.client_write(cmd)).await {
            Ok(Ok(resp)) => {
                if let (true, MonResponse::Booted(id, _)) = (boot, &resp.data) {
                    // A boot is a sign of life: the grace period starts now.
                    if let Some(mut lead) = self.leading() {
                        let now = lead.now;
                        lead.life.policy.handle_beacon(now, *id);
                    }
                }
                Ok(resp.data)
            }
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

    /// Asks the leader when this monitor is not it; `None` if it is, or if the leader does
    /// not answer promptly (a dead leader must not hold up the answer).
    async fn ask_leader<R, T>(&self, req: &R) -> Option<T>
    where
        R: Rpc<Reply = Result<T, MonError>>,
    {
        let leader = self.leader().filter(|l| *l != self.id)?;
        let addr = self.mons.get(&leader)?;
        let ask = self.messenger.call(*addr, req);
        match tokio::time::timeout(self.timing.heartbeat * 4, ask).await {
            Ok(Ok(Ok(answer))) => Some(answer),
            _ => None,
        }
    }

    /// Every PG with its state as this monitor knows it, and the map it is for.
    fn local_pg_dump(&self) -> (Arc<ClusterMap>, PgDumpView) {
        let (map, placement) = self.current();
        let now = self.now();
        let life = self.lifecycle.lock().expect("lifecycle lock");
        let view = life.pgs.dump(now, &map, &placement);
        (map, view)
    }

    /// `PgDump`: the leader keeps the PG reports, so a follower asks it.
    async fn pg_dump(&self) -> Result<Vec<PgStatus>, MonError> {
        if let Some(pgs) = self.ask_leader(&PgDump).await {
            return Ok(pgs);
        }
        Ok(self.local_pg_dump().1.pgs)
    }

    /// `Df`: the leader hears every beacon (followers relay theirs), so a follower asks it.
    async fn df(&self) -> DfReport {
        if let Some(report) = self.ask_leader(&Df).await {
            return report;
        }
        let (map, _) = self.current();
        self.usage
            .lock()
            .expect("usage lock")
            .report(self.now(), &map)
    }

    async fn status(&self) -> Result<StatusReport, MonError> {
        // The leader knows the whole quorum and the PG states: ask it when we are not it.
        if let Some(report) = self.ask_leader(&Status).await {
            return Ok(report);
        }
        let quorum = self.quorum();
        let (map, view) = self.local_pg_dump();
        let reported = (view.reported > 0).then_some(view.pgs.as_slice());
        let (health, checks, pgs) = crate::health::evaluate(&map, &quorum, reported);
        let (bytes, objects) = self.usage.lock().expect("usage lock").totals(&map);
        Ok(StatusReport {
            health,
            checks,
            quorum,
            map: ClusterMap::clone(&map),
            pgs,
            bytes,
            objects,
            pg_states: crate::health::count_states(&view.pgs),
            recovery: {
                let rates = self
                    .recovery
                    .lock()
                    .expect("recovery lock")
                    .total(self.now());
                let r = crate::recovery::summarize(&view.pgs, rates);
                RecoveryStatus {
                    degraded_objects: r.degraded,
                    misplaced_objects: r.misplaced,
                    objects_per_sec: r.objects_per_sec,
                    bytes_per_sec: r.bytes_per_sec,
                    eta_secs: r.eta_secs,
                }
            },
        })
    }

    /// This monitor's address.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.messenger.listen_addr()
    }
}

/// The leader's clock: runs the failure policy every [`TICK`] and notices leadership changes
/// as they happen (so a new leader resets the policy at once). Ends with the monitor.
async fn drive(monitor: Weak<Monitor>) {
    let Some(mut metrics) = monitor.upgrade().map(|m| m.raft.metrics()) else {
        return;
    };
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let tick = tokio::select! {
            _ = ticker.tick() => true,
            changed = metrics.changed() => {
                if changed.is_err() {
                    return; // Raft stopped
                }
                false
            }
        };
        let Some(m) = monitor.upgrade() else {
            return;
        };
        if tick {
            m.tick().await;
        } else {
            drop(m.leading());
        }
    }
}
