#![allow(clippy::disallowed_methods)] // a process harness: real clocks and real timeouts

//! The monitors' OSD lifecycle through real `shoal mon` processes. Fake OSDs (a messenger and
//! a `MonClient`, no data) boot, beacon with PG states and report failures, all through a
//! follower (which relays to the leader); `shoal osd dump` and `shoal pg dump` show what the
//! leader decided.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use placement::{ClusterMap, Location, OsdId, PgId, Placement, Weight};
use rados::proto::mon::{GetMap, MapUpdate, OsdBeacon, OsdBoot, OsdFailure, PgStatus};
use rados::proto::osd::Version;
use rados::{Keyring, Messenger, MessengerConfig, MonClient};

/// The state fake primaries report for their PGs of pool `rep`.
const REPORTED: &str = "active+clean";
/// What a fake OSD claims about PGs it is a replica of: the monitors must ignore it.
const BOGUS: &str = "active+clean+bogus";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A monitor client that talks to `via` only. Call inside a tokio runtime.
fn client(keyring: &Keyring, via: SocketAddr) -> MonClient {
    let config = MessengerConfig {
        request_timeout: Duration::from_secs(3),
        ..MessengerConfig::default()
    };
    MonClient::new(Messenger::client(keyring, config).unwrap(), vec![via])
}

async fn get_map(client: &MonClient) -> Option<ClusterMap> {
    match client.call(&GetMap { have: None }).await {
        Ok(MapUpdate::Full(map)) => Some(*map),
        _ => None,
    }
}

/// What OSD `id` says about the PGs of pool `rep` it serves in `map`.
fn pg_reports(map: &ClusterMap, id: OsdId) -> Vec<PgStatus> {
    let Some(pool) = map.pool_by_name("rep") else {
        return Vec::new();
    };
    let placement = Placement::new(map);
    (0..pool.pg_num)
        .filter_map(|seed| {
            let pg = PgId {
                pool: pool.id,
                seed,
            };
            let mapped = placement.map_pg(pg).unwrap();
            let state = if mapped.primary == Some(id) {
                REPORTED
            } else if mapped.acting.contains(&Some(id)) {
                BOGUS
            } else {
                return None;
            };
            Some(PgStatus {
                pg,
                state: state.into(),
                acting: mapped.acting.iter().flatten().copied().collect(),
                since: map.epoch,
                last_update: Version {
                    epoch: map.epoch,
                    seq: 5,
                },
                objects: 0,
                degraded: 0,
                misplaced: 0,
                scrub_errors: 0,
            })
        })
        .collect()
}

/// A thread sending a beacon for every OSD in `beating` every 200 ms, until dropped.
struct Beacons {
    beating: Arc<Mutex<BTreeSet<u32>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Beacons {
    fn start(keyring: PathBuf, via: SocketAddr, ids: &[u32]) -> Beacons {
        let beating: Arc<Mutex<BTreeSet<u32>>> =
            Arc::new(Mutex::new(ids.iter().copied().collect()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (beating.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                let client = client(&Keyring::load(&keyring).unwrap(), via);
                while !s.load(Ordering::Relaxed) {
                    if let Some(map) = get_map(&client).await {
                        let ids: Vec<u32> = b.lock().unwrap().iter().copied().collect();
                        for id in ids {
                            let beacon = OsdBeacon {
                                id: OsdId(id),
                                epoch: map.epoch,
                                bytes: 1000,
                                objects: 1,
                                pgs: pg_reports(&map, OsdId(id)),
                                recovered_objects: 0,
                                recovered_bytes: 0,
                                file_bytes: 0,
                                pgs_stored: 0,
                                pools: Vec::new(),
                            };
                            let _ = client.call(&beacon).await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });
        Beacons {
            beating,
            stop,
            thread: Some(thread),
        }
    }

    fn silence(&self, id: u32) {
        self.beating.lock().unwrap().remove(&id);
    }
}

impl Drop for Beacons {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `(up, in)` of every OSD, from `shoal osd dump --format json`.
fn osd_states(mons: &Monitors) -> BTreeMap<u64, (bool, bool)> {
    let dump = json(mons.shoal("osd dump --format json"));
    dump["osds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let id = o["id"].as_u64().unwrap();
            (id, (o["up"].as_bool().unwrap(), o["in"].as_bool().unwrap()))
        })
        .collect()
}

/// Polls `osd dump` until `done` holds, or panics with `what`, the last states and the
/// leader's log.
fn wait_osds(
    mons: &Monitors,
    leader: usize,
    within: Duration,
    what: &str,
    done: impl Fn(&BTreeMap<u64, (bool, bool)>) -> bool,
) -> BTreeMap<u64, (bool, bool)> {
    let deadline = Instant::now() + within;
    loop {
        let states = osd_states(mons);
        if done(&states) {
            return states;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; osds (up, in): {states:?}\nleader log:\n{}",
            mons.log(leader)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn beacons_reports_and_pg_states_drive_the_osd_lifecycle() {
    let mons = Monitors::start_with(
        3,
        &[
            "--beacon-grace",
            "2",
            "--down-out-interval",
            "4",
            "--min-reporters",
            "2",
        ],
    );
    let leader = mons.wait_leader(&[0, 1, 2], Duration::from_secs(30)) as usize;
    let via = mons.addrs[(leader + 1) % 3]; // a follower: it relays to the leader
    // Threaded, so the messenger keeps its connections alive while the test runs the CLI.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _in_runtime = rt.enter();
    let keyring = Keyring::load(&mons.dir.0.join("keyring")).unwrap();
    let osd_client = client(&keyring, via);

    // Four OSDs on four hosts.
    for i in 0..4u8 {
        let boot = OsdBoot {
            uuid: [i + 1; 16],
            addr: format!("127.0.0.1:{}", 7100 + u16::from(i))
                .parse()
                .unwrap(),
            location: Location {
                zone: "default".into(),
                host: format!("h{i}"),
            },
            weight: Weight::ONE,
            gossip: None,
        };
        let (id, _) = rt.block_on(osd_client.call(&boot)).unwrap();
        assert_eq!(id, OsdId(u32::from(i)));
    }
    let beacons = Beacons::start(mons.dir.0.join("keyring"), via, &[0, 1, 2, 3]);
    let started = Instant::now();
    for args in [
        "pool create rep --size 2 --min-size 1 --pg-num 16",
        "pool create idle --size 2 --min-size 1 --pg-num 8",
    ] {
        let out = mons.shoal(args);
        assert!(
            out.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Every PG of `rep` shows its primary's report; `idle`, which nobody reports, is
    // `unknown` with the map's acting set; a replica's claim is never shown.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = rt.block_on(get_map(&osd_client)).unwrap();
        let dump = json(mons.shoal("pg dump --format json"));
        let after = rt.block_on(get_map(&osd_client)).unwrap();
        let pgs = dump.as_array().unwrap();
        assert_eq!(pgs.len(), 24, "every PG of every pool: {dump}");
        assert!(
            !dump.to_string().contains(BOGUS),
            "a replica's claim: {dump}"
        );
        let rep = pgs
            .iter()
            .filter(|p| p["pg"].as_str().unwrap().starts_with("1."));
        let reported = rep.clone().all(|p| p["state"] == REPORTED);
        if reported && before.epoch == after.epoch {
            let placement = Placement::new(&after);
            for p in pgs
                .iter()
                .filter(|p| p["pg"].as_str().unwrap().starts_with("2."))
            {
                let pg: PgId = p["pg"].as_str().unwrap().parse().unwrap();
                let acting: Vec<u32> = placement
                    .map_pg(pg)
                    .unwrap()
                    .acting
                    .iter()
                    .flatten()
                    .map(|o| o.0)
                    .collect();
                assert_eq!(p["state"], "unknown", "{p}");
                assert_eq!(p["acting"], serde_json::json!(acting), "{p}");
                assert_eq!(
                    (p["since"].as_u64(), p["last_update"].as_str()),
                    (Some(0), Some("0'0"))
                );
            }
            for p in rep {
                assert_eq!(
                    p["last_update"].as_str().unwrap().split('\'').nth(1),
                    Some("5"),
                    "{p}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pool rep not reported by its primaries within 30 s: {dump}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = json(mons.shoal("status --format json"));
    assert_eq!(
        status["pg_states"],
        serde_json::json!({"active+clean": 16, "unknown": 8}),
        "{status}"
    );
    assert_eq!(status["usage"]["objects"], 4, "{status}");

    // `pg map` agrees with the map; bad and unknown PG ids get one line.
    let map = rt.block_on(get_map(&osd_client)).unwrap();
    let mapped = Placement::new(&map).map_pg("1.a".parse().unwrap()).unwrap();
    let v = json(mons.shoal("pg map 1.a --format json"));
    assert_eq!(v["pgid"], "1.a");
    assert_eq!(v["primary"], mapped.primary.unwrap().0);
    assert_eq!(v["up"].as_array().unwrap().len(), 2, "{v}");
    for (args, want) in [
        ("pg map 1.x", "invalid PG id"),
        ("pg map 1", "invalid PG id"),
        ("pg map 1.10", "pg_num 16"),
        ("pg map 9.0", "no pool 9"),
    ] {
        let out = mons.shoal(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args} succeeded");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{args}: {err}");
    }

    // Beacons keep every OSD up past the grace period.
    while started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let all_up = osd_states(&mons);
    assert!(
        all_up.values().all(|(up, _)| *up),
        "beaconing OSDs were marked down: {all_up:?}\nleader log:\n{}",
        mons.log(leader)
    );

    // osd.1 falls silent: marked down after the grace, then out after the down-out interval;
    // the others stay up.
    beacons.silence(1);
    let states = wait_osds(
        &mons,
        leader,
        Duration::from_secs(30),
        "silent osd.1 marked down",
        |s| !s[&1].0,
    );
    assert!([0, 2, 3].iter().all(|i| states[i].0), "{states:?}");
    wait_osds(
        &mons,
        leader,
        Duration::from_secs(30),
        "down osd.1 marked out",
        |s| !s[&1].1,
    );

    // osd.0 keeps beaconing, but osd.2 (h2) and osd.3 (h3) report it failed: two reporters
    // on other hosts mark it down. (A beacon between a pair of reports clears them, so the
    // reporters repeat, as real ones do.)
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for reporter in [2, 3] {
            let report = OsdFailure {
                target: OsdId(0),
                reporter: OsdId(reporter),
            };
            rt.block_on(osd_client.call(&report)).unwrap();
        }
        let states = osd_states(&mons);
        if !states[&0].0 {
            assert!(states[&2].0 && states[&3].0, "{states:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "osd.0 not marked down by two reporters within 30 s: {states:?}\nleader log:\n{}",
            mons.log(leader)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(beacons);
}
