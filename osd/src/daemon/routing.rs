//! Which PG task serves a request here: this OSD's handle on a PG it is the (active)
//! primary of, the task of a PG a peer's message is for, and which OSD sent a request.

use std::sync::Arc;

use placement::{OsdId, PgId};
use rados::proto::osd::OsdError;

use super::maps;
use super::pg_handle::{PgHandle, PgSnapshot};
use super::shared::Shared;
use crate::pg::PgState;

/// The handle of `pg` if this OSD is its active primary in `map`, else why not.
pub(super) fn active_primary(
    shared: &Shared,
    pg: PgId,
    map: &placement::ClusterMap,
) -> Result<(PgId, PgHandle), OsdError> {
    let (handle, snap) = serving_primary(shared, pg, map)?;
    if snap.state != PgState::Active {
        return Err(OsdError::Unavailable {
            pg: pg.to_string(),
            state: snap.state_string(),
        });
    }
    Ok((pg, handle))
}

/// The handle and state of `pg` if this OSD is its primary in `map`.
pub(super) fn serving_primary(
    shared: &Shared,
    pg: PgId,
    map: &placement::ClusterMap,
) -> Result<(PgHandle, PgSnapshot), OsdError> {
    let not_primary = || OsdError::NotPrimary {
        pg: pg.to_string(),
        epoch: map.epoch,
    };
    let handle = shared.pg(pg).ok_or_else(not_primary)?;
    let snap = handle.snapshot();
    if !snap.primary {
        return Err(not_primary());
    }
    Ok((handle, snap))
}

/// The OSD that sent a request, by the listening address it announced.
pub(super) fn sender(shared: &Shared, ctx: &rados::Context) -> Option<OsdId> {
    let addr = ctx.from?;
    shared
        .map()
        .osds
        .values()
        .find(|o| o.addr == Some(addr))
        .map(|o| o.id)
}

/// The task of `pg`, started if this OSD does not run it yet (and its pool exists).
pub(super) async fn pg_task_for(shared: &Arc<Shared>, pg: PgId) -> Option<PgHandle> {
    if let Some(h) = shared.pg(pg) {
        return Some(h);
    }
    let map = shared.map();
    if !map.pools.contains_key(&pg.pool) {
        return None;
    }
    maps::ensure_pg(shared, pg, &map).await
}
