//! The store's PG-level records (log, meta, listing, PG removal) and its commit machinery
//! (corruption, reopen, group commit, cancellation, configuration).

use super::*;

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
    // The highest pool id a map can hold: ids with the top bit are the roll-back key space.
    let last = pg(crate::store::STASH_POOL_BIT - 1, u32::MAX);
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

#[tokio::test]
async fn usage_is_kept_per_pool_with_roll_back_copies_apart_and_survives_reopen() {
    let dir = TempDir::new();
    let u = |bytes, objects| Usage { bytes, objects };
    let stash_pool = pg(1, 0).pool.0 | super::super::STASH_POOL_BIT;
    {
        let store = open(&dir);
        commit(
            &store,
            vec![
                write_full(&key(pg(1, 0), "a"), pattern(100, 1), 1),
                write_full(&key(pg(1, 1), "b"), pattern(10, 2), 1),
                write_full(&key(pg(2, 0), "c"), pattern(7, 3), 1),
                TxOp::Stash {
                    obj: key(pg(1, 0), "a"),
                },
            ],
        )
        .await;
        let pools = store.pool_usage();
        assert_eq!(pools.get(&1), Some(&u(110, 2)));
        assert_eq!(pools.get(&2), Some(&u(7, 1)));
        assert_eq!(
            pools.get(&stash_pool),
            Some(&u(100, 1)),
            "the roll-back copy"
        );
        assert_eq!(store.usage(), u(217, 4));
        assert!(store.file_bytes().unwrap() > 0);
        // A removed PG takes its roll-back copies with it; an emptied pool is gone.
        commit(
            &store,
            vec![
                TxOp::RemovePg { pg: pg(1, 0) },
                TxOp::Remove {
                    obj: key(pg(2, 0), "c"),
                },
            ],
        )
        .await;
        let pools = store.pool_usage();
        assert_eq!(pools.get(&1), Some(&u(10, 1)));
        assert_eq!(pools.get(&stash_pool), None);
        assert_eq!(pools.get(&2), None, "a pool holding nothing is absent");
    }
    let store = open(&dir);
    assert_eq!(store.pool_usage(), BTreeMap::from([(1, u(10, 1))]));

    // A file written before per-pool usage was kept: counted once from the objects on open.
    drop(store);
    {
        let db = redb::Database::open(dir.db()).unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut info = w.open_table(super::super::keys::INFO).unwrap();
            info.retain(|k, _| !k.starts_with(super::super::keys::INFO_POOL_USAGE))
                .unwrap();
        }
        w.commit().unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.pool_usage(), BTreeMap::from([(1, u(10, 1))]));
    assert_eq!(store.usage(), u(10, 1));
}
