//! `shoal.toml`: the one file naming a cluster's monitors, key and data directories.
//!
//! ```toml
//! fsid = "5a5a5a5a-..."
//! keyring = "keyring"          # relative paths are relative to this file
//! [[mons]]
//! id = 0
//! addr = "127.0.0.1:6789"
//! data = "mon.0"
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
