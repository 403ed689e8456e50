use super::*;

fn ledger() -> Ledger {
    Ledger::new(42, 256)
}

/// Writes and acknowledges `n` versions of `name`; returns the data of each.
fn acked(l: &mut Ledger, name: &str, n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            let (seq, data) = l.begin_write(name);
            l.acked(name, seq);
            data
        })
        .collect()
}

#[test]
fn payloads_are_seeded_self_describing_and_bounded() {
    let a = payload(1, "x", 3, 100);
    assert_eq!(a, payload(1, "x", 3, 100));
    assert_ne!(a, payload(2, "x", 3, 100));
    assert_ne!(a, payload(1, "y", 3, 100));
    assert_eq!(u64::from_le_bytes(a[..8].try_into().unwrap()), 3);
    for seq in 0..200 {
        let len = payload(1, "x", seq, 100).len();
        assert!((16..=100).contains(&len), "{len}");
    }
}

#[test]
fn the_latest_acked_write_reads_fine_and_an_older_one_is_stale() {
    let mut l = ledger();
    let v = acked(&mut l, "a", 3);
    let floor = l.floor("a");
    assert_eq!(floor, Some(3));
    assert_eq!(
        l.judge_read("a", floor, Some(&v[2])),
        Judgement::Ok { seq: 3 }
    );
    assert_eq!(
        l.judge_read("a", floor, Some(&v[1])),
        Judgement::Stale { got: 2, floor: 3 }
    );
    // Read sent before write 3 was acknowledged: write 2 is fine then.
    assert_eq!(
        l.judge_read("a", Some(2), Some(&v[1])),
        Judgement::Ok { seq: 2 }
    );
    let s = l.stats();
    assert_eq!((s.acked, s.reads_ok, s.stale_reads), (3, 2, 1));
    assert!(!s.clean());
}

#[test]
fn an_in_flight_or_unknown_newer_write_is_acceptable() {
    let mut l = ledger();
    acked(&mut l, "a", 1);
    let (s2, d2) = l.begin_write("a");
    let floor = l.floor("a");
    assert_eq!(
        l.judge_read("a", floor, Some(&d2)),
        Judgement::Ok { seq: s2 }
    );
    l.failed("a", s2);
    assert_eq!(
        l.judge_read("a", floor, Some(&d2)),
        Judgement::Ok { seq: s2 }
    );
    assert_eq!(l.judge_final("a", Some(&d2)), Judgement::Ok { seq: s2 });
    assert_eq!(l.stats().write_errors, 1);
    assert!(l.stats().clean());
}

#[test]
fn flipped_foreign_or_short_bytes_are_corruption() {
    let mut l = ledger();
    let v = acked(&mut l, "a", 1);
    let w = acked(&mut l, "b", 1);
    let mut flipped = v[0].clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let floor = l.floor("a");
    assert_eq!(
        l.judge_read("a", floor, Some(&flipped)),
        Judgement::Corrupted
    );
    // b's first write under a's name: same sequence number, other bytes.
    assert_eq!(l.judge_read("a", floor, Some(&w[0])), Judgement::Corrupted);
    assert_eq!(
        l.judge_read("a", floor, Some(b"short")),
        Judgement::Corrupted
    );
    assert_eq!(l.judge_read("a", floor, Some(&[])), Judgement::Corrupted);
    let mut future = v[0].clone();
    future[..8].copy_from_slice(&9u64.to_le_bytes());
    assert_eq!(
        l.judge_read("a", floor, Some(&future)),
        Judgement::Corrupted
    );
    assert_eq!(l.stats().corrupted, 5);
    assert_eq!(l.errors().len(), 5);
}

#[test]
fn not_found_is_fine_before_any_ack_stale_during_the_run_and_lost_at_the_end() {
    let mut l = ledger();
    let (s1, _) = l.begin_write("a");
    assert_eq!(l.judge_read("a", l.floor("a"), None), Judgement::Absent);
    assert_eq!(l.judge_final("a", None), Judgement::Absent);
    l.acked("a", s1);
    assert_eq!(
        l.judge_read("a", l.floor("a"), None),
        Judgement::Stale { got: 0, floor: 1 }
    );
    assert_eq!(
        l.judge_final("a", None),
        Judgement::Lost { got: 0, want: 1 }
    );
    let s = l.stats();
    assert_eq!((s.stale_reads, s.lost), (1, 1));
}

#[test]
fn the_final_check_counts_older_data_as_a_lost_write() {
    let mut l = ledger();
    let v = acked(&mut l, "a", 2);
    assert_eq!(
        l.judge_final("a", Some(&v[0])),
        Judgement::Lost { got: 1, want: 2 }
    );
    assert_eq!(l.judge_final("a", Some(&v[1])), Judgement::Ok { seq: 2 });
    assert_eq!(l.stats().lost, 1);
}

#[test]
fn bookkeeping_lists_acked_names_in_flight_writes_and_frozen_names() {
    let mut l = ledger();
    acked(&mut l, "b", 1);
    acked(&mut l, "a", 1);
    let _ = l.begin_write("c");
    assert_eq!(l.acked_names(), ["a", "b"]);
    assert!(l.writing("c"));
    assert!(!l.writing("a"));
    assert!(!l.is_frozen("a"));
    l.freeze("a");
    assert!(l.is_frozen("a"));
    assert_eq!(l.stats().acked, 2);
}

#[test]
fn an_acked_object_unreadable_after_recovery_counts_as_lost() {
    let mut l = ledger();
    acked(&mut l, "a", 1);
    l.unreadable("a", "timed out");
    let _ = l.begin_write("b");
    l.unreadable("b", "timed out");
    assert_eq!(l.stats().lost, 1);
    assert_eq!(l.errors().len(), 2);
}
