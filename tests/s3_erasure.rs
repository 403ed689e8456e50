//! The S3 gateway over an erasure-coded data pool: `shoal gateway --data-pool-ec 2+1` on the
//! three-OSD test cluster keeps heads and 4 MiB tails as shards (users, buckets and indexes
//! stay in replicated pools). Objects from 1 byte to 20 MiB round-trip, a ranged GET crosses
//! a head/tail boundary, an overwrite and a delete work as on a replicated pool.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use common::gateway::Cluster;
use common::s3::{Must, assert_same, body, get, put, random_bytes};

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_objects_round_trip_on_an_erasure_coded_data_pool() {
    let cluster = Cluster::start_with(&["--data-pool-ec", "2+1"]);
    let pool = cluster.shoal_json(&["pool", "get", "default.rgw.buckets.data"]);
    assert_eq!(pool["type"], "erasure", "{pool}");
    assert_eq!((pool["k"].as_u64(), pool["m"].as_u64()), (Some(2), Some(1)));
    let index = cluster.shoal_json(&["pool", "get", "default.rgw.buckets.index"]);
    assert_eq!(index["type"], "replicated", "{index}");

    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket("cold")
        .send()
        .await
        .must("create");
    let sizes = [1, 1000, 4 * MIB, 4 * MIB + 1, 20 * MIB];
    for (i, len) in sizes.iter().enumerate() {
        let data = random_bytes(*len, i as u64 + 1);
        let key = format!("obj-{len}");
        put(&s3, "cold", &key, &data).await;
        assert_same(&get(&s3, "cold", &key).await, &data, &key);
    }
    let big = random_bytes(20 * MIB, 5);
    let (from, to) = (4 * MIB - 50, 4 * MIB + 49);
    let part = s3
        .get_object()
        .bucket("cold")
        .key(format!("obj-{}", 20 * MIB))
        .range(format!("bytes={from}-{to}"))
        .send()
        .await
        .must("ranged get");
    assert_same(&body(part.body).await, &big[from..=to], "range");

    let small = random_bytes(10, 99);
    put(&s3, "cold", "obj-1000", &small).await;
    assert_same(&get(&s3, "cold", "obj-1000").await, &small, "overwrite");
    s3.delete_object()
        .bucket("cold")
        .key("obj-1")
        .send()
        .await
        .must("delete");
    let gone = s3.get_object().bucket("cold").key("obj-1").send().await;
    assert!(gone.is_err(), "deleted object still readable");
}
