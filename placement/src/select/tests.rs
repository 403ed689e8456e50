use super::*;

fn check_floor(u: u32) {
    for recip in [1u64, 7, u64::MAX / 0x1_0000, u64::MAX / 3, u64::MAX] {
        assert!(
            cost_floor(u, recip) <= cost(u, recip),
            "u={u:#x} recip={recip}"
        );
    }
}

/// The pruning bound must never exceed the true cost, or placement would change.
#[test]
fn cost_floor_is_a_lower_bound() {
    // Densely where costs are small (u near 2^32: the winners), and sampled elsewhere.
    for u in (u32::MAX - (1 << 20))..=u32::MAX {
        check_floor(u);
    }
    for u in 0..(1 << 16) {
        check_floor(u);
    }
    let mut u: u32 = 1;
    while u < u32::MAX - (1 << 20) {
        check_floor(u);
        u = u.wrapping_add(u / 997 + 1);
    }
}
