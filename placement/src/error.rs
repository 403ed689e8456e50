//! Errors of the placement crate: one enum per purpose.

use crate::ids::{Epoch, OsdId, PgId, PoolId, RuleId};

/// Why an incremental could not be applied, or why a map fails its invariants.
/// Applying is atomic: on any of these errors the map is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The incremental belongs to another cluster.
    #[error("incremental is for cluster {got}, this map is {want}")]
    FsidMismatch {
        /// The map's fsid.
        want: crate::Fsid,
        /// The incremental's fsid.
        got: crate::Fsid,
    },
    /// The incremental does not follow this map's epoch.
    #[error("incremental for epoch {got} cannot follow map epoch {have}")]
    EpochGap {
        /// The map's current epoch.
        have: Epoch,
        /// The epoch the incremental produces.
        got: Epoch,
    },
    /// No OSD with this id.
    #[error("{0} does not exist")]
    NoSuchOsd(OsdId),
    /// An OSD with this id already exists.
    #[error("{0} already exists")]
    OsdExists(OsdId),
    /// No pool with this id.
    #[error("pool {0} does not exist")]
    NoSuchPool(PoolId),
    /// A pool with this id or name already exists.
    #[error("pool {0:?} already exists")]
    PoolExists(String),
    /// No rule with this id.
    #[error("rule {0} does not exist")]
    NoSuchRule(RuleId),
    /// A rule cannot be removed while pools use it.
    #[error("rule {rule} is used by pool {pool}")]
    RuleInUse {
        /// The rule.
        rule: RuleId,
        /// A pool that uses it.
        pool: PoolId,
    },
    /// Pool parameters are inconsistent.
    #[error("invalid pool {name:?}: {reason}")]
    InvalidPool {
        /// The pool's name.
        name: String,
        /// What is wrong, for the operator.
        reason: String,
    },
    /// A pg_temp entry names a PG or OSD that does not exist, or too many OSDs.
    #[error("invalid pg_temp for {pg}: {reason}")]
    InvalidPgTemp {
        /// The PG.
        pg: PgId,
        /// What is wrong.
        reason: String,
    },
    /// An OSD's host is listed under two zones.
    #[error("host {host:?} is in zone {first:?} and zone {second:?}")]
    HostInTwoZones {
        /// The host.
        host: String,
        /// One zone.
        first: String,
        /// The other zone.
        second: String,
    },
    /// A name used in the hierarchy is empty.
    #[error("{0} has an empty host or zone name")]
    EmptyLocation(OsdId),
    /// An unknown setting, or a value out of its range.
    #[error("setting {key}: {reason}")]
    InvalidSetting {
        /// The setting's name.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why a PG or object could not be mapped. Nothing changes on error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// No pool with this id at this epoch.
    #[error("pool {0} does not exist")]
    NoSuchPool(PoolId),
    /// The PG's seed is not below the pool's pg_num.
    #[error("PG {0} does not exist")]
    NoSuchPg(PgId),
    /// The pool names a rule the map lacks (the map failed its check).
    #[error("rule {0} does not exist")]
    NoSuchRule(RuleId),
}
