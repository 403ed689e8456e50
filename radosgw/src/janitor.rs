//! Resolves what crashed gateways left behind: pending index entries older than the
//! janitor age. The head is the truth: the listed entry is made to match it, and the tails
//! of a PUT whose head never landed go to GC.

use std::time::Duration;

use crate::buckets::Buckets;
use crate::error::GwResult;
use crate::layout::{PENDING_PREFIX, index_oid};
use crate::objects::Objects;
use crate::records::{PendingEntry, PendingOp, decode, now_ms};

/// One pass over every bucket; returns how many pending entries it resolved.
pub async fn run_once(buckets: &Buckets, objects: &Objects) -> GwResult<usize> {
    let older_than = i64::try_from(objects.settings.janitor_after.as_millis()).unwrap_or(i64::MAX);
    let mut resolved = 0;
    for name in buckets.all_names().await? {
        let Some(bucket) = buckets.get(&name).await? else {
            continue;
        };
        for shard in 0..bucket.shards {
            let oid = index_oid(&bucket.id, shard);
            let mut after = PENDING_PREFIX.to_vec();
            loop {
                let page = match objects
                    .cluster
                    .index
                    .omap_list(&oid, Some(&after), 100)
                    .await
                {
                    Ok(page) => page,
                    Err(e) if e.is_not_found() => break,
                    Err(e) => return Err(e.into()),
                };
                let full = page.len() == 100;
                let mut ended = false;
                for (key, value) in page {
                    if !key.starts_with(PENDING_PREFIX) {
                        ended = true;
                        break;
                    }
                    after = key.clone();
                    let pending: PendingEntry = decode(&oid, &value)?;
                    if now_ms() - pending.since_ms < older_than {
                        continue;
                    }
                    let Some((obj_key, tag)) = crate::layout::split_pending(&key) else {
                        continue;
                    };
                    resolve(objects, &bucket, &obj_key, &tag, &pending).await?;
                    resolved += 1;
                }
                if ended || !full {
                    break;
                }
            }
        }
    }
    Ok(resolved)
}

async fn resolve(
    objects: &Objects,
    bucket: &crate::records::BucketRecord,
    key: &str,
    tag: &str,
    pending: &PendingEntry,
) -> GwResult<()> {
    let head = objects.meta(bucket, key).await?;
    tracing::info!(bucket = bucket.name, key, tag, op = ?pending.op, head_exists = head.is_some(), "janitor resolving a pending entry");
    let landed = head.as_ref().is_some_and(|m| m.tag == tag);
    if pending.op == PendingOp::Put && !landed {
        // Writers refresh their entry while alive, so this one is dead; still, the GC keeps
        // the tails should its head turn up by then.
        objects.collect_orphan(bucket, key, tag, pending).await?;
    }
    if bucket.versioning.keeps_versions() {
        // A delete of the last version that died before removing the vacant head it left
        // (reaped before the pending entry goes, so a janitor dying here leaves it again).
        objects.reap_vacant(bucket, key).await?;
    }
    objects.settle_index(bucket, key, Some(tag)).await
}

/// Runs [`run_once`] every `every`.
pub async fn run(buckets: Buckets, objects: Objects, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match run_once(&buckets, &objects).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "janitor resolved pending entries"),
            Err(e) => tracing::warn!(%e, "janitor pass failed; will retry"),
        }
    }
}
