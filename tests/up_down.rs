#![allow(clippy::disallowed_methods)] // the shared harness measures wall time with std Instant

//! `shoal up --detach` / `shoal down`: the README's first command, end to end — a cluster
//! comes up healthy with an S3 endpoint whose keys are in DIR/s3.env, stores objects through
//! `shoal rados` and S3, stops completely, and comes back with its data and keys.

mod common;

use std::process::Command;

use common::gateway::s3_client;
use common::http::free_tcp_addr;
use common::s3::{Must, get, put};
use common::{TempDir, free_addr};

/// The value of `export NAME=value` in an s3.env file.
fn env_value(env: &str, name: &str) -> String {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
        .unwrap_or_else(|| panic!("{name} missing from s3.env:\n{env}"))
        .to_string()
}

fn s3_from_env(env: &str) -> aws_sdk_s3::Client {
    s3_client(
        &env_value(env, "AWS_ENDPOINT_URL"),
        &env_value(env, "AWS_ACCESS_KEY_ID"),
        &env_value(env, "AWS_SECRET_ACCESS_KEY"),
    )
}

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

/// A cluster directory (`cluster` in a fresh temp dir) and the guard that stops whatever
/// `up` starts there. Bind all three: the guard drops first, then the directory.
fn cluster_dir(tag: &str) -> (TempDir, String, Down) {
    let dir = TempDir::new(tag);
    let data = dir.0.join("cluster").to_str().unwrap().to_string();
    let down = Down(data.clone());
    (dir, data, down)
}

/// The processes `up` recorded in DATA/pids (none yet if it has not written the file).
fn recorded_pids(data: &str) -> Vec<u32> {
    std::fs::read_to_string(format!("{data}/pids"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().expect("one pid per line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_objects_down_stops_everything_and_data_persists() {
    let (dir, data, _down) = cluster_dir("up");
    let port = free_addr().port().to_string();
    // A free port is free when picked; another test's process may take it before `up`
    // binds it. `up` refuses a busy S3 address before creating anything: pick again.
    let mut s3_addr = free_tcp_addr().to_string();
    let mut attempt = 0;
    let printed = loop {
        let out = shoal(&[
            "up", "--data", &data, "--mons", "1", "--osds", "3", "--s3", &s3_addr, "--port", &port,
            "--detach",
        ]);
        attempt += 1;
        if attempt < 3
            && !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("is not free")
        {
            s3_addr = free_tcp_addr().to_string();
            continue;
        }
        break ok(out);
    };
    let up = |extra: &[&str]| {
        let mut args = vec![
            "up", "--data", &data, "--mons", "1", "--osds", "3", "--s3", &s3_addr,
        ];
        args.extend_from_slice(extra);
        args.push("--detach");
        ok(shoal(&args))
    };
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

    // The S3 endpoint works with the keys `up` wrote.
    assert!(printed.contains(&s3_addr), "{printed}");
    let env = std::fs::read_to_string(format!("{data}/s3.env")).unwrap();
    assert_eq!(
        env_value(&env, "AWS_ENDPOINT_URL"),
        format!("http://{s3_addr}")
    );
    let s3 = s3_from_env(&env);
    s3.create_bucket()
        .bucket("up-bucket")
        .send()
        .await
        .must("create bucket");
    put(&s3, "up-bucket", "hello", b"hello over s3").await;

    // A second `up` on a running cluster is refused.
    let again = shoal(&["up", "--data", &data, "--detach"]);
    assert!(!again.status.success());

    let pids = recorded_pids(&data);
    assert_eq!(pids.len(), 5, "1 monitor, 3 OSDs, 1 gateway");
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
    // Same keys, same S3 data.
    let env_again = std::fs::read_to_string(format!("{data}/s3.env")).unwrap();
    assert_eq!(env_again, env, "the restart keeps the default user's keys");
    assert_eq!(
        get(&s3_from_env(&env_again), "up-bucket", "hello").await,
        b"hello over s3"
    );
}

/// A busy monitor or S3 address is refused at once, in one line naming the address and the
/// flag that changes it; nothing is started and no cluster is created.
#[test]
fn busy_addresses_are_refused_before_anything_starts() {
    let (dir, data, _down) = cluster_dir("busy");
    // Someone else's monitor port (QUIC is UDP).
    let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let s3_addr = free_tcp_addr().to_string();
    let started = std::time::Instant::now();
    let out = shoal(&[
        "up", "--data", &data, "--mons", "1", "--osds", "1", "--port", &port, "--s3", &s3_addr,
        "--detach",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("--port"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(
        !dir.0.join("cluster/shoal.toml").exists(),
        "no cluster was created"
    );
    drop(held);

    // Someone else's S3 port.
    let s3_held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = s3_held.local_addr().unwrap().to_string();
    let port = free_addr().port().to_string();
    let out = shoal(&[
        "up", "--data", &data, "--mons", "1", "--osds", "1", "--port", &port, "--s3", &busy,
        "--detach",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains(&busy) && err.contains("--s3"), "{err}");
    assert!(!dir.0.join("cluster/pids").exists(), "nothing was started");
}

/// A foreground `shoal up` ties its daemons to itself: killed with kill -9 (no cleanup runs),
/// it leaves no daemon behind; they see their parent gone and exit.
#[test]
fn daemons_of_a_killed_foreground_up_exit_by_themselves() {
    let (_dir, data, _down) = cluster_dir("up");
    let port = free_addr().port().to_string();
    let mut up = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args([
            "up",
            "--data",
            &data,
            "--mons",
            "1",
            "--osds",
            "1",
            "--port",
            &port,
            "--no-gateway",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let pids = loop {
        let pids = recorded_pids(&data);
        if pids.len() == 2 {
            break pids;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "up never recorded a monitor and an OSD: {pids:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(running(&pids).len(), 2, "the daemons run");
    up.kill().unwrap(); // SIGKILL
    up.wait().unwrap();
    let killed = std::time::Instant::now();
    while !running(&pids).is_empty() {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(10),
            "daemons outlived their killed parent: {:?}",
            running(&pids)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
