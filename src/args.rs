//! Argument parsers shared by several commands.

use anyhow::{Context, ensure};
use placement::PoolKind;

/// Parses `K+M` (e.g. `4+2`) into an erasure-coded pool kind.
pub fn parse_ec(spec: &str) -> anyhow::Result<PoolKind> {
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
    Ok(PoolKind::Erasure { k, m })
}
