//! The store's object records: reads by range, data, xattrs, omap, removal and recovery copies.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use placement::{Epoch, PgId, PoolId};
use rados::proto::osd::Version;
use serde_bytes::ByteBuf;

use super::{ObjectKey, Store, StoreConfig, StoreError, TxOp, Txn, Usage};
use crate::testing::v;

mod pgs_and_commits;
mod scrub;

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("shoal-store-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn db(&self) -> PathBuf {
        self.file("store.redb")
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
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

pub(crate) fn open(dir: &TempDir) -> Store {
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

/// `len` bytes that differ at every offset within a block and between blocks.
fn pattern(len: usize, salt: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect::<Vec<u8>>()
        .into()
}

pub(crate) async fn commit(store: &Store, ops: Vec<TxOp>) {
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
