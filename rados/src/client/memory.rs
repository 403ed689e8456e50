//! [`MemoryPool`]: a pool held in memory with the OSD's op semantics, behind the same
//! [`IoCtx`](super::IoCtx) as a real pool, so code built on `IoCtx` (the S3 gateway's write
//! protocols) runs unchanged in seeded simulations: each op yields once before it applies, so
//! a test that polls several such futures picks the interleaving, and a future dropped
//! between two ops is a process killed there.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use serde_bytes::ByteBuf;

use super::error::ClientError;
use crate::proto::osd::{ObjectReply, ObjectStat, Op, OpResult, OsdError, Version};

#[derive(Clone, Debug, Default)]
struct MemObject {
    data: Bytes,
    xattrs: BTreeMap<String, ByteBuf>,
    omap: BTreeMap<Vec<u8>, Vec<u8>>,
    version: Version,
}

/// An in-memory pool (see the module doc). Objects are created by their first write and
/// versioned by a pool-wide counter.
#[derive(Debug, Default)]
pub struct MemoryPool {
    objects: Mutex<(BTreeMap<String, MemObject>, u64)>,
}

impl MemoryPool {
    /// An empty pool.
    pub fn new() -> MemoryPool {
        MemoryPool::default()
    }

    /// Every object's name, in order.
    pub fn names(&self) -> Vec<String> {
        let objects = self.objects.lock().expect("memory pool lock");
        objects.0.keys().cloned().collect()
    }

    /// Runs `ops` on `object` as an OSD does: guards first (all hold or nothing happens),
    /// then the writes as one change, or the reads against one state.
    pub fn operate(
        &self,
        object: &str,
        ops: &[Op],
        payload: Bytes,
    ) -> Result<(ObjectReply, Bytes), OsdError> {
        let mut guard = self.objects.lock().expect("memory pool lock");
        let (objects, counter) = &mut *guard;
        let current = objects.get(object);
        let missing = || OsdError::NoSuchObject;
        let mut results = Vec::with_capacity(ops.len());
        let mut data = Bytes::new();
        for op in ops {
            results.push(match op {
                Op::CmpXattr { name, value } => {
                    if current.and_then(|o| o.xattrs.get(name)) != value.as_ref() {
                        return Err(OsdError::GuardFailed(format!("xattr {name:?} differs")));
                    }
                    OpResult::Done
                }
                Op::AssertVersion(v) => {
                    let have = current.map_or(Version::ZERO, |o| o.version);
                    if have != *v {
                        return Err(OsdError::GuardFailed(format!(
                            "version is {have}, expected {v}"
                        )));
                    }
                    OpResult::Done
                }
                Op::AssertExists | Op::Remove => {
                    current.ok_or_else(missing)?;
                    OpResult::Done
                }
                Op::CmpOmap { key, value } => {
                    let have = current.ok_or_else(missing)?.omap.get(key.as_slice());
                    if have.map(Vec::as_slice) != value.as_ref().map(|v| v.as_slice()) {
                        return Err(OsdError::GuardFailed("omap entry differs".into()));
                    }
                    OpResult::Done
                }
                Op::WriteFull
                | Op::SetXattr { .. }
                | Op::RmXattr(_)
                | Op::OmapSet(_)
                | Op::OmapRm(_) => OpResult::Done,
                Op::Read { off, len } => {
                    let o = current.ok_or_else(missing)?;
                    let start = (*off).min(o.data.len() as u64) as usize;
                    let end = len.map_or(o.data.len(), |l| {
                        (start as u64 + l).min(o.data.len() as u64) as usize
                    });
                    data = o.data.slice(start..end);
                    OpResult::Read(data.len() as u64)
                }
                Op::Stat => {
                    let o = current.ok_or_else(missing)?;
                    OpResult::Stat(ObjectStat {
                        size: o.data.len() as u64,
                        version: o.version,
                        crc: crc32c::crc32c(&o.data),
                    })
                }
                Op::GetXattr(name) => {
                    OpResult::Xattr(current.ok_or_else(missing)?.xattrs.get(name).cloned())
                }
                Op::GetXattrs => {
                    let o = current.ok_or_else(missing)?;
                    OpResult::Xattrs(
                        o.xattrs
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                }
                Op::OmapGet(keys) => {
                    let o = current.ok_or_else(missing)?;
                    OpResult::Omap(
                        keys.iter()
                            .filter_map(|k| {
                                o.omap
                                    .get(k.as_slice())
                                    .map(|v| (k.clone(), ByteBuf::from(v.clone())))
                            })
                            .collect(),
                    )
                }
                Op::OmapList { start_after, limit } => {
                    let o = current.ok_or_else(missing)?;
                    let after = start_after.as_ref().map(|k| k.to_vec());
                    OpResult::Omap(
                        o.omap
                            .iter()
                            .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
                            .take(*limit as usize)
                            .map(|(k, v)| (ByteBuf::from(k.clone()), ByteBuf::from(v.clone())))
                            .collect(),
                    )
                }
            });
        }
        if !ops.iter().any(Op::is_write) {
            let version = current.map_or(Version::ZERO, |o| o.version);
            return Ok((ObjectReply { version, results }, data));
        }
        *counter += 1;
        let version = Version {
            epoch: placement::Epoch(1),
            seq: *counter,
        };
        let mut object_now = current.cloned().unwrap_or_default();
        let mut payload = Some(payload);
        let mut removed = false;
        for op in ops {
            match op {
                Op::WriteFull => {
                    object_now.data = payload
                        .take()
                        .ok_or_else(|| OsdError::Invalid("one write_full per request".into()))?;
                }
                Op::Remove => removed = true,
                Op::SetXattr { name, value } => {
                    object_now.xattrs.insert(name.clone(), value.clone());
                }
                Op::RmXattr(name) => {
                    object_now.xattrs.remove(name);
                }
                Op::OmapSet(entries) => {
                    for (k, v) in entries {
                        object_now.omap.insert(k.to_vec(), v.to_vec());
                    }
                }
                Op::OmapRm(keys) => {
                    for k in keys {
                        object_now.omap.remove(k.as_slice());
                    }
                }
                _ => {}
            }
        }
        if removed {
            objects.remove(object);
        } else {
            object_now.version = version;
            objects.insert(object.to_owned(), object_now);
        }
        Ok((ObjectReply { version, results }, Bytes::new()))
    }
}

/// A future that is pending once: the point where a simulation may run others first.
pub(super) async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// An [`OsdError`] on `object` as [`IoCtx`](super::IoCtx) reports it.
pub(super) fn client_error(pool: &str, object: &str, e: OsdError) -> ClientError {
    match e {
        OsdError::NoSuchObject => ClientError::NoSuchObject {
            pool: pool.to_owned(),
            object: object.to_owned(),
        },
        OsdError::GuardFailed(reason) => ClientError::GuardFailed {
            object: object.to_owned(),
            reason,
        },
        other => ClientError::Osd(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_decide_all_or_nothing() {
        let pool = MemoryPool::new();
        let set = |v: &[u8]| Op::SetXattr {
            name: "t".into(),
            value: ByteBuf::from(v.to_vec()),
        };
        let cmp = |v: Option<&[u8]>| Op::CmpXattr {
            name: "t".into(),
            value: v.map(|v| ByteBuf::from(v.to_vec())),
        };
        pool.operate(
            "o",
            &[cmp(None), Op::WriteFull, set(b"a")],
            Bytes::from_static(b"x"),
        )
        .unwrap();
        let lost = pool.operate("o", &[cmp(None), Op::WriteFull], Bytes::from_static(b"y"));
        assert!(matches!(lost, Err(OsdError::GuardFailed(_))));
        let (reply, data) = pool
            .operate(
                "o",
                &[Op::Read { off: 0, len: None }, Op::GetXattr("t".into())],
                Bytes::new(),
            )
            .unwrap();
        assert_eq!(&data[..], b"x");
        assert_eq!(
            reply.results[1],
            OpResult::Xattr(Some(ByteBuf::from(b"a".to_vec())))
        );
        pool.operate("o", &[cmp(Some(b"a")), Op::Remove], Bytes::new())
            .unwrap();
        assert!(pool.names().is_empty());
        assert!(matches!(
            pool.operate("o", &[Op::Stat], Bytes::new()),
            Err(OsdError::NoSuchObject)
        ));
    }

    #[test]
    fn omap_guards_compare_one_entry() {
        let pool = MemoryPool::new();
        let buf = |b: &[u8]| ByteBuf::from(b.to_vec());
        let cmp = |v: Option<&[u8]>| Op::CmpOmap {
            key: buf(b"k"),
            value: v.map(buf),
        };
        let set = |v: &[u8]| Op::OmapSet(vec![(buf(b"k"), buf(v))]);
        // No object: the guard fails as a missing object, whatever it expects.
        assert!(matches!(
            pool.operate("i", &[cmp(None), set(b"a")], Bytes::new()),
            Err(OsdError::NoSuchObject)
        ));
        pool.operate("i", &[Op::OmapSet(Vec::new())], Bytes::new())
            .unwrap();
        pool.operate("i", &[cmp(None), set(b"a")], Bytes::new())
            .unwrap();
        for wrong in [None, Some(&b"b"[..])] {
            assert!(matches!(
                pool.operate("i", &[cmp(wrong), set(b"x")], Bytes::new()),
                Err(OsdError::GuardFailed(_))
            ));
        }
        pool.operate(
            "i",
            &[cmp(Some(b"a")), Op::OmapRm(vec![buf(b"k")])],
            Bytes::new(),
        )
        .unwrap();
        let (reply, _) = pool
            .operate("i", &[Op::OmapGet(vec![buf(b"k")])], Bytes::new())
            .unwrap();
        assert_eq!(reply.results[0], OpResult::Omap(Vec::new()));
    }

    #[test]
    fn omap_lists_in_order_after_a_key() {
        let pool = MemoryPool::new();
        let entries = ["b", "a", "c"]
            .iter()
            .map(|k| (ByteBuf::from(k.as_bytes().to_vec()), ByteBuf::from(vec![])))
            .collect();
        pool.operate("i", &[Op::OmapSet(entries)], Bytes::new())
            .unwrap();
        let list = Op::OmapList {
            start_after: Some(ByteBuf::from(b"a".to_vec())),
            limit: 5,
        };
        let (reply, _) = pool.operate("i", &[list], Bytes::new()).unwrap();
        let OpResult::Omap(got) = &reply.results[0] else {
            panic!("{reply:?}");
        };
        let keys: Vec<&[u8]> = got.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, vec![b"b".as_slice(), b"c"]);
    }
}
