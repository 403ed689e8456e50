//! `shoal cluster create` and `shoal mon`: creating a cluster's configuration and running a
//! monitor daemon.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use monitor::policy::PolicyConfig;
use monitor::server::{Monitor, MonitorOptions, Timing};
use rados::Keyring;

use crate::config::{ClusterConfig, MonEntry, MonSettings};

/// Arguments of `shoal cluster create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Directory for shoal.toml, the keyring and the monitors' data.
    #[arg(long)]
    dir: PathBuf,
    /// Number of monitors (1, 3 or 5).
    #[arg(long, default_value_t = 3)]
    mons: u16,
    /// Address monitors listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port of the first monitor; the others take the next ones.
    #[arg(long, default_value_t = 6789)]
    port: u16,
}

/// Failure policy flags of `shoal mon --id N`; they override shoal.toml's `[mon]` table.
#[derive(clap::Args, Debug, Default)]
pub struct PolicyArgs {
    /// Seconds without a beacon before an OSD is marked down [default: 20]
    #[arg(long, env = "SHOAL_BEACON_GRACE", value_name = "SECS")]
    beacon_grace: Option<u64>,
    /// Seconds an OSD stays down before it is marked out [default: 600]
    #[arg(long, env = "SHOAL_DOWN_OUT_INTERVAL", value_name = "SECS")]
    down_out_interval: Option<u64>,
    /// Failure reporters on other hosts needed to mark an OSD down [default: 2]
    #[arg(long, env = "SHOAL_MIN_REPORTERS", value_name = "N")]
    min_reporters: Option<usize>,
}

/// The failure policy: flags over the config's `[mon]` table over the defaults.
fn policy(flags: &PolicyArgs, file: &MonSettings) -> anyhow::Result<PolicyConfig> {
    let mut policy = PolicyConfig::default();
    if let Some(secs) = flags.beacon_grace.or(file.beacon_grace) {
        ensure!(secs >= 1, "beacon grace must be at least 1 second");
        policy.beacon_grace = Duration::from_secs(secs);
    }
    if let Some(secs) = flags.down_out_interval.or(file.down_out_interval) {
        policy.down_out_interval = Duration::from_secs(secs);
    }
    if let Some(n) = flags.min_reporters.or(file.min_reporters) {
        ensure!(n >= 1, "min reporters must be at least 1");
        policy.min_reporters = n;
    }
    Ok(policy)
}

/// Writes DIR/shoal.toml and DIR/keyring for a new cluster.
pub fn create(args: &CreateArgs) -> anyhow::Result<()> {
    let conf = create_config(&args.dir, args.mons, args.host, args.port)?;
    println!("{}", conf.display());
    Ok(())
}

/// Writes DIR/shoal.toml and DIR/keyring for a new cluster of `mons` monitors on
/// consecutive ports from `port`; returns the config's path.
pub fn create_config(dir: &Path, mons: u16, host: IpAddr, port: u16) -> anyhow::Result<PathBuf> {
    let args = CreateArgs {
        dir: dir.to_path_buf(),
        mons,
        host,
        port,
    };
    ensure!(
        matches!(args.mons, 1 | 3 | 5),
        "--mons must be 1, 3 or 5 (a quorum needs an odd count)"
    );
    let conf = args.dir.join("shoal.toml");
    if conf.exists() {
        bail!(
            "{} exists: a cluster is already configured there",
            conf.display()
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    Keyring::generate()?.save(&args.dir.join("keyring"))?;
    let config = ClusterConfig {
        fsid: new_fsid()?.to_string(),
        keyring: "keyring".into(),
        mons: (0..args.mons)
            .map(|i| MonEntry {
                id: u64::from(i),
                addr: SocketAddr::new(args.host, args.port + i),
                data: format!("mon.{i}").into(),
            })
            .collect(),
        mon: MonSettings::default(),
        gateway: Default::default(),
        osd: Default::default(),
    };
    config.save(&conf)?;
    Ok(conf)
}

/// A random fsid from the OS.
fn new_fsid() -> anyhow::Result<placement::Fsid> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(placement::Fsid(bytes))
}

/// Runs a monitor until interrupted.
pub fn run(id: u64, data: Option<&Path>, conf: &Path, flags: &PolicyArgs) -> anyhow::Result<()> {
    let config = ClusterConfig::load(conf)?;
    let policy = policy(flags, &config.mon).with_context(|| format!("mon.{id}"))?;
    let entry = config
        .mons
        .iter()
        .find(|m| m.id == id)
        .with_context(|| format!("mon.{id} is not in {}", conf.display()))?;
    let opts = MonitorOptions {
        id,
        mons: config
            .mons
            .iter()
            .map(|m| (m.id, m.addr))
            .collect::<BTreeMap<_, _>>(),
        data: data.map_or_else(|| entry.data.clone(), Path::to_path_buf),
        keyring: Keyring::load(&config.keyring)?,
        fsid: config.fsid()?,
        timing: Timing::default(),
        policy,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let _monitor = Monitor::start(opts).await?;
        tokio::signal::ctrl_c().await?;
        tracing::info!("monitor stopping");
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests;
