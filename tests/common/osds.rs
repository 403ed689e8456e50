//! OSD processes for end-to-end tests: `shoal osd --data DIR` per OSD, each on its own CRUSH
//! host so replicas spread, killed by PID when the harness drops (also on panic).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rados::client::{ClientConfig, RadosClient};

use super::{Monitors, json, kill_child};

/// A RADOS client of the monitors' cluster whose operations give up after `op_timeout`.
pub async fn connect(mons: &Monitors, op_timeout: Duration) -> std::sync::Arc<RadosClient> {
    let keyring = rados::Keyring::load(&mons.dir.0.join("keyring")).unwrap();
    let config = ClientConfig {
        op_timeout,
        ..ClientConfig::default()
    };
    RadosClient::connect(mons.addrs.clone(), &keyring, config)
        .await
        .unwrap()
}

/// A free TCP port on loopback.
fn free_tcp_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET path` over plain HTTP/1.1; returns the body.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "GET {path}: {out}");
    out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

/// A set of OSD daemons of one cluster.
pub struct Osds {
    conf: PathBuf,
    root: PathBuf,
    procs: Vec<Option<Child>>,
    /// Where each OSD serves `/metrics` and `/health`.
    pub http: Vec<std::net::SocketAddr>,
}

impl Osds {
    /// Starts `n` OSDs against `mons`' config, data under the monitors' temp dir.
    pub fn start(mons: &Monitors, n: usize) -> Osds {
        let mut osds = Osds {
            conf: mons.conf.clone(),
            root: mons.dir.0.clone(),
            procs: (0..n).map(|_| None).collect(),
            http: (0..n).map(|_| free_tcp_addr()).collect(),
        };
        for i in 0..n {
            osds.restart(i);
        }
        osds
    }

    /// Starts OSD `i` (again), with the same data directory.
    pub fn restart(&mut self, i: usize) {
        assert!(self.procs[i].is_none(), "osd {i} is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(format!("osd.{i}.log")))
            .unwrap();
        let data = self.root.join(format!("osd.{i}"));
        let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .arg("--exit-with-parent")
            .arg("-c")
            .arg(&self.conf)
            .arg("osd")
            .arg("--data")
            .arg(&data)
            .args(["--host", &format!("host{i}")])
            .args(["--http", &self.http[i].to_string()])
            .env("RUST_LOG", "info,osd=debug,openraft=error")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.procs[i] = Some(child);
    }

    /// kill -9 of OSD `i`.
    pub fn kill(&mut self, i: usize) {
        kill_child(&mut self.procs[i]);
    }

    /// Starts one more OSD (a new data directory, on its own host); returns its index.
    pub fn add(&mut self) -> usize {
        self.procs.push(None);
        self.http.push(free_tcp_addr());
        let i = self.procs.len() - 1;
        self.restart(i);
        i
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to OSD `i`, which must be running.
    pub fn signal(&self, i: usize, signal: &str) {
        let pid = self.procs[i].as_ref().expect("osd running").id();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal} {pid}");
    }

    /// The log of OSD `i`, for failure messages.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.root.join(format!("osd.{i}.log"))).unwrap_or_default()
    }

    /// All logs, for failure messages.
    pub fn logs(&self) -> String {
        (0..self.procs.len())
            .map(|i| format!("--- osd {i} ---\n{}", self.log(i)))
            .collect()
    }
}

impl Drop for Osds {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            // A stopped process dies of SIGKILL too; CONT first so nothing lingers.
            if let Some(child) = &self.procs[i] {
                let _ = Command::new("kill")
                    .args(["-CONT", &child.id().to_string()])
                    .status();
            }
            self.kill(i);
        }
    }
}

/// Waits until `pred` holds for `shoal osd dump --format json`.
pub fn wait_osds(
    mons: &Monitors,
    within: Duration,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let out = mons.shoal("--timeout 5 osd dump --format json");
        if out.status.success() && pred(&json(out)) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits (30 s at most) until the map holds exactly `n` OSDs, every one up.
pub fn wait_all_up(mons: &Monitors, n: usize) {
    wait_osds(
        mons,
        Duration::from_secs(30),
        &format!("{n} OSDs up"),
        |v| {
            v["osds"]
                .as_array()
                .is_some_and(|a| a.len() == n && a.iter().all(|o| o["up"] == true))
        },
    );
}

/// The harness index of OSD `id` (OSD `i` runs on host `host{i}`; ids are assigned by the
/// monitors in boot order, which need not match).
pub fn index_of(mons: &Monitors, id: u64) -> usize {
    let dump = json(mons.shoal("osd dump --format json"));
    let host = dump["osds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .unwrap_or_else(|| panic!("osd.{id} not in the map"))["host"]
        .as_str()
        .unwrap()
        .to_string();
    host.trim_start_matches("host").parse().unwrap()
}

/// The id of the OSD with harness index `i` (it runs on host `host{i}`).
pub fn id_of(mons: &Monitors, i: usize) -> u64 {
    json(mons.shoal("osd dump --format json"))["osds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["host"] == format!("host{i}"))
        .unwrap_or_else(|| panic!("host{i} not in the map"))["id"]
        .as_u64()
        .unwrap()
}

/// Waits until no pg_temp is left and every PG reports `active+clean`.
pub fn wait_settled(mons: &Monitors, osds: &Osds, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let s = json(mons.shoal("--timeout 5 status --format json"));
        let pgs = json(mons.shoal("--timeout 5 pg dump --format json"));
        let clean = pgs
            .as_array()
            .is_some_and(|a| a.iter().all(|p| p["state"] == "active+clean"));
        if s["pg_temp"] == 0 && clean {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "not settled in {within:?}: {s}\n{pgs}\n{}",
            osds.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The object's PG id and acting set (harness indexes, primary first) and OSD ids.
pub fn placement_of(mons: &Monitors, pool: &str, object: &str) -> (String, Vec<usize>, Vec<u64>) {
    let v = json(mons.shoal(&format!("osd map {pool} {object} --format json")));
    let ids: Vec<u64> = v["acting"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.as_u64())
        .collect();
    let idx = ids.iter().map(|id| index_of(mons, *id)).collect();
    (v["pgid"].as_str().unwrap().to_string(), idx, ids)
}

/// Stops OSD `i`, flips the stored byte at `offset` of `object` with `shoal osd corrupt`,
/// runs `while_down`, restarts it; returns what the CLI said.
pub fn corrupt(
    mons: &Monitors,
    osds: &mut Osds,
    i: usize,
    object: &str,
    offset: u64,
    while_down: impl FnOnce(),
) -> String {
    osds.kill(i);
    let data = mons.dir.0.join(format!("osd.{i}"));
    let out = mons.shoal(&format!(
        "osd corrupt --data {} --object {object} --offset {offset}",
        data.display()
    ));
    assert!(
        out.status.success(),
        "corrupt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    while_down();
    osds.restart(i);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `shoal pg CMD PGID` until the primary takes it (a restarted OSD may still be
/// peering: the PG is then unavailable for a moment) and returns its JSON result.
pub fn pg_command(mons: &Monitors, cmd: &str, pgid: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = mons.shoal(&format!("--timeout 10 pg {cmd} {pgid} --format json"));
        if out.status.success() || Instant::now() > deadline {
            return json(out);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
