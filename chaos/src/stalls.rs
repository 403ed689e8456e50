//! How long a fault stalled the workload, and how that splits: the time until the monitors
//! marked the daemon down (detection), and the time from then until ops succeeded again
//! (peering, lease waits, client retries). Pure: times are `Duration`s since the workload
//! started, success times sorted.

use std::time::Duration;

/// A fault's effect on the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultStall {
    /// The longest time without a successful write around the fault.
    pub write: Duration,
    /// The same for reads.
    pub read: Duration,
    /// From the fault until the map marked the daemon down, if it did.
    pub detected: Option<Duration>,
    /// From the map marking it down until the first write that succeeded after that.
    pub writes_resumed: Option<Duration>,
}

/// The longest gap between consecutive successes in `times` that overlaps
/// `[from, to]`, counting `from` and `to` as bounds when nothing succeeded before or
/// after; returns the gap's length and its end.
pub fn longest_gap(times: &[Duration], from: Duration, to: Duration) -> (Duration, Duration) {
    let start = times.partition_point(|t| *t < from);
    // The success just before the window opens the first gap.
    let mut prev = if start > 0 { times[start - 1] } else { from };
    let mut best = (Duration::ZERO, from);
    for t in times[start..].iter().take_while(|t| **t <= to) {
        let gap = t.saturating_sub(prev);
        if gap > best.0 {
            best = (gap, *t);
        }
        prev = *t;
    }
    let tail = to.saturating_sub(prev);
    if tail > best.0 {
        best = (tail, to);
    }
    best
}

/// The stall of a fault that began at `at` and lasted until `until`, given the successes
/// and when (if) the daemon was marked down.
pub fn of_fault(
    writes: &[Duration],
    reads: &[Duration],
    at: Duration,
    until: Duration,
    marked_down: Option<Duration>,
) -> FaultStall {
    let (write, _) = longest_gap(writes, at, until);
    let (read, _) = longest_gap(reads, at, until);
    // Not the end of the longest gap: that may be a later stall of the same window (the
    // daemon coming back).
    let first_write_after = |d: Duration| {
        let i = writes.partition_point(|t| *t <= d);
        writes
            .get(i)
            .map_or(until.saturating_sub(d), |t| t.saturating_sub(d))
    };
    FaultStall {
        write,
        read,
        detected: marked_down.map(|d| d.saturating_sub(at)),
        writes_resumed: marked_down.map(first_write_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|ms| Duration::from_millis(*ms)).collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_gap_around_a_fault_is_found_and_bounded_by_the_window() {
        let writes = s(&[100, 200, 300, 2_800, 2_900, 9_000]);
        // The gap from 300 to 2800 overlaps a fault at 1000.
        assert_eq!(
            longest_gap(&writes, ms(1_000), ms(5_000)),
            (ms(2_500), ms(2_800))
        );
        // Nothing after the window's start until its end: the tail counts.
        assert_eq!(
            longest_gap(&writes, ms(3_000), ms(5_000)),
            (ms(2_100), ms(5_000))
        );
        // Nothing at all.
        assert_eq!(longest_gap(&[], ms(10), ms(30)), (ms(20), ms(30)));
    }

    #[test]
    fn a_stall_splits_into_detection_and_the_rest() {
        let writes = s(&[0, 100, 2_600, 2_700]);
        let reads = s(&[50, 2_000]);
        let st = of_fault(&writes, &reads, ms(150), ms(5_000), Some(ms(1_900)));
        assert_eq!(st.write, ms(2_500));
        assert_eq!(st.read, ms(3_000));
        assert_eq!(st.detected, Some(ms(1_750)));
        assert_eq!(st.writes_resumed, Some(ms(700)));
        assert_eq!(
            of_fault(&writes, &reads, ms(150), ms(5_000), None).detected,
            None
        );
        // A longer stall later in the window (the daemon coming back) is the longest, but
        // writes came back 100 ms after the mark-down.
        let writes = s(&[0, 100, 2_000, 2_100, 9_000, 9_100]);
        let st = of_fault(&writes, &reads, ms(150), ms(10_000), Some(ms(1_900)));
        assert_eq!(st.write, ms(6_900));
        assert_eq!(st.writes_resumed, Some(ms(100)));
    }
}
