//! The run: cluster, pool, workload, the schedule's steps at their times, recovery, the
//! final check and the verdict line.
//!
//! Shell module: it reads the clock (tokio's `Instant`, and the wall clock once for a
//! default seed and a temp directory name).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use rados::{ClientConfig, IoCtx, RadosClient};
use tokio::time::Instant;

use crate::Args;
use crate::cluster::Cluster;
use crate::ledger::Ledger;
use crate::mapwatch::MapWatch;
use crate::pool;
use crate::s3::Gateways;
use crate::schedule::{self, Action, BitrotPick, Params, Scenario, Schedule, Target};
use crate::stalls;
use crate::workload::{self, Backend, Shape, Workload, lock};

/// Reads sent at once when a faulted daemon returns (resumed or restarted).
const PROBE_READS: usize = 16;

/// The pool the workload uses: 3 copies, writes need 2, or `--pool-ec K+M`.
const POOL: &str = "chaos";

/// A status must be healthy this many polls in a row (half a second apart), so a monitor
/// that has not yet noticed a restart does not count as recovered.
const STABLE_POLLS: u32 = 3;

/// Runs the scenario; `Ok(true)` when the verdict is clean.
pub fn main(args: Args) -> anyhow::Result<bool> {
    #[allow(clippy::disallowed_methods)] // a default seed from the clock, printed for replay
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args, seed))
}

fn shoal_bin(args: &Args) -> PathBuf {
    if let Some(p) = &args.shoal {
        return p.clone();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("shoal")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("shoal"))
}

fn temp_dir(args: &Args) -> PathBuf {
    #[allow(clippy::disallowed_methods)] // a unique directory name
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "shoal-chaos-{}-{}-{nanos}",
        args.scenario,
        std::process::id()
    ))
}

/// The OSDs of a new cluster: `--osds`, raised (with a note) to the pool's width.
fn new_cluster_osds(args: &Args, kind: placement::PoolKind) -> u32 {
    let (osds, raised) = pool::osds(args.osds, kind);
    if raised {
        println!(
            "chaos: --osds {} raised to {osds}: the pool ({}) puts each PG's {osds} members \
             on distinct hosts",
            args.osds.unwrap_or_default(),
            pool::describe(kind)
        );
    }
    osds
}

async fn run(args: Args, seed: u64) -> anyhow::Result<bool> {
    let shoal = shoal_bin(&args);
    let kind = args.pool_ec.unwrap_or(pool::REPLICATED);
    let (mut cluster, temp) = match &args.data {
        Some(dir) if dir.join("pids").exists() => {
            println!("chaos: attaching to the cluster in {}", dir.display());
            (Cluster::attach(&shoal, dir)?, None)
        }
        Some(dir) => {
            let osds = new_cluster_osds(&args, kind);
            (Cluster::start(&shoal, dir, args.mons, osds, args.s3)?, None)
        }
        None => {
            let dir = temp_dir(&args);
            let osds = new_cluster_osds(&args, kind);
            let cluster = Cluster::start(&shoal, &dir, args.mons, osds, args.s3)
                .inspect_err(|_| eprintln!("chaos: cluster directory kept: {}", dir.display()))?;
            (cluster, Some(dir))
        }
    };
    let outcome = tokio::select! {
        r = scenario(&args, seed, kind, &mut cluster) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if outcome.is_err() {
        cluster.restore().await;
    }
    let dir = cluster.dir.clone();
    drop(cluster);
    let ok = matches!(outcome, Ok(true));
    match temp {
        Some(t) if ok && !args.keep => {
            let _ = std::fs::remove_dir_all(&t);
        }
        _ => println!("chaos: cluster directory: {}", dir.display()),
    }
    outcome
}

/// The workload's shape and object sizes, from the flags and the mode's defaults.
struct Sizing {
    rate: f64,
    writers: usize,
    readers: usize,
    min_len: usize,
    max_len: usize,
}

fn sizing(args: &Args) -> Sizing {
    let s3 = args.s3;
    Sizing {
        rate: args.workload_rate.unwrap_or(if s3 { 0.0 } else { 20.0 }),
        writers: args.writers.unwrap_or(if s3 { 8 } else { 4 }),
        readers: args.readers.unwrap_or(if s3 { 8 } else { 2 }),
        min_len: args.min_object_size.unwrap_or(if s3 { 1024 } else { 16 }),
        max_len: args
            .max_object_size
            .unwrap_or(if s3 { 256 * 1024 } else { 64 * 1024 }),
    }
}

async fn scenario(
    args: &Args,
    seed: u64,
    kind: placement::PoolKind,
    cluster: &mut Cluster,
) -> anyhow::Result<bool> {
    ensure!(
        !(args.s3 && args.scenario == Scenario::Bitrot),
        "bitrot corrupts a RADOS pool's object; run it without --s3"
    );
    ensure!(
        args.s3 || args.scenario != Scenario::KillGateways,
        "kill-gateways needs --s3"
    );
    let params = Params {
        seed,
        duration_ms: args.duration * 1000,
        osds: cluster.osd_count() as u32,
        width: pool::width(kind),
        mons: cluster.mon_count() as u32,
        gateways: if args.s3 { args.gateways } else { 0 },
        max_down: args
            .max_down
            .unwrap_or_else(|| pool::default_max_down(args.scenario, kind)),
        every: args
            .fault_every
            .zip(args.fault_for)
            .map(|(every, down)| (every * 1000, down * 1000)),
    };
    let schedule = schedule::build(args.scenario, &params)?;
    print_schedule(args, kind, &params, &schedule);
    let recover = Duration::from_secs(args.recover_timeout);
    if args.s3 {
        return s3_scenario(args, seed, &params, &schedule, cluster).await;
    }

    let create = pool::create_args(POOL, kind, args.pg_num);
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    match cluster.shoal(&create) {
        Ok(_) => {}
        Err(e) if e.to_string().contains("already exists") => {
            // An attached cluster's pool from an earlier run: it must be the one asked for.
            let report = cluster.status().await?;
            let found = report
                .map
                .pool_by_name(POOL)
                .with_context(|| format!("pool {POOL} exists but is not in the map"))?
                .kind;
            ensure!(
                pool::same_layout(found, kind),
                "pool {POOL} already exists with {}, not {}; use another --data",
                pool::describe(found),
                pool::describe(kind)
            );
        }
        Err(e) => return Err(e),
    }
    wait_healthy(cluster, recover)
        .await?
        .context("the cluster is not healthy before any fault")?;

    let config = ClientConfig {
        op_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    };
    let client = RadosClient::connect(cluster.mons.clone(), &cluster.keyring, config).await?;
    let io = client.pool(POOL).await?;
    let backend = Backend::Rados(io.clone());
    run_workload(
        args,
        seed,
        &params,
        &schedule,
        cluster,
        backend,
        Some(&io),
        None,
    )
    .await
}

/// The S3 run: the gateways (`shoal up`'s and more), the bucket, then the same workload,
/// schedule and verdict, plus the gateways' 5xx answers other than 503.
async fn s3_scenario(
    args: &Args,
    seed: u64,
    params: &Params,
    schedule: &Schedule,
    cluster: &mut Cluster,
) -> anyhow::Result<bool> {
    let recover = Duration::from_secs(args.recover_timeout);
    wait_healthy(cluster, recover)
        .await?
        .context("the cluster is not healthy before any fault")?;
    while (cluster.gateway_addrs().len() as u32) < args.gateways {
        let addr = cluster.add_gateway().await?;
        println!("chaos: started another S3 gateway on {addr}");
    }
    let addrs = cluster.gateway_addrs();
    ensure!(!addrs.is_empty(), "the cluster runs no S3 gateway");
    let (access, secret) = crate::s3::keys(&cluster.dir)?;
    let gateways = Gateways::new(&addrs, &access, &secret);
    gateways.create_bucket().await?;
    println!(
        "chaos: S3 bucket {} through {} gateways: {addrs:?}",
        crate::s3::BUCKET,
        addrs.len()
    );
    let backend = Backend::S3(gateways.clone());
    run_workload(
        args,
        seed,
        params,
        schedule,
        cluster,
        backend,
        None,
        Some(&gateways),
    )
    .await
}

/// Runs the workload through the schedule, waits for recovery, checks every object and
/// prints the verdict.
#[allow(clippy::too_many_arguments)]
async fn run_workload(
    args: &Args,
    seed: u64,
    params: &Params,
    schedule: &Schedule,
    cluster: &mut Cluster,
    backend: Backend,
    io: Option<&IoCtx>,
    gateways: Option<&Gateways>,
) -> anyhow::Result<bool> {
    let recover = Duration::from_secs(args.recover_timeout);
    let sizing = sizing(args);
    let ledger = Arc::new(Mutex::new(
        Ledger::new(seed, sizing.max_len).with_min_len(sizing.min_len),
    ));
    let shape = Shape {
        rate: sizing.rate,
        objects: args.objects,
        writers: sizing.writers,
        readers: sizing.readers,
        seed,
    };
    let start = Instant::now();
    let mut work = Workload::start(backend.clone(), ledger.clone(), shape, start);
    let watch = MapWatch::start(cluster.mon_client(), start);

    let ctx = Stepping {
        io,
        ledger: &ledger,
        start,
        recover,
    };
    let stepped = match run_steps(cluster, schedule, &mut work, &ctx).await {
        Ok(stepped) => stepped,
        Err(e) => {
            work.stop().await;
            return Err(e);
        }
    };
    // Recovery is timed from the last fault's end, while the workload goes on.
    let faults_over = stepped.last_end.unwrap_or(start);
    println!(
        "chaos: +{:.1}s faults over; waiting for HEALTH_OK",
        start.elapsed().as_secs_f64()
    );
    let mut healthy_at = wait_healthy(cluster, recover).await?;
    if let Some(at) = healthy_at {
        println!(
            "chaos: +{:.1}s HEALTH_OK",
            at.duration_since(start).as_secs_f64()
        );
        tokio::time::sleep_until(start + Duration::from_millis(params.duration_ms)).await;
        // And still healthy when the workload ends.
        if wait_healthy(cluster, recover).await?.is_none() {
            healthy_at = None;
        }
    }
    let timeline = work.stop().await;
    report_faults(&stepped.faults, &timeline, &watch);
    let stalls = timeline.stalls;
    if healthy_at.is_some() {
        workload::verify_all(&backend, &ledger, args.objects).await;
    }
    let l = lock(&ledger);
    let s = l.stats();
    for e in l.errors() {
        println!("chaos: data error: {e}");
    }
    let (bad_5xx, described) = gateways.map(Gateways::bad_5xx).unwrap_or_default();
    for d in &described {
        println!("chaos: 5xx other than 503: {d}");
    }
    println!(
        "chaos: scenario={} seed={seed} reads_ok={} read_errors={} write_errors={} \
         longest_write_stall={:.1}s longest_read_stall={:.1}s",
        args.scenario,
        s.reads_ok,
        s.read_errors,
        s.write_errors,
        stalls.write.as_secs_f64(),
        stalls.read.as_secs_f64()
    );
    let recovered_in = match healthy_at {
        Some(at) => format!(
            "{:.1}s",
            at.saturating_duration_since(faults_over).as_secs_f64()
        ),
        None => format!("never (not HEALTH_OK within {}s)", args.recover_timeout),
    };
    let via = if gateways.is_some() {
        format!(" http_5xx_other={bad_5xx}")
    } else {
        String::new()
    };
    println!(
        "chaos: acked={} lost={} corrupted={} stale_reads={} recovered_in={recovered_in}{via}",
        s.acked, s.lost, s.corrupted, s.stale_reads
    );
    Ok(s.clean() && healthy_at.is_some() && s.acked > 0 && bad_5xx == 0)
}

fn print_schedule(args: &Args, kind: placement::PoolKind, p: &Params, s: &Schedule) {
    println!(
        "chaos: scenario={} seed={} duration={}s osds={} mons={} pool: {} max_down={} \
         workload_rate={}",
        args.scenario,
        s.seed,
        args.duration,
        p.osds,
        p.mons,
        pool::describe(kind),
        p.max_down,
        sizing(args).rate
    );
    println!(
        "chaos: schedule ({} steps; replay with --seed {}):",
        s.steps.len(),
        s.seed
    );
    for step in &s.steps {
        println!("chaos:   {step}");
    }
}

/// What the steps need besides the cluster and the workload.
struct Stepping<'a> {
    /// The RADOS pool (bitrot corrupts one of its objects).
    io: Option<&'a IoCtx>,
    ledger: &'a Arc<Mutex<Ledger>>,
    start: Instant,
    recover: Duration,
}

/// One fault the schedule injected: what, on which OSD id (for OSD faults), and when
/// (since the workload started) it began and ended.
struct FaultRecord {
    action: Action,
    osd: Option<u32>,
    at: Duration,
    until: Option<Duration>,
}

/// What running the steps left to report.
struct Stepped {
    /// When the last fault ended.
    last_end: Option<Instant>,
    faults: Vec<FaultRecord>,
    /// The monitor a `Kill(Leader)` step killed, for its restart.
    killed_leader: Option<Target>,
}

/// Prints, per fault, how long writes and reads stalled around it and how that splits into
/// detection (the map marking the OSD down) and the rest (peering, lease waits, retries).
fn report_faults(faults: &[FaultRecord], tl: &workload::Timeline, watch: &MapWatch) {
    for (i, f) in faults.iter().enumerate() {
        // Until the fault ended plus 5 s (a return can stall too), not past the next one
        // (faults started within a second of each other are one fault).
        let next = faults[i + 1..]
            .iter()
            .map(|n| n.at)
            .find(|n| *n > f.at + Duration::from_secs(1));
        let end = f.until.unwrap_or(f.at) + Duration::from_secs(5);
        let end = next.map_or(end, |n| end.min(n));
        let down = f.osd.and_then(|osd| watch.down_at(osd, f.at));
        let st = stalls::of_fault(&tl.writes, &tl.reads, f.at, end, down);
        let split = match (st.detected, st.writes_resumed) {
            (Some(d), Some(r)) => format!(
                "; marked down after {:.1}s, writes back {:.1}s after that",
                d.as_secs_f64(),
                r.as_secs_f64()
            ),
            _ if f.osd.is_some() => "; not marked down".to_owned(),
            _ => String::new(),
        };
        println!(
            "chaos: stall {} at +{:.1}s: writes {:.1}s, reads {:.1}s{split}",
            f.action,
            f.at.as_secs_f64(),
            st.write.as_secs_f64(),
            st.read.as_secs_f64()
        );
    }
}

async fn run_steps(
    cluster: &mut Cluster,
    schedule: &Schedule,
    work: &mut Workload,
    ctx: &Stepping<'_>,
) -> anyhow::Result<Stepped> {
    let (io, ledger, start, recover) = (ctx.io, ctx.ledger, ctx.start, ctx.recover);
    let mut out = Stepped {
        last_end: None,
        faults: Vec::new(),
        killed_leader: None,
    };
    for step in &schedule.steps {
        tokio::time::sleep_until(start + Duration::from_millis(step.at_ms)).await;
        cluster.check_alive()?;
        println!(
            "chaos: +{:.1}s {}",
            start.elapsed().as_secs_f64(),
            step.action
        );
        if let Some(t) = step.action.starts_fault() {
            let osd = match t {
                Target::Osd(i) => cluster.osd_id(i).await.ok(),
                _ => None,
            };
            out.faults.push(FaultRecord {
                action: step.action,
                osd,
                at: start.elapsed(),
                until: None,
            });
        }
        if let Some(t) = step.action.ends_fault()
            && let Some(f) = out
                .faults
                .iter_mut()
                .rev()
                .find(|f| f.action.starts_fault() == Some(t))
        {
            f.until = Some(start.elapsed());
        }
        match step.action {
            Action::Kill(Target::Leader) => {
                let leader = cluster
                    .status()
                    .await?
                    .quorum
                    .leader
                    .context("the monitors have no leader to kill")?;
                let t = Target::Mon(leader as u32);
                println!("chaos: the leader is {t}");
                cluster.kill(t).await?;
                out.killed_leader = Some(t);
            }
            Action::Restart(Target::Leader) => {
                let t = out
                    .killed_leader
                    .take()
                    .context("no killed leader to restart")?;
                cluster.restart(t)?;
            }
            Action::Kill(t) => cluster.kill(t).await?,
            Action::Restart(t) => cluster.restart(t)?,
            Action::Stop(t) => cluster.pause(t, true)?,
            Action::Cont(t) => cluster.pause(t, false)?,
            Action::Isolate(t) => cluster.isolate(t, true).await?,
            Action::Heal(t) => cluster.isolate(t, false).await?,
            Action::Out(i) => {
                let id = cluster.osd_id(i).await?;
                cluster.shoal(&["osd", "out", &id.to_string()])?;
            }
            Action::In(i) => {
                let id = cluster.osd_id(i).await?;
                cluster.shoal(&["osd", "in", &id.to_string()])?;
            }
            Action::AddOsd(i) => cluster.add_osd(i)?,
            Action::WaitClean => {
                let at = wait_healthy(cluster, recover)
                    .await?
                    .with_context(|| format!("not HEALTH_OK within {recover:?}"))?;
                println!(
                    "chaos: +{:.1}s HEALTH_OK",
                    at.duration_since(start).as_secs_f64()
                );
            }
            Action::Bitrot { pick } => {
                let io = io.context("bitrot needs the RADOS workload")?;
                bitrot(cluster, io, ledger, pick, recover).await?
            }
        }
        if step.action.ends_fault().is_some() || matches!(step.action, Action::Bitrot { .. }) {
            out.last_end = Some(Instant::now());
        }
        // A daemon that returns (resumed, restarted) is read through at once: a paused
        // primary must not answer from the map it had when it stopped.
        if matches!(step.action, Action::Cont(_) | Action::Restart(_)) {
            work.probe(PROBE_READS);
        }
    }
    Ok(out)
}

/// Polls until the cluster is healthy [`STABLE_POLLS`] times in a row; returns when that
/// streak began, or `None` after `within`. Fails if a daemon we run has exited.
pub async fn wait_healthy(
    cluster: &mut Cluster,
    within: Duration,
) -> anyhow::Result<Option<Instant>> {
    let deadline = Instant::now() + within;
    let mut streak: Option<(Instant, u32)> = None;
    let mut last = String::new();
    while Instant::now() < deadline {
        cluster.check_alive()?;
        let now = Instant::now();
        let osds = cluster.osd_count();
        let line = match cluster.recovered().await {
            Ok((true, _)) => {
                let (since, n) = streak.map_or((now, 1), |(s, n)| (s, n + 1));
                if n >= STABLE_POLLS {
                    return Ok(Some(since));
                }
                streak = Some((since, n));
                "HEALTH_OK".to_owned()
            }
            Ok((false, report)) => {
                streak = None;
                format!(
                    "{} osds={}/{} up pgs={:?}",
                    report.health,
                    report.map.osds.values().filter(|o| o.up).count(),
                    osds,
                    report.pg_states
                )
            }
            Err(e) => {
                streak = None;
                format!("status: {e}")
            }
        };
        if line != last {
            tracing::info!("{line}");
            last = line;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("chaos: last status: {last}");
    Ok(None)
}

/// Polls `shoal pg list-inconsistent PGID` until `name` is (or is no longer) listed,
/// deep-scrubbing first each time.
async fn await_inconsistent(
    cluster: &Cluster,
    pgid: &str,
    name: &str,
    listed: bool,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        cluster.shoal(&["pg", "deep-scrub", pgid])?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let out = cluster.shoal(&["pg", "list-inconsistent", pgid, "--format", "json"])?;
        if out.contains(name) == listed {
            println!("chaos: list-inconsistent {pgid}: {}", out.trim());
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{name} {} in `pg list-inconsistent {pgid}` within {within:?}: {out}",
                if listed { "not listed" } else { "still listed" }
            );
        }
    }
}

/// Corrupts one replica of an acknowledged object on disk (with its OSD stopped), then
/// has deep scrub find it and repair fix it.
async fn bitrot(
    cluster: &mut Cluster,
    io: &IoCtx,
    ledger: &Arc<Mutex<Ledger>>,
    pick: u64,
    recover: Duration,
) -> anyhow::Result<()> {
    let names = lock(ledger).acked_names();
    ensure!(!names.is_empty(), "no acknowledged object to corrupt yet");
    let name = names[BitrotPick::new(pick, names.len(), 1, 1).object].clone();
    lock(ledger).freeze(&name);
    let deadline = Instant::now() + Duration::from_secs(60);
    while lock(ledger).writing(&name) {
        ensure!(
            Instant::now() < deadline,
            "a write of {name} never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_healthy(cluster, recover)
        .await?
        .context("not healthy before corrupting")?;
    let map: serde_json::Value =
        serde_json::from_str(&cluster.shoal(&["osd", "map", POOL, &name, "--format", "json"])?)?;
    let pgid = map["pgid"]
        .as_str()
        .context("no pgid in `osd map`")?
        .to_owned();
    let pool_id = map["pool_id"].as_u64().context("no pool_id in `osd map`")?;
    let acting: Vec<u64> = map["acting"]
        .as_array()
        .context("no acting set in `osd map`")?
        .iter()
        .filter_map(|v| v.as_u64())
        .collect();
    ensure!(!acting.is_empty(), "{name}'s PG has no acting set");
    let size = io.stat(&name).await?.size;
    let choice = BitrotPick::new(pick, names.len(), acting.len(), size);
    let victim = acting[choice.replica] as u32;
    let index = cluster.osd_index(victim).await?;
    let offset = choice.offset;
    println!("chaos: bitrot {name} (pg {pgid}) on osd.{victim} at byte {offset}");
    let target = Target::Osd(index);
    cluster.terminate(target).await?;
    let data = cluster.osd_data(index);
    let corrupt = cluster.shoal(&[
        "osd",
        "corrupt",
        "--data",
        &data.to_string_lossy(),
        "--object",
        &name,
        "--pool-id",
        &pool_id.to_string(),
        "--offset",
        &offset.to_string(),
    ]);
    cluster.restart(target)?;
    corrupt?;
    wait_healthy(cluster, recover)
        .await?
        .context("not healthy after the corrupted OSD restarted")?;
    await_inconsistent(cluster, &pgid, &name, true, Duration::from_secs(60)).await?;
    cluster.shoal(&["pg", "repair", &pgid])?;
    await_inconsistent(cluster, &pgid, &name, false, Duration::from_secs(60)).await?;
    Ok(())
}
