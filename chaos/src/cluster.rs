//! The cluster under test, driven through the `shoal` binary: `shoal up --detach` (or an
//! already running one), its daemons found by their command lines in `DIR/pids`, kill -9,
//! SIGSTOP/SIGCONT, restarts with the same command line, admin commands, and health from the
//! monitors. `DIR/pids` is kept current, so `shoal down` stops exactly the cluster's
//! processes, restarted ones included.
//!
//! Shell module: processes, files and the monitors; the decisions live in `schedule`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use placement::{ClusterMap, Placement};
use rados::proto::mon::{PgDump, PgStatus, Status, StatusReport};
use rados::{Keyring, Messenger, MessengerConfig, MonClient};
use tracing::{info, warn};

use crate::schedule::Target;

/// The part of `shoal.toml` chaos needs.
#[derive(serde::Deserialize)]
struct Conf {
    keyring: PathBuf,
    mons: Vec<MonConf>,
}

#[derive(serde::Deserialize)]
struct MonConf {
    addr: SocketAddr,
}

/// One daemon of the cluster.
#[derive(Debug)]
struct Daemon {
    /// Its full command line, to start it again.
    argv: Vec<OsString>,
    /// Its process while it runs.
    pid: Option<u32>,
    /// SIGSTOPped by us.
    stopped: bool,
    /// Isolated by us.
    isolated: bool,
}

/// A running cluster and what chaos did to it.
pub struct Cluster {
    shoal: PathBuf,
    /// The cluster directory (canonical).
    pub dir: PathBuf,
    conf: PathBuf,
    mon_client: MonClient,
    /// Monitor addresses.
    pub mons: Vec<SocketAddr>,
    /// The cluster key.
    pub keyring: Keyring,
    daemons: BTreeMap<Target, Daemon>,
    /// Recorded processes that are not daemons chaos knows: kept in `DIR/pids`.
    others: Vec<u32>,
    /// Processes we started, reaped as they exit.
    children: Vec<Child>,
    /// We started the cluster: `shoal down` when done.
    owned: bool,
}

/// A free UDP port `p` such that `p..p+n` are all free (monitors take consecutive ports).
fn free_ports(n: u16) -> anyhow::Result<u16> {
    for _ in 0..200 {
        let base = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        if base > u16::MAX - n {
            continue;
        }
        let held: Result<Vec<UdpSocket>, _> = (0..n)
            .map(|i| UdpSocket::bind(("127.0.0.1", base + i)))
            .collect();
        if held.is_ok() {
            return Ok(base);
        }
    }
    bail!("no {n} consecutive free UDP ports on 127.0.0.1")
}

/// A free TCP port on loopback.
fn free_tcp() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.split(") ")
                .nth(1)
                .is_some_and(|rest| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

fn signal(sig: &str, pid: u32) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .context("cannot run kill")?;
    ensure!(status.success(), "kill {sig} {pid} failed");
    Ok(())
}

fn cmdline(pid: u32) -> Option<Vec<OsString>> {
    use std::os::unix::ffi::OsStringExt;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect(),
    )
}

/// Whether a `shoal` command line runs an S3 gateway.
fn is_gateway(argv: &[OsString]) -> bool {
    argv.iter().any(|a| a == "gateway")
}

/// The address a gateway's command line listens on.
fn listen_of(argv: &[OsString]) -> Option<SocketAddr> {
    let i = argv.iter().position(|a| a == "--listen")?;
    argv.get(i + 1)?.to_str()?.parse().ok()
}

/// Which daemon a `shoal` command line runs, if it is a monitor or an OSD.
fn classify(argv: &[OsString]) -> Option<Target> {
    let args: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    if args.iter().any(|a| a == "mon") {
        return after("--id")?.parse().ok().map(Target::Mon);
    }
    if args.iter().any(|a| a == "osd") {
        let data = Path::new(after("--data")?);
        let name = data.file_name()?.to_str()?;
        return name.strip_prefix("osd.")?.parse().ok().map(Target::Osd);
    }
    None
}

/// Whether a status shows a recovered cluster: HEALTH_OK, every PG active+clean, and
/// `osds` OSDs in the map, all up.
pub fn healthy(report: &StatusReport, osds: usize) -> bool {
    let up = report.map.osds.values().filter(|o| o.up).count();
    report.health == "HEALTH_OK"
        && report.map.osds.len() == osds
        && up == osds
        && report.pgs.total > 0
        && report.pgs.clean == report.pgs.total
        && report.pg_states.keys().all(|s| s == "active+clean")
}

/// Whether every PG's report names the acting set `map` gives it: the reports describe the
/// current placement, not one from before the last map change (a primary whose PG was just
/// remapped still reports it clean until its next beacon).
pub fn reports_current(map: &ClusterMap, pgs: &[PgStatus]) -> bool {
    let placement = Placement::new(map);
    !pgs.is_empty()
        && pgs.iter().all(|s| {
            placement
                .map_pg(s.pg)
                .is_ok_and(|m| m.acting.iter().flatten().eq(s.acting.iter()))
        })
}

impl Cluster {
    /// Starts a new cluster in `dir` with `shoal up --detach` (with its S3 gateway on a free
    /// port if `gateway`); stopped with `shoal down` when dropped.
    pub fn start(
        shoal: &Path,
        dir: &Path,
        mons: u32,
        osds: u32,
        gateway: bool,
    ) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(dir)?;
        let port = free_ports(mons as u16)?;
        let s3 = if gateway {
            vec!["--s3".to_owned(), free_tcp()?.to_string()]
        } else {
            vec!["--no-gateway".to_owned()]
        };
        info!(dir = %dir.display(), port, "starting the cluster");
        let up = || {
            Command::new(shoal)
                .arg("up")
                .arg("--data")
                .arg(dir)
                .args(["--detach", "--wait", "180"])
                .args(["--mons", &mons.to_string(), "--osds", &osds.to_string()])
                .args(["--port", &port.to_string()])
                .args(&s3)
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("cannot run {}", shoal.display()))
        };
        let down = || {
            let _ = Command::new(shoal)
                .arg("down")
                .arg("--data")
                .arg(dir)
                .output();
        };
        let text = |out: &Output| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        let mut out = up()?;
        if !out.status.success() {
            // Once more on the same directory (a restart of what was created): under load a
            // first start can miss its HEALTH_OK wait.
            warn!(output = %text(&out), "shoal up failed; stopping it and starting again");
            down();
            out = up()?;
        }
        if !out.status.success() {
            down();
            bail!("shoal up failed: {}", text(&out));
        }
        let mut cluster = Cluster::attach(shoal, dir)?;
        cluster.owned = true;
        Ok(cluster)
    }

    /// Takes over the running `shoal up` cluster of `dir`; left running when dropped.
    pub fn attach(shoal: &Path, dir: &Path) -> anyhow::Result<Cluster> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("no cluster at {}", dir.display()))?;
        let conf = dir.join("shoal.toml");
        let text = std::fs::read_to_string(&conf)
            .with_context(|| format!("cannot read {}", conf.display()))?;
        let parsed: Conf =
            toml::from_str(&text).with_context(|| format!("bad {}", conf.display()))?;
        let keyring = Keyring::load(&dir.join(parsed.keyring))?;
        let mons: Vec<SocketAddr> = parsed.mons.iter().map(|m| m.addr).collect();
        let pids = std::fs::read_to_string(dir.join("pids"))
            .with_context(|| format!("no running cluster in {} (no pids file)", dir.display()))?;
        let mut daemons = BTreeMap::new();
        let mut others = Vec::new();
        let mut gateways = 0;
        for pid in pids.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
            let Some(argv) = cmdline(pid).filter(|_| alive(pid)) else {
                continue;
            };
            let target = if is_gateway(&argv) {
                gateways += 1;
                Some(Target::Gateway(gateways - 1))
            } else {
                classify(&argv)
            };
            match target {
                Some(t) => {
                    daemons.insert(
                        t,
                        Daemon {
                            argv,
                            pid: Some(pid),
                            stopped: false,
                            isolated: false,
                        },
                    );
                }
                None => others.push(pid),
            }
        }
        ensure!(
            daemons.keys().any(|t| matches!(t, Target::Osd(_))),
            "no running OSD recorded in {}/pids",
            dir.display()
        );
        let config = MessengerConfig {
            request_timeout: Duration::from_secs(5),
            ..MessengerConfig::default()
        };
        let messenger: Arc<Messenger> = Messenger::client(&keyring, config)?;
        Ok(Cluster {
            shoal: shoal.to_path_buf(),
            conf,
            mon_client: MonClient::new(messenger, mons.clone()),
            mons,
            keyring,
            daemons,
            others,
            children: Vec::new(),
            owned: false,
            dir,
        })
    }

    /// OSD daemons of the cluster (running or not).
    pub fn osd_count(&self) -> usize {
        self.daemons
            .keys()
            .filter(|t| matches!(t, Target::Osd(_)))
            .count()
    }

    /// Monitors of the cluster.
    pub fn mon_count(&self) -> usize {
        self.mons.len()
    }

    /// Where the S3 gateways listen, `gw.0` first.
    pub fn gateway_addrs(&self) -> Vec<SocketAddr> {
        self.daemons
            .iter()
            .filter(|(t, _)| matches!(t, Target::Gateway(_)))
            .filter_map(|(_, d)| listen_of(&d.argv))
            .collect()
    }

    /// Starts one more S3 gateway, like `gw.0` but on a free port; returns where it listens
    /// once it does.
    pub async fn add_gateway(&mut self) -> anyhow::Result<SocketAddr> {
        let n = self
            .daemons
            .keys()
            .filter(|t| matches!(t, Target::Gateway(_)))
            .count() as u32;
        let first = self
            .daemons
            .get(&Target::Gateway(0))
            .context("the cluster has no S3 gateway to copy")?;
        let addr = free_tcp()?;
        let mut argv = first.argv.clone();
        let at = argv
            .iter()
            .position(|a| a == "--listen")
            .context("gw.0 has no --listen")?;
        argv[at + 1] = addr.to_string().into();
        let t = Target::Gateway(n);
        self.launch(t, argv)?;
        for _ in 0..600 {
            self.check_alive()?;
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(addr);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{t} did not listen on {addr} within a minute")
    }

    /// A client of the cluster's monitors.
    pub fn mon_client(&self) -> MonClient {
        self.mon_client.clone()
    }

    /// The monitors' status report.
    pub async fn status(&self) -> anyhow::Result<StatusReport> {
        Ok(self.mon_client.call(&Status).await?)
    }

    /// Whether the cluster has recovered: [`healthy`] and [`reports_current`].
    pub async fn recovered(&self) -> anyhow::Result<(bool, StatusReport)> {
        let report = self.status().await?;
        if !healthy(&report, self.osd_count()) {
            return Ok((false, report));
        }
        let pgs = self.mon_client.call(&PgDump).await?;
        Ok((reports_current(&report.map, &pgs), report))
    }

    /// Runs `shoal -c CONF ARGS...`; fails with its output unless it succeeds.
    pub fn shoal(&self, args: &[&str]) -> anyhow::Result<String> {
        let out: Output = Command::new(&self.shoal)
            .arg("-c")
            .arg(&self.conf)
            .args(["--timeout", "20"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.shoal.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "shoal {} failed: {}{}",
                args.join(" "),
                stdout,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(stdout)
    }

    /// The map id of the OSD with layout index `index` (CRUSH host `node{index}`).
    pub async fn osd_id(&self, index: u32) -> anyhow::Result<u32> {
        let host = format!("node{index}");
        let report = self.status().await?;
        report
            .map
            .osds
            .values()
            .find(|o| o.location.host == host)
            .map(|o| o.id.0)
            .with_context(|| format!("no OSD on host {host} in the map"))
    }

    /// The layout index of the OSD with map id `id`.
    pub async fn osd_index(&self, id: u32) -> anyhow::Result<u32> {
        let report = self.status().await?;
        let osd = report
            .map
            .osds
            .get(&placement::OsdId(id))
            .with_context(|| format!("osd.{id} is not in the map"))?;
        osd.location
            .host
            .strip_prefix("node")
            .and_then(|n| n.parse().ok())
            .with_context(|| {
                format!(
                    "osd.{id} is on host {}, not a `shoal up` node",
                    osd.location.host
                )
            })
    }

    /// The data directory of the OSD with layout index `index`.
    pub fn osd_data(&self, index: u32) -> PathBuf {
        self.dir.join(format!("osd.{index}"))
    }

    fn daemon(&mut self, t: Target) -> anyhow::Result<&mut Daemon> {
        self.daemons
            .get_mut(&t)
            .with_context(|| format!("{t} is not a running daemon of this cluster"))
    }

    /// Rewrites `DIR/pids` with every running daemon.
    fn record(&self) -> anyhow::Result<()> {
        let mut text = String::new();
        for pid in self
            .daemons
            .values()
            .filter_map(|d| d.pid)
            .chain(self.others.iter().copied())
        {
            text.push_str(&format!("{pid}\n"));
        }
        let tmp = self.dir.join("pids.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.dir.join("pids"))?;
        Ok(())
    }

    fn reap(&mut self) {
        self.children
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
    }

    /// kill -9 `t` and waits until it is gone.
    pub async fn kill(&mut self, t: Target) -> anyhow::Result<()> {
        self.end(t, "-KILL").await
    }

    /// Stops `t` cleanly (SIGTERM) and waits until it is gone.
    pub async fn terminate(&mut self, t: Target) -> anyhow::Result<()> {
        self.end(t, "-TERM").await
    }

    async fn end(&mut self, t: Target, sig: &str) -> anyhow::Result<()> {
        let d = self.daemon(t)?;
        let pid = d
            .pid
            .take()
            .with_context(|| format!("{t} is not running"))?;
        d.stopped = false;
        d.isolated = false;
        signal(sig, pid)?;
        // Up to 10 s: a clean stop flushes and closes the store.
        for _ in 0..400 {
            self.reap();
            if !alive(pid) {
                return self.record();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("{t} (pid {pid}) survived kill {sig}")
    }

    /// Starts `t` again with its command line, logging to `DIR/logs/T.log`.
    pub fn restart(&mut self, t: Target) -> anyhow::Result<()> {
        let log = self.dir.join("logs").join(format!("{t}.log"));
        let d = self.daemon(t)?;
        ensure!(d.pid.is_none(), "{t} is already running");
        let child = spawn(&d.argv, &log)?;
        d.pid = Some(child.id());
        self.children.push(child);
        self.record()
    }

    /// Starts a new OSD with layout index `index` (data `DIR/osd.N`, host `nodeN`).
    pub fn add_osd(&mut self, index: u32) -> anyhow::Result<()> {
        let t = Target::Osd(index);
        ensure!(!self.daemons.contains_key(&t), "{t} exists");
        let data = self.osd_data(index);
        let argv: Vec<OsString> = vec![
            self.shoal.clone().into(),
            "-c".into(),
            self.conf.clone().into(),
            "osd".into(),
            "--data".into(),
            data.into(),
            "--host".into(),
            format!("node{index}").into(),
        ];
        self.launch(t, argv)
    }

    /// Registers a new daemon `t` with its command line and starts it.
    fn launch(&mut self, t: Target, argv: Vec<OsString>) -> anyhow::Result<()> {
        self.daemons.insert(
            t,
            Daemon {
                argv,
                pid: None,
                stopped: false,
                isolated: false,
            },
        );
        self.restart(t)
    }

    /// SIGSTOP (`stop`) or SIGCONT `t`.
    pub fn pause(&mut self, t: Target, stop: bool) -> anyhow::Result<()> {
        let d = self.daemon(t)?;
        let pid = d.pid.with_context(|| format!("{t} is not running"))?;
        signal(if stop { "-STOP" } else { "-CONT" }, pid)?;
        d.stopped = stop;
        Ok(())
    }

    /// The `shoal debug faults` name of `t`.
    async fn fault_target(&self, t: Target) -> anyhow::Result<String> {
        Ok(match t {
            Target::Osd(i) => format!("osd.{}", self.osd_id(i).await?),
            Target::Mon(i) => format!("mon.{i}"),
            Target::Gateway(_) | Target::Leader => bail!("{t}: no messenger fault rules to set"),
        })
    }

    /// Isolates `t` from everyone (`on`) or clears its fault rules.
    pub async fn isolate(&mut self, t: Target, on: bool) -> anyhow::Result<()> {
        let name = self.fault_target(t).await?;
        let flag = if on { "--isolate" } else { "--clear" };
        self.shoal(&["debug", "faults", &name, flag])?;
        self.daemon(t)?.isolated = on;
        Ok(())
    }

    /// Fails if a daemon we expect to run has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.reap();
        for (t, d) in &self.daemons {
            if let Some(pid) = d.pid.filter(|p| !alive(*p)) {
                bail!(
                    "{t} (pid {pid}) exited on its own; see {}/logs/{t}.log",
                    self.dir.display()
                );
            }
        }
        Ok(())
    }

    /// Undoes what chaos did and is still in force: continues stopped daemons, heals
    /// isolated ones, restarts killed ones. Best effort, for error paths.
    pub async fn restore(&mut self) {
        let targets: Vec<Target> = self.daemons.keys().copied().collect();
        for t in targets {
            let (stopped, isolated, down) = {
                let d = &self.daemons[&t];
                (d.stopped, d.isolated, d.pid.is_none())
            };
            let result = async {
                if stopped {
                    self.pause(t, false)?;
                }
                if isolated {
                    self.isolate(t, false).await?;
                }
                if down {
                    self.restart(t)?;
                }
                anyhow::Ok(())
            }
            .await;
            if let Err(e) = result {
                warn!(%t, error = %e, "could not restore");
            }
        }
    }
}

fn spawn(argv: &[OsString], log: &Path) -> anyhow::Result<Child> {
    let (exe, args) = argv.split_first().context("empty command line")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.to_string_lossy()))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A stopped daemon ignores SIGTERM until continued.
        for d in self.daemons.values().filter(|d| d.stopped) {
            if let Some(pid) = d.pid {
                let _ = signal("-CONT", pid);
            }
        }
        if self.owned {
            let _ = Command::new(&self.shoal)
                .arg("down")
                .arg("--data")
                .arg(&self.dir)
                .stdout(Stdio::null())
                .status();
        }
        for c in &mut self.children {
            if self.owned {
                let _ = c.kill();
            }
            let _ = c.try_wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn daemons_are_recognised_by_their_command_lines() {
        assert_eq!(
            classify(&argv("/b/shoal -c /d/shoal.toml mon --id 2")),
            Some(Target::Mon(2))
        );
        assert_eq!(
            classify(&argv(
                "/b/shoal -c /d/shoal.toml osd --data /d/osd.3 --host node3"
            )),
            Some(Target::Osd(3))
        );
        assert_eq!(
            classify(&argv(
                "/b/shoal -c /d/shoal.toml gateway --listen 127.0.0.1:1"
            )),
            None
        );
        assert_eq!(
            classify(&argv("/b/shoal -c /d/shoal.toml osd --data /d/x")),
            None
        );
    }
}
