//! The chaos scripts (`chaos/*.sh`), each for a short bounded run against the debug
//! binaries (`SHOAL_BIN`, `SHOAL_CHAOS_BIN`, so the scripts do not build): exit 0 and a
//! clean verdict line. The RADOS runs fault for 15 s; the S3 runs (`--s3`: the workload
//! through two gateways with the AWS SDK, unthrottled) are one 30 s seed of each loop the
//! README reports: kill -9 of OSDs, SIGSTOP of OSDs, kill -9 of gateways, kill -9 of the
//! leader monitor with an OSD, a fault every 10 s healed after 5 s, 3 OSDs of size 3. The cluster each run starts is stopped with
//! `shoal down` by PID file, also if the test panics or times out.
#![allow(clippy::disallowed_methods)] // tests bound their wall time with std Instant

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;

/// How long one script may run: cluster start, 15 s of faults, recovery, final check.
const LIMIT: Duration = Duration::from_secs(170);

fn shoal() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shoal"))
}

/// `shoal-chaos` (`SHOAL_CHAOS_BIN` overrides the one built with these tests).
fn chaos_bin() -> PathBuf {
    std::env::var_os("SHOAL_CHAOS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_shoal-chaos")))
}

/// Stops the cluster of `dir` (by its pids file) and kills the script, whatever happens.
struct Guard {
    dir: PathBuf,
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new(shoal())
            .arg("down")
            .arg("--data")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The last lines of every daemon log of the cluster in `dir`.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir.join("logs")) else {
        return out;
    };
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out.push_str(&format!("== {}\n", e.path().display()));
        for l in &lines[lines.len().saturating_sub(15)..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The numbers of the verdict line `chaos: acked=N lost=N corrupted=N stale_reads=N ...`,
/// with `http_5xx_other` (0 when the line has none: RADOS runs).
fn verdict(stdout: &str) -> Option<(u64, u64, u64, u64, u64)> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("chaos: acked="))?;
    let field = |name: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))?
            .parse()
            .ok()
    };
    Some((
        field("acked")?,
        field("lost")?,
        field("corrupted")?,
        field("stale_reads")?,
        field("http_5xx_other").unwrap_or(0),
    ))
}

/// A short RADOS run of `chaos/SCRIPT.sh`: 15 s of faults on 4 OSDs.
fn run(script: &str, extra: &[&str]) {
    let mut args = vec!["--seed", "7", "--duration", "15", "--osds", "4"];
    args.extend(["--workload-rate", "20"]);
    args.extend(extra);
    run_with(script, &args);
}

/// One 30 s seed of an S3 loop: a fault every 10 s healed after 5 s, 3 OSDs of size 3,
/// two gateways, the workload unthrottled.
fn run_s3(script: &str) {
    run_with(
        script,
        &[
            "--seed",
            "7",
            "--duration",
            "30",
            "--osds",
            "3",
            "--s3",
            "--gateways",
            "2",
            "--fault-every",
            "10",
            "--fault-for",
            "5",
        ],
    );
}

/// Runs `chaos/SCRIPT.sh` with `args` and checks its verdict.
fn run_with(script: &str, args: &[&str]) {
    let tmp = TempDir::new("chaos");
    let dir = tmp.0.join("cluster");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut guard = Guard {
        dir: dir.clone(),
        child: None,
    };
    let mut child = Command::new("bash")
        .arg(root.join("chaos").join(format!("{script}.sh")))
        .args(args)
        .args(["--recover-timeout", "90", "--data"])
        .arg(&dir)
        .env("SHOAL_BIN", shoal())
        .env("SHOAL_CHAOS_BIN", chaos_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    guard.child = Some(child);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = guard.child.as_mut().unwrap().try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if status.is_none() {
        let _ = guard.child.as_mut().unwrap().kill();
    }
    let out = reader.join().unwrap();
    let err = err_reader.join().unwrap();
    let report = format!("stdout:\n{out}\nstderr:\n{err}\nlogs:\n{}", logs(&dir));
    let status = status.unwrap_or_else(|| panic!("{script} ran over {LIMIT:?}\n{report}"));
    println!("{script}: {:.1}s\n{out}", start.elapsed().as_secs_f64());
    assert!(status.success(), "{script} failed ({status})\n{report}");
    let (acked, lost, corrupted, stale, bad_5xx) =
        verdict(&out).unwrap_or_else(|| panic!("no verdict line\n{report}"));
    assert!(acked > 0, "nothing acknowledged\n{report}");
    assert_eq!((lost, corrupted, stale, bad_5xx), (0, 0, 0, 0), "{report}");
    drop(guard);
    drop(tmp);
}

#[test]
fn kill_osds() {
    run("kill-osds", &[]);
}

/// An erasure-coded 4+2 pool: `--osds 4` is raised to 6 (one host per shard); one shard
/// down at a time ((k+m) - min_size = 1), so writes go on throughout.
#[test]
fn kill_osds_ec() {
    run("kill-osds", &["--pool-ec", "4+2"]);
}

#[test]
fn hang_osd() {
    run("hang-osd", &[]);
}

#[test]
fn kill_mons() {
    run("kill-mons", &[]);
}

#[test]
fn out_and_rebalance() {
    run("out-and-rebalance", &[]);
}

#[test]
fn partition() {
    run("partition", &[]);
}

#[test]
fn bitrot() {
    run("bitrot", &[]);
}

#[test]
fn s3_kill_osds() {
    run_s3("kill-osds");
}

#[test]
fn s3_hang_osd() {
    run_s3("hang-osd");
}

#[test]
fn s3_kill_gateways() {
    run_s3("kill-gateways");
}

#[test]
fn s3_kill_leader_and_osd() {
    run_s3("kill-leader-and-osd");
}

#[test]
fn the_verdict_line_is_parsed() {
    let out = "chaos: x\nchaos: acked=12 lost=0 corrupted=1 stale_reads=2 recovered_in=3.5s\n";
    assert_eq!(verdict(out), Some((12, 0, 1, 2, 0)));
    let s3 = "chaos: acked=9 lost=0 corrupted=0 stale_reads=0 recovered_in=1.0s http_5xx_other=3";
    assert_eq!(verdict(s3), Some((9, 0, 0, 0, 3)));
    assert_eq!(verdict("chaos: error: boom\n"), None);
}
