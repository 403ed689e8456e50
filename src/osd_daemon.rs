//! `shoal osd --data DIR`: runs an OSD daemon until interrupted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use osd::daemon::{Osd, OsdOptions, OsdTiming};
use osd::pg::scrub::ScrubConfig;
use placement::{Location, OsdId, Weight};

use crate::config::{ClusterConfig, OsdSettings};

/// Flags of the OSD daemon.
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Data directory (created on first start; holds the store and the OSD's identity).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The id this data directory must have (checked, not assigned: the monitors assign
    /// ids on first boot).
    #[arg(long)]
    pub id: Option<u32>,
    /// Messenger address (port 0: any free port; the monitors learn the real one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Address for /metrics and /health (none by default).
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Host name in the CRUSH hierarchy (default: this machine's hostname).
    #[arg(long)]
    pub host: Option<String>,
    /// Zone in the CRUSH hierarchy.
    #[arg(long, default_value = "default")]
    pub zone: String,
    /// CRUSH weight (1.0 = 1 TiB by convention).
    #[arg(long, default_value = "1.0")]
    pub weight: Weight,
    /// Seconds between light scrubs of each PG this OSD is primary of (stretched by a
    /// random 0-50% per PG, so PGs do not all scrub at once). Default: 1 day, or the config
    /// file's `[osd] scrub_interval`.
    #[arg(long, env = "SHOAL_OSD_SCRUB_INTERVAL", value_name = "SECS")]
    pub scrub_interval: Option<u64>,
    /// Seconds between deep scrubs of each PG (randomized likewise). Default: 7 days, or
    /// `[osd] deep_scrub_interval`.
    #[arg(long, env = "SHOAL_OSD_DEEP_SCRUB_INTERVAL", value_name = "SECS")]
    pub deep_scrub_interval: Option<u64>,
    /// Repair a PG right after a scrub finds bad copies (default off, or `[osd]
    /// auto_repair`).
    #[arg(long, env = "SHOAL_OSD_AUTO_REPAIR")]
    pub auto_repair: bool,
}

/// Scrub settings: flags over the config file over the defaults.
fn scrub_config(args: &DaemonArgs, file: &OsdSettings) -> ScrubConfig {
    let defaults = ScrubConfig::default();
    let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
        flag.or(file)
            .map_or(default, |s| Duration::from_secs(s.max(1)))
    };
    ScrubConfig {
        interval: secs(args.scrub_interval, file.scrub_interval, defaults.interval),
        deep_interval: secs(
            args.deep_scrub_interval,
            file.deep_scrub_interval,
            defaults.deep_interval,
        ),
        auto_repair: args.auto_repair || file.auto_repair.unwrap_or(defaults.auto_repair),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Runs the OSD until Ctrl-C or a fatal error.
pub fn run(args: &DaemonArgs, conf: &Path) -> anyhow::Result<()> {
    let config = ClusterConfig::load(conf)?;
    let data = args
        .data
        .clone()
        .context("shoal osd needs --data DIR (or a subcommand such as `tree`)")?;
    let opts = OsdOptions {
        data,
        mons: config.mons.iter().map(|m| m.addr).collect(),
        keyring: rados::Keyring::load(&config.keyring)?,
        addr: args.addr,
        http: args.http,
        location: Location {
            zone: args.zone.clone(),
            host: args.host.clone().unwrap_or_else(hostname),
        },
        weight: args.weight,
        expect_id: args.id.map(OsdId),
        timing: OsdTiming::default(),
        store: osd::store::StoreConfig::default(),
        log_limits: osd::pg::LogLimits::default(),
        scrub: scrub_config(args, &config.osd),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let osd = Osd::start(opts).await?;
        tracing::info!(
            id = %osd.id(),
            addr = ?osd.addr(),
            http = ?osd.http_addr(),
            "osd serving"
        );
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r?;
                tracing::info!("osd stopping");
                Ok(())
            }
            e = osd.stopped() => Err(anyhow::Error::new(e)),
        }
    })
}

#[cfg(test)]
mod tests;
