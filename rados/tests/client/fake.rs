//! A fake cluster on loopback for testing `RadosClient` before the real OSD exists: one
//! monitor serving `GetMap`/`Subscribe` from a map the test changes, and OSDs serving
//! object requests and listings from one shared in-memory store (as if replication were
//! instant). Each OSD answers only for PGs whose primary it is in the monitor's newest map,
//! dedups writes by reqid, logs every reqid it sees, and can be told to answer "unavailable"
//! or to apply a write and then not answer in time.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use placement::{
    Change, ClusterMap, DomainType, Epoch, Fsid, Incremental, Location, OsdEntry, OsdId, Placement,
    Pool, PoolId, PoolKind, Weight,
};
use rados::proto::mon::{GetMap, MapUpdate, Subscribe};
use rados::proto::osd::{
    ListObjects, ObjectReply, ObjectRequest, ObjectStat, Op, OpResult, OsdError, ReqId, Version,
};
use rados::{Keyring, Messenger, MessengerConfig, Router};
use serde_bytes::ByteBuf;
use tokio::sync::watch;

/// How long the fake monitor holds a `Subscribe` open.
const SUBSCRIBE_WAIT: Duration = Duration::from_millis(200);
/// How long a stalled write's reply is held back (longer than the tests' request timeout).
pub const STALL: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Default)]
struct Object {
    data: Bytes,
    xattrs: BTreeMap<String, Vec<u8>>,
    omap: BTreeMap<Vec<u8>, Vec<u8>>,
    version: Version,
}

type Answer = (Result<ObjectReply, OsdError>, Bytes);

/// The fake cluster's state, shared by its monitor and OSDs.
pub struct Cluster {
    pub keyring: Keyring,
    pub mon_addr: SocketAddr,
    map: Mutex<(ClusterMap, Vec<Incremental>)>,
    epochs: watch::Sender<Epoch>,
    objects: Mutex<BTreeMap<(PoolId, String), Object>>,
    applied: Mutex<HashMap<ReqId, Answer>>,
    seq: AtomicU64,
    /// Every object request received: which OSD, which reqid.
    pub seen: Mutex<Vec<(OsdId, ReqId)>>,
    /// Writes actually applied (not answered from the reqid log).
    pub writes: AtomicU64,
    /// Answer this many more requests with "PG unavailable".
    pub unavailable: AtomicU32,
    /// Apply this many more writes, then hold their replies for [`STALL`].
    pub stall: AtomicU32,
    /// Subscriptions report nothing new (the client learns only by asking).
    pub frozen: AtomicBool,
    /// Subscriptions received.
    pub subscribes: AtomicU64,
    _messengers: Vec<Arc<Messenger>>,
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn quick() -> MessengerConfig {
    MessengerConfig {
        request_timeout: Duration::from_secs(2),
        ..MessengerConfig::default()
    }
}

impl Cluster {
    /// `osds` OSDs on their own hosts, and a replicated pool `data` (size 2, 8 PGs).
    pub fn start(osds: u32) -> Arc<Cluster> {
        let keyring = Keyring::generate().unwrap();
        let mon = Messenger::bind(local(), &keyring, quick()).unwrap();
        let osd_msgrs: Vec<_> = (0..osds)
            .map(|_| Messenger::bind(local(), &keyring, quick()).unwrap())
            .collect();
        let mut map = ClusterMap::new(Fsid([7; 16]));
        let adds = osd_msgrs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Change::OsdAdd(OsdEntry {
                    id: OsdId(i as u32),
                    addr: m.listen_addr(),
                    location: Location {
                        zone: "z".into(),
                        host: format!("h{i}"),
                    },
                    weight: Weight::ONE,
                    up: true,
                    is_in: true,
                    up_from: Epoch(1),
                    gossip: None,
                })
            })
            .collect();
        let inc = map.next_incremental(adds);
        map.apply(&inc).unwrap();
        let mut history = vec![inc];
        let inc = map.next_incremental(pool_changes(&map, "data"));
        map.apply(&inc).unwrap();
        history.push(inc);
        let (epochs, _) = watch::channel(map.epoch);
        let mut messengers = vec![mon.clone()];
        messengers.extend(osd_msgrs.iter().cloned());
        let cluster = Arc::new(Cluster {
            keyring,
            mon_addr: mon.listen_addr().unwrap(),
            map: Mutex::new((map, history)),
            epochs,
            objects: Mutex::default(),
            applied: Mutex::default(),
            seq: AtomicU64::new(0),
            seen: Mutex::default(),
            writes: AtomicU64::new(0),
            unavailable: AtomicU32::new(0),
            stall: AtomicU32::new(0),
            frozen: AtomicBool::new(false),
            subscribes: AtomicU64::new(0),
            _messengers: messengers,
        });
        let c = cluster.clone();
        let c2 = cluster.clone();
        mon.serve(Arc::new(
            Router::new()
                .route(move |r: GetMap, _| {
                    let c = c.clone();
                    async move { Ok(c.updates_since(r.have)) }
                })
                .route(move |r: Subscribe, _| {
                    let c = c2.clone();
                    async move { Ok(c.subscribe(r.have).await) }
                }),
        ));
        for (i, m) in osd_msgrs.iter().enumerate() {
            let me = OsdId(i as u32);
            let (c, c2) = (cluster.clone(), cluster.clone());
            m.serve(Arc::new(
                Router::new()
                    .route_with_payload(move |r: ObjectRequest, ctx| {
                        let c = c.clone();
                        async move { c.object_request(me, r, ctx.payload).await }
                    })
                    .route(move |r: ListObjects, _| {
                        let c = c2.clone();
                        async move { c.list(me, r) }
                    }),
            ));
        }
        cluster
    }

    /// The monitor's newest map.
    pub fn map(&self) -> ClusterMap {
        self.map.lock().unwrap().0.clone()
    }

    /// Commits `changes` as a new epoch.
    pub fn commit(&self, changes: Vec<Change>) -> Epoch {
        let mut guard = self.map.lock().unwrap();
        let (map, history) = &mut *guard;
        let inc = map.next_incremental(changes);
        map.apply(&inc).unwrap();
        history.push(inc);
        self.epochs.send_replace(map.epoch);
        map.epoch
    }

    /// Creates a replicated pool `name` (size 2, 8 PGs).
    pub fn create_pool(&self, name: &str) -> Epoch {
        let changes = pool_changes(&self.map(), name);
        self.commit(changes)
    }

    /// The version of a stored object.
    pub fn version(&self, pool: PoolId, object: &str) -> Option<Version> {
        let objects = self.objects.lock().unwrap();
        objects.get(&(pool, object.to_owned())).map(|o| o.version)
    }

    fn updates_since(&self, have: Option<Epoch>) -> MapUpdate {
        let guard = self.map.lock().unwrap();
        let (map, history) = &*guard;
        match have {
            Some(e) if e == map.epoch => MapUpdate::UpToDate(e),
            Some(e) if e < map.epoch => {
                MapUpdate::Incrementals(history.iter().filter(|i| i.epoch > e).cloned().collect())
            }
            _ => MapUpdate::Full(Box::new(map.clone())),
        }
    }

    async fn subscribe(&self, have: Epoch) -> MapUpdate {
        self.subscribes.fetch_add(1, Ordering::Relaxed);
        if self.frozen.load(Ordering::Relaxed) {
            tokio::time::sleep(SUBSCRIBE_WAIT).await;
            return MapUpdate::UpToDate(have);
        }
        let mut epochs = self.epochs.subscribe();
        let _ = tokio::time::timeout(SUBSCRIBE_WAIT, epochs.wait_for(|e| *e > have)).await;
        self.updates_since(Some(have))
    }

    /// The PG's primary check every request passes first.
    fn check_primary(&self, me: OsdId, pg: placement::PgId) -> Result<(), OsdError> {
        let map = self.map();
        let placed = Placement::new(&map)
            .map_pg(pg)
            .map_err(|_| OsdError::NoSuchPool)?;
        if placed.primary != Some(me) {
            return Err(OsdError::NotPrimary {
                pg: pg.to_string(),
                epoch: map.epoch,
            });
        }
        let left = self.unavailable.load(Ordering::Relaxed);
        if left > 0 {
            self.unavailable.store(left - 1, Ordering::Relaxed);
            return Err(OsdError::Unavailable {
                pg: pg.to_string(),
                state: "peering".into(),
            });
        }
        Ok(())
    }

    async fn object_request(&self, me: OsdId, req: ObjectRequest, payload: Bytes) -> Answer {
        self.seen.lock().unwrap().push((me, req.reqid));
        let pg = {
            let map = self.map();
            match map.pools.get(&req.pool) {
                Some(pool) => pool.pg_of(req.object.as_bytes()),
                None => return (Err(OsdError::NoSuchPool), Bytes::new()),
            }
        };
        if let Err(e) = self.check_primary(me, pg) {
            return (Err(e), Bytes::new());
        }
        if let Some(done) = self.applied.lock().unwrap().get(&req.reqid) {
            return done.clone();
        }
        let write = req.ops.iter().any(Op::is_write);
        let answer = self.execute(&req, payload);
        if write {
            self.applied
                .lock()
                .unwrap()
                .insert(req.reqid, answer.clone());
            let left = self.stall.load(Ordering::Relaxed);
            if left > 0 {
                self.stall.store(left - 1, Ordering::Relaxed);
                tokio::time::sleep(STALL).await;
            }
        }
        answer
    }

    fn execute(&self, req: &ObjectRequest, payload: Bytes) -> Answer {
        let fail = |e| (Err(e), Bytes::new());
        let mut objects = self.objects.lock().unwrap();
        let key = (req.pool, req.object.clone());
        let current = objects.get(&key).cloned();
        let version = current.as_ref().map_or(Version::ZERO, |o| o.version);
        for op in &req.ops {
            let held = match op {
                Op::CmpXattr { name, value } => {
                    let have = current.as_ref().and_then(|o| o.xattrs.get(name));
                    have.map(Vec::as_slice) == value.as_ref().map(|v| v.as_slice())
                }
                Op::AssertVersion(v) => *v == version,
                Op::AssertExists => current.is_some(),
                Op::CmpOmap { key, value } => current.as_ref().is_some_and(|o| {
                    o.omap.get(key.as_slice()).map(Vec::as_slice)
                        == value.as_ref().map(|v| v.as_slice())
                }),
                _ => true,
            };
            if !held {
                return fail(OsdError::GuardFailed(format!("{op:?}")));
            }
        }
        let results = vec![OpResult::Done; req.ops.len()];
        if req.ops.iter().any(Op::is_write) {
            let mut obj = current.clone().unwrap_or_default();
            let mut exists = current.is_some();
            for op in &req.ops {
                match op {
                    Op::WriteFull => obj.data = payload.clone(),
                    Op::Remove if !exists => return fail(OsdError::NoSuchObject),
                    Op::Remove => {
                        obj = Object::default();
                        exists = false;
                        continue;
                    }
                    Op::SetXattr { name, value } => {
                        obj.xattrs.insert(name.clone(), value.to_vec());
                    }
                    Op::RmXattr(name) => {
                        obj.xattrs.remove(name);
                    }
                    Op::OmapSet(entries) => {
                        for (k, v) in entries {
                            obj.omap.insert(k.to_vec(), v.to_vec());
                        }
                    }
                    Op::OmapRm(keys) => {
                        for k in keys {
                            obj.omap.remove(k.as_slice());
                        }
                    }
                    guard if !guard.is_write() => continue,
                    other => return fail(OsdError::Invalid(format!("{other:?}"))),
                }
                exists = true;
            }
            let written = Version {
                epoch: self.map().epoch,
                seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            };
            self.writes.fetch_add(1, Ordering::Relaxed);
            if exists {
                obj.version = written;
                objects.insert(key, obj);
            } else {
                objects.remove(&key);
            }
            return (
                Ok(ObjectReply {
                    version: written,
                    results,
                }),
                Bytes::new(),
            );
        }
        let Some(obj) = current else {
            return fail(OsdError::NoSuchObject);
        };
        let mut data = Vec::new();
        let results = req
            .ops
            .iter()
            .map(|op| match op {
                Op::Read { off, len } => {
                    let start = (*off as usize).min(obj.data.len());
                    let end =
                        len.map_or(obj.data.len(), |l| (start + l as usize).min(obj.data.len()));
                    data.extend_from_slice(&obj.data[start..end]);
                    OpResult::Read((end - start) as u64)
                }
                Op::Stat => OpResult::Stat(stat(&obj)),
                Op::GetXattr(name) => {
                    OpResult::Xattr(obj.xattrs.get(name).map(|v| ByteBuf::from(v.clone())))
                }
                Op::GetXattrs => OpResult::Xattrs(
                    obj.xattrs
                        .iter()
                        .map(|(k, v)| (k.clone(), ByteBuf::from(v.clone())))
                        .collect(),
                ),
                Op::OmapGet(keys) => OpResult::Omap(
                    keys.iter()
                        .filter_map(|k| {
                            obj.omap
                                .get(k.as_slice())
                                .map(|v| (k.clone(), ByteBuf::from(v.clone())))
                        })
                        .collect(),
                ),
                Op::OmapList { start_after, limit } => OpResult::Omap(
                    obj.omap
                        .iter()
                        .filter(|(k, _)| {
                            start_after
                                .as_ref()
                                .is_none_or(|a| k.as_slice() > a.as_slice())
                        })
                        .take(*limit as usize)
                        .map(|(k, v)| (ByteBuf::from(k.clone()), ByteBuf::from(v.clone())))
                        .collect(),
                ),
                _ => OpResult::Done,
            })
            .collect();
        (
            Ok(ObjectReply {
                version: obj.version,
                results,
            }),
            Bytes::from(data),
        )
    }

    fn list(&self, me: OsdId, req: ListObjects) -> Result<Vec<(String, ObjectStat)>, OsdError> {
        self.check_primary(me, req.pg)?;
        let map = self.map();
        let pool = map.pools.get(&req.pg.pool).ok_or(OsdError::NoSuchPool)?;
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .iter()
            .filter(|((p, name), _)| *p == req.pg.pool && pool.pg_of(name.as_bytes()) == req.pg)
            .filter(|((_, name), _)| req.start_after.as_ref().is_none_or(|a| name > a))
            .take(req.limit as usize)
            .map(|((_, name), o)| (name.clone(), stat(o)))
            .collect())
    }
}

fn stat(o: &Object) -> ObjectStat {
    ObjectStat {
        size: o.data.len() as u64,
        version: o.version,
        crc: crc32c::crc32c(&o.data),
    }
}

fn pool_changes(map: &ClusterMap, name: &str) -> Vec<Change> {
    let kind = PoolKind::Replicated {
        size: 2,
        min_size: 1,
    };
    let (rule, add_rule) = map.rule_for(kind.rule_mode(), DomainType::Host);
    let pool = Pool {
        id: map.next_pool_id(),
        name: name.to_owned(),
        kind,
        pg_num: 8,
        rule,
    };
    add_rule
        .into_iter()
        .chain([Change::PoolCreate(pool)])
        .collect()
}
