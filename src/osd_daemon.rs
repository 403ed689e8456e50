//! `shoal osd --data DIR`: runs an OSD daemon until interrupted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use osd::daemon::{Osd, OsdOptions, OsdTiming};
use osd::pg::scrub::ScrubConfig;
use placement::{Location, OsdId, Weight};

use crate::config::ClusterConfig;

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
    /// random 0-50% per PG, so PGs do not all scrub at once).
    #[arg(long, env = "SHOAL_OSD_SCRUB_INTERVAL", default_value_t = 24 * 3600)]
    pub scrub_interval: u64,
    /// Seconds between deep scrubs of each PG (randomized likewise).
    #[arg(long, env = "SHOAL_OSD_DEEP_SCRUB_INTERVAL", default_value_t = 7 * 24 * 3600)]
    pub deep_scrub_interval: u64,
    /// Repair a PG right after a scrub finds bad copies.
    #[arg(long, env = "SHOAL_OSD_AUTO_REPAIR")]
    pub auto_repair: bool,
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
        scrub: ScrubConfig {
            interval: Duration::from_secs(args.scrub_interval.max(1)),
            deep_interval: Duration::from_secs(args.deep_scrub_interval.max(1)),
            auto_repair: args.auto_repair,
        },
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
