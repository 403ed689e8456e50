use std::time::Duration;

use placement::{Epoch, OsdId, PgId, PoolId};
use rados::proto::osd::{ScrubKind, ScrubProblem, Version};

use super::*;

fn v(seq: u64) -> Version {
    Version {
        epoch: Epoch(3),
        seq,
    }
}

/// A clean copy of `name` at version `seq` with `data`'s crc, as a deep scrub reports it.
fn entry(name: &str, seq: u64, data: &[u8]) -> ScrubEntry {
    let crc = crc32c::crc32c(data);
    ScrubEntry {
        name: name.into(),
        size: data.len() as u64,
        version: v(seq),
        crc,
        stored: crc,
        xattrs: 0,
        deep: Some(DeepEntry {
            data: Ok(crc),
            omap: 0,
        }),
    }
}

fn page(entries: Vec<ScrubEntry>) -> MemberPage {
    MemberPage {
        head: v(9),
        entries,
        truncated: false,
    }
}

/// Members 0 (primary), 1, 2 with the given pages.
fn members(pages: Vec<MemberPage>) -> Vec<(OsdId, MemberPage)> {
    pages
        .into_iter()
        .enumerate()
        .map(|(i, p)| (OsdId(i as u32), p))
        .collect()
}

/// One finding as `(object, authority, [(bad osd, problems)])`.
type Seen = (String, Option<u32>, Vec<(u32, Vec<ScrubProblem>)>);

/// Each finding of comparing `pages` (member `i` is `OsdId(i)`).
fn check(pages: Vec<MemberPage>) -> Vec<Seen> {
    compare_page(&members(pages), None)
        .into_iter()
        .map(|f| {
            (
                f.report.name,
                f.report.authority.map(|o| o.0),
                f.report
                    .bad
                    .into_iter()
                    .map(|b| (b.osd.0, b.problems))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn identical_copies_have_no_findings() {
    let p = || page(vec![entry("a", 1, b"x"), entry("b", 2, b"yy")]);
    assert!(check(vec![p(), p(), p()]).is_empty());
}

#[test]
fn a_corrupt_replica_is_bad_and_the_primary_is_the_authority() {
    let mut rotten = entry("a", 1, b"hello");
    rotten.deep = Some(DeepEntry {
        data: Err(0),
        omap: 0,
    });
    let good = entry("a", 1, b"hello");
    let found = check(vec![
        page(vec![good.clone()]),
        page(vec![rotten]),
        page(vec![good]),
    ]);
    assert_eq!(
        found,
        [(
            "a".into(),
            Some(0),
            vec![(1, vec![ScrubProblem::ReadError { block: 0 }])]
        )]
    );
}

#[test]
fn a_corrupt_primary_is_outvoted_and_a_replica_is_the_authority() {
    let mut rotten = entry("a", 1, b"hello");
    let stored = rotten.crc;
    rotten.deep = Some(DeepEntry {
        data: Ok(stored ^ 1),
        omap: 0,
    });
    let good = entry("a", 1, b"hello");
    let findings = compare_page(
        &members(vec![
            page(vec![rotten]),
            page(vec![good.clone()]),
            page(vec![good.clone()]),
        ]),
        None,
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].report.authority, Some(OsdId(1)));
    assert_eq!(findings[0].report.version, Some(v(1)));
    assert_eq!(findings[0].auth.as_ref(), Some(&good));
    assert_eq!(
        findings[0].report.bad[0].problems,
        [ScrubProblem::DataCrc {
            computed: stored ^ 1,
            stored
        }]
    );
}

#[test]
fn missing_stale_and_unexpected_copies_are_named() {
    let found = check(vec![
        page(vec![entry("a", 5, b"new"), entry("b", 1, b"b")]),
        page(vec![entry("a", 4, b"old!"), entry("b", 1, b"b")]),
        page(vec![entry("a", 5, b"new"), entry("c", 2, b"zz")]),
    ]);
    assert_eq!(
        found,
        [
            (
                "a".into(),
                Some(0),
                vec![(
                    1,
                    vec![
                        ScrubProblem::Size { have: 4, want: 3 },
                        ScrubProblem::Version {
                            have: v(4),
                            want: v(5)
                        },
                        ScrubProblem::StoredCrc {
                            have: crc32c::crc32c(b"old!"),
                            want: crc32c::crc32c(b"new")
                        },
                    ]
                )]
            ),
            ("b".into(), Some(0), vec![(2, vec![ScrubProblem::Missing])]),
            (
                "c".into(),
                Some(0),
                vec![(2, vec![ScrubProblem::Unexpected])]
            ),
        ]
    );
}

#[test]
fn ties_go_to_the_primary_and_xattr_and_omap_differences_count() {
    let mut other = entry("a", 1, b"x");
    other.xattrs = 7;
    other.deep = Some(DeepEntry {
        data: Ok(other.crc),
        omap: 9,
    });
    let found = check(vec![page(vec![entry("a", 1, b"x")]), page(vec![other])]);
    assert_eq!(
        found,
        [(
            "a".into(),
            Some(0),
            vec![(1, vec![ScrubProblem::Xattrs, ScrubProblem::Omap])]
        )]
    );
}

#[test]
fn no_clean_copy_means_no_authority() {
    let mut rotten = entry("a", 1, b"x");
    rotten.deep = Some(DeepEntry {
        data: Err(0),
        omap: 0,
    });
    let found = compare_page(
        &members(vec![page(vec![rotten.clone()]), page(vec![rotten])]),
        None,
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].report.authority, None);
    assert_eq!(found[0].auth, None);
    assert_eq!(found[0].errors(), 2);
}

#[test]
fn light_scrub_compares_metadata_only() {
    let light = |e: ScrubEntry| ScrubEntry { deep: None, ..e };
    // Silent corruption is invisible without reading data...
    let a = light(entry("a", 1, b"x"));
    assert!(check(vec![page(vec![a.clone()]), page(vec![a.clone()])]).is_empty());
    // ...but a size difference is not.
    let b = light(entry("a", 1, b"xx"));
    let found = check(vec![page(vec![a.clone()]), page(vec![a]), page(vec![b])]);
    assert_eq!(found[0].2[0].0, 2);
    assert!(matches!(
        found[0].2[0].1[0],
        ScrubProblem::Size { have: 2, want: 1 }
    ));
}

#[test]
fn pages_end_at_the_smallest_truncation_and_later_entries_wait() {
    let names = |ns: &[&str]| ns.iter().map(|n| entry(n, 1, b"x")).collect::<Vec<_>>();
    let mut short = page(names(&["a", "b"]));
    short.truncated = true;
    let full = page(names(&["a", "b", "c"]));
    let pages = members(vec![full.clone(), short, full]);
    let end = page_end(&pages);
    assert_eq!(end.as_deref(), Some("b"));
    // "c" is beyond the page: member 1 did not report that far, so it is not missing.
    assert!(compare_page(&pages, end.as_deref()).is_empty());
    assert_eq!(page_end(&members(vec![page(vec![])])), None);
}

#[test]
fn heads_must_agree() {
    let a = page(vec![]);
    let mut b = page(vec![]);
    assert!(heads_agree(&members(vec![a.clone(), b.clone()])));
    b.head = v(10);
    assert!(!heads_agree(&members(vec![a, b])));
}

#[test]
fn schedule_spreads_first_scrubs_and_respects_flags() {
    let config = ScrubConfig {
        interval: Duration::from_secs(100),
        deep_interval: Duration::from_secs(1000),
        auto_repair: false,
    };
    let mut s = Schedule::new(config, 7);
    let pgs: Vec<PgId> = (0..20)
        .map(|seed| PgId {
            pool: PoolId(1),
            seed,
        })
        .collect();
    let t = Duration::from_secs;
    for pg in &pgs {
        assert_eq!(s.due(*pg, t(0), true, true), None, "first sight schedules");
    }
    // Nothing before one interval, everything after 1.5 intervals, and not all at once.
    assert!(pgs.iter().all(|pg| s.due(*pg, t(99), true, true).is_none()));
    let at_120 = pgs
        .iter()
        .filter(|pg| s.due(**pg, t(120), true, true).is_some())
        .count();
    assert!(at_120 > 0 && at_120 < pgs.len(), "spread: {at_120}");
    assert!(
        pgs.iter()
            .all(|pg| s.due(*pg, t(150), true, true) == Some(ScrubKind::Light))
    );
    assert!(
        pgs.iter()
            .all(|pg| s.due(*pg, t(150), false, true).is_none()),
        "noscrub"
    );
    assert_eq!(s.due(pgs[0], t(1500), true, true), Some(ScrubKind::Deep));
    assert_eq!(s.due(pgs[0], t(1500), true, false), Some(ScrubKind::Light));
    s.done(pgs[0], ScrubKind::Deep, t(1500));
    assert_eq!(
        s.due(pgs[0], t(1550), true, true),
        None,
        "deep covers light"
    );
    s.retain(|pg| pg != pgs[0]);
    assert_eq!(
        s.due(pgs[0], t(1550), true, true),
        None,
        "rescheduled afresh"
    );
}

#[test]
fn requests_collapse_to_the_strongest() {
    assert_eq!(stronger(None, ScrubKind::Light), ScrubKind::Light);
    assert_eq!(
        stronger(Some(ScrubKind::Repair), ScrubKind::Deep),
        ScrubKind::Repair
    );
    assert_eq!(
        stronger(Some(ScrubKind::Light), ScrubKind::Deep),
        ScrubKind::Deep
    );
}
