//! Remaps on real processes: ten OSDs on ten hosts, a 4+2 pool and a size-3 pool, each with
//! objects from one byte to 4 MiB. Two OSDs marked out in one command move up to two shard
//! positions of an erasure-coded PG at once; then two new OSDs join while a third is
//! killed. Each moved position stays with its old holder (a pg_temp) while the new member
//! is backfilled from it and gets every write meanwhile (replicated PGs keep their old
//! acting set likewise), so during and after each step every acknowledged object reads back
//! byte-exact, writes keep succeeding, and both pools return to active+clean. The longest
//! write is printed for the README, never asserted.
#![allow(clippy::disallowed_methods)] // tests measure wall time with std Instant

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::osds::{Osds, connect, id_of, wait_all_up, wait_settled};
use common::{Monitors, json};
use rados::client::IoCtx;

/// Object sizes, cycled: edges of a 64 KiB chunk and a 256 KiB stripe, up to 4 MiB.
const SIZES: &[usize] = &[1, 4095, 65_537, 262_147, 1_000_003, 4 << 20];
/// Objects written to each pool before the first step.
const OBJECTS: u64 = 200;

/// A pool and every object acknowledged in it.
struct Pool {
    name: &'static str,
    io: IoCtx,
    acked: BTreeMap<String, Vec<u8>>,
}

impl Pool {
    /// Writes `name` and records it; returns how long the write took (the OSDs' logs
    /// in the panic if it fails).
    async fn write(&mut self, osds: &Osds, name: String, seed: u64) -> Duration {
        let data = common::s3::random_bytes(SIZES[seed as usize % SIZES.len()], seed);
        let started = Instant::now();
        if let Err(e) = self.io.write_full(&name, data.clone()).await {
            panic!("{}: write {name}: {e}\n{}", self.name, osds.logs());
        }
        self.acked.insert(name, data);
        started.elapsed()
    }

    /// Reads back `take` objects from `skip` on (all of them with `usize::MAX`).
    async fn verify(&self, osds: &Osds, skip: usize, take: usize, when: &str) {
        for (name, data) in self.acked.iter().skip(skip).take(take) {
            let got = self.io.read(name, 0, None).await.unwrap_or_else(|e| {
                panic!("{when}: {}: read {name}: {e}\n{}", self.name, osds.logs())
            });
            assert!(
                got == *data,
                "{when}: {}: {name}: {} bytes read back differ",
                self.name,
                got.len()
            );
        }
    }
}

/// Whether every PG is active+clean with no pg_temp left; else what is not, for the report.
fn settled(mons: &Monitors) -> Result<(), String> {
    let s = json(mons.shoal("--timeout 5 status --format json"));
    let pgs = json(mons.shoal("--timeout 5 pg dump --format json"));
    let unsettled: Vec<String> = pgs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["state"] != "active+clean")
        .map(|p| p.to_string())
        .collect();
    if s["pg_temp"] == 0 && unsettled.is_empty() {
        return Ok(());
    }
    Err(format!(
        "pg_temp {}; {}",
        s["pg_temp"],
        unsettled.join("; ")
    ))
}

/// Keeps writing (new objects and overwrites) and reading back a sample of every pool until
/// the cluster settles; returns the longest write.
async fn load_until_settled(
    mons: &Monitors,
    osds: &Osds,
    pools: &mut [Pool],
    step: &str,
    seed: &mut u64,
) -> Duration {
    let started = Instant::now();
    let mut longest = Duration::ZERO;
    loop {
        for pool in pools.iter_mut() {
            for _ in 0..2 {
                *seed += 1;
                // Every third write overwrites an object written before the steps; the
                // others cycle through 30 names per step, so the data written stays bounded
                // however long the step takes.
                let name = if (*seed).is_multiple_of(3) {
                    format!("obj-{}", *seed % OBJECTS)
                } else {
                    format!("{step}-{}", *seed % 30)
                };
                longest = longest.max(pool.write(osds, name, *seed).await);
            }
            let skip = *seed as usize % pool.acked.len();
            pool.verify(osds, skip, 3, step).await;
        }
        let Err(unsettled) = settled(mons) else {
            return longest;
        };
        // Below the runner's own limit, so the harness still stops what it started.
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "{step}: not settled in 150 s: {unsettled}\n{}",
            osds.logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_positions_move_at_once_and_nothing_is_lost() {
    let mons = Monitors::start_with(1, &["--down-out-interval", "3"]);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 10);
    wait_all_up(&mons, 10);
    json(mons.shoal("pool create ec --ec 4+2 --pg-num 16 --format json"));
    json(mons.shoal("pool create rep --size 3 --min-size 2 --pg-num 16 --format json"));
    wait_settled(&mons, &osds, Duration::from_secs(90));
    let client = connect(&mons, Duration::from_secs(60)).await;
    let mut pools = Vec::new();
    for name in ["ec", "rep"] {
        let io = client.pool(name).await.unwrap();
        let mut pool = Pool {
            name,
            io,
            acked: BTreeMap::new(),
        };
        for i in 0..OBJECTS {
            pool.write(&osds, format!("obj-{i}"), i).await;
        }
        pools.push(pool);
    }
    let mut seed = 1000;

    // 1. Two OSDs out in one command.
    let (a, b) = (id_of(&mons, 2), id_of(&mons, 7));
    json(mons.shoal(&format!("osd out {a} {b} --format json")));
    let longest = load_until_settled(&mons, &osds, &mut pools, "out", &mut seed).await;
    for pool in &pools {
        pool.verify(&osds, 0, usize::MAX, "after two outs").await;
    }
    let pgs = json(mons.shoal("pg dump --format json"));
    for p in pgs.as_array().unwrap() {
        let acting = p["acting"].as_array().unwrap();
        assert!(
            !acting.contains(&a.into()) && !acting.contains(&b.into()),
            "{p}"
        );
    }
    eprintln!("MEASURED remap: two out at once, longest write {longest:.1?}");

    // 2. Two new OSDs while a third one dies (marked out after 3 s).
    osds.add();
    osds.add();
    osds.kill(4);
    let longest = load_until_settled(&mons, &osds, &mut pools, "join", &mut seed).await;
    for pool in &pools {
        pool.verify(&osds, 0, usize::MAX, "after two joins and a kill")
            .await;
    }
    eprintln!("MEASURED remap: two joined, one killed, longest write {longest:.1?}");
}
