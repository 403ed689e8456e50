//! Incrementals: the unit in which the cluster map changes and travels.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::crush::Rule;
use crate::flag::Flag;
use crate::ids::{Epoch, Fsid, OsdId, PgId, PoolId, RuleId};
use crate::osd::{Location, OsdEntry, Weight};
use crate::pool::Pool;

/// One change to the map. Applied in order by [`ClusterMap::apply`](crate::ClusterMap::apply).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A new OSD (its id must be new).
    OsdAdd(OsdEntry),
    /// An OSD is deleted; pg_temp entries naming it are dropped.
    OsdRemove(OsdId),
    /// An OSD booted at `addr` and is up.
    OsdUp {
        /// The OSD.
        id: OsdId,
        /// Where it listens.
        addr: SocketAddr,
    },
    /// Where a booted OSD's gossip (failure detector) listens.
    OsdGossip {
        /// The OSD.
        id: OsdId,
        /// Its UDP address.
        addr: SocketAddr,
    },
    /// An OSD is down (keeps its PG slots).
    OsdDown(OsdId),
    /// An OSD is in (holds data).
    OsdIn(OsdId),
    /// An OSD is out (its PGs move elsewhere).
    OsdOut(OsdId),
    /// An OSD's CRUSH weight.
    OsdWeight {
        /// The OSD.
        id: OsdId,
        /// Its new weight.
        weight: Weight,
    },
    /// An OSD moved in the hierarchy.
    OsdLocation {
        /// The OSD.
        id: OsdId,
        /// Its new place.
        location: Location,
    },
    /// A new pool (its id and name must be new).
    PoolCreate(Pool),
    /// A pool is deleted, with its pg_temp entries.
    PoolRemove(PoolId),
    /// Overrides a PG's acting set.
    PgTempSet {
        /// The PG.
        pg: PgId,
        /// Its temporary acting set.
        osds: Vec<Option<OsdId>>,
    },
    /// Returns a PG to its CRUSH-computed acting set.
    PgTempClear(PgId),
    /// Sets (or, with `None`, resets to its default) a cluster-wide setting.
    ConfigSet {
        /// The setting's name (`crate::config`).
        key: String,
        /// Its new value.
        value: Option<u64>,
    },
    /// Sets an operator flag.
    FlagSet(Flag),
    /// Clears an operator flag.
    FlagClear(Flag),
    /// Adds or replaces a rule.
    RuleSet(Rule),
    /// Deletes a rule no pool uses.
    RuleRemove(RuleId),
}

/// The changes from one epoch to the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incremental {
    /// The cluster it belongs to.
    pub fsid: Fsid,
    /// The epoch it produces; it applies only to the map at `epoch - 1`.
    pub epoch: Epoch,
    /// What changes, in order.
    pub changes: Vec<Change>,
}
