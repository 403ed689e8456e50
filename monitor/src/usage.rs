//! Space used per OSD and per pool (`shoal osd df`, `shoal df`), from the OSDs' beacons.
//! Pure: the latest beacon of each OSD in, a [`DfReport`] for a map out.

use std::collections::HashMap;
use std::time::Duration;

use placement::{ClusterMap, OsdId, PoolId, PoolKind};
use rados::proto::mon::{DfReport, OsdBeacon, OsdDf, PoolDf, PoolStored};

/// What one OSD last said it stores, and when.
#[derive(Debug, Clone)]
struct Stored {
    at: Duration,
    bytes: u64,
    objects: u64,
    file_bytes: u64,
    pgs: u64,
    pools: Vec<PoolStored>,
}

/// The latest usage each OSD reported (soft state: a new leader hears the next beacons).
#[derive(Debug, Default)]
pub struct UsageBook {
    osds: HashMap<OsdId, Stored>,
}

impl UsageBook {
    /// Records a beacon received at `now` (the monitor's clock).
    pub fn observe(&mut self, now: Duration, b: &OsdBeacon) {
        self.osds.insert(
            b.id,
            Stored {
                at: now,
                bytes: b.bytes,
                objects: b.objects,
                file_bytes: b.file_bytes,
                pgs: b.pgs_stored,
                pools: b.pools.clone(),
            },
        );
    }

    /// Bytes and objects of every OSD still in `map`, together.
    pub fn totals(&self, map: &ClusterMap) -> (u64, u64) {
        self.osds
            .iter()
            .filter(|(id, _)| map.osds.contains_key(id))
            .fold((0, 0), |(b, o), (_, s)| (b + s.bytes, o + s.objects))
    }

    /// Every OSD and pool of `map` with what was last reported of it.
    pub fn report(&self, now: Duration, map: &ClusterMap) -> DfReport {
        let osds = map
            .osds
            .values()
            .map(|o| {
                let s = self.osds.get(&o.id);
                OsdDf {
                    id: o.id,
                    up: o.up,
                    is_in: o.is_in,
                    used_bytes: s.map_or(0, |s| s.bytes),
                    file_bytes: s.map_or(0, |s| s.file_bytes),
                    objects: s.map_or(0, |s| s.objects),
                    pgs: s.map_or(0, |s| s.pgs),
                    reported_secs_ago: s.map(|s| now.saturating_sub(s.at).as_secs()),
                }
            })
            .collect();
        let pools = map
            .pools
            .values()
            .map(|p| {
                let (bytes, copies, rollback) = self.pool_sums(p.id, map);
                let width = p.size().max(1) as u64;
                let stored_bytes = match p.kind {
                    PoolKind::Replicated { .. } => bytes / width,
                    PoolKind::Erasure { k, .. } => {
                        (u128::from(bytes) * u128::from(k) / u128::from(width)) as u64
                    }
                };
                PoolDf {
                    name: p.name.clone(),
                    id: p.id,
                    objects: (copies + width / 2) / width,
                    stored_bytes,
                    raw_bytes: bytes + rollback,
                }
            })
            .collect();
        DfReport { osds, pools }
    }

    /// A pool's bytes, copies and roll-back bytes over the OSDs still in `map`.
    fn pool_sums(&self, pool: PoolId, map: &ClusterMap) -> (u64, u64, u64) {
        self.osds
            .iter()
            .filter(|(id, _)| map.osds.contains_key(id))
            .flat_map(|(_, s)| s.pools.iter().filter(|p| p.pool == pool))
            .fold((0, 0, 0), |(b, o, r), p| {
                (b + p.bytes, o + p.objects, r + p.rollback_bytes)
            })
    }
}

#[cfg(test)]
mod tests {
    use placement::{DomainType, Fsid, Location, Weight};
    use rados::proto::mon::{AdminCommand, OsdBoot};

    use super::*;
    use crate::state::{MonCommand, MonState};

    /// Four OSDs on four hosts (osd.3 down), a size-3 pool `rep` and a 2+1 pool `ec`.
    fn map() -> ClusterMap {
        let mut s = MonState::new(Fsid([1; 16]));
        for n in 0..4u8 {
            s.apply(&MonCommand::Boot(OsdBoot {
                uuid: [n; 16],
                addr: format!("127.0.0.1:{}", 7000 + u16::from(n))
                    .parse()
                    .unwrap(),
                location: Location {
                    zone: "default".into(),
                    host: format!("h{n}"),
                },
                weight: Weight::ONE,
                gossip: None,
            }));
        }
        for (name, kind) in [
            (
                "rep",
                PoolKind::Replicated {
                    size: 3,
                    min_size: 2,
                },
            ),
            ("ec", PoolKind::erasure(2, 1)),
        ] {
            s.apply(&MonCommand::Admin(AdminCommand::PoolCreate {
                name: name.into(),
                kind,
                pg_num: 8,
                failure_domain: DomainType::Host,
            }));
        }
        s.apply(&MonCommand::Admin(AdminCommand::OsdDown(OsdId(3))));
        s.map
    }

    fn beacon(id: u32, pools: Vec<PoolStored>) -> OsdBeacon {
        let bytes = pools.iter().map(|p| p.bytes + p.rollback_bytes).sum();
        let objects = pools.iter().map(|p| p.objects).sum();
        OsdBeacon {
            id: OsdId(id),
            epoch: placement::Epoch(1),
            bytes,
            objects,
            pgs: vec![],
            recovered_objects: 0,
            recovered_bytes: 0,
            file_bytes: 1 << 20,
            pgs_stored: 5,
            pools,
        }
    }

    /// What an OSD stores of the pool called `name` in [`map`].
    fn stored(name: &str, bytes: u64, objects: u64, rollback_bytes: u64) -> PoolStored {
        let map = map();
        let pool = map.pools.values().find(|p| p.name == name).expect("pool");
        PoolStored {
            pool: pool.id,
            bytes,
            objects,
            rollback_bytes,
        }
    }

    #[test]
    fn pools_are_summed_over_osds_and_divided_by_their_redundancy() {
        let mut book = UsageBook::default();
        // 10 objects of 300 B in "rep" (3 copies), 4 objects of 200 B in "ec" 2+1 (shards of
        // 100 B), one 100 B roll-back shard.
        for id in 0..3 {
            let ec = stored("ec", 400, 4, if id == 0 { 100 } else { 0 });
            book.observe(
                Duration::from_secs(10),
                &beacon(id, vec![stored("rep", 1000, 10, 0), ec]),
            );
        }
        let report = book.report(Duration::from_secs(12), &map());
        let rep = &report.pools[0];
        assert_eq!(
            (
                rep.name.as_str(),
                rep.objects,
                rep.stored_bytes,
                rep.raw_bytes
            ),
            ("rep", 10, 1000, 3000)
        );
        let ec = &report.pools[1];
        assert_eq!(
            (ec.name.as_str(), ec.objects, ec.stored_bytes, ec.raw_bytes),
            ("ec", 4, 800, 1300)
        );

        assert_eq!(report.osds.len(), 4, "every OSD in the map");
        let o0 = &report.osds[0];
        assert_eq!(
            (o0.used_bytes, o0.objects, o0.pgs, o0.file_bytes),
            (1500, 14, 5, 1 << 20)
        );
        assert_eq!(o0.reported_secs_ago, Some(2));
        let silent = &report.osds[3];
        assert_eq!(
            (silent.used_bytes, silent.up, silent.reported_secs_ago),
            (0, false, None)
        );
        assert_eq!(book.totals(&map()), (4300, 42));
    }

    #[test]
    fn an_osd_removed_from_the_map_no_longer_counts() {
        let mut book = UsageBook::default();
        book.observe(Duration::ZERO, &beacon(0, vec![stored("rep", 300, 3, 0)]));
        book.observe(Duration::ZERO, &beacon(9, vec![stored("rep", 300, 3, 0)]));
        let report = book.report(Duration::ZERO, &map());
        assert_eq!(report.pools[0].raw_bytes, 300);
        assert_eq!(report.pools[0].objects, 1);
        assert_eq!(book.totals(&map()), (300, 3));
    }
}
