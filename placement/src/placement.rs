//! [`Placement`]: the cluster map compiled for fast mapping, built once per epoch.

use std::collections::{BTreeMap, BTreeSet};

use crate::crush::{DomainType, Rule, RuleMode};
use crate::error::PlacementError;
use crate::hash::{item_key, pg_input};
use crate::ids::{Epoch, OsdId, PgId, PoolId, RuleId};
use crate::map::ClusterMap;
use crate::pool::Pool;
use crate::select::{self, Candidate, Candidates, Domains};

/// Where one PG lives at one epoch (like `ceph pg map`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PgPlacement {
    /// The PG.
    pub pg: PgId,
    /// CRUSH's choice with down OSDs removed (replicated) or left as holes (erasure).
    pub up: Vec<Option<OsdId>>,
    /// Who serves the PG: `up`, unless the monitor set a pg_temp override.
    pub acting: Vec<Option<OsdId>>,
    /// The first OSD of `acting`; it orders and serves every op on the PG.
    pub primary: Option<OsdId>,
}

/// The cluster map compiled for mapping: per-OSD hash keys and reciprocal weights, failure
/// domains at each level, pools, rules, up states and pg_temp. Immutable; build a new one
/// for each epoch.
#[derive(Clone, Debug)]
pub struct Placement {
    epoch: Epoch,
    cands: Candidates,
    up: BTreeSet<OsdId>,
    pools: BTreeMap<PoolId, Pool>,
    rules: BTreeMap<RuleId, Rule>,
    pg_temp: BTreeMap<PgId, Vec<Option<OsdId>>>,
}

impl Placement {
    /// Compiles `map`. Cost is linear in OSDs and pools; no PG is mapped yet.
    pub fn new(map: &ClusterMap) -> Placement {
        let weighted: Vec<_> = map.osds.values().filter(|o| o.weight.0 > 0).collect();
        let osds = weighted
            .iter()
            .map(|o| Candidate {
                id: o.id,
                key: item_key(i64::from(o.id.0)),
                recip: u64::MAX / u64::from(o.weight.0),
                is_in: o.is_in,
            })
            .collect::<Vec<_>>();
        let group = |name: &dyn Fn(usize) -> String| {
            let names: BTreeSet<String> = (0..osds.len()).map(name).collect();
            let index: BTreeMap<&String, u32> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n, i as u32))
                .collect();
            let of: Vec<u32> = (0..osds.len()).map(|i| index[&name(i)]).collect();
            let mut members = vec![Vec::new(); names.len()];
            let mut live = vec![false; names.len()];
            for (i, &d) in of.iter().enumerate() {
                members[d as usize].push(i as u32);
                live[d as usize] |= osds[i].is_in;
            }
            Domains { of, members, live }
        };
        let cands = Candidates {
            osd: group(&|i| format!("{:010}", weighted[i].id.0)),
            host: group(&|i| weighted[i].location.host.clone()),
            zone: group(&|i| weighted[i].location.zone.clone()),
            osds,
        };
        Placement {
            epoch: map.epoch,
            cands,
            up: map.osds.values().filter(|o| o.up).map(|o| o.id).collect(),
            pools: map.pools.clone(),
            rules: map.crush.rules.clone(),
            pg_temp: map.pg_temp.clone(),
        }
    }

    /// The epoch this placement was compiled from.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Failure domains at `level` that have at least one in OSD with weight: the most
    /// positions a PG can spread over (the monitor checks pool sizes against it).
    pub fn live_domains(&self, level: DomainType) -> usize {
        self.cands
            .domains(level)
            .live
            .iter()
            .filter(|l| **l)
            .count()
    }

    /// The pool with this id.
    pub fn pool(&self, id: PoolId) -> Result<&Pool, PlacementError> {
        self.pools.get(&id).ok_or(PlacementError::NoSuchPool(id))
    }

    /// CRUSH's raw choice for `pg`, ignoring up/down and pg_temp. Replicated pools get no
    /// holes; erasure pools get one per position that could not be filled.
    pub fn crush_set(&self, pg: PgId) -> Result<Vec<Option<OsdId>>, PlacementError> {
        let pool = self.pool(pg.pool)?;
        if pg.seed >= pool.pg_num {
            return Err(PlacementError::NoSuchPg(pg));
        }
        let rule = self
            .rules
            .get(&pool.rule)
            .ok_or(PlacementError::NoSuchRule(pool.rule))?;
        let input = pg_input(pg.pool.0, pg.seed);
        Ok(match rule.mode {
            RuleMode::Firstn => {
                select::firstn(&self.cands, rule.failure_domain, input, pool.size())
                    .into_iter()
                    .map(Some)
                    .collect()
            }
            RuleMode::Indep => select::indep(&self.cands, rule.failure_domain, input, pool.size()),
        })
    }

    /// CRUSH sets of every PG of `pool`, indexed by seed (what an OSD computes per epoch to
    /// learn which PGs it holds).
    pub fn pool_crush_sets(&self, pool: PoolId) -> Result<Vec<Vec<Option<OsdId>>>, PlacementError> {
        let pg_num = self.pool(pool)?.pg_num;
        (0..pg_num)
            .map(|seed| self.crush_set(PgId { pool, seed }))
            .collect()
    }

    /// Up set, acting set and primary of `pg`.
    pub fn map_pg(&self, pg: PgId) -> Result<PgPlacement, PlacementError> {
        let erasure = self.pool(pg.pool)?.is_erasure();
        let up = self.only_up(self.crush_set(pg)?, erasure);
        let acting = match self.pg_temp.get(&pg) {
            Some(temp) => self.only_up(temp.clone(), erasure),
            None => up.clone(),
        };
        let primary = acting.iter().flatten().next().copied();
        Ok(PgPlacement {
            pg,
            up,
            acting,
            primary,
        })
    }

    /// The PG of object `name` in `pool`, and where it lives.
    pub fn map_object(&self, pool: PoolId, name: &[u8]) -> Result<PgPlacement, PlacementError> {
        self.map_pg(self.pool(pool)?.pg_of(name))
    }

    /// Down OSDs keep their slot: a hole in erasure sets, dropped from replicated ones.
    fn only_up(&self, set: Vec<Option<OsdId>>, erasure: bool) -> Vec<Option<OsdId>> {
        let up = |o: &Option<OsdId>| o.filter(|id| self.up.contains(id));
        if erasure {
            set.iter().map(up).collect()
        } else {
            set.iter().filter_map(up).map(Some).collect()
        }
    }
}
