use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use placement::{Epoch, PgId, PoolId};
use rados::proto::osd::Version;
use serde_bytes::ByteBuf;

use super::{ObjectKey, Store, StoreConfig, StoreError, TxOp, Txn, Usage};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("shoal-store-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn db(&self) -> PathBuf {
        self.0.join("store.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BS: u32 = 16;

fn config() -> StoreConfig {
    StoreConfig {
        block_size: BS,
        cache_bytes: 1 << 20,
        ..StoreConfig::default()
    }
}

fn open(dir: &TempDir) -> Store {
    Store::open(&dir.db(), config()).expect("open store")
}

fn pg(pool: u32, seed: u32) -> PgId {
    PgId {
        pool: PoolId(pool),
        seed,
    }
}

fn key(pg: PgId, name: &str) -> ObjectKey {
    ObjectKey {
        pg,
        name: name.to_owned(),
    }
}

fn v(seq: u64) -> Version {
    Version {
        epoch: Epoch(1),
        seq,
    }
}

/// `len` bytes that differ at every offset within a block and between blocks.
fn pattern(len: usize, salt: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect::<Vec<u8>>()
        .into()
}

async fn commit(store: &Store, ops: Vec<TxOp>) {
    store.commit(Txn { ops }).await.expect("commit");
}

fn write_full(obj: &ObjectKey, data: Bytes, seq: u64) -> TxOp {
    TxOp::WriteFull {
        obj: obj.clone(),
        data,
        version: v(seq),
    }
}

fn read_all(store: &Store, obj: &ObjectKey) -> Option<Bytes> {
    store.read(obj, 0, None).expect("read").map(|(meta, data)| {
        assert_eq!(meta.size, data.len() as u64);
        assert_eq!(meta.crc, crc32c::crc32c(&data), "{obj}: crc of data");
        data
    })
}

#[tokio::test]
async fn partial_reads_cover_exactly_the_requested_range() {
    let dir = TempDir::new();
    let store = open(&dir);
    let obj = key(pg(1, 0), "obj");
    let data = pattern(100, 7);
    commit(&store, vec![write_full(&obj, data.clone(), 3)]).await;

    let meta = store.stat(&obj).unwrap().expect("exists");
    assert_eq!(meta.size, 100);
    assert_eq!(meta.version, v(3));
    assert_eq!(meta.crc, crc32c::crc32c(&data));
    assert_eq!(
        store.block_indices_for_test(&obj).unwrap(),
        (0..7).collect::<Vec<_>>()
    );

    // (off, len, expected range of `data`)
    let cases: &[(u64, Option<u64>, std::ops::Range<usize>)] = &[
        (0, None, 0..100),
        (0, Some(100), 0..100),
        (0, Some(1000), 0..100),
        (5, Some(20), 5..25),   // straddles blocks 0 and 1
        (16, Some(16), 16..32), // exactly block 1
        (15, Some(2), 15..17),  // last byte of one block, first of the next
        (17, Some(60), 17..77), // five blocks, both ends partial
        (90, Some(100), 90..100),
        (96, None, 96..100), // only the short last block
        (99, None, 99..100),
        (100, None, 100..100),
        (200, Some(5), 100..100),
        (3, Some(0), 100..100),
        (u64::MAX, Some(u64::MAX), 100..100),
    ];
    for (off, len, want) in cases {
        let (m, got) = store.read(&obj, *off, *len).unwrap().expect("exists");
        assert_eq!(m, meta);
        assert_eq!(got, data.slice(want.clone()), "read({off}, {len:?})");
    }
    assert!(
        store
            .read(&key(pg(1, 0), "nope"), 0, None)
            .unwrap()
            .is_none()
    );
    assert!(store.stat(&key(pg(1, 1), "obj")).unwrap().is_none());
}

#[tokio::test]
async fn write_full_replaces_data_and_drops_old_blocks() {
    let dir = TempDir::new();
    let store = open(&dir);
    let obj = key(pg(1, 0), "obj");
    let other = key(pg(1, 0), "obj2");
    commit(
        &store,
        vec![
            write_full(&obj, pattern(100, 1), 1),
            write_full(&other, pattern(33, 2), 1),
        ],
    )
    .await;
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 133,
            objects: 2
        }
    );

    for (len, salt, blocks) in [(20, 3, 2), (0, 4, 0), (48, 5, 3), (16, 6, 1)] {
        commit(&store, vec![write_full(&obj, pattern(len, salt), 2)]).await;
        assert_eq!(read_all(&store, &obj).unwrap(), pattern(len, salt));
        assert_eq!(
            store.block_indices_for_test(&obj).unwrap(),
            (0..blocks).collect::<Vec<u64>>(),
            "len {len}"
        );
        assert_eq!(
            store.usage(),
            Usage {
                bytes: len as u64 + 33,
                objects: 2
            }
        );
    }
    assert_eq!(read_all(&store, &other).unwrap(), pattern(33, 2));
}

#[tokio::test]
async fn xattrs_and_omap_follow_their_object() {
    let dir = TempDir::new();
    let store = open(&dir);
    let obj = key(pg(2, 5), "obj");

    // SetXattr creates an empty object.
    commit(
        &store,
        vec![TxOp::SetXattr {
            obj: obj.clone(),
            name: "a".into(),
            value: b"1".to_vec(),
            version: v(1),
        }],
    )
    .await;
    let meta = store.stat(&obj).unwrap().expect("created");
    assert_eq!((meta.size, meta.version), (0, v(1)));
    assert_eq!(meta.xattrs["a"].as_slice(), b"1");
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 0,
            objects: 1
        }
    );

    // OmapSet, then WriteFull keeps both xattrs and omap.
    commit(
        &store,
        vec![
            TxOp::OmapSet {
                obj: obj.clone(),
                entries: vec![
                    (b"k2".to_vec(), b"v2".to_vec()),
                    (b"k1".to_vec(), b"v1".to_vec()),
                    (b"k3".to_vec(), b"v3".to_vec()),
                ],
                version: v(2),
            },
            TxOp::SetXattr {
                obj: obj.clone(),
                name: "b".into(),
                value: b"2".to_vec(),
                version: v(3),
            },
        ],
    )
    .await;
    commit(&store, vec![write_full(&obj, pattern(40, 0), 4)]).await;
    let meta = store.stat(&obj).unwrap().unwrap();
    assert_eq!(meta.version, v(4));
    assert_eq!(meta.xattrs.len(), 2);
    let all = store.omap_list(&obj, None, 100).unwrap();
    assert_eq!(
        all,
        vec![
            (b"k1".to_vec(), b"v1".to_vec()),
            (b"k2".to_vec(), b"v2".to_vec()),
            (b"k3".to_vec(), b"v3".to_vec()),
        ]
    );

    // omap_get: only present keys, key order, duplicates collapse.
    let got = store
        .omap_get(
            &obj,
            &[
                b"k3".to_vec(),
                b"zz".to_vec(),
                b"k1".to_vec(),
                b"k3".to_vec(),
            ],
        )
        .unwrap();
    assert_eq!(
        got,
        vec![
            (b"k1".to_vec(), b"v1".to_vec()),
            (b"k3".to_vec(), b"v3".to_vec())
        ]
    );
    // Paging.
    assert_eq!(store.omap_list(&obj, None, 2).unwrap(), all[..2]);
    assert_eq!(store.omap_list(&obj, Some(b"k1"), 1).unwrap(), all[1..2]);
    assert_eq!(store.omap_list(&obj, Some(b"k"), 10).unwrap(), all);
    assert!(store.omap_list(&obj, Some(b"k3"), 10).unwrap().is_empty());
    assert!(store.omap_list(&obj, None, 0).unwrap().is_empty());

    // RmXattr and OmapRm.
    commit(
        &store,
        vec![
            TxOp::RmXattr {
                obj: obj.clone(),
                name: "a".into(),
                version: v(5),
            },
            TxOp::OmapRm {
                obj: obj.clone(),
                keys: vec![b"k2".to_vec(), b"absent".to_vec()],
                version: v(6),
            },
        ],
    )
    .await;
    let meta = store.stat(&obj).unwrap().unwrap();
    assert_eq!(meta.version, v(6));
    assert_eq!(meta.xattrs.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(read_all(&store, &obj).unwrap(), pattern(40, 0));
    assert_eq!(
        store.omap_list(&obj, None, 100).unwrap(),
        vec![
            (b"k1".to_vec(), b"v1".to_vec()),
            (b"k3".to_vec(), b"v3".to_vec())
        ]
    );

    // RmXattr and OmapRm on an absent object create nothing.
    let ghost = key(pg(2, 5), "ghost");
    commit(
        &store,
        vec![
            TxOp::RmXattr {
                obj: ghost.clone(),
                name: "a".into(),
                version: v(7),
            },
            TxOp::OmapRm {
                obj: ghost.clone(),
                keys: vec![b"k1".to_vec()],
                version: v(7),
            },
        ],
    )
    .await;
    assert!(store.stat(&ghost).unwrap().is_none());
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 40,
            objects: 1
        }
    );
}

#[tokio::test]
async fn omap_of_neighbouring_names_stays_apart() {
    let dir = TempDir::new();
    let store = open(&dir);
    let p = pg(1, 1);
    let names = ["a", "a\0", "a\0b", "ab", "b"];
    let ops = names
        .iter()
        .map(|n| TxOp::OmapSet {
            obj: key(p, n),
            entries: vec![(vec![], n.as_bytes().to_vec()), (b"x".to_vec(), vec![1])],
            version: v(1),
        })
        .collect();
    commit(&store, ops).await;
    for n in names {
        let got = store.omap_list(&key(p, n), None, 100).unwrap();
        assert_eq!(
            got,
            vec![(vec![], n.as_bytes().to_vec()), (b"x".to_vec(), vec![1])],
            "{n:?}"
        );
    }
    commit(&store, vec![TxOp::Remove { obj: key(p, "a\0") }]).await;
    assert!(
        store
            .omap_list(&key(p, "a\0"), None, 100)
            .unwrap()
            .is_empty()
    );
    for n in ["a", "a\0b", "ab", "b"] {
        assert_eq!(
            store.omap_list(&key(p, n), None, 100).unwrap().len(),
            2,
            "{n:?}"
        );
    }
    let listed: Vec<String> = store
        .list(p, None, 100)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(listed, ["a", "a\0b", "ab", "b"]);
}

#[tokio::test]
async fn remove_drops_data_xattrs_and_omap() {
    let dir = TempDir::new();
    let store = open(&dir);
    let obj = key(pg(1, 0), "obj");
    commit(
        &store,
        vec![
            write_full(&obj, pattern(50, 9), 1),
            TxOp::SetXattr {
                obj: obj.clone(),
                name: "a".into(),
                value: vec![1],
                version: v(2),
            },
            TxOp::OmapSet {
                obj: obj.clone(),
                entries: vec![(b"k".to_vec(), b"v".to_vec())],
                version: v(3),
            },
        ],
    )
    .await;
    commit(&store, vec![TxOp::Remove { obj: obj.clone() }]).await;
    assert!(store.stat(&obj).unwrap().is_none());
    assert!(store.read(&obj, 0, None).unwrap().is_none());
    assert!(store.block_indices_for_test(&obj).unwrap().is_empty());
    assert!(store.omap_list(&obj, None, 10).unwrap().is_empty());
    assert_eq!(store.usage(), Usage::default());
    // Removing again is a no-op.
    commit(&store, vec![TxOp::Remove { obj: obj.clone() }]).await;
    assert_eq!(store.usage(), Usage::default());
    // Re-creating starts with no xattrs and no omap.
    commit(&store, vec![write_full(&obj, pattern(5, 0), 4)]).await;
    let meta = store.stat(&obj).unwrap().unwrap();
    assert!(meta.xattrs.is_empty());
    assert!(store.omap_list(&obj, None, 10).unwrap().is_empty());
}

#[tokio::test]
async fn put_object_replaces_everything() {
    let dir = TempDir::new();
    let store = open(&dir);
    let obj = key(pg(1, 0), "obj");
    commit(
        &store,
        vec![
            write_full(&obj, pattern(70, 1), 1),
            TxOp::SetXattr {
                obj: obj.clone(),
                name: "old".into(),
                value: vec![1],
                version: v(2),
            },
            TxOp::OmapSet {
                obj: obj.clone(),
                entries: vec![(b"old".to_vec(), vec![1]), (b"same".to_vec(), vec![1])],
                version: v(3),
            },
        ],
    )
    .await;
    let xattrs: BTreeMap<String, ByteBuf> = [("new".to_owned(), ByteBuf::from(vec![2]))].into();
    commit(
        &store,
        vec![TxOp::PutObject {
            obj: obj.clone(),
            version: v(9),
            data: pattern(20, 2),
            xattrs: xattrs.clone(),
            omap: vec![(b"new".to_vec(), vec![2]), (b"same".to_vec(), vec![2])],
        }],
    )
    .await;
    let meta = store.stat(&obj).unwrap().unwrap();
    assert_eq!((meta.size, meta.version, &meta.xattrs), (20, v(9), &xattrs));
    assert_eq!(read_all(&store, &obj).unwrap(), pattern(20, 2));
    assert_eq!(store.block_indices_for_test(&obj).unwrap(), [0, 1]);
    assert_eq!(
        store.omap_list(&obj, None, 10).unwrap(),
        vec![(b"new".to_vec(), vec![2]), (b"same".to_vec(), vec![2])]
    );
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 20,
            objects: 1
        }
    );

    // PutObject also creates.
    let fresh = key(pg(1, 0), "fresh");
    commit(
        &store,
        vec![TxOp::PutObject {
            obj: fresh.clone(),
            version: v(10),
            data: pattern(3, 3),
            xattrs: BTreeMap::new(),
            omap: vec![],
        }],
    )
    .await;
    assert_eq!(read_all(&store, &fresh).unwrap(), pattern(3, 3));
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 23,
            objects: 2
        }
    );
}

#[tokio::test]
async fn ops_in_one_txn_see_each_other() {
    let dir = TempDir::new();
    let store = open(&dir);
    let obj = key(pg(1, 0), "obj");
    commit(
        &store,
        vec![
            write_full(&obj, pattern(40, 1), 1),
            TxOp::Remove { obj: obj.clone() },
            TxOp::SetXattr {
                obj: obj.clone(),
                name: "a".into(),
                value: vec![1],
                version: v(2),
            },
            write_full(&obj, pattern(10, 2), 3),
        ],
    )
    .await;
    let meta = store.stat(&obj).unwrap().unwrap();
    assert_eq!((meta.size, meta.version, meta.xattrs.len()), (10, v(3), 1));
    assert_eq!(store.block_indices_for_test(&obj).unwrap(), [0]);
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 10,
            objects: 1
        }
    );
}

#[tokio::test]
async fn log_appends_in_version_order_and_trims() {
    let dir = TempDir::new();
    let store = open(&dir);
    let (a, b) = (pg(1, 0), pg(1, 1));
    let ver = |epoch, seq| Version {
        epoch: Epoch(epoch),
        seq,
    };
    // Out of order, across epochs; seq 10 < seq 9 numerically matters (not bytewise).
    let entries = [ver(2, 10), ver(1, 9), ver(1, 2), ver(3, 11), ver(2, 256)];
    let ops = entries
        .iter()
        .map(|&version| TxOp::AppendLog {
            pg: a,
            version,
            entry: format!("{version}").into_bytes(),
        })
        .chain([TxOp::AppendLog {
            pg: b,
            version: ver(1, 1),
            entry: b"b".to_vec(),
        }])
        .collect();
    commit(&store, ops).await;
    let log = store.log(a).unwrap();
    let mut want = entries.to_vec();
    want.sort();
    assert_eq!(log.iter().map(|(v, _)| *v).collect::<Vec<_>>(), want);
    for (version, entry) in &log {
        assert_eq!(entry, &format!("{version}").into_bytes());
    }

    commit(
        &store,
        vec![TxOp::TrimLog {
            pg: a,
            through: ver(2, 10),
        }],
    )
    .await;
    let kept: Vec<Version> = store.log(a).unwrap().into_iter().map(|(v, _)| v).collect();
    assert_eq!(kept, [ver(2, 256), ver(3, 11)]);

    commit(&store, vec![TxOp::ClearLog { pg: a }]).await;
    assert!(store.log(a).unwrap().is_empty());
    assert_eq!(store.log(b).unwrap(), vec![(ver(1, 1), b"b".to_vec())]);
}

#[tokio::test]
async fn metadata_and_pg_listing() {
    let dir = TempDir::new();
    let store = open(&dir);
    let last = pg(u32::MAX, u32::MAX);
    let end_of_pool = pg(3, u32::MAX);
    commit(
        &store,
        vec![
            TxOp::SetMeta {
                key: "osd_id".into(),
                value: b"7".to_vec(),
            },
            TxOp::SetPgMeta {
                pg: pg(1, 2),
                value: b"info".to_vec(),
            },
            TxOp::AppendLog {
                pg: pg(1, 3),
                version: v(1),
                entry: vec![],
            },
            write_full(&key(pg(0, 0), "x"), Bytes::new(), 1),
            write_full(&key(end_of_pool, "x"), pattern(1, 0), 1),
            write_full(&key(pg(4, 0), "x"), pattern(1, 0), 1),
            write_full(&key(last, "x"), pattern(1, 0), 1),
            write_full(&key(last, "y"), pattern(1, 0), 1),
        ],
    )
    .await;
    assert_eq!(store.meta("osd_id").unwrap(), Some(b"7".to_vec()));
    assert_eq!(store.meta("fsid").unwrap(), None);
    assert_eq!(store.pg_meta(pg(1, 2)).unwrap(), Some(b"info".to_vec()));
    assert_eq!(store.pg_meta(pg(1, 3)).unwrap(), None);
    assert_eq!(
        store.pgs().unwrap(),
        [pg(0, 0), pg(1, 2), pg(1, 3), end_of_pool, pg(4, 0), last]
    );
    let names: Vec<String> = store
        .list(last, None, 10)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["x", "y"]);
    let names: Vec<String> = store
        .list(end_of_pool, None, 10)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["x"]);
    commit(
        &store,
        vec![
            TxOp::RemovePg { pg: last },
            TxOp::RemovePg { pg: end_of_pool },
        ],
    )
    .await;
    assert_eq!(
        store.pgs().unwrap(),
        [pg(0, 0), pg(1, 2), pg(1, 3), pg(4, 0)]
    );
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 1,
            objects: 2
        }
    );
}

#[tokio::test]
async fn list_pages_in_name_order_within_one_pg() {
    let dir = TempDir::new();
    let store = open(&dir);
    let p = pg(1, 4);
    let names = ["d", "a", "c", "b", "e"];
    let mut ops: Vec<TxOp> = names
        .iter()
        .enumerate()
        .map(|(i, n)| write_full(&key(p, n), pattern(i, 0), i as u64))
        .collect();
    ops.push(write_full(&key(pg(1, 3), "z"), pattern(1, 0), 1));
    ops.push(write_full(&key(pg(1, 5), "0"), pattern(1, 0), 1));
    commit(&store, ops).await;
    let page = |after: Option<&str>, limit| -> Vec<String> {
        store
            .list(p, after, limit)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    assert_eq!(page(None, 10), ["a", "b", "c", "d", "e"]);
    assert_eq!(page(None, 2), ["a", "b"]);
    assert_eq!(page(Some("b"), 2), ["c", "d"]);
    assert_eq!(page(Some("bb"), 10), ["c", "d", "e"]);
    assert!(page(Some("e"), 10).is_empty());
    let (_, meta) = &store.list(p, Some("c"), 1).unwrap()[0];
    assert_eq!((meta.size, meta.version), (0, v(0)));
}

#[tokio::test]
async fn remove_pg_removes_exactly_that_pg() {
    let dir = TempDir::new();
    let store = open(&dir);
    let victim = pg(1, 1);
    let neighbours = [pg(1, 0), pg(1, 2), pg(0, 1), pg(2, 1)];
    let fill = |p: PgId| -> Vec<TxOp> {
        vec![
            write_full(&key(p, "a"), pattern(40, 1), 1),
            write_full(&key(p, "b"), pattern(7, 2), 1),
            TxOp::OmapSet {
                obj: key(p, "a"),
                entries: vec![(b"k".to_vec(), b"v".to_vec())],
                version: v(2),
            },
            TxOp::AppendLog {
                pg: p,
                version: v(1),
                entry: vec![1],
            },
            TxOp::SetPgMeta {
                pg: p,
                value: vec![2],
            },
        ]
    };
    let mut ops = fill(victim);
    for p in neighbours {
        ops.extend(fill(p));
    }
    commit(&store, ops).await;
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 5 * 47,
            objects: 10
        }
    );

    commit(&store, vec![TxOp::RemovePg { pg: victim }]).await;
    assert!(store.list(victim, None, 100).unwrap().is_empty());
    assert!(store.log(victim).unwrap().is_empty());
    assert!(store.pg_meta(victim).unwrap().is_none());
    assert_eq!(store.pg_blocks_len_for_test(victim).unwrap(), 0);
    assert_eq!(store.pg_omap_len_for_test(victim).unwrap(), 0);
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 4 * 47,
            objects: 8
        }
    );
    let mut want_pgs = neighbours.to_vec();
    want_pgs.sort();
    assert_eq!(store.pgs().unwrap(), want_pgs);
    for p in neighbours {
        assert_eq!(read_all(&store, &key(p, "a")).unwrap(), pattern(40, 1));
        assert_eq!(read_all(&store, &key(p, "b")).unwrap(), pattern(7, 2));
        assert_eq!(store.pg_blocks_len_for_test(p).unwrap(), 4);
        assert_eq!(store.omap_list(&key(p, "a"), None, 10).unwrap().len(), 1);
        assert_eq!(store.log(p).unwrap().len(), 1);
        assert_eq!(store.pg_meta(p).unwrap(), Some(vec![2]));
    }
}

#[tokio::test]
async fn corrupt_block_is_reported_never_returned() {
    let dir = TempDir::new();
    let store = open(&dir);
    let p = pg(3, 9);
    let obj = key(p, "obj");
    let data = pattern(64, 4); // blocks 0..4
    commit(&store, vec![write_full(&obj, data.clone(), 1)]).await;
    store.corrupt_block_for_test(&obj, 2).unwrap();
    assert_eq!(store.corrupt_reads(), 0);

    // Ranges that do not touch block 2 still read.
    let (_, got) = store.read(&obj, 0, Some(32)).unwrap().unwrap();
    assert_eq!(got, data.slice(0..32));
    let (_, got) = store.read(&obj, 48, None).unwrap().unwrap();
    assert_eq!(got, data.slice(48..64));
    assert_eq!(store.corrupt_reads(), 0);
    assert!(store.corrupt_pgs().is_empty());

    for (off, len, n) in [(0, None, 1), (33, Some(1), 2), (20, Some(40), 3)] {
        match store.read(&obj, off, len) {
            Err(StoreError::Corrupt { obj: o, block }) => {
                assert_eq!((o, block), (obj.clone(), 2));
            }
            other => panic!("read({off}, {len:?}) gave {other:?}, want Corrupt"),
        }
        assert_eq!(store.corrupt_reads(), n);
    }
    assert_eq!(store.corrupt_pgs(), [p]);
    // stat is unaffected; rewriting the object heals it.
    assert_eq!(store.stat(&obj).unwrap().unwrap().size, 64);
    commit(&store, vec![write_full(&obj, data.clone(), 2)]).await;
    assert_eq!(read_all(&store, &obj).unwrap(), data);
}

#[tokio::test]
async fn usage_and_data_survive_reopen() {
    let dir = TempDir::new();
    let obj = key(pg(1, 0), "obj");
    {
        let store = open(&dir);
        commit(
            &store,
            vec![
                write_full(&obj, pattern(100, 1), 1),
                write_full(&key(pg(1, 0), "b"), pattern(5, 2), 1),
                write_full(&key(pg(1, 1), "c"), pattern(17, 3), 1),
                TxOp::Remove {
                    obj: key(pg(1, 0), "b"),
                },
            ],
        )
        .await;
        assert_eq!(
            store.usage(),
            Usage {
                bytes: 117,
                objects: 2
            }
        );
    }
    // A different configured block size does not change the file's.
    let store = Store::open(
        &dir.db(),
        StoreConfig {
            block_size: 4096,
            ..config()
        },
    )
    .unwrap();
    assert_eq!(store.block_size(), BS);
    assert_eq!(
        store.usage(),
        Usage {
            bytes: 117,
            objects: 2
        }
    );
    assert_eq!(read_all(&store, &obj).unwrap(), pattern(100, 1));
    let (_, part) = store.read(&obj, 30, Some(5)).unwrap().unwrap();
    assert_eq!(part, pattern(100, 1).slice(30..35));
}

#[tokio::test]
async fn concurrent_commits_share_fsyncs() {
    let dir = TempDir::new();
    let store = open(&dir);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64u64 {
        let store = store.clone();
        tasks.spawn(async move {
            let obj = key(pg(1, (i % 4) as u32), &format!("o{i}"));
            store
                .commit(Txn {
                    ops: vec![write_full(&obj, pattern(i as usize, i as u8), i)],
                })
                .await
        });
    }
    while let Some(res) = tasks.join_next().await {
        res.expect("task").expect("commit");
    }
    let stats = store.stats();
    assert_eq!(stats.txns, 64);
    assert!(stats.batches < 64, "no group commit happened: {stats:?}");
    for i in 0..64u64 {
        let obj = key(pg(1, (i % 4) as u32), &format!("o{i}"));
        assert_eq!(
            read_all(&store, &obj).unwrap(),
            pattern(i as usize, i as u8)
        );
    }
    assert_eq!(store.usage().objects, 64);
}

#[tokio::test]
async fn dropped_commit_future_still_applies() {
    let dir = TempDir::new();
    let store = open(&dir);
    let obj = key(pg(1, 0), "obj");
    let mut fut = Box::pin(store.commit(Txn {
        ops: vec![write_full(&obj, pattern(9, 1), 1)],
    }));
    // Poll once: the txn is queued (the queue has room), then the future waits for the fsync.
    tokio::select! {
        biased;
        _ = &mut fut => {}
        () = std::future::ready(()) => {}
    }
    drop(fut);
    // The queue is FIFO, so once a later txn is durable the dropped one is too.
    commit(&store, vec![]).await;
    assert_eq!(read_all(&store, &obj).unwrap(), pattern(9, 1));
}

#[test]
fn bad_config_is_rejected() {
    let dir = TempDir::new();
    for config in [
        StoreConfig {
            block_size: 0,
            ..config()
        },
        StoreConfig {
            max_batch: 0,
            ..config()
        },
        StoreConfig {
            queue: 0,
            ..config()
        },
    ] {
        assert!(matches!(
            Store::open(&dir.db(), config),
            Err(StoreError::Config(_))
        ));
    }
}
