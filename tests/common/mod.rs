//! Harness for tests that run real `shoal` processes on 127.0.0.1: free ports, a temp
//! directory, and every started process killed by PID when the harness drops (also on panic).
//! A test killed outright (nextest's time limit) runs no drop: its daemons exit by
//! themselves (`--exit-with-parent`), and the next harness removes its directories.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A free UDP port on loopback (the OS picks it; we release it for the daemon).
pub fn free_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A temp directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        remove_orphaned_dirs();
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("shoal-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

/// Removes the directories of harnesses whose test process is gone without dropping them
/// (killed at nextest's time limit): named `shoal-TAG-PID-NANOS`, with no process PID. A
/// reused PID only keeps a directory longer.
fn remove_orphaned_dirs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut parts = name.rsplitn(3, '-');
            let (Some(nanos), Some(pid), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            // A time in nanoseconds has 19 digits; nothing else here is named like this.
            let ours = rest.starts_with("shoal-")
                && pid.parse::<u32>().is_ok()
                && nanos.len() >= 18
                && nanos.parse::<u128>().is_ok();
            if ours && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A monitor quorum of `shoal mon` processes.
pub struct Monitors {
    pub dir: TempDir,
    pub conf: PathBuf,
    pub addrs: Vec<SocketAddr>,
    procs: Vec<Option<Child>>,
    /// Extra `shoal mon` flags, e.g. `--beacon-grace 2`.
    args: Vec<String>,
}

impl Monitors {
    /// Configures `n` monitors on free ports and starts them all.
    pub fn start(n: usize) -> Monitors {
        Monitors::start_with(n, &[])
    }

    /// Like [`start`](Self::start), each monitor with the extra flags `args`.
    pub fn start_with(n: usize, args: &[&str]) -> Monitors {
        let dir = TempDir::new("mons");
        let addrs: Vec<SocketAddr> = (0..n).map(|_| free_addr()).collect();
        rados::Keyring::generate()
            .unwrap()
            .save(&dir.0.join("keyring"))
            .unwrap();
        let mut conf = String::from(
            "fsid = \"5a5a5a5a-0000-1111-2222-333344445555\"\nkeyring = \"keyring\"\n",
        );
        for (i, addr) in addrs.iter().enumerate() {
            conf.push_str(&format!(
                "[[mons]]\nid = {i}\naddr = \"{addr}\"\ndata = \"mon.{i}\"\n"
            ));
        }
        let path = dir.0.join("shoal.toml");
        std::fs::write(&path, conf).unwrap();
        let mut mons = Monitors {
            dir,
            conf: path,
            addrs,
            procs: (0..n).map(|_| None).collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        for i in 0..n {
            mons.restart(i);
        }
        mons
    }

    /// Starts monitor `i` (again).
    pub fn restart(&mut self, i: usize) {
        assert!(self.procs[i].is_none(), "mon.{i} is running");
        let log = std::fs::File::create(self.dir.0.join(format!("mon.{i}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args([
                "--exit-with-parent",
                "-c",
                self.conf.to_str().unwrap(),
                "mon",
                "--id",
                &i.to_string(),
            ])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.procs[i] = Some(child);
    }

    /// kill -9 of monitor `i`.
    pub fn kill(&mut self, i: usize) {
        kill_child(&mut self.procs[i]);
    }

    /// Runs the CLI against this cluster's config.
    pub fn shoal(&self, args: &str) -> Output {
        shoal_with(&self.conf, args)
    }

    /// Runs the CLI against one monitor only.
    pub fn shoal_at(&self, i: usize, args: &str) -> Output {
        let mon = format!("--mon-addr {} {args}", self.addrs[i]);
        shoal_with(&self.conf, &mon)
    }

    /// The leader as `mon stat` through monitor `i` reports it, once there is one.
    pub fn wait_leader(&self, via: &[usize], within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            for &i in via {
                let out = self.shoal_at(i, "--timeout 3 mon stat --format json");
                if out.status.success() {
                    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                    if let Some(l) = v["leader"].as_u64()
                        && via.contains(&(l as usize))
                    {
                        return l;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader among {via:?} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The log of monitor `i`, for failure messages.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.0.join(format!("mon.{i}.log"))).unwrap_or_default()
    }
}

impl Drop for Monitors {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}

/// kill -9 of a started child, if it runs, and reaps it.
pub fn kill_child(slot: &mut Option<Child>) {
    if let Some(mut child) = slot.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs `shoal -c CONF ARGS`.
pub fn shoal_with(conf: &Path, args: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("-c")
        .arg(conf)
        .args(args.split_whitespace())
        .output()
        .unwrap()
}

/// Asserts success and parses stdout as JSON.
pub fn json(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
pub mod gateway;
pub mod http;
pub mod osds;
pub mod s3;
