//! Backfill and rebalancing on real processes: an OSD marked out, a new OSD joining, and an
//! OSD down for longer than the down-out interval (held back by `noout`, then released) all
//! remap PGs behind pg_temp; the old holders keep serving while the new members backfill
//! under a runtime-changeable bandwidth cap; `shoal status` shows the misplaced copies and
//! the recovery rate; every acknowledged write reads back afterwards. Times are printed for
//! the README, never asserted.
#![allow(clippy::disallowed_methods)] // tests measure wall time with std Instant

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::osds::{Osds, connect, id_of, wait_all_up, wait_osds, wait_settled};
use common::{Monitors, json};
use rados::client::{ClientConfig, IoCtx, RadosClient};

fn payload(i: usize) -> Vec<u8> {
    let len = 32 * 1024 + (i * 7919) % 32_768;
    (0..len).map(|b| (b as u8) ^ (i as u8)).collect()
}

async fn write_range(io: &IoCtx, range: std::ops::Range<usize>, acked: &mut BTreeMap<String, u32>) {
    for i in range {
        let (name, data) = (format!("obj-{i}"), payload(i));
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

fn status(mons: &Monitors) -> serde_json::Value {
    json(mons.shoal("--timeout 5 status --format json"))
}

/// The OSDs serving any PG, per `shoal pg dump`.
fn acting_osds(mons: &Monitors) -> Vec<u64> {
    let pgs = json(mons.shoal("pg dump --format json"));
    let mut all: Vec<u64> = pgs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["acting"].as_array().unwrap().clone())
        .map(|o| o.as_u64().unwrap())
        .collect();
    all.sort();
    all.dedup();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_new_and_auto_out_osds_rebalance_behind_pg_temp() {
    let mons = Monitors::start_with(1, &["--down-out-interval", "3"]);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 4);
    wait_all_up(&mons, 4);
    json(mons.shoal("pool create data --size 3 --min-size 2 --pg-num 16 --format json"));
    wait_settled(&mons, &osds, Duration::from_secs(60));
    let client = connect(&mons, Duration::from_secs(60)).await;
    let io = client.pool("data").await.unwrap();
    let mut acked = BTreeMap::new();
    write_range(&io, 0..120, &mut acked).await;

    // 1. Out, throttled to 512 KiB/s per OSD: the old holders keep serving, status shows
    //    the misplaced copies and the rate; lifting the cap at run time lets it finish.
    json(mons.shoal("config set osd_recovery_max_bytes_per_sec 512KiB --format json"));
    let out = id_of(&mons, 3);
    json(mons.shoal(&format!("osd out {out} --format json")));
    let started = Instant::now();
    let mut saw = (false, false);
    while started.elapsed() < Duration::from_secs(30) && !(saw.0 && saw.1) {
        let r = status(&mons)["recovery"].clone();
        saw.0 |= r["misplaced_objects"].as_u64().unwrap_or(0) > 0;
        saw.1 |= r["objects_per_sec"].as_f64().unwrap_or(0.0) > 0.0;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        saw.0 && saw.1,
        "status never showed misplaced objects and a recovery rate (saw {saw:?}): {}",
        status(&mons)
    );
    let text = String::from_utf8(mons.shoal("status").stdout).unwrap();
    assert!(text.contains("misplaced:"), "{text}");
    // Writes and reads go on during the backfill.
    write_range(&io, 120..140, &mut acked).await;
    verify(&io, &acked).await;
    json(mons.shoal("config rm osd_recovery_max_bytes_per_sec --format json"));
    let took = wait_settled(&mons, &osds, Duration::from_secs(120));
    eprintln!(
        "MEASURED osd out (140 objects of 32-64 KiB, throttled, then unthrottled) -> settled: {:.1?}",
        started.elapsed()
    );
    let _ = took;
    assert!(
        !acting_osds(&mons).contains(&out),
        "the out OSD still serves a PG"
    );
    verify(&io, &acked).await;

    // 2. A new OSD joins: PGs move onto it the same way.
    let new = osds.add();
    wait_osds(&mons, Duration::from_secs(30), "5 OSDs up", |v| {
        v["osds"].as_array().is_some_and(|a| a.len() == 5)
    });
    let joined = Instant::now();
    let took = wait_settled(&mons, &osds, Duration::from_secs(120));
    eprintln!("MEASURED new OSD joins -> settled: {took:.1?}");
    let new_id = id_of(&mons, new);
    assert!(
        acting_osds(&mons).contains(&new_id),
        "nothing moved to the new OSD"
    );
    let _ = joined;
    verify(&io, &acked).await;

    // 3. noout holds an OSD that is down for longer than the down-out interval in; unset,
    //    it goes out and its PGs are backfilled elsewhere (degraded ones first).
    json(mons.shoal("osd set noout --format json"));
    let victim = 1;
    let victim_id = id_of(&mons, victim);
    osds.kill(victim);
    wait_osds(&mons, Duration::from_secs(30), "the killed OSD down", |v| {
        v["osds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == victim_id && o["up"] == false)
    });
    std::thread::sleep(Duration::from_secs(5));
    let dump = json(mons.shoal("osd dump --format json"));
    let entry = dump["osds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == victim_id)
        .unwrap()
        .clone();
    assert_eq!(entry["in"], true, "noout did not hold it in: {entry}");
    json(mons.shoal("osd unset noout --format json"));
    let released = Instant::now();
    wait_osds(&mons, Duration::from_secs(30), "the down OSD out", |v| {
        v["osds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == victim_id && o["in"] == false)
    });
    let took = wait_settled(&mons, &osds, Duration::from_secs(120));
    eprintln!(
        "MEASURED down OSD auto-out (3 s interval) -> settled: {:.1?}",
        released.elapsed()
    );
    let _ = took;
    verify(&io, &acked).await;
}

/// One monitor and `n` OSDs with a size-3 pool `rep` and a 2+1 pool `ec` of `pg_num` PGs
/// each, settled, and a client.
async fn two_pools(n: usize, pg_num: u32) -> (Monitors, Osds, Arc<RadosClient>) {
    let mons = Monitors::start(1);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let osds = Osds::start(&mons, n);
    wait_all_up(&mons, n);
    for (name, kind) in [("rep", "--size 3 --min-size 2"), ("ec", "--ec 2+1")] {
        json(mons.shoal(&format!(
            "pool create {name} {kind} --pg-num {pg_num} --format json"
        )));
    }
    wait_settled(&mons, &osds, Duration::from_secs(60));
    let client = connect(&mons, ClientConfig::default().op_timeout).await;
    (mons, osds, client)
}

/// `shoal df` and `shoal osd df` once the OSDs have reported what they store.
fn df(mons: &Monitors) -> (serde_json::Value, serde_json::Value) {
    (
        json(mons.shoal("--timeout 5 df --format json")),
        json(mons.shoal("--timeout 5 osd df --format json")),
    )
}

/// `shoal df` counts each pool's objects, user bytes and raw bytes from what every OSD
/// reports; `shoal osd df` shows each OSD's share; both follow the data when an OSD goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn df_and_osd_df_account_for_every_copy_and_shard() {
    let pg_num = 8;
    let (mons, osds, client) = two_pools(4, pg_num).await;
    let (mut rep_acked, mut ec_acked) = (BTreeMap::new(), BTreeMap::new());
    write_range(&client.pool("rep").await.unwrap(), 0..30, &mut rep_acked).await;
    write_range(&client.pool("ec").await.unwrap(), 30..50, &mut ec_acked).await;
    let data = |r: std::ops::Range<usize>| r.map(|i| payload(i).len() as u64).sum::<u64>();
    let (rep_bytes, ec_bytes) = (data(0..30), data(30..50));

    // Beacons come every 2 s: wait until every copy and shard is counted.
    let pool = |df: &serde_json::Value, name: &str| {
        df["pools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no pool {name} in {df}"))
            .clone()
    };
    let started = Instant::now();
    let (pools, per_osd) = loop {
        let (pools, per_osd) = df(&mons);
        let raw = pool(&pools, "rep")["raw_bytes"].as_u64().unwrap();
        if raw == 3 * rep_bytes && pool(&pools, "ec")["objects"] == 20 {
            break (pools, per_osd);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "df never counted every copy: {pools}\n{per_osd}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let rep = pool(&pools, "rep");
    assert_eq!(rep["objects"], 30, "{rep}");
    assert_eq!(rep["stored_bytes"], rep_bytes, "{rep}");
    let ec = pool(&pools, "ec");
    // Shards are a third of the object each, rounded up to whole bytes per stripe chunk.
    let stored = ec["stored_bytes"].as_u64().unwrap();
    assert!(
        (ec_bytes..ec_bytes + 20 * 2).contains(&stored),
        "ec stored {stored}, wrote {ec_bytes}: {ec}"
    );
    let raw = ec["raw_bytes"].as_u64().unwrap();
    assert!(raw >= ec_bytes * 3 / 2, "ec raw {raw}: {ec}");

    let rows = per_osd["osds"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 4, "{per_osd}");
    let used: u64 = rows.iter().map(|o| o["used_bytes"].as_u64().unwrap()).sum();
    assert_eq!(
        used,
        3 * rep_bytes + raw,
        "the OSDs' data adds up to the pools' raw bytes: {per_osd}"
    );
    for o in &rows {
        assert!(o["up"] == true && o["in"] == true, "{o}");
        assert!(o["pgs"].as_u64().unwrap() > 0, "{o}");
        assert!(o["objects"].as_u64().unwrap() > 0, "{o}");
        assert!(
            o["file_bytes"].as_u64().unwrap() >= o["used_bytes"].as_u64().unwrap(),
            "a store's file holds at least its data: {o}"
        );
    }
    let text = String::from_utf8(mons.shoal("df").stdout).unwrap();
    assert!(text.contains("STORED") && text.contains("rep"), "{text}");
    let text = String::from_utf8(mons.shoal("osd df").stdout).unwrap();
    assert!(text.contains("up/in"), "{text}");

    // Erasure-coded overwrites keep the shards they replace as roll-back copies only until
    // every member applied them: the next write of the PG drops them (roll-forward), so
    // once every PG wrote again the pool's raw bytes are its shards' alone (stored bytes
    // times (k+m)/k) and the OSDs hold nothing else.
    let ec_io = client.pool("ec").await.unwrap();
    for i in 30..50 {
        let (name, data) = (format!("obj-{i}"), payload(i + 1000));
        ec_io.write_full(&name, data.clone()).await.unwrap();
        ec_acked.insert(name, crc32c::crc32c(&data));
    }
    let mut nudged = BTreeMap::new();
    for j in 0.. {
        let name = format!("nudge-{j}");
        let pgid = json(mons.shoal(&format!("osd map ec {name} --format json")))["pgid"].clone();
        if nudged.contains_key(&pgid.to_string()) {
            continue;
        }
        let data = payload(j);
        ec_io.write_full(&name, data.clone()).await.unwrap();
        ec_acked.insert(name, crc32c::crc32c(&data));
        nudged.insert(pgid.to_string(), ());
        if nudged.len() == pg_num as usize {
            break;
        }
    }
    let ec_objects = 20 + nudged.len();
    let started = Instant::now();
    loop {
        let (pools, per_osd) = df(&mons);
        let rows = per_osd["osds"].as_array().unwrap();
        let used: u64 = rows.iter().map(|o| o["used_bytes"].as_u64().unwrap()).sum();
        let raw = |name| pool(&pools, name)["raw_bytes"].as_u64().unwrap();
        let counted = pool(&pools, "ec")["objects"] == ec_objects;
        let shards = pool(&pools, "ec")["stored_bytes"].as_u64().unwrap() * 3 / 2;
        // (stored bytes are the shards' times 2/3, rounded down)
        let no_rollback = raw("ec") <= shards + 2;
        if counted && no_rollback && used == raw("rep") + raw("ec") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "roll-back copies of overwritten shards were kept: {pools}\n{per_osd}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // An OSD goes out: once rebalanced, the in OSDs hold every copy again and the out
    // OSD, whose copies are strays now, deletes them.
    let out = id_of(&mons, 3);
    json(mons.shoal(&format!("osd out {out} --format json")));
    let moved = Instant::now();
    wait_settled(&mons, &osds, Duration::from_secs(120));
    loop {
        let (pools, per_osd) = df(&mons);
        let rows = per_osd["osds"].as_array().unwrap();
        let row = rows.iter().find(|o| o["id"] == out).unwrap();
        let used: u64 = rows.iter().map(|o| o["used_bytes"].as_u64().unwrap()).sum();
        let raw = |name| pool(&pools, name)["raw_bytes"].as_u64().unwrap();
        if row["used_bytes"] == 0 && row["pgs"] == 0 {
            assert_eq!(row["in"], false, "{row}");
            assert_eq!(raw("rep"), 3 * rep_bytes, "{pools}");
            assert_eq!(pool(&pools, "ec")["objects"], ec_objects, "{pools}");
            assert_eq!(
                used,
                raw("rep") + raw("ec"),
                "no copy is left over: {per_osd}"
            );
            eprintln!(
                "MEASURED osd out -> its stray copies deleted: {:.1?}",
                moved.elapsed()
            );
            break;
        }
        assert!(
            moved.elapsed() < Duration::from_secs(90),
            "the out OSD kept its stray copies: {pools}\n{per_osd}\n{}",
            osds.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        osds.logs().contains("stray copy deleted"),
        "no stray deletion was logged"
    );
    verify(&client.pool("rep").await.unwrap(), &rep_acked).await;
    verify(&client.pool("ec").await.unwrap(), &ec_acked).await;
}

/// Each OSD's row of `shoal osd df`: (id, used_bytes, file_bytes, pgs).
fn osd_rows(mons: &Monitors) -> Vec<(u64, u64, u64, u64)> {
    let per_osd = json(mons.shoal("--timeout 5 osd df --format json"));
    let field = |o: &serde_json::Value, f: &str| o[f].as_u64().unwrap_or(0);
    per_osd["osds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let f = |name| field(o, name);
            (f("id"), f("used_bytes"), f("file_bytes"), f("pgs"))
        })
        .collect()
}

/// Waits until the OSDs hold no more than `expected` bytes plus 15% (the stray copies of
/// the last move deleted) and `out`, if any, holds nothing; returns the store files' sizes.
fn wait_reclaimed(mons: &Monitors, expected: u64, out: Option<u64>) -> u64 {
    let started = Instant::now();
    loop {
        let rows = osd_rows(mons);
        let used: u64 = rows.iter().map(|r| r.1).sum();
        let out_empty = out.is_none_or(|id| rows.iter().any(|r| r.0 == id && r.1 == 0 && r.3 == 0));
        if used <= expected + expected * 15 / 100 && used >= expected && out_empty {
            return rows.iter().map(|r| r.2).sum();
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "stray copies were never reclaimed: {used} bytes used, {expected} expected, \
             out OSD {out:?} empty: {out_empty}; {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Five rounds of one OSD out then back in, on a size-3 pool and a 2+1 pool: after each
/// move settles the OSDs hold the data times its redundancy (within 15%: no strays are
/// left), and the store files, whose freed pages are reused, grow by at most 20% over the
/// five rounds. Run by hand (about a minute): `cargo nextest run --run-ignored only
/// -E 'test(out_and_in_cycles)'`; the figures are in README. Not in CI: the growth ranged
/// from -5% to 18% over four runs (redb reuses freed pages only after the commits that
/// freed them), too near the bound to gate a landing on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: five rebalances; run by hand for README's figures"]
async fn out_and_in_cycles_leave_no_strays_and_do_not_grow_the_files() {
    let (mons, osds, client) = two_pools(5, 16).await;
    let (rep, ec) = (
        client.pool("rep").await.unwrap(),
        client.pool("ec").await.unwrap(),
    );
    let (mut rep_acked, mut ec_acked) = (BTreeMap::new(), BTreeMap::new());
    write_range(&rep, 0..200, &mut rep_acked).await;
    write_range(&ec, 200..400, &mut ec_acked).await;
    let data = |r: std::ops::Range<usize>| r.map(|i| payload(i).len() as u64).sum::<u64>();
    // Size 3: three copies; 2+1: one and a half times the data.
    let expected = 3 * data(0..200) + data(200..400) * 3 / 2;
    let first = wait_reclaimed(&mons, expected, None);
    eprintln!("MEASURED store files after writing {expected} raw bytes: {first} bytes");

    let mut files = first;
    for round in 0..5 {
        let id = id_of(&mons, round % 5);
        let started = Instant::now();
        json(mons.shoal(&format!("osd out {id} --format json")));
        wait_settled(&mons, &osds, Duration::from_secs(120));
        let out_files = wait_reclaimed(&mons, expected, Some(id));
        json(mons.shoal(&format!("osd in {id} --format json")));
        wait_settled(&mons, &osds, Duration::from_secs(120));
        files = wait_reclaimed(&mons, expected, None);
        eprintln!(
            "MEASURED round {round}: osd.{id} out (files {out_files}) and in (files {files}), \
             {:.1?}",
            started.elapsed()
        );
        verify(&rep, &rep_acked).await;
        verify(&ec, &ec_acked).await;
    }
    let growth = files as f64 / first as f64 - 1.0;
    eprintln!(
        "MEASURED store files after five out/in rounds: {files} bytes, growth {:.1}%",
        growth * 100.0
    );
    assert!(
        growth <= 0.20,
        "five out/in rounds grew the store files by {:.1}% ({first} -> {files} bytes)",
        growth * 100.0
    );
}
