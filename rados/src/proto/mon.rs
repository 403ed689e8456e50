//! The monitor service: cluster map distribution, OSD lifecycle, admin commands, status.

use std::net::SocketAddr;

use placement::{
    ClusterMap, DomainType, Epoch, Flag, Incremental, Location, OsdId, PoolKind, Weight,
};
use serde::{Deserialize, Serialize};

use crate::rpc::Rpc;

/// Why a monitor could not do what was asked. Says whether anything changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MonError {
    /// No quorum: the change was not made (and will not be, unless retried).
    #[error("no quorum: a majority of monitors is unreachable, the cluster map cannot change")]
    NoQuorum,
    /// This monitor is not the leader and could not forward; nothing changed.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader, if known.
        leader: Option<SocketAddr>,
    },
    /// Rejected by validation; nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// No pool of this name; nothing changed.
    #[error("pool {0:?} does not exist")]
    NoSuchPool(String),
    /// A pool of this name exists; nothing changed.
    #[error("pool {0:?} already exists")]
    PoolExists(String),
    /// No such OSD; nothing changed.
    #[error("osd.{0} does not exist")]
    NoSuchOsd(u32),
    /// The pool is wider than the failure domains that can hold it; nothing changed.
    #[error(
        "pool needs {need} distinct {}s but only {have} are available (try --failure-domain osd)", level.name()
    )]
    TooFewDomains {
        /// Positions per PG.
        need: usize,
        /// Live failure domains.
        have: usize,
        /// The failure-domain level.
        level: DomainType,
    },
    /// The monitor's storage failed; the change may or may not have been made.
    #[error("monitor storage error: {0}")]
    Storage(String),
}

/// What a map request returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MapUpdate {
    /// The caller is current.
    UpToDate(Epoch),
    /// Incrementals from the caller's epoch to the newest, in order.
    Incrementals(Vec<Incremental>),
    /// The whole map (the caller had none, or is further behind than the history kept).
    Full(Box<ClusterMap>),
}

/// Fetch the map: full, or incrementals since `have`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetMap {
    /// The epoch the caller holds, if any.
    pub have: Option<Epoch>,
}
impl Rpc for GetMap {
    const METHOD: u16 = 100;
    type Reply = Result<MapUpdate, MonError>;
}

/// Wait (up to the monitor's subscribe timeout) for an epoch newer than `have`, then return
/// it: how daemons follow the map as it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// The epoch the caller holds.
    pub have: Epoch,
}
impl Rpc for Subscribe {
    const METHOD: u16 = 101;
    type Reply = Result<MapUpdate, MonError>;
}

/// An OSD starting: assigns its id on first boot (by `uuid`, stable across restarts),
/// records where it is, and marks it up (and in, on first boot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsdBoot {
    /// The OSD's data directory identity.
    pub uuid: [u8; 16],
    /// Its messenger address.
    pub addr: SocketAddr,
    /// Where it sits in the hierarchy.
    pub location: Location,
    /// Its CRUSH weight (capacity).
    pub weight: Weight,
    /// Where its gossip failure detector listens (UDP).
    #[serde(default)]
    pub gossip: Option<SocketAddr>,
}
impl Rpc for OsdBoot {
    const METHOD: u16 = 102;
    type Reply = Result<(OsdId, Epoch), MonError>;
}

/// One OSD reports another as failed (unreachable), to any monitor (followers relay it to
/// the leader). Reports from enough OSDs on other hosts mark the target down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsdFailure {
    /// The suspected OSD.
    pub target: OsdId,
    /// Who reports it.
    pub reporter: OsdId,
}
impl Rpc for OsdFailure {
    const METHOD: u16 = 103;
    type Reply = Result<(), MonError>;
}

/// An OSD's periodic sign of life, to any monitor (followers relay it to the leader). An OSD
/// silent for the monitors' beacon grace (20 s by default) is marked down; `pgs` feed
/// [`PgDump`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsdBeacon {
    /// The OSD.
    pub id: OsdId,
    /// Its map epoch.
    pub epoch: Epoch,
    /// Bytes stored.
    pub bytes: u64,
    /// Objects stored.
    pub objects: u64,
    /// The PGs it is primary of, as it sees them.
    #[serde(default)]
    pub pgs: Vec<PgStatus>,
    /// Object copies it has made for recovery and backfill since it started (a counter:
    /// the monitors derive rates from successive beacons).
    #[serde(default)]
    pub recovered_objects: u64,
    /// Bytes of those copies.
    #[serde(default)]
    pub recovered_bytes: u64,
    /// The size of its store's file (free pages included).
    #[serde(default)]
    pub file_bytes: u64,
    /// PGs its store holds anything of (strays included).
    #[serde(default)]
    pub pgs_stored: u64,
    /// What it stores of each pool.
    #[serde(default)]
    pub pools: Vec<PoolStored>,
}

/// What one OSD stores of one pool (in its beacon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStored {
    /// The pool.
    pub pool: placement::PoolId,
    /// Bytes of its object copies or shards.
    pub bytes: u64,
    /// Its object copies or shards.
    pub objects: u64,
    /// Bytes of roll-back copies (an erasure-coded write's previous shard, kept until the
    /// write is known everywhere).
    pub rollback_bytes: u64,
}

/// One PG as its primary reports it (`shoal pg dump`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgStatus {
    /// The PG.
    pub pg: placement::PgId,
    /// Ceph-style state string, e.g. `active+clean`, `active+undersized+degraded`,
    /// `peering`, `recovering`, `down`.
    pub state: String,
    /// Its acting set.
    pub acting: Vec<OsdId>,
    /// First epoch of its current interval.
    pub since: Epoch,
    /// Its newest write.
    pub last_update: crate::proto::osd::Version,
    /// Objects in the PG (counted where it matters: degraded or backfilling PGs; else 0).
    #[serde(default)]
    pub objects: u64,
    /// Object copies missing from the acting set (fewer members than the pool's size).
    #[serde(default)]
    pub degraded: u64,
    /// Object copies still to be backfilled onto new members of the up set.
    #[serde(default)]
    pub misplaced: u64,
    /// Bad copies its last scrub found (0 until a scrub finds any); the monitors raise
    /// `OSD_SCRUB_ERRORS` and `PG_INCONSISTENT` from it.
    #[serde(default)]
    pub scrub_errors: u64,
}
impl Rpc for OsdBeacon {
    const METHOD: u16 = 104;
    type Reply = Result<(), MonError>;
}

/// Operator commands that change the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminCommand {
    /// Mark an OSD down.
    OsdDown(OsdId),
    /// Mark OSDs out, all in one epoch (their data moves once, not once per OSD).
    OsdOut(Vec<OsdId>),
    /// Mark OSDs in, all in one epoch.
    OsdIn(Vec<OsdId>),
    /// Set an OSD's CRUSH weight.
    OsdReweight(OsdId, Weight),
    /// Delete an OSD (it must be down).
    OsdRm(OsdId),
    /// Set a flag.
    SetFlag(Flag),
    /// Clear a flag.
    UnsetFlag(Flag),
    /// Create a pool.
    PoolCreate {
        /// Its name.
        name: String,
        /// Replicated or erasure.
        kind: PoolKind,
        /// PG count.
        pg_num: u32,
        /// Failure-domain level.
        failure_domain: DomainType,
    },
    /// Delete a pool.
    PoolRm(String),
    /// Set (or with `None` reset) a cluster-wide setting (`placement::config`).
    ConfigSet {
        /// The setting.
        key: String,
        /// Its value.
        value: Option<u64>,
    },
}

/// A PG's primary has backfilled every new member behind the pg_temp `temp`: the monitors
/// clear that entry (and only that one), so the PG moves to its CRUSH set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillDone {
    /// The PG.
    pub pg: placement::PgId,
    /// The pg_temp entry the primary served under.
    pub temp: Vec<Option<OsdId>>,
}
impl Rpc for BackfillDone {
    const METHOD: u16 = 120;
    type Reply = Result<Epoch, MonError>;
}

/// Runs an admin command on the leader; replies with the epoch that holds the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admin {
    /// Chosen by the client, the same on every retry: a command the monitors already applied
    /// answers what it answered then instead of being applied again (a retried
    /// `pool create` whose reply was lost reports success, not "already exists").
    pub id: u64,
    /// The command.
    pub cmd: AdminCommand,
}
impl Rpc for Admin {
    const METHOD: u16 = 105;
    type Reply = Result<Epoch, MonError>;
}

/// One monitor as `shoal mon stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonInfo {
    /// Its rank (id in the quorum).
    pub id: u64,
    /// Its address.
    pub addr: SocketAddr,
    /// Whether it answered the leader recently (or is the leader).
    pub in_quorum: bool,
}

/// Quorum view of the answering monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumStatus {
    /// Every monitor.
    pub mons: Vec<MonInfo>,
    /// The leader, if there is one.
    pub leader: Option<u64>,
    /// The Raft term.
    pub term: u64,
    /// Who answered.
    pub answered_by: u64,
}

/// A named health check, as `shoal health detail` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Code, e.g. `OSD_DOWN`.
    pub code: String,
    /// `HEALTH_WARN` or `HEALTH_ERR`.
    pub severity: String,
    /// One line.
    pub summary: String,
    /// Details, one per line.
    pub detail: Vec<String>,
}

/// PG counts by health: from the states primaries report, or derived from the map while no
/// PG has been reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgSummary {
    /// PGs in all pools.
    pub total: u64,
    /// PGs serving I/O with every copy.
    pub clean: u64,
    /// PGs serving I/O with fewer copies than `size` (`degraded`, `undersized`).
    pub degraded: u64,
    /// PGs not serving I/O (below `min_size`; or `down`, `peering`, `unknown`, ...).
    pub inactive: u64,
}

/// Cluster status (`shoal status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// `HEALTH_OK`, `HEALTH_WARN` or `HEALTH_ERR`.
    pub health: String,
    /// The checks behind it.
    pub checks: Vec<HealthCheck>,
    /// Quorum.
    pub quorum: QuorumStatus,
    /// The current map.
    pub map: ClusterMap,
    /// PG counts.
    pub pgs: PgSummary,
    /// Bytes and objects stored, from the latest beacons.
    pub bytes: u64,
    /// Objects stored.
    pub objects: u64,
    /// PG counts by state string as `pg dump` shows them (`unknown` where unreported).
    #[serde(default)]
    pub pg_states: std::collections::BTreeMap<String, u64>,
    /// Recovery and backfill progress.
    #[serde(default)]
    pub recovery: RecoveryStatus,
}

/// Recovery and backfill progress (`shoal status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RecoveryStatus {
    /// Object copies missing from acting sets.
    pub degraded_objects: u64,
    /// Object copies still to be backfilled onto new members.
    pub misplaced_objects: u64,
    /// Recovery rate, object copies per second.
    pub objects_per_sec: f64,
    /// Recovery rate, bytes per second.
    pub bytes_per_sec: f64,
    /// Estimated seconds left at the current rate.
    pub eta_secs: Option<u64>,
}

/// Asks for the cluster status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status;
impl Rpc for Status {
    const METHOD: u16 = 106;
    type Reply = Result<StatusReport, MonError>;
}

/// Space used, per OSD and per pool (`shoal osd df`, `shoal df`), from the OSDs' latest
/// beacons. Answered by the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Df;
impl Rpc for Df {
    const METHOD: u16 = 108;
    type Reply = Result<DfReport, MonError>;
}

/// Space used, per OSD and per pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DfReport {
    /// Every OSD in the map, by id.
    pub osds: Vec<OsdDf>,
    /// Every pool in the map, by id.
    pub pools: Vec<PoolDf>,
}

/// One OSD's row of `shoal osd df`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsdDf {
    /// The OSD.
    pub id: OsdId,
    /// Up in the map.
    pub up: bool,
    /// In the map (holds data by placement).
    #[serde(rename = "in")]
    pub is_in: bool,
    /// Data bytes its store holds, roll-back copies included.
    pub used_bytes: u64,
    /// The size of its store's file.
    pub file_bytes: u64,
    /// Objects (copies, shards and roll-back copies) its store holds.
    pub objects: u64,
    /// PGs its store holds anything of.
    pub pgs: u64,
    /// Seconds since its last beacon; `None` if none arrived since this monitor led.
    pub reported_secs_ago: Option<u64>,
}

/// One pool's row of `shoal df`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolDf {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: placement::PoolId,
    /// Objects: the copies (or shards) stored over the copies each object has, rounded
    /// to the nearest (exact once the pool is active+clean).
    pub objects: u64,
    /// Bytes of user data: the replicated copies' bytes over the pool's size, or the shards'
    /// bytes times k/(k+m) (stripe padding included).
    pub stored_bytes: u64,
    /// Bytes on the OSDs: every copy or shard, roll-back copies included.
    pub raw_bytes: u64,
}

/// Every PG of every pool in the current map (`shoal pg dump`), in PG order: the state its
/// primary reported in a recent beacon, else `unknown` with the map's acting set (since
/// epoch 0, last update 0'0). Answered by the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgDump;
impl Rpc for PgDump {
    const METHOD: u16 = 107;
    type Reply = Result<Vec<PgStatus>, MonError>;
}
