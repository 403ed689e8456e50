//! The verifier's bookkeeping: every write the workload sends, every acknowledgement, and the
//! judgement of every read. Pure: the shell tells it what happened, in order.
//!
//! Each write's data names itself: its first 8 bytes are the object's write sequence number
//! (per name, from 1, one writer per name at a time), the rest seeded bytes, and the ledger
//! keeps every write's crc32c. So a read is judged exactly:
//! - bytes of no write of that name (unknown sequence or wrong crc): **corrupted**;
//! - a write older than the newest one acknowledged before the read was sent: **stale**
//!   (during the run), **lost** (in the final check);
//! - "no such object" after an acknowledged write: stale during the run, lost at the end;
//! - the newest acknowledged write or a newer one still in flight (or whose outcome is
//!   unknown because it failed): fine.

use std::collections::{BTreeMap, BTreeSet};

use crate::rng::Rng;

/// What became of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteState {
    /// Sent, no answer yet.
    InFlight,
    /// Acknowledged: it must be readable until a newer write replaces it.
    Acked,
    /// Failed or timed out: it may or may not have been applied.
    Unknown,
}

#[derive(Debug, Clone)]
struct Write {
    crc: u32,
    state: WriteState,
}

#[derive(Debug, Clone, Default)]
struct Object {
    /// Sequence number of the next write.
    next: u64,
    /// The newest acknowledged write.
    acked: Option<u64>,
    writes: BTreeMap<u64, Write>,
}

/// Counters for the verdict line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Writes acknowledged.
    pub acked: u64,
    /// Writes that failed or timed out (outcome unknown; not an error by itself).
    pub write_errors: u64,
    /// Reads that returned the right data.
    pub reads_ok: u64,
    /// Reads that failed or timed out (unavailability, not an error by itself).
    pub read_errors: u64,
    /// Acknowledged writes not found, or replaced by older data, in the final check.
    pub lost: u64,
    /// Reads of bytes that no write wrote.
    pub corrupted: u64,
    /// Reads, during the run, of data older than an acknowledged write.
    pub stale_reads: u64,
}

impl Stats {
    /// Whether nothing went wrong with the data.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.corrupted == 0 && self.stale_reads == 0
    }
}

/// How one read was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// The data of write `seq`, acceptable.
    Ok {
        /// The write it came from.
        seq: u64,
    },
    /// Not found, and nothing acknowledged was expected: fine.
    Absent,
    /// Bytes that match no write of this object.
    Corrupted,
    /// Older than the newest write acknowledged before the read (`got` 0: not found).
    Stale {
        /// The write the data came from (0: the object was not found).
        got: u64,
        /// The newest acknowledged write when the read was sent.
        floor: u64,
    },
    /// Final check: the newest acknowledged write is gone (`got` 0: not found).
    Lost {
        /// The write the data came from (0: not found).
        got: u64,
        /// The newest acknowledged write.
        want: u64,
    },
}

impl Judgement {
    /// Whether this is a data error.
    pub fn is_error(&self) -> bool {
        !matches!(self, Judgement::Ok { .. } | Judgement::Absent)
    }
}

/// Bytes at the start of each write's data: its sequence number.
const HEADER: usize = 8;

/// Every write and acknowledgement of a run.
#[derive(Debug, Clone)]
pub struct Ledger {
    seed: u64,
    min_len: usize,
    max_len: usize,
    objects: BTreeMap<String, Object>,
    frozen: BTreeSet<String>,
    stats: Stats,
    /// The first few errors, described, for the report.
    errors: Vec<String>,
}

/// How many error descriptions are kept.
const KEEP_ERRORS: usize = 20;

fn name_hash(name: &str) -> u64 {
    // FNV-1a: stable across runs and toolchains.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The data of write `seq` of `name` in a run seeded with `seed`: 8-byte sequence number,
/// then between 8 and `max_len - 8` seeded bytes.
#[cfg(test)]
pub fn payload(seed: u64, name: &str, seq: u64, max_len: usize) -> Vec<u8> {
    payload_sized(seed, name, seq, 2 * HEADER, max_len)
}

/// [`payload`] of at least `min_len` bytes (and at least 16).
pub fn payload_sized(seed: u64, name: &str, seq: u64, min_len: usize, max_len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ name_hash(name) ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let lo = min_len.max(2 * HEADER);
    let len = rng.range(lo as u64, max_len.max(lo) as u64) as usize;
    let mut data = vec![0u8; len];
    data[..HEADER].copy_from_slice(&seq.to_le_bytes());
    rng.fill(&mut data[HEADER..]);
    data
}

impl Ledger {
    /// An empty ledger; writes carry up to `max_len` bytes.
    pub fn new(seed: u64, max_len: usize) -> Ledger {
        Ledger {
            seed,
            min_len: 2 * HEADER,
            max_len,
            objects: BTreeMap::new(),
            frozen: BTreeSet::new(),
            stats: Stats::default(),
            errors: Vec::new(),
        }
    }

    /// Writes carry at least `min_len` bytes.
    pub fn with_min_len(mut self, min_len: usize) -> Ledger {
        self.min_len = min_len;
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The first data errors, described.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Records a write about to be sent to `name`; returns its sequence number and data.
    /// The caller sends writes of one name one at a time, in sequence order.
    pub fn begin_write(&mut self, name: &str) -> (u64, Vec<u8>) {
        let obj = self.objects.entry(name.to_owned()).or_default();
        obj.next += 1;
        let seq = obj.next;
        let data = payload_sized(self.seed, name, seq, self.min_len, self.max_len);
        obj.writes.insert(
            seq,
            Write {
                crc: crc32c::crc32c(&data),
                state: WriteState::InFlight,
            },
        );
        (seq, data)
    }

    /// Write `seq` of `name` was acknowledged.
    pub fn acked(&mut self, name: &str, seq: u64) {
        let obj = self
            .objects
            .get_mut(name)
            .expect("acked a write never begun");
        let w = obj.writes.get_mut(&seq).expect("acked a write never begun");
        w.state = WriteState::Acked;
        obj.acked = obj.acked.max(Some(seq));
        self.stats.acked += 1;
    }

    /// Write `seq` of `name` failed or timed out: it may or may not have been applied.
    pub fn failed(&mut self, name: &str, seq: u64) {
        if let Some(w) = self
            .objects
            .get_mut(name)
            .and_then(|o| o.writes.get_mut(&seq))
        {
            w.state = WriteState::Unknown;
        }
        self.stats.write_errors += 1;
    }

    /// A read failed or timed out (not a data error).
    pub fn read_failed(&mut self) {
        self.stats.read_errors += 1;
    }

    /// The newest acknowledged write of `name` now: take it just before sending a read.
    pub fn floor(&self, name: &str) -> Option<u64> {
        self.objects.get(name).and_then(|o| o.acked)
    }

    /// Names with at least one acknowledged write.
    pub fn acked_names(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|(_, o)| o.acked.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Stops new writes to `name` (the workload checks [`is_frozen`](Self::is_frozen)), so
    /// its stored copies stay as they are, e.g. while one of them is corrupted on purpose.
    pub fn freeze(&mut self, name: &str) {
        self.frozen.insert(name.to_owned());
    }

    /// Whether writes to `name` are stopped.
    pub fn is_frozen(&self, name: &str) -> bool {
        self.frozen.contains(name)
    }

    /// Which write `data` is, if it is exactly one of `name`'s.
    fn identify(&self, name: &str, data: &[u8]) -> Option<u64> {
        let seq = u64::from_le_bytes(data.get(..HEADER)?.try_into().ok()?);
        let w = self.objects.get(name)?.writes.get(&seq)?;
        (w.crc == crc32c::crc32c(data)).then_some(seq)
    }

    fn note(&mut self, j: Judgement, name: &str) -> Judgement {
        match j {
            Judgement::Ok { .. } => self.stats.reads_ok += 1,
            Judgement::Absent => {}
            Judgement::Corrupted => self.stats.corrupted += 1,
            Judgement::Stale { .. } => self.stats.stale_reads += 1,
            Judgement::Lost { .. } => self.stats.lost += 1,
        }
        if j.is_error() && self.errors.len() < KEEP_ERRORS {
            self.errors.push(format!("{name}: {j:?}"));
        }
        j
    }

    /// Judges a read of `name` sent when the newest acknowledged write was `floor` (from
    /// [`floor`](Self::floor)); `got` is the data, or `None` for "no such object".
    pub fn judge_read(&mut self, name: &str, floor: Option<u64>, got: Option<&[u8]>) -> Judgement {
        let j = match (got, floor) {
            (None, None) => Judgement::Absent,
            (None, Some(floor)) => Judgement::Stale { got: 0, floor },
            (Some(data), floor) => match self.identify(name, data) {
                None => Judgement::Corrupted,
                Some(seq) if floor.is_some_and(|f| seq < f) => Judgement::Stale {
                    got: seq,
                    floor: floor.unwrap_or(0),
                },
                Some(seq) => Judgement::Ok { seq },
            },
        };
        self.note(j, name)
    }

    /// The final check of `name` once the cluster has recovered and no write is in flight:
    /// the newest acknowledged write (or a newer unknown one) must be there.
    pub fn judge_final(&mut self, name: &str, got: Option<&[u8]>) -> Judgement {
        let want = self.floor(name);
        let j = match (got, want) {
            (None, None) => Judgement::Absent,
            (None, Some(want)) => Judgement::Lost { got: 0, want },
            (Some(data), want) => match self.identify(name, data) {
                None => Judgement::Corrupted,
                Some(seq) if want.is_some_and(|w| seq < w) => Judgement::Lost {
                    got: seq,
                    want: want.unwrap_or(0),
                },
                Some(seq) => Judgement::Ok { seq },
            },
        };
        self.note(j, name)
    }

    /// The final check could not read `name` at all, after recovery. An object with an
    /// acknowledged write counts as lost; one without is only described.
    pub fn unreadable(&mut self, name: &str, error: &str) {
        if self.floor(name).is_some() {
            self.stats.lost += 1;
        }
        if self.errors.len() < KEEP_ERRORS {
            self.errors
                .push(format!("{name}: unreadable after recovery: {error}"));
        }
    }

    /// Whether a write of `name` waits for an answer.
    pub fn writing(&self, name: &str) -> bool {
        self.objects
            .get(name)
            .is_some_and(|o| o.writes.values().any(|w| w.state == WriteState::InFlight))
    }
}

#[cfg(test)]
mod tests;
