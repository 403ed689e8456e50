//! The failure policy: when the monitors mark an OSD down or out. Pure: time is an argument
//! (`now`, time since an arbitrary origin), and decisions come back as [`MonCommand`]s for
//! the leader to propose. Gossip and peers *report*; this decides.
//!
//! - **Down by reports**: reports from at least `min_reporters` distinct OSDs on hosts other
//!   than the target's, each within `report_ttl`.
//! - **Down by silence**: no beacon for `beacon_grace`.
//! - **Out**: down (and in) for `down_out_interval`, unless `noout` is set (the state machine
//!   enforces the flag too).
//! - With `nodown` set nothing is marked down (the state machine would refuse it anyway, so
//!   the leader would only commit no-ops).
//! - **Across a leader change**: every monitor notes the reports it hears, leader or not; a
//!   new leader decides on those of the last few seconds at once, so a failure reported while
//!   the old leader was dying is not lost until the reporters repeat it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use placement::{ClusterMap, Flag, OsdId};

use crate::state::MonCommand;

/// Policy knobs. Defaults follow Ceph's where Ceph has one.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// Distinct reporters (on other hosts) needed to mark an OSD down.
    pub min_reporters: usize,
    /// How long a failure report counts.
    pub report_ttl: Duration,
    /// Silence after which an OSD is marked down.
    pub beacon_grace: Duration,
    /// Time down after which an OSD is marked out (Ceph: 600 s).
    pub down_out_interval: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            min_reporters: 2,
            report_ttl: Duration::from_secs(20),
            beacon_grace: Duration::from_secs(20),
            down_out_interval: Duration::from_secs(600),
        }
    }
}

/// What the leader remembers between ticks. Not replicated: a new leader calls
/// [`reset`](Self::reset) and grants everyone a fresh grace period.
#[derive(Debug, Default)]
pub struct FailurePolicy {
    config: PolicyConfig,
    reports: BTreeMap<OsdId, BTreeMap<OsdId, Duration>>,
    last_beacon: BTreeMap<OsdId, Duration>,
    down_since: BTreeMap<OsdId, Duration>,
    /// Reports heard lately, leader or not: `(when, target, reporter)`, oldest first.
    heard: VecDeque<(Duration, OsdId, OsdId)>,
}

/// How long a report heard by a non-leader is kept for the next leader.
pub const HEARD_FOR: Duration = Duration::from_secs(5);

/// Most reports kept for the next leader.
const HEARD_MAX: usize = 1024;

impl FailurePolicy {
    /// A policy with `config`.
    pub fn new(config: PolicyConfig) -> FailurePolicy {
        FailurePolicy {
            config,
            ..FailurePolicy::default()
        }
    }

    /// Call on every failure report this monitor hears, whether it leads or not.
    pub fn note_report(&mut self, now: Duration, target: OsdId, reporter: OsdId) {
        self.heard.push_back((now, target, reporter));
        while self.heard.len() > HEARD_MAX
            || self
                .heard
                .front()
                .is_some_and(|(at, _, _)| now.saturating_sub(*at) > HEARD_FOR)
        {
            self.heard.pop_front();
        }
    }

    /// Call on becoming leader: start every grace period now, and decide on the reports
    /// heard in the last [`HEARD_FOR`] (returns the mark-downs they make).
    pub fn reset(&mut self, now: Duration, map: &ClusterMap) -> Vec<MonCommand> {
        self.reports.clear();
        self.last_beacon = map.osds.keys().map(|id| (*id, now)).collect();
        self.down_since = map
            .osds
            .values()
            .filter(|o| !o.up)
            .map(|o| (o.id, now))
            .collect();
        let heard = std::mem::take(&mut self.heard);
        let mut decided = Vec::new();
        for (at, target, reporter) in heard {
            if now.saturating_sub(at) > HEARD_FOR {
                continue;
            }
            if let Some(cmd) = self.handle_report(at, map, target, reporter)
                && !decided.contains(&cmd)
            {
                decided.push(cmd);
            }
        }
        decided
    }

    /// Call on every beacon.
    pub fn handle_beacon(&mut self, now: Duration, osd: OsdId) {
        self.last_beacon.insert(osd, now);
        self.reports.remove(&osd);
    }

    /// Call on every failure report; returns the mark-down to propose, if it is decided.
    pub fn handle_report(
        &mut self,
        now: Duration,
        map: &ClusterMap,
        target: OsdId,
        reporter: OsdId,
    ) -> Option<MonCommand> {
        let (Some(t), Some(r)) = (map.osds.get(&target), map.osds.get(&reporter)) else {
            return None;
        };
        if !t.up || target == reporter || r.location.host == t.location.host {
            return None; // a host-mate's view is not independent
        }
        let ttl = self.config.report_ttl;
        let reports = self.reports.entry(target).or_default();
        reports.insert(reporter, now);
        reports.retain(|_, at| now.saturating_sub(*at) <= ttl);
        let decided = reports.len() >= self.config.min_reporters;
        (decided && !map.flags.contains(&Flag::Nodown)).then(|| MonCommand::MarkDown(vec![target]))
    }

    /// Call periodically (the monitor's leader does every 500 ms); returns mark-downs and
    /// mark-outs to propose.
    pub fn tick(&mut self, now: Duration, map: &ClusterMap) -> Vec<MonCommand> {
        let mut down = Vec::new();
        let mut out = Vec::new();
        let nodown = map.flags.contains(&Flag::Nodown);
        for osd in map.osds.values() {
            if osd.up {
                self.down_since.remove(&osd.id);
                let last = *self.last_beacon.entry(osd.id).or_insert(now);
                if now.saturating_sub(last) > self.config.beacon_grace && !nodown {
                    down.push(osd.id);
                }
            } else {
                let since = *self.down_since.entry(osd.id).or_insert(now);
                let long = now.saturating_sub(since) >= self.config.down_out_interval;
                if osd.is_in && long && !map.flags.contains(&Flag::Noout) {
                    out.push(osd.id);
                }
            }
        }
        self.last_beacon.retain(|id, _| map.osds.contains_key(id));
        self.down_since.retain(|id, _| map.osds.contains_key(id));
        let ttl = self.config.report_ttl;
        self.reports.retain(|_, r| {
            r.retain(|_, at| now.saturating_sub(*at) <= ttl);
            !r.is_empty()
        });
        let mut commands = Vec::new();
        if !down.is_empty() {
            commands.push(MonCommand::MarkDown(down));
        }
        if !out.is_empty() {
            commands.push(MonCommand::MarkOut(out));
        }
        commands
    }
}

#[cfg(test)]
mod tests;
