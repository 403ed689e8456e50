#![allow(clippy::disallowed_methods)] // a process harness: real clocks and real timeouts

//! The monitor quorum through real `shoal mon` processes and the `shoal` CLI.

mod common;

use std::time::{Duration, Instant};

use common::*;
use placement::{ClusterMap, DomainType, Location, PoolKind, Weight};
use rados::proto::mon::{Admin, AdminCommand, GetMap, MapUpdate, MonError, OsdBoot};
use rados::{Keyring, Messenger, MessengerConfig, MonClient};

/// A client of every monitor, and the runtime it runs on.
fn mon_client(mons: &Monitors) -> (tokio::runtime::Runtime, MonClient) {
    let keyring = Keyring::load(&mons.dir.0.join("keyring")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        MonClient::new(
            Messenger::client(&keyring, MessengerConfig::default()).unwrap(),
            mons.addrs.clone(),
        )
    });
    (rt, client)
}

/// Each monitor's own (locally applied) map.
fn local_maps(mons: &Monitors, which: &[usize]) -> Vec<ClusterMap> {
    let (rt, client) = mon_client(mons);
    rt.block_on(async {
        let mut maps = Vec::new();
        for &i in which {
            match client
                .call_one(mons.addrs[i], &GetMap { have: None })
                .await
                .unwrap()
            {
                MapUpdate::Full(map) => maps.push(*map),
                other => panic!("expected a full map, got {other:?}"),
            }
        }
        maps
    })
}

fn pools(mons: &Monitors) -> Vec<String> {
    let v = json(mons.shoal("pool ls --format json"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn quorum_survives_a_minority_refuses_without_majority_and_persists() {
    let mut mons = Monitors::start(3);
    mons.wait_leader(&[0, 1, 2], Duration::from_secs(30));

    // A pool created through one monitor is visible from every monitor at the same epoch.
    let out = mons.shoal_at(0, "pool create p1 --pg-num 16 --failure-domain osd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let maps = local_maps(&mons, &[0, 1, 2]);
        let same = maps.windows(2).all(|w| w[0] == w[1]);
        if same && maps[0].pool_by_name("p1").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "monitors disagree: {:?}",
            maps.iter().map(|m| m.epoch).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // An OSD entry, to check persistence later.
    let keyring = Keyring::load(&mons.dir.0.join("keyring")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (osd, _) = rt.block_on(async {
        let client = MonClient::new(
            Messenger::client(&keyring, MessengerConfig::default()).unwrap(),
            mons.addrs.clone(),
        );
        client
            .call(&OsdBoot {
                uuid: [9; 16],
                addr: "127.0.0.1:7100".parse().unwrap(),
                location: Location {
                    zone: "default".into(),
                    host: "h0".into(),
                },
                weight: Weight::ONE,
                gossip: None,
            })
            .await
            .unwrap()
    });
    assert_eq!(osd.0, 0);

    // kill -9 the leader: a new one is elected and changes are accepted again.
    let leader = mons.wait_leader(&[0, 1, 2], Duration::from_secs(10)) as usize;
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let killed_at = Instant::now();
    mons.kill(leader);
    let new_leader = mons.wait_leader(&others, Duration::from_secs(30));
    eprintln!(
        "leader failover: mon.{leader} killed, mon.{new_leader} leads after {:?}",
        killed_at.elapsed()
    );
    let out = mons.shoal("pool create p2 --pg-num 8 --failure-domain osd");
    assert!(
        out.status.success(),
        "after failover: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // With two of three down, a change fails with a clear "no quorum" within its timeout.
    mons.kill(new_leader as usize);
    let survivor = others
        .iter()
        .copied()
        .find(|i| *i != new_leader as usize)
        .unwrap();
    let start = Instant::now();
    let out = mons.shoal_at(
        survivor,
        "--timeout 20 pool create p3 --pg-num 8 --failure-domain osd",
    );
    let took = start.elapsed();
    assert!(!out.status.success(), "a minority accepted a change");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no quorum"), "unclear error: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");

    // Restart them: the cluster continues, and the refused change was not half-applied.
    mons.restart(leader);
    mons.restart(new_leader as usize);
    mons.wait_leader(&[0, 1, 2], Duration::from_secs(30));
    assert_eq!(pools(&mons), ["p1", "p2"]);
    let out = mons.shoal("pool create p3 --pg-num 8 --failure-domain osd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Full restart of all monitors: epoch, pools and OSD entries persist.
    let before = json(mons.shoal("status --format json"));
    for i in 0..3 {
        mons.kill(i);
    }
    for i in 0..3 {
        mons.restart(i);
    }
    mons.wait_leader(&[0, 1, 2], Duration::from_secs(30));
    let after = json(mons.shoal("status --format json"));
    assert_eq!(after["epoch"], before["epoch"], "log:\n{}", mons.log(0));
    assert_eq!(after["pools"], before["pools"]);
    assert_eq!(after["osds"]["total"], 1);
    let dump = json(mons.shoal("osd dump --format json"));
    assert_eq!(dump["osds"][0]["host"], "h0");

    // A client with another cluster's key is refused.
    let stranger = mons.dir.0.join("stranger.keyring");
    Keyring::generate().unwrap().save(&stranger).unwrap();
    let out = mons.shoal(&format!("--keyring {} status", stranger.display()));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused"), "{err}");
}

#[test]
fn bad_admin_input_gets_one_line_and_changes_nothing() {
    let mons = Monitors::start(1);
    mons.wait_leader(&[0], Duration::from_secs(30));
    assert!(
        mons.shoal("pool create a --pg-num 8 --failure-domain osd")
            .status
            .success()
    );
    let epoch = json(mons.shoal("status --format json"))["epoch"].clone();
    for (args, want) in [
        ("pool create a --pg-num 8", "already exists"),
        ("pool create b --size 2 --min-size 3", "min_size"),
        ("pool create c --ec 4+2", "distinct hosts"),
        ("pool get nope", "does not exist"),
        ("pool rm a", "--yes-i-really-mean-it"),
        ("pool rm nope --yes-i-really-mean-it", "does not exist"),
        ("osd out 7", "osd.7 does not exist"),
        ("osd in 7 8", "osd.7 does not exist"),
        ("osd set nosuchflag", "unknown flag"),
        ("osd map nope obj", "does not exist"),
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
    assert_eq!(
        json(mons.shoal("status --format json"))["epoch"],
        epoch,
        "a rejected command changed the map"
    );
    let v = json(mons.shoal("osd map a someobject --format json"));
    assert_eq!(v["pool"], "a");
    assert!(v["pgid"].as_str().unwrap().starts_with("1."));
}

/// A client whose reply was lost sends its command again with the same id: the monitors
/// answer what they answered the first time instead of "already exists".
#[test]
fn a_retried_admin_command_reports_its_first_answer() {
    let mons = Monitors::start(3);
    mons.wait_leader(&[0, 1, 2], Duration::from_secs(30));
    let (rt, client) = mon_client(&mons);
    rt.block_on(async {
        let request = |id| Admin {
            id,
            cmd: AdminCommand::PoolCreate {
                name: "retried".into(),
                kind: PoolKind::Replicated {
                    size: 1,
                    min_size: 1,
                },
                pg_num: 8,
                failure_domain: DomainType::Osd,
            },
        };
        let first = client.call(&request(42)).await.unwrap();
        // The retry goes to every monitor in turn: each answers from the replicated record.
        for &addr in &mons.addrs {
            let again = client.call_one(addr, &request(42)).await.unwrap();
            assert_eq!(again, first, "retry through {addr}");
        }
        let other = client.call(&request(43)).await;
        assert!(
            matches!(
                other,
                Err(rados::MonClientError::Mon(MonError::PoolExists(_)))
            ),
            "a new request for the same pool: {other:?}"
        );
    });
    assert_eq!(pools(&mons), vec!["retried".to_string()]);
}
