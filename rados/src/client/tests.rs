//! Unit tests of the client's pure rules: routing, retry classification, backoff, map
//! updates and listing pagination. The shell is tested over loopback in
//! `rados/tests/client.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use placement::synth::{self, Shape};
use placement::{
    Change, ClusterMap, DomainType, Epoch, Fsid, MapError, OsdId, PgId, Placement, PoolId, PoolKind,
};

use super::error::{ClientError, RetryCause};
use super::list::{LIST_BATCH, ListCursor, ListPager};
use super::rules::{self, Backoff, Locate, RouteError, Verdict};
use crate::error::CallError;
use crate::proto::mon::MapUpdate;
use crate::proto::osd::{ObjectStat, OsdError, Version};
use crate::rpc::WireError;

fn addr(osd: u32) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + osd as u16))
}

/// 3 hosts x 2 OSDs, all up with addresses, and a size-3 pool of 16 PGs.
fn cluster() -> (ClusterMap, PoolId) {
    let mut map = synth::map(Shape {
        zones: 1,
        hosts: 3,
        osds_per_host: 2,
    });
    let ups = (0..6)
        .map(|id| Change::OsdUp {
            id: OsdId(id),
            addr: addr(id),
        })
        .collect();
    let inc = map.next_incremental(ups);
    map.apply(&inc).unwrap();
    let pool = synth::add_pool(
        &mut map,
        PoolKind::Replicated {
            size: 3,
            min_size: 2,
        },
        16,
        DomainType::Host,
    )
    .unwrap();
    (map, pool)
}

fn change(map: &mut ClusterMap, changes: Vec<Change>) {
    let inc = map.next_incremental(changes);
    map.apply(&inc).unwrap();
}

fn route(map: &ClusterMap, pool: PoolId, locate: Locate<'_>) -> Result<rules::Target, RouteError> {
    rules::route(map, &Placement::new(map), pool, locate)
}

#[test]
fn routes_to_the_primary_and_its_address() {
    let (map, pool) = cluster();
    let placement = Placement::new(&map);
    for name in ["a", "b", "object-42", ""] {
        let placed = placement.map_object(pool, name.as_bytes()).unwrap();
        let target = route(&map, pool, Locate::Object(name)).unwrap();
        assert_eq!(target.pg, placed.pg);
        assert_eq!(Some(target.osd), placed.primary);
        assert_eq!(target.addr, addr(target.osd.0));
    }
    let target = route(&map, pool, Locate::Pg(5)).unwrap();
    assert_eq!(target.pg, PgId { pool, seed: 5 });
}

#[test]
fn an_attempt_is_abandoned_only_when_a_newer_map_routes_elsewhere() {
    let (mut map, pool) = cluster();
    let first = route(&map, pool, Locate::Pg(3)).unwrap().osd;
    let moved =
        |map: &ClusterMap| rules::moved(map, &Placement::new(map), pool, Locate::Pg(3), first);
    // An unrelated change keeps it going.
    let other = (0..6).map(OsdId).find(|o| *o != first).unwrap();
    change(&mut map, vec![Change::OsdDown(other)]);
    assert_eq!(
        route(&map, pool, Locate::Pg(3)).unwrap().osd == first,
        !moved(&map)
    );
    change(
        &mut map,
        vec![Change::OsdUp {
            id: other,
            addr: addr(other.0),
        }],
    );
    assert!(!moved(&map));
    // Its primary marked down: abandon it.
    change(&mut map, vec![Change::OsdDown(first)]);
    assert!(moved(&map));
}

#[test]
fn routing_follows_the_map() {
    let (mut map, pool) = cluster();
    let pg = PgId { pool, seed: 3 };
    let first = route(&map, pool, Locate::Pg(3)).unwrap().osd;

    // The primary goes down: the next OSD of the acting set takes over.
    change(&mut map, vec![Change::OsdDown(first)]);
    let second = route(&map, pool, Locate::Pg(3)).unwrap().osd;
    assert_ne!(second, first);

    // pg_temp names the primary outright.
    let other = (0..6)
        .map(OsdId)
        .find(|o| *o != first && *o != second)
        .unwrap();
    change(
        &mut map,
        vec![Change::PgTempSet {
            pg,
            osds: vec![Some(other), Some(second)],
        }],
    );
    assert_eq!(route(&map, pool, Locate::Pg(3)).unwrap().osd, other);
}

#[test]
fn unroutable_ops_say_why() {
    let (mut map, pool) = cluster();
    assert!(matches!(
        route(&map, PoolId(99), Locate::Object("x")),
        Err(RouteError::NoSuchPool)
    ));
    assert!(matches!(
        route(&map, pool, Locate::Pg(16)),
        Err(RouteError::NoSuchPool)
    ));

    // A primary without an address.
    let osd = route(&map, pool, Locate::Pg(0)).unwrap().osd;
    let mut no_addr = map.clone();
    no_addr.osds.get_mut(&osd).unwrap().addr = None;
    assert!(matches!(
        route(&no_addr, pool, Locate::Pg(0)),
        Err(RouteError::Retry(RetryCause::NoAddress(o))) if o == osd
    ));

    // Every OSD down: no primary.
    change(
        &mut map,
        (0..6).map(|i| Change::OsdDown(OsdId(i))).collect(),
    );
    assert!(matches!(
        route(&map, pool, Locate::Pg(0)),
        Err(RouteError::Retry(RetryCause::NoPrimary(pg))) if pg == PgId { pool, seed: 0 }
    ));
}

#[test]
fn judge_retries_only_what_a_retry_can_fix() {
    let peer = addr(1);
    let epoch = Epoch(9);
    let retry = |outcome: Result<Result<(), OsdError>, CallError>| {
        matches!(rules::judge(outcome), Verdict::Retry(_))
    };
    assert!(matches!(rules::judge::<u8>(Ok(Ok(7))), Verdict::Done(7)));
    // Retried: the OSD says so, or no answer came.
    for e in [
        OsdError::NotPrimary {
            pg: "1.0".into(),
            epoch,
        },
        OsdError::Unavailable {
            pg: "1.0".into(),
            state: "peering".into(),
        },
        OsdError::NoSuchPool,
    ] {
        assert!(retry(Ok(Err(e.clone()))), "{e:?}");
    }
    for e in [
        CallError::Timeout {
            peer,
            after: Duration::from_secs(1),
        },
        CallError::Unreachable {
            peer,
            reason: "down".into(),
        },
        CallError::ConnectionLost {
            peer,
            reason: "reset".into(),
        },
    ] {
        assert!(retry(Err(e.clone())), "{e:?}");
    }
    // Final: answers about the object, and transport failures that will not change.
    for e in [
        OsdError::NoSuchObject,
        OsdError::GuardFailed("version".into()),
        OsdError::Invalid("mixed".into()),
        OsdError::Corrupt("crc".into()),
        OsdError::Io("disk".into()),
    ] {
        match rules::judge::<()>(Ok(Err(e.clone()))) {
            Verdict::Fail(ClientError::Osd(got)) => assert_eq!(got, e),
            other => panic!("{e:?}: {other:?}"),
        }
    }
    for e in [
        CallError::Refused {
            peer,
            reason: "bad certificate".into(),
        },
        CallError::Remote {
            peer,
            error: WireError::UnknownMethod(200),
        },
        CallError::Encode("too big".into()),
    ] {
        assert!(
            matches!(
                rules::judge::<()>(Err(e.clone())),
                Verdict::Fail(ClientError::Call(_))
            ),
            "{e:?}"
        );
    }
}

#[test]
fn backoff_doubles_to_its_cap() {
    let mut b = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    let waits: Vec<u128> = (0..7).map(|_| b.next_wait().as_millis()).collect();
    assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);
    let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
    assert_eq!(b.next_wait(), Duration::from_secs(1));
}

#[test]
fn map_updates_apply_once_and_in_order() {
    let (base, _) = cluster();
    let mut later = base.clone();
    let mut incs = Vec::new();
    for id in 0..3 {
        let inc = later.next_incremental(vec![Change::OsdDown(OsdId(id))]);
        later.apply(&inc).unwrap();
        incs.push(inc);
    }
    let up_to = |map: &ClusterMap, update| rules::apply_update(map, update).unwrap();

    assert_eq!(up_to(&base, MapUpdate::UpToDate(base.epoch)), None);
    assert_eq!(
        up_to(&base, MapUpdate::Incrementals(incs.clone())),
        Some(later.clone())
    );
    // Incrementals we already hold are skipped (a refresh raced the subscription).
    let mut mid = base.clone();
    mid.apply(&incs[0]).unwrap();
    assert_eq!(
        up_to(&mid, MapUpdate::Incrementals(incs.clone())),
        Some(later.clone())
    );
    assert_eq!(up_to(&later, MapUpdate::Incrementals(incs.clone())), None);
    // A gap is an error: the caller fetches the full map.
    assert!(matches!(
        rules::apply_update(&base, MapUpdate::Incrementals(incs[1..].to_vec())),
        Err(MapError::EpochGap { .. })
    ));
    // Full maps: only newer ones, only of our cluster.
    assert_eq!(
        up_to(&base, MapUpdate::Full(Box::new(later.clone()))),
        Some(later.clone())
    );
    assert_eq!(up_to(&later, MapUpdate::Full(Box::new(base.clone()))), None);
    let mut stranger = later.clone();
    stranger.fsid = Fsid([1; 16]);
    assert!(matches!(
        rules::apply_update(&base, MapUpdate::Full(Box::new(stranger))),
        Err(MapError::FsidMismatch { .. })
    ));
}

// ----- listing -----

fn stat(n: u64) -> ObjectStat {
    ObjectStat {
        size: n,
        version: Version::ZERO,
        crc: 0,
    }
}

/// A pool's objects by PG seed, each PG in name order.
type Pgs = Vec<BTreeMap<String, ObjectStat>>;

fn pool_of(counts: &[usize]) -> Pgs {
    counts
        .iter()
        .enumerate()
        .map(|(seed, &n)| {
            (0..n)
                .map(|i| (format!("pg{seed}-obj{i:05}"), stat(i as u64)))
                .collect()
        })
        .collect()
}

/// What a well-behaved OSD answers to `ListObjects`.
fn list_pg(
    pgs: &Pgs,
    seed: u32,
    start_after: Option<&str>,
    limit: u32,
) -> Vec<(String, ObjectStat)> {
    pgs[seed as usize]
        .iter()
        .filter(|(name, _)| start_after.is_none_or(|a| name.as_str() > a))
        .take(limit as usize)
        .map(|(n, s)| (n.clone(), *s))
        .collect()
}

/// One page, answered by `lister`; also returns how many PG requests it took.
fn page(
    pg_num: u32,
    cursor: Option<ListCursor>,
    limit: u32,
    mut lister: impl FnMut(u32, Option<&str>, u32) -> Vec<(String, ObjectStat)>,
) -> (Vec<(String, ObjectStat)>, Option<ListCursor>, usize) {
    let mut pager = ListPager::new(pg_num, cursor, limit);
    let mut requests = 0;
    while let Some(req) = pager.poll_request() {
        requests += 1;
        assert!(requests < 100_000, "listing does not terminate");
        assert!(req.limit >= 1 && req.limit <= LIST_BATCH);
        pager.handle_page(lister(req.seed, req.start_after.as_deref(), req.limit));
    }
    let (items, next) = pager.finish();
    (items, next, requests)
}

/// Lists the whole pool in pages of `limit`: every object once, in (PG, name) order, and
/// no page longer than asked.
fn check(counts: &[usize], limit: u32) {
    let pgs = pool_of(counts);
    let want: Vec<String> = pgs.iter().flat_map(|pg| pg.keys().cloned()).collect();
    let mut got = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let (items, next, _) = page(counts.len() as u32, cursor, limit, |s, a, l| {
            list_pg(&pgs, s, a, l)
        });
        assert!(items.len() <= limit.max(1) as usize);
        got.extend(items.into_iter().map(|(n, _)| n));
        pages += 1;
        assert!(pages <= want.len() + counts.len() + 1, "too many pages");
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(got, want, "counts {counts:?} limit {limit}");
}

#[test]
fn listing_visits_every_object_once_in_order() {
    for counts in [
        &[][..],
        &[0, 0, 0],
        &[5],
        &[3, 0, 7, 1],
        &[0, 10, 0, 0, 10, 0],
        &[2500, 1, 0, 1001],
    ] {
        for limit in [0, 1, 2, 3, 7, 10, 999, 1000, 1001, 5000] {
            check(counts, limit);
        }
    }
}

#[test]
fn a_page_spans_pgs_and_its_cursor_resumes_mid_pg() {
    let pgs = pool_of(&[2, 0, 3]);
    let lister = |s, a: Option<&str>, l| list_pg(&pgs, s, a, l);
    let (items, next, requests) = page(3, None, 4, lister);
    let names: Vec<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "pg0-obj00000",
            "pg0-obj00001",
            "pg2-obj00000",
            "pg2-obj00001"
        ]
    );
    assert_eq!(requests, 3);
    assert_eq!(
        next,
        Some(ListCursor {
            seed: 2,
            after: Some("pg2-obj00001".into())
        })
    );
    let (items, next, _) = page(3, next, 4, lister);
    assert_eq!(items.len(), 1);
    assert_eq!(next, None);
    // A cursor past the pool's PGs (it shrank) lists nothing and ends.
    let beyond = Some(ListCursor {
        seed: 9,
        after: None,
    });
    assert_eq!(page(3, beyond, 4, lister).1, None);
}

#[test]
fn large_pages_are_asked_in_batches() {
    let pgs = pool_of(&[2500]);
    let (items, next, requests) = page(1, None, 3000, |s, a, l| list_pg(&pgs, s, a, l));
    assert_eq!(items.len(), 2500);
    assert_eq!(next, None);
    assert_eq!(requests, 3); // 1000 + 1000 + 500 (short: the PG is done)
}

#[test]
fn a_misbehaving_osd_cannot_stall_or_overflow_a_listing() {
    let pgs = pool_of(&[50, 50]);
    // Ignores start_after and limit: answers the whole PG every time.
    let (items, next, _) = page(2, None, 30, |s, _, _| list_pg(&pgs, s, None, u32::MAX));
    assert_eq!(items.len(), 30);
    let (items, next, _) = page(2, next, 1000, |s, _, _| list_pg(&pgs, s, None, u32::MAX));
    // The rest of PG 0 (names after the cursor), then all of PG 1.
    assert_eq!(items.len(), 70);
    assert_eq!(next, None);
}
