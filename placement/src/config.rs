//! Cluster-wide settings held in the map, so every daemon sees a change in the next epoch
//! (`shoal config set KEY VALUE`), like Ceph's `ceph config set`. Values are integers.

/// One known setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Its name.
    pub key: &'static str,
    /// Its value when unset.
    pub default: u64,
    /// The smallest value allowed.
    pub min: u64,
    /// One line for `shoal config ls`.
    pub help: &'static str,
}

/// Backfills an OSD takes part in at once, as source or target (Ceph's default: 1).
pub const OSD_MAX_BACKFILLS: Setting = Setting {
    key: "osd_max_backfills",
    default: 1,
    min: 1,
    help: "concurrent backfills per OSD (as source or target)",
};

/// Recovery and backfill bandwidth per OSD, bytes per second; 0 means unlimited.
pub const OSD_RECOVERY_MAX_BYTES_PER_SEC: Setting = Setting {
    key: "osd_recovery_max_bytes_per_sec",
    default: 100 << 20,
    min: 0,
    help: "backfill bandwidth per OSD in bytes/s (0: unlimited)",
};

/// Every known setting.
pub const SETTINGS: &[Setting] = &[OSD_MAX_BACKFILLS, OSD_RECOVERY_MAX_BYTES_PER_SEC];

/// The setting named `key`.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}
