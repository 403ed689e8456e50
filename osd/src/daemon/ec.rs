//! Erasure-coded PGs in the shell. The PG machine replicates "an object" as it does for
//! replicated pools; this module makes each member's copy its own shard: the primary encodes a
//! write once and gives every member its shard (`shard_mutations`), a read gathers `k` shards
//! of the version the primary holds (data shards first) and decodes only when one is
//! missing or bad, and a recovery push rebuilds the target's shard from `k` others.
//!
//! A shard names itself ([`ShardMeta::shard`]), so gathering trusts what a holder says it
//! has, not where the map puts it: a member that moved position is never decoded as the
//! wrong shard.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use placement::{ClusterMap, OsdId, PoolKind};
use rados::proto::osd::{OsdError, Version};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::peer::{ShardInfo, ShardRead};
use super::shared::{Shared, store_err};
use crate::ec::shards::{Gather, Reply, Serve, rebuilt_copy, served_copy};
use crate::ec::{Codec, Layout, ShardMeta};
use crate::pg::ObjectCopy;
use crate::pg::types::EcMapping;
use crate::store::{ObjectKey, ObjectMeta, Store};

/// The layout of `pool` in `map`, if it is erasure-coded.
pub fn layout_of(map: &ClusterMap, pool: placement::PoolId) -> Option<Layout> {
    match map.pools.get(&pool)?.kind {
        PoolKind::Erasure {
            k, m, stripe_unit, ..
        } => Some(Layout {
            k: usize::from(k),
            m: usize::from(m),
            stripe_unit: stripe_unit as usize,
        }),
        PoolKind::Replicated { .. } => None,
    }
}

/// Where [`read_local`] reads: which copy, which stripes, whether it checks the chunks.
#[derive(Clone, Debug)]
pub struct LocalRead {
    /// The version wanted (`None`: the current one).
    pub want: Option<Version>,
    /// Only the roll-back copy, if it is `want` as the current one is
    /// (`crate::ec::shards::served_copy`).
    pub second_copy: bool,
    /// Which stripes (`None`: all of them).
    pub stripes: Option<Range<u64>>,
    /// Check every chunk's crc32c.
    pub check: bool,
}

/// Reads this OSD's shard of `key` as `read` says.
pub fn read_local(
    store: &Store,
    layout: &Layout,
    key: &ObjectKey,
    read: LocalRead,
) -> Result<Option<(ShardInfo, Bytes)>, OsdError> {
    let LocalRead {
        want,
        second_copy: second,
        stripes,
        check,
    } = read;
    let found = store.stat(key).map_err(store_err)?;
    let current = found.as_ref().map(|m| m.version);
    // The roll-back copy is looked at only when it may be the one asked for.
    let old = if second || (want.is_some() && current != want) {
        store.stat(&key.stash()).map_err(store_err)?
    } else {
        None
    };
    match served_copy(want, second, current, old.as_ref().map(|m| m.version)) {
        None => Ok(None),
        Some(Serve::RollBack) => {
            let old = old.expect("a roll-back copy is served only if there is one");
            read_shard(store, layout, &key.stash(), old, stripes, check)
        }
        Some(Serve::Current) => {
            let meta = found.expect("a current copy is served only if there is one");
            read_shard(store, layout, key, meta, stripes, check)
        }
    }
}

fn read_shard(
    store: &Store,
    layout: &Layout,
    key: &ObjectKey,
    meta: ObjectMeta,
    stripes: Option<Range<u64>>,
    check: bool,
) -> Result<Option<(ShardInfo, Bytes)>, OsdError> {
    let shard = ShardMeta::of(&meta)
        .ok_or_else(|| OsdError::Corrupt(format!("{key}: shard without its erasure meta")))?;
    let all = 0..layout.stripes(shard.size);
    let stripes = stripes.map_or(all.clone(), |s| s.start.min(all.end)..s.end.min(all.end));
    let range = layout.shard_range(shard.size, stripes.clone());
    let data = if range.is_empty() {
        Bytes::new()
    } else {
        let (now, data) = store
            .read(key, range.start, Some(range.end - range.start))
            .map_err(store_err)?
            .ok_or(OsdError::NoSuchObject)?;
        if now.version != meta.version {
            return Err(OsdError::Unavailable {
                pg: key.pg.to_string(),
                state: "object changed during the read".into(),
            });
        }
        data
    };
    if let Err(stripe) = shard.check(layout, stripes, &data)
        && check
    {
        return Err(OsdError::Corrupt(format!(
            "{key}: shard {} stripe {stripe} fails its crc32c",
            shard.shard
        )));
    }
    let info = ShardInfo {
        version: meta.version,
        meta: shard,
        xattrs: meta.xattrs,
    };
    Ok(Some((info, data)))
}

/// Serves [`ShardRead`]: this OSD's shard, data as the reply payload.
pub async fn serve_shard_read(
    shared: Arc<Shared>,
    req: ShardRead,
) -> (Result<Option<ShardInfo>, OsdError>, Bytes) {
    let Some(layout) = layout_of(&shared.map(), req.pg.pool) else {
        return (Err(OsdError::NoSuchPool), Bytes::new());
    };
    let key = ObjectKey {
        pg: req.pg,
        name: req.name,
    };
    let store = shared.store.clone();
    let read = LocalRead {
        want: req.version,
        second_copy: req.second_copy,
        stripes: req.stripes,
        check: !req.unchecked,
    };
    let read = tokio::task::spawn_blocking(move || read_local(&store, &layout, &key, read))
        .await
        .map_err(|e| OsdError::Io(e.to_string()));
    match read {
        Ok(Ok(Some((info, data)))) => (Ok(Some(info)), data),
        Ok(Ok(None)) => (Ok(None), Bytes::new()),
        Ok(Err(e)) | Err(e) => (Err(e), Bytes::new()),
    }
}

/// One holder's shard, from the local store or over the messenger, as `read` says
/// (scrub reads unchecked to find the bad stripe).
pub async fn fetch(
    shared: &Arc<Shared>,
    layout: Layout,
    holder: OsdId,
    key: &ObjectKey,
    read: LocalRead,
) -> Result<Option<(ShardInfo, Bytes)>, OsdError> {
    if holder == shared.id {
        let (store, key) = (shared.store.clone(), key.clone());
        return tokio::task::spawn_blocking(move || read_local(&store, &layout, &key, read))
            .await
            .map_err(|e| OsdError::Io(e.to_string()))?;
    }
    let addr = shared
        .addr_of(holder)
        .ok_or_else(|| OsdError::Io(format!("no address for {holder}")))?;
    let req = ShardRead {
        pg: key.pg,
        name: key.name.clone(),
        version: read.want,
        stripes: read.stripes,
        unchecked: !read.check,
        second_copy: read.second_copy,
    };
    let (reply, data) = shared
        .messenger
        .call_with_payload(addr, &req, Bytes::new())
        .await
        .map_err(|e| OsdError::Io(e.to_string()))?;
    Ok(reply?.map(|info| (info, data)))
}

/// Shards of `key` at `version` gathered from the PG's holders, by shard index, and one
/// holder's description; at least `k` unless the error says why not. Whom it asks, in which
/// rounds, and what it takes: [`Gather`]; this only fetches.
pub async fn gather(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    key: &ObjectKey,
    version: Version,
    stripes: Option<Range<u64>>,
    skip: Option<OsdId>,
    elsewhere: &[OsdId],
) -> Result<(Vec<Option<Bytes>>, ShardInfo), OsdError> {
    let l = ec.layout;
    let mut gather = Gather::new(ec, version, skip, elsewhere);
    while let Some(round) = gather.next_round() {
        let mut set = JoinSet::new();
        for holder in round.holders {
            let (shared, key) = (shared.clone(), key.clone());
            let read = LocalRead {
                want: Some(version),
                second_copy: round.second_copies,
                stripes: stripes.clone(),
                check: true,
            };
            set.spawn(async move { (holder, fetch(&shared, l, holder, &key, read).await) });
        }
        while let Some(joined) = set.join_next().await {
            let Ok((holder, result)) = joined else {
                continue;
            };
            let reply = match result {
                Ok(Some((info, data))) => Reply::Shard {
                    version: info.version,
                    shard: info.meta.shard,
                    data,
                    described: info,
                },
                Ok(None) => Reply::Absent,
                Err(e) => Reply::Failed(e.to_string()),
            };
            gather.on_reply(holder, reply);
        }
    }
    let gathered = gather.finish().map_err(|short| OsdError::Unavailable {
        pg: key.pg.to_string(),
        state: format!("{}: {short}", key.name),
    })?;
    if !gathered.problems.is_empty() {
        debug!(obj = %key, problems = ?gathered.problems, "degraded erasure-coded read");
    }
    Ok((gathered.shards, gathered.described))
}

/// Bytes `off .. off + len` of an object whose local shard meta is `local`: only the
/// stripes the range needs, decoded only if a data shard is missing or bad.
pub async fn read(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    key: &ObjectKey,
    local: &ObjectMeta,
    off: u64,
    len: Option<u64>,
) -> Result<Bytes, OsdError> {
    let meta = ShardMeta::of(local)
        .ok_or_else(|| OsdError::Corrupt(format!("{key}: shard without its erasure meta")))?;
    let l = ec.layout;
    let stripes = l.stripes_for(meta.size, off, len.unwrap_or(u64::MAX));
    if stripes.is_empty() {
        return Ok(Bytes::new());
    }
    let (got, _) = gather(
        shared,
        ec,
        key,
        local.version,
        Some(stripes.clone()),
        None,
        &[],
    )
    .await?;
    let size = meta.size;
    let base = stripes.start * l.stripe_width();
    let end = off.saturating_add(len.unwrap_or(u64::MAX)).min(size);
    tokio::task::spawn_blocking(move || {
        let codec = Codec::new(l).map_err(|e| OsdError::Io(e.to_string()))?;
        let view: Vec<Option<&[u8]>> = got.iter().map(|g| g.as_deref()).collect();
        let bytes = codec
            .decode(size, stripes, &view)
            .map_err(|e| OsdError::Corrupt(e.to_string()))?;
        let from = (off - base) as usize;
        Ok(Bytes::from(bytes).slice(from..(end - base) as usize))
    })
    .await
    .map_err(|e| OsdError::Io(e.to_string()))?
}

/// The copy recovery pushes to `to`: our object's version (or the roll-back state, see
/// `PgMsg::PushTo`) with `to`'s shard, rebuilt from `k` holders, asking `elsewhere` too if
/// the acting ones are too few (`None`: the object is absent, so it must be absent there).
pub async fn rebuild_for(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    key: &ObjectKey,
    to: OsdId,
    rollback: Option<Option<Version>>,
    elsewhere: &[OsdId],
) -> Result<Option<ObjectCopy>, OsdError> {
    let position = ec
        .position(to)
        .ok_or_else(|| OsdError::Invalid(format!("{to} holds no shard of {}", key.pg)))?;
    let version = match rollback {
        Some(state) => state,
        None => {
            let (store, k2) = (shared.store.clone(), key.clone());
            tokio::task::spawn_blocking(move || store.stat(&k2))
                .await
                .map_err(|e| OsdError::Io(e.to_string()))?
                .map_err(store_err)?
                .map(|m| m.version)
        }
    };
    match version {
        None => Ok(None),
        // The shard being replaced is never a source: it may be the very copy rolled back.
        Some(v) => rebuild(shared, ec, key, v, position, Some(to), elsewhere)
            .await
            .map(Some),
    }
}

/// Shard `position` of `key` at `version`, rebuilt from `k` holders other than `skip`
/// (`elsewhere` as in [`gather`]), as a copy to install on its holder.
pub async fn rebuild(
    shared: &Arc<Shared>,
    ec: &EcMapping,
    key: &ObjectKey,
    version: Version,
    position: usize,
    skip: Option<OsdId>,
    elsewhere: &[OsdId],
) -> Result<ObjectCopy, OsdError> {
    let (got, info) = gather(shared, ec, key, version, None, skip, elsewhere).await?;
    let l = ec.layout;
    tokio::task::spawn_blocking(move || {
        let shards = got.into_iter().map(|g| g.map(|b| b.to_vec())).collect();
        rebuilt_copy(l, position, version, shards, info.meta, info.xattrs)
            .map_err(|e| OsdError::Corrupt(e.to_string()))
    })
    .await
    .map_err(|e| OsdError::Io(e.to_string()))?
}

/// Logs a failed rebuild; the PG machine resends the push on its tick.
pub fn rebuild_failed(key: &ObjectKey, to: OsdId, e: &OsdError) {
    warn!(obj = %key, %to, error = %e, "cannot rebuild shard; retrying");
}
