//! Placement: where every object of a Shoal cluster lives.
//!
//! This crate is pure: no I/O, no clock, no randomness, no async. Given a [`ClusterMap`] it
//! computes object -> PG ([`Pool::pg_of`]) and PG -> OSDs ([`Placement`]) deterministically,
//! bit for bit the same on every machine, and it defines how the map changes from one epoch
//! to the next ([`Incremental`]). Everything else in Shoal (monitors, OSDs, clients, the
//! gateway) computes with it, so its hashes are on-disk format (see [`hash`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod config;
pub mod crush;
mod error;
mod flag;
pub mod hash;
mod ids;
mod incremental;
mod ln;
mod map;
mod osd;
mod placement;
mod pool;
pub mod remap;
mod select;
pub mod synth;

pub use crush::{CrushMap, DomainType, Rule, RuleMode};
pub use error::{MapError, PlacementError};
pub use ids::{Epoch, Fsid, OsdId, ParseIdError, PgId, PoolId, RuleId};
pub use incremental::{Change, Incremental};
pub use map::{ClusterMap, Flag};
pub use osd::{Location, OsdEntry, Weight};
pub use placement::{PgPlacement, Placement};
pub use pool::{DEFAULT_STRIPE_UNIT, MAX_PG_NUM, MAX_STRIPE_UNIT, Pool, PoolKind};
