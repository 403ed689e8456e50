//! The PG log: the bounded, ordered history of writes a PG applied. Peering compares logs
//! to find what a member lacks; a resent request is recognised by its reqid and answered
//! from the log instead of being applied twice. Pure.

use std::collections::VecDeque;

use rados::proto::osd::{ReqId, Version};
use serde::{Deserialize, Serialize};

/// What a write did to its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogOp {
    /// The object was created or changed.
    Modify,
    /// The object was deleted.
    Delete,
}

/// One write, as the PG ordered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Its place in the PG's history (unique: one primary per epoch orders writes).
    pub version: Version,
    /// The object written.
    pub object: String,
    /// Modify or delete.
    pub op: LogOp,
    /// crc32c of the object's data after the write, when the write replaced the data.
    pub crc: Option<u32>,
    /// The client request, so a resend is answered instead of re-applied.
    pub reqid: Option<ReqId>,
}

/// How much history a PG log keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// Entries kept (peers further behind than this are backfilled).
    pub entries: usize,
    /// Request ids of trimmed entries kept to recognise late resends (as Ceph's dups).
    pub dups: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            entries: 3000,
            dups: 3000,
        }
    }
}

/// A PG's log: entries newer than `tail`, oldest first, within its limits, plus the
/// request ids of trimmed entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgLog {
    entries: VecDeque<LogEntry>,
    /// Every entry at or below this version has been trimmed.
    tail: Version,
    dups: VecDeque<(ReqId, Version)>,
    limits: LogLimits,
}

/// How a member's log relates to the authoritative one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Divergence {
    /// The logs share history up to `common`: the member lacks the authoritative entries
    /// after it and holds `divergent` entries the authority never had (unacknowledged).
    Overlap {
        /// The newest version both logs agree on.
        common: Version,
        /// Objects changed after `common` in either log.
        objects: Vec<String>,
    },
    /// No common point the authority still logs: compare whole object listings (backfill).
    Disjoint,
}

impl PgLog {
    /// An empty log.
    pub fn new(limits: LogLimits) -> PgLog {
        PgLog::from_parts(Version::ZERO, Vec::new(), Vec::new(), limits)
    }

    /// A log from stored (or received) parts.
    pub fn from_parts(
        tail: Version,
        entries: Vec<LogEntry>,
        dups: Vec<(ReqId, Version)>,
        limits: LogLimits,
    ) -> PgLog {
        PgLog {
            entries: entries.into(),
            tail,
            dups: dups.into(),
            limits: LogLimits {
                entries: limits.entries.max(1),
                dups: limits.dups,
            },
        }
    }

    /// Request ids of trimmed entries, oldest first.
    pub fn dups(&self) -> impl Iterator<Item = &(ReqId, Version)> {
        self.dups.iter()
    }

    /// The newest version (the tail when empty).
    pub fn head(&self) -> Version {
        self.entries.back().map_or(self.tail, |e| e.version)
    }

    /// Versions at or below this are no longer logged.
    pub fn tail(&self) -> Version {
        self.tail
    }

    /// Entries, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &LogEntry> {
        self.entries.iter()
    }

    /// Its limits.
    pub fn limits(&self) -> LogLimits {
        self.limits
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends `entry` (newer than the head). Once the log is a quarter over its bound it
    /// trims back to the bound and returns the new tail, so the caller trims the stored
    /// copy (and records the tail) in the same transaction — not on every write.
    pub fn append(&mut self, entry: LogEntry) -> Option<Version> {
        debug_assert!(entry.version > self.head(), "log entries must increase");
        self.entries.push_back(entry);
        let max = self.limits.entries;
        if self.entries.len() <= max + max / 4 {
            return None;
        }
        while self.entries.len() > max {
            let e = self.entries.pop_front().expect("non-empty");
            self.tail = e.version;
            if let Some(reqid) = e.reqid {
                self.dups.push_back((reqid, e.version));
            }
        }
        while self.dups.len() > self.limits.dups {
            self.dups.pop_front();
        }
        Some(self.tail)
    }

    /// The version a request was applied at, if it is still logged.
    pub fn find_reqid(&self, reqid: ReqId) -> Option<Version> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.reqid == Some(reqid))
            .map(|e| e.version)
            .or_else(|| self.dups.iter().find(|(r, _)| *r == reqid).map(|(_, v)| *v))
    }

    /// Whether the log holds the entry `version`.
    pub fn contains(&self, version: Version) -> bool {
        self.entries
            .binary_search_by(|e| e.version.cmp(&version))
            .is_ok()
    }

    /// Keeps only the entries of objects whose stored version matches what the log says
    /// happened last to them. Used on a log whose member received recovery copies after it
    /// was written: a request id must not be answered as done when its effect was undone.
    pub fn retain_consistent(&mut self, on_disk: &std::collections::BTreeMap<String, Version>) {
        let mut last: std::collections::HashMap<&str, &LogEntry> = Default::default();
        for e in &self.entries {
            last.insert(&e.object, e);
        }
        let consistent: std::collections::HashSet<String> = last
            .into_iter()
            .filter(|(name, e)| match e.op {
                LogOp::Modify => on_disk.get(*name) == Some(&e.version),
                LogOp::Delete => !on_disk.contains_key(*name),
            })
            .map(|(name, _)| name.to_string())
            .collect();
        self.entries.retain(|e| consistent.contains(&e.object));
    }

    /// Ends the log at `at` (or its head, if newer): every entry is trimmed (request ids
    /// kept as dups) and the tail moves there. For a log whose member received recovery
    /// copies: its objects hold states no entry describes, so no other member may be
    /// brought up to date from it by log. Sealed at a version no other log holds, every
    /// member that did not adopt the sealed log is compared by listing instead.
    pub fn seal(&mut self, at: Version) {
        let tail = self.head().max(at);
        for e in self.entries.drain(..) {
            if let Some(reqid) = e.reqid {
                self.dups.push_back((reqid, e.version));
            }
        }
        while self.dups.len() > self.limits.dups {
            self.dups.pop_front();
        }
        self.tail = tail;
    }

    /// Drops the entries of `object` its stored state no longer reflects after recovery
    /// installed `kept` (`None`: the object is absent): those newer than `kept`, or, for an
    /// absent object, its changes after its last delete. Returns their versions.
    pub fn drop_undone(&mut self, object: &str, kept: Option<Version>) -> Vec<Version> {
        let last_delete = self
            .entries
            .iter()
            .filter(|e| e.object == object && e.op == LogOp::Delete)
            .map(|e| e.version)
            .next_back();
        let floor = kept.or(last_delete).unwrap_or(Version::ZERO);
        let undone = |e: &LogEntry| e.object == object && e.version > floor;
        let dropped: Vec<Version> = self
            .entries
            .iter()
            .filter(|e| undone(e))
            .map(|e| e.version)
            .collect();
        self.entries.retain(|e| !undone(e));
        dropped
    }

    /// Whether this member applied the write `version`: its log holds it, or trimmed past it.
    pub fn applied(&self, version: Version) -> bool {
        version <= self.tail || self.contains(version)
    }

    /// Compares this (a member's) log with the authoritative `auth` log.
    pub fn divergence(&self, auth: &PgLog) -> Divergence {
        // The newest point both logs vouch for: an entry (or our trim point) that the
        // authority holds or trimmed at. Versions are unique, so a shared version means a
        // shared history up to it.
        let vouched = |v: Version| v == auth.tail || auth.contains(v);
        let common = self
            .entries
            .iter()
            .rev()
            .map(|e| e.version)
            .chain(std::iter::once(self.tail))
            .find(|v| vouched(*v));
        let Some(common) = common else {
            return Divergence::Disjoint;
        };
        let mut objects: Vec<String> = auth
            .entries
            .iter()
            .chain(self.entries.iter())
            .filter(|e| e.version > common)
            .map(|e| e.object.clone())
            .collect();
        objects.sort();
        objects.dedup();
        Divergence::Overlap { common, objects }
    }
}

#[cfg(test)]
mod tests;
