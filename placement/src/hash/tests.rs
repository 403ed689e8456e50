use super::*;

/// These values are on-disk format: if this test fails, placement of every existing object
/// changed. Do not update the constants; revert the change.
#[test]
fn hashes_never_change() {
    // xxh64("") = 0xef46db3751d8e999 is xxHash's published test vector.
    assert_eq!(object_hash(b""), 0x51d8_e999);
    assert_eq!(object_hash(b"foo"), 0x59c4_ba3f);
    assert_eq!(object_hash(b"rbd_data.1"), 0xae59_7d71);
    assert_eq!(object_hash(b"a/b/c.txt"), 0x07cf_224b);
    assert_eq!(pg_input(1, 7), 0x5ae1_a472_0377_02ae);
    assert_eq!(
        draw_hash(race_seed(pg_input(1, 7), 2), item_key(42)),
        0x051c_589c
    );
}

#[test]
fn stable_mod_stays_in_range_and_matches_mod_for_powers_of_two() {
    for b in 1..=300u32 {
        for x in (0..5000u32).chain([u32::MAX, u32::MAX - 1]) {
            let r = stable_mod(x, b);
            assert!(r < b, "stable_mod({x}, {b}) = {r}");
            if b.is_power_of_two() {
                assert_eq!(r, x % b);
            }
        }
    }
}

/// Growing pg_num by one splits exactly one PG: every object either stays or moves to the
/// new PG, which is what makes PG splitting cheap.
#[test]
fn growing_pg_num_only_moves_objects_into_the_new_pg() {
    for b in 1..=200u32 {
        for x in 0..4096u32 {
            let x = x.wrapping_mul(2_654_435_761);
            let before = stable_mod(x, b);
            let after = stable_mod(x, b + 1);
            assert!(
                after == before || after == b,
                "x={x} b={b}: {before} -> {after}"
            );
        }
    }
}
