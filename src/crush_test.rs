//! `shoal crush test`: build a synthetic cluster, map every PG of one pool, and report the
//! per-OSD distribution and, after adding or removing OSDs, how much data would move.

use std::collections::BTreeSet;

use anyhow::{Context, bail, ensure};
use placement::analysis::{Distribution, Movement, distribution, movement};
use placement::synth::{self, Shape};
use placement::{Change, ClusterMap, DomainType, MAX_PG_NUM, OsdId, PoolKind, Weight};
use serde::Serialize;

use crate::output::{Format, print_json};

/// Arguments of `shoal crush test`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hosts in the synthetic cluster.
    #[arg(long)]
    hosts: u32,
    /// OSDs on each host (weight 1.0 each).
    #[arg(long)]
    osds_per_host: u32,
    /// Zones; hosts are spread over them round-robin.
    #[arg(long, default_value_t = 1)]
    zones: u32,
    /// PGs in the test pool.
    #[arg(long, default_value_t = 4096)]
    pg_num: u32,
    /// Replicated pool of this many copies.
    #[arg(long, default_value_t = 3, conflicts_with = "ec")]
    size: u8,
    /// Erasure-coded pool with K data and M parity shards, e.g. 4+2.
    #[arg(long, value_name = "K+M")]
    ec: Option<String>,
    /// Level whose buckets must be distinct within a PG.
    #[arg(long, value_enum, default_value_t = Level::Host)]
    failure_domain: Level,
    /// Then add this many OSDs (weight 1.0), on a new host unless --add-to-host is given.
    #[arg(long, default_value_t = 0)]
    add_osds: u32,
    /// Put the added OSDs on this existing host (e.g. host-3) instead of a new one.
    #[arg(long, requires = "add_osds")]
    add_to_host: Option<String>,
    /// Then mark this OSD out (repeatable).
    #[arg(long = "out", value_name = "OSD_ID")]
    out: Vec<OsdId>,
}

/// Failure-domain levels as the CLI spells them.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Level {
    Osd,
    Host,
    Zone,
}

impl From<Level> for DomainType {
    fn from(level: Level) -> DomainType {
        match level {
            Level::Osd => DomainType::Osd,
            Level::Host => DomainType::Host,
            Level::Zone => DomainType::Zone,
        }
    }
}

/// The JSON report; field names are documented in README.
#[derive(Serialize, Debug)]
struct Report {
    pool: String,
    pg_num: u32,
    slots: u64,
    holes: u64,
    max_deviation_pct: f64,
    moved_fraction: Option<f64>,
    ideal_moved_fraction: Option<f64>,
    moved_to_new_osds_fraction: Option<f64>,
    pgs_changed: Option<u64>,
    osds: Vec<OsdReport>,
}

#[derive(Serialize, Debug)]
struct OsdReport {
    id: u32,
    host: String,
    pgs: u64,
    expected: f64,
}

/// Runs the test and prints the report.
pub fn run(args: &Args, format: Format) -> anyhow::Result<()> {
    ensure!(args.hosts >= 1, "--hosts must be at least 1");
    ensure!(
        args.osds_per_host >= 1,
        "--osds-per-host must be at least 1"
    );
    ensure!(
        (1..=args.hosts).contains(&args.zones),
        "--zones must be between 1 and --hosts ({})",
        args.hosts
    );
    ensure!(
        (1..=MAX_PG_NUM).contains(&args.pg_num),
        "--pg-num must be between 1 and {MAX_PG_NUM}"
    );
    let kind = match &args.ec {
        Some(spec) => crate::args::parse_ec(spec, placement::DEFAULT_STRIPE_UNIT, None)?,
        None => PoolKind::Replicated {
            size: args.size,
            min_size: args.size.div_ceil(2).max(1),
        },
    };
    let shape = Shape {
        zones: args.zones,
        hosts: args.hosts,
        osds_per_host: args.osds_per_host,
    };
    let mut before = synth::map(shape);
    let pool = synth::add_pool(&mut before, kind, args.pg_num, args.failure_domain.into())?;

    let (after, ideal) = apply_changes(&before, args)?;
    let moved = match &after {
        Some(after) => Some(movement(&before, after, pool)?),
        None => None,
    };
    let dist = distribution(after.as_ref().unwrap_or(&before), pool)?;
    let final_map = after.as_ref().unwrap_or(&before);
    let report = build_report(final_map, args, kind, &dist, moved.as_ref(), ideal);
    match format {
        Format::Json => print_json(&report),
        Format::Plain => {
            print_plain(&report, args);
            Ok(())
        }
    }
}

/// Applies --out and --add-osds as one new epoch; returns the new map and the ideal fraction
/// of slots that must move (weight added or removed over total weight).
fn apply_changes(
    before: &ClusterMap,
    args: &Args,
) -> anyhow::Result<(Option<ClusterMap>, Option<f64>)> {
    if args.add_osds == 0 && args.out.is_empty() {
        return Ok((None, None));
    }
    let weight_of = |map: &ClusterMap| -> f64 {
        map.osds
            .values()
            .filter(|o| o.is_placeable())
            .map(|o| o.weight.as_f64())
            .sum()
    };
    let mut changes = Vec::new();
    let mut removed = 0.0;
    let unique: BTreeSet<OsdId> = args.out.iter().copied().collect();
    for id in unique {
        let osd = before.osds.get(&id).with_context(|| {
            format!(
                "--out {}: no such OSD (ids are 0..{})",
                id.0,
                before.osds.len()
            )
        })?;
        removed += osd.weight.as_f64();
        changes.push(Change::OsdOut(id));
    }
    let (host, zone) = match &args.add_to_host {
        Some(host) => {
            let zone = before
                .osds
                .values()
                .find(|o| &o.location.host == host)
                .map(|o| o.location.zone.clone())
                .with_context(|| format!("--add-to-host {host}: no such host"))?;
            (host.clone(), zone)
        }
        None => (
            synth::host_name(args.hosts),
            synth::zone_name(args.hosts % args.zones),
        ),
    };
    let first = before.next_osd_id().0;
    for id in first..first + args.add_osds {
        changes.push(Change::OsdAdd(synth::osd(id, &host, &zone)));
    }
    let mut after = before.clone();
    after.apply(&before.next_incremental(changes))?;
    let added = f64::from(args.add_osds) * Weight::ONE.as_f64();
    if weight_of(&after) <= 0.0 {
        bail!("no OSD would be left in");
    }
    let ideal = removed / weight_of(before) + added / weight_of(&after);
    Ok((Some(after), Some(ideal)))
}

fn build_report(
    map: &ClusterMap,
    args: &Args,
    kind: PoolKind,
    dist: &Distribution,
    moved: Option<&Movement>,
    ideal: Option<f64>,
) -> Report {
    let new_ids: BTreeSet<OsdId> = map
        .osds
        .keys()
        .filter(|id| id.0 >= args.hosts * args.osds_per_host)
        .copied()
        .collect();
    let to_new = moved.map(|m| {
        let onto_new: u64 = m
            .moved_to
            .iter()
            .filter(|(to, _)| to.is_some_and(|id| new_ids.contains(&id)))
            .map(|(_, n)| n)
            .sum();
        if m.moved == 0 {
            1.0
        } else {
            onto_new as f64 / m.moved as f64
        }
    });
    let pool = match kind {
        PoolKind::Replicated { size, .. } => format!("replicated size {size}"),
        PoolKind::Erasure { k, m, .. } => format!("erasure {k}+{m}"),
    };
    Report {
        pool,
        pg_num: args.pg_num,
        slots: moved.map_or_else(
            || dist.per_osd.values().map(|(n, _)| n).sum::<u64>() + dist.holes,
            |m| m.slots,
        ),
        holes: dist.holes,
        max_deviation_pct: dist.max_deviation_pct,
        moved_fraction: moved.map(Movement::fraction),
        ideal_moved_fraction: ideal,
        moved_to_new_osds_fraction: if args.add_osds > 0 { to_new } else { None },
        pgs_changed: moved.map(|m| m.pgs_changed),
        osds: dist
            .per_osd
            .iter()
            .map(|(id, &(pgs, expected))| OsdReport {
                id: id.0,
                host: map.osds[id].location.host.clone(),
                pgs,
                expected,
            })
            .collect(),
    }
}

fn print_plain(r: &Report, args: &Args) {
    println!(
        "crush test: {} hosts x {} OSDs in {} zone(s); pool {}, pg_num {}, failure domain {:?}",
        args.hosts, args.osds_per_host, args.zones, r.pool, r.pg_num, args.failure_domain
    );
    println!(
        "{:>6}  {:<12} {:>7} {:>9} {:>7}",
        "OSD", "HOST", "PGS", "EXPECTED", "DEV%"
    );
    for o in &r.osds {
        let dev = (o.pgs as f64 - o.expected) / o.expected * 100.0;
        println!(
            "{:>6}  {:<12} {:>7} {:>9.1} {:>+7.1}",
            o.id, o.host, o.pgs, o.expected, dev
        );
    }
    println!("max deviation: {:.1}%", r.max_deviation_pct);
    if r.holes > 0 {
        println!("unfilled positions: {} of {} slots", r.holes, r.slots);
    }
    if let (Some(moved), Some(ideal)) = (r.moved_fraction, r.ideal_moved_fraction) {
        println!(
            "moved: {:.2}% of PG slots (ideal {:.2}%, ratio {:.2}), {} PGs changed",
            moved * 100.0,
            ideal * 100.0,
            if ideal > 0.0 { moved / ideal } else { 0.0 },
            r.pgs_changed.unwrap_or(0)
        );
    }
    if let Some(f) = r.moved_to_new_osds_fraction {
        println!("moved onto the new OSDs: {:.1}% of moved slots", f * 100.0);
    }
}
