//! Erasure-coded remaps on real processes: ten OSDs on ten hosts, a 4+2 pool of objects
//! from one byte to 4 MiB. Two OSDs marked out in one command move up to two shard
//! positions of a PG at once; then two new OSDs join while a third is killed. Each moved
//! position stays with its old holder (a pg_temp) while the new member is backfilled from
//! it and gets every write meanwhile, so during and after each step every acknowledged
//! object reads back byte-exact, writes keep succeeding, and the pool returns to
//! active+clean. The longest write is printed for the README, never asserted.
#![allow(clippy::disallowed_methods)] // tests measure wall time with std Instant

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::osds::{Osds, id_of, wait_all_up, wait_settled};
use common::{Monitors, json};
use rados::client::{ClientConfig, IoCtx, RadosClient};

/// Object sizes, cycled: edges of a 64 KiB chunk and a 256 KiB stripe, up to 4 MiB.
const SIZES: &[usize] = &[1, 4095, 65_537, 262_147, 1_000_003, 4 << 20];

fn payload(seed: u64, len: usize) -> Vec<u8> {
    common::s3::random_bytes(len, seed)
}

/// Writes `name` and records it; returns how long the write took.
async fn write(
    io: &IoCtx,
    acked: &mut BTreeMap<String, Vec<u8>>,
    name: String,
    seed: u64,
) -> Duration {
    let data = payload(seed, SIZES[seed as usize % SIZES.len()]);
    let started = Instant::now();
    io.write_full(&name, data.clone())
        .await
        .unwrap_or_else(|e| panic!("write {name}: {e}"));
    acked.insert(name, data);
    started.elapsed()
}

async fn verify(io: &IoCtx, acked: &BTreeMap<String, Vec<u8>>, when: &str) {
    for (name, data) in acked {
        let got = io
            .read(name, 0, None)
            .await
            .unwrap_or_else(|e| panic!("{when}: read {name}: {e}"));
        assert!(
            got == *data,
            "{when}: {name}: {} bytes read back differ",
            got.len()
        );
    }
}

fn settled(mons: &Monitors) -> bool {
    let s = json(mons.shoal("--timeout 5 status --format json"));
    let pgs = json(mons.shoal("--timeout 5 pg dump --format json"));
    s["pg_temp"] == 0
        && pgs
            .as_array()
            .is_some_and(|a| a.iter().all(|p| p["state"] == "active+clean"))
}

/// Keeps writing (new objects and overwrites) and reading back a sample until the cluster
/// settles; returns the longest write.
async fn load_until_settled(
    mons: &Monitors,
    osds: &Osds,
    io: &IoCtx,
    acked: &mut BTreeMap<String, Vec<u8>>,
    step: &str,
    seed: &mut u64,
) -> Duration {
    let started = Instant::now();
    let mut longest = Duration::ZERO;
    loop {
        for _ in 0..3 {
            *seed += 1;
            // Every third write overwrites an object written before the step.
            let name = if (*seed).is_multiple_of(3) {
                format!("obj-{}", *seed % 60)
            } else {
                format!("{step}-{seed}")
            };
            longest = longest.max(write(io, acked, name, *seed).await);
        }
        let sample: BTreeMap<String, Vec<u8>> = acked
            .iter()
            .skip(*seed as usize % acked.len())
            .take(4)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        verify(io, &sample, step).await;
        if settled(mons) {
            return longest;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{step}: not settled in 240 s\n{}",
            osds.logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec_4_2_moves_several_positions_at_once_and_loses_nothing() {
    let mons = Monitors::start_with(1, &["--down-out-interval", "3"]);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 10);
    wait_all_up(&mons, 10);
    json(mons.shoal("pool create ec --ec 4+2 --pg-num 16 --format json"));
    wait_settled(&mons, &osds, Duration::from_secs(90));
    let keyring = rados::Keyring::load(&mons.dir.0.join("keyring")).unwrap();
    let config = ClientConfig {
        op_timeout: Duration::from_secs(60),
        ..ClientConfig::default()
    };
    let client = RadosClient::connect(mons.addrs.clone(), &keyring, config)
        .await
        .unwrap();
    let io = client.pool("ec").await.unwrap();
    let mut acked = BTreeMap::new();
    for i in 0..60u64 {
        write(&io, &mut acked, format!("obj-{i}"), i).await;
    }
    let mut seed = 1000;

    // 1. Two OSDs out in one command.
    let (a, b) = (id_of(&mons, 2), id_of(&mons, 7));
    json(mons.shoal(&format!("osd out {a} {b} --format json")));
    let longest = load_until_settled(&mons, &osds, &io, &mut acked, "out", &mut seed).await;
    verify(&io, &acked, "after two outs").await;
    let pgs = json(mons.shoal("pg dump --format json"));
    for p in pgs.as_array().unwrap() {
        let acting = p["acting"].as_array().unwrap();
        assert!(
            !acting.contains(&a.into()) && !acting.contains(&b.into()),
            "{p}"
        );
    }
    eprintln!("MEASURED ec 4+2 remap: two out at once, longest write {longest:.1?}");

    // 2. Two new OSDs while a third one dies (marked out after 3 s).
    osds.add();
    osds.add();
    osds.kill(4);
    let longest = load_until_settled(&mons, &osds, &io, &mut acked, "join", &mut seed).await;
    verify(&io, &acked, "after two joins and a kill").await;
    eprintln!("MEASURED ec 4+2 remap: two joined, one killed, longest write {longest:.1?}");
}
