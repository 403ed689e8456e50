//! Access-based tiering (pure), the INTELLIGENT_TIERING class: an object of the class that
//! nobody read for a bucket's idle days (default 30, in lifecycle days) moves to the cold
//! pool, STANDARD_IA's; a read of a cold one is served from there and moves it back. Reads
//! are recorded coarsely (at most once per object per day) and the idle clock starts again
//! at each, so a promoted object stays hot at least its idle days: the hysteresis.
//! [`crate::tier_worker`] records reads and promotes; the lifecycle pass demotes.

use serde::{Deserialize, Serialize};

use crate::lifecycle::due;

/// Idle days before an object moves to the cold pool, unless the bucket says otherwise.
pub const DEFAULT_IDLE_DAYS: u32 = 30;

/// A bucket's tiering settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tiering {
    /// Days without a read after which an object moves to the cold pool.
    pub idle_days: u32,
}

impl Default for Tiering {
    fn default() -> Tiering {
        Tiering {
            idle_days: DEFAULT_IDLE_DAYS,
        }
    }
}

/// Whether an object written at `mtime_ms` and last read at `read_ms` has been idle its
/// `idle_days` by `now_ms` (days of `day_ms`, counted as lifecycle counts them).
pub fn idle(
    tiering: Tiering,
    mtime_ms: i64,
    read_ms: Option<i64>,
    now_ms: i64,
    day_ms: i64,
) -> bool {
    let since = read_ms.map_or(mtime_ms, |r| r.max(mtime_ms));
    due(since, tiering.idle_days, day_ms) <= now_ms
}

/// Whether a read at `now_ms` is worth recording, the last recorded one being `read_ms`:
/// once per day at most (a recorded read costs a metadata write).
pub fn worth_recording(read_ms: Option<i64>, now_ms: i64, day_ms: i64) -> bool {
    read_ms.is_none_or(|r| r.div_euclid(day_ms) < now_ms.div_euclid(day_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1000;

    #[test]
    fn an_object_is_idle_its_days_after_its_last_read() {
        let t = Tiering { idle_days: 2 };
        assert!(!idle(t, 0, None, DAY, DAY));
        assert!(idle(t, 0, None, 2 * DAY, DAY));
        // A read restarts the clock: the hysteresis after a promotion.
        assert!(!idle(t, 0, Some(3 * DAY + 1), 4 * DAY, DAY));
        assert!(idle(t, 0, Some(3 * DAY + 1), 6 * DAY, DAY));
        // A rewrite counts like a read.
        assert!(!idle(t, 5 * DAY, Some(DAY), 6 * DAY, DAY));
    }

    #[test]
    fn reads_are_recorded_once_a_day() {
        assert!(worth_recording(None, 5, DAY));
        assert!(!worth_recording(Some(10), DAY - 1, DAY));
        assert!(worth_recording(Some(10), DAY, DAY));
        assert!(!worth_recording(Some(DAY + 5), DAY + 900, DAY));
    }
}
