//! The fixed hash functions of placement. **These are on-disk format**: an object's PG and a
//! PG's OSDs are derived from them, so changing any constant here moves every object in every
//! existing cluster. The golden-value tests in `tests.rs` pin them.
//!
//! - Object names hash with xxHash64 (seed 0), keeping the low 32 bits: a published,
//!   well-specified function with good distribution on similar names.
//! - Straw2 draws hash `(pg input, item, r)` with the splitmix64 finalizer, which is a
//!   bijective 64-bit mixer with full avalanche and costs two multiplies — placement draws
//!   one value per OSD per PG, so this is the hot path.

/// The 32-bit hash of an object name; its position in the PG's hash order.
pub fn object_hash(name: &[u8]) -> u32 {
    xxhash_rust::xxh64::xxh64(name, 0) as u32
}

/// Ceph's `ceph_stable_mod`: maps `x` into `0..b` such that growing `b` by one only splits a
/// single bucket (objects move only to the new PG). `b` need not be a power of two.
pub fn stable_mod(x: u32, b: u32) -> u32 {
    debug_assert!(b > 0, "stable_mod by zero");
    let mask = b.next_power_of_two().wrapping_sub(1);
    if x & mask < b {
        x & mask
    } else {
        x & (mask >> 1)
    }
}

/// splitmix64's output function.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const ITEM_SALT: u64 = 0x5368_6f61_6c49_7465; // "ShoalIte"
const ROUND_STEP: u64 = 0x9e37_79b9_7f4a_7c15; // the golden-ratio increment of splitmix64

/// The CRUSH input of a PG: distinct per pool so that PG n of two pools do not share OSDs.
#[inline]
pub(crate) fn pg_input(pool: u32, seed: u32) -> u64 {
    mix64((u64::from(pool) << 32) | u64::from(seed))
}

/// Per-item key, computed once per epoch; a draw mixes it with the race seed.
#[inline]
pub(crate) fn item_key(item: i64) -> u64 {
    mix64(item as u64 ^ ITEM_SALT)
}

/// The seed of one race: one PG input and one attempt number `r`.
#[inline]
pub(crate) fn race_seed(input: u64, r: u32) -> u64 {
    mix64(input ^ u64::from(r).wrapping_add(1).wrapping_mul(ROUND_STEP))
}

/// The 32-bit uniform value an item draws in a race.
#[inline]
pub(crate) fn draw_hash(race: u64, key: u64) -> u32 {
    (mix64(race ^ key) >> 32) as u32
}

#[cfg(test)]
mod tests;
