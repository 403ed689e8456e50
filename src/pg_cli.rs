//! `shoal pg dump` (every PG's state as its primary reports it), `shoal pg map PGID`
//! (where a PG lives in the current map), and the scrub commands (`src/scrub_cli.rs`).
//! Plain text or `--format json`.

use anyhow::{Context, ensure};
use placement::{OsdId, PgId, Placement};
use rados::proto::mon::PgDump;
use rados::proto::osd::{ScrubKind, Version};
use serde_json::json;

use crate::connection::{self, Connection};
use crate::output::{Format, print_json};
use crate::scrub_cli;

/// Subcommands under `shoal pg`.
#[derive(clap::Subcommand, Debug)]
pub enum PgCommand {
    /// Every PG: state (`unknown` until its primary reports it), acting set, interval start,
    /// last update.
    Dump,
    /// A PG's up set, acting set and primary in the current map.
    Map {
        /// The PG, as POOL.SEED in hex (e.g. `1.a`).
        pgid: String,
    },
    /// Light scrub: compare object listings, sizes, versions, xattrs and stored checksums
    /// across the PG's members. Waits for the result unless `--no-wait`.
    Scrub {
        /// The PG, as POOL.SEED in hex (e.g. `1.a`).
        pgid: String,
        /// Return once the primary accepted the request.
        #[arg(long)]
        no_wait: bool,
    },
    /// Deep scrub: also re-read every byte on every member and verify its checksums.
    DeepScrub {
        /// The PG, as POOL.SEED in hex (e.g. `1.a`).
        pgid: String,
        /// Return once the primary accepted the request.
        #[arg(long)]
        no_wait: bool,
    },
    /// Repair: deep scrub, rewrite every bad copy from the authoritative one, scrub again.
    Repair {
        /// The PG, as POOL.SEED in hex (e.g. `1.a`).
        pgid: String,
        /// Return once the primary accepted the request.
        #[arg(long)]
        no_wait: bool,
    },
    /// Objects with bad copies found by the PG's last scrub: which OSD's copy and why.
    ListInconsistent {
        /// The PG, as POOL.SEED in hex (e.g. `1.a`).
        pgid: String,
    },
}

/// `shoal pg ...`.
pub fn run(conn: &Connection, cmd: &PgCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        PgCommand::Dump => dump(conn, format),
        PgCommand::Map { pgid } => map(conn, pgid, format),
        PgCommand::Scrub { pgid, no_wait } => {
            scrub_cli::request(conn, pgid, ScrubKind::Light, *no_wait, format)
        }
        PgCommand::DeepScrub { pgid, no_wait } => {
            scrub_cli::request(conn, pgid, ScrubKind::Deep, *no_wait, format)
        }
        PgCommand::Repair { pgid, no_wait } => {
            scrub_cli::request(conn, pgid, ScrubKind::Repair, *no_wait, format)
        }
        PgCommand::ListInconsistent { pgid } => scrub_cli::list_inconsistent(conn, pgid, format),
    }
}

/// Ceph's `epoch'seq` form.
fn version(v: Version) -> String {
    format!("{}'{}", v.epoch, v.seq)
}

fn dump(conn: &Connection, format: Format) -> anyhow::Result<()> {
    let pgs = connection::call(conn, &PgDump)?;
    if format == Format::Json {
        return print_json(
            &pgs.iter()
                .map(|s| {
                    json!({
                        "pg": s.pg.to_string(),
                        "state": s.state,
                        "acting": s.acting.iter().map(|o| o.0).collect::<Vec<_>>(),
                        "since": s.since.0,
                        "last_update": version(s.last_update),
                        "objects": s.objects,
                        "degraded": s.degraded,
                        "misplaced": s.misplaced,
                        "scrub_errors": s.scrub_errors,
                    })
                })
                .collect::<Vec<_>>(),
        );
    }
    println!(
        "{:<10} {:<44} {:<16} {:<8} {:<12} {:>8} {:>9} MISPLACED",
        "PG", "STATE", "ACTING", "SINCE", "LAST_UPDATE", "OBJECTS", "DEGRADED"
    );
    for s in &pgs {
        let acting: Vec<String> = s.acting.iter().map(|o| o.0.to_string()).collect();
        println!(
            "{:<10} {:<44} {:<16} {:<8} {:<12} {:>8} {:>9} {}",
            s.pg.to_string(),
            s.state,
            format!("[{}]", acting.join(",")),
            s.since.0,
            version(s.last_update),
            s.objects,
            s.degraded,
            s.misplaced
        );
    }
    Ok(())
}

fn map(conn: &Connection, pgid: &str, format: Format) -> anyhow::Result<()> {
    let pg: PgId = pgid.parse()?;
    let map = connection::status(conn)?.map;
    let pool = map
        .pools
        .get(&pg.pool)
        .with_context(|| format!("pg {pg} does not exist: there is no pool {}", pg.pool))?;
    ensure!(
        pg.seed < pool.pg_num,
        "pg {pg} does not exist: pool {} '{}' has pg_num {} (seeds 0..{:x})",
        pool.id,
        pool.name,
        pool.pg_num,
        pool.pg_num.saturating_sub(1)
    );
    let placed = Placement::new(&map).map_pg(pg)?;
    let ids = |set: &[Option<OsdId>]| set.iter().map(|o| o.map(|o| o.0)).collect::<Vec<_>>();
    if format == Format::Json {
        return print_json(&json!({
            "pgid": pg.to_string(),
            "epoch": map.epoch.0,
            "up": ids(&placed.up),
            "acting": ids(&placed.acting),
            "primary": placed.primary.map(|o| o.0),
        }));
    }
    let show = |set: &[Option<OsdId>]| {
        set.iter()
            .map(|o| o.map_or("NONE".into(), |o| o.0.to_string()))
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "osdmap e{} pg {pg} ({pg}) -> up [{}] acting [{}] primary {}",
        map.epoch,
        show(&placed.up),
        show(&placed.acting),
        placed.primary.map_or("none".into(), |o| o.0.to_string())
    );
    Ok(())
}
