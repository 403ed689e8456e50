//! Admin commands against the monitors: status, health, mon stat, osd and pool management,
//! osd map. Each prints plain text or `--format json` and fails with one line.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use placement::{ClusterMap, DomainType, Flag, OsdId, Placement, Pool, PoolKind, Weight};
use rados::proto::mon::{AdminCommand, Df, StatusReport};
use serde_json::json;

use crate::connection::{Connection, admin, call, changed, status};
use crate::output::{Format, osd_state, print_json};

/// Admin subcommands under `shoal osd`.
#[derive(clap::Subcommand, Debug)]
pub enum OsdCommand {
    /// The CRUSH hierarchy with each OSD's state.
    Tree,
    /// OSD ids.
    Ls,
    /// Every OSD entry, the flags and the epoch.
    Dump,
    /// Space each OSD uses: data held (roll-back copies included), store file size,
    /// objects and PGs, from the OSDs' latest beacons.
    Df,
    /// Mark an OSD down.
    Down { id: OsdId },
    /// Mark OSDs out (their data moves elsewhere), all in one epoch.
    Out {
        #[arg(required = true)]
        ids: Vec<OsdId>,
    },
    /// Mark OSDs in, all in one epoch.
    In {
        #[arg(required = true)]
        ids: Vec<OsdId>,
    },
    /// Set an OSD's CRUSH weight (capacity, 1.0 = 1 TiB by convention).
    Reweight { id: OsdId, weight: Weight },
    /// Delete a down OSD from the map.
    Rm { id: OsdId },
    /// Set a cluster flag (noout, noin, noup, nodown, nobackfill, norecover, noscrub, nodeep-scrub, pause).
    Set { flag: String },
    /// Clear a cluster flag.
    Unset { flag: String },
    /// Where an object lives: its PG, up set, acting set and primary.
    Map { pool: String, object: String },
    /// Fault injection: flip one stored data byte of an object on a stopped OSD, leaving
    /// its checksums unchanged (silent corruption, for tests and chaos scripts).
    Corrupt(crate::scrub_cli::CorruptArgs),
}

/// Admin subcommands under `shoal pool`.
#[derive(clap::Subcommand, Debug)]
pub enum PoolCommand {
    /// Create a pool.
    Create {
        /// Its name.
        name: String,
        /// Copies kept (replicated pools).
        #[arg(long, conflicts_with = "ec")]
        size: Option<u8>,
        /// Fewest copies (or shards) that accept writes (default: a majority of size, 2 of
        /// 3; K+1 for erasure-coded pools, which may go down to K with a warning).
        #[arg(long)]
        min_size: Option<u8>,
        /// Erasure-coded with K data and M parity shards, e.g. 4+2.
        #[arg(long, value_name = "K+M")]
        ec: Option<String>,
        /// Erasure-coded pools: bytes per chunk (a stripe is K chunks), e.g. 64KiB.
        #[arg(long, requires = "ec", default_value = "64KiB")]
        stripe_unit: String,
        /// Number of PGs.
        #[arg(long, default_value_t = 64)]
        pg_num: u32,
        /// Level whose buckets must be distinct within a PG: osd, host or zone.
        #[arg(long, default_value = "host")]
        failure_domain: String,
    },
    /// Pool names.
    Ls,
    /// One pool's parameters.
    Get { name: String },
    /// Delete a pool and all its data.
    Rm {
        /// Its name.
        name: String,
        /// Required: deleting a pool cannot be undone.
        #[arg(long)]
        yes_i_really_mean_it: bool,
    },
}

/// Admin subcommands under `shoal mon`.
#[derive(clap::Subcommand, Debug)]
pub enum MonCommand {
    /// Monitors, quorum and leader.
    Stat,
}

/// `shoal status`.
pub fn show_status(conn: &Connection, format: Format) -> anyhow::Result<()> {
    let s = status(conn)?;
    let map = &s.map;
    let up = map.osds.values().filter(|o| o.up).count();
    let inn = map.osds.values().filter(|o| o.is_in).count();
    let in_quorum: Vec<u64> = s
        .quorum
        .mons
        .iter()
        .filter(|m| m.in_quorum)
        .map(|m| m.id)
        .collect();
    if format == Format::Json {
        return print_json(&json!({
            "fsid": map.fsid.to_string(),
            "health": s.health,
            "checks": s.checks,
            "epoch": map.epoch.0,
            "mons": {
                "total": s.quorum.mons.len(),
                "quorum": in_quorum,
                "leader": s.quorum.leader,
                "term": s.quorum.term,
            },
            "osds": {"total": map.osds.len(), "up": up, "in": inn},
            "pools": map.pools.values().map(|p| &p.name).collect::<Vec<_>>(),
            "pgs": s.pgs,
            "pg_states": s.pg_states,
            "usage": {"bytes": s.bytes, "objects": s.objects},
            "recovery": {
                "degraded_objects": s.recovery.degraded_objects,
                "misplaced_objects": s.recovery.misplaced_objects,
                "objects_per_sec": s.recovery.objects_per_sec,
                "bytes_per_sec": s.recovery.bytes_per_sec,
                "eta_secs": s.recovery.eta_secs,
            },
            "pg_temp": map.pg_temp.len(),
            "flags": flag_names(map),
        }));
    }
    println!("  cluster:");
    println!("    id:     {}", map.fsid);
    println!("    health: {}", s.health);
    for c in &s.checks {
        println!("            {}: {}", c.code, c.summary);
    }
    println!("  services:");
    println!(
        "    mon: {} daemons, quorum {:?}, leader {}",
        s.quorum.mons.len(),
        in_quorum,
        s.quorum
            .leader
            .map_or("none".into(), |l| format!("mon.{l}"))
    );
    println!(
        "    osd: {} osds: {up} up, {inn} in; epoch {}",
        map.osds.len(),
        map.epoch
    );
    println!("  data:");
    println!("    pools: {} pools, {} pgs", map.pools.len(), s.pgs.total);
    println!(
        "    pgs:   {} clean, {} degraded, {} inactive",
        s.pgs.clean, s.pgs.degraded, s.pgs.inactive
    );
    for (state, count) in &s.pg_states {
        println!("           {count} {state}");
    }
    println!("    usage: {} objects, {} bytes", s.objects, s.bytes);
    print_recovery(&s);
    Ok(())
}

/// The `io:` lines of `shoal status`: degraded and misplaced copies (of all copies stored),
/// recovery rate and the time left, while there is any.
fn print_recovery(s: &StatusReport) {
    let r = &s.recovery;
    let pct = |n: u64| 100.0 * n as f64 / (s.objects.max(1)) as f64;
    if r.degraded_objects > 0 {
        println!(
            "    degraded:  {}/{} objects ({:.1}%)",
            r.degraded_objects,
            s.objects,
            pct(r.degraded_objects)
        );
    }
    if r.misplaced_objects > 0 || !s.map.pg_temp.is_empty() {
        println!(
            "    misplaced: {}/{} objects ({:.1}%), {} pgs remapped",
            r.misplaced_objects,
            s.objects,
            pct(r.misplaced_objects),
            s.map.pg_temp.len()
        );
    }
    if r.objects_per_sec > 0.0 {
        let eta = r
            .eta_secs
            .map_or(String::new(), |e| format!(", ~{e} s left"));
        println!(
            "  io:\n    recovery: {:.1} MB/s, {:.1} objects/s{eta}",
            r.bytes_per_sec / 1e6,
            r.objects_per_sec
        );
    }
}

/// `shoal health [detail]`.
pub fn show_health(conn: &Connection, detail: bool, format: Format) -> anyhow::Result<()> {
    let s = status(conn)?;
    if format == Format::Json {
        return print_json(&json!({"status": s.health, "checks": s.checks}));
    }
    let summary: Vec<&str> = s.checks.iter().map(|c| c.summary.as_str()).collect();
    if summary.is_empty() {
        println!("{}", s.health);
    } else {
        println!("{} {}", s.health, summary.join("; "));
    }
    if detail {
        for c in &s.checks {
            println!("[{}] {}: {}", &c.severity[7..], c.code, c.summary);
            for line in &c.detail {
                println!("    {line}");
            }
        }
    }
    Ok(())
}

/// `shoal mon stat`.
pub fn mon(conn: &Connection, cmd: &MonCommand, format: Format) -> anyhow::Result<()> {
    let MonCommand::Stat = cmd;
    let s = status(conn)?;
    let q = &s.quorum;
    if format == Format::Json {
        return print_json(&json!({
            "leader": q.leader,
            "term": q.term,
            "epoch": s.map.epoch.0,
            "mons": q.mons,
        }));
    }
    let quorum: Vec<String> = q
        .mons
        .iter()
        .filter(|m| m.in_quorum)
        .map(|m| format!("mon.{}", m.id))
        .collect();
    println!(
        "e{}: {} mons, leader {}, term {}, quorum {}",
        s.map.epoch,
        q.mons.len(),
        q.leader.map_or("none".into(), |l| format!("mon.{l}")),
        q.term,
        quorum.join(",")
    );
    for m in &q.mons {
        println!(
            "  mon.{} {} {}",
            m.id,
            m.addr,
            if m.in_quorum {
                "in quorum"
            } else {
                "OUT of quorum"
            }
        );
    }
    Ok(())
}

fn flag(name: &str) -> anyhow::Result<Flag> {
    Flag::from_name(name).with_context(|| {
        let all: Vec<&str> = Flag::ALL.iter().map(|f| f.name()).collect();
        format!("unknown flag {name:?} (flags: {})", all.join(", "))
    })
}

/// `osd.1, osd.4`.
fn osd_names(ids: &[OsdId]) -> String {
    let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// `shoal osd ...`.
pub fn osd(conn: &Connection, cmd: &OsdCommand, format: Format) -> anyhow::Result<()> {
    let simple = |c: AdminCommand, what: String| changed(what, admin(conn, c)?, format);
    match cmd {
        OsdCommand::Down { id } => simple(AdminCommand::OsdDown(*id), format!("marked down {id}")),
        OsdCommand::Out { ids } => simple(
            AdminCommand::OsdOut(ids.clone()),
            format!("marked out {}", osd_names(ids)),
        ),
        OsdCommand::In { ids } => simple(
            AdminCommand::OsdIn(ids.clone()),
            format!("marked in {}", osd_names(ids)),
        ),
        OsdCommand::Reweight { id, weight } => simple(
            AdminCommand::OsdReweight(*id, *weight),
            format!("reweighted {id} to {weight}"),
        ),
        OsdCommand::Rm { id } => simple(AdminCommand::OsdRm(*id), format!("removed {id}")),
        OsdCommand::Set { flag: f } => {
            simple(AdminCommand::SetFlag(flag(f)?), format!("{f} is set"))
        }
        OsdCommand::Unset { flag: f } => {
            simple(AdminCommand::UnsetFlag(flag(f)?), format!("{f} is unset"))
        }
        OsdCommand::Ls => list_osds(&status(conn)?.map, format),
        OsdCommand::Dump => dump_osds(&status(conn)?.map, format),
        OsdCommand::Tree => tree_osds(&status(conn)?.map, format),
        OsdCommand::Df => crate::df_cli::osds(&call(conn, &Df)?, format),
        OsdCommand::Map { pool, object } => osd_map(&status(conn)?.map, pool, object, format),
        OsdCommand::Corrupt(args) => crate::scrub_cli::corrupt(args, format),
    }
}

fn flag_names(map: &ClusterMap) -> Vec<&'static str> {
    map.flags.iter().map(|f| f.name()).collect()
}

/// The JSON form of `osd dump` and `osd tree` (the hierarchy is in each entry).
fn osds_json(map: &ClusterMap) -> anyhow::Result<()> {
    print_json(&json!({
        "epoch": map.epoch.0,
        "flags": flag_names(map),
        "osds": map.osds.values().map(|o| json!({
            "id": o.id.0,
            "addr": o.addr.map(|a| a.to_string()),
            "zone": o.location.zone,
            "host": o.location.host,
            "weight": o.weight.as_f64(),
            "up": o.up,
            "in": o.is_in,
            "up_from": o.up_from.0,
            "gossip": o.gossip.map(|a| a.to_string()),
        })).collect::<Vec<_>>(),
    }))
}

fn list_osds(map: &ClusterMap, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(&map.osds.keys().map(|id| id.0).collect::<Vec<_>>());
    }
    map.osds.keys().for_each(|id| println!("{}", id.0));
    Ok(())
}

fn dump_osds(map: &ClusterMap, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return osds_json(map);
    }
    println!("epoch {}", map.epoch);
    println!("flags {}", flag_names(map).join(","));
    for o in map.osds.values() {
        let (u, i) = osd_state(o.up, o.is_in);
        let addr = o.addr.map_or("-".into(), |a| a.to_string());
        println!(
            "{} {u} {i} weight {} {addr} {}/{}",
            o.id, o.weight, o.location.zone, o.location.host
        );
    }
    Ok(())
}

fn tree_osds(map: &ClusterMap, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return osds_json(map);
    }
    println!(
        "{:<6} {:<10} {:<28} {:<8} {:<4}",
        "ID", "WEIGHT", "NAME", "STATUS", "IN"
    );
    let mut zones: BTreeMap<&str, BTreeMap<&str, Vec<_>>> = BTreeMap::new();
    for o in map.osds.values() {
        zones
            .entry(&o.location.zone)
            .or_default()
            .entry(&o.location.host)
            .or_default()
            .push(o);
    }
    println!("{:<6} {:<10} root default", "", "");
    for (zone, hosts) in zones {
        println!("{:<6} {:<10}   zone {zone}", "", "");
        for (host, osds) in hosts {
            println!("{:<6} {:<10}     host {host}", "", "");
            for o in osds {
                let (u, i) = osd_state(o.up, o.is_in);
                println!(
                    "{:<6} {:<10} {:<28} {u:<8} {i:<4}",
                    o.id.0,
                    o.weight.to_string(),
                    format!("       {}", o.id)
                );
            }
        }
    }
    Ok(())
}

fn osd_map(map: &ClusterMap, pool: &str, object: &str, format: Format) -> anyhow::Result<()> {
    let p = map
        .pool_by_name(pool)
        .with_context(|| format!("pool {pool:?} does not exist"))?;
    let placed = Placement::new(map).map_object(p.id, object.as_bytes())?;
    let show = |set: &[Option<OsdId>]| {
        set.iter()
            .map(|o| o.map_or("NONE".into(), |o| o.0.to_string()))
            .collect::<Vec<_>>()
            .join(",")
    };
    if format == Format::Json {
        return print_json(&json!({
            "epoch": map.epoch.0,
            "pool": pool,
            "pool_id": p.id.0,
            "object": object,
            "pgid": placed.pg.to_string(),
            "up": placed.up.iter().map(|o| o.map(|o| o.0)).collect::<Vec<_>>(),
            "acting": placed.acting.iter().map(|o| o.map(|o| o.0)).collect::<Vec<_>>(),
            "primary": placed.primary.map(|o| o.0),
        }));
    }
    println!(
        "osdmap e{} pool '{pool}' ({}) object '{object}' -> pg {} -> up [{}] acting [{}] primary {}",
        map.epoch,
        p.id,
        placed.pg,
        show(&placed.up),
        show(&placed.acting),
        placed.primary.map_or("none".into(), |o| o.0.to_string())
    );
    Ok(())
}

/// Parses a failure-domain level name.
pub fn parse_level(name: &str) -> anyhow::Result<DomainType> {
    [DomainType::Osd, DomainType::Host, DomainType::Zone]
        .into_iter()
        .find(|l| l.name() == name)
        .with_context(|| format!("unknown failure domain {name:?}: use osd, host or zone"))
}

fn describe(p: &Pool) -> serde_json::Value {
    let (kind, size, min_size) = match p.kind {
        PoolKind::Replicated { size, min_size } => {
            ("replicated", usize::from(size), usize::from(min_size))
        }
        PoolKind::Erasure { .. } => ("erasure", p.size(), p.min_size()),
    };
    let mut v = json!({
        "id": p.id.0, "name": p.name, "type": kind, "size": size, "min_size": min_size,
        "pg_num": p.pg_num, "rule": p.rule.0,
    });
    if let PoolKind::Erasure {
        k, m, stripe_unit, ..
    } = p.kind
    {
        v["k"] = k.into();
        v["m"] = m.into();
        v["stripe_unit"] = stripe_unit.into();
    }
    v
}

/// `shoal pool ...`.
pub fn pool(conn: &Connection, cmd: &PoolCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        PoolCommand::Create {
            name,
            size,
            min_size,
            ec,
            stripe_unit,
            pg_num,
            failure_domain,
        } => {
            let kind = match ec {
                Some(spec) => {
                    let unit = crate::args::parse_bytes(stripe_unit)?;
                    let unit = u32::try_from(unit)
                        .ok()
                        .filter(|u| (1..=placement::MAX_STRIPE_UNIT).contains(u) && u % 64 == 0)
                        .with_context(|| {
                            format!(
                                "--stripe-unit {stripe_unit}: a multiple of 64 bytes up to 4MiB"
                            )
                        })?;
                    let kind = crate::args::parse_ec(spec, unit, *min_size)?;
                    for warning in crate::args::ec_warnings(kind) {
                        eprintln!("warning: {warning}");
                    }
                    kind
                }
                None => {
                    let size = size.unwrap_or(3);
                    PoolKind::Replicated {
                        size,
                        min_size: min_size.unwrap_or(size - size / 2),
                    }
                }
            };
            let cmd = AdminCommand::PoolCreate {
                name: name.clone(),
                kind,
                pg_num: *pg_num,
                failure_domain: parse_level(failure_domain)?,
            };
            changed(format!("pool '{name}' created"), admin(conn, cmd)?, format)
        }
        PoolCommand::Rm {
            name,
            yes_i_really_mean_it,
        } => {
            if !yes_i_really_mean_it {
                bail!(
                    "deleting pool {name:?} destroys its data for good; add --yes-i-really-mean-it"
                );
            }
            changed(
                format!("pool '{name}' removed"),
                admin(conn, AdminCommand::PoolRm(name.clone()))?,
                format,
            )
        }
        PoolCommand::Ls => {
            let map = status(conn)?.map;
            if format == Format::Json {
                return print_json(&map.pools.values().map(describe).collect::<Vec<_>>());
            }
            map.pools.values().for_each(|p| println!("{}", p.name));
            Ok(())
        }
        PoolCommand::Get { name } => {
            let map = status(conn)?.map;
            let p = map
                .pool_by_name(name)
                .with_context(|| format!("pool {name:?} does not exist"))?;
            let v = describe(p);
            if format == Format::Json {
                return print_json(&v);
            }
            for (k, val) in v.as_object().expect("object") {
                println!("{k}: {val}");
            }
            Ok(())
        }
    }
}
