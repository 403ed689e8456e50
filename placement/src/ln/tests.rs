use super::*;

fn as_f64(v: u64) -> f64 {
    v as f64 / (1u64 << FRAC_BITS) as f64
}

#[test]
fn table_matches_float_log2() {
    for (i, v) in LOG2_TABLE.iter().enumerate() {
        let want = (1.0 + i as f64 / (1 << TABLE_BITS) as f64).log2();
        assert!((as_f64(*v) - want).abs() < 1e-12, "entry {i}");
    }
}

#[test]
fn log2_is_close_and_monotonic() {
    let mut prev = 0;
    let mut x: u64 = 1;
    while x <= 1 << 32 {
        let got = log2_fixed(x);
        assert!(got >= prev, "not monotonic at {x}");
        assert!((as_f64(got) - (x as f64).log2()).abs() < 1e-6, "log2({x})");
        prev = got;
        x = x + 1 + x / 7919;
    }
    assert_eq!(log2_fixed(1), 0);
    assert_eq!(log2_fixed(1 << 32), 32 << FRAC_BITS);
}
