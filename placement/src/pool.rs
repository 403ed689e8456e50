//! Pools: a redundancy scheme, a PG count and a CRUSH rule.

use serde::{Deserialize, Serialize};

use crate::error::MapError;
use crate::hash::{object_hash, stable_mod};
use crate::ids::{PgId, PoolId, RuleId};

/// How a pool protects its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// `size` full copies; writes need at least `min_size` of them.
    Replicated {
        /// Copies kept.
        size: u8,
        /// Fewest copies that may accept writes.
        min_size: u8,
    },
    /// `k` data and `m` parity shards, shard i on position i of the PG.
    Erasure {
        /// Data shards.
        k: u8,
        /// Parity shards.
        m: u8,
        /// Bytes of one chunk: a stripe holds `k * stripe_unit` bytes of the object.
        stripe_unit: u32,
        /// Fewest shards that may accept writes (`k + 1` by default; `k` leaves no margin).
        min_size: u8,
    },
}

/// Default erasure chunk size (Ceph's `stripe_unit` default is 4 KiB; larger chunks keep
/// per-chunk overhead low for the whole-object writes Shoal does).
pub const DEFAULT_STRIPE_UNIT: u32 = 64 << 10;

/// Largest stripe unit a pool may have (one stripe must fit an object comfortably).
pub const MAX_STRIPE_UNIT: u32 = 4 << 20;

impl PoolKind {
    /// An erasure-coded kind with the default stripe unit and `min_size = k + 1`.
    pub const fn erasure(k: u8, m: u8) -> PoolKind {
        PoolKind::Erasure {
            k,
            m,
            stripe_unit: DEFAULT_STRIPE_UNIT,
            min_size: k.saturating_add(1),
        }
    }

    /// The rule mode this kind of pool needs.
    pub fn rule_mode(self) -> crate::RuleMode {
        match self {
            PoolKind::Replicated { .. } => crate::RuleMode::Firstn,
            PoolKind::Erasure { .. } => crate::RuleMode::Indep,
        }
    }
}

/// A pool entry in the cluster map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Its id.
    pub id: PoolId,
    /// Its unique name.
    pub name: String,
    /// Replicated or erasure-coded.
    pub kind: PoolKind,
    /// Number of PGs; need not be a power of two.
    pub pg_num: u32,
    /// The CRUSH rule that places its PGs.
    pub rule: RuleId,
}

/// Largest pg_num a pool may have; beyond this a PG map stops being cheap to compute per epoch.
pub const MAX_PG_NUM: u32 = 1 << 16;

impl Pool {
    /// OSDs per PG: `size`, or `k + m`.
    pub fn size(&self) -> usize {
        match self.kind {
            PoolKind::Replicated { size, .. } => usize::from(size),
            PoolKind::Erasure { k, m, .. } => usize::from(k) + usize::from(m),
        }
    }

    /// Fewest available OSDs with which the PG still accepts writes (`k + 1` by default for
    /// erasure, as in Ceph: writing with only `k` shards leaves no margin at all).
    pub fn min_size(&self) -> usize {
        match self.kind {
            PoolKind::Replicated { min_size, .. } | PoolKind::Erasure { min_size, .. } => {
                usize::from(min_size)
            }
        }
    }

    /// The rule mode this kind of pool needs.
    pub fn rule_mode(&self) -> crate::RuleMode {
        self.kind.rule_mode()
    }

    /// Whether PG positions are fixed (erasure: shard i lives at position i).
    pub fn is_erasure(&self) -> bool {
        matches!(self.kind, PoolKind::Erasure { .. })
    }

    /// The PG an object name falls in.
    pub fn pg_of(&self, object: &[u8]) -> PgId {
        PgId {
            pool: self.id,
            seed: stable_mod(object_hash(object), self.pg_num),
        }
    }

    /// Checks the pool's own parameters (not its relation to the rest of the map).
    pub fn validate(&self) -> Result<(), MapError> {
        let bad = |reason: &str| {
            Err(MapError::InvalidPool {
                name: self.name.clone(),
                reason: reason.to_owned(),
            })
        };
        if !valid_pool_name(&self.name) {
            return bad("names are 1-128 characters of A-Z a-z 0-9 . _ -");
        }
        if self.pg_num == 0 || self.pg_num > MAX_PG_NUM {
            return bad("pg_num must be between 1 and 65536");
        }
        match self.kind {
            PoolKind::Replicated { size, min_size } => {
                if size == 0 || size > 16 {
                    return bad("size must be between 1 and 16");
                }
                if min_size == 0 || min_size > size {
                    return bad("min_size must be between 1 and size");
                }
            }
            PoolKind::Erasure {
                k,
                m,
                stripe_unit,
                min_size,
            } => {
                if k == 0 || m == 0 {
                    return bad("erasure coding needs k >= 1 and m >= 1");
                }
                if usize::from(k) + usize::from(m) > 32 {
                    return bad("k + m must be at most 32");
                }
                if min_size < k || usize::from(min_size) > usize::from(k) + usize::from(m) {
                    return bad("min_size must be between k and k + m");
                }
                if stripe_unit == 0 || stripe_unit > MAX_STRIPE_UNIT || stripe_unit % 64 != 0 {
                    return bad("stripe_unit must be a multiple of 64 bytes, at most 4 MiB");
                }
            }
        }
        Ok(())
    }
}

fn valid_pool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
