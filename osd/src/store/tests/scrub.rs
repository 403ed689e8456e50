//! The scrub read (pages, log head, deep re-read) and the fault-injection tool.

use super::*;
use crate::store::fault::{FaultError, corrupt_object};

#[tokio::test]
async fn scrub_pages_report_metadata_head_and_deep_checksums() {
    let dir = TempDir::new();
    let store = open(&dir);
    let p = pg(1, 0);
    let data = pattern(40, 3); // three blocks of 16
    let mut ops = vec![
        write_full(&key(p, "a"), data.clone(), 1),
        write_full(&key(p, "b"), pattern(5, 1), 2),
        write_full(&key(p, "c"), Bytes::new(), 3),
        write_full(&key(pg(1, 1), "other"), pattern(5, 1), 4),
        TxOp::OmapSet {
            obj: key(p, "b"),
            entries: vec![(b"k".to_vec(), b"v".to_vec())],
            version: v(5),
        },
    ];
    ops.push(TxOp::AppendLog {
        pg: p,
        version: v(5),
        entry: vec![],
    });
    commit(&store, ops).await;

    let light = store.scrub_page(p, None, 2, false, 0).unwrap();
    assert_eq!(light.head, v(5));
    assert!(light.truncated);
    let names: Vec<&str> = light.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(light.items.iter().all(|i| i.deep.is_none()));
    assert_eq!(light.items[0].meta.crc, crc32c::crc32c(&data));

    let rest = store.scrub_page(p, Some("b"), 10, true, u64::MAX).unwrap();
    assert!(!rest.truncated);
    assert_eq!(rest.items.len(), 1, "only c is left in this PG");
    assert_eq!(rest.items[0].deep.unwrap().data, Ok(0));

    let deep = store.scrub_page(p, None, 10, true, u64::MAX).unwrap();
    assert_eq!(deep.items[0].deep.unwrap().data, Ok(crc32c::crc32c(&data)));
    let empty_omap = deep.items[0].deep.unwrap().omap_digest;
    assert_ne!(deep.items[1].deep.unwrap().omap_digest, empty_omap);
    // The byte budget stops a deep page after the object that exceeded it.
    let budget = store.scrub_page(p, None, 10, true, 1).unwrap();
    assert_eq!((budget.items.len(), budget.truncated), (1, true));
    assert_eq!(
        store.scrub_page(pg(9, 9), None, 10, true, 1).unwrap().head,
        Version::ZERO
    );

    // Bit rot in the second block: the deep read names it, the light one cannot see it.
    store.corrupt_block_for_test(&key(p, "a"), 1).unwrap();
    let deep = store.scrub_page(p, None, 1, true, u64::MAX).unwrap();
    assert_eq!(deep.items[0].deep.unwrap().data, Err(1));
    assert_eq!(store.corrupt_reads(), 1);
}

#[tokio::test]
async fn corrupt_object_flips_one_byte_and_keeps_the_checksums() {
    let dir = TempDir::new();
    let obj = key(pg(2, 3), "victim");
    let data = pattern(40, 7);
    {
        let store = open(&dir);
        commit(&store, vec![write_full(&obj, data.clone(), 1)]).await;
        // The store is open: the tool refuses, changing nothing.
        assert!(matches!(
            corrupt_object(&dir.db(), "victim", None, 0),
            Err(FaultError::InUse(_))
        ));
    }
    assert!(matches!(
        corrupt_object(&dir.db(), "nobody", None, 0),
        Err(FaultError::NotFound(_))
    ));
    assert!(matches!(
        corrupt_object(&dir.db(), "victim", Some(1), 0),
        Err(FaultError::NotFound(_))
    ));
    assert!(matches!(
        corrupt_object(&dir.db(), "victim", None, 40),
        Err(FaultError::Offset { size: 40, .. })
    ));
    let done = corrupt_object(&dir.db(), "victim", Some(2), 20).unwrap();
    assert_eq!((done.obj, done.block, done.old), (obj.clone(), 1, data[20]));
    assert_eq!(done.new, data[20] ^ 0xff);

    let store = open(&dir);
    assert_eq!(
        store.stat(&obj).unwrap().unwrap().crc,
        crc32c::crc32c(&data)
    );
    assert!(matches!(
        store.read(&obj, 0, None),
        Err(StoreError::Corrupt { block: 1, .. })
    ));
    assert_eq!(read_all_ok(&store, &obj, 0, 16), data.slice(0..16));
}

fn read_all_ok(store: &Store, obj: &ObjectKey, off: u64, len: u64) -> Bytes {
    store.read(obj, off, Some(len)).unwrap().unwrap().1
}
