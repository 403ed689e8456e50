//! The cluster map: the one authoritative description of the cluster at an epoch.
//!
//! It changes only by applying an [`Incremental`]: the monitor builds one from a list of
//! [`Change`]s, applies it, and ships the same incremental to everyone else, so every holder
//! of epoch N has exactly the same map (tested by replaying incrementals onto old maps).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::crush::{CrushMap, DomainType, Rule, RuleMode};
use crate::error::MapError;
pub use crate::flag::Flag;
use crate::ids::{Epoch, Fsid, OsdId, PgId, PoolId, RuleId};
use crate::incremental::{Change, Incremental};
use crate::osd::OsdEntry;
use crate::pool::Pool;

/// The cluster map at one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMap {
    /// The cluster's identity.
    pub fsid: Fsid,
    /// This map's version.
    pub epoch: Epoch,
    /// Every OSD that exists, up or down, in or out.
    pub osds: BTreeMap<OsdId, OsdEntry>,
    /// Every pool.
    pub pools: BTreeMap<PoolId, Pool>,
    /// Rules; the hierarchy is derived from `osds`.
    pub crush: CrushMap,
    /// Temporary acting sets: the old holders keep serving a PG while a new member backfills.
    /// Serialized as `[[pg, osds], ...]` so that JSON (whose keys are strings) can carry it.
    #[serde(with = "pairs")]
    pub pg_temp: BTreeMap<PgId, Vec<Option<OsdId>>>,
    /// Operator flags.
    pub flags: BTreeSet<Flag>,
    /// One past the highest OSD id ever added. New ids are allocated from here and never
    /// reused, so a stale daemon or stale data is never mistaken for a new OSD.
    pub osd_id_high: u32,
    /// One past the highest pool id ever created; new pool ids come from here for the same reason.
    pub pool_id_high: u32,
    /// Cluster-wide settings (`crate::config`), by name; unset ones take their default.
    #[serde(default)]
    pub config: BTreeMap<String, u64>,
}

impl ClusterMap {
    /// The epoch-0 map of a new cluster: no OSDs, no pools, default rules.
    pub fn new(fsid: Fsid) -> ClusterMap {
        ClusterMap {
            fsid,
            epoch: Epoch(0),
            osds: BTreeMap::new(),
            pools: BTreeMap::new(),
            crush: CrushMap::with_default_rules(),
            pg_temp: BTreeMap::new(),
            flags: BTreeSet::new(),
            osd_id_high: 0,
            pool_id_high: 1,
            config: BTreeMap::new(),
        }
    }

    /// The incremental that would take this map to the next epoch with `changes`. It is not
    /// applied; [`apply`](Self::apply) does that and validates it.
    pub fn next_incremental(&self, changes: Vec<Change>) -> Incremental {
        Incremental {
            fsid: self.fsid,
            epoch: self.epoch.next(),
            changes,
        }
    }

    /// Applies `inc` atomically: either every change applies and the epoch advances, or the
    /// map is left exactly as it was and the first problem is returned.
    pub fn apply(&mut self, inc: &Incremental) -> Result<(), MapError> {
        if inc.fsid != self.fsid {
            return Err(MapError::FsidMismatch {
                want: self.fsid,
                got: inc.fsid,
            });
        }
        if inc.epoch != self.epoch.next() {
            return Err(MapError::EpochGap {
                have: self.epoch,
                got: inc.epoch,
            });
        }
        let mut next = self.clone();
        next.epoch = inc.epoch;
        for change in &inc.changes {
            next.apply_change(change)?;
        }
        next.check()?;
        next.epoch = inc.epoch;
        *self = next;
        Ok(())
    }

    /// The rule placing `mode` across `failure_domain`: an existing one, or the change that
    /// adds it (to go in the same incremental as the pool that needs it).
    pub fn rule_for(&self, mode: RuleMode, failure_domain: DomainType) -> (RuleId, Option<Change>) {
        if let Some(rule) = self
            .crush
            .rules
            .values()
            .find(|r| r.mode == mode && r.failure_domain == failure_domain)
        {
            return (rule.id, None);
        }
        let id = RuleId(self.crush.rules.keys().next_back().map_or(0, |r| r.0 + 1));
        let kind = match mode {
            RuleMode::Firstn => "replicated",
            RuleMode::Indep => "erasure",
        };
        let level = failure_domain.name();
        let rule = Rule {
            id,
            name: format!("{kind}_{level}"),
            mode,
            failure_domain,
        };
        (id, Some(Change::RuleSet(rule)))
    }

    /// The pool with this name.
    pub fn pool_by_name(&self, name: &str) -> Option<&Pool> {
        self.pools.values().find(|p| p.name == name)
    }

    /// The id the next new OSD gets (ids are never reused).
    pub fn next_osd_id(&self) -> OsdId {
        OsdId(self.osd_id_high)
    }

    /// The id the next new pool gets (ids are never reused).
    pub fn next_pool_id(&self) -> PoolId {
        PoolId(self.pool_id_high)
    }

    /// Verifies the map's invariants: every reference resolves, every pool is valid for its
    /// rule, the hierarchy is a tree.
    pub fn check(&self) -> Result<(), MapError> {
        let mut zone_of_host: BTreeMap<&str, &str> = BTreeMap::new();
        for (id, osd) in &self.osds {
            if *id != osd.id || id.0 >= self.osd_id_high {
                return Err(MapError::NoSuchOsd(*id));
            }
            let loc = &osd.location;
            if loc.host.is_empty() || loc.zone.is_empty() {
                return Err(MapError::EmptyLocation(*id));
            }
            if let Some(first) = zone_of_host.insert(&loc.host, &loc.zone)
                && first != loc.zone
            {
                return Err(MapError::HostInTwoZones {
                    host: loc.host.clone(),
                    first: first.to_owned(),
                    second: loc.zone.clone(),
                });
            }
        }
        let mut names = BTreeSet::new();
        for (id, pool) in &self.pools {
            pool.validate()?;
            if *id != pool.id || id.0 >= self.pool_id_high || !names.insert(pool.name.as_str()) {
                return Err(MapError::PoolExists(pool.name.clone()));
            }
            let rule = self
                .crush
                .rules
                .get(&pool.rule)
                .ok_or(MapError::NoSuchRule(pool.rule))?;
            let wanted = pool.rule_mode();
            if rule.mode != wanted {
                return Err(MapError::InvalidPool {
                    name: pool.name.clone(),
                    reason: format!(
                        "rule {} is {:?}, the pool needs {wanted:?}",
                        rule.id, rule.mode
                    ),
                });
            }
        }
        for (pg, osds) in &self.pg_temp {
            let bad = |reason: String| MapError::InvalidPgTemp { pg: *pg, reason };
            let pool = self
                .pools
                .get(&pg.pool)
                .ok_or_else(|| bad("no such pool".into()))?;
            if pg.seed >= pool.pg_num {
                return Err(bad(format!("pool has only {} PGs", pool.pg_num)));
            }
            if pool.is_erasure() && osds.len() != pool.size() {
                return Err(bad(format!("needs one entry per shard ({})", pool.size())));
            }
            if osds.len() > pool.size() || osds.iter().all(Option::is_none) {
                return Err(bad(format!("needs 1 to {} OSDs", pool.size())));
            }
            let mut seen = BTreeSet::new();
            for osd in osds.iter().flatten() {
                if !self.osds.contains_key(osd) {
                    return Err(bad(format!("{osd} does not exist")));
                }
                if !seen.insert(*osd) {
                    return Err(bad(format!("{osd} appears twice")));
                }
            }
            if !pool.is_erasure() && osds.iter().any(Option::is_none) {
                return Err(bad("replicated pools have no holes".into()));
            }
        }
        for (id, rule) in &self.crush.rules {
            if *id != rule.id {
                return Err(MapError::NoSuchRule(*id));
            }
        }
        Ok(())
    }

    fn osd_mut(&mut self, id: OsdId) -> Result<&mut OsdEntry, MapError> {
        self.osds.get_mut(&id).ok_or(MapError::NoSuchOsd(id))
    }

    fn apply_change(&mut self, change: &Change) -> Result<(), MapError> {
        match change {
            Change::OsdAdd(entry) => {
                if entry.id.0 == u32::MAX {
                    return Err(MapError::NoSuchOsd(entry.id)); // reserved, never an OSD
                }
                if self.osds.contains_key(&entry.id) {
                    return Err(MapError::OsdExists(entry.id));
                }
                self.osd_id_high = self.osd_id_high.max(entry.id.0 + 1);
                let mut entry = entry.clone();
                entry.up_from = self.epoch;
                self.osds.insert(entry.id, entry);
            }
            Change::OsdRemove(id) => {
                self.osds.remove(id).ok_or(MapError::NoSuchOsd(*id))?;
                // An override naming a removed OSD is void; the monitor recomputes pg_temp.
                self.pg_temp.retain(|_, osds| !osds.contains(&Some(*id)));
            }
            Change::OsdUp { id, addr } => {
                let epoch = self.epoch;
                let osd = self.osd_mut(*id)?;
                osd.up = true;
                osd.addr = Some(*addr);
                osd.up_from = epoch;
            }
            Change::OsdGossip { id, addr } => self.osd_mut(*id)?.gossip = Some(*addr),
            Change::OsdDown(id) => self.osd_mut(*id)?.up = false,
            Change::OsdIn(id) => self.osd_mut(*id)?.is_in = true,
            Change::OsdOut(id) => self.osd_mut(*id)?.is_in = false,
            Change::OsdWeight { id, weight } => self.osd_mut(*id)?.weight = *weight,
            Change::OsdLocation { id, location } => {
                self.osd_mut(*id)?.location = location.clone();
            }
            Change::PoolCreate(pool) => {
                if self.pools.contains_key(&pool.id) || self.pool_by_name(&pool.name).is_some() {
                    return Err(MapError::PoolExists(pool.name.clone()));
                }
                if pool.id.0 == u32::MAX {
                    return Err(MapError::NoSuchPool(pool.id)); // reserved, never a pool
                }
                self.pools.insert(pool.id, pool.clone());
                self.pool_id_high = self.pool_id_high.max(pool.id.0 + 1);
            }
            Change::PoolRemove(id) => {
                self.pools.remove(id).ok_or(MapError::NoSuchPool(*id))?;
                self.pg_temp.retain(|pg, _| pg.pool != *id);
            }
            Change::PgTempSet { pg, osds } => {
                self.pg_temp.insert(*pg, osds.clone());
            }
            Change::PgTempClear(pg) => {
                self.pg_temp.remove(pg);
            }
            Change::ConfigSet { key, value } => {
                let invalid = |reason: String| MapError::InvalidSetting {
                    key: key.clone(),
                    reason,
                };
                let setting = crate::config::setting(key)
                    .ok_or_else(|| invalid("unknown setting (see `shoal config ls`)".into()))?;
                match value {
                    Some(v) if *v < setting.min => {
                        return Err(invalid(format!("must be at least {}", setting.min)));
                    }
                    Some(v) => {
                        self.config.insert(key.clone(), *v);
                    }
                    None => {
                        self.config.remove(key);
                    }
                }
            }
            Change::FlagSet(flag) => {
                self.flags.insert(*flag);
            }
            Change::FlagClear(flag) => {
                self.flags.remove(flag);
            }
            Change::RuleSet(rule) => {
                self.crush.rules.insert(rule.id, rule.clone());
            }
            Change::RuleRemove(id) => {
                if let Some(pool) = self.pools.values().find(|p| p.rule == *id) {
                    return Err(MapError::RuleInUse {
                        rule: *id,
                        pool: pool.id,
                    });
                }
                self.crush
                    .rules
                    .remove(id)
                    .ok_or(MapError::NoSuchRule(*id))?;
            }
        }
        Ok(())
    }
}

/// Serde for maps with non-string keys as a sequence of `(key, value)` pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

impl ClusterMap {
    /// The value of `setting` in this map.
    pub fn setting(&self, setting: &crate::config::Setting) -> u64 {
        self.config
            .get(setting.key)
            .copied()
            .unwrap_or(setting.default)
    }
}
