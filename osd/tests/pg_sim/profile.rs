//! The pools the simulation runs, and its seeded random source.

use osd::ec::Layout;

/// A pool the simulation runs: OSDs, PG size, min_size and erasure layout, and whether
/// CRUSH moves the PG now and then (`Sim::remap`; off, a seed replays as it always did).
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub osds: u32,
    pub size: usize,
    pub min_size: usize,
    pub ec: Option<Layout>,
    pub remaps: bool,
}

pub const REPLICATED: Profile = Profile {
    osds: 5,
    size: 3,
    min_size: 2,
    ec: None,
    remaps: false,
};

/// 2+2: any split of four shards between two versions leaves one of them on k current
/// shards.
pub const EC_2_2: Profile = Profile {
    osds: 6,
    size: 4,
    min_size: 3,
    ec: Some(Layout {
        k: 2,
        m: 2,
        stripe_unit: 8,
    }),
    remaps: false,
};

/// 4+2: a write that reached 3 of 6 shards decodes neither way without the roll-back copies.
pub const EC_4_2: Profile = Profile {
    osds: 8,
    size: 6,
    min_size: 5,
    ec: Some(Layout {
        k: 4,
        m: 2,
        stripe_unit: 8,
    }),
    remaps: false,
};

/// The replicated pool, moved by CRUSH now and then.
pub const REPLICATED_REMAPS: Profile = Profile {
    remaps: true,
    ..REPLICATED
};

/// 2+2, moved by CRUSH now and then: members swap positions or give theirs to a spare.
pub const EC_2_2_REMAPS: Profile = Profile {
    remaps: true,
    ..EC_2_2
};

/// 4+2, moved by CRUSH now and then, likewise.
pub const EC_4_2_REMAPS: Profile = Profile {
    remaps: true,
    ..EC_4_2
};

/// splitmix64: small, seedable, good enough for schedules.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
