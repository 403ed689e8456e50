//! Scrub, repair and read repair end to end on real processes: a monitor, three OSDs, a
//! 3-way replicated pool. Silent corruption is injected with `shoal osd corrupt` on a
//! stopped OSD; `shoal pg deep-scrub` must find it (health, `list-inconsistent`), `shoal pg
//! repair` must fix it, and a client read of a corrupt primary copy must be served from a
//! replica and fix the primary; with `[osd] auto_repair = true` a scrub that finds a bad copy
//! is followed by a repair on its own. Timings are printed, never asserted.
#![allow(clippy::disallowed_methods)] // tests measure wall time with std Instant

mod common;

use std::time::{Duration, Instant};

use common::osds::{Osds, connect, http_get, wait_osds};
use common::{Monitors, json};

fn payload(i: usize) -> Vec<u8> {
    // Several store blocks (124 KiB), so the corrupted byte is not in the first one.
    let len = 300_000 + i * 1000;
    (0..len)
        .map(|b| (b as u8).wrapping_mul(7) ^ (i as u8))
        .collect()
}

/// Waits until every PG's state satisfies `pred`.
fn wait_pgs(mons: &Monitors, osds: &Osds, what: &str, pred: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = mons.shoal("--timeout 5 pg dump --format json");
        if out.status.success() {
            let pgs = json(out);
            let pgs = pgs.as_array().unwrap();
            if !pgs.is_empty() && pgs.iter().all(|p| pred(p["state"].as_str().unwrap())) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PGs not {what}: {pgs:?}\n{}",
                osds.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits until `shoal health` reports `status` with exactly the check codes `codes`.
fn wait_health(mons: &Monitors, osds: &Osds, status: &str, codes: &[&str]) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = json(mons.shoal("--timeout 5 health detail --format json"));
        let got: Vec<&str> = h["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        if h["status"] == status && got == codes {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "health not {status} {codes:?}: {h}\n{}",
            osds.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn placement_of(mons: &Monitors, object: &str) -> (String, Vec<usize>, Vec<u64>) {
    common::osds::placement_of(mons, "data", object)
}

/// Stops OSD `i`, corrupts `object` in its store with the CLI, restarts it.
fn corrupt_on(mons: &Monitors, osds: &mut Osds, i: usize, object: &str) {
    let said = common::osds::corrupt(mons, osds, i, object, 200_000, || {
        // A missing object is an error, not a silent no-op.
        let data = mons.dir.0.join(format!("osd.{i}"));
        let out = mons.shoal(&format!(
            "osd corrupt --data {} --object no-such-object",
            data.display()
        ));
        assert!(!out.status.success());
    });
    assert!(said.contains(object) && said.contains("block 1"), "{said}");
}

fn scrub(mons: &Monitors, cmd: &str, pgid: &str) -> serde_json::Value {
    common::osds::pg_command(mons, cmd, pgid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_scrub_finds_silent_corruption_repair_and_read_repair_fix_it() {
    let started = Instant::now();
    let mons = Monitors::start_with(1, &["--beacon-grace", "6"]);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 3);
    wait_osds(&mons, Duration::from_secs(30), "3 OSDs up", |v| {
        v["osds"]
            .as_array()
            .is_some_and(|a| a.iter().filter(|o| o["up"] == true).count() == 3)
    });
    json(mons.shoal("pool create data --size 3 --min-size 2 --pg-num 4 --format json"));
    wait_pgs(&mons, &osds, "active+clean", |s| s == "active+clean");

    let client = connect(&mons, Duration::from_secs(30)).await;
    let io = client.pool("data").await.unwrap();
    for i in 0..8 {
        io.write_full(&format!("obj-{i}"), payload(i))
            .await
            .unwrap();
    }
    let booted = started.elapsed();

    // --- a replica's copy rots; deep scrub finds it, repair fixes it ---
    let (pgid, acting, ids) = placement_of(&mons, "obj-3");
    let (replica, replica_id) = (acting[1], ids[1]);
    corrupt_on(&mons, &mut osds, replica, "obj-3");
    wait_pgs(&mons, &osds, "active+clean", |s| s == "active+clean");
    let t = Instant::now();
    let light = scrub(&mons, "scrub", &pgid);
    assert_eq!(
        light["errors"], 0,
        "a light scrub cannot see silent corruption"
    );
    let deep = scrub(&mons, "deep-scrub", &pgid);
    let scrubbed = t.elapsed();
    assert_eq!(deep["errors"], 1, "{deep}");
    let h = wait_health(
        &mons,
        &osds,
        "HEALTH_ERR",
        &["OSD_SCRUB_ERRORS", "PG_INCONSISTENT"],
    );
    assert_eq!(h["checks"][0]["summary"], "1 scrub errors");
    assert!(
        h["checks"][1]["detail"][0]
            .as_str()
            .unwrap()
            .contains(&format!("pg {pgid} is active+clean+inconsistent")),
        "{h}"
    );
    let list = json(mons.shoal(&format!("pg list-inconsistent {pgid} --format json")));
    assert_eq!(list["errors"], 1);
    let bad = &list["inconsistent"][0];
    assert_eq!(bad["object"], "obj-3", "{list}");
    assert_eq!(
        bad["authority"], ids[0],
        "the primary's copy is good: {list}"
    );
    assert_eq!(bad["bad"][0]["osd"], replica_id, "{list}");
    assert!(
        bad["bad"][0]["errors"][0]
            .as_str()
            .unwrap()
            .contains("read error"),
        "{list}"
    );
    let plain = mons.shoal(&format!("pg list-inconsistent {pgid}"));
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.contains("obj-3") && plain.contains(&format!("osd.{replica_id}")));

    let t = Instant::now();
    let repaired = scrub(&mons, "repair", &pgid);
    assert_eq!(repaired["errors"], 0, "{repaired}");
    wait_health(&mons, &osds, "HEALTH_OK", &[]);
    let repair_took = t.elapsed();
    assert_eq!(io.read("obj-3", 0, None).await.unwrap(), payload(3));
    assert_eq!(scrub(&mons, "deep-scrub", &pgid)["errors"], 0);
    // The replica's own copy is clean again: it now serves as the primary's source too.
    let replica_metrics = http_get(osds.http[replica], "/metrics");
    assert!(replica_metrics.contains("shoal_osd_corrupt_reads_total"));

    // --- the primary's copy rots; a client read is served from a replica and fixes it ---
    let (pgid, acting, _) = placement_of(&mons, "obj-5");
    let primary = acting[0];
    corrupt_on(&mons, &mut osds, primary, "obj-5");
    wait_pgs(&mons, &osds, "active+clean", |s| s == "active+clean");
    assert_eq!(placement_of(&mons, "obj-5").1[0], primary, "primary back");
    let t = Instant::now();
    assert_eq!(io.read("obj-5", 0, None).await.unwrap(), payload(5));
    let read_repair = t.elapsed();
    let metrics = http_get(osds.http[primary], "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("shoal_osd_read_repairs_total") && l.ends_with(" 1")),
        "{metrics}"
    );
    assert_eq!(scrub(&mons, "deep-scrub", &pgid)["errors"], 0);
    assert_eq!(io.read("obj-5", 0, None).await.unwrap(), payload(5));
    wait_health(&mons, &osds, "HEALTH_OK", &[]);
    println!(
        "cluster up and 8 objects written in {booted:?}; light + deep scrub of one PG {scrubbed:?}; \
         repair to HEALTH_OK {repair_took:?}; read repair {read_repair:?}; total {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_repair_from_the_config_file_repairs_after_a_scrub_finds_errors() {
    let mons = Monitors::start_with(1, &["--beacon-grace", "6"]);
    // Every `shoal osd` of this cluster reads the `[osd]` table.
    let mut conf = std::fs::read_to_string(&mons.conf).unwrap();
    conf.push_str("[osd]\nauto_repair = true\n");
    std::fs::write(&mons.conf, conf).unwrap();
    mons.wait_leader(&[0], Duration::from_secs(20));
    let mut osds = Osds::start(&mons, 3);
    wait_osds(&mons, Duration::from_secs(30), "3 OSDs up", |v| {
        v["osds"]
            .as_array()
            .is_some_and(|a| a.iter().filter(|o| o["up"] == true).count() == 3)
    });
    json(mons.shoal("pool create data --size 3 --min-size 2 --pg-num 1 --format json"));
    wait_pgs(&mons, &osds, "active+clean", |s| s == "active+clean");
    let client = connect(&mons, Duration::from_secs(30)).await;
    let io = client.pool("data").await.unwrap();
    for i in 0..3 {
        io.write_full(&format!("obj-{i}"), payload(i))
            .await
            .unwrap();
    }
    let (pgid, acting, _) = placement_of(&mons, "obj-1");
    corrupt_on(&mons, &mut osds, acting[2], "obj-1");
    wait_pgs(&mons, &osds, "active+clean", |s| s == "active+clean");

    // The deep scrub finds the bad copy and the repair follows on its own (possibly before
    // the CLI looks: it prints the PG's latest result); the repair's closing scrub is clean.
    scrub(&mons, "deep-scrub", &pgid);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = json(mons.shoal(&format!("pg list-inconsistent {pgid} --format json")));
        if list["last_scrub"] == "repair" {
            assert_eq!(list["errors"], 0, "{list}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no auto-repair: {list}\n{}",
            osds.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = http_get(osds.http[acting[0]], "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("shoal_osd_scrub_repaired_total") && l.ends_with(" 1")),
        "one copy repaired: {metrics}"
    );
    wait_health(&mons, &osds, "HEALTH_OK", &[]);
    assert_eq!(scrub(&mons, "deep-scrub", &pgid)["errors"], 0);
    assert_eq!(io.read("obj-1", 0, None).await.unwrap(), payload(1));
}
