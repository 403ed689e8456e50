//! Helpers shared by the placement property tests.
#![allow(dead_code)]

use placement::synth::{self, Shape};
use placement::{ClusterMap, DomainType, OsdId, PoolId, PoolKind};

/// Replicated size 3, min_size 2.
pub const REP3: PoolKind = PoolKind::Replicated {
    size: 3,
    min_size: 2,
};

/// Erasure 4+2.
pub const EC42: PoolKind = PoolKind::erasure(4, 2);

/// A synthetic map with one pool.
pub fn map_with_pool(
    shape: Shape,
    kind: PoolKind,
    pg_num: u32,
    level: DomainType,
) -> (ClusterMap, PoolId) {
    let mut map = synth::map(shape);
    let pool = synth::add_pool(&mut map, kind, pg_num, level).unwrap();
    (map, pool)
}

/// Applies `changes` as the next epoch.
pub fn commit(map: &mut ClusterMap, changes: Vec<placement::Change>) {
    let inc = map.next_incremental(changes);
    map.apply(&inc).unwrap();
}

/// Shorthand shape.
pub fn shape(zones: u32, hosts: u32, osds_per_host: u32) -> Shape {
    Shape {
        zones,
        hosts,
        osds_per_host,
    }
}

/// The host of an OSD.
pub fn host_of(map: &ClusterMap, id: OsdId) -> &str {
    &map.osds[&id].location.host
}
