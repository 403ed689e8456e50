//! Deep scrub and repair of erasure-coded PGs. Comparing the members' metadata works as for
//! every PG (`pg::scrub`: each shard reports the object's size, version and crc); a deep
//! scrub then reads every object's shards whole, checks each chunk against its crc32c and
//! each stripe against its parity, and names the bad shard. Repair rebuilds a bad shard
//! from `k` good ones instead of copying the authority's (which is another shard).

use std::sync::Arc;

use placement::{OsdId, PgId};
use rados::proto::osd::{BadCopy, InconsistentObject, OsdError, ScrubProblem, Version};
use tokio::task::JoinSet;
use tracing::info;

use super::ec;
use super::repair::{self, ScrubError};
use super::shared::Shared;
use crate::ec::Codec;
use crate::pg::scrub::{Finding, MemberPage};
use crate::pg::types::EcMapping;
use crate::store::ObjectKey;

/// Parity and chunk findings for the objects of a deep page that the metadata comparison
/// found consistent (`found`), up to `end`. `pages[0]` is the primary's.
pub async fn deep_page(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    pg: PgId,
    pages: &[(OsdId, MemberPage)],
    end: Option<&str>,
    found: &[Finding],
) -> Result<Vec<Finding>, ScrubError> {
    let Some((_, primary)) = pages.first() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in &primary.entries {
        if end.is_some_and(|end| entry.name.as_str() > end) {
            break;
        }
        if found.iter().any(|f| f.report.name == entry.name) {
            continue;
        }
        let key = ObjectKey {
            pg,
            name: entry.name.clone(),
        };
        let bad = check_object(shared, ec, &key, entry.version).await?;
        if !bad.is_empty() {
            out.push(Finding {
                report: InconsistentObject {
                    name: entry.name.clone(),
                    authority: Some(shared.id),
                    version: Some(entry.version),
                    bad,
                },
                auth: Some(entry.clone()),
            });
        }
    }
    Ok(out)
}

/// Reads every shard of `key` at `version` and returns the bad ones: a chunk failing its
/// crc32c, a shard of the wrong position, or (all chunks clean) the one shard whose
/// removal makes the parity consistent again.
async fn check_object(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    key: &ObjectKey,
    version: Version,
) -> Result<Vec<BadCopy>, ScrubError> {
    let l = ec.layout;
    let mut set = JoinSet::new();
    for (position, holder) in ec.shards.iter().enumerate() {
        let Some(holder) = *holder else { continue };
        let (shared, key) = (shared.clone(), key.clone());
        set.spawn(async move {
            let read = ec::LocalRead {
                want: None,
                second_copy: false,
                stripes: None,
                check: false,
            };
            let got = ec::fetch(&shared, l, holder, &key, read).await;
            (position, holder, got)
        });
    }
    let n = l.k + l.m;
    let mut shards: Vec<Option<Vec<u8>>> = vec![None; n];
    let mut holders: Vec<Option<OsdId>> = vec![None; n];
    let mut size = 0;
    let mut bad = Vec::new();
    let mut flag = |osd: OsdId, problem: ScrubProblem| {
        bad.push(BadCopy {
            osd,
            problems: vec![problem],
        })
    };
    while let Some(joined) = set.join_next().await {
        let (position, holder, got) = joined?;
        match got {
            Ok(Some((info, data))) if info.version == version => {
                let layout_stripes = 0..l.stripes(info.meta.size);
                if usize::from(info.meta.shard) != position {
                    let (have, want) = (info.meta.shard, position as u8);
                    flag(holder, ScrubProblem::WrongShard { have, want });
                } else if let Err(stripe) = info.meta.check(&l, layout_stripes, &data) {
                    flag(holder, ScrubProblem::ChunkCrc { stripe });
                } else {
                    size = info.meta.size;
                    shards[position] = Some(data.to_vec());
                    holders[position] = Some(holder);
                }
            }
            // The store refused a block that failed its own crc32c.
            Err(OsdError::Corrupt(_)) => flag(holder, ScrubProblem::ReadError { block: 0 }),
            // Absent or another version: the metadata comparison reports it.
            Ok(_) => {}
            Err(source) => {
                return Err(ScrubError::Member {
                    osd: holder,
                    source,
                });
            }
        }
    }
    if shards.iter().all(Option::is_some) {
        let all: Vec<Vec<u8>> = shards.into_iter().map(Option::unwrap_or_default).collect();
        if let Some((position, stripe)) = parity_culprit(l, size, all).await? {
            let osd = holders[position].expect("every shard present");
            flag(osd, ScrubProblem::Parity { stripe });
        }
    }
    Ok(bad)
}

/// With every shard's chunks clean: the stripe and shard that break the parity, if any.
async fn parity_culprit(
    l: crate::ec::Layout,
    size: u64,
    shards: Vec<Vec<u8>>,
) -> Result<Option<(usize, u64)>, ScrubError> {
    tokio::task::spawn_blocking(move || Ok(Codec::new(l)?.find_bad_shard(size, &shards)?)).await?
}

/// Rebuilds every bad shard of one object from `k` good ones (or removes it, if the
/// authority has no such object). Runs with client writes to the PG blocked.
pub async fn repair_object(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    pg: PgId,
    f: &Finding,
) -> Result<(), ScrubError> {
    let name = &f.report.name;
    let key = ObjectKey {
        pg,
        name: name.clone(),
    };
    for bad in &f.report.bad {
        let copy = match f.report.version {
            None => None,
            Some(version) => {
                let position = ec
                    .position(bad.osd)
                    .ok_or(ScrubError::NoShard { osd: bad.osd, pg })?;
                let copy = ec::rebuild(shared, ec, &key, version, position, Some(bad.osd), &[])
                    .await
                    .map_err(ScrubError::here(shared))?;
                Some(copy)
            }
        };
        repair::install(shared, pg, bad.osd, name, copy).await?;
        shared
            .scrub
            .repaired
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        info!(%pg, object = %name, osd = bad.osd.0, "rebuilt shard");
    }
    Ok(())
}
