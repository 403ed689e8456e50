//! `shoal up` / `shoal down`: a whole local cluster as child processes of one command.
//! The first run creates DIR/shoal.toml and the key; later runs restart the same cluster
//! with its data. DIR/pids records the processes so `shoal down` stops exactly those.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::config::ClusterConfig;
use crate::connection::{Connection, status};

/// Flags of `shoal up`.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Monitors to run (1, 3 or 5; first run only).
    #[arg(long, default_value_t = 3)]
    mons: u16,
    /// OSDs to run.
    #[arg(long, default_value_t = 4)]
    osds: u16,
    /// Cluster directory: config, key, logs and every daemon's data.
    #[arg(long, default_value = "./shoal-data")]
    data: PathBuf,
    /// Port of the first monitor (first run only).
    #[arg(long, default_value_t = 6789)]
    port: u16,
    /// Return once the cluster is healthy, leaving it running (`shoal down` stops it).
    #[arg(long)]
    detach: bool,
    /// Seconds to wait for HEALTH_OK.
    #[arg(long, default_value_t = 120)]
    wait: u64,
    /// Where the S3 gateway listens.
    #[arg(long, default_value = "127.0.0.1:7480")]
    s3: std::net::SocketAddr,
    /// Run no S3 gateway (monitors and OSDs only, e.g. for chaos runs of the RADOS layer).
    #[arg(long, conflicts_with = "s3")]
    no_gateway: bool,
}

/// Flags of `shoal down`.
#[derive(clap::Args, Debug)]
pub struct DownArgs {
    /// The cluster directory given to `shoal up`.
    #[arg(long, default_value = "./shoal-data")]
    data: PathBuf,
}

const PIDS: &str = "pids";

/// Starts (or restarts) the cluster and waits for HEALTH_OK.
pub fn up(args: &UpArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    let dir = args
        .data
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.data.display()))?;
    if let Some(live) = running(&dir)? {
        bail!(
            "a cluster from {} is already running (pids {live:?}); stop it with `shoal down --data {}`",
            dir.display(),
            dir.display()
        );
    }
    let conf = dir.join("shoal.toml");
    let host: IpAddr = [127, 0, 0, 1].into();
    // Addresses another process holds are refused before anything starts or is written:
    // a monitor on a busy port would talk to someone else's cluster.
    let mon_addrs: Vec<SocketAddr> = if conf.exists() {
        ClusterConfig::load(&conf)?
            .mons
            .iter()
            .map(|m| m.addr)
            .collect()
    } else {
        (0..args.mons)
            .map(|i| SocketAddr::new(host, args.port.saturating_add(i)))
            .collect()
    };
    let mon_flag = if conf.exists() {
        format!("its monitors' addresses are in {}", conf.display())
    } else {
        "choose other monitor ports with --port".to_owned()
    };
    for addr in &mon_addrs {
        if let Err(e) = std::net::UdpSocket::bind(addr) {
            bail!(
                "monitor address {addr} is not free ({e}): another cluster may be running; {mon_flag}"
            );
        }
    }
    if !args.no_gateway
        && let Err(e) = std::net::TcpListener::bind(args.s3)
    {
        bail!(
            "S3 address {} is not free ({e}); choose another with --s3 ADDR (or run --no-gateway)",
            args.s3
        );
    }
    if !conf.exists() {
        crate::mon::create_config(&dir, args.mons, host, args.port)?;
        eprintln!("created a new cluster in {}", dir.display());
    }
    let config = ClusterConfig::load(&conf)?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut children = Vec::new();
    let detach = args.detach;
    let start = |name: &str, args: &[String]| -> anyhow::Result<(String, Child)> {
        // Appended to, never truncated: a restart keeps the evidence of the last run.
        let path = logs.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // In the foreground the cluster lives as long as this process, even a killed one.
        let tied = (!detach).then_some("--exit-with-parent");
        let child = Command::new(std::env::current_exe()?)
            .arg("-c")
            .arg(&conf)
            .args(tied)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok((name.to_owned(), child))
    };
    for mon in &config.mons {
        children.push(start(
            &format!("mon.{}", mon.id),
            &["mon".into(), "--id".into(), mon.id.to_string()],
        )?);
    }
    for i in 0..args.osds {
        let data = dir.join(format!("osd.{i}"));
        children.push(start(
            &format!("osd.{i}"),
            &[
                "osd".into(),
                "--data".into(),
                data.display().to_string(),
                // One CRUSH host per OSD, so replicas spread on one machine.
                "--host".into(),
                format!("node{i}"),
            ],
        )?);
    }
    let mut stopper = Stopper {
        children,
        pids: dir.join(PIDS),
        logs: logs.clone(),
    };
    stopper.record()?;

    let conn = Connection {
        mons: config.mons.iter().map(|m| m.addr).collect(),
        keyring: rados::Keyring::load(&config.keyring)?,
        timeout: Duration::from_secs(5),
    };
    wait_healthy(
        &conn,
        args.osds as usize,
        Duration::from_secs(args.wait),
        &mut stopper,
    )?;
    if args.no_gateway {
        println!("cluster is up: HEALTH_OK (no S3 gateway)");
        println!("  config:   {}", conf.display());
        println!("  logs:     {}", logs.display());
        println!("try:  shoal -c {} status", conf.display());
        return finish(args, stopper, &dir);
    }
    let gateway = start(
        "gateway",
        &[
            "gateway".into(),
            "--listen".into(),
            args.s3.to_string(),
            // Every OSD is its own host here: fewer than 3 OSDs means fewer copies.
            "--pool-size".into(),
            args.osds.clamp(1, 3).to_string(),
            "--pool-pg-num".into(),
            "32".into(),
        ],
    )?;
    stopper.children.push(gateway);
    stopper.record()?;
    wait_listening(args.s3, Duration::from_secs(args.wait), &mut stopper)?;
    let env = dir.join("s3.env");
    let user = crate::gateway::default_user(&conn, &env, args.s3)?;
    println!("cluster is up: HEALTH_OK");
    println!("  s3:       http://{} (user {:?})", args.s3, user.uid);
    println!(
        "  keys:     {} (`. {}` then `aws s3 ls`)",
        env.display(),
        env.display()
    );
    println!("  config:   {}", conf.display());
    println!("  keyring:  {}", config.keyring.display());
    for mon in &config.mons {
        println!("  mon.{}:    {}", mon.id, mon.addr);
    }
    println!("  logs:     {}", logs.display());
    println!("try:  shoal -c {} status", conf.display());
    finish(args, stopper, &dir)
}

/// Detaches (leaving the daemons running), or runs until Ctrl-C and stops them.
fn finish(args: &UpArgs, mut stopper: Stopper, dir: &Path) -> anyhow::Result<()> {
    if args.detach {
        stopper.children.clear(); // keep them running
        println!("stop: shoal down --data {}", dir.display());
        return Ok(());
    }
    println!("press Ctrl-C to stop the cluster");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tokio::signal::ctrl_c())?;
    eprintln!("stopping");
    Ok(())
}

/// Polls the cluster until HEALTH_OK with every OSD up, printing progress.
fn wait_healthy(
    conn: &Connection,
    osds: usize,
    within: Duration,
    stopper: &mut Stopper,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let mut last = String::new();
    loop {
        stopper.check_alive()?;
        let line = match status(conn) {
            Ok(report) => {
                let up = report.map.osds.values().filter(|o| o.up).count();
                if report.health == "HEALTH_OK" && up >= osds {
                    return Ok(());
                }
                format!("{} — osds up {up}/{osds}", report.health)
            }
            Err(e) => format!("waiting for the monitors ({e})"),
        };
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        if Instant::now() > deadline {
            bail!(
                "cluster not healthy within {within:?} (last: {last}); see the logs under the data directory"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the gateway accepts connections (it first creates its pools).
fn wait_listening(
    addr: std::net::SocketAddr,
    within: Duration,
    stopper: &mut Stopper,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        stopper.check_alive()?;
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the S3 gateway did not start listening on {addr} within {within:?}; see logs/gateway.log"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The started processes, by name (`mon.0`, `osd.1`, `gateway`): stopped on drop unless
/// detached.
struct Stopper {
    children: Vec<(String, Child)>,
    pids: PathBuf,
    logs: PathBuf,
}

/// Lines of a dead daemon's log shown when `shoal up` fails.
const LOG_TAIL: usize = 5;

impl Stopper {
    fn record(&self) -> anyhow::Result<()> {
        let mut f = std::fs::File::create(&self.pids)?;
        for (_, c) in &self.children {
            writeln!(f, "{}", c.id())?;
        }
        Ok(())
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, c) in &mut self.children {
            if let Some(status) = c.try_wait()? {
                let log = self.logs.join(format!("{name}.log"));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n  ");
                bail!(
                    "{name} (pid {}) exited with {status}; its log {} ends:\n  {tail}",
                    c.id(),
                    log.display()
                );
            }
        }
        Ok(())
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let pids: Vec<u32> = self.children.iter().map(|(_, c)| c.id()).collect();
        stop(&pids);
        for (_, c) in &mut self.children {
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.pids);
    }
}

/// SIGTERM, then SIGKILL for whatever is still running after a few seconds.
fn stop(pids: &[u32]) {
    let signal = |sig: &str, pid: u32| {
        let _ = Command::new("kill")
            .args([sig, &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    };
    for pid in pids {
        signal("-TERM", *pid);
    }
    for _ in 0..50 {
        if pids.iter().all(|p| !alive(*p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for pid in pids.iter().filter(|p| alive(**p)) {
        signal("-KILL", *pid);
    }
}

/// Whether `pid` runs a shoal daemon of this cluster (not a reused pid).
fn ours(pid: u32, conf: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let c = String::from_utf8_lossy(&c);
            c.contains(&*conf.to_string_lossy())
        })
        .unwrap_or(false)
}

fn alive(pid: u32) -> bool {
    // A zombie child still has a /proc entry; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.split(") ")
                .nth(1)
                .is_some_and(|rest| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The recorded processes of the cluster in `dir` that still run, if any.
fn running(dir: &Path) -> anyhow::Result<Option<Vec<u32>>> {
    let Ok(text) = std::fs::read_to_string(dir.join(PIDS)) else {
        return Ok(None);
    };
    let conf = dir.join("shoal.toml");
    let live: Vec<u32> = text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|p| alive(*p) && ours(*p, &conf))
        .collect();
    Ok((!live.is_empty()).then_some(live))
}

/// Stops exactly the processes `shoal up` recorded for this directory.
pub fn down(args: &DownArgs) -> anyhow::Result<()> {
    let dir = args
        .data
        .canonicalize()
        .with_context(|| format!("no cluster at {}", args.data.display()))?;
    match running(&dir)? {
        None => {
            let _ = std::fs::remove_file(dir.join(PIDS));
            println!("nothing running from {}", dir.display());
        }
        Some(pids) => {
            stop(&pids);
            let _ = std::fs::remove_file(dir.join(PIDS));
            println!("stopped {} processes", pids.len());
        }
    }
    Ok(())
}
