//! `shoal pg dump` (every PG's state as its primary reports it) and `shoal pg map PGID`
//! (where a PG lives in the current map). Plain text or `--format json`.

use anyhow::{Context, ensure};
use placement::{OsdId, PgId, Placement};
use rados::proto::mon::PgDump;
use rados::proto::osd::Version;
use serde_json::json;

use crate::admin::{self, Connection};
use crate::output::{Format, print_json};

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
}

/// `shoal pg ...`.
pub fn run(conn: &Connection, cmd: &PgCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        PgCommand::Dump => dump(conn, format),
        PgCommand::Map { pgid } => map(conn, pgid, format),
    }
}

/// Ceph's `epoch'seq` form.
fn version(v: Version) -> String {
    format!("{}'{}", v.epoch, v.seq)
}

fn dump(conn: &Connection, format: Format) -> anyhow::Result<()> {
    let pgs = admin::call(conn, &PgDump)?;
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
    let map = admin::status(conn)?.map;
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
