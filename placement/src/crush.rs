//! CRUSH rules and the hierarchy they descend.
//!
//! The hierarchy is root > zone > host > osd. It is not stored separately: it is derived from
//! each OSD's [`Location`](crate::Location), so it can never disagree with the OSD table, and
//! bucket identity comes from names rather than creation order (placement does not depend on
//! the order in which OSDs joined).

use serde::{Deserialize, Serialize};

use crate::ids::RuleId;

/// A level of the hierarchy, used as a rule's failure domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainType {
    /// Each OSD is its own failure domain (a single-host test cluster).
    Osd,
    /// No two positions on one host.
    Host,
    /// No two positions in one zone.
    Zone,
}

impl DomainType {
    /// The level's name as operators type it: `osd`, `host`, `zone`.
    pub fn name(self) -> &'static str {
        match self {
            DomainType::Osd => "osd",
            DomainType::Host => "host",
            DomainType::Zone => "zone",
        }
    }
}

/// How a rule fills the positions of a PG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMode {
    /// Replicated pools: an ordered set; when a member leaves, the others keep their data.
    /// See [`crate::select`] for why this ranks OSDs instead of retrying like Ceph's `firstn`.
    Firstn,
    /// Erasure pools: position i is shard i; a lost position is refilled without shifting the
    /// others, and one it cannot fill stays a hole.
    Indep,
}

/// A placement rule: take the root, choose distinct failure domains, emit one OSD from each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its id.
    pub id: RuleId,
    /// Its name, e.g. `replicated_host`.
    pub name: String,
    /// Firstn (replicated) or indep (erasure).
    pub mode: RuleMode,
    /// The level whose buckets must be distinct across a PG's positions.
    pub failure_domain: DomainType,
}

/// The CRUSH part of the cluster map: its rules. (The hierarchy is derived; see the module doc.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrushMap {
    /// Rules by id.
    pub rules: std::collections::BTreeMap<RuleId, Rule>,
}

impl CrushMap {
    /// The rules a new cluster starts with: replicated and erasure, both across hosts.
    pub fn with_default_rules() -> CrushMap {
        let mut crush = CrushMap::default();
        for rule in [
            Rule {
                id: RuleId(0),
                name: "replicated_host".into(),
                mode: RuleMode::Firstn,
                failure_domain: DomainType::Host,
            },
            Rule {
                id: RuleId(1),
                name: "erasure_host".into(),
                mode: RuleMode::Indep,
                failure_domain: DomainType::Host,
            },
        ] {
            crush.rules.insert(rule.id, rule);
        }
        crush
    }
}
