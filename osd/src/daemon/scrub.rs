//! Scrub, repair and read repair: the shell around [`crate::pg::scrub`].
//!
//! The primary of a PG runs one scrub at a time per PG (requests queue and collapse into
//! the strongest kind). It pages through the PG in name order: for each page it blocks
//! client writes to the PG (the PG's write gate, which every client write holds for reading
//! until all members committed it), asks every acting member for its [`ScrubMap`] page
//! (itself through its own store), retries until the members' log heads agree, compares,
//! and, for a repair, rewrites the bad copies of that page before letting writes in again.
//! Memory is one page per member plus one object at a time.
//!
//! Results live in memory on the primary ([`Scrubs`]): the beacon carries the PG's error
//! count and state flags, `shoal pg list-inconsistent` reads the list.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use placement::{Flag, OsdId, PgId};
use rados::proto::osd::{
    GetScrubStatus, MAX_REPORTED_OBJECTS, OsdError, ScrubKind, ScrubRequest, ScrubStatus,
};
use tracing::{info, warn};

use super::peer::{FetchObject, RepairObject, ScrubMap};
use super::pg_task::read_copy;
use super::repair::{ScrubError, apply_copy, install};
use super::routing;
use super::shared::Shared;
use crate::pg::scrub::{
    Finding, MemberPage, ScrubEntry, compare_page, heads_agree, page_end, stronger,
};
use crate::pg::{ObjectCopy, PgState};
use crate::store::{ObjectKey, Store};

/// Objects per page of a light scrub.
const LIGHT_PAGE: u32 = 512;
/// Objects per page of a deep scrub.
const DEEP_PAGE: u32 = 64;
/// Data bytes a member reads for one deep page (after at least one object).
const DEEP_PAGE_BYTES: u64 = 16 << 20;
/// Attempts to read a page at one log head before the scrub gives up.
const HEAD_RETRIES: u32 = 50;
/// How often the scheduler looks for PGs that are due.
const SCHEDULER_TICK: Duration = Duration::from_secs(1);

/// This OSD's view of a PG it must be the active primary of: the acting set.
fn active_primary(shared: &Shared, pg: PgId) -> Result<Vec<OsdId>, OsdError> {
    let (_, handle) = routing::active_primary(shared, pg, &shared.map())?;
    let snap = handle.snapshot();
    Ok(snap
        .mapping
        .as_ref()
        .map(|m| m.acting.clone())
        .unwrap_or_default())
}

/// The PG's erasure-coded layout and shard holders, if it is erasure-coded.
fn erasure(shared: &Shared, pg: PgId) -> Option<crate::pg::types::EcMapping> {
    let handle = shared.pg(pg)?;
    let snap = handle.snapshot();
    snap.mapping.as_ref()?.ec.clone()
}

/// Serves [`ScrubRequest`]: queues the scrub and answers with its ticket.
pub fn serve_request(shared: &Arc<Shared>, req: ScrubRequest) -> Result<u64, OsdError> {
    active_primary(shared, req.pg)?;
    Ok(enqueue(shared, req.pg, req.kind))
}

/// Serves [`GetScrubStatus`].
pub fn serve_status(shared: &Shared, req: GetScrubStatus) -> Result<ScrubStatus, OsdError> {
    active_primary(shared, req.pg)?;
    let pgs = shared.scrub.pgs.lock().expect("scrub lock");
    Ok(pgs
        .get(&req.pg)
        .map(|s| s.status.clone())
        .unwrap_or_default())
}

/// Queues a scrub of `kind` and starts the PG's runner if none runs; returns the ticket.
fn enqueue(shared: &Arc<Shared>, pg: PgId, kind: ScrubKind) -> u64 {
    let mut pgs = shared.scrub.pgs.lock().expect("scrub lock");
    let s = pgs.entry(pg).or_default();
    s.queued = Some(stronger(s.queued, kind));
    s.requested += 1;
    let ticket = s.requested;
    if !s.runner {
        s.runner = true;
        tokio::spawn(runner(shared.clone(), pg));
    }
    ticket
}

/// Serves a PG's scrub queue until it is empty.
async fn runner(shared: Arc<Shared>, pg: PgId) {
    loop {
        let (kind, covers) = {
            let mut pgs = shared.scrub.pgs.lock().expect("scrub lock");
            let s = pgs.entry(pg).or_default();
            let Some(kind) = s.queued.take() else {
                s.runner = false;
                return;
            };
            s.status.running = Some(kind);
            (kind, s.requested)
        };
        info!(%pg, %kind, "scrub starting");
        let outcome = match kind {
            ScrubKind::Light => scrub(&shared, pg, false, false).await,
            ScrubKind::Deep => scrub(&shared, pg, true, false).await,
            // Repair, then look again: the recorded result is what is left.
            ScrubKind::Repair => match scrub(&shared, pg, true, true).await {
                Ok(_) => scrub(&shared, pg, true, false).await,
                Err(e) => Err(e),
            },
        };
        let auto_repair = {
            let mut pgs = shared.scrub.pgs.lock().expect("scrub lock");
            let s = pgs.entry(pg).or_default();
            s.status.running = None;
            s.status.completed = covers;
            match outcome {
                Ok(found) => {
                    s.status.last = Some(kind);
                    s.status.aborted = None;
                    s.status.errors = found.errors;
                    s.status.inconsistent = found.objects;
                    info!(%pg, %kind, errors = found.errors, "scrub done");
                    shared.scrub.schedule.lock().expect("schedule lock").done(
                        pg,
                        kind,
                        shared.scrub.now(),
                    );
                    kind != ScrubKind::Repair && found.errors > 0 && shared.scrub.config.auto_repair
                }
                Err(why) => {
                    warn!(%pg, %kind, %why, "scrub stopped");
                    s.status.aborted = Some(why.to_string());
                    false
                }
            }
        };
        if auto_repair {
            info!(%pg, "auto-repair after scrub errors");
            enqueue(&shared, pg, ScrubKind::Repair);
        }
    }
}

/// What a whole-PG pass found.
struct Found {
    errors: u64,
    objects: Vec<rados::proto::osd::InconsistentObject>,
}

/// One pass over the PG; with `repair`, bad copies with an authority are rewritten and
/// not counted (the caller scrubs again to confirm).
async fn scrub(
    shared: &Arc<Shared>,
    pg: PgId,
    deep: bool,
    repair: bool,
) -> Result<Found, ScrubError> {
    let mut found = Found {
        errors: 0,
        objects: Vec::new(),
    };
    let mut cursor: Option<String> = None;
    loop {
        let gate = shared.scrub.gate(pg);
        let _writes_blocked = gate.write().await;
        let members = active_primary(shared, pg).map_err(ScrubError::here(shared))?;
        let pages = gather(shared, pg, &members, cursor.as_deref(), deep).await?;
        let end = page_end(&pages);
        let mut findings = compare_page(&pages, end.as_deref());
        let ec = erasure(shared, pg);
        if let Some(ec) = ec.as_ref().filter(|_| deep) {
            let more =
                super::ec_scrub::deep_page(shared, ec, pg, &pages, end.as_deref(), &findings);
            findings.extend(more.await?);
        }
        for finding in findings {
            if repair && finding.report.authority.is_some() {
                let repaired = match &ec {
                    Some(ec) => super::ec_scrub::repair_object(shared, ec, pg, &finding).await,
                    None => repair_object(shared, pg, &finding).await,
                };
                match repaired {
                    Ok(()) => continue,
                    Err(e) => {
                        warn!(%pg, object = %finding.report.name, error = %e, "repair failed")
                    }
                }
            }
            found.errors += finding.errors();
            if found.objects.len() < MAX_REPORTED_OBJECTS {
                found.objects.push(finding.report);
            }
        }
        match end {
            Some(end) => cursor = Some(end),
            None => return Ok(found),
        }
    }
}

/// Every member's page after `cursor`, read at one log head (primary first).
async fn gather(
    shared: &Arc<Shared>,
    pg: PgId,
    members: &[OsdId],
    cursor: Option<&str>,
    deep: bool,
) -> Result<Vec<(OsdId, MemberPage)>, ScrubError> {
    let req = ScrubMap {
        pg,
        start_after: cursor.map(str::to_owned),
        limit: if deep { DEEP_PAGE } else { LIGHT_PAGE },
        deep,
    };
    for _ in 0..HEAD_RETRIES {
        let tasks: Vec<_> = members
            .iter()
            .map(|osd| {
                let (shared, req, osd) = (shared.clone(), req.clone(), *osd);
                tokio::spawn(async move { (osd, member_page(&shared, osd, req).await) })
            })
            .collect();
        let mut pages = Vec::with_capacity(tasks.len());
        for t in tasks {
            let (osd, page) = t.await?;
            pages.push((osd, page?));
        }
        if heads_agree(&pages) {
            return Ok(pages);
        }
        // A write whose client gave up may still be committing on some member.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(ScrubError::HeadsDiffer)
}

/// One member's page: from the local store, or over the messenger.
async fn member_page(
    shared: &Arc<Shared>,
    osd: OsdId,
    req: ScrubMap,
) -> Result<MemberPage, ScrubError> {
    if osd == shared.id {
        return local_page(&shared.store, req)
            .await
            .map_err(ScrubError::here(shared));
    }
    let addr = shared.addr_of(osd).ok_or(ScrubError::NoAddress(osd))?;
    match shared.messenger.call(addr, &req).await {
        Ok(reply) => reply.map_err(|source| ScrubError::Member { osd, source }),
        Err(source) => Err(ScrubError::Unreachable { osd, source }),
    }
}

/// Serves [`ScrubMap`] from this OSD's store (any PG it holds; the primary compares log
/// heads, so a stale answer is never compared).
pub async fn serve_scrub_map(shared: Arc<Shared>, req: ScrubMap) -> Result<MemberPage, OsdError> {
    local_page(&shared.store, req).await
}

async fn local_page(store: &Store, req: ScrubMap) -> Result<MemberPage, OsdError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let read = store
            .scrub_page(
                req.pg,
                req.start_after.as_deref(),
                req.limit.clamp(1, 4096) as usize,
                req.deep,
                DEEP_PAGE_BYTES,
            )
            .map_err(|e| OsdError::Io(e.to_string()))?;
        Ok(MemberPage {
            head: read.head,
            entries: read.items.iter().map(ScrubEntry::of).collect(),
            truncated: read.truncated,
        })
    })
    .await
    .map_err(|e| OsdError::Io(e.to_string()))?
}

/// Rewrites every bad copy of one object from its authority (or removes it, if the
/// authority has no such object). Runs with client writes to the PG blocked.
async fn repair_object(shared: &Arc<Shared>, pg: PgId, f: &Finding) -> Result<(), ScrubError> {
    let name = &f.report.name;
    let auth = f.report.authority.ok_or(ScrubError::NoAuthority)?;
    let copy = match &f.auth {
        None => None,
        Some(want) => {
            let copy = fetch(shared, pg, auth, name)
                .await?
                .ok_or(ScrubError::AuthorityLost)?;
            if copy.version != want.version || crc32c::crc32c(&copy.data) != want.crc {
                return Err(ScrubError::AuthorityChanged);
            }
            Some(copy)
        }
    };
    for bad in &f.report.bad {
        install(shared, pg, bad.osd, name, copy.clone()).await?;
        shared.scrub.repaired.fetch_add(1, Ordering::Relaxed);
        info!(%pg, object = %name, osd = bad.osd.0, from = auth.0, "repaired copy");
    }
    Ok(())
}

/// `osd`'s clean copy of an object (checked against its stored crc by whoever reads it).
async fn fetch(
    shared: &Arc<Shared>,
    pg: PgId,
    osd: OsdId,
    name: &str,
) -> Result<Option<ObjectCopy>, ScrubError> {
    if osd == shared.id {
        return local_copy(&shared.store, pg, name.to_owned())
            .await
            .map_err(ScrubError::here(shared));
    }
    let addr = shared.addr_of(osd).ok_or(ScrubError::NoAddress(osd))?;
    let req = FetchObject {
        pg,
        name: name.to_owned(),
    };
    let (reply, data) = shared
        .messenger
        .call_with_payload(addr, &req, Bytes::new())
        .await
        .map_err(|source| ScrubError::Unreachable { osd, source })?;
    let mut copy = reply.map_err(|source| ScrubError::Member { osd, source })?;
    if let Some(c) = copy.as_mut() {
        c.data = data;
    }
    Ok(copy)
}

/// Reads a whole local copy and checks its data against the stored crc.
async fn local_copy(store: &Store, pg: PgId, name: String) -> Result<Option<ObjectCopy>, OsdError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let key = ObjectKey { pg, name };
        let copy = read_copy(&store, &key).map_err(|e| match e {
            crate::StoreError::Corrupt { .. } => OsdError::Corrupt(e.to_string()),
            other => OsdError::Io(other.to_string()),
        })?;
        if let Some(c) = &copy {
            let stored = store.stat(&key).map_err(|e| OsdError::Io(e.to_string()))?;
            if stored.is_none_or(|m| m.crc != crc32c::crc32c(&c.data)) {
                return Err(OsdError::Corrupt(format!(
                    "{key}: data does not match its crc"
                )));
            }
        }
        Ok(copy)
    })
    .await
    .map_err(|e| OsdError::Io(e.to_string()))?
}

/// Serves [`FetchObject`]: this OSD's clean copy, data as the reply payload.
pub async fn serve_fetch(
    shared: Arc<Shared>,
    req: FetchObject,
) -> (Result<Option<ObjectCopy>, OsdError>, Bytes) {
    match local_copy(&shared.store, req.pg, req.name).await {
        Ok(Some(mut c)) => {
            let data = std::mem::take(&mut c.data);
            (Ok(Some(c)), data)
        }
        other => (other, Bytes::new()),
    }
}

/// Serves [`RepairObject`] on a replica: only from the PG's primary in this OSD's map, and
/// only while the PG is served (recovery installs copies of its own).
pub async fn serve_repair(
    shared: Arc<Shared>,
    req: RepairObject,
    ctx: rados::Context,
) -> Result<(), OsdError> {
    let snap = shared
        .pg(req.pg)
        .map(|h| h.snapshot())
        .ok_or_else(|| OsdError::Invalid("pg not held here".into()))?;
    let primary = snap.mapping.as_ref().and_then(|m| m.primary());
    let from = routing::sender(&shared, &ctx);
    if from.is_none() || from != primary || snap.state != PgState::Replica {
        return Err(OsdError::Unavailable {
            pg: req.pg.to_string(),
            state: snap.state_string(),
        });
    }
    let mut copy = req.copy;
    if let Some(c) = copy.as_mut() {
        c.data = ctx.payload;
    }
    apply_copy(&shared.store, req.pg, req.name, copy)
        .await
        .map_err(|e| OsdError::Io(e.to_string()))
}

/// Read repair on the primary: replaces the corrupt local copy of `key` with a clean one of
/// the same version from a replica. Blocks client writes to the PG meanwhile.
pub async fn read_repair(shared: &Arc<Shared>, key: &ObjectKey) -> Result<(), OsdError> {
    let gate = shared.scrub.gate(key.pg);
    let _writes_blocked = gate.write().await;
    let members = active_primary(shared, key.pg)?;
    let store = shared.store.clone();
    let k = key.clone();
    let local = tokio::task::spawn_blocking(move || store.stat(&k))
        .await
        .map_err(|e| OsdError::Io(e.to_string()))?
        .map_err(|e| OsdError::Io(e.to_string()))?
        .ok_or(OsdError::NoSuchObject)?;
    for osd in members.into_iter().filter(|o| *o != shared.id) {
        match fetch(shared, key.pg, osd, &key.name).await {
            Ok(Some(copy)) if copy.version == local.version => {
                apply_copy(&shared.store, key.pg, key.name.clone(), Some(copy))
                    .await
                    .map_err(|e| OsdError::Io(e.to_string()))?;
                shared.scrub.read_repairs.fetch_add(1, Ordering::Relaxed);
                info!(obj = %key, from = osd.0, "read repair: local copy rewritten");
                return Ok(());
            }
            Ok(_) => warn!(obj = %key, osd = osd.0, "read repair: replica has another version"),
            Err(e) => warn!(obj = %key, osd = osd.0, error = %e, "read repair: fetch failed"),
        }
    }
    Err(OsdError::Corrupt(format!(
        "{key}: local copy is corrupt and no replica has a clean copy of version {}",
        local.version
    )))
}

/// Starts scheduled scrubs: every second, PGs this OSD is the active primary of that are
/// due (per [`Schedule`], unless `noscrub` / `nodeep-scrub` are set), one at a time.
pub async fn scheduler(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(SCHEDULER_TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let map = shared.map();
        let light_ok = !map.flags.contains(&Flag::Noscrub);
        let deep_ok = !map.flags.contains(&Flag::NoDeepScrub);
        let busy = shared
            .scrub
            .pgs
            .lock()
            .expect("scrub lock")
            .values()
            .any(|s| s.runner);
        // PGs this OSD is primary of, and whether each serves (only those scrub; the others
        // keep their place in the schedule while they peer).
        let primaries: BTreeMap<PgId, bool> = shared
            .pgs
            .lock()
            .expect("pgs lock")
            .iter()
            .filter_map(|(pg, h)| {
                let snap = h.snapshot();
                snap.primary.then_some((*pg, snap.state == PgState::Active))
            })
            .collect();
        let now = shared.scrub.now();
        let due = {
            let mut schedule = shared.scrub.schedule.lock().expect("schedule lock");
            schedule.retain(|pg| primaries.contains_key(&pg));
            let mut due = None;
            for (pg, _) in primaries.iter().filter(|(_, active)| **active) {
                if let Some(kind) = schedule.due(*pg, now, light_ok, deep_ok)
                    && due.is_none()
                {
                    due = Some((*pg, kind));
                }
            }
            due
        };
        if let (Some((pg, kind)), false) = (due, busy) {
            info!(%pg, %kind, "scheduled scrub");
            enqueue(&shared, pg, kind);
        }
    }
}
