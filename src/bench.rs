//! `shoal bench`: throughput figures. `codec` times the erasure codec in this process (no
//! cluster); `rados` writes objects to a pool of a running cluster, reads them back, checks
//! them and removes them; `s3` drives S3 gateways (see [`s3`]). Rates are decimal: 1 MB =
//! 10^6 bytes, 1 GB = 10^9 bytes.

pub mod s3;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use osd::ec::{Codec, Layout};
use placement::PoolKind;
use rados::client::MAX_OBJECT_SIZE;
use rados::{ClientError, IoCtx, RadosClient};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::args::{parse_bytes, parse_ec};
use crate::connection::Connection;
use crate::output::{Format, print_json};

/// Prefix of the objects `shoal bench rados` writes (`bench-0`, `bench-1`, ...).
const PREFIX: &str = "bench-";

/// Largest object `shoal bench codec` encodes (it holds a few copies in memory).
const MAX_CODEC_OBJECT: u64 = 1 << 30;

/// Benchmarks under `shoal bench`.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Erasure codec throughput in this process: encode, decode, degraded decode.
    Codec(CodecArgs),
    /// Object PUT and GET throughput on a pool of the cluster (objects `bench-N`, removed
    /// afterwards unless --keep).
    Rados(RadosArgs),
    /// S3 PUT or GET throughput and latency through gateways (AWS SDK; `--suite` runs the
    /// five comparison workloads).
    S3(s3::S3Args),
}

/// Flags of `shoal bench codec`.
#[derive(clap::Args, Debug)]
pub struct CodecArgs {
    /// Erasure profile K+M.
    #[arg(long, default_value = "4+2")]
    ec: String,
    /// Bytes of one chunk (K chunks make a stripe).
    #[arg(long, default_value = "64KiB")]
    stripe_unit: String,
    /// Size of the object encoded and decoded.
    #[arg(long, default_value = "4MiB")]
    object_size: String,
    /// Seconds to run in all, split evenly over encode, decode and degraded decode.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

/// Flags of `shoal bench rados`.
#[derive(clap::Args, Debug)]
pub struct RadosArgs {
    /// The pool to write to (it must exist).
    #[arg(short = 'p', long)]
    pool: String,
    /// Size of each object (16 MiB at most).
    #[arg(long, default_value = "4MiB")]
    object_size: String,
    /// Objects to write, then read.
    #[arg(long, default_value_t = 64)]
    objects: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Leave the objects in the pool (they are removed by default).
    #[arg(long)]
    keep: bool,
}

/// Runs `shoal bench codec` (needs no cluster).
pub fn codec(args: &CodecArgs, format: Format) -> anyhow::Result<()> {
    let stripe_unit = parse_bytes(&args.stripe_unit)?;
    let stripe_unit = u32::try_from(stripe_unit)
        .ok()
        .filter(|s| *s > 0)
        .with_context(|| format!("--stripe-unit {}: must be 1 to 4 GiB", args.stripe_unit))?;
    let PoolKind::Erasure { k, m, .. } = parse_ec(&args.ec, stripe_unit, None)? else {
        unreachable!("parse_ec gives an erasure kind");
    };
    let size = parse_bytes(&args.object_size)?;
    ensure!(
        (1..=MAX_CODEC_OBJECT).contains(&size),
        "--object-size {}: must be 1 byte to 1 GiB",
        args.object_size
    );
    ensure!(
        args.seconds.is_finite() && args.seconds > 0.0,
        "--seconds {}: must be positive",
        args.seconds
    );
    let layout = Layout {
        k: usize::from(k),
        m: usize::from(m),
        stripe_unit: stripe_unit as usize,
    };
    let codec = Codec::new(layout)?;
    let data = pattern(size as usize, 0);
    let stripes = 0..layout.stripes(size);
    let budget = Duration::from_secs_f64(args.seconds / 3.0);

    let encode = timed(budget, || {
        std::hint::black_box(codec.encode(&data));
        Ok(())
    })?;
    let (shards, _) = codec.encode(&data);
    let all: Vec<Option<&[u8]>> = shards.iter().map(|s| Some(s.as_slice())).collect();
    // Losing m data shards (all of them if m > k) is the worst a readable object sees.
    let lost = layout.m.min(layout.k);
    let mut degraded = all.clone();
    degraded[..lost].fill(None);
    for view in [&all, &degraded] {
        ensure!(
            codec.decode(size, stripes.clone(), view)? == data,
            "BUG: the codec decoded different bytes"
        );
    }
    let decode = timed(budget, || {
        std::hint::black_box(codec.decode(size, stripes.clone(), &all)?);
        Ok(())
    })?;
    let degraded = timed(budget, || {
        std::hint::black_box(codec.decode(size, stripes.clone(), &degraded)?);
        Ok(())
    })?;

    let gb = |(runs, secs): (u64, f64)| (runs * size) as f64 / secs / 1e9;
    let report = CodecReport {
        k,
        m,
        stripe_unit,
        object_size: size,
        encode_gb_per_s: gb(encode),
        decode_gb_per_s: gb(decode),
        degraded_decode_gb_per_s: gb(degraded),
        lost_data_shards: lost,
    };
    if format == Format::Json {
        return print_json(&report);
    }
    println!(
        "erasure {k}+{m}, stripe unit {}, object {} (GB = 10^9 bytes of object, one core)",
        human(u64::from(stripe_unit)),
        human(size)
    );
    println!("encode            {:>8.2} GB/s", report.encode_gb_per_s);
    println!("decode            {:>8.2} GB/s", report.decode_gb_per_s);
    println!(
        "decode, {lost} lost    {:>8.2} GB/s",
        report.degraded_decode_gb_per_s
    );
    Ok(())
}

/// `shoal bench codec --format json`.
#[derive(Serialize, Debug)]
struct CodecReport {
    k: u8,
    m: u8,
    stripe_unit: u32,
    object_size: u64,
    encode_gb_per_s: f64,
    decode_gb_per_s: f64,
    degraded_decode_gb_per_s: f64,
    /// Data shards missing in the degraded decode.
    lost_data_shards: usize,
}

/// Runs `f` until `budget` has passed (at least once): the runs and the seconds taken.
fn timed(
    budget: Duration,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(u64, f64)> {
    let start = Instant::now();
    let mut runs = 0;
    loop {
        f()?;
        runs += 1;
        if start.elapsed() >= budget {
            return Ok((runs, start.elapsed().as_secs_f64()));
        }
    }
}

/// Runs `shoal bench rados`.
pub fn rados(conn: &Connection, args: &RadosArgs, format: Format) -> anyhow::Result<()> {
    let size = parse_bytes(&args.object_size)?;
    ensure!(
        (1..=MAX_OBJECT_SIZE).contains(&size),
        "--object-size {}: must be 1 byte to {} (the object size limit)",
        args.object_size,
        human(MAX_OBJECT_SIZE)
    );
    ensure!(args.objects >= 1, "--objects must be at least 1");
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = crate::rados_cli::connect(conn).await?;
        let io = match client.pool(&args.pool).await {
            Ok(io) => io,
            Err(ClientError::NoSuchPool(name)) => bail!(
                "no such pool '{name}'; create one with `shoal pool create {name} --size 3` \
                 or `--ec 4+2`"
            ),
            Err(e) => return Err(e.into()),
        };
        let kind = describe(&client, &args.pool);
        let bench = Bench {
            io,
            size: size as usize,
            objects: args.objects,
            concurrency: args.concurrency,
        };
        let result = bench.run().await;
        let removed = if args.keep {
            Ok(())
        } else {
            bench
                .remove_all()
                .await
                .context("removing the benchmark objects")
        };
        // A failed run reports its own error first; the objects are removed either way.
        let (put, get) = result?;
        removed?;
        let report = RadosReport {
            pool: args.pool.clone(),
            kind,
            object_size: size,
            objects: args.objects,
            concurrency: args.concurrency,
            put,
            get,
            kept: args.keep,
        };
        if format == Format::Json {
            return print_json(&report);
        }
        println!(
            "pool {} ({}): {} objects of {}, {} in flight (MB = 10^6 bytes)",
            report.pool,
            report.kind,
            report.objects,
            human(size),
            report.concurrency
        );
        for (name, phase) in [("put", &report.put), ("get", &report.get)] {
            println!(
                "{name}  {:>8.1} MB/s  {:>7.1} ops/s  latency mean {:.1} ms, max {:.1} ms  ({:.2} s)",
                phase.mb_per_s, phase.ops_per_s, phase.mean_latency_ms, phase.max_latency_ms, phase.seconds
            );
        }
        if args.keep {
            println!("kept {PREFIX}0..{PREFIX}{}", args.objects - 1);
        }
        Ok(())
    })
}

/// The pool's kind as text, from the client's map.
fn describe(client: &RadosClient, pool: &str) -> String {
    match client.map().pool_by_name(pool).map(|p| p.kind) {
        Some(PoolKind::Replicated { size, .. }) => format!("replicated size {size}"),
        Some(PoolKind::Erasure {
            k, m, stripe_unit, ..
        }) => format!(
            "erasure {k}+{m}, stripe unit {}",
            human(u64::from(stripe_unit))
        ),
        None => "unknown".to_owned(),
    }
}

/// `shoal bench rados --format json`.
#[derive(Serialize, Debug)]
struct RadosReport {
    pool: String,
    kind: String,
    object_size: u64,
    objects: usize,
    concurrency: usize,
    put: Phase,
    get: Phase,
    kept: bool,
}

/// One timed phase: every object written, or every object read.
#[derive(Serialize, Debug)]
struct Phase {
    seconds: f64,
    mb_per_s: f64,
    ops_per_s: f64,
    mean_latency_ms: f64,
    max_latency_ms: f64,
}

/// What one phase does to object `i`.
#[derive(Clone, Copy, Debug)]
enum Op {
    Put,
    Get,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
        }
    }
}

/// A `shoal bench rados` run on one pool.
struct Bench {
    io: IoCtx,
    size: usize,
    objects: usize,
    concurrency: usize,
}

impl Bench {
    /// Writes every object, then reads every object back and checks it.
    async fn run(&self) -> anyhow::Result<(Phase, Phase)> {
        let base = Arc::new(pattern(self.size, 0x5eed));
        let put = self.phase(Op::Put, &base).await?;
        let get = self.phase(Op::Get, &base).await?;
        Ok((put, get))
    }

    /// Runs `op` on every object, `concurrency` at a time; progress on stderr every second.
    async fn phase(&self, op: Op, base: &Arc<Vec<u8>>) -> anyhow::Result<Phase> {
        let start = Instant::now();
        let mut tasks = JoinSet::new();
        let mut tick =
            tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut next, mut done) = (0, 0);
        let (mut total, mut max) = (Duration::ZERO, Duration::ZERO);
        while done < self.objects {
            while next < self.objects && tasks.len() < self.concurrency {
                let (io, base, i) = (self.io.clone(), base.clone(), next);
                tasks.spawn(async move { one(&io, op, &base, i).await });
                next += 1;
            }
            tokio::select! {
                joined = tasks.join_next() => {
                    let took = joined.expect("a task is in flight")??;
                    total += took;
                    max = max.max(took);
                    done += 1;
                }
                _ = tick.tick() => {
                    let secs = start.elapsed().as_secs_f64();
                    eprintln!(
                        "{} {done}/{} objects, {:.1} MB/s",
                        op.name(),
                        self.objects,
                        (done * self.size) as f64 / secs / 1e6
                    );
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let n = self.objects as f64;
        Ok(Phase {
            seconds: secs,
            mb_per_s: n * self.size as f64 / secs / 1e6,
            ops_per_s: n / secs,
            mean_latency_ms: total.as_secs_f64() * 1e3 / n,
            max_latency_ms: max.as_secs_f64() * 1e3,
        })
    }

    /// Removes every benchmark object that exists (also after a failed run).
    async fn remove_all(&self) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        for i in 0..self.objects {
            if tasks.len() >= self.concurrency {
                tasks.join_next().await.expect("in flight")??;
            }
            let io = self.io.clone();
            tasks.spawn(async move {
                let name = format!("{PREFIX}{i}");
                match io.remove(&name).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => Err(anyhow::Error::new(e).context(format!("rm {name}"))),
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined??;
        }
        Ok(())
    }
}

/// Object `i`: the shared pattern with `i` in its first bytes, so every object differs.
fn object(base: &[u8], i: usize) -> Vec<u8> {
    let mut data = base.to_vec();
    let tag = (i as u64).to_le_bytes();
    let n = tag.len().min(data.len());
    data[..n].copy_from_slice(&tag[..n]);
    data
}

/// Puts or gets object `i` and checks a read; the request's latency.
async fn one(io: &IoCtx, op: Op, base: &[u8], i: usize) -> anyhow::Result<Duration> {
    let name = format!("{PREFIX}{i}");
    let want = object(base, i);
    let start = Instant::now();
    match op {
        Op::Put => {
            io.write_full(&name, want)
                .await
                .with_context(|| format!("put {name}"))?;
            Ok(start.elapsed())
        }
        Op::Get => {
            let got = io
                .read(&name, 0, None)
                .await
                .with_context(|| format!("get {name}"))?;
            let took = start.elapsed();
            ensure!(
                got.len() == want.len(),
                "get {name}: {} bytes read back, {} written",
                got.len(),
                want.len()
            );
            ensure!(
                crc32c::crc32c(&got) == crc32c::crc32c(&want),
                "get {name}: the bytes read back differ from those written (crc32c)"
            );
            Ok(took)
        }
    }
}

/// `len` deterministic bytes that do not compress (xorshift from `seed`).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `4 MiB`, `64 KiB`, `100 B`: a size in the largest binary unit it is a whole multiple of.
fn human(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} B")
}
