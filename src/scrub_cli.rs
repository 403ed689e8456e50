//! `shoal pg scrub|deep-scrub|repair PGID`, `shoal pg list-inconsistent PGID` (asked of the
//! PG's primary, found from the current map) and `shoal osd corrupt` (fault injection on a
//! stopped OSD's store). Plain text or `--format json`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use placement::{OsdId, PgId, Placement};
use rados::proto::osd::{GetScrubStatus, OsdError, ScrubKind, ScrubRequest, ScrubStatus};
use rados::{Messenger, MessengerConfig};
use serde_json::json;

use crate::connection::{self, Connection};
use crate::output::{Format, print_json};

/// How often a waiting command asks the primary whether its scrub is done.
const POLL: Duration = Duration::from_millis(250);

/// `shoal osd corrupt` arguments.
#[derive(clap::Args, Debug)]
pub struct CorruptArgs {
    /// The stopped OSD's data directory.
    #[arg(long)]
    pub data: PathBuf,
    /// The object whose stored data to damage.
    #[arg(long)]
    pub object: String,
    /// Its pool id (needed only if several pools hold that name).
    #[arg(long)]
    pub pool_id: Option<u32>,
    /// Which data byte to flip.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
}

/// `shoal osd corrupt`: flips one stored data byte, leaving checksums as they were.
pub fn corrupt(args: &CorruptArgs, format: Format) -> anyhow::Result<()> {
    let path = args.data.join("store.redb");
    ensure!(
        path.exists(),
        "{} holds no OSD store (no store.redb)",
        args.data.display()
    );
    let done = osd::store::fault::corrupt_object(&path, &args.object, args.pool_id, args.offset)?;
    if format == Format::Json {
        return print_json(&json!({
            "data": args.data.display().to_string(),
            "pg": done.obj.pg.to_string(),
            "object": done.obj.name,
            "offset": done.offset,
            "block": done.block,
            "old": done.old,
            "new": done.new,
        }));
    }
    println!(
        "corrupted {} in pg {} on {}: byte {} (block {}) {:#04x} -> {:#04x}; stored checksums unchanged",
        done.obj.name,
        done.obj.pg,
        args.data.display(),
        done.offset,
        done.block,
        done.old,
        done.new
    );
    Ok(())
}

/// `shoal pg scrub|deep-scrub|repair PGID`: starts it on the primary, then (unless
/// `no_wait`) waits until it finished and prints what it found.
pub fn request(
    conn: &Connection,
    pgid: &str,
    kind: ScrubKind,
    no_wait: bool,
    format: Format,
) -> anyhow::Result<()> {
    let pg: PgId = pgid.parse()?;
    let (primary, addr) = primary_of(conn, pg)?;
    runtime()?.block_on(async {
        let messenger = messenger(conn)?;
        let ticket = messenger
            .call(addr, &ScrubRequest { pg, kind })
            .await
            .with_context(|| format!("osd.{} at {addr}", primary.0))?
            .map_err(|e| explain(pg, primary, e))?;
        if no_wait {
            if format == Format::Json {
                return print_json(&json!({
                    "pg": pg.to_string(), "osd": primary.0, "kind": kind.to_string(),
                    "done": false,
                }));
            }
            println!("instructing pg {pg} on osd.{} to {kind}", primary.0);
            return Ok(());
        }
        let status = loop {
            let status = messenger
                .call(addr, &GetScrubStatus { pg })
                .await
                .with_context(|| format!("osd.{} at {addr}", primary.0))?
                .map_err(|e| explain(pg, primary, e))?;
            if status.completed >= ticket {
                break status;
            }
            tokio::time::sleep(POLL).await;
        };
        if let Some(why) = &status.aborted {
            bail!("pg {pg} {kind} on osd.{} stopped early: {why}", primary.0);
        }
        if format == Format::Json {
            return print_json(&json!({
                "pg": pg.to_string(), "osd": primary.0, "kind": kind.to_string(),
                "done": true, "errors": status.errors,
                "inconsistent": status.inconsistent.len(),
            }));
        }
        println!(
            "pg {pg} {kind} on osd.{} done: {} scrub errors, {} inconsistent objects",
            primary.0,
            status.errors,
            status.inconsistent.len()
        );
        Ok(())
    })
}

/// `shoal pg list-inconsistent PGID`: the last scrub's bad copies, per object and OSD.
pub fn list_inconsistent(conn: &Connection, pgid: &str, format: Format) -> anyhow::Result<()> {
    let pg: PgId = pgid.parse()?;
    let (primary, addr) = primary_of(conn, pg)?;
    let status: ScrubStatus = runtime()?.block_on(async {
        messenger(conn)?
            .call(addr, &GetScrubStatus { pg })
            .await
            .with_context(|| format!("osd.{} at {addr}", primary.0))?
            .map_err(|e| explain(pg, primary, e))
    })?;
    if format == Format::Json {
        let objects: Vec<_> = status
            .inconsistent
            .iter()
            .map(|o| {
                json!({
                    "object": o.name,
                    "authority": o.authority.map(|a| a.0),
                    "version": o.version.map(|v| v.to_string()),
                    "bad": o.bad.iter().map(|b| json!({
                        "osd": b.osd.0,
                        "errors": b.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return print_json(&json!({
            "pg": pg.to_string(),
            "primary": primary.0,
            "last_scrub": status.last.map(|k| k.to_string()),
            "running": status.running.map(|k| k.to_string()),
            "errors": status.errors,
            "inconsistent": objects,
        }));
    }
    let last = status
        .last
        .map_or("no scrub since the primary started".into(), |k| {
            format!("last {k}")
        });
    println!(
        "pg {pg} (primary osd.{}): {last}, {} scrub errors",
        primary.0, status.errors
    );
    if status.inconsistent.is_empty() {
        return Ok(());
    }
    println!("{:<32} {:<8} {:<24} PROBLEMS", "OBJECT", "OSD", "AUTHORITY");
    for o in &status.inconsistent {
        let auth = match (o.authority, o.version) {
            (Some(a), Some(v)) => format!("osd.{} ({v})", a.0),
            (Some(a), None) => format!("osd.{} (absent)", a.0),
            (None, _) => "none (unrepairable)".into(),
        };
        for b in &o.bad {
            let problems: Vec<String> = b.problems.iter().map(|p| p.to_string()).collect();
            println!(
                "{:<32} {:<8} {:<24} {}",
                o.name,
                format!("osd.{}", b.osd.0),
                auth,
                problems.join(", ")
            );
        }
    }
    Ok(())
}

/// The PG's primary in the current map and where it listens.
fn primary_of(conn: &Connection, pg: PgId) -> anyhow::Result<(OsdId, SocketAddr)> {
    let map = connection::status(conn)?.map;
    let pool = map
        .pools
        .get(&pg.pool)
        .with_context(|| format!("pg {pg} does not exist: there is no pool {}", pg.pool))?;
    ensure!(
        pg.seed < pool.pg_num,
        "pg {pg} does not exist: pool '{}' has pg_num {}",
        pool.name,
        pool.pg_num
    );
    let primary = Placement::new(&map)
        .map_pg(pg)?
        .primary
        .with_context(|| format!("pg {pg} has no primary: every OSD of its acting set is down"))?;
    let addr = map
        .osds
        .get(&primary)
        .and_then(|o| o.addr)
        .with_context(|| format!("osd.{} (primary of pg {pg}) has no address", primary.0))?;
    Ok((primary, addr))
}

fn explain(pg: PgId, primary: OsdId, e: OsdError) -> anyhow::Error {
    anyhow::anyhow!("pg {pg} on osd.{}: {e}", primary.0)
}

fn messenger(conn: &Connection) -> anyhow::Result<std::sync::Arc<Messenger>> {
    let config = MessengerConfig {
        request_timeout: conn.timeout,
        ..MessengerConfig::default()
    };
    Ok(Messenger::client(&conn.keyring, config)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
