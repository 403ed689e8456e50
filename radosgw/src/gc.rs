//! Deferred garbage collection of data objects (overwritten or deleted tails, aborted
//! uploads). Deletion waits `delay` so that a GET that read the old head just before an
//! overwrite can still stream the old tails. The queue lives in the metadata pool (omap
//! objects `gc.<shard>`, keys ordered by due time), so any gateway drains it.

use std::time::Duration;

use rados::IoCtx;

use crate::cluster::Cluster;
use crate::error::GwResult;
use crate::ids;
use crate::layout::{GC_SHARDS, before_versions_of, gc_oid, split_version_key, tail_oid};
use crate::records::{GcEntry, ObjectMeta, decode, encode, now_ms};

/// Queues the entry's objects for deletion after `delay`.
pub async fn defer(meta: &IoCtx, entry: GcEntry, delay: Duration) -> GwResult<()> {
    if entry.objects.is_empty() && entry.prefixes.is_empty() {
        // Nothing to delete (a head-only object): no queue entry needed.
        return Ok(());
    }
    let due = now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
    let tag = ids::random_hex::<8>();
    let key = format!("{due:020}/{tag}");
    let shard = crate::layout::shard_of(&tag, GC_SHARDS);
    meta.omap_set(&gc_oid(shard), vec![(key.into_bytes(), encode(&entry))])
        .await?;
    Ok(())
}

/// Deletes everything that is due; returns how many objects it removed.
pub async fn run_once(cluster: &Cluster) -> GwResult<usize> {
    let now = now_ms();
    let mut removed = 0;
    for shard in 0..GC_SHARDS {
        // Pages of due entries until the first one not yet due (keys sort by due time).
        loop {
            let (n, more) = drain_page(cluster, &gc_oid(shard), now).await?;
            removed += n;
            if !more {
                break;
            }
        }
    }
    Ok(removed)
}

/// Processes one page of due entries of queue `oid`: objects removed, and whether more due
/// entries may follow.
async fn drain_page(cluster: &Cluster, oid: &str, now: i64) -> GwResult<(usize, bool)> {
    let (meta, data) = (&cluster.meta, &cluster.data);
    const PAGE: u32 = 100;
    let page = match meta.omap_list(oid, None, PAGE).await {
        Ok(page) => page,
        Err(e) if e.is_not_found() => return Ok((0, false)),
        Err(e) => return Err(e.into()),
    };
    let full = page.len() == PAGE as usize;
    let mut removed = 0;
    for (key, value) in page {
        let due: i64 = String::from_utf8_lossy(&key)
            .split('/')
            .next()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        if due > now {
            return Ok((removed, false));
        }
        let entry: GcEntry = decode(oid, &value)?;
        let keep = match &entry.unless_head {
            Some((head, tag)) => head_has_tag(data, head, tag).await?,
            None => false,
        } || match &entry.unless_version {
            Some((shard, key, tag)) => version_has_tag(&cluster.index, shard, key, tag).await?,
            None => false,
        };
        // A pool removed meanwhile took its objects with it (one this gateway's map does
        // not show yet is looked up first: `Cluster::pool` refreshes the map once).
        let pool = match cluster.pool(entry.pool.as_deref()).await {
            Err(e) if e.is_not_found() => None,
            other => Some(other?),
        };
        if let Some(pool) = pool.filter(|_| !keep) {
            for object in &entry.objects {
                removed += remove_if_present(&pool, object).await?;
            }
            for prefix in &entry.prefixes {
                removed += remove_run(&pool, prefix).await?;
            }
        }
        meta.omap_rm(oid, vec![key]).await?;
    }
    Ok((removed, full))
}

async fn head_has_tag(data: &IoCtx, head: &str, tag: &str) -> GwResult<bool> {
    match data.get_xattr(head, crate::layout::TAG_XATTR).await {
        Ok(found) => Ok(found.as_deref() == Some(tag.as_bytes())),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether a version record of `key` in index shard `shard` carries write tag `tag`.
async fn version_has_tag(index: &IoCtx, shard: &str, key: &str, tag: &str) -> GwResult<bool> {
    const PAGE: u32 = 100;
    let mut after = before_versions_of(key);
    loop {
        let page = match index.omap_list(shard, Some(&after), PAGE).await {
            Ok(page) => page,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let full = page.len() == PAGE as usize;
        for (k, v) in page {
            match split_version_key(&k) {
                Some((of, _)) if of == key => {
                    if decode::<ObjectMeta>(shard, &v)?.tag == tag {
                        return Ok(true);
                    }
                }
                _ => return Ok(false),
            }
            after = k;
        }
        if !full {
            return Ok(false);
        }
    }
}

async fn remove_if_present(pool: &IoCtx, object: &str) -> GwResult<usize> {
    match pool.remove(object).await {
        Ok(_) => Ok(1),
        Err(e) if e.is_not_found() => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Removes `prefix.0`, `prefix.1`, ... until [`GAP`] numbers in a row are missing: a write
/// that died left an unknown count, and with tails written concurrently the last ones may
/// have landed while an earlier one had not.
async fn remove_run(pool: &IoCtx, prefix: &str) -> GwResult<usize> {
    let mut removed = 0;
    let mut missing = 0;
    let mut n = 0;
    while missing < GAP {
        match remove_if_present(pool, &tail_oid(prefix, n)).await? {
            0 => missing += 1,
            _ => {
                removed += 1;
                missing = 0;
            }
        }
        n += 1;
    }
    Ok(removed)
}

/// Consecutive missing tails that end a run: more than a writer keeps in flight (PUT tails
/// start at 1, so `.0` is always missing for them).
const GAP: u64 = crate::objects::write::TAILS_IN_FLIGHT as u64 + 2;

/// Runs [`run_once`] every `every` until the task is dropped.
pub async fn run(cluster: Cluster, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match run_once(&cluster).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(objects = n, "gc removed objects"),
            Err(e) => tracing::warn!(%e, "gc pass failed; will retry"),
        }
    }
}
