//! The SWIM failure detector on real processes: a killed OSD and a hung (SIGSTOPped) OSD are
//! marked down by gossip failure reports long before the monitors' 20 s beacon grace, a hung
//! OSD that wakes up re-boots and rejoins, and no healthy OSD is marked down meanwhile, under
//! a write load. Detection times are printed for the README, never asserted.
#![allow(clippy::disallowed_methods)] // tests measure wall time with std Instant

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::osds::{Osds, connect, wait_all_up, wait_osds};
use common::{Monitors, json};

/// `id -> (up, up_from)` from `shoal osd dump`.
fn osd_states(mons: &Monitors) -> BTreeMap<u64, (bool, u64)> {
    let out = mons.shoal("--timeout 5 osd dump --format json");
    if !out.status.success() {
        return BTreeMap::new();
    }
    json(out)["osds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_u64().unwrap(),
                (o["up"] == true, o["up_from"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// The id of the OSD running on harness host `i`.
fn id_of(mons: &Monitors, i: usize) -> u64 {
    let dump = json(mons.shoal("osd dump --format json"));
    dump["osds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["host"] == format!("host{i}"))
        .unwrap()["id"]
        .as_u64()
        .unwrap()
}

/// Polls until `id` is down; returns how long it took.
fn wait_down(mons: &Monitors, osds: &Osds, id: u64, since: Instant) -> Duration {
    loop {
        if osd_states(mons).get(&id).is_some_and(|s| !s.0) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(15),
            "osd.{id} not marked down in 15 s (beacon grace is 20 s)\n{}",
            osds.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_marks_killed_and_hung_osds_down_and_leaves_healthy_ones_alone() {
    // Default monitor settings: a 20 s beacon grace, so only gossip can be this quick.
    let mons = Monitors::start(1);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 4);
    wait_all_up(&mons, 4);
    json(mons.shoal("pool create load --size 3 --min-size 2 --pg-num 16 --format json"));

    // A steady write load for the whole test.
    let client = connect(&mons, Duration::from_secs(60)).await;
    let io = Arc::new(client.pool("load").await.unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (io, stop, acked) = (io.clone(), stop.clone(), acked.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    if io
                        .write_full(&format!("w{w}-{}", i % 200), vec![w as u8; 16 * 1024])
                        .await
                        .is_ok()
                    {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = osd_states(&mons);

    // kill -9.
    let victim = 1;
    let victim_id = id_of(&mons, victim);
    osds.kill(victim);
    let took = wait_down(&mons, &osds, victim_id, Instant::now());
    eprintln!("MEASURED kill -9 of an OSD -> marked down: {took:.1?}");
    osds.restart(victim);
    wait_osds(
        &mons,
        Duration::from_secs(30),
        "the killed OSD back up",
        |v| {
            v["osds"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["up"] == true)
        },
    );

    // SIGSTOP: alive but silent.
    let hung = 2;
    let hung_id = id_of(&mons, hung);
    let up_from = osd_states(&mons)[&hung_id].1;
    osds.signal(hung, "STOP");
    let took = wait_down(&mons, &osds, hung_id, Instant::now());
    eprintln!("MEASURED SIGSTOP of an OSD -> marked down: {took:.1?}");
    osds.signal(hung, "CONT");
    let woke = Instant::now();
    // It notices it is down in the map and boots again (a new up_from).
    loop {
        if osd_states(&mons)
            .get(&hung_id)
            .is_some_and(|s| s.0 && s.1 > up_from)
        {
            break;
        }
        assert!(
            woke.elapsed() < Duration::from_secs(30),
            "the woken OSD did not rejoin\n{}",
            osds.log(hung)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "MEASURED SIGCONT -> the OSD re-booted and is up: {:.1?}",
        woke.elapsed()
    );

    // Healthy OSDs were never marked down: their boot epoch never changed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = osd_states(&mons);
    for (id, (up, from)) in &before {
        if *id == victim_id || *id == hung_id {
            continue;
        }
        assert_eq!(
            after.get(id),
            Some(&(true, *from)),
            "healthy osd.{id} was marked down (up_from {up}/{from} -> {:?})\n{}",
            after.get(id),
            osds.logs()
        );
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(acked.load(Ordering::Relaxed) > 0, "the load wrote nothing");
}

/// The value of `shoal_osd_gossip_dropped_total{reason}` in an OSD's `/metrics`.
fn dropped(osds: &Osds, i: usize, reason: &str) -> u64 {
    let metrics = common::osds::http_get(osds.http[i], "/metrics");
    let label = format!("reason=\"{reason}\"}}");
    metrics
        .lines()
        .find(|l| l.starts_with("shoal_osd_gossip_dropped_total") && l.contains(&label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no gossip_dropped {reason} in\n{metrics}"))
}

/// Gossip is plain UDP: packets not signed with the cluster key, replayed or stale are
/// dropped and counted, and nobody is marked down for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_stale_gossip_packets_are_dropped_and_counted() {
    use osd::gossip::seal::{GossipKey, MAX_AGE_MS, Sealer};
    let mons = Monitors::start(1);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let osds = Osds::start(&mons, 3);
    wait_all_up(&mons, 3);
    let target = 0;
    let id = id_of(&mons, target);
    let dump = json(mons.shoal("osd dump --format json"));
    let gossip: std::net::SocketAddr = dump["osds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .and_then(|o| o["gossip"].as_str())
        .expect("the map names the OSD's gossip address")
        .parse()
        .unwrap();
    let before = osd_states(&mons);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = |packet: &[u8]| socket.send_to(packet, gossip).unwrap();

    // Not signed with the cluster key: random bytes, and a well-formed trailer by another key.
    send(&[0x5a; 200]);
    let mut stranger = Sealer::new(
        GossipKey::from_secret(b"not the cluster key"),
        placement::OsdId(1),
        1,
    );
    send(&stranger.seal(b"suspect everyone", now_ms));
    // Signed with the cluster key, but sent twice, or long ago.
    let keyring = rados::Keyring::load(&mons.dir.0.join("keyring")).unwrap();
    let key = GossipKey::from_secret(keyring.key().secret_der());
    let mut insider = Sealer::new(key, placement::OsdId(4242), 1);
    let genuine = insider.seal(b"not a foca packet", now_ms);
    send(&genuine);
    send(&genuine);
    send(&insider.seal(b"old news", now_ms - 2 * MAX_AGE_MS));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts = (
            dropped(&osds, target, "forged"),
            dropped(&osds, target, "replayed"),
            dropped(&osds, target, "stale"),
        );
        if counts.0 >= 2 && counts.1 >= 1 && counts.2 >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dropped (forged, replayed, stale) = {counts:?}\n{}",
            osds.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Genuine gossip still flows: everyone stays up, with the same boots.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(osd_states(&mons), before, "{}", osds.logs());
}
