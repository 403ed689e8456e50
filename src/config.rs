//! `shoal.toml`: the one file naming a cluster's monitors, key and data directories.
//!
//! ```toml
//! fsid = "5a5a5a5a-..."
//! keyring = "keyring"          # relative paths are relative to this file
//! [[mons]]
//! id = 0
//! addr = "127.0.0.1:6789"
//! data = "mon.0"
//!
//! [mon]                        # optional; `shoal mon` flags override it
//! beacon_grace = 20            # seconds without a beacon before an OSD is marked down
//! down_out_interval = 600      # seconds down before an OSD is marked out
//! min_reporters = 2            # failure reporters on other hosts that mark an OSD down
//!
//! [gateway]                    # optional; `shoal gateway` flags override it
//! listen = "127.0.0.1:7480"
//! region = "us-east-1"
//! domains = ["s3.example.test"]
//! pool_size = 3                # and pool_min_size, pool_pg_num, failure_domain
//! index_shards = 8
//! gc_delay = 300               # seconds
//! janitor_after = 120          # seconds
//! max_uploads = 16
//! lc_every = 600               # seconds between lifecycle passes (lc_day_secs: tests)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A cluster's configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// The cluster's identity.
    pub fsid: String,
    /// The keyring file.
    pub keyring: PathBuf,
    /// The monitors.
    pub mons: Vec<MonEntry>,
    /// Monitor settings (`[mon]`).
    #[serde(default, skip_serializing_if = "MonSettings::is_empty")]
    pub mon: MonSettings,
    /// S3 gateway settings (`[gateway]`).
    #[serde(default, skip_serializing_if = "GatewaySettings::is_empty")]
    pub gateway: GatewaySettings,
    /// OSD settings (`[osd]`).
    #[serde(default, skip_serializing_if = "OsdSettings::is_empty")]
    pub osd: OsdSettings,
}

/// The optional `[osd]` table: settings of every `shoal osd` using this file (each field is
/// the flag of the same name; a flag wins over the file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsdSettings {
    /// Seconds between light scrubs of each PG.
    pub scrub_interval: Option<u64>,
    /// Seconds between deep scrubs of each PG.
    pub deep_scrub_interval: Option<u64>,
    /// Repair right after a scrub finds bad copies.
    pub auto_repair: Option<bool>,
}

impl OsdSettings {
    fn is_empty(&self) -> bool {
        *self == OsdSettings::default()
    }
}

/// The optional `[gateway]` table: settings of every `shoal gateway` using this file (each
/// field is the flag of the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--region`.
    pub region: Option<String>,
    /// `--domain`, repeated.
    pub domains: Option<Vec<String>>,
    /// `--pool-size`.
    pub pool_size: Option<u8>,
    /// `--pool-min-size`.
    pub pool_min_size: Option<u8>,
    /// `--pool-pg-num`.
    pub pool_pg_num: Option<u32>,
    /// `--failure-domain`.
    pub failure_domain: Option<String>,
    /// `--index-shards`.
    pub index_shards: Option<u32>,
    /// `--gc-delay` (seconds).
    pub gc_delay: Option<u64>,
    /// `--janitor-after` (seconds).
    pub janitor_after: Option<u64>,
    /// `--max-uploads`.
    pub max_uploads: Option<usize>,
    /// `--lc-day-secs`.
    pub lc_day_secs: Option<u64>,
    /// `--lc-every` (seconds).
    pub lc_every: Option<u64>,
}

impl GatewaySettings {
    fn is_empty(&self) -> bool {
        *self == GatewaySettings::default()
    }
}

/// The optional `[mon]` table: failure policy settings of every monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonSettings {
    /// Seconds without a beacon before an OSD is marked down.
    pub beacon_grace: Option<u64>,
    /// Seconds down before an OSD is marked out.
    pub down_out_interval: Option<u64>,
    /// Failure reporters (on other hosts) needed to mark an OSD down.
    pub min_reporters: Option<usize>,
}

impl MonSettings {
    fn is_empty(&self) -> bool {
        *self == MonSettings::default()
    }
}

/// One monitor in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonEntry {
    /// Its id (rank).
    pub id: u64,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data: PathBuf,
}

impl ClusterConfig {
    /// Reads `path`, resolving relative paths against its directory.
    pub fn load(path: &Path) -> anyhow::Result<ClusterConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let mut config: ClusterConfig =
            toml::from_str(&text).with_context(|| format!("bad config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.keyring = base.join(&config.keyring);
        for mon in &mut config.mons {
            mon.data = base.join(&mon.data);
        }
        if config.mons.is_empty() {
            bail!("{}: no [[mons]] listed", path.display());
        }
        Ok(config)
    }

    /// Writes the configuration to `path`.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The fsid, parsed.
    pub fn fsid(&self) -> anyhow::Result<placement::Fsid> {
        self.fsid.parse().context("bad fsid in config")
    }
}
