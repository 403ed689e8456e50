//! Small `Copy` identifiers shared by every crate. Their serialized forms are wire and
//! on-disk contracts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// Not `N` or `osd.N`.
    #[error("invalid OSD id {0:?}: expected N or osd.N")]
    Osd(String),
    /// Not `POOL.SEEDHEX`.
    #[error("invalid PG id {0:?}: expected POOL.SEED, e.g. 1.2f")]
    Pg(String),
    /// Not 32 hex digits.
    #[error("invalid fsid {0:?}: expected 32 hex digits")]
    Fsid(String),
    /// Not a weight in `0..=65535` with at most four decimals' meaning.
    #[error("invalid weight {0:?}: expected a number from 0 to 65535")]
    Weight(String),
}

/// An OSD's cluster-wide id, assigned by the monitor on first boot and never reused.
/// `u32::MAX` is reserved: no OSD has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OsdId(pub u32);

/// A pool's id, assigned by the monitor at creation and never reused. `u32::MAX` is reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PoolId(pub u32);

/// A CRUSH rule's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(pub u32);

/// The cluster map's version. Every change to the map makes a new, larger epoch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch after this one.
    pub fn next(self) -> Epoch {
        Epoch(self.0 + 1)
    }
}

/// A placement group: a pool and a seed in `0..pg_num`. Objects hash to PGs; PGs map to OSDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PgId {
    /// The pool the PG belongs to.
    pub pool: PoolId,
    /// The PG's index within its pool, `0..pg_num`.
    pub seed: u32,
}

/// The cluster's identity, fixed at creation; every message and map carries it so that two
/// clusters on one machine never talk to each other by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fsid(pub [u8; 16]);

impl fmt::Display for OsdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "osd.{}", self.0)
    }
}

impl FromStr for OsdId {
    type Err = ParseIdError;

    /// Accepts `7` or `osd.7`, as the Ceph tools do.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("osd.").unwrap_or(s);
        digits
            .parse()
            .map(OsdId)
            .map_err(|_| ParseIdError::Osd(s.to_owned()))
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for PgId {
    /// `POOL.SEEDHEX`, e.g. `1.2f`, the form `ceph pg` commands use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:x}", self.pool.0, self.seed)
    }
}

impl FromStr for PgId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseIdError::Pg(s.to_owned());
        let (pool, seed) = s.split_once('.').ok_or_else(bad)?;
        Ok(PgId {
            pool: PoolId(pool.parse().map_err(|_| bad())?),
            seed: u32::from_str_radix(seed, 16).map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for Fsid {
    /// The familiar 8-4-4-4-12 hex form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Fsid {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
        if hex.len() != 32 {
            return Err(ParseIdError::Fsid(s.to_owned()));
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| ParseIdError::Fsid(s.to_owned()))?;
            out[i] = u8::from_str_radix(text, 16).map_err(|_| ParseIdError::Fsid(s.to_owned()))?;
        }
        Ok(Fsid(out))
    }
}
