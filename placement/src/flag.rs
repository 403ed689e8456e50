//! Cluster-wide switches ([`Flag`]) an operator sets for maintenance, held in the map.

use serde::{Deserialize, Serialize};

/// Cluster-wide switches an operator sets for maintenance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Never mark down OSDs out automatically.
    Noout,
    /// Never mark booting OSDs in automatically.
    Noin,
    /// Do not mark OSDs up.
    Noup,
    /// Do not mark OSDs down.
    Nodown,
    /// Do not start backfill.
    Nobackfill,
    /// Do not start recovery.
    Norecover,
    /// Do not start scheduled light scrubs.
    Noscrub,
    /// Do not start scheduled deep scrubs.
    NoDeepScrub,
    /// Stop all client reads and writes.
    Pause,
}

impl Flag {
    /// Every flag, for CLI parsing and listing.
    pub const ALL: [Flag; 9] = [
        Flag::Noout,
        Flag::Noin,
        Flag::Noup,
        Flag::Nodown,
        Flag::Nobackfill,
        Flag::Norecover,
        Flag::Noscrub,
        Flag::NoDeepScrub,
        Flag::Pause,
    ];

    /// The name operators type, as in `ceph osd set noout`.
    pub fn name(self) -> &'static str {
        match self {
            Flag::Noout => "noout",
            Flag::Noin => "noin",
            Flag::Noup => "noup",
            Flag::Nodown => "nodown",
            Flag::Nobackfill => "nobackfill",
            Flag::Norecover => "norecover",
            Flag::Noscrub => "noscrub",
            Flag::NoDeepScrub => "nodeep-scrub",
            Flag::Pause => "pause",
        }
    }

    /// The flag with this name.
    pub fn from_name(name: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.name() == name)
    }
}
