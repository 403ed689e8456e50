//! Fixed-point base-2 logarithm for straw2 draws, in integer math only so that every machine
//! computes bit-identical placements (an f64 `ln` may differ in the last bit across libms).
//!
//! `log2` of a 33-bit value is its exponent plus the log of its mantissa; the mantissa's log
//! comes from a 1,025-entry table built at compile time (by repeated squaring, no floats) and
//! linear interpolation between entries. Error is below 2^-22 in the result, far below what
//! could bias placement, and the result is monotonic, which is all a race needs.

/// Fractional bits of the fixed-point result.
pub(crate) const FRAC_BITS: u32 = 48;
const TABLE_BITS: u32 = 10;
const INTERP_BITS: u32 = 20;
const TABLE_LEN: usize = (1 << TABLE_BITS) + 1;

/// `LOG2_TABLE[i] = log2(1 + i / 2^TABLE_BITS) * 2^FRAC_BITS`.
static LOG2_TABLE: [u64; TABLE_LEN] = build_table();

const fn build_table() -> [u64; TABLE_LEN] {
    let mut table = [0u64; TABLE_LEN];
    let mut i = 0;
    while i < TABLE_LEN {
        table[i] = log2_mantissa(i as u64);
        i += 1;
    }
    table
}

/// `log2(1 + i / 2^TABLE_BITS)` in `FRAC_BITS` fixed point, bit by bit: square the mantissa;
/// if it reaches 2, the next result bit is 1 and the mantissa halves.
const fn log2_mantissa(i: u64) -> u64 {
    const ONE: u32 = 62; // mantissa fixed point, so that squares fit in u128
    let mut y: u128 = (1u128 << ONE) + ((i as u128) << (ONE - TABLE_BITS));
    if y >= 2u128 << ONE {
        return 1 << FRAC_BITS; // i == 2^TABLE_BITS: log2(2) == 1
    }
    let mut result: u64 = 0;
    let mut bit = 0;
    while bit < FRAC_BITS {
        y = (y * y) >> ONE;
        result <<= 1;
        if y >= 2u128 << ONE {
            y >>= 1;
            result |= 1;
        }
        bit += 1;
    }
    result
}

/// `log2(x) * 2^FRAC_BITS` for `x >= 1`, monotonic in `x`.
#[inline]
pub(crate) fn log2_fixed(x: u64) -> u64 {
    debug_assert!(x >= 1);
    let exp = 63 - x.leading_zeros();
    let mantissa = x << (63 - exp); // top bit is the implicit 1
    let index = ((mantissa >> (63 - TABLE_BITS)) & ((1 << TABLE_BITS) - 1)) as usize;
    let frac = (mantissa >> (63 - TABLE_BITS - INTERP_BITS)) & ((1 << INTERP_BITS) - 1);
    let lo = LOG2_TABLE[index];
    let hi = LOG2_TABLE[index + 1];
    (u64::from(exp) << FRAC_BITS) + lo + (((hi - lo) * frac) >> INTERP_BITS)
}

#[cfg(test)]
mod tests;
