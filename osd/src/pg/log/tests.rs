use super::*;
use placement::Epoch;

fn v(epoch: u64, seq: u64) -> Version {
    Version {
        epoch: Epoch(epoch),
        seq,
    }
}

fn entry(version: Version, object: &str) -> LogEntry {
    LogEntry {
        version,
        object: object.into(),
        op: LogOp::Modify,
        crc: None,
        reqid: Some(ReqId {
            client: 1,
            tid: version.seq,
        }),
    }
}

fn log_of(entries: &[(Version, &str)]) -> PgLog {
    let mut log = PgLog::new(LogLimits::default());
    for (version, object) in entries {
        log.append(entry(*version, object));
    }
    log
}

#[test]
fn a_member_behind_lacks_exactly_the_newer_entries() {
    let auth = log_of(&[(v(1, 1), "a"), (v(1, 2), "b"), (v(2, 3), "c")]);
    let behind = log_of(&[(v(1, 1), "a")]);
    assert_eq!(
        behind.divergence(&auth),
        Divergence::Overlap {
            common: v(1, 1),
            objects: vec!["b".into(), "c".into()]
        }
    );
    assert_eq!(
        auth.divergence(&auth),
        Divergence::Overlap {
            common: v(2, 3),
            objects: vec![]
        }
    );
}

#[test]
fn divergent_entries_are_reverted_too() {
    let auth = log_of(&[(v(1, 1), "a"), (v(3, 2), "c")]);
    // Applied (2,2) on "x" from a primary that died before anyone else had it.
    let member = log_of(&[(v(1, 1), "a"), (v(2, 2), "x")]);
    assert_eq!(
        member.divergence(&auth),
        Divergence::Overlap {
            common: v(1, 1),
            objects: vec!["c".into(), "x".into()]
        }
    );
    // Two histories from an empty start still share the empty point.
    let other = log_of(&[(v(4, 1), "y")]);
    assert_eq!(
        other.divergence(&log_of(&[(v(5, 1), "z")])),
        Divergence::Overlap {
            common: Version::ZERO,
            objects: vec!["y".into(), "z".into()]
        }
    );
}

#[test]
fn a_member_older_than_the_trimmed_log_needs_backfill() {
    let mut auth = PgLog::new(LogLimits {
        entries: 4,
        dups: 100,
    });
    for seq in 1..=10 {
        auth.append(entry(v(1, seq), "a"));
    }
    assert!(auth.tail() > Version::ZERO);
    assert!(auth.len() <= 5);
    let old = log_of(&[(v(1, 1), "a")]);
    assert_eq!(old.divergence(&auth), Divergence::Disjoint);
    // A trimmed write's request id is still recognised.
    assert_eq!(auth.find_reqid(ReqId { client: 1, tid: 1 }), Some(v(1, 1)));
}

#[test]
fn resent_requests_are_found_by_reqid() {
    let log = log_of(&[(v(1, 1), "a"), (v(1, 2), "b")]);
    assert_eq!(log.find_reqid(ReqId { client: 1, tid: 2 }), Some(v(1, 2)));
    assert_eq!(log.find_reqid(ReqId { client: 2, tid: 2 }), None);
}

#[test]
fn a_sealed_log_keeps_reqids_and_makes_older_members_disjoint() {
    let mut log = log_of(&[(v(1, 1), "a"), (v(1, 2), "a"), (v(1, 3), "a")]);
    let mut member = log.clone();
    member.append(entry(v(1, 4), "b"));
    log.seal(v(1, 9));
    assert_eq!((log.tail(), log.head(), log.len()), (v(1, 9), v(1, 9), 0));
    assert_eq!(
        log.find_reqid(ReqId { client: 1, tid: 2 }),
        Some(v(1, 2)),
        "trimmed entries keep answering resends"
    );
    // A member whose log stops short of the seal is compared by listing.
    assert_eq!(member.divergence(&log), Divergence::Disjoint);
    // Sealing below the head keeps the head.
    log.seal(v(1, 5));
    assert_eq!(log.tail(), v(1, 9));
}
