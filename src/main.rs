//! `shoal`: the one user-facing binary. A thin dispatcher: each subcommand lives in its own
//! module and calls into the library crates; errors become one line on stderr and exit 1.

mod admin;
mod args;
mod bench;
mod config;
mod connection;
mod crush_test;
mod debug_cli;
mod df_cli;
mod gateway;
mod lc_cli;
mod mon;
mod osd_daemon;
mod output;
mod parent_watch;
mod pg_cli;
mod rados_cli;
mod scrub_cli;
mod settings_cli;
mod storage_class_cli;
mod up;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::output::Format;

/// Shoal: a Ceph-style, self-healing object store.
#[derive(Parser, Debug)]
#[command(name = "shoal", version, about, propagate_version = true)]
struct Cli {
    /// Output format of every command.
    #[arg(long, global = true, value_enum, default_value_t = Format::Plain)]
    format: Format,
    /// The cluster's shoal.toml (monitors, keyring).
    #[arg(short = 'c', long = "conf", global = true, env = "SHOAL_CONF")]
    conf: Option<PathBuf>,
    /// Monitor addresses, comma-separated (instead of, or overriding, the config's).
    #[arg(
        long = "mon-addr",
        global = true,
        env = "SHOAL_MON",
        value_delimiter = ','
    )]
    mon_addr: Vec<SocketAddr>,
    /// The cluster keyring (default: the config's).
    #[arg(long, global = true, env = "SHOAL_KEYRING")]
    keyring: Option<PathBuf>,
    /// Seconds an admin request may take.
    #[arg(long, global = true, default_value_t = 15)]
    timeout: u64,
    /// A daemon exits once the process that started it is gone (a foreground `shoal up`
    /// passes it, so do tests).
    #[arg(long, global = true, hide = true)]
    exit_with_parent: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start (or restart) a local cluster as child processes; Ctrl-C stops it.
    Up(up::UpArgs),
    /// Stop the cluster `shoal up --detach` started from a directory.
    Down(up::DownArgs),
    /// Placement (CRUSH) tools.
    Crush {
        #[command(subcommand)]
        command: CrushCommand,
    },
    /// Create a new cluster's configuration and key.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Run a monitor daemon (`shoal mon --id N`), or `shoal mon stat`.
    Mon {
        #[command(subcommand)]
        command: Option<admin::MonCommand>,
        /// This monitor's id in shoal.toml (to run the daemon).
        #[arg(long)]
        id: Option<u64>,
        /// Data directory (default: the one in shoal.toml).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        policy: mon::PolicyArgs,
    },
    /// Cluster status: health, monitors, OSDs, pools, PGs, usage.
    Status,
    /// Space used per pool: objects, user data and raw bytes on the OSDs.
    Df,
    /// Health summary; `detail` lists every check.
    Health {
        /// Show each check's details.
        #[arg(value_parser = ["detail"])]
        detail: Option<String>,
    },
    /// Run an OSD daemon (`shoal osd --data DIR`), or manage OSDs (`shoal osd tree`, ...).
    #[command(args_conflicts_with_subcommands = true)]
    Osd {
        #[command(subcommand)]
        command: Option<admin::OsdCommand>,
        #[command(flatten)]
        daemon: osd_daemon::DaemonArgs,
    },
    /// Pool management.
    Pool {
        #[command(subcommand)]
        command: admin::PoolCommand,
    },
    /// Placement groups: states (`pg dump`), mapping (`pg map PGID`), scrub and repair.
    Pg {
        #[command(subcommand)]
        command: pg_cli::PgCommand,
    },
    /// Cluster-wide settings (backfill throttles): ls, get, set, rm.
    Config {
        #[command(subcommand)]
        command: settings_cli::ConfigCommand,
    },
    /// Object I/O on a pool, like Ceph's `rados`: put, get, stat, rm, ls, omap, xattrs.
    Rados(rados_cli::Args),
    /// Run the S3 gateway (`shoal gateway --listen 127.0.0.1:7480`).
    Gateway(gateway::GatewayArgs),
    /// Debugging a running cluster: `shoal debug faults TARGET` switches fault injection.
    Debug {
        #[command(subcommand)]
        command: debug_cli::DebugCommand,
    },
    /// S3 users and access keys.
    User {
        #[command(subcommand)]
        command: gateway::UserCommand,
    },
    /// S3 buckets: list them, count what one holds, keep deleted objects a while.
    Bucket {
        #[command(subcommand)]
        command: gateway::BucketCommand,
    },
    /// S3 storage classes and the pools behind them.
    StorageClass {
        #[command(subcommand)]
        command: storage_class_cli::StorageClassCommand,
    },
    /// S3 lifecycle: the rules' last passes per bucket, or a pass now.
    Lc {
        #[command(subcommand)]
        command: lc_cli::LcCommand,
    },
    /// Throughput benchmarks: the erasure codec in process, object PUT/GET on a pool.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand, Debug)]
enum CrushCommand {
    /// Map every PG of a synthetic cluster and report balance and data movement
    /// (like `crushtool --test`).
    Test(crush_test::Args),
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Write DIR/shoal.toml and DIR/keyring for a new cluster.
    Create(mon::CreateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let daemon = matches!(
        cli.command,
        Command::Mon { command: None, .. }
            | Command::Osd { command: None, .. }
            | Command::Gateway(_)
    );
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| {
        if daemon {
            "info,openraft=error,s3s::ops=off"
        } else {
            "warn,openraft=error"
        }
        .to_owned()
    });
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    if daemon
        && cli.exit_with_parent
        && let Err(e) = parent_watch::exit_with_parent()
    {
        eprintln!("error: cannot watch the parent process: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let format = cli.format;
    match &cli.command {
        Command::Up(args) => up::up(args),
        Command::Down(args) => up::down(args),
        Command::Crush {
            command: CrushCommand::Test(args),
        } => crush_test::run(args, format),
        Command::Cluster {
            command: ClusterCommand::Create(args),
        } => mon::create(args),
        Command::Mon {
            command: None,
            id,
            data,
            policy,
        } => {
            let id = id.context("shoal mon needs --id N (or a subcommand such as `stat`)")?;
            mon::run(id, data.as_deref(), conf_path(&cli)?, policy)
        }
        Command::Mon {
            command: Some(cmd), ..
        } => admin::mon(&connection(&cli)?, cmd, format),
        Command::Status => admin::show_status(&connection(&cli)?, format),
        Command::Df => {
            let report = connection::call(&connection(&cli)?, &rados::proto::mon::Df)?;
            df_cli::pools(&report, format)
        }
        Command::Health { detail } => {
            admin::show_health(&connection(&cli)?, detail.is_some(), format)
        }
        Command::Osd {
            command: None,
            daemon,
        } => osd_daemon::run(daemon, conf_path(&cli)?),
        // Offline: works on a stopped OSD's data directory, needs no monitors.
        Command::Osd {
            command: Some(admin::OsdCommand::Corrupt(args)),
            ..
        } => scrub_cli::corrupt(args, format),
        Command::Osd {
            command: Some(command),
            ..
        } => admin::osd(&connection(&cli)?, command, format),
        Command::Pool { command } => admin::pool(&connection(&cli)?, command, format),
        Command::Pg { command } => pg_cli::run(&connection(&cli)?, command, format),
        Command::Config { command } => settings_cli::run(&connection(&cli)?, command, format),
        Command::Rados(args) => rados_cli::run(&connection(&cli)?, args, format),
        Command::Gateway(args) => {
            let file = match &cli.conf {
                Some(path) => config::ClusterConfig::load(path)?.gateway,
                None => config::GatewaySettings::default(),
            };
            gateway::run(&connection(&cli)?, &file, args)
        }
        Command::User { command } => gateway::user(&connection(&cli)?, command, format),
        Command::Bucket { command } => gateway::bucket(&connection(&cli)?, command, format),
        Command::Lc { command } => lc_cli::lc(&connection(&cli)?, command, format),
        Command::StorageClass { command } => {
            storage_class_cli::storage_class(&connection(&cli)?, command, format)
        }
        Command::Debug { command } => debug_cli::run(&connection(&cli)?, command, format),
        // In process: needs no cluster.
        Command::Bench {
            command: bench::BenchCommand::Codec(args),
        } => bench::codec(args, format),
        Command::Bench {
            command: bench::BenchCommand::Rados(args),
        } => bench::rados(&connection(&cli)?, args, format),
        Command::Bench {
            command: bench::BenchCommand::S3(args),
        } => bench::s3::run(args, format),
    }
}

fn conf_path(cli: &Cli) -> anyhow::Result<&Path> {
    cli.conf
        .as_deref()
        .context("no cluster config: pass -c FILE or set SHOAL_CONF")
}

/// Monitors and key from flags, environment and config, in that order.
fn connection(cli: &Cli) -> anyhow::Result<connection::Connection> {
    let config = cli
        .conf
        .as_deref()
        .map(config::ClusterConfig::load)
        .transpose()?;
    let mons = if cli.mon_addr.is_empty() {
        config
            .as_ref()
            .map(|c| c.mons.iter().map(|m| m.addr).collect())
            .unwrap_or_default()
    } else {
        cli.mon_addr.clone()
    };
    if mons.is_empty() {
        bail!("no monitors: pass -c FILE (or SHOAL_CONF) or --mon-addr ADDR,...");
    }
    let keyring = match (&cli.keyring, &config) {
        (Some(path), _) => path.clone(),
        (None, Some(c)) => c.keyring.clone(),
        (None, None) => bail!("no keyring: pass --keyring FILE or -c FILE"),
    };
    Ok(connection::Connection {
        mons,
        keyring: rados::Keyring::load(&keyring)?,
        timeout: Duration::from_secs(cli.timeout),
    })
}
