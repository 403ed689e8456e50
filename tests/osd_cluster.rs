//! End to end on real processes: a monitor, four OSDs, a replicated pool and a verifying
//! writer (every acknowledged object recorded with its checksum) while OSDs are killed -9
//! and restarted. Timings are printed for the README, never asserted.
#![allow(clippy::disallowed_methods)] // tests measure wall time with std Instant

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::osds::{Osds, connect, http_get, index_of, wait_osds};
use common::{Monitors, json};
use rados::client::IoCtx;

/// Monitors that mark a silent OSD down quickly (failure reports usually come first).
fn monitors() -> Monitors {
    Monitors::start_with(1, &["--beacon-grace", "6"])
}

fn up_count(v: &serde_json::Value) -> usize {
    v["osds"]
        .as_array()
        .map(|a| a.iter().filter(|o| o["up"] == true).count())
        .unwrap_or(0)
}

/// Waits until every PG of every pool reports `active+clean`.
fn wait_clean(mons: &Monitors, osds: &Osds, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let out = mons.shoal("--timeout 5 pg dump --format json");
        if out.status.success() {
            let pgs = json(out);
            let pgs = pgs.as_array().unwrap();
            if !pgs.is_empty() && pgs.iter().all(|p| p["state"] == "active+clean") {
                return start.elapsed();
            }
            if start.elapsed() > within {
                panic!(
                    "PGs not active+clean within {within:?}: {pgs:?}\n{}",
                    osds.logs()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The acting set of `object`'s PG, primary first, as harness indexes.
fn acting(mons: &Monitors, pool: &str, object: &str) -> Vec<usize> {
    let v = json(mons.shoal(&format!("osd map {pool} {object} --format json")));
    v["acting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| index_of(mons, o.as_u64().unwrap()))
        .collect()
}

fn payload(i: usize) -> Vec<u8> {
    let len = 1 + (i * 7919) % 200_000;
    (0..len).map(|b| (b as u8) ^ (i as u8)).collect()
}

/// Writes `range` and records each acknowledged object's checksum.
async fn write_all(io: &IoCtx, range: std::ops::Range<usize>, acked: &mut BTreeMap<String, u32>) {
    for i in range {
        let name = format!("obj-{i}");
        let data = payload(i);
        io.write_full(&name, data.clone())
            .await
            .unwrap_or_else(|e| panic!("write {name}: {e}"));
        acked.insert(name, crc32c::crc32c(&data));
    }
}

async fn verify(io: &IoCtx, acked: &BTreeMap<String, u32>) {
    for (name, crc) in acked {
        let data = io
            .read(name, 0, None)
            .await
            .unwrap_or_else(|e| panic!("read {name}: {e}"));
        assert_eq!(crc32c::crc32c(&data), *crc, "{name} changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_killing_a_replica_then_a_primary() {
    let mons = monitors();
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 4);
    wait_osds(&mons, Duration::from_secs(30), "4 OSDs up", |v| {
        up_count(v) == 4
    });
    json(mons.shoal("pool create data --size 3 --min-size 2 --pg-num 16 --format json"));
    wait_clean(&mons, &osds, Duration::from_secs(60));

    let client = connect(&mons, Duration::from_secs(60)).await;
    let io = client.pool("data").await.unwrap();
    let mut acked = BTreeMap::new();
    write_all(&io, 0..30, &mut acked).await;

    // Every OSD reports itself on /health and /metrics; the primaries counted the writes.
    let mut writes = 0;
    for addr in &osds.http {
        assert!(http_get(*addr, "/health").contains("\"status\":\"ok\""));
        let metrics = http_get(*addr, "/metrics");
        writes += metrics
            .lines()
            .find(|l| l.starts_with("shoal_osd_writes_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no write counter in {metrics}"));
    }
    assert_eq!(writes, 30, "acknowledged writes counted by the primaries");

    // A replica of obj-0 dies: writes continue once the map drops it.
    let replica = acting(&mons, "data", "obj-0")[1];
    osds.kill(replica);
    write_all(&io, 30..60, &mut acked).await;
    verify(&io, &acked).await;
    // It returns and catches up by log recovery.
    osds.restart(replica);
    let restarted = Instant::now();
    wait_osds(&mons, Duration::from_secs(30), "4 OSDs up again", |v| {
        up_count(v) == 4
    });
    wait_clean(&mons, &osds, Duration::from_secs(90));
    eprintln!(
        "MEASURED restart of a replica -> all PGs active+clean: {:.1?}",
        restarted.elapsed()
    );
    verify(&io, &acked).await;

    // The primary of obj-1 dies; a write to an object of the same PG waits for the map to
    // drop it, then succeeds.
    let victim = "obj-1";
    let primary = acting(&mons, "data", victim)[0];
    let pgid =
        |o: &str| json(mons.shoal(&format!("osd map data {o} --format json")))["pgid"].clone();
    let same_pg = (0..)
        .map(|k| format!("after-{k}"))
        .find(|o| pgid(o) == pgid(victim))
        .unwrap();
    osds.kill(primary);
    let killed = Instant::now();
    let data = payload(999);
    io.write_full(&same_pg, data.clone())
        .await
        .unwrap_or_else(|e| panic!("write after primary kill: {e}\n{}", osds.logs()));
    eprintln!(
        "MEASURED kill -9 of a primary -> write to its PG acknowledged: {:.1?}",
        killed.elapsed()
    );
    acked.insert(same_pg, crc32c::crc32c(&data));
    write_all(&io, 60..90, &mut acked).await;
    verify(&io, &acked).await;

    osds.restart(primary);
    let restarted = Instant::now();
    wait_osds(&mons, Duration::from_secs(30), "4 OSDs up again", |v| {
        up_count(v) == 4
    });
    wait_clean(&mons, &osds, Duration::from_secs(90));
    eprintln!(
        "MEASURED restart of a primary -> all PGs active+clean: {:.1?}",
        restarted.elapsed()
    );
    verify(&io, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_whose_only_up_to_date_holder_is_down_stays_down() {
    let mons = monitors();
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 4);
    wait_osds(&mons, Duration::from_secs(30), "4 OSDs up", |v| {
        up_count(v) == 4
    });
    // size 2, min_size 1: one member alone may take writes.
    json(mons.shoal("pool create thin --size 2 --min-size 1 --pg-num 4 --format json"));
    wait_clean(&mons, &osds, Duration::from_secs(60));
    let client = connect(&mons, Duration::from_secs(60)).await;
    let io = client.pool("thin").await.unwrap();
    io.write_full("z", b"old".to_vec()).await.unwrap();

    let set = acting(&mons, "thin", "z");
    let (a, b) = (set[0], set[1]);
    osds.kill(b);
    wait_osds(&mons, Duration::from_secs(30), "b down", |v| {
        up_count(v) == 3
    });
    // Only `a` takes this write.
    io.write_full("z", b"new".to_vec()).await.unwrap();
    osds.kill(a);
    wait_osds(&mons, Duration::from_secs(30), "a down", |v| {
        up_count(v) == 2
    });
    osds.restart(b);
    wait_osds(&mons, Duration::from_secs(30), "b up", |v| up_count(v) == 3);

    // b alone has only the old data: the PG must be down, never serve "old".
    let quick = connect(&mons, Duration::from_secs(8)).await;
    let qio = quick.pool("thin").await.unwrap();
    match qio.read("z", 0, None).await {
        Ok(data) => panic!(
            "served {:?} while the only up-to-date copy is down\n{}",
            String::from_utf8_lossy(&data),
            osds.logs()
        ),
        Err(e) => eprintln!("read refused as expected: {e}"),
    }
    let pg = json(mons.shoal("osd map thin z --format json"))["pgid"]
        .as_str()
        .unwrap()
        .to_string();
    let dump = json(mons.shoal("pg dump --format json"));
    let state = dump
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pg"] == pg.as_str())
        .map(|p| p["state"].to_string())
        .unwrap();
    assert!(state.contains("down"), "pg {pg} is {state}, expected down");

    // The holder returns: the PG recovers and serves the acknowledged data.
    osds.restart(a);
    wait_clean(&mons, &osds, Duration::from_secs(90));
    assert_eq!(io.read("z", 0, None).await.unwrap(), b"new".as_slice());
}

/// The data of write `seq` of the hot object: its sequence number, then filler; its length
/// varies with `seq`.
fn versioned(seq: u64) -> Vec<u8> {
    let len = 8 + (seq as usize * 7_919) % 150_000;
    let mut data: Vec<u8> = (0..len).map(|b| (b as u8) ^ (seq as u8)).collect();
    data[..8].copy_from_slice(&seq.to_le_bytes());
    data
}

/// Reads never lie, on real processes: while one object is overwritten as fast as the
/// cluster allows (each write also sets an xattr with its length) and its primary is paused
/// with SIGSTOP long enough for the others to move on, then resumed, readers ask for the
/// xattr and the data in one request. Every answer is one whole version (the xattr's length
/// is the data's, the bytes are that version's) and never older than the newest write
/// acknowledged before the read was sent, also right after the resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_whole_and_never_stale_while_the_primary_pauses() {
    use rados::WriteOp;
    use rados::proto::osd::{Op, OpResult};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let mons = monitors();
    mons.wait_leader(&[0], Duration::from_secs(20));
    let osds = Osds::start(&mons, 3);
    wait_osds(&mons, Duration::from_secs(30), "3 OSDs up", |v| {
        up_count(v) == 3
    });
    json(mons.shoal("pool create hot --size 3 --min-size 2 --pg-num 4 --format json"));
    wait_clean(&mons, &osds, Duration::from_secs(60));
    let client = connect(&mons, Duration::from_secs(60)).await;
    let io = client.pool("hot").await.unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let writer = {
        let (io, acked, stop) = (io.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                let data = versioned(seq);
                let len = (data.len() as u64).to_le_bytes();
                let op = WriteOp::new().write_full(data).set_xattr("len", &len);
                // A write that fails may still land: only acknowledged ones raise the floor.
                if io.write("hot", op).await.is_ok() {
                    acked.fetch_max(seq, Ordering::SeqCst);
                }
            }
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (io, acked, stop) = (io.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut checked = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let floor = acked.load(Ordering::SeqCst);
                    let ops = vec![Op::GetXattr("len".into()), Op::Read { off: 0, len: None }];
                    let Ok((reply, data)) = io.operate("hot", ops, bytes::Bytes::new()).await
                    else {
                        continue; // not found yet, or unavailable: no answer is no lie
                    };
                    let Some(OpResult::Xattr(Some(len))) = reply.results.first() else {
                        continue;
                    };
                    let len = u64::from_le_bytes(len[..].try_into().unwrap());
                    assert_eq!(data.len() as u64, len, "xattr and data of different writes");
                    let seq = u64::from_le_bytes(data[..8].try_into().unwrap());
                    assert_eq!(&data[..], &versioned(seq)[..], "bytes of no write");
                    assert!(
                        seq >= floor,
                        "stale read: write {seq} after {floor} was acked"
                    );
                    checked += 1;
                }
                checked
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let primary = acting(&mons, "hot", "hot")[0];
    osds.signal(primary, "STOP");
    let before = acked.load(Ordering::SeqCst);
    // Long enough to be marked down and for a new primary to take writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) < before + 20 {
        assert!(
            Instant::now() < deadline,
            "no writes while the primary was paused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    osds.signal(primary, "CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let mut checked = 0;
    for r in readers {
        checked += r.await.unwrap();
    }
    eprintln!(
        "MEASURED reads checked: {checked}, writes acknowledged: {}",
        acked.load(Ordering::SeqCst)
    );
    assert!(checked > 50, "too few reads checked: {checked}");
}
