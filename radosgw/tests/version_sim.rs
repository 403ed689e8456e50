//! A seeded simulation of the versioning protocol: several gateways write, mark and delete
//! versions of one key at once, against pools in memory with the OSD's op semantics
//! ([`rados::MemoryPool`]). Proptest picks each gateway's operations, the interleaving of
//! their cluster ops (every op is a point where another gateway may run) and where gateways
//! die (their operation dropped between two ops). After the janitor has resolved what the
//! dead left, the properties S3 users rely on must hold:
//! - every acknowledged version that no deletion named is listed and reads back whole;
//! - no version whose deletion was acknowledged is listed;
//! - nothing is listed that no operation wrote, and each version at most once;
//! - the current version (what a GET without an id reads) is the newest listed one;
//! - of two writes where one was acknowledged before the other began, the later is newer;
//! - a version put under legal hold is never deleted: each deletion of it that began after
//!   the hold was acknowledged is refused, and it is listed, whole and held, at the end
//!   (promoted to current or not);
//! - once every version is deleted, janitor and GC leave no data and no index entry.
//!
//! A failure prints the minimal case proptest shrank it to: plans, schedule and deaths are
//! all there is to it, so calling `simulate` with them replays it exactly. A longer search:
//! `SHOAL_SIM_CASES=20000 cargo nextest run -p radosgw -E 'binary(version_sim)'`.

mod sim;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use radosgw::buckets::Buckets;
use radosgw::cluster::Cluster;
use radosgw::layout::{STRIPE, head_oid, index_oid, tail_oid};
use radosgw::listing::{Item, ListParams, list_versions};
use radosgw::objects::{ObjectSettings, Objects, Preconditions, VersionDelete};
use radosgw::records::{Acl, BucketRecord, Manifest, ObjectMeta, Segment, Versioning};
use radosgw::versions::{self, VersionRef};
use radosgw::{gc, janitor};
use s3s::S3ErrorCode;
use sim::{Task, block_on, cases, run};

const KEY: &str = "k";
/// A key whose version records follow KEY's in the same shard, more than one page of them,
/// so that reads of KEY's records see a full page that is not all KEY's.
const NEIGHBOUR: &str = "k+";
const NEIGHBOUR_VERSIONS: usize = 40;

/// What one gateway does, one after the other.
#[derive(Clone, Debug)]
enum Step {
    /// A PUT of this many tail bytes (0: the head holds it all).
    Put(u8),
    /// A DELETE without a version id: a delete marker.
    Marker,
    /// A DELETE of an acknowledged version (picked by this index among those known).
    Delete(u8),
    /// A legal hold put on an acknowledged version that is not a marker (picked likewise).
    Hold(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..3).prop_map(Step::Put),
        1 => Just(Step::Marker),
        2 => any::<u8>().prop_map(Step::Delete),
        1 => any::<u8>().prop_map(Step::Hold),
    ]
}

/// What became of an operation.
#[derive(Clone, Debug)]
struct Record {
    /// The global step at which it began and ended (`None`: its gateway died first).
    began: usize,
    ended: Option<usize>,
    /// For writes: the ETag that names the operation's content, and its bytes.
    etag: Option<String>,
    bytes: Vec<u8>,
    /// The version id it made (writes) or named (deletes).
    version: Option<String>,
    /// A delete.
    delete: bool,
    /// A legal hold put on `version`.
    hold: bool,
    /// Refused: a delete of a held version, a hold of a version deleted meanwhile.
    refused: bool,
}

#[derive(Default)]
struct World {
    step: usize,
    ops: Vec<Record>,
}

fn content(gateway: usize, n: usize, tail: u8) -> (Vec<u8>, Vec<u8>) {
    let head = format!("g{gateway}-op{n}-head").into_bytes();
    let tail = vec![gateway as u8 ^ n as u8; usize::from(tail) * 3];
    (head, tail)
}

/// One gateway's operations, recorded in `world` as they begin and end.
async fn gateway(
    objects: &Objects,
    bucket: &BucketRecord,
    g: usize,
    steps: Vec<Step>,
    world: &RefCell<World>,
) {
    for (n, step) in steps.into_iter().enumerate() {
        let began = world.borrow().step;
        let at = {
            let mut w = world.borrow_mut();
            w.ops.push(Record {
                began,
                ended: None,
                etag: None,
                bytes: Vec::new(),
                version: None,
                delete: false,
                hold: false,
                refused: false,
            });
            w.ops.len() - 1
        };
        match step {
            Step::Put(tail_len) => {
                let (head, tail) = content(g, n, tail_len);
                let etag = format!("g{g}-op{n}");
                {
                    let mut w = world.borrow_mut();
                    w.ops[at].etag = Some(etag.clone());
                    w.ops[at].bytes = [head.clone(), tail.clone()].concat();
                }
                let txn = objects.start_install(bucket, KEY).await.expect("begin");
                let mut segments = Vec::new();
                if !tail.is_empty() {
                    let oid = tail_oid(txn.tail_prefix(), 1);
                    objects
                        .cluster
                        .data
                        .write_full(&oid, tail.clone())
                        .await
                        .expect("tail");
                    segments.push(Segment {
                        prefix: txn.tail_prefix().to_owned(),
                        first: 1,
                        len: tail.len() as u64,
                        part: None,
                    });
                }
                let meta = ObjectMeta {
                    size: (head.len() + tail.len()) as u64,
                    etag,
                    owner: "u".into(),
                    manifest: Manifest {
                        head_len: head.len() as u64,
                        segments,
                        pool: None,
                    },
                    ..ObjectMeta::default()
                };
                match txn
                    .install(meta, Bytes::from(head), &Preconditions::default())
                    .await
                {
                    Ok(done) => {
                        world.borrow_mut().ops[at].version =
                            Some(versions::id_of(&done).to_owned());
                    }
                    // A null write would replace a held null version.
                    Err(e) if e.is_s3(&S3ErrorCode::AccessDenied) => {
                        world.borrow_mut().ops[at].refused = true;
                    }
                    Err(e) => panic!("install: {e}"),
                }
            }
            Step::Marker if !bucket.versioning.keeps_versions() => {
                objects.delete(bucket, KEY).await.expect("delete");
            }
            Step::Marker => {
                let pre = Preconditions::default();
                match objects.put_delete_marker(bucket, KEY, "u", &pre).await {
                    Ok(done) => {
                        world.borrow_mut().ops[at].version =
                            Some(versions::id_of(&done).to_owned());
                    }
                    // A null marker would replace a held null version.
                    Err(e) if e.is_s3(&S3ErrorCode::AccessDenied) => {
                        world.borrow_mut().ops[at].refused = true;
                    }
                    Err(e) => panic!("marker: {e}"),
                }
            }
            Step::Delete(pick) => {
                let known = known_versions(world, false);
                world.borrow_mut().ops[at].delete = true;
                let Some(id) = known.get(usize::from(pick) % known.len().max(1)).cloned() else {
                    world.borrow_mut().ops.pop();
                    continue;
                };
                world.borrow_mut().ops[at].version = Some(id.clone());
                let which = VersionRef::parse(&id).expect("our ids parse");
                match objects
                    .delete_version(bucket, KEY, &which, VersionDelete::default())
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_s3(&S3ErrorCode::AccessDenied) => {
                        world.borrow_mut().ops[at].refused = true;
                    }
                    Err(e) => panic!("delete version: {e}"),
                }
            }
            Step::Hold(pick) => {
                let known = known_versions(world, true);
                world.borrow_mut().ops[at].hold = true;
                let Some(id) = known.get(usize::from(pick) % known.len().max(1)).cloned() else {
                    world.borrow_mut().ops.pop();
                    continue;
                };
                world.borrow_mut().ops[at].version = Some(id.clone());
                let which = VersionRef::parse(&id).expect("our ids parse");
                let held = objects
                    .update_meta(bucket, KEY, Some(&which), |m| {
                        m.legal_hold = true;
                        Ok(())
                    })
                    .await;
                match held {
                    Ok(_) => {}
                    Err(e) if e.is_s3(&S3ErrorCode::NoSuchVersion) => {
                        world.borrow_mut().ops[at].refused = true;
                    }
                    // "null" now names a null delete marker written since.
                    Err(e)
                        if e.is_s3(&S3ErrorCode::MethodNotAllowed) && id == versions::NULL_ID =>
                    {
                        world.borrow_mut().ops[at].refused = true;
                    }
                    Err(e) => panic!("legal hold: {e}"),
                }
            }
        }
        let mut w = world.borrow_mut();
        w.ops[at].ended = Some(w.step);
    }
}

/// The versions acknowledged writes made (or markers too, unless `writes_only`).
fn known_versions(world: &RefCell<World>, writes_only: bool) -> Vec<String> {
    let w = world.borrow();
    w.ops
        .iter()
        .filter(|o| !o.delete && !o.hold && o.ended.is_some())
        .filter(|o| !writes_only || o.etag.is_some())
        .filter_map(|o| o.version.clone())
        .collect()
}

/// A version's bytes, read straight from the data pool as its manifest says.
async fn bytes_of(objects: &Objects, bucket: &BucketRecord, meta: &ObjectMeta) -> Vec<u8> {
    let data = &objects.cluster.data;
    let mut out = Vec::new();
    if meta.manifest.head_len > 0 {
        let head = data
            .read(&head_oid(&bucket.id, KEY), 0, Some(meta.manifest.head_len))
            .await
            .expect("head bytes");
        out.extend_from_slice(&head);
    }
    for seg in &meta.manifest.segments {
        let mut left = seg.len;
        for n in seg.first..seg.first + seg.objects() {
            let want = left.min(STRIPE);
            let got = data
                .read(&tail_oid(&seg.prefix, n), 0, Some(want))
                .await
                .unwrap_or_else(|e| panic!("tail {} of {}: {e}", n, seg.prefix));
            out.extend_from_slice(&got);
            left -= want;
        }
    }
    out
}

/// Every version of `key`, newest first: (id, record).
async fn listed(objects: &Objects, bucket: &BucketRecord, key: &str) -> Vec<(String, ObjectMeta)> {
    let params = ListParams {
        max_keys: 100_000,
        ..ListParams::default()
    };
    let page = list_versions(&objects.cluster.index, &bucket.id, bucket.shards, &params)
        .await
        .expect("list versions");
    assert!(!page.is_truncated);
    page.items
        .into_iter()
        .filter_map(|item| match item {
            Item::Object { key: at, entry } => at
                .starts_with(&format!("{key}\0"))
                .then(|| (versions::id_of(&entry).to_owned(), entry)),
            Item::CommonPrefix(cp) => panic!("no delimiter, yet a prefix {cp}"),
        })
        .collect()
}

/// Whether version `which` of `key` is under legal hold, as reads and deletes see it (the
/// head for the current version: a gateway that died after changing the head and before
/// settling leaves its record behind until the key is next settled).
fn held_now(objects: &Objects, bucket: &BucketRecord, key: &str, which: &VersionRef) -> bool {
    block_on(objects.version_meta(bucket, key, which))
        .expect("version")
        .is_some_and(|(meta, _)| meta.legal_hold)
}

/// `plans[g]` is gateway g's operations; a gateway whose `stale` entry is set sees the
/// bucket as suspended while the others see it enabled (a bucket record cached across a
/// change); with `suspended`, the bucket is then suspended and written three more times.
fn simulate(
    plans: Vec<Vec<Step>>,
    schedule: Vec<u8>,
    deaths: Vec<u16>,
    stale: Vec<bool>,
    suspended: bool,
) {
    let cluster = Cluster::in_memory();
    let buckets = Buckets::new(&cluster, 1);
    let settings = ObjectSettings {
        gc_delay: Duration::ZERO,
        janitor_after: Duration::ZERO,
        max_uploads: 4,
    };
    let objects = Objects::new(cluster, settings);
    let mut bucket = block_on(buckets.create("sim", "u", Acl::default(), "us-east-1", None, None))
        .expect("bucket");
    block_on(buckets.set_versioning("sim", Versioning::Enabled)).expect("versioning");
    bucket.versioning = Versioning::Enabled;
    for n in 0..NEIGHBOUR_VERSIONS {
        let txn = block_on(objects.start_install(&bucket, NEIGHBOUR)).expect("begin");
        let meta = ObjectMeta {
            etag: format!("n{n}"),
            ..ObjectMeta::default()
        };
        block_on(txn.install(meta, Bytes::new(), &Preconditions::default())).expect("neighbour");
    }
    let suspended_view = BucketRecord {
        versioning: Versioning::Suspended,
        ..bucket.clone()
    };
    let world = RefCell::new(World::default());
    let tasks: Vec<Option<Task<'_>>> = plans
        .into_iter()
        .enumerate()
        .map(|(g, steps)| {
            let b = match stale.get(g) {
                Some(true) => &suspended_view,
                _ => &bucket,
            };
            let fut: Task<'_> = Box::pin(gateway(&objects, b, g, steps, &world));
            Some(fut)
        })
        .collect();
    let start = world.borrow().step;
    run(tasks, &schedule, &deaths, |turn| {
        world.borrow_mut().step = start + turn
    });
    // Suspending afterwards: each null write replaces the null version before it.
    if suspended {
        bucket.versioning = Versioning::Suspended;
        block_on(buckets.set_versioning("sim", Versioning::Suspended)).unwrap();
        let steps = vec![Step::Put(1), Step::Marker, Step::Put(0)];
        let more = vec![Some(
            Box::pin(gateway(&objects, &bucket, 9, steps, &world)) as Task<'_>
        )];
        let start = world.borrow().step;
        run(more, &[], &[], |turn| {
            world.borrow_mut().step = start + turn
        });
    }
    // What the dead left is resolved; GC runs on it before anything is checked, so a
    // version whose data it freed would fail to read back.
    block_on(janitor::run_once(&buckets, &objects)).expect("janitor");
    block_on(gc::run_once(&objects.cluster)).expect("gc");

    let world = world.into_inner();
    let list = block_on(listed(&objects, &bucket, KEY));
    assert_eq!(
        block_on(listed(&objects, &bucket, NEIGHBOUR)).len(),
        NEIGHBOUR_VERSIONS,
        "the neighbour's versions are untouched"
    );
    let ids: Vec<&str> = list.iter().map(|(id, _)| id.as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a version listed twice (one null at most): {ids:?}"
    );

    // Deletions that may have happened: acknowledged ones must have.
    let maybe_deleted: BTreeSet<&str> = world
        .ops
        .iter()
        .filter(|o| o.delete && !o.refused)
        .filter_map(|o| o.version.as_deref())
        .collect();
    let deleted: BTreeSet<&str> = world
        .ops
        .iter()
        .filter(|o| o.delete && !o.refused && o.ended.is_some())
        .filter_map(|o| o.version.as_deref())
        .collect();
    // Legal holds: acknowledged ones hold, and only a hold refuses a deletion.
    let held: BTreeMap<&str, usize> = world
        .ops
        .iter()
        .filter(|o| o.hold && !o.refused)
        .filter_map(|o| Some((o.version.as_deref()?, o.ended?)))
        .collect();
    for op in world.ops.iter().filter(|o| o.delete) {
        let id = op.version.as_deref().expect("a delete names a version");
        let hold_began = world
            .ops
            .iter()
            .filter(|h| h.hold && h.version.as_deref() == Some(id))
            .map(|h| h.began)
            .min();
        if op.refused {
            assert!(
                hold_began.is_some_and(|b| op.ended.is_none_or(|e| b < e)),
                "{id}: a deletion refused with no hold on it"
            );
        }
        if let (Some(done), Some(_)) = (held.get(id), op.ended) {
            assert!(
                op.began < *done || op.refused,
                "{id}: deleted after its legal hold was acknowledged"
            );
        }
    }
    for op in world
        .ops
        .iter()
        .filter(|o| !o.delete && !o.hold && o.refused)
    {
        let null_held = world.ops.iter().any(|h| {
            h.hold
                && h.version.as_deref() == Some(versions::NULL_ID)
                && h.began < op.ended.unwrap_or(usize::MAX)
        });
        assert!(
            null_held,
            "a write refused with no hold on the null version"
        );
    }
    for id in held.keys() {
        assert!(
            list.iter().any(|(v, _)| v == id),
            "{id}: held, yet not listed: {list:?}"
        );
        let which = VersionRef::parse(id).unwrap();
        assert!(
            held_now(&objects, &bucket, KEY, &which),
            "{id}: listed without its legal hold"
        );
    }
    let by_etag: BTreeMap<&str, &Record> = world
        .ops
        .iter()
        .filter_map(|o| o.etag.as_deref().map(|e| (e, o)))
        .collect();
    let head = block_on(objects.meta(&bucket, KEY)).expect("head");
    for (i, (id, record)) in list.iter().enumerate() {
        // ("null" may be written again after a deletion of it.)
        assert!(
            id == versions::NULL_ID || !deleted.contains(id.as_str()),
            "{id}: its deletion was acknowledged"
        );
        if i == 0 {
            assert_eq!(
                head.as_ref().map(versions::id_of),
                Some(id.as_str()),
                "the head is the newest"
            );
        }
        if record.delete_marker {
            continue;
        }
        let op = by_etag
            .get(record.etag.as_str())
            .unwrap_or_else(|| panic!("{id}: listed, but no operation wrote {:?}", record.etag));
        // Noncurrent versions read from tails alone; the current one from its head.
        let meta = match i {
            0 => head.clone().expect("a head"),
            _ => versions::preserved(record, &bucket.id),
        };
        assert_eq!(
            block_on(bytes_of(&objects, &bucket, &meta)),
            op.bytes,
            "{id}: bytes"
        );
    }
    for op in &world.ops {
        let (Some(id), Some(_)) = (&op.version, op.ended) else {
            continue;
        };
        if op.delete || op.hold || maybe_deleted.contains(id.as_str()) {
            continue;
        }
        // A null write replaces the null version before it.
        if id == versions::NULL_ID {
            continue;
        }
        assert!(
            unique.contains(id.as_str()),
            "{id}: acknowledged, never deleted, not listed: {ids:?}"
        );
    }
    // Real-time order: a write acknowledged before another began is older.
    let position: BTreeMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for a in world.ops.iter().filter(|o| !o.delete && !o.hold) {
        for b in world.ops.iter().filter(|o| !o.delete && !o.hold) {
            let (Some(a_id), Some(b_id), Some(a_end)) = (&a.version, &b.version, a.ended) else {
                continue;
            };
            // "null" names whichever null write came last, not each of them.
            let null = a_id == versions::NULL_ID || b_id == versions::NULL_ID;
            if a_end <= b.began
                && !null
                && let (Some(pa), Some(pb)) =
                    (position.get(a_id.as_str()), position.get(b_id.as_str()))
            {
                assert!(
                    pb < pa,
                    "{b_id} began after {a_id} was acknowledged, yet is listed older"
                );
            }
        }
    }

    // Delete everything; janitor and GC leave nothing.
    for (key, list) in [
        (KEY, list),
        (NEIGHBOUR, block_on(listed(&objects, &bucket, NEIGHBOUR))),
    ] {
        for (id, _) in &list {
            let which = VersionRef::parse(id).unwrap();
            if held_now(&objects, &bucket, key, &which) {
                let release = objects.update_meta(&bucket, key, Some(&which), |m| {
                    m.legal_hold = false;
                    Ok(())
                });
                block_on(release).expect("release the hold");
            }
            block_on(objects.delete_version(&bucket, key, &which, VersionDelete::default()))
                .expect("delete");
        }
    }
    block_on(janitor::run_once(&buckets, &objects)).expect("janitor");
    block_on(gc::run_once(&objects.cluster)).expect("gc");
    let left = objects.cluster.data.pool_name().to_owned();
    let data = block_on(objects.cluster.data.list_objects(None, 10_000))
        .unwrap()
        .0;
    assert!(
        data.is_empty(),
        "{left} keeps {:?}",
        data.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let shard = index_oid(&bucket.id, 0);
    let entries = block_on(objects.cluster.index.omap_list(&shard, None, 100)).unwrap_or_default();
    assert!(entries.is_empty(), "index keeps {entries:?}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn versions_survive_races_and_dead_gateways(
        plans in prop::collection::vec(prop::collection::vec(step(), 1..7), 2..5),
        schedule in prop::collection::vec(any::<u8>(), 0..300),
        deaths in prop::collection::vec(0u16..150, 0..3),
        stale in prop::collection::vec(prop::bool::weighted(0.2), 0..5),
        suspended in any::<bool>(),
    ) {
        simulate(plans, schedule, deaths, stale, suspended);
    }
}

/// A gateway whose cached record of the bucket predates versioning (`Off`) writes over and
/// deletes a key that already has versions: as a suspended bucket would, so the versions
/// stay, whole.
#[test]
fn a_gateway_that_missed_enabling_loses_no_version() {
    let cluster = Cluster::in_memory();
    let buckets = Buckets::new(&cluster, 1);
    let objects = Objects::new(cluster, ObjectSettings::default());
    let mut bucket = block_on(buckets.create("late", "u", Acl::default(), "us-east-1", None, None))
        .expect("bucket");
    let late = bucket.clone();
    bucket.versioning = Versioning::Enabled;
    let world = RefCell::new(World::default());
    let first = vec![Some(Box::pin(gateway(
        &objects,
        &bucket,
        0,
        vec![Step::Put(2), Step::Put(1)],
        &world,
    )) as Task<'_>)];
    let start = world.borrow().step;
    run(first, &[], &[], |turn| {
        world.borrow_mut().step = start + turn
    });
    let then = vec![Some(Box::pin(gateway(
        &objects,
        &late,
        1,
        vec![Step::Put(0), Step::Marker],
        &world,
    )) as Task<'_>)];
    let start = world.borrow().step;
    run(then, &[], &[], |turn| {
        world.borrow_mut().step = start + turn
    });

    let list = block_on(listed(&objects, &bucket, KEY));
    let world = world.into_inner();
    let kept: Vec<&Record> = world.ops.iter().take(2).collect();
    let ids: Vec<&str> = list.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 3, "a null marker over the two versions: {ids:?}");
    assert_eq!(ids[0], versions::NULL_ID);
    assert!(list[0].1.delete_marker, "the late DELETE wrote a marker");
    for (op, (id, record)) in kept.iter().rev().zip(&list[1..]) {
        assert_eq!(op.version.as_deref(), Some(id.as_str()));
        let meta = versions::preserved(record, &bucket.id);
        assert_eq!(
            block_on(bytes_of(&objects, &bucket, &meta)),
            op.bytes,
            "{id}"
        );
    }
}

/// A gateway whose cached record predates versioning and object lock overwrites or deletes
/// a head written before versioning that has since been put under legal hold: refused
/// (AccessDenied), the held version whole, whether by a PUT, a DELETE or a lifecycle expiry.
#[test]
fn a_late_gateway_never_overwrites_a_held_version() {
    let cluster = Cluster::in_memory();
    let buckets = Buckets::new(&cluster, 1);
    let objects = Objects::new(cluster, ObjectSettings::default());
    let late = block_on(buckets.create("held", "u", Acl::default(), "us-east-1", None, None))
        .expect("bucket");
    let txn = block_on(objects.start_install(&late, KEY)).expect("begin");
    let meta = ObjectMeta {
        etag: "old".into(),
        ..ObjectMeta::default()
    };
    block_on(txn.install(meta, Bytes::from_static(b"kept"), &Preconditions::default()))
        .expect("write before versioning");
    let mut now = late.clone();
    now.versioning = Versioning::Enabled;
    let hold = objects.update_meta(&now, KEY, Some(&VersionRef::Null), |m| {
        m.legal_hold = true;
        Ok(())
    });
    block_on(hold).expect("legal hold on the null version");

    let denied = |r: radosgw::GwResult<()>, what: &str| match r {
        Err(e) if e.is_s3(&S3ErrorCode::AccessDenied) => {}
        other => panic!("{what}: {other:?}"),
    };
    let txn = block_on(objects.start_install(&late, KEY)).expect("begin");
    let meta = ObjectMeta {
        etag: "new".into(),
        ..ObjectMeta::default()
    };
    denied(
        block_on(txn.install(meta, Bytes::from_static(b"new"), &Preconditions::default()))
            .map(drop),
        "late PUT",
    );
    denied(
        block_on(objects.delete_if(&late, KEY, None)).map(drop),
        "late DELETE",
    );
    let head = block_on(objects.meta(&now, KEY))
        .expect("head")
        .expect("still there");
    assert_eq!(head.etag, "old");
    assert!(head.legal_hold);
    let bytes = block_on(objects.cluster.data.read(&head_oid(&now.id, KEY), 0, None)).unwrap();
    assert_eq!(&bytes[..], b"kept");
}
