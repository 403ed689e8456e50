//! The monitor's replicated state machine. Every monitor applies the same committed commands
//! in the same order and so holds the same map. Validation happens here, at apply time, so
//! that it is deterministic: a rejected command is committed but changes nothing.

use std::collections::{BTreeMap, VecDeque};

use placement::{Change, ClusterMap, Epoch, Flag, Fsid, OsdEntry, OsdId, Placement, Pool};
use rados::proto::mon::{AdminCommand, BackfillDone, MapUpdate, MonError, OsdBoot};
use serde::{Deserialize, Serialize};

/// Incrementals kept for `GetMap { have }`; a caller further behind gets the full map.
pub const HISTORY: usize = 500;

/// Answers to operator commands kept for their retries (the newest ones).
pub const ANSWERED: usize = 1024;

/// A command in the Raft log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MonCommand {
    /// An OSD booted.
    Boot(OsdBoot),
    /// The failure policy decided these OSDs are down.
    MarkDown(Vec<OsdId>),
    /// The failure policy decided these down OSDs are out.
    MarkOut(Vec<OsdId>),
    /// An operator command.
    Admin(AdminCommand),
    /// An operator command applied at most once per `id` (the client's request id): a
    /// retry is answered what the first one was.
    AdminOnce {
        /// The request id.
        id: u64,
        /// The command.
        cmd: AdminCommand,
    },
    /// A PG's primary finished backfilling behind this pg_temp.
    BackfillDone(BackfillDone),
}

/// The outcome of applying a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MonResponse {
    /// Applied (or nothing to change); the map is at this epoch.
    Epoch(Epoch),
    /// An OSD booted with this id; the map is at this epoch.
    Booted(OsdId, Epoch),
    /// Rejected; nothing changed.
    Rejected(MonError),
}

/// Everything the monitors replicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonState {
    /// The cluster map.
    pub map: ClusterMap,
    /// The most recent incrementals, oldest first.
    pub history: VecDeque<placement::Incremental>,
    /// OSD ids by data-directory uuid, so a restarted OSD keeps its id.
    pub osd_uuids: BTreeMap<[u8; 16], OsdId>,
    /// The latest operator commands' ids and answers, oldest first (at most [`ANSWERED`]).
    #[serde(default)]
    pub answered: VecDeque<(u64, MonResponse)>,
}

impl MonState {
    /// Applies `cmd` unless request `id` was applied already; either way, its answer.
    fn apply_once(&mut self, id: u64, cmd: &AdminCommand) -> MonResponse {
        if let Some((_, answer)) = self.answered.iter().find(|(seen, _)| *seen == id) {
            return answer.clone();
        }
        let answer = self.apply(&MonCommand::Admin(cmd.clone()));
        self.answered.push_back((id, answer.clone()));
        while self.answered.len() > ANSWERED {
            self.answered.pop_front();
        }
        answer
    }

    /// The state of a new cluster.
    pub fn new(fsid: Fsid) -> MonState {
        MonState {
            map: ClusterMap::new(fsid),
            history: VecDeque::new(),
            osd_uuids: BTreeMap::new(),
            answered: VecDeque::new(),
        }
    }

    /// Applies a committed command.
    pub fn apply(&mut self, cmd: &MonCommand) -> MonResponse {
        let result = match cmd {
            MonCommand::Boot(boot) => return self.boot(boot),
            MonCommand::MarkDown(ids) => {
                Ok(self.mark(ids, |o| o.up, Change::OsdDown, Flag::Nodown))
            }
            MonCommand::MarkOut(ids) => {
                Ok(self.mark(ids, |o| o.is_in && !o.up, Change::OsdOut, Flag::Noout))
            }
            MonCommand::Admin(admin) => self.admin(admin),
            MonCommand::AdminOnce { id, cmd } => return self.apply_once(*id, cmd),
            // Only the entry the primary backfilled behind: a newer one stays.
            MonCommand::BackfillDone(done) => {
                Ok(if self.map.pg_temp.get(&done.pg) == Some(&done.temp) {
                    vec![Change::PgTempClear(done.pg)]
                } else {
                    vec![]
                })
            }
        };
        match result.and_then(|changes| self.commit(changes)) {
            Ok(epoch) => {
                if let MonCommand::Admin(AdminCommand::OsdRm(id)) = cmd {
                    self.osd_uuids.retain(|_, v| v != id);
                }
                MonResponse::Epoch(epoch)
            }
            Err(e) => MonResponse::Rejected(e),
        }
    }

    /// What a caller at `have` needs to catch up.
    pub fn updates_since(&self, have: Option<Epoch>) -> MapUpdate {
        let now = self.map.epoch;
        match have {
            Some(e) if e == now => MapUpdate::UpToDate(now),
            Some(e) if e < now && self.history.front().is_some_and(|i| i.epoch <= e.next()) => {
                MapUpdate::Incrementals(
                    self.history
                        .iter()
                        .filter(|i| i.epoch > e)
                        .cloned()
                        .collect(),
                )
            }
            _ => MapUpdate::Full(Box::new(self.map.clone())),
        }
    }

    fn commit(&mut self, changes: Vec<Change>) -> Result<Epoch, MonError> {
        if changes.is_empty() {
            return Ok(self.map.epoch);
        }
        let mut tentative = self.map.clone();
        tentative
            .apply(&tentative.next_incremental(changes.clone()))
            .map_err(|e| MonError::Invalid(e.to_string()))?;
        // Remapped PGs stay with their old holders until the new ones are backfilled.
        let temps = placement::remap::pg_temp_changes(&self.map, &tentative);
        let all: Vec<Change> = changes.iter().chain(&temps).cloned().collect();
        let mut inc = self.map.next_incremental(all);
        if self.map.apply(&inc).is_err() {
            let (kept, refused) = placement::remap::valid_pg_temps(&tentative, temps);
            for e in &refused {
                tracing::warn!(error = %e, "a generated pg_temp was refused; its pg peers on its crush set");
            }
            inc = self
                .map
                .next_incremental(changes.into_iter().chain(kept).collect());
            self.map
                .apply(&inc)
                .map_err(|e| MonError::Invalid(e.to_string()))?;
        }
        self.history.push_back(inc);
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        Ok(self.map.epoch)
    }

    fn osd(&self, id: OsdId) -> Result<&OsdEntry, MonError> {
        self.map.osds.get(&id).ok_or(MonError::NoSuchOsd(id.0))
    }

    /// Changes for the OSDs in `ids` that `applies` to, unless `unless` is set.
    fn mark(
        &self,
        ids: &[OsdId],
        applies: impl Fn(&OsdEntry) -> bool,
        change: impl Fn(OsdId) -> Change,
        unless: Flag,
    ) -> Vec<Change> {
        if self.map.flags.contains(&unless) {
            return Vec::new();
        }
        ids.iter()
            .filter(|id| self.map.osds.get(id).is_some_and(&applies))
            .map(|id| change(*id))
            .collect()
    }

    fn boot(&mut self, boot: &OsdBoot) -> MonResponse {
        let known = self.osd_uuids.get(&boot.uuid).copied();
        let mut changes = Vec::new();
        let id = match known.and_then(|id| self.map.osds.get(&id)) {
            Some(osd) => {
                if osd.location != boot.location {
                    changes.push(Change::OsdLocation {
                        id: osd.id,
                        location: boot.location.clone(),
                    });
                }
                // Every boot is a new epoch: the OSD's PGs must peer again (see `up_from`).
                if !self.map.flags.contains(&Flag::Noup) {
                    changes.push(Change::OsdUp {
                        id: osd.id,
                        addr: boot.addr,
                    });
                }
                osd.id
            }
            None => {
                let id = self.map.next_osd_id();
                changes.push(Change::OsdAdd(OsdEntry {
                    id,
                    addr: Some(boot.addr),
                    location: boot.location.clone(),
                    weight: boot.weight,
                    up: !self.map.flags.contains(&Flag::Noup),
                    is_in: !self.map.flags.contains(&Flag::Noin),
                    up_from: Epoch::default(),
                    gossip: None,
                }));
                id
            }
        };
        if let Some(addr) = boot.gossip {
            changes.push(Change::OsdGossip { id, addr });
        }
        match self.commit(changes) {
            Ok(epoch) => {
                self.osd_uuids.insert(boot.uuid, id);
                MonResponse::Booted(id, epoch)
            }
            Err(e) => MonResponse::Rejected(e),
        }
    }

    /// Marks `ids` in (or out), in one epoch; nothing changes unless every id exists. OSDs
    /// already so are left alone.
    fn mark_in(&self, ids: &[OsdId], is_in: bool) -> Result<Vec<Change>, MonError> {
        let mut changes = Vec::new();
        let ids: std::collections::BTreeSet<OsdId> = ids.iter().copied().collect();
        for id in &ids {
            if self.osd(*id)?.is_in != is_in {
                changes.push(if is_in {
                    Change::OsdIn(*id)
                } else {
                    Change::OsdOut(*id)
                });
            }
        }
        Ok(changes)
    }

    fn admin(&mut self, cmd: &AdminCommand) -> Result<Vec<Change>, MonError> {
        Ok(match cmd {
            AdminCommand::OsdDown(id) => {
                self.osd(*id)?;
                self.mark(&[*id], |o| o.up, Change::OsdDown, Flag::Nodown)
            }
            AdminCommand::OsdOut(ids) => self.mark_in(ids, false)?,
            AdminCommand::OsdIn(ids) => self.mark_in(ids, true)?,
            AdminCommand::OsdReweight(id, weight) => {
                self.osd(*id)?;
                vec![Change::OsdWeight {
                    id: *id,
                    weight: *weight,
                }]
            }
            AdminCommand::OsdRm(id) => {
                if self.osd(*id)?.up {
                    return Err(MonError::Invalid(format!(
                        "osd.{} is up; stop it or mark it down first",
                        id.0
                    )));
                }
                vec![Change::OsdRemove(*id)]
            }
            AdminCommand::SetFlag(flag) => vec![Change::FlagSet(*flag)],
            AdminCommand::ConfigSet { key, value } => vec![Change::ConfigSet {
                key: key.clone(),
                value: *value,
            }],
            AdminCommand::UnsetFlag(flag) => vec![Change::FlagClear(*flag)],
            AdminCommand::PoolCreate {
                name,
                kind,
                pg_num,
                failure_domain,
            } => {
                if self.map.pool_by_name(name).is_some() {
                    return Err(MonError::PoolExists(name.clone()));
                }
                let (rule, add_rule) = self.map.rule_for(kind.rule_mode(), *failure_domain);
                let pool = Pool {
                    id: self.map.next_pool_id(),
                    name: name.clone(),
                    kind: *kind,
                    pg_num: *pg_num,
                    rule,
                };
                pool.validate()
                    .map_err(|e| MonError::Invalid(e.to_string()))?;
                if pool.is_erasure() {
                    let have = Placement::new(&self.map).live_domains(*failure_domain);
                    if pool.size() > have {
                        return Err(MonError::TooFewDomains {
                            need: pool.size(),
                            have,
                            level: *failure_domain,
                        });
                    }
                }
                add_rule
                    .into_iter()
                    .chain([Change::PoolCreate(pool)])
                    .collect()
            }
            AdminCommand::PoolRm(name) => {
                let pool = self
                    .map
                    .pool_by_name(name)
                    .ok_or_else(|| MonError::NoSuchPool(name.clone()))?;
                vec![Change::PoolRemove(pool.id)]
            }
        })
    }
}

#[cfg(test)]
mod tests;
