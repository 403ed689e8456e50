//! What a PG is stuck on, for the shell's warnings: writes replicas have not acknowledged,
//! and replica writes held back for an earlier one. Read-only views of the machine.

use std::time::Duration;

use placement::OsdId;
use rados::proto::osd::Version;

use super::PgMachine;

/// A write the primary ordered that some replica has not acknowledged for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowWrite {
    /// Its version.
    pub version: Version,
    /// The replicas it still waits for.
    pub waiting: Vec<OsdId>,
    /// How long it has waited at `now`.
    pub age: Duration,
}

impl PgMachine {
    /// Writes in flight at `now` for `older` or longer, oldest first, with the replicas
    /// they wait for: what an operator needs to see when writes stall without an interval
    /// change.
    pub fn slow_writes(&self, now: Duration, older: Duration) -> Vec<SlowWrite> {
        let Some(p) = &self.primary else {
            return Vec::new();
        };
        p.inflight
            .iter()
            .filter(|(_, w)| now.saturating_sub(w.since) >= older)
            .map(|(version, w)| SlowWrite {
                version: *version,
                waiting: w.waiting.iter().copied().collect(),
                age: now.saturating_sub(w.since),
            })
            .collect()
    }

    /// A replica's writes held back for an earlier one it lacks: how many, the earliest
    /// `prior` they wait for, and our log head (they apply once the head reaches it).
    pub fn held_subwrites(&self) -> Option<(usize, Version, Version)> {
        let first = self.pending.keys().next()?;
        Some((self.pending.len(), *first, self.log.head()))
    }
}
