//! A seeded simulation of lifecycle expiry racing writers: gateways PUT a few keys while a
//! lifecycle pass, started at a point proptest picks (the "cut"), expires every current
//! version written before the cut. Versions carry the step their write began as their
//! mtime, so the rule's verdict is known for each. Gateways may die between any two ops.
//! After the janitor:
//! - a write that began after the cut and that nothing on its key overlapped or followed is
//!   the key's current version (the pass decided on an older version; its guard refused to
//!   act on this one);
//! - where versions are kept, expiry destroys nothing: every acknowledged version is still
//!   listed, and every delete marker (only lifecycle writes them here) lies directly on a
//!   version written before the cut.
//!
//!
//! A second simulation kills a pass over a larger bucket at any op: what it recorded as
//! its position is true (every key before it was acted on), and the next pass resumes there.
//!
//! A failure prints the minimal case; `SHOAL_SIM_CASES=20000` searches longer.

mod sim;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use radosgw::buckets::Buckets;
use radosgw::cluster::Cluster;
use radosgw::janitor;
use radosgw::lc_worker;
use radosgw::lifecycle::{Expiration, LifecycleConfig, Rule};
use radosgw::listing::{Item, ListParams, list_versions};
use radosgw::objects::{ObjectSettings, Objects, Preconditions};
use radosgw::records::{Acl, BucketRecord, ObjectMeta, Versioning};
use radosgw::versions;
use sim::{Task, block_on, cases, run};

const KEYS: [&str; 2] = ["a", "b"];

/// One write: its key, when it began and ended (`None`: its gateway died), its ETag and
/// the version it made.
#[derive(Clone, Debug)]
struct Write {
    key: &'static str,
    began: usize,
    ended: Option<usize>,
    etag: String,
    version: Option<String>,
}

#[derive(Default)]
struct World {
    step: usize,
    writes: Vec<Write>,
    /// When the lifecycle pass began.
    cut: Option<usize>,
}

async fn writer(
    objects: &Objects,
    bucket: &BucketRecord,
    g: usize,
    keys: Vec<u8>,
    world: &RefCell<World>,
) {
    for (n, k) in keys.into_iter().enumerate() {
        let key = KEYS[usize::from(k) % KEYS.len()];
        let began = world.borrow().step;
        let etag = format!("g{g}-{n}");
        let at = {
            let mut w = world.borrow_mut();
            w.writes.push(Write {
                key,
                began,
                ended: None,
                etag: etag.clone(),
                version: None,
            });
            w.writes.len() - 1
        };
        let txn = objects.start_install(bucket, key).await.expect("begin");
        let meta = ObjectMeta {
            etag,
            owner: "u".into(),
            // The rule's clock: this write's time is the step it began.
            mtime_ms: began as i64,
            ..ObjectMeta::default()
        };
        let done = txn
            .install(meta, Bytes::new(), &Preconditions::default())
            .await
            .expect("install");
        let mut w = world.borrow_mut();
        w.writes[at].version = Some(versions::id_of(&done).to_owned());
        w.writes[at].ended = Some(w.step);
    }
}

/// The pass: every current version whose mtime is before the step the pass began expires
/// (a rule of one day, a day one step long).
async fn lifecycle(objects: &Objects, bucket: &BucketRecord, world: &RefCell<World>) {
    let cut = world.borrow().step;
    world.borrow_mut().cut = Some(cut);
    let config = LifecycleConfig {
        rules: vec![Rule {
            id: "all".into(),
            enabled: true,
            expiration: Some(Expiration::Days(1)),
            ..Rule::default()
        }],
    };
    // Due at mtime + 1 <= cut: written before the cut.
    lc_worker::pass(objects, None, bucket, &config, cut as i64, 1)
        .await
        .expect("lifecycle pass");
}

fn simulate(plans: Vec<Vec<u8>>, schedule: Vec<u8>, deaths: Vec<u16>, versioned: bool) {
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
    if versioned {
        block_on(buckets.set_versioning("sim", Versioning::Enabled)).expect("versioning");
        bucket.versioning = Versioning::Enabled;
    }
    let world = RefCell::new(World::default());
    let mut tasks: Vec<Option<Task<'_>>> = plans
        .into_iter()
        .enumerate()
        .map(|(g, keys)| Some(Box::pin(writer(&objects, &bucket, g, keys, &world)) as Task<'_>))
        .collect();
    tasks.push(Some(Box::pin(lifecycle(&objects, &bucket, &world))));
    // The pass may die too: what it did before must be right all the same.
    run(tasks, &schedule, &deaths, |turn| {
        world.borrow_mut().step = turn
    });
    block_on(janitor::run_once(&buckets, &objects)).expect("janitor");

    let world = world.into_inner();
    let Some(cut) = world.cut else {
        return; // the pass was the one that died
    };
    for key in KEYS {
        let writes: Vec<&Write> = world.writes.iter().filter(|w| w.key == key).collect();
        let head = block_on(objects.meta(&bucket, key)).expect("head");
        // The last write, if it began after the cut and every other write of the key had
        // ended before it began, is current.
        let Some(last) = writes.iter().max_by_key(|w| w.began) else {
            continue;
        };
        let alone = writes
            .iter()
            .filter(|w| w.etag != last.etag)
            .all(|w| w.ended.is_some_and(|e| e < last.began));
        if last.began >= cut && last.ended.is_some() && alone {
            let head = head
                .as_ref()
                .filter(|h| !h.delete_marker && !h.vacant)
                .unwrap_or_else(|| panic!("{key}: written after the cut, yet expired"));
            assert_eq!(head.etag, last.etag, "{key}: the current version");
        }
    }
    if !versioned {
        return;
    }
    // Nothing destroyed; each marker lies on a version written before the cut.
    let params = ListParams {
        max_keys: 10_000,
        ..ListParams::default()
    };
    let page = block_on(list_versions(
        &objects.cluster.index,
        &bucket.id,
        bucket.shards,
        &params,
    ))
    .expect("list versions");
    let mut by_key: BTreeMap<String, Vec<ObjectMeta>> = BTreeMap::new();
    for item in page.items {
        if let Item::Object { key, entry } = item {
            let of = key.rsplit_once('\0').map_or(key.as_str(), |(k, _)| k);
            by_key.entry(of.to_owned()).or_default().push(entry);
        }
    }
    for w in world.writes.iter().filter(|w| w.ended.is_some()) {
        let id = w.version.as_deref().expect("a version");
        let listed = by_key
            .get(w.key)
            .is_some_and(|vs| vs.iter().any(|v| versions::id_of(v) == id));
        assert!(listed, "{} {id}: acknowledged, not listed", w.key);
    }
    for (key, list) in &by_key {
        for pair in list.windows(2) {
            if pair[0].delete_marker {
                assert!(
                    !pair[1].delete_marker && pair[1].mtime_ms < cut as i64,
                    "{key}: a marker over {:?} (mtime {}), cut {cut}",
                    pair[1].etag,
                    pair[1].mtime_ms
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn expiry_never_touches_what_was_written_after_it_decided(
        plans in prop::collection::vec(prop::collection::vec(0u8..2, 1..5), 1..4),
        schedule in prop::collection::vec(any::<u8>(), 0..300),
        deaths in prop::collection::vec(0u16..100, 0..2),
        versioned in any::<bool>(),
    ) {
        simulate(plans, schedule, deaths, versioned);
    }
}

/// A noncurrent version that is current again by the time lifecycle removes it (its newer
/// version was deleted after the pass listed) stays: lifecycle removes it only while it is
/// noncurrent.
#[test]
fn a_version_current_again_is_not_removed_as_noncurrent() {
    use radosgw::objects::VersionDelete;
    use radosgw::versions::VersionRef;
    let cluster = Cluster::in_memory();
    let buckets = Buckets::new(&cluster, 1);
    let objects = Objects::new(cluster, ObjectSettings::default());
    let mut bucket =
        block_on(buckets.create("again", "u", Acl::default(), "us-east-1", None, None))
            .expect("bucket");
    block_on(buckets.set_versioning("again", Versioning::Enabled)).expect("versioning");
    bucket.versioning = Versioning::Enabled;
    let mut ids = Vec::new();
    for etag in ["v1", "v2"] {
        let txn = block_on(objects.start_install(&bucket, "k")).expect("begin");
        let meta = ObjectMeta {
            etag: etag.into(),
            ..ObjectMeta::default()
        };
        let done =
            block_on(txn.install(meta, Bytes::new(), &Preconditions::default())).expect("install");
        ids.push(VersionRef::parse(versions::id_of(&done)).unwrap());
    }
    // v1 is noncurrent; then v2 goes and v1 is current again.
    block_on(objects.delete_version(&bucket, "k", &ids[1], VersionDelete::default()))
        .expect("delete v2");
    let noncurrent_only = VersionDelete {
        noncurrent_only: true,
        ..VersionDelete::default()
    };
    let removed = block_on(objects.delete_version(&bucket, "k", &ids[0], noncurrent_only))
        .expect("a removal of what is now current");
    assert!(removed.is_none(), "the current version was removed");
    let head = block_on(objects.meta(&bucket, "k")).unwrap().unwrap();
    assert_eq!(head.etag, "v1");
}

/// Whether `key` has a current version that is not a delete marker.
fn is_current(objects: &Objects, bucket: &BucketRecord, key: &str) -> bool {
    block_on(objects.meta(bucket, key))
        .expect("head")
        .is_some_and(|h| !h.delete_marker && !h.vacant)
}

/// A pass whose gateway dies leaves, in the bucket's lease, where it stood; every key
/// before that point was acted on, and the next holder's pass starts there (a key written
/// before it waits for the pass after), and clears it when it ends.
fn resume_after_death(death: u16, versioned: bool) {
    use radosgw::lc_worker::{LcSettings, Lease};
    let cluster = Cluster::in_memory();
    let buckets = Buckets::new(&cluster, 1);
    let objects = Objects::new(cluster, ObjectSettings::default());
    block_on(buckets.create("resume", "u", Acl::default(), "us-east-1", None, None))
        .expect("bucket");
    if versioned {
        block_on(buckets.set_versioning("resume", Versioning::Enabled)).expect("versioning");
    }
    let config = LifecycleConfig {
        rules: vec![Rule {
            id: "all".into(),
            enabled: true,
            expiration: Some(Expiration::Days(1)),
            ..Rule::default()
        }],
    };
    block_on(buckets.set_lifecycle("resume", Some(config))).expect("lifecycle");
    let bucket = block_on(buckets.must_get("resume")).expect("record");
    block_on(lc_worker::prepare(&objects, &bucket)).expect("prepare");
    let put = |key: &str| {
        let txn = block_on(objects.start_install(&bucket, key)).expect("begin");
        // Written at the epoch: long due under a rule of one day.
        let meta = ObjectMeta {
            etag: key.into(),
            owner: "u".into(),
            ..ObjectMeta::default()
        };
        block_on(txn.install(meta, Bytes::new(), &Preconditions::default())).expect("install");
    };
    let keys: Vec<String> = (0..10).map(|n| format!("k{n:02}")).collect();
    for key in &keys {
        put(key);
    }
    let settings = LcSettings {
        day: Duration::from_millis(1),
        every: Duration::from_secs(1),
        page: 3,
    };
    // The next holder has the same name, so the dead one's lease need not run out first.
    let pass = || lc_worker::run_once(&buckets, &objects, &settings, "gw", Lease::Keep);
    let dying = Box::pin(async {
        pass().await.expect("pass");
    }) as Task<'_>;
    run(vec![Some(dying)], &[], &[death], |_| {});

    let at = block_on(lc_worker::resume_point(&objects, &bucket)).expect("resume point");
    for key in &keys {
        // A versioned pass resumes at the start of the key it stood in.
        let behind = at
            .as_deref()
            .is_some_and(|at| key.as_str() < at || (!versioned && key.as_str() == at));
        if behind {
            assert!(
                !is_current(&objects, &bucket, key),
                "{key}: behind {at:?}, not expired"
            );
        }
    }

    put("a-late");
    block_on(pass()).expect("resumed pass");
    assert_eq!(
        block_on(lc_worker::resume_point(&objects, &bucket)).expect("resume point"),
        None,
        "a pass that ended forgets where it stood"
    );
    for key in &keys {
        assert!(!is_current(&objects, &bucket, key), "{key}: not expired");
    }
    assert_eq!(
        is_current(&objects, &bucket, "a-late"),
        at.is_some(),
        "a resumed pass starts after {at:?}; a fresh one from the first key"
    );
    block_on(pass()).expect("next pass");
    assert!(
        !is_current(&objects, &bucket, "a-late"),
        "the next pass starts over"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases() / 3,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_pass_resumes_where_its_dead_holder_stopped(
        death in 0u16..400,
        versioned in any::<bool>(),
    ) {
        resume_after_death(death, versioned);
    }
}
