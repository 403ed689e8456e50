//! The workload's pool: replicated (3 copies, writes need 2) or erasure-coded
//! (`--pool-ec K+M`, `min_size` K+1), and what follows from it: how many hosts one PG spans
//! (the fewest OSDs a cluster needs), how many members may be down while writes proceed (the
//! default `--max-down`), and the `shoal pool create` arguments.
//!
//! Pure: no clock, no processes.

use placement::PoolKind;

use crate::schedule::Scenario;

/// The default pool: 3 copies, writes need 2.
pub const REPLICATED: PoolKind = PoolKind::Replicated {
    size: 3,
    min_size: 2,
};

/// Parses `--pool-ec K+M` (e.g. `4+2`) into an erasure-coded kind with the pool defaults
/// (`min_size` K+1, the default stripe unit). `shoal pool create --ec` checks it again.
pub fn parse_ec(spec: &str) -> Result<PoolKind, String> {
    let bad = || format!("{spec:?}: expected K+M with K, M at least 1 (e.g. 4+2)");
    let (k, m) = spec.split_once('+').ok_or_else(bad)?;
    let k: u8 = k.trim().parse().map_err(|_| bad())?;
    let m: u8 = m.trim().parse().map_err(|_| bad())?;
    if k == 0 || m == 0 || usize::from(k) + usize::from(m) > usize::from(u8::MAX) {
        return Err(bad());
    }
    Ok(PoolKind::erasure(k, m))
}

/// Members of one PG, each on a distinct host: `size` copies, or `k + m` shards.
pub fn width(kind: PoolKind) -> u32 {
    match kind {
        PoolKind::Replicated { size, .. } => size.into(),
        PoolKind::Erasure { k, m, .. } => u32::from(k) + u32::from(m),
    }
}

/// Fewest live members for a PG to take writes.
pub fn min_size(kind: PoolKind) -> u32 {
    match kind {
        PoolKind::Replicated { min_size, .. } | PoolKind::Erasure { min_size, .. } => {
            min_size.into()
        }
    }
}

/// Members that may be down while writes still proceed: `width - min_size`.
pub fn spare(kind: PoolKind) -> u32 {
    width(kind).saturating_sub(min_size(kind))
}

/// OSDs of a new cluster: `requested` (default 4 for a replicated pool, `k + m` for an
/// erasure-coded one), raised to the pool's [`width`]. The second value is whether it was
/// raised.
pub fn osds(requested: Option<u32>, kind: PoolKind) -> (u32, bool) {
    let default = match kind {
        PoolKind::Replicated { .. } => 4,
        PoolKind::Erasure { .. } => width(kind),
    };
    let wanted = requested.unwrap_or(default);
    (wanted.max(width(kind)), wanted < width(kind))
}

/// The default `--max-down`: the pool's [`spare`] (at least 1) for OSD faults; 1 for
/// scenarios that also take monitors down (keeps a 3-monitor quorum).
pub fn default_max_down(scenario: Scenario, kind: PoolKind) -> u32 {
    match scenario {
        Scenario::KillMons | Scenario::Partition | Scenario::KillGateways => 1,
        Scenario::KillOsds
        | Scenario::HangOsd
        | Scenario::OutAndRebalance
        | Scenario::Bitrot
        | Scenario::KillLeaderAndOsd => spare(kind).max(1),
    }
}

/// Whether an existing pool of kind `found` is the pool asked for: the same copies, or the
/// same `k + m` (stripe unit and `min_size` may differ).
pub fn same_layout(found: PoolKind, wanted: PoolKind) -> bool {
    match (found, wanted) {
        (PoolKind::Replicated { size: a, .. }, PoolKind::Replicated { size: b, .. }) => a == b,
        (PoolKind::Erasure { k: a, m: b, .. }, PoolKind::Erasure { k: c, m: d, .. }) => {
            (a, b) == (c, d)
        }
        _ => false,
    }
}

/// A short description: `size=3 min_size=2` or `ec=4+2 min_size=5`.
pub fn describe(kind: PoolKind) -> String {
    match kind {
        PoolKind::Replicated { size, min_size } => format!("size={size} min_size={min_size}"),
        PoolKind::Erasure { k, m, min_size, .. } => format!("ec={k}+{m} min_size={min_size}"),
    }
}

/// `shoal pool create NAME ...` arguments for `kind` (failure domain host: `shoal up` puts
/// each OSD on its own host).
pub fn create_args(name: &str, kind: PoolKind, pg_num: u32) -> Vec<String> {
    let mut args: Vec<String> = ["pool", "create", name].map(String::from).to_vec();
    match kind {
        PoolKind::Replicated { size, min_size } => args.extend([
            "--size".to_owned(),
            size.to_string(),
            "--min-size".to_owned(),
            min_size.to_string(),
        ]),
        PoolKind::Erasure { k, m, min_size, .. } => args.extend([
            "--ec".to_owned(),
            format!("{k}+{m}"),
            "--min-size".to_owned(),
            min_size.to_string(),
        ]),
    }
    args.extend([
        "--pg-num".to_owned(),
        pg_num.to_string(),
        "--failure-domain".to_owned(),
        "host".to_owned(),
    ]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_specs_parse_with_pool_defaults() {
        let ec = parse_ec("4+2").unwrap();
        assert_eq!(ec, PoolKind::erasure(4, 2));
        assert_eq!(parse_ec(" 2 + 1 ").unwrap(), PoolKind::erasure(2, 1));
        for bad in ["4", "4+", "+2", "0+2", "4+0", "a+b", "200+100", "4+2+1"] {
            assert!(parse_ec(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn width_spare_and_default_max_down() {
        let ec = PoolKind::erasure(4, 2);
        assert_eq!((width(REPLICATED), spare(REPLICATED)), (3, 1));
        assert_eq!((width(ec), min_size(ec), spare(ec)), (6, 5, 1));
        let wide = PoolKind::erasure(3, 3);
        assert_eq!(default_max_down(Scenario::KillOsds, wide), 2);
        assert_eq!(default_max_down(Scenario::HangOsd, wide), 2);
        assert_eq!(default_max_down(Scenario::KillMons, wide), 1);
        assert_eq!(default_max_down(Scenario::Partition, wide), 1);
        // m = 1: min_size k+1 = k+m leaves no spare; still inject one fault (writes stall).
        assert_eq!(
            default_max_down(Scenario::KillOsds, PoolKind::erasure(2, 1)),
            1
        );
    }

    #[test]
    fn too_few_osds_are_raised_to_the_width() {
        let ec = PoolKind::erasure(4, 2);
        assert_eq!(osds(None, REPLICATED), (4, false));
        assert_eq!(osds(Some(2), REPLICATED), (3, true));
        assert_eq!(osds(None, ec), (6, false));
        assert_eq!(osds(Some(4), ec), (6, true));
        assert_eq!(osds(Some(8), ec), (8, false));
    }

    #[test]
    fn layouts_compare_by_copies_or_k_and_m() {
        let ec = PoolKind::erasure(4, 2);
        let ec_k = PoolKind::Erasure {
            k: 4,
            m: 2,
            stripe_unit: 4096,
            min_size: 4,
        };
        assert!(same_layout(ec_k, ec));
        assert!(!same_layout(PoolKind::erasure(3, 3), ec));
        assert!(!same_layout(REPLICATED, ec));
        assert!(same_layout(REPLICATED, REPLICATED));
    }

    #[test]
    fn create_arguments_name_the_profile() {
        assert_eq!(
            create_args("chaos", PoolKind::erasure(4, 2), 32).join(" "),
            "pool create chaos --ec 4+2 --min-size 5 --pg-num 32 --failure-domain host"
        );
        assert_eq!(
            create_args("chaos", REPLICATED, 8).join(" "),
            "pool create chaos --size 3 --min-size 2 --pg-num 8 --failure-domain host"
        );
    }
}
