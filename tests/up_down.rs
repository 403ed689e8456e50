#![allow(clippy::disallowed_methods)] // the shared harness measures wall time with std Instant

//! `shoal up --detach` / `shoal down`: the README's first command, end to end — a cluster
//! comes up healthy, stores an object through `shoal rados`, stops completely, and comes back
//! with its data.

mod common;

use std::process::Command;

use common::{TempDir, free_addr};

fn shoal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Running (not zombie) processes among `pids`.
fn running(pids: &[u32]) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .is_ok_and(|s| !s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
        })
        .collect()
}

/// Stops the cluster even if an assertion fails.
struct Down(String);
impl Drop for Down {
    fn drop(&mut self) {
        let _ = shoal(&["down", "--data", &self.0]);
    }
}

#[test]
fn up_serves_objects_down_stops_everything_and_data_persists() {
    let dir = TempDir::new("up");
    let data = dir.0.join("cluster");
    let data = data.to_str().unwrap().to_string();
    let port = free_addr().port().to_string();
    let _down = Down(data.clone());
    let up = |extra: &[&str]| {
        let mut args = vec!["up", "--data", &data, "--mons", "1", "--osds", "3"];
        args.extend_from_slice(extra);
        args.push("--detach");
        ok(shoal(&args))
    };
    let printed = up(&["--port", &port]);
    assert!(printed.contains("HEALTH_OK"), "{printed}");
    let conf = format!("{data}/shoal.toml");
    ok(shoal(&[
        "-c", &conf, "pool", "create", "data", "--size", "3", "--pg-num", "8",
    ]));
    let file = dir.0.join("in");
    std::fs::write(&file, b"hello shoal").unwrap();
    ok(shoal(&[
        "-c",
        &conf,
        "rados",
        "-p",
        "data",
        "put",
        "greeting",
        file.to_str().unwrap(),
    ]));

    // A second `up` on a running cluster is refused.
    let again = shoal(&["up", "--data", &data, "--detach"]);
    assert!(!again.status.success());

    let pids: Vec<u32> = std::fs::read_to_string(format!("{data}/pids"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 4);
    ok(shoal(&["down", "--data", &data]));
    assert!(
        running(&pids).is_empty(),
        "still running: {:?}",
        running(&pids)
    );

    // Restart: same config, same data.
    up(&[]);
    let out = dir.0.join("out");
    ok(shoal(&[
        "-c",
        &conf,
        "rados",
        "-p",
        "data",
        "get",
        "greeting",
        out.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read(&out).unwrap(), b"hello shoal");
}
