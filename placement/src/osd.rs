//! OSD entries as the cluster map records them.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::ParseIdError;
use crate::ids::{Epoch, OsdId};

/// CRUSH weight in 16.16 fixed point; by convention 1.0 = 1 TiB of capacity. Integer so that
/// every machine computes the same placement. Zero means "never place data here".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Weight(pub u32);

impl Weight {
    /// Weight 1.0.
    pub const ONE: Weight = Weight(0x1_0000);

    /// The nearest fixed-point weight to `w`; for CLI input only, never inside placement.
    pub fn from_f64(w: f64) -> Option<Weight> {
        let fixed = (w * 65536.0).round();
        (w.is_finite() && (0.0..=u32::MAX as f64).contains(&fixed)).then_some(Weight(fixed as u32))
    }

    /// The weight as a float, for display.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 65536.0
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.5}", self.as_f64())
    }
}

impl FromStr for Weight {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<f64>()
            .ok()
            .and_then(Weight::from_f64)
            .ok_or_else(|| ParseIdError::Weight(s.to_owned()))
    }
}

/// Where an OSD sits in the CRUSH hierarchy (root > zone > host > osd).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    /// Zone (a room, rack row or site); `default` on a single-zone cluster.
    pub zone: String,
    /// Host name; host names are unique across zones.
    pub host: String,
}

/// One OSD's entry in the cluster map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsdEntry {
    /// Its id.
    pub id: OsdId,
    /// Messenger address, known once it has booted.
    pub addr: Option<SocketAddr>,
    /// Its place in the hierarchy.
    pub location: Location,
    /// CRUSH weight (capacity).
    pub weight: Weight,
    /// Up: running and reachable, as the monitor last decided. Down OSDs keep their PG slots.
    pub up: bool,
    /// In: holds data. Out OSDs are replaced in their PGs (remap and backfill).
    #[serde(rename = "in")]
    pub is_in: bool,
    /// The epoch it last booted in. A restart starts new PG intervals even when the acting
    /// sets look the same, because the OSD lost its in-memory PG state.
    #[serde(default)]
    pub up_from: Epoch,
    /// Where its failure detector (SWIM gossip, UDP) listens, as it last booted. Like
    /// Ceph's heartbeat address, kept apart from the messenger's.
    #[serde(default)]
    pub gossip: Option<SocketAddr>,
}

impl OsdEntry {
    /// Whether placement can pick this OSD at all.
    pub fn is_placeable(&self) -> bool {
        self.is_in && self.weight.0 > 0
    }
}
