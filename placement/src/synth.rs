//! Synthetic cluster maps for `shoal crush test`, tests and benchmarks: `zones` zones,
//! `hosts` hosts spread round-robin over them, `osds_per_host` OSDs of equal weight on each.

use crate::MapError;
use crate::crush::DomainType;
use crate::ids::{Fsid, OsdId, PoolId};
use crate::incremental::Change;
use crate::map::ClusterMap;
use crate::osd::{Location, OsdEntry, Weight};
use crate::pool::{Pool, PoolKind};

/// Shape of a synthetic cluster.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Zones (at least 1).
    pub zones: u32,
    /// Hosts in all.
    pub hosts: u32,
    /// OSDs on each host.
    pub osds_per_host: u32,
}

/// The zone name of zone `z`.
pub fn zone_name(z: u32) -> String {
    format!("zone-{z}")
}

/// The host name of host `h`.
pub fn host_name(h: u32) -> String {
    format!("host-{h}")
}

/// An up+in OSD entry of weight 1.0.
pub fn osd(id: u32, host: &str, zone: &str) -> OsdEntry {
    OsdEntry {
        id: OsdId(id),
        addr: None,
        location: Location {
            zone: zone.to_owned(),
            host: host.to_owned(),
        },
        weight: Weight::ONE,
        up: true,
        is_in: true,
        up_from: Default::default(),
        gossip: None,
    }
}

/// The OSD entries of `shape`, ids `0..hosts*osds_per_host`, host-major.
pub fn osds(shape: Shape) -> Vec<OsdEntry> {
    let zones = shape.zones.max(1);
    (0..shape.hosts)
        .flat_map(|h| {
            (0..shape.osds_per_host).map(move |i| {
                osd(
                    h * shape.osds_per_host + i,
                    &host_name(h),
                    &zone_name(h % zones),
                )
            })
        })
        .collect()
}

/// A map at epoch 1 holding the OSDs of `shape`.
pub fn map(shape: Shape) -> ClusterMap {
    let mut map = ClusterMap::new(Fsid([0x5a; 16]));
    let changes = osds(shape).into_iter().map(Change::OsdAdd).collect();
    let inc = map.next_incremental(changes);
    map.apply(&inc).expect("synthetic OSDs are valid");
    map
}

/// Adds a pool of `kind` and `pg_num` PGs, with a rule of the matching mode across
/// `failure_domain`, in one new epoch; returns the pool's id.
pub fn add_pool(
    map: &mut ClusterMap,
    kind: PoolKind,
    pg_num: u32,
    failure_domain: DomainType,
) -> Result<PoolId, MapError> {
    let (rule, add_rule) = map.rule_for(kind.rule_mode(), failure_domain);
    let id = map.next_pool_id();
    let pool = Pool {
        id,
        name: format!("pool-{}", id.0),
        kind,
        pg_num,
        rule,
    };
    let inc = map.next_incremental(
        add_rule
            .into_iter()
            .chain([Change::PoolCreate(pool)])
            .collect(),
    );
    map.apply(&inc)?;
    Ok(id)
}
