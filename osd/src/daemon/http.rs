//! `/metrics` (Prometheus text format) and `/health` over axum.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::routing::get;

use super::error::OsdError;
use super::liveness::primary_pg_statuses;
use super::shared::Shared;

/// Serves the endpoints on `addr`; returns the bound address.
pub async fn serve(shared: Arc<Shared>, addr: SocketAddr) -> Result<SocketAddr, OsdError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| OsdError::Http { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| OsdError::Http { addr, source })?;
    let (m, h) = (shared.clone(), shared);
    let app = Router::new()
        .route("/metrics", get(move || async move { metrics(&m) }))
        .route("/health", get(move || async move { health(&h) }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "http endpoint stopped");
        }
    });
    Ok(bound)
}

fn health(shared: &Shared) -> String {
    let failed = shared.fatal.borrow().clone();
    match failed {
        Some(reason) => format!("{{\"status\":\"failed\",\"reason\":{reason:?}}}\n"),
        None => format!(
            "{{\"status\":\"ok\",\"id\":{},\"epoch\":{}}}\n",
            shared.id.0,
            shared.map().epoch.0
        ),
    }
}

fn metrics(shared: &Shared) -> String {
    let mut out = String::new();
    let id = shared.id.0;
    let usage = shared.store.usage();
    let stats = shared.store.stats();
    let c = &shared.counters;
    let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        let _ = writeln!(out, "{name}{{osd=\"{id}\"}} {value}");
    };
    gauge(
        "shoal_osd_map_epoch",
        "Newest map epoch seen.",
        "gauge",
        shared.map().epoch.0,
    );
    gauge(
        "shoal_osd_bytes",
        "Object bytes stored.",
        "gauge",
        usage.bytes,
    );
    gauge(
        "shoal_osd_objects",
        "Objects stored.",
        "gauge",
        usage.objects,
    );
    gauge(
        "shoal_osd_reads_total",
        "Client reads served.",
        "counter",
        c.reads.load(Ordering::Relaxed),
    );
    gauge(
        "shoal_osd_writes_total",
        "Client writes acknowledged.",
        "counter",
        c.writes.load(Ordering::Relaxed),
    );
    gauge(
        "shoal_osd_op_errors_total",
        "Client requests that failed.",
        "counter",
        c.errors.load(Ordering::Relaxed),
    );
    gauge(
        "shoal_osd_corrupt_reads_total",
        "Reads that hit a bad checksum.",
        "counter",
        shared.store.corrupt_reads(),
    );
    gauge(
        "shoal_osd_read_repairs_total",
        "Client reads served from a replica because the local copy was corrupt (the local copy is rewritten).",
        "counter",
        shared.scrub.read_repairs.load(Ordering::Relaxed),
    );
    gauge(
        "shoal_osd_scrub_repaired_total",
        "Bad copies rewritten by repair.",
        "counter",
        shared.scrub.repaired.load(Ordering::Relaxed),
    );
    gauge(
        "shoal_osd_scrub_errors",
        "Bad copies found by the last scrub of each PG this OSD is primary of.",
        "gauge",
        shared.scrub.errors(),
    );
    gauge(
        "shoal_osd_slow_requests",
        "Client requests in flight for 5 s or more (the log names what each waits for).",
        "gauge",
        shared.in_flight.slow_count(shared.clock.now()) as u64,
    );
    gauge(
        "shoal_osd_stray_pgs_removed_total",
        "PG copies deleted here because the PG is active+clean on other OSDs.",
        "counter",
        c.stray_pgs_removed.load(Ordering::Relaxed),
    );
    gauge(
        "shoal_osd_commit_batches_total",
        "Group commits (fsyncs).",
        "counter",
        stats.batches,
    );
    gauge(
        "shoal_osd_commit_txns_total",
        "Transactions committed.",
        "counter",
        stats.txns,
    );
    let _ = writeln!(
        out,
        "# HELP shoal_osd_gossip_dropped_total Gossip packets dropped: not signed with the \
         cluster key (forged), seen before (replayed), too old or far ahead (stale), too short.\n\
         # TYPE shoal_osd_gossip_dropped_total counter"
    );
    for why in crate::gossip::seal::Dropped::ALL {
        let n = c.gossip_dropped[why.index()].load(Ordering::Relaxed);
        let reason = why.as_str();
        let _ = writeln!(
            out,
            "shoal_osd_gossip_dropped_total{{osd=\"{id}\",reason=\"{reason}\"}} {n}"
        );
    }
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    for s in primary_pg_statuses(shared) {
        *states.entry(s.state).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "# HELP shoal_osd_pgs PGs this OSD is primary of, by state.\n# TYPE shoal_osd_pgs gauge"
    );
    for (state, n) in states {
        let _ = writeln!(out, "shoal_osd_pgs{{osd=\"{id}\",state=\"{state}\"}} {n}");
    }
    out
}
