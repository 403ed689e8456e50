//! kill -9 of the gateway in the middle of PUTs and a multipart upload. After a restart,
//! every acknowledged object reads back intact, an object whose PUT was cut off is either
//! its old or its new version (never a mix, never torn), listings agree with what reads
//! see once the janitor has run, and after the janitor and GC the data pool holds exactly
//! the objects the surviving data needs: nothing orphaned.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::io::Write;
use std::net::TcpStream;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::gateway::Cluster;
use common::s3::{Must, body, list_keys, presigned_headers, presigned_target, random_bytes};

const MIB: usize = 1 << 20;
const STRIPE: usize = 4 * MIB;
const BUCKET: &str = "crash";
const WRITERS: u64 = 4;
const KEYS_PER_WRITER: u64 = 3;

/// What a key may hold: the last acknowledged write and the one in flight, as seeds.
#[derive(Clone, Debug, Default)]
struct KeyState {
    acked: Option<u64>,
    in_flight: Option<u64>,
}

/// Object sizes cycle through empty, small, exactly a stripe, and several stripes.
fn size_of(seed: u64) -> usize {
    [0, 1000, 100_000, STRIPE, 5 * MIB + 3, 9 * MIB][(seed % 6) as usize]
}

fn data_of(seed: u64) -> Vec<u8> {
    random_bytes(size_of(seed), seed)
}

/// Data-pool objects one live object of `size` bytes uses: its head plus a tail object per
/// further 4 MiB.
fn objects_for(size: usize) -> usize {
    1 + size.saturating_sub(STRIPE).div_ceil(STRIPE)
}

async fn writer(s3: aws_sdk_s3::Client, w: u64, state: Arc<Mutex<BTreeMap<String, KeyState>>>) {
    for n in 0.. {
        let key = format!("w{w}/k{}", n % KEYS_PER_WRITER);
        let seed = w * 1_000_000 + n + 1;
        state
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .in_flight = Some(seed);
        let put = s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(data_of(seed)))
            .send()
            .await;
        if put.is_err() {
            return; // the gateway is gone; this write may or may not have landed
        }
        let mut state = state.lock().unwrap();
        let entry = state.get_mut(&key).unwrap();
        entry.acked = Some(seed);
        entry.in_flight = None;
    }
}

async fn uploader(s3: aws_sdk_s3::Client) -> String {
    let upload = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("multi")
        .send()
        .await
        .must("create upload");
    let id = upload.upload_id().unwrap().to_string();
    let task_id = id.clone();
    tokio::spawn(async move {
        for part in 1..=100 {
            let sent = s3
                .upload_part()
                .bucket(BUCKET)
                .key("multi")
                .upload_id(&task_id)
                .part_number(part)
                .body(ByteStream::from(random_bytes(5 * MIB, 7_000 + part as u64)))
                .send()
                .await;
            if sent.is_err() {
                return;
            }
        }
    });
    id
}

/// A PUT of `declared` bytes that sends only `sent` and then holds the connection open:
/// the gateway has written the tails of what arrived and waits for the rest when it dies.
async fn stalled_put(cluster: &Cluster, key: &str, declared: usize, sent: usize) -> TcpStream {
    let presigned = cluster
        .s3()
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .must("presign the stalled PUT");
    let mut head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {declared}\r\n",
        presigned_target(&presigned),
        cluster.addr
    );
    for (k, v) in presigned_headers(&presigned) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut conn = TcpStream::connect(cluster.addr).unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&random_bytes(sent, 99)).unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_kill_9_mid_writes_loses_nothing_and_leaves_no_orphans() {
    let mut cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .must("create bucket");

    let state = Arc::new(Mutex::new(BTreeMap::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(s3.clone(), w, state.clone())))
        .collect();
    let upload_id = uploader(s3.clone()).await;
    // 9 MiB of 10 arrive: the head stripe waits in memory, one tail is written, the rest
    // never comes. Only the janitor can clean that tail up.
    let stalled = stalled_put(&cluster, "stalled", 10 * MIB, 9 * MIB).await;
    // Let the load run until a few writes per writer were acknowledged, then kill.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let acked = state
            .lock()
            .unwrap()
            .values()
            .filter(|k| k.acked.is_some())
            .count();
        if acked >= (WRITERS * KEYS_PER_WRITER) as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    cluster.kill_gateway();
    drop(stalled);
    for w in writers {
        w.await.unwrap();
    }
    let state = state.lock().unwrap().clone();
    let acked = state.values().filter(|k| k.acked.is_some()).count();
    let cut = state.values().filter(|k| k.in_flight.is_some()).count();
    eprintln!("killed the gateway with {acked} keys acknowledged, {cut} writes in flight");
    assert!(acked > 0, "no write was acknowledged before the kill");

    cluster.restart_gateway();
    let s3 = cluster.s3();

    // The stalled PUT never completed, so nothing of it is visible.
    let stalled = s3.head_object().bucket(BUCKET).key("stalled").send().await;
    assert!(stalled.is_err(), "the stalled PUT must not be visible");

    // Every key holds its acknowledged version or the one cut off, whole.
    let mut live = BTreeMap::new();
    for (key, ks) in &state {
        let got = s3.get_object().bucket(BUCKET).key(key).send().await;
        let got = match got {
            Ok(out) => Some(body(out.body).await),
            Err(e) => {
                let code = e.into_service_error().meta().code().map(str::to_string);
                assert_eq!(code.as_deref(), Some("NoSuchKey"), "GET {key}");
                None
            }
        };
        let candidates: Vec<u64> = ks.acked.into_iter().chain(ks.in_flight).collect();
        match got {
            None => assert!(
                ks.acked.is_none(),
                "{key}: acknowledged write (seed {:?}) lost",
                ks.acked
            ),
            Some(bytes) => {
                let seed = candidates
                    .iter()
                    .copied()
                    .find(|s| data_of(*s) == bytes)
                    .unwrap_or_else(|| {
                        panic!(
                            "{key}: {} bytes match neither the acknowledged nor the cut-off write ({candidates:?})",
                            bytes.len()
                        )
                    });
                live.insert(key.clone(), size_of(seed));
            }
        }
    }

    // Listings converge on exactly the readable keys once the janitor has resolved what the
    // crash left pending (the harness runs it with --janitor-after 3).
    let want: BTreeSet<String> = live.keys().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed: BTreeSet<String> = list_keys(&s3, BUCKET, "w", 1000)
            .await
            .into_iter()
            .collect();
        if listed == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "listing {listed:?} never matched the readable keys {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The interrupted multipart upload is still there to abort, as S3 keeps it.
    let uploads = s3
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .must("list uploads");
    assert!(
        uploads
            .uploads()
            .iter()
            .any(|u| u.upload_id() == Some(upload_id.as_str())),
        "the interrupted upload is listed"
    );
    s3.abort_multipart_upload()
        .bucket(BUCKET)
        .key("multi")
        .upload_id(&upload_id)
        .send()
        .await
        .must("abort the interrupted upload");

    // GC (--gc-delay 2) and the janitor leave exactly the live objects' heads and tails.
    let need: usize = live.values().map(|size| objects_for(*size)).sum();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let have = cluster.data_pool_objects();
        if have.len() == need {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "data pool holds {} objects, the {} live objects need {need}: {have:?}",
            have.len(),
            live.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What one writer of the versioned crash test knows: each acknowledged version's id and
/// seed (`None`: a delete marker), the versions whose deletion was acknowledged, and the
/// operation that was in flight when the gateway died.
#[derive(Debug, Default)]
struct Versions {
    acked: BTreeMap<String, Option<u64>>,
    deleted: BTreeSet<String>,
    in_flight: Option<InFlight>,
}

/// The operation a versioned writer had sent and not seen answered. Either outcome is
/// allowed for it: a write may or may not have made a version, a deletion by id may or may
/// not have removed its version.
#[derive(Debug, Clone)]
enum InFlight {
    Write,
    Delete(String),
}

impl Versions {
    /// The version an unanswered deletion may have removed.
    fn maybe_deleted(&self) -> Option<&str> {
        match &self.in_flight {
            Some(InFlight::Delete(id)) => Some(id),
            _ => None,
        }
    }

    /// Whether an unanswered write may have made one more version.
    fn maybe_written(&self) -> bool {
        matches!(self.in_flight, Some(InFlight::Write))
    }
}

/// PUTs, delete markers and deletes of specific older versions on one key, until the
/// gateway is gone.
async fn versioned_writer(s3: aws_sdk_s3::Client, w: u64, state: Arc<Mutex<Versions>>) {
    let key = format!("v{w}");
    for n in 0.. {
        let seed = w * 1_000_000 + n + 1;
        let older = {
            let s = state.lock().unwrap();
            s.acked
                .keys()
                .find(|id| !s.deleted.contains(*id) && n % 3 == 2)
                .cloned()
        };
        state.lock().unwrap().in_flight = Some(match &older {
            Some(id) => InFlight::Delete(id.clone()),
            None => InFlight::Write,
        });
        if let Some(id) = older {
            // Delete an acknowledged older version by id.
            if s3
                .delete_object()
                .bucket(VBUCKET)
                .key(&key)
                .version_id(&id)
                .send()
                .await
                .is_err()
            {
                return;
            }
            state.lock().unwrap().deleted.insert(id);
        } else if n % 5 == 4 {
            let Ok(out) = s3.delete_object().bucket(VBUCKET).key(&key).send().await else {
                return;
            };
            let id = out.version_id().expect("a marker id").to_owned();
            state.lock().unwrap().acked.insert(id, None);
        } else {
            let Ok(out) = s3
                .put_object()
                .bucket(VBUCKET)
                .key(&key)
                .body(ByteStream::from(data_of(seed)))
                .send()
                .await
            else {
                return;
            };
            let id = out.version_id().expect("a version id").to_owned();
            state.lock().unwrap().acked.insert(id, Some(seed));
        }
        state.lock().unwrap().in_flight = None;
    }
}

const VBUCKET: &str = "vcrash";

/// Every version and delete marker id ListObjectVersions shows, by key.
async fn version_ids(s3: &aws_sdk_s3::Client) -> BTreeMap<String, BTreeSet<String>> {
    let resp = s3
        .list_object_versions()
        .bucket(VBUCKET)
        .send()
        .await
        .must("list versions");
    assert!(
        !resp.is_truncated().unwrap_or(false),
        "one page holds them all"
    );
    let ids = resp
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap()))
        .chain(
            resp.delete_markers()
                .iter()
                .map(|m| (m.key().unwrap(), m.version_id().unwrap())),
        );
    let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, id) in ids {
        listed
            .entry(key.to_owned())
            .or_default()
            .insert(id.to_owned());
    }
    listed
}

/// kill -9 of the gateway while versioned PUTs, delete markers and deletes of named versions
/// run: after a restart every acknowledged version reads back whole (markers are listed),
/// no version whose deletion was acknowledged comes back, the listing holds nothing else
/// but what was in flight, and once every version is deleted, janitor and GC leave no data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_kill_9_mid_versioned_writes_loses_no_version() {
    let mut cluster = Cluster::start();
    let s3 = cluster.s3();
    s3.create_bucket()
        .bucket(VBUCKET)
        .send()
        .await
        .must("create bucket");
    s3.put_bucket_versioning()
        .bucket(VBUCKET)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .must("enable versioning");
    let states: Vec<_> = (0..WRITERS)
        .map(|_| Arc::new(Mutex::new(Versions::default())))
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(versioned_writer(s3.clone(), w, states[w as usize].clone())))
        .collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let done = states
            .iter()
            .filter(|s| {
                let s = s.lock().unwrap();
                s.acked.len() >= 4 && !s.deleted.is_empty()
            })
            .count();
        if done == WRITERS as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.kill_gateway();
    for w in writers {
        w.await.unwrap();
    }
    cluster.restart_gateway();
    let s3 = cluster.s3();
    // The writers are done: what they knew is final.
    let states: Vec<Versions> = states
        .into_iter()
        .map(|s| Arc::try_unwrap(s).unwrap().into_inner().unwrap())
        .collect();

    for (w, state) in states.iter().enumerate() {
        let key = format!("v{w}");
        eprintln!(
            "{key}: {} versions acknowledged, {} deletions, in flight: {:?}",
            state.acked.len(),
            state.deleted.len(),
            state.in_flight
        );
        for (id, seed) in &state.acked {
            let got = s3
                .get_object()
                .bucket(VBUCKET)
                .key(&key)
                .version_id(id)
                .send()
                .await;
            let gone = state.deleted.contains(id);
            let maybe_gone = state.maybe_deleted() == Some(id.as_str());
            match (gone, seed, got) {
                (true, _, Ok(_)) => panic!("{key} {id}: deleted, yet it reads"),
                (true, _, Err(_)) => {}
                (false, Some(seed), Ok(out)) if maybe_gone => {
                    assert!(body(out.body).await == data_of(*seed), "{key} {id}: torn");
                }
                (false, seed, Err(e)) if maybe_gone => {
                    // Gone (404), or a delete marker still there (405).
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    assert!(
                        status == Some(404) || (seed.is_none() && status == Some(405)),
                        "{key} {id}: its deletion was cut off; it reads or is gone: {status:?}"
                    );
                }
                (false, Some(seed), Ok(out)) => {
                    assert!(body(out.body).await == data_of(*seed), "{key} {id}: torn");
                }
                (false, Some(_), Err(e)) => panic!("{key} {id}: acknowledged version lost: {e:?}"),
                (false, None, got) => {
                    let e = got.expect_err("a delete marker does not read");
                    assert_eq!(
                        e.raw_response().map(|r| r.status().as_u16()),
                        Some(405),
                        "{key} {id}"
                    );
                }
            }
        }
    }

    // The listing converges (janitor) on the acknowledged live versions, plus at most the
    // one version each writer had in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = version_ids(&s3).await;
        let settled = states.iter().enumerate().all(|(w, state)| {
            let maybe_gone = state.maybe_deleted();
            let live: BTreeSet<String> = state
                .acked
                .keys()
                .filter(|id| !state.deleted.contains(*id) && Some(id.as_str()) != maybe_gone)
                .cloned()
                .collect();
            let mut have = listed.get(&format!("v{w}")).cloned().unwrap_or_default();
            if let Some(id) = maybe_gone {
                have.remove(id);
            }
            let extra = have.difference(&live).count();
            live.is_subset(&have) && extra <= usize::from(state.maybe_written())
        });
        if settled {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "the version listing never matched what was acknowledged: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // Deleting every version listed (a write cut off after its head swap is listed once the
    // janitor has settled it) leaves, after janitor and GC, no data at all.
    let mut listed = listed;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        for (key, ids) in &listed {
            for id in ids {
                s3.delete_object()
                    .bucket(VBUCKET)
                    .key(key)
                    .version_id(id)
                    .send()
                    .await
                    .must("delete a version");
            }
        }
        let have = cluster.data_pool_objects();
        if listed.is_empty() && have.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "data pool still holds {have:?} after every version was deleted"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        listed = version_ids(&s3).await;
    }
}
