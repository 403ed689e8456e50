//! `shoal bench` through the binary: `bench codec` in process, and `bench rados` on a
//! size-3 pool of one monitor and three OSDs (objects kept with --keep, removed without it,
//! a missing pool refused). Checks the JSON's shape and that rates are positive; timings are
//! never asserted.
#![allow(clippy::disallowed_methods)] // the harness's waits read std Instant

mod common;

use std::time::Duration;

use common::osds::{Osds, wait_all_up, wait_settled};
use common::{Monitors, json};

/// Names in `shoal rados -p POOL ls --format json`.
fn objects(mons: &Monitors, pool: &str) -> Vec<String> {
    let ls = json(mons.shoal(&format!("rados -p {pool} ls --format json")));
    let mut names: Vec<String> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["object"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn positive(v: &serde_json::Value, field: &str) {
    let n = v[field].as_f64();
    assert!(n.is_some_and(|n| n > 0.0), "{field} not positive in {v}");
}

#[test]
fn bench_codec_reports_positive_rates() {
    // No cluster and no config: the codec runs in process.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args("bench codec --ec 4+2 --stripe-unit 64KiB --object-size 1MiB --seconds 1".split(' '))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = json(out);
    for field in [
        "encode_gb_per_s",
        "decode_gb_per_s",
        "degraded_decode_gb_per_s",
    ] {
        positive(&v, field);
    }
    assert_eq!(v["k"], 4);
    assert_eq!(v["lost_data_shards"], 2);
}

#[test]
fn bench_rados_writes_reads_and_cleans_up() {
    let mons = Monitors::start(1);
    mons.wait_leader(&[0], Duration::from_secs(20));
    let osds = Osds::start(&mons, 3);
    wait_all_up(&mons, 3);
    json(mons.shoal("pool create p --size 3 --pg-num 8 --format json"));
    wait_settled(&mons, &osds, Duration::from_secs(60));

    let run = |extra: &str| {
        json(mons.shoal(&format!(
            "--timeout 30 bench rados --pool p --objects 8 --object-size 256KiB \
             --concurrency 3 --format json {extra}"
        )))
    };
    let v = run("--keep");
    for phase in ["put", "get"] {
        for field in ["mb_per_s", "ops_per_s", "mean_latency_ms", "seconds"] {
            positive(&v[phase], field);
        }
    }
    assert_eq!(v["objects"], 8);
    assert_eq!(v["object_size"], 256 << 10);
    assert_eq!(v["kind"], "replicated size 3");
    let want: Vec<String> = {
        let mut w: Vec<String> = (0..8).map(|i| format!("bench-{i}")).collect();
        w.sort();
        w
    };
    assert_eq!(objects(&mons, "p"), want, "--keep left the objects");

    let v = run("");
    positive(&v["put"], "mb_per_s");
    positive(&v["get"], "mb_per_s");
    assert_eq!(v["kept"], false);
    assert!(objects(&mons, "p").is_empty(), "the objects are removed");

    let out = mons.shoal("bench rados --pool nope --objects 1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such pool 'nope'"), "{err}");
}
