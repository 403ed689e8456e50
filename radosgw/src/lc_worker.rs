//! The lifecycle worker: every gateway runs it; per bucket, whoever holds the bucket's lease
//! applies its rules ([`crate::lifecycle`]) to what the index lists, so two gateways never
//! act on one bucket at once and a dead one's buckets are taken over when its lease ends.
//!
//! Every action is guarded against what changed since the listing: an expiry names the
//! write tag it decided on (a version written since is left alone), removals of versions go
//! through [`Objects::delete_version`], which refuses what object lock protects.
//!
//! A bucket's rules are in its record; its lease and the last pass's counts are xattrs of
//! `lc.<bucket-id>` in the metadata pool. The lease also carries where the pass stands (its
//! renewal before each page records it): a holder that dies mid-pass leaves its successor
//! a point to resume from, so a bucket larger than any one holder's lifetime still gets
//! walked to its end.

use std::time::Duration;

use rados::WriteOp;
use rados::proto::osd::{Op, OpResult};
use s3s::S3ErrorCode;
use serde::{Deserialize, Serialize};

use crate::buckets::Buckets;
use crate::error::{GwError, GwResult};
use crate::layout::lifecycle_oid;
use crate::lifecycle::{self, Action, LifecycleConfig, Place, VersionFacts};
use crate::listing::{Item, ListParams, list_bucket, list_versions};
use crate::multipart;
use crate::objects::{Moved, Objects, Preconditions, VersionDelete};
use crate::records::{BucketRecord, ObjectMeta, decode, encode, now_ms};
use crate::versions::VersionRef;

/// The xattr holding a bucket's lifecycle lease.
const LEASE_XATTR: &str = "lc.lease";
/// The xattr that makes the object exist before any lease is taken.
const PREPARED_XATTR: &str = "lc.prepared";
/// The xattr holding the counts of the bucket's last pass.
const STATUS_XATTR: &str = "lc.status";
/// Entries read per listing page.
const PAGE: usize = 1000;

/// How the worker runs.
#[derive(Clone, Copy, Debug)]
pub struct LcSettings {
    /// How long a rule's "day" is (a day; seconds in tests).
    pub day: Duration,
    /// Time between passes.
    pub every: Duration,
    /// Index entries read per page; the lease is renewed, and the pass's position
    /// recorded, once per page.
    pub page: usize,
}

impl Default for LcSettings {
    fn default() -> LcSettings {
        LcSettings {
            day: Duration::from_secs(86_400),
            every: Duration::from_secs(600),
            page: PAGE,
        }
    }
}

impl LcSettings {
    /// A rule's day in milliseconds (at least 1).
    pub fn day_ms(&self) -> i64 {
        i64::try_from(self.day.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// How long a lease lasts: a pass may take a while; a dead holder's buckets wait this
    /// long for another gateway.
    fn lease_ms(&self) -> i64 {
        let every = i64::try_from(self.every.as_millis()).unwrap_or(i64::MAX);
        every.saturating_mul(3).max(60_000)
    }
}

/// A bucket's lifecycle lease, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LeaseRecord {
    holder: String,
    until_ms: i64,
    /// Where an unfinished pass stands: the listing marker its next page starts after.
    /// Cleared when a pass ends.
    #[serde(default)]
    resume: Option<String>,
}

/// What a pass does with a bucket's lease once done with the bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// Keeps it until it ends: a gateway's next pass renews it, so buckets stay with the
    /// gateway that had them.
    Keep,
    /// Gives it up at once (a one-off pass, such as `shoal lc run`).
    Release,
}

/// What one pass over a bucket did (kept on the bucket's lifecycle object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LcStatus {
    /// When the pass ended (ms).
    pub ended_ms: i64,
    /// Current versions expired (deleted, or a delete marker written over them).
    pub expired: u64,
    /// Noncurrent versions and lone delete markers removed.
    pub removed: u64,
    /// Multipart uploads aborted.
    pub aborted: u64,
    /// Current versions moved to another storage class.
    #[serde(default)]
    pub moved: u64,
    /// Transitions that failed (in the gateway's log); the pass went on.
    #[serde(default)]
    pub move_errors: u64,
    /// Versions left alone because object lock protects them.
    pub locked: u64,
    /// The pass stopped on an error (in the gateway's log).
    #[serde(default)]
    pub failed: bool,
    /// Who made the pass (a gateway's address and instance, or `shoal lc run`).
    #[serde(default)]
    pub holder: String,
}

/// Makes sure the object holding a bucket's lease and last pass exists (the rules
/// themselves are in the bucket record).
pub async fn prepare(objects: &Objects, bucket: &BucketRecord) -> GwResult<()> {
    let oid = lifecycle_oid(&bucket.id);
    let op = WriteOp::new()
        .cmp_xattr(PREPARED_XATTR, None)
        .set_xattr(PREPARED_XATTR, b"1");
    match objects
        .cluster
        .meta
        .write(&oid, op)
        .await
        .map_err(GwError::from)
    {
        Err(e) if e.is_guard_failed() => Ok(()),
        other => other.map(drop),
    }
}

/// Forgets a deleted bucket's lifecycle object.
pub async fn forget(objects: &Objects, bucket: &BucketRecord) -> GwResult<()> {
    match objects
        .cluster
        .meta
        .remove(&lifecycle_oid(&bucket.id))
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(drop).map_err(GwError::from),
    }
}

/// The counts of a bucket's last pass, if any.
pub async fn status(objects: &Objects, bucket: &BucketRecord) -> GwResult<Option<LcStatus>> {
    let oid = lifecycle_oid(&bucket.id);
    match objects.cluster.meta.get_xattr(&oid, STATUS_XATTR).await {
        Ok(Some(raw)) => decode(&oid, &raw).map(Some),
        Ok(None) => Ok(None),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Where an unfinished pass over the bucket stands (the key after which the next pass
/// starts), if one is under way or its holder died.
pub async fn resume_point(objects: &Objects, bucket: &BucketRecord) -> GwResult<Option<String>> {
    let oid = lifecycle_oid(&bucket.id);
    match objects.cluster.meta.get_xattr(&oid, LEASE_XATTR).await {
        Ok(Some(raw)) => Ok(decode::<LeaseRecord>(&oid, &raw)?.resume),
        Ok(None) => Ok(None),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Runs passes every `settings.every` until the task is dropped.
pub async fn run(buckets: Buckets, objects: Objects, settings: LcSettings, holder: String) {
    let mut tick = tokio::time::interval(settings.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match run_once(&buckets, &objects, &settings, &holder, Lease::Keep).await {
            Ok(n) if n > 0 => tracing::info!(buckets = n, "lifecycle pass"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lifecycle pass failed; next pass retries"),
        }
    }
}

/// One pass over every bucket with a configuration whose lease `holder` gets; returns how
/// many buckets it worked on.
pub async fn run_once(
    buckets: &Buckets,
    objects: &Objects,
    settings: &LcSettings,
    holder: &str,
    lease: Lease,
) -> GwResult<usize> {
    let mut done = 0;
    for name in buckets.all_names().await? {
        let Some(bucket) = buckets.get(&name).await? else {
            continue;
        };
        // A bucket with tiering and no rules is walked for idle objects alone.
        let config = match (&bucket.lifecycle, bucket.tiering) {
            (Some(config), _) => config.clone(),
            (None, Some(_)) => LifecycleConfig::default(),
            (None, None) => continue,
        };
        let config = &config;
        let Some(taken) = take_lease(objects, &bucket, holder, settings.lease_ms()).await? else {
            continue;
        };
        if let Some(at) = &taken.resume {
            tracing::info!(bucket = bucket.name, after = at, "lifecycle pass resumes");
        }
        let mut holding = Holding {
            buckets,
            holder,
            lease_ms: settings.lease_ms(),
            page: settings.page.max(1),
            until_ms: taken.until_ms,
            resume: taken.resume,
            raw: taken.raw,
        };
        // One bucket's trouble does not hold up the others; its status says so.
        let status = match pass(
            objects,
            Some(&mut holding),
            &bucket,
            config,
            now_ms(),
            settings.day_ms(),
        )
        .await
        {
            Ok(status) => status,
            Err(e) => {
                tracing::warn!(bucket = bucket.name, error = %e, "lifecycle pass failed; next pass resumes");
                LcStatus {
                    failed: true,
                    ..LcStatus::default()
                }
            }
        };
        if status != LcStatus::default() {
            tracing::info!(bucket = bucket.name, ?status, "lifecycle applied");
        }
        let status = LcStatus {
            ended_ms: now_ms(),
            holder: holder.to_owned(),
            ..status
        };
        // A pass that ended forgets where it stood (the next starts from the first key);
        // one that failed keeps it, and the next resumes there.
        let ended = LeaseRecord {
            holder: holder.to_owned(),
            until_ms: match lease {
                Lease::Keep => holding.until_ms,
                Lease::Release => 0,
            },
            resume: holding.resume.filter(|_| status.failed),
        };
        let oid = lifecycle_oid(&bucket.id);
        let op = WriteOp::new()
            .cmp_xattr(LEASE_XATTR, Some(&holding.raw))
            .set_xattr(STATUS_XATTR, &encode(&status))
            .set_xattr(LEASE_XATTR, &encode(&ended));
        match objects
            .cluster
            .meta
            .write(&oid, op)
            .await
            .map_err(GwError::from)
        {
            // Gone, or the lease ended and was taken meanwhile: the new holder reports.
            Err(e) if e.is_not_found() || e.is_guard_failed() => {}
            other => drop(other?),
        }
        done += 1;
    }
    Ok(done)
}

/// A lease just taken.
struct Taken {
    /// As stored (what the next renewal compares).
    raw: Vec<u8>,
    until_ms: i64,
    /// Where the last holder's pass stopped unfinished.
    resume: Option<String>,
}

/// Takes (or renews) the bucket's lease for `holder`, unless another holds it unexpired.
async fn take_lease(
    objects: &Objects,
    bucket: &BucketRecord,
    holder: &str,
    lease_ms: i64,
) -> GwResult<Option<Taken>> {
    let oid = lifecycle_oid(&bucket.id);
    let now = now_ms();
    let read = vec![Op::GetXattr(LEASE_XATTR.to_owned())];
    let current = match objects
        .cluster
        .meta
        .operate(&oid, read, Default::default())
        .await
    {
        Ok((reply, _)) => match reply.results.first() {
            Some(OpResult::Xattr(raw)) => raw.as_ref().map(|r| r.to_vec()),
            _ => None,
        },
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut resume = None;
    if let Some(raw) = &current {
        let lease: LeaseRecord = decode(&oid, raw)?;
        if lease.holder != holder && lease.until_ms > now {
            return Ok(None);
        }
        resume = lease.resume;
    }
    let until_ms = now.saturating_add(lease_ms);
    let next = LeaseRecord {
        holder: holder.to_owned(),
        until_ms,
        resume,
    };
    Ok(swap_lease(objects, &oid, current.as_deref(), &next)
        .await?
        .map(|raw| Taken {
            raw,
            until_ms,
            resume: next.resume,
        }))
}

/// Replaces the lease stored on `oid` by `next`, if it is still `seen` (`None`: no
/// lease); returns the lease as stored, or `None` if another got there first or the
/// object is gone.
async fn swap_lease(
    objects: &Objects,
    oid: &str,
    seen: Option<&[u8]>,
    next: &LeaseRecord,
) -> GwResult<Option<Vec<u8>>> {
    let lease = encode(next);
    let op = WriteOp::new()
        .cmp_xattr(LEASE_XATTR, seen)
        .set_xattr(LEASE_XATTR, &lease);
    match objects
        .cluster
        .meta
        .write(oid, op)
        .await
        .map_err(GwError::from)
    {
        Err(e) if e.is_guard_failed() || e.is_not_found() => Ok(None),
        other => other.map(|_| Some(lease)),
    }
}

/// Applies `config` to `bucket` once, at `now_ms`. With `holding`, before each page the
/// bucket's lease is renewed, recording where the pass stands, and the bucket's record is
/// read again: a pass stops when the lease was lost, the bucket is gone or its versioning
/// changed (expiry means something else then; the next pass starts over). A holding with a
/// resume point starts there.
pub async fn pass(
    objects: &Objects,
    holding: Option<&mut Holding<'_>>,
    bucket: &BucketRecord,
    config: &LifecycleConfig,
    now_ms: i64,
    day_ms: i64,
) -> GwResult<LcStatus> {
    let mut status = LcStatus::default();
    let mut walk = Walk { holding, bucket };
    if bucket.versioning.keeps_versions() {
        versions_pass(objects, &mut walk, config, now_ms, day_ms, &mut status).await?;
    } else {
        objects_pass(objects, &mut walk, config, now_ms, day_ms, &mut status).await?;
    }
    uploads_pass(objects, bucket, config, now_ms, day_ms, &mut status).await?;
    Ok(status)
}

/// What the rules see of version `meta` of `key` at `place`.
pub fn facts_of<'a>(key: &'a str, meta: &'a ObjectMeta, place: Place) -> VersionFacts<'a> {
    VersionFacts {
        key,
        size: meta.size,
        tags: &meta.tags,
        mtime_ms: meta.mtime_ms,
        delete_marker: meta.delete_marker,
        class: meta
            .storage_class
            .as_deref()
            .unwrap_or(crate::storage_class::STANDARD),
        place,
    }
}

/// A bucket's lease as a pass holds it: renewed before each page, so a pass longer than a
/// lease stays the only one on its bucket.
pub struct Holding<'a> {
    /// Where the bucket's record is read again.
    pub buckets: &'a Buckets,
    holder: &'a str,
    lease_ms: i64,
    page: usize,
    /// Until when the lease holds, as last renewed.
    until_ms: i64,
    /// Where the pass stands, as last recorded.
    resume: Option<String>,
    /// The lease as stored (what the next renewal compares).
    raw: Vec<u8>,
}

/// The bucket a pass walks, and its lease.
struct Walk<'a, 'h> {
    holding: Option<&'a mut Holding<'h>>,
    bucket: &'a BucketRecord,
}

impl Walk<'_, '_> {
    /// Index entries per page.
    fn page(&self) -> usize {
        self.holding.as_deref().map_or(PAGE, |h| h.page)
    }

    /// Where the pass starts: after the last holder's recorded position, if any.
    fn start(&self) -> Option<String> {
        self.holding.as_deref().and_then(|h| h.resume.clone())
    }

    /// [`Walk::may_go_on`] once a third of the lease has passed since it was last renewed:
    /// between pages, moving many large objects may take longer than a lease.
    async fn renew_if_due(&mut self, objects: &Objects, at: Option<&str>) -> GwResult<bool> {
        let due = self
            .holding
            .as_deref()
            .is_some_and(|h| now_ms() >= h.until_ms - h.lease_ms + h.lease_ms / 3);
        if !due {
            return Ok(true);
        }
        self.may_go_on(objects, at).await
    }

    /// Whether the pass may go on from `at` (the marker the next page starts after): its
    /// lease renewed with `at` recorded, the bucket still as the pass began (not deleted,
    /// re-created or its versioning changed).
    async fn may_go_on(&mut self, objects: &Objects, at: Option<&str>) -> GwResult<bool> {
        let Some(holding) = self.holding.as_deref_mut() else {
            return Ok(true);
        };
        let unchanged = holding
            .buckets
            .get(&self.bucket.name)
            .await?
            .is_some_and(|b| b.id == self.bucket.id && b.versioning == self.bucket.versioning);
        if !unchanged {
            return Ok(false);
        }
        let oid = lifecycle_oid(&self.bucket.id);
        let next = LeaseRecord {
            holder: holding.holder.to_owned(),
            until_ms: now_ms().saturating_add(holding.lease_ms),
            resume: at.map(str::to_owned),
        };
        match swap_lease(objects, &oid, Some(&holding.raw), &next).await? {
            Some(renewed) => {
                holding.raw = renewed;
                holding.until_ms = next.until_ms;
                holding.resume = next.resume;
                Ok(true)
            }
            // Lost (it ended and another took it) or the bucket went: stop here.
            None => Ok(false),
        }
    }
}

/// Whether any enabled rule filters by tags (then each object's tags are read).
fn needs_tags(config: &LifecycleConfig) -> bool {
    config
        .rules
        .iter()
        .any(|r| r.enabled && !r.filter.tags.is_empty())
}

/// A bucket that never had versioning: expiry deletes.
async fn objects_pass(
    objects: &Objects,
    walk: &mut Walk<'_, '_>,
    config: &LifecycleConfig,
    now_ms: i64,
    day_ms: i64,
    status: &mut LcStatus,
) -> GwResult<()> {
    let bucket = walk.bucket;
    let tags = needs_tags(config);
    let mut params = ListParams {
        max_keys: walk.page(),
        start_after: walk.start(),
        ..ListParams::default()
    };
    loop {
        if !walk
            .may_go_on(objects, params.start_after.as_deref())
            .await?
        {
            return Ok(());
        }
        let page = list_bucket(&objects.cluster.index, &bucket.id, bucket.shards, &params).await?;
        let mut done: Option<&str> = None;
        for item in &page.items {
            let Item::Object { key, entry } = item else {
                continue;
            };
            let at = done.or(params.start_after.as_deref());
            if !walk.renew_if_due(objects, at).await? {
                return Ok(());
            }
            done = Some(key);
            let mut meta = ObjectMeta {
                size: entry.size,
                mtime_ms: entry.mtime_ms,
                tag: entry.tag.clone(),
                ..ObjectMeta::default()
            };
            if tags {
                match objects.meta(bucket, key).await? {
                    Some(head) if head.tag == entry.tag => meta.tags = head.tags,
                    // Replaced since it was listed: the next pass looks at the new one.
                    _ => continue,
                }
            }
            meta.storage_class = entry.storage_class.clone();
            meta.read_ms = entry.read_ms;
            let facts = facts_of(key, &meta, Place::Current { alone: true });
            match lifecycle::action(config, &facts, false, now_ms, day_ms) {
                Some(Action::Expire(rule))
                    if objects.delete_if(bucket, key, Some(&entry.tag)).await? =>
                {
                    tracing::debug!(bucket = bucket.name, key, rule, "expired");
                    status.expired += 1;
                }
                Some(Action::Transition { rule, class }) => {
                    let target = objects.classes.target(Some(&class)).await;
                    let what = (key.as_str(), None, entry.tag.as_str());
                    apply_move(objects, bucket, what, &rule, target, status).await?;
                }
                Some(_) => {}
                None => demote_if_idle(objects, bucket, key, &meta, now_ms, day_ms, status).await?,
            }
        }
        if !page.is_truncated {
            return Ok(());
        }
        params.start_after = page.next_marker;
    }
}

/// A bucket that keeps versions: the listing gives each key's versions newest first.
async fn versions_pass(
    objects: &Objects,
    walk: &mut Walk<'_, '_>,
    config: &LifecycleConfig,
    now_ms: i64,
    day_ms: i64,
    status: &mut LcStatus,
) -> GwResult<()> {
    let bucket = walk.bucket;
    // A version's place depends on the versions above it, so a pass resumes at the start
    // of a key: the recorded position is a key, and listing versions after a bare key
    // starts at its newest version (`<key>\0<position>` sorts after `<key>`).
    let mut params = ListParams {
        max_keys: walk.page(),
        start_after: walk.start(),
        ..ListParams::default()
    };
    // Where the walk is within the current key: its name, the position of the next version
    // (0: current), when the version before it was written (it became noncurrent then) and
    // a current delete marker waiting to learn whether anything is under it.
    let mut key = String::new();
    let mut position = 0u32;
    let mut newer_mtime = 0i64;
    let mut marker: Option<ObjectMeta> = None;
    loop {
        // The key the last page ended in may go on in the next: it is walked again whole.
        let at = (!key.is_empty())
            .then_some(key.as_str())
            .or(params.start_after.as_deref());
        if !walk.may_go_on(objects, at).await? {
            return Ok(());
        }
        let page =
            list_versions(&objects.cluster.index, &bucket.id, bucket.shards, &params).await?;
        for item in &page.items {
            let Item::Object {
                key: composite,
                entry,
            } = item
            else {
                continue;
            };
            let of = composite
                .rsplit_once('\0')
                .map_or(composite.as_str(), |(k, _)| k);
            let at = (!key.is_empty())
                .then_some(key.as_str())
                .or(params.start_after.as_deref());
            if !walk.renew_if_due(objects, at).await? {
                return Ok(());
            }
            if of != key {
                if let Some(m) = marker.take() {
                    remove_lone_marker(objects, bucket, config, &key, &m, now_ms, day_ms, status)
                        .await?;
                }
                key = of.to_owned();
                position = 0;
            } else {
                // Something lies under the marker: it stays.
                marker = None;
            }
            if position == 0 {
                if entry.delete_marker {
                    marker = Some(entry.clone());
                } else {
                    expire_current(objects, bucket, config, &key, entry, now_ms, day_ms, status)
                        .await?;
                }
            } else {
                let facts = facts_of(
                    &key,
                    entry,
                    Place::Noncurrent {
                        since_ms: newer_mtime,
                        newer: position - 1,
                    },
                );
                match lifecycle::action(config, &facts, true, now_ms, day_ms) {
                    Some(Action::Remove(rule)) => {
                        remove_version(objects, bucket, &key, entry, &rule, status).await?;
                    }
                    Some(Action::Transition { rule, class }) => {
                        if let Some(which) = VersionRef::parse(crate::versions::id_of(entry)) {
                            let target = objects.classes.target(Some(&class)).await;
                            let what = (key.as_str(), Some(&which), entry.tag.as_str());
                            apply_move(objects, bucket, what, &rule, target, status).await?;
                        }
                    }
                    _ => {}
                }
            }
            newer_mtime = entry.mtime_ms;
            position = position.saturating_add(1);
        }
        if !page.is_truncated {
            break;
        }
        params.start_after = page.next_marker;
    }
    if let Some(m) = marker.take() {
        remove_lone_marker(objects, bucket, config, &key, &m, now_ms, day_ms, status).await?;
    }
    Ok(())
}

/// Expires the current version `entry` of `key` if a rule says so: a delete marker over
/// it, written only if it is still the current version.
#[allow(clippy::too_many_arguments)]
async fn expire_current(
    objects: &Objects,
    bucket: &BucketRecord,
    config: &LifecycleConfig,
    key: &str,
    entry: &ObjectMeta,
    now_ms: i64,
    day_ms: i64,
    status: &mut LcStatus,
) -> GwResult<()> {
    let facts = facts_of(key, entry, Place::Current { alone: false });
    let rule = match lifecycle::action(config, &facts, true, now_ms, day_ms) {
        Some(Action::Expire(rule)) => rule,
        Some(Action::Transition { rule, class }) => {
            let target = objects.classes.target(Some(&class)).await;
            let what = (key, None, entry.tag.as_str());
            return apply_move(objects, bucket, what, &rule, target, status).await;
        }
        Some(_) => return Ok(()),
        None => return demote_if_idle(objects, bucket, key, entry, now_ms, day_ms, status).await,
    };
    let pre = Preconditions {
        write_tag: Some(entry.tag.clone()),
        ..Preconditions::default()
    };
    match objects
        .put_delete_marker(bucket, key, &entry.owner, &pre)
        .await
    {
        Ok(_) => {
            tracing::debug!(bucket = bucket.name, key, rule, "expired: delete marker");
            status.expired += 1;
            Ok(())
        }
        // Written since: the next pass decides on the new version.
        Err(e) if e.is_s3(&S3ErrorCode::PreconditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Moves an INTELLIGENT_TIERING current version nobody read for the bucket's idle days to
/// the cold pool ([`crate::tiering`]).
#[allow(clippy::too_many_arguments)]
async fn demote_if_idle(
    objects: &Objects,
    bucket: &BucketRecord,
    key: &str,
    meta: &ObjectMeta,
    now_ms: i64,
    day_ms: i64,
    status: &mut LcStatus,
) -> GwResult<()> {
    let Some(tiering) = bucket.tiering else {
        return Ok(());
    };
    let tiered = meta.storage_class.as_deref() == Some(crate::storage_class::INTELLIGENT_TIERING);
    if !tiered
        || meta.delete_marker
        || !crate::tiering::idle(tiering, meta.mtime_ms, meta.read_ms, now_ms, day_ms)
    {
        return Ok(());
    }
    // One already cold is found so by the move, which then does nothing; one read since it
    // was listed is left hot.
    let cold = objects.classes.tier(true).await;
    let what = (key, None, meta.tag.as_str());
    let still_idle =
        |m: &ObjectMeta| crate::tiering::idle(tiering, m.mtime_ms, m.read_ms, now_ms, day_ms);
    apply_move_if(objects, bucket, what, "idle", cold, &still_idle, status).await
}

/// Moves a version of a key to `target` if it still carries its write tag: `what` is (key,
/// the noncurrent version or `None` for the current one, tag); `why` names the rule (or
/// "idle") for the log.
async fn apply_move(
    objects: &Objects,
    bucket: &BucketRecord,
    what: (&str, Option<&VersionRef>, &str),
    why: &str,
    target: GwResult<crate::storage_class::Target>,
    status: &mut LcStatus,
) -> GwResult<()> {
    apply_move_if(objects, bucket, what, why, target, &|_| true, status).await
}

/// [`apply_move`] of a current version that `still` holds of as read at the move.
async fn apply_move_if(
    objects: &Objects,
    bucket: &BucketRecord,
    what: (&str, Option<&VersionRef>, &str),
    why: &str,
    target: GwResult<crate::storage_class::Target>,
    still: &(dyn Fn(&ObjectMeta) -> bool + Sync),
    status: &mut LcStatus,
) -> GwResult<()> {
    let (key, which, tag) = what;
    // A move that cannot be made (its class removed or not holdable, data that does not
    // read back) is this object's trouble: the pass goes on with the others.
    let class = target.as_ref().map_or("?", |t| t.name()).to_owned();
    let moved = async {
        match which {
            None => objects.transition(bucket, key, tag, target?, still).await,
            Some(which) => {
                objects
                    .transition_version(bucket, key, which, tag, target?)
                    .await
            }
        }
    };
    match moved.await {
        Ok(Moved::Done) => {
            tracing::debug!(bucket = bucket.name, key, why, class, "moved");
            status.moved += 1;
        }
        Ok(Moved::Skipped) => {}
        Err(e) if e.is_transient() => return Err(e),
        Err(e) => {
            tracing::warn!(bucket = bucket.name, key, why, class, error = %e, "transition failed");
            status.move_errors += 1;
        }
    }
    Ok(())
}

/// Removes a current delete marker with no version under it, if a rule says so.
#[allow(clippy::too_many_arguments)]
async fn remove_lone_marker(
    objects: &Objects,
    bucket: &BucketRecord,
    config: &LifecycleConfig,
    key: &str,
    marker: &ObjectMeta,
    now_ms: i64,
    day_ms: i64,
    status: &mut LcStatus,
) -> GwResult<()> {
    let facts = facts_of(key, marker, Place::Current { alone: true });
    if let Some(Action::Remove(rule)) = lifecycle::action(config, &facts, true, now_ms, day_ms) {
        remove_version(objects, bucket, key, marker, &rule, status).await?;
    }
    Ok(())
}

/// Removes version `meta` of `key`; one that object lock protects stays.
async fn remove_version(
    objects: &Objects,
    bucket: &BucketRecord,
    key: &str,
    meta: &ObjectMeta,
    rule: &str,
    status: &mut LcStatus,
) -> GwResult<()> {
    let id = crate::versions::id_of(meta);
    let Some(which) = VersionRef::parse(id) else {
        return Ok(());
    };
    // A noncurrent version is removed only while it is noncurrent (the listing is an older
    // picture: an undelete may have made it current again); a lone marker either way.
    let how = VersionDelete {
        noncurrent_only: !meta.delete_marker,
        ..VersionDelete::default()
    };
    match objects.delete_version(bucket, key, &which, how).await {
        Ok(Some(_)) => {
            tracing::debug!(bucket = bucket.name, key, id, rule, "removed a version");
            status.removed += 1;
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) if e.is_s3(&S3ErrorCode::AccessDenied) => {
            status.locked += 1;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Aborts the uploads a rule says have waited too long.
async fn uploads_pass(
    objects: &Objects,
    bucket: &BucketRecord,
    config: &LifecycleConfig,
    now_ms: i64,
    day_ms: i64,
    status: &mut LcStatus,
) -> GwResult<()> {
    if !config
        .rules
        .iter()
        .any(|r| r.enabled && r.abort_upload_days.is_some())
    {
        return Ok(());
    }
    let overdue = |u: &crate::records::UploadRecord| {
        lifecycle::abort_upload(config, &u.key, u.initiated_ms, now_ms, day_ms).is_some()
    };
    status.aborted += multipart::abort_where(objects, bucket, overdue).await?;
    Ok(())
}
