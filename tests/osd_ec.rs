//! Erasure-coded pools on real processes: six OSDs on six hosts, a 4+2 pool. Objects from
//! one byte to 16 MiB round-trip whole and by range; omap is refused; one OSD killed with
//! kill -9 leaves every object readable (decoded from the five shards left); with two
//! killed the default pool (min_size 5) serves nothing, as Ceph does below min_size, while a
//! 4+2 pool with min_size 4 serves every object from the four shards left; restarted, they
//! catch up and every PG is active+clean; a seventh OSD takes the shards of one marked out
//! (rebuilt by decoding); a chunk corrupted on disk is found by deep scrub and rebuilt by
//! repair. Times are printed for the README, never asserted.
#![allow(clippy::disallowed_methods)] // tests measure wall time with std Instant

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::osds::{
    Osds, connect, corrupt, index_of, pg_command, placement_of, wait_all_up, wait_osds,
    wait_settled,
};
use common::{Monitors, json};
use rados::client::IoCtx;

/// Sizes around the layout's edges: 1 byte, a chunk (64 KiB), a stripe (256 KiB), many.
const SIZES: &[usize] = &[
    1,
    3,
    4,
    5,
    4095,
    65_536,
    65_537,
    262_144,
    262_147,
    1_000_003,
    4 << 20,
    16 << 20,
];

fn payload(i: usize, len: usize) -> Vec<u8> {
    common::s3::random_bytes(len, i as u64 + 1)
}

async fn verify(io: &IoCtx, acked: &BTreeMap<String, Vec<u8>>) {
    for (name, data) in acked {
        let got = io
            .read(name, 0, None)
            .await
            .unwrap_or_else(|e| panic!("read {name}: {e}"));
        assert!(got == *data, "{name}: {} bytes read back differ", got.len());
    }
}

fn up_count(mons: &Monitors) -> usize {
    let dump = json(mons.shoal("--timeout 5 osd dump --format json"));
    dump["osds"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|o| o["up"] == true).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec_4_2_round_trips_survives_two_kills_and_rebuilds() {
    let mons = Monitors::start(1);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 6);
    wait_all_up(&mons, 6);
    // 7 shards on 6 hosts cannot be placed: a clear error.
    let too_wide = mons.shoal("pool create wide --ec 5+2 --pg-num 4");
    assert!(!too_wide.status.success());
    let err = String::from_utf8_lossy(&too_wide.stderr).to_string();
    assert!(err.contains("7") && err.contains("6"), "{err}");
    let pool = json(mons.shoal("pool create ec --ec 4+2 --pg-num 8 --format json"));
    assert!(pool.to_string().contains("created"), "{pool}");
    let get = json(mons.shoal("pool get ec --format json"));
    assert_eq!(get["min_size"], 5, "{get}");
    assert_eq!(get["stripe_unit"], 65536, "{get}");
    wait_settled(&mons, &osds, Duration::from_secs(60));

    let client = connect(&mons, Duration::from_secs(60)).await;
    let io = client.pool("ec").await.unwrap();
    // The same layout with min_size = k: serves I/O with no margin (the CLI warns).
    let k_pool = mons.shoal("pool create eck --ec 4+2 --pg-num 8 --min-size 4");
    assert!(k_pool.status.success(), "{k_pool:?}");
    let warned = String::from_utf8_lossy(&k_pool.stderr).to_string();
    assert!(warned.contains("min_size = k"), "{warned}");
    let io_k = client.pool("eck").await.unwrap();
    let mut acked_k = BTreeMap::new();
    for i in 0..12 {
        let (name, data) = (format!("k-{i}"), payload(500 + i, 3000 + i * 65_537));
        io_k.write_full(&name, data.clone()).await.unwrap();
        acked_k.insert(name, data);
    }

    // Round trips, whole and by range; stat reports the object, not a shard.
    let mut acked = BTreeMap::new();
    for (i, &len) in SIZES.iter().enumerate() {
        let (name, data) = (format!("size-{len}"), payload(i, len));
        io.write_full(&name, data.clone())
            .await
            .unwrap_or_else(|e| panic!("write {name}: {e}"));
        let st = io.stat(&name).await.unwrap();
        assert_eq!(st.size, len as u64, "{name}");
        assert_eq!(st.crc, crc32c::crc32c(&data), "{name}");
        acked.insert(name, data);
    }
    for i in 0..40 {
        let (name, data) = (format!("small-{i}"), payload(100 + i, 1000 + i * 997));
        io.write_full(&name, data.clone()).await.unwrap();
        acked.insert(name, data);
    }
    verify(&io, &acked).await;
    let big = &acked["size-1000003"];
    for (off, len) in [(0, 10), (65_530, 20), (262_140, 70_000), (999_990, 100)] {
        let got = io.read("size-1000003", off, Some(len)).await.unwrap();
        let end = (off + len).min(big.len() as u64);
        assert_eq!(
            got[..],
            big[off as usize..end as usize],
            "range {off}+{len}"
        );
    }
    // Overwrite with a shorter object; xattrs live on every shard.
    let short = payload(999, 10);
    io.write_full("size-4194304", short.clone()).await.unwrap();
    acked.insert("size-4194304".into(), short);
    io.set_xattr("size-5", "color", b"blue").await.unwrap();
    let xattrs = io.get_xattrs("size-5").await.unwrap();
    assert_eq!(xattrs, vec![("color".to_string(), b"blue".to_vec())]);
    // Omap is refused with a clear error.
    let err = io
        .omap_set("size-5", vec![(b"k".to_vec(), b"v".to_vec())])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("erasure-coded"), "{err}");

    // A chunk rots on a shard holder's disk (checksums left as they were): deep scrub finds
    // it, repair rebuilds that shard from the others.
    let obj = "size-1000003";
    let (pgid, holders, _) = placement_of(&mons, "ec", obj);
    let said = corrupt(&mons, &mut osds, holders[2], obj, 70_000, || {});
    assert!(said.contains(obj), "{said}");
    wait_settled(&mons, &osds, Duration::from_secs(60));
    let deep = pg_command(&mons, "deep-scrub", &pgid);
    assert!(deep["errors"].as_u64().unwrap_or(0) >= 1, "{deep}");
    let list = json(mons.shoal(&format!("pg list-inconsistent {pgid} --format json")));
    assert!(list.to_string().contains(obj), "{list}");
    let repaired = pg_command(&mons, "repair", &pgid);
    assert_eq!(repaired["errors"], 0, "{repaired}");
    assert_eq!(pg_command(&mons, "deep-scrub", &pgid)["errors"], 0);
    verify(&io, &acked).await;

    // kill -9 one OSD: every object is still readable from the five shards left.
    osds.kill(1);
    let killed = Instant::now();
    wait_osds(&mons, Duration::from_secs(30), "one OSD down", |v| {
        v["osds"]
            .as_array()
            .is_some_and(|a| a.iter().filter(|o| o["up"] == true).count() == 5)
    });
    verify(&io, &acked).await;
    eprintln!(
        "MEASURED ec 4+2: one OSD killed -> every object read back: {:.1?}",
        killed.elapsed()
    );
    // A second one: below min_size (5) the default pool's PGs report undersized and serve
    // nothing (a primary that has not peered cannot know its shard is current); the
    // min_size-4 pool serves every object from the four shards left.
    osds.kill(4);
    let killed = Instant::now();
    wait_osds(&mons, Duration::from_secs(30), "two OSDs down", |v| {
        v["osds"]
            .as_array()
            .is_some_and(|a| a.iter().filter(|o| o["up"] == true).count() == 4)
    });
    let pool_id = get["id"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pgs = json(mons.shoal("--timeout 5 pg dump --format json"));
        let undersized = pgs.as_array().unwrap().iter().all(|p| {
            let s = p["state"].as_str().unwrap_or("");
            let ours = p["pg"]
                .as_str()
                .unwrap_or("")
                .starts_with(&format!("{pool_id}."));
            !ours || s.contains("undersized")
        });
        if undersized {
            break;
        }
        assert!(Instant::now() < deadline, "PGs not undersized: {pgs}");
        std::thread::sleep(Duration::from_millis(300));
    }
    verify(&io_k, &acked_k).await;
    eprintln!(
        "MEASURED ec 4+2 min_size 4: two OSDs killed -> every object read back: {:.1?}",
        killed.elapsed()
    );
    let quick = connect(&mons, Duration::from_secs(3)).await;
    let refused = quick
        .pool("ec")
        .await
        .unwrap()
        .read("size-5", 0, None)
        .await
        .expect_err("an undersized PG serves no reads");
    assert!(
        matches!(refused, rados::ClientError::Timeout { .. }),
        "retried until the op timeout: {refused}"
    );

    // Restarted, they catch up.
    osds.restart(1);
    osds.restart(4);
    wait_osds(&mons, Duration::from_secs(30), "6 OSDs up", |_| {
        up_count(&mons) == 6
    });
    let took = wait_settled(&mons, &osds, Duration::from_secs(90));
    eprintln!("MEASURED ec 4+2: two OSDs restarted -> active+clean: {took:.1?}");
    verify(&io, &acked).await;
    let after = payload(7, 300_000);
    io.write_full("after-restart", after.clone()).await.unwrap();
    acked.insert("after-restart".into(), after);

    // A seventh OSD; one marked out: its shards are rebuilt there by decoding.
    let new = osds.add();
    wait_osds(&mons, Duration::from_secs(30), "7 OSDs up", |_| {
        up_count(&mons) == 7
    });
    wait_settled(&mons, &osds, Duration::from_secs(90));
    let dump = json(mons.shoal("osd dump --format json"));
    let out_id = dump["osds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .find(|id| index_of(&mons, *id) == 2)
        .unwrap();
    json(mons.shoal(&format!("osd out {out_id} --format json")));
    let out_at = Instant::now();
    let holds = |pgs: &serde_json::Value| {
        pgs.as_array().unwrap().iter().any(|p| {
            p["acting"]
                .as_array()
                .unwrap()
                .contains(&serde_json::Value::from(out_id))
        })
    };
    loop {
        let pgs = json(mons.shoal("--timeout 5 pg dump --format json"));
        let clean = pgs
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "active+clean");
        if !holds(&pgs) && clean {
            break;
        }
        assert!(
            out_at.elapsed() < Duration::from_secs(120),
            "shards not rebuilt: {pgs}\n{}",
            osds.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "MEASURED ec 4+2: osd out -> shards rebuilt on osd {new}, active+clean: {:.1?}",
        out_at.elapsed()
    );
    // Kill the out OSD and two more: only four shards of each PG are left, so every PG of
    // the min_size-4 pool that placed a shard on the new OSD can be read only if that
    // rebuilt shard is right.
    osds.kill(2);
    osds.kill(0);
    osds.kill(3);
    verify(&io_k, &acked_k).await;
}
