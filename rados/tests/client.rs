#![allow(clippy::disallowed_methods)] // real sockets, real clocks

//! `RadosClient` over real QUIC on loopback, against a fake monitor and fake OSDs
//! (`client/fake.rs`): every op, guards, listing, and the retry rules (stale map, lost
//! reply, unavailable PG, timeout) with the reqid kept across resends.

#[path = "client/fake.rs"]
mod fake;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use placement::{Change, OsdId, Placement};
use rados::client::{MAX_OBJECT_SIZE, RetryCause};
use rados::proto::osd::{OsdError, Version};
use rados::{ClientConfig, ClientError, Keyring, MessengerConfig, RadosClient, WriteOp};

use fake::Cluster;

fn config() -> ClientConfig {
    ClientConfig {
        op_timeout: Duration::from_secs(10),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        messenger: MessengerConfig {
            request_timeout: Duration::from_millis(500),
            ..MessengerConfig::default()
        },
    }
}

async fn connect(cluster: &Cluster, config: ClientConfig) -> Arc<RadosClient> {
    RadosClient::connect(vec![cluster.mon_addr], &cluster.keyring, config)
        .await
        .unwrap()
}

#[tokio::test]
async fn object_ops_round_trip() {
    let cluster = Cluster::start(3);
    let client = connect(&cluster, config()).await;
    let data = client.pool("data").await.unwrap();
    assert_eq!(data.pool_id(), client.pool_id("data"));

    let v1 = data.write_full("obj", &b"hello world"[..]).await.unwrap();
    assert_eq!(
        &data.read("obj", 0, None).await.unwrap()[..],
        b"hello world"
    );
    assert_eq!(&data.read("obj", 6, Some(3)).await.unwrap()[..], b"wor");
    let stat = data.stat("obj").await.unwrap();
    assert_eq!(stat.size, 11);
    assert_eq!(stat.version, v1);
    assert_eq!(stat.crc, crc32c::crc32c(b"hello world"));

    data.set_xattr("obj", "owner", b"me").await.unwrap();
    assert_eq!(
        data.get_xattr("obj", "owner").await.unwrap().as_deref(),
        Some(&b"me"[..])
    );
    assert_eq!(data.get_xattr("obj", "nope").await.unwrap(), None);
    assert_eq!(
        data.get_xattrs("obj").await.unwrap(),
        vec![("owner".to_owned(), b"me".to_vec())]
    );
    data.rm_xattr("obj", "owner").await.unwrap();
    assert_eq!(data.get_xattr("obj", "owner").await.unwrap(), None);

    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..5)
        .map(|i| (format!("k{i}").into_bytes(), format!("v{i}").into_bytes()))
        .collect();
    data.omap_set("obj", entries.clone()).await.unwrap();
    assert_eq!(
        data.omap_get("obj", vec![b"k1".to_vec(), b"zz".to_vec()])
            .await
            .unwrap(),
        vec![(b"k1".to_vec(), b"v1".to_vec())]
    );
    assert_eq!(
        data.omap_list("obj", Some(b"k1"), 2).await.unwrap(),
        entries[2..4].to_vec()
    );
    data.omap_rm("obj", vec![b"k0".to_vec()]).await.unwrap();
    assert_eq!(
        data.omap_list("obj", None, 100).await.unwrap(),
        entries[1..].to_vec()
    );

    data.remove("obj").await.unwrap();
    let err = data.stat("obj").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::NoSuchObject { pool, object } if pool == "data" && object == "obj")
    );
    assert!(err.is_not_found());
    assert_eq!(err.to_string(), "no such object 'obj' in pool 'data'");
    assert!(matches!(
        data.remove("obj").await,
        Err(ClientError::NoSuchObject { .. })
    ));
}

#[tokio::test]
async fn guarded_writes_change_nothing_when_a_guard_fails() {
    let cluster = Cluster::start(3);
    let client = connect(&cluster, config()).await;
    let data = client.pool("data").await.unwrap();

    // A lease: take it only if nobody holds it.
    let take = |who: &'static [u8]| {
        WriteOp::new()
            .cmp_xattr("lease", None)
            .set_xattr("lease", who)
    };
    let v = data.write("lock", take(b"a")).await.unwrap();
    let err = data.write("lock", take(b"b")).await.unwrap_err();
    assert!(matches!(err, ClientError::GuardFailed { ref object, .. } if object == "lock"));
    assert_eq!(data.stat("lock").await.unwrap().version, v);

    // Compare-and-swap on the version; the guard goes first even if added last.
    let cas = |seen: Version, body: &'static [u8]| {
        WriteOp::new()
            .write_full(Bytes::from_static(body))
            .cmp_xattr("lease", Some(b"a"))
            .assert_version(seen)
    };
    let v2 = data.write("lock", cas(v, b"one")).await.unwrap();
    assert!(v2 > v);
    assert!(matches!(
        data.write("lock", cas(v, b"two")).await,
        Err(ClientError::GuardFailed { .. })
    ));
    assert_eq!(&data.read("lock", 0, None).await.unwrap()[..], b"one");

    // Create-only: version ZERO means "does not exist".
    let create = WriteOp::new()
        .assert_version(Version::ZERO)
        .write_full(&b"x"[..]);
    assert!(data.write("fresh", create.clone()).await.is_ok());
    assert!(data.write("fresh", create).await.is_err());

    // One omap entry as the guard: remove it only if it still holds what was read.
    data.omap_set("index", vec![(b"k".to_vec(), b"v1".to_vec())])
        .await
        .unwrap();
    let remove_if = |seen: &'static [u8]| {
        WriteOp::new()
            .cmp_omap(b"k", Some(seen))
            .omap_rm(vec![b"k".to_vec()])
    };
    assert!(matches!(
        data.write("index", remove_if(b"v0")).await,
        Err(ClientError::GuardFailed { .. })
    ));
    data.write("index", remove_if(b"v1")).await.unwrap();
    assert!(data.omap_list("index", None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn listing_pages_through_every_pg() {
    let cluster = Cluster::start(3);
    let client = connect(&cluster, config()).await;
    let data = client.pool("data").await.unwrap();
    let names: BTreeSet<String> = (0..25).map(|i| format!("object-{i}")).collect();
    for name in &names {
        data.write_full(name, Bytes::from(name.clone()))
            .await
            .unwrap();
    }
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = data.list_objects(cursor, 7).await.unwrap();
        assert!(page.len() <= 7);
        for (name, stat) in page {
            assert_eq!(stat.size, name.len() as u64);
            listed.push(name);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(listed.len(), names.len(), "each object exactly once");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), names);
}

/// Stops the subscription from delivering new epochs (once the long poll in flight ends).
async fn freeze(cluster: &Cluster) {
    cluster.frozen.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The primary of `object`'s PG in the monitor's map.
fn primary(cluster: &Cluster, pool: placement::PoolId, object: &str) -> OsdId {
    let map = cluster.map();
    Placement::new(&map)
        .map_object(pool, object.as_bytes())
        .unwrap()
        .primary
        .unwrap()
}

#[tokio::test]
async fn a_stale_map_is_refreshed_and_the_op_resent_with_the_same_reqid() {
    let cluster = Cluster::start(4);
    let client = connect(&cluster, config()).await;
    let data = client.pool("data").await.unwrap();
    let pool = data.pool_id().expect("a cluster pool");
    // The client learns of the change only by asking, after the old primary refuses.
    freeze(&cluster).await;
    let old = primary(&cluster, pool, "moving");
    let pg = Placement::new(&cluster.map())
        .map_object(pool, b"moving")
        .unwrap()
        .pg;
    let new = (0..4).map(OsdId).find(|o| *o != old).unwrap();
    let epoch = cluster.commit(vec![Change::PgTempSet {
        pg,
        osds: vec![Some(new), Some(old)],
    }]);
    assert!(client.epoch() < epoch);

    let version = data.write_full("moving", &b"x"[..]).await.unwrap();
    assert_eq!(client.epoch(), epoch);
    assert_eq!(cluster.version(pool, "moving"), Some(version));
    let seen = cluster.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].0, old);
    assert_eq!(seen[1].0, new);
    assert_eq!(seen[0].1, seen[1].1, "same reqid on the resend");
    assert_eq!(seen[0].1.client, client.id());
}

#[tokio::test]
async fn a_lost_reply_is_resent_with_the_same_reqid_and_applied_once() {
    let cluster = Cluster::start(3);
    let client = connect(&cluster, config()).await;
    let data = client.pool("data").await.unwrap();
    cluster.stall.store(1, Ordering::Relaxed);
    let started = Instant::now();
    let version = data.write_full("once", &b"x"[..]).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "first reply was held"
    );
    assert!(
        started.elapsed() < fake::STALL,
        "did not wait for the held reply"
    );
    assert_eq!(cluster.writes.load(Ordering::Relaxed), 1, "applied once");
    assert_eq!(
        cluster.version(data.pool_id().expect("a cluster pool"), "once"),
        Some(version)
    );
    let seen = cluster.seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(seen.iter().all(|(_, id)| *id == seen[0].1), "{seen:?}");

    // The next op gets a new reqid.
    data.write_full("once", &b"y"[..]).await.unwrap();
    assert_eq!(cluster.writes.load(Ordering::Relaxed), 2);
    let seen = cluster.seen.lock().unwrap().clone();
    assert_ne!(seen.last().unwrap().1, seen[0].1);
}

#[tokio::test]
async fn an_unavailable_pg_is_retried_until_it_recovers() {
    let cluster = Cluster::start(3);
    let client = connect(&cluster, config()).await;
    let data = client.pool("data").await.unwrap();
    cluster.unavailable.store(3, Ordering::Relaxed);
    data.write_full("patient", &b"x"[..]).await.unwrap();
    assert_eq!(cluster.seen.lock().unwrap().len(), 4);
    assert_eq!(cluster.writes.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_op_gives_up_at_its_timeout_with_the_last_cause() {
    let cluster = Cluster::start(3);
    let config = ClientConfig {
        op_timeout: Duration::from_millis(600),
        ..config()
    };
    let client = connect(&cluster, config).await;
    let data = client.pool("data").await.unwrap();
    cluster.unavailable.store(u32::MAX, Ordering::Relaxed);
    let started = Instant::now();
    let err = data.write_full("never", &b"x"[..]).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "{took:?}"
    );
    match err {
        ClientError::Timeout { after, last } => {
            assert_eq!(after, Duration::from_millis(600));
            assert!(
                matches!(*last, RetryCause::Osd(OsdError::Unavailable { .. })),
                "{last:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cluster.writes.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn pools_are_found_after_one_refresh_or_reported_missing() {
    let cluster = Cluster::start(3);
    let client = connect(&cluster, config()).await;
    freeze(&cluster).await;
    cluster.create_pool("fresh");
    assert_eq!(client.pool_id("fresh"), None);
    let fresh = client.pool("fresh").await.unwrap();
    fresh.write_full("a", &b"1"[..]).await.unwrap();

    let err = client.pool("nope").await.unwrap_err();
    assert!(matches!(&err, ClientError::NoSuchPool(name) if name == "nope"));
    assert_eq!(err.to_string(), "no such pool 'nope'");

    // A pool deleted under an open handle.
    let id = fresh.pool_id().expect("a cluster pool");
    cluster.commit(vec![Change::PoolRemove(id)]);
    assert!(matches!(
        fresh.stat("a").await,
        Err(ClientError::NoSuchPool(name)) if name == "fresh"
    ));
}

#[tokio::test]
async fn the_client_follows_new_epochs_until_dropped() {
    let cluster = Cluster::start(3);
    let client = connect(&cluster, config()).await;
    let epoch = cluster.commit(vec![Change::OsdOut(OsdId(2))]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.epoch() < epoch {
        assert!(
            Instant::now() < deadline,
            "the subscription did not deliver {epoch}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!client.map().osds[&OsdId(2)].is_in);

    drop(client);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_drop = cluster.subscribes.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(cluster.subscribes.load(Ordering::Relaxed), after_drop);
}

#[tokio::test]
async fn oversized_objects_and_strangers_are_refused() {
    let cluster = Cluster::start(3);
    let client = connect(&cluster, config()).await;
    let data = client.pool("data").await.unwrap();
    let big = Bytes::from(vec![0u8; MAX_OBJECT_SIZE as usize + 1]);
    assert!(matches!(
        data.write_full("big", big).await,
        Err(ClientError::TooLarge { .. })
    ));
    assert!(cluster.seen.lock().unwrap().is_empty(), "nothing was sent");

    let stranger = Keyring::generate().unwrap();
    let started = Instant::now();
    let err = RadosClient::connect(vec![cluster.mon_addr], &stranger, config())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Mon(_)), "{err}");
    assert!(err.to_string().contains("cluster key"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
