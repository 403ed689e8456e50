//! The client's routing and retry rules, pure: which OSD an op goes to in a given map, which
//! failures are worth a retry, how long to back off, and how a monitor's map update applies
//! to the map we hold. No I/O and no clock; the shell in [`super`] acts on the answers.

use std::net::SocketAddr;
use std::time::Duration;

use placement::{ClusterMap, MapError, OsdId, PgId, Placement, PlacementError, PoolId};

use super::error::{ClientError, RetryCause};
use crate::error::CallError;
use crate::proto::mon::MapUpdate;
use crate::proto::osd::OsdError;

/// What an op is about: one object, or one whole PG (listing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Locate<'a> {
    /// The PG of this object name.
    Object(&'a str),
    /// This PG seed of the pool.
    Pg(u32),
}

/// Where to send an op at one epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The PG.
    pub pg: PgId,
    /// Its primary.
    pub osd: OsdId,
    /// The primary's address.
    pub addr: SocketAddr,
}

/// Why an op has no target in a map.
#[derive(Clone, Debug)]
pub(crate) enum RouteError {
    /// The pool is not in the map (refresh once, then give up).
    NoSuchPool,
    /// Retry after a map refresh: no primary or no address.
    Retry(RetryCause),
}

/// The primary of the PG `locate` names in `pool`, and its address, at `map`'s epoch.
/// `placement` must be compiled from `map`.
pub(crate) fn route(
    map: &ClusterMap,
    placement: &Placement,
    pool: PoolId,
    locate: Locate<'_>,
) -> Result<Target, RouteError> {
    let placed = match locate {
        Locate::Object(name) => placement.map_object(pool, name.as_bytes()),
        Locate::Pg(seed) => placement.map_pg(PgId { pool, seed }),
    };
    let placed = placed.map_err(|e| match e {
        // A PG past pg_num (the pool shrank under a listing) is as gone as the pool.
        PlacementError::NoSuchPool(_) | PlacementError::NoSuchPg(_) => RouteError::NoSuchPool,
        // A map that fails its own check; a newer one may not.
        PlacementError::NoSuchRule(_) => RouteError::Retry(RetryCause::Placement(e)),
    })?;
    let osd = placed
        .primary
        .ok_or(RouteError::Retry(RetryCause::NoPrimary(placed.pg)))?;
    let addr = map
        .osds
        .get(&osd)
        .and_then(|o| o.addr)
        .ok_or(RouteError::Retry(RetryCause::NoAddress(osd)))?;
    Ok(Target {
        pg: placed.pg,
        osd,
        addr,
    })
}

/// Whether `map` routes the op somewhere else than `osd` (another primary, or none): an
/// attempt in flight to `osd` is then abandoned and resent by the new route.
pub(crate) fn moved(
    map: &ClusterMap,
    placement: &Placement,
    pool: PoolId,
    locate: Locate<'_>,
    osd: OsdId,
) -> bool {
    route(map, placement, pool, locate).map_or(true, |t| t.osd != osd)
}

/// What to do with one attempt's outcome.
#[derive(Debug)]
pub(crate) enum Verdict<T> {
    /// It worked.
    Done(T),
    /// Refresh the map, back off, and resend the same request (same reqid).
    Retry(RetryCause),
    /// Final: report to the caller.
    Fail(ClientError),
}

/// Sorts an attempt's outcome. Retried: OSD errors that say so (not primary, PG unavailable,
/// pool unknown to the OSD) and calls without an answer (timeout, unreachable, connection
/// lost), because a newer map or a later try may fix them and the reqid makes a resent
/// write safe. Final: every other OSD error, and transport failures that will not change
/// (refused key, unknown method, bad frame, encode failure).
pub(crate) fn judge<T>(outcome: Result<Result<T, OsdError>, CallError>) -> Verdict<T> {
    match outcome {
        Ok(Ok(reply)) => Verdict::Done(reply),
        Ok(Err(e)) if e.is_retryable() => Verdict::Retry(RetryCause::Osd(e)),
        Ok(Err(e)) => Verdict::Fail(ClientError::Osd(e)),
        Err(
            e @ (CallError::Timeout { .. }
            | CallError::Unreachable { .. }
            | CallError::ConnectionLost { .. }),
        ) => Verdict::Retry(RetryCause::Call(e)),
        Err(e) => Verdict::Fail(ClientError::Call(e)),
    }
}

/// Exponential backoff between retries: `min`, doubling, capped at `max`. No jitter: the
/// wait is also cut short by any new map epoch, which is what most retries wait for.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `min`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            next: min.min(max),
            max,
        }
    }

    /// The next wait; each call doubles the one after, up to the cap.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// The map after `update`, if it is newer than `current`. Incrementals we already hold are
/// skipped (a refresh and the subscription can race); a full map of another cluster is
/// refused. An incremental that does not apply (a gap) is an error: fetch the full map.
pub(crate) fn apply_update(
    current: &ClusterMap,
    update: MapUpdate,
) -> Result<Option<ClusterMap>, MapError> {
    match update {
        MapUpdate::UpToDate(_) => Ok(None),
        MapUpdate::Full(map) => {
            if map.fsid != current.fsid {
                return Err(MapError::FsidMismatch {
                    want: current.fsid,
                    got: map.fsid,
                });
            }
            Ok((map.epoch > current.epoch).then_some(*map))
        }
        MapUpdate::Incrementals(incs) => {
            let mut next: Option<ClusterMap> = None;
            for inc in incs.iter().filter(|i| i.epoch > current.epoch) {
                next.get_or_insert_with(|| current.clone()).apply(inc)?;
            }
            Ok(next)
        }
    }
}
