//! Client requests in flight and what each waits for: Ceph's "slow request" warning. A
//! request that has waited past [`SLOW`] is logged with its current stage, and again every
//! [`SLOW`] after, so a stall names its cause in the OSD's log instead of only as a client
//! timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A request older than this is slow.
pub const SLOW: Duration = Duration::from_secs(5);

/// The requests this OSD is serving.
#[derive(Default)]
pub struct InFlightOps {
    next: AtomicU64,
    ops: Mutex<HashMap<u64, Record>>,
}

struct Record {
    what: String,
    since: Duration,
    stage: &'static str,
    /// When it was last reported slow.
    warned: Option<Duration>,
}

/// A slow request, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowOp {
    /// The request (kind, PG or pool, object).
    pub what: String,
    /// How long it has waited.
    pub age: Duration,
    /// What it waits for now.
    pub stage: &'static str,
}

/// One request's entry; removed when dropped (answered, or the handler was cancelled).
pub struct TrackedOp<'a> {
    ops: &'a InFlightOps,
    id: u64,
}

impl InFlightOps {
    /// Registers a request that started at `now`.
    pub fn start(&self, what: String, now: Duration) -> TrackedOp<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let record = Record {
            what,
            since: now,
            stage: "started",
            warned: None,
        };
        self.lock().insert(id, record);
        TrackedOp { ops: self, id }
    }

    /// Requests slow at `now` that were not reported in the last [`SLOW`], oldest first;
    /// marks them reported.
    pub fn take_slow(&self, now: Duration) -> Vec<SlowOp> {
        let mut out: Vec<SlowOp> = self
            .lock()
            .values_mut()
            .filter(|r| now.saturating_sub(r.since) >= SLOW)
            .filter(|r| r.warned.is_none_or(|w| now.saturating_sub(w) >= SLOW))
            .map(|r| {
                r.warned = Some(now);
                SlowOp {
                    what: r.what.clone(),
                    age: now.saturating_sub(r.since),
                    stage: r.stage,
                }
            })
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.age));
        out
    }

    /// How many requests are slow at `now` (for `/metrics`).
    pub fn slow_count(&self, now: Duration) -> usize {
        let ops = self.lock();
        ops.values()
            .filter(|r| now.saturating_sub(r.since) >= SLOW)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Record>> {
        self.ops.lock().expect("in-flight ops lock")
    }
}

impl TrackedOp<'_> {
    /// Records what the request waits for from now on.
    pub fn stage(&self, stage: &'static str) {
        if let Some(r) = self.ops.lock().get_mut(&self.id) {
            r.stage = stage;
        }
    }
}

impl Drop for TrackedOp<'_> {
    fn drop(&mut self) {
        self.ops.lock().remove(&self.id);
    }
}

/// Logs requests of `ops` that have waited past [`SLOW`], once per period each, checking
/// every second by `now` (the daemon's clock); runs until the process ends.
pub async fn report(ops: &InFlightOps, now: impl Fn() -> Duration) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        for slow in ops.take_slow(now()) {
            tracing::warn!(
                request = %slow.what,
                waited_ms = slow.age.as_millis() as u64,
                waiting_for = slow.stage,
                "slow request"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_request_is_reported_once_per_slow_period_with_its_stage() {
        let ops = InFlightOps::default();
        let op = ops.start("write obj".into(), secs(10));
        op.stage("waiting for replicas");
        assert!(ops.take_slow(secs(14)).is_empty(), "not slow yet");
        let slow = ops.take_slow(secs(15));
        assert_eq!(
            slow,
            vec![SlowOp {
                what: "write obj".into(),
                age: secs(5),
                stage: "waiting for replicas",
            }]
        );
        assert!(ops.take_slow(secs(19)).is_empty(), "reported at 15 s");
        assert_eq!(ops.take_slow(secs(20)).len(), 1, "and again 5 s later");
        assert_eq!(ops.slow_count(secs(20)), 1);
        drop(op);
        assert_eq!(
            ops.slow_count(secs(30)),
            0,
            "answered requests are forgotten"
        );
        assert!(ops.take_slow(secs(30)).is_empty());
    }

    #[test]
    fn the_oldest_slow_request_comes_first() {
        let ops = InFlightOps::default();
        let _young = ops.start("young".into(), secs(3));
        let _old = ops.start("old".into(), secs(1));
        let slow = ops.take_slow(secs(9));
        let names: Vec<&str> = slow.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(names, ["old", "young"]);
    }
}
