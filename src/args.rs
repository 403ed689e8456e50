//! Argument parsers shared by several commands.

use anyhow::{Context, ensure};
use placement::PoolKind;

/// Parses `K+M` (e.g. `4+2`) into an erasure-coded pool kind with `stripe_unit` and
/// `min_size` (default `k + 1`).
pub fn parse_ec(spec: &str, stripe_unit: u32, min_size: Option<u8>) -> anyhow::Result<PoolKind> {
    let (k, m) = spec
        .split_once('+')
        .with_context(|| format!("--ec {spec:?}: expected K+M, e.g. 4+2"))?;
    let k: u8 = k
        .trim()
        .parse()
        .with_context(|| format!("--ec {spec:?}: bad K"))?;
    let m: u8 = m
        .trim()
        .parse()
        .with_context(|| format!("--ec {spec:?}: bad M"))?;
    ensure!(
        k >= 1 && m >= 1,
        "--ec {spec:?}: K and M must both be at least 1"
    );
    let min_size = min_size.unwrap_or(k.saturating_add(1));
    ensure!(
        min_size >= k && usize::from(min_size) <= usize::from(k) + usize::from(m),
        "--min-size {min_size}: an erasure-coded pool needs between K ({k}) and K+M ({}) shards",
        usize::from(k) + usize::from(m)
    );
    Ok(PoolKind::Erasure {
        k,
        m,
        stripe_unit,
        min_size,
    })
}

/// What an operator should know about an erasure-coded layout before using it: writes
/// with no margin (`min_size = k`), or writes that stop at the first failure
/// (`min_size = k+m`, as the default k+1 gives for m = 1). Empty for others.
pub fn ec_warnings(kind: PoolKind) -> Vec<String> {
    let PoolKind::Erasure { k, m, min_size, .. } = kind else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if min_size == k {
        out.push(
            "min_size = k: writes proceed with no redundancy margin; one more failure during \
             such a write can lose it (default k+1)"
                .to_owned(),
        );
    }
    if usize::from(min_size) >= usize::from(k) + usize::from(m) {
        out.push(format!(
            "{k}+{m} with min_size {min_size}: writes stop whenever one of a PG's {} OSDs is \
             down, until it returns (or is marked out and rebuilt on a spare host); m >= 2 \
             (e.g. 2+2, 4+2) keeps writing through one failure",
            usize::from(k) + usize::from(m)
        ));
    }
    out
}

/// Parses a byte size: `65536`, `64K`, `64KiB`, `1M`, `1MiB`, `2 GiB` (binary units); used
/// by every option and setting that takes a size.
pub fn parse_bytes(spec: &str) -> anyhow::Result<u64> {
    let s = spec.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .with_context(|| format!("{spec:?}: expected a size such as 65536, 64K or 64KiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => anyhow::bail!("{spec:?}: unknown unit {other:?} (use K, M or G)"),
    };
    n.checked_mul(1 << shift)
        .with_context(|| format!("{spec:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("65536").unwrap(), 65536);
        assert_eq!(parse_bytes("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("64k").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("1M").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("2 g").unwrap(), 2 << 30);
        assert!(parse_bytes("64 parsecs").is_err());
        assert!(parse_bytes("fast").is_err());
        assert!(parse_bytes("KiB").is_err());
    }

    #[test]
    fn layouts_that_stop_or_risk_writes_are_warned_about() {
        let warn = |spec: &str, min: Option<u8>| ec_warnings(parse_ec(spec, 65_536, min).unwrap());
        assert!(warn("4+2", None).is_empty());
        assert!(warn("2+2", None).is_empty());
        let one = warn("2+1", None);
        assert_eq!(one.len(), 1);
        assert!(
            one[0].contains("writes stop") && one[0].contains("m >= 2"),
            "{one:?}"
        );
        assert!(warn("4+2", Some(4))[0].contains("no redundancy margin"));
        assert_eq!(warn("4+2", Some(6)).len(), 1);
        assert!(
            ec_warnings(PoolKind::Replicated {
                size: 3,
                min_size: 2
            })
            .is_empty()
        );
    }

    #[test]
    fn ec_spec_defaults_min_size_to_k_plus_one() {
        let kind = parse_ec("4+2", 65536, None).unwrap();
        assert_eq!(kind, PoolKind::erasure(4, 2));
        assert!(parse_ec("4+2", 65536, Some(3)).is_err());
        assert!(parse_ec("4+2", 65536, Some(7)).is_err());
        assert!(parse_ec("4", 65536, None).is_err());
    }
}
