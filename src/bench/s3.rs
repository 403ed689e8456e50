//! `shoal bench s3`: PUT or GET throughput and latency through S3 gateways, with the AWS SDK
//! for Rust as any client would use it (one PutObject per object, unsigned payload; GETs
//! streamed and checked by crc32c, never held whole). `--suite` runs the five workloads the
//! project compares against Ceph: 4 KiB PUT and GET with 32 clients, 1 MiB GET with 8,
//! 64 MiB PUT and GET with 4.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{human, pattern};
use crate::args::parse_bytes;
use crate::output::{Format, print_json};

/// Flags of `shoal bench s3`.
#[derive(clap::Args, Debug)]
pub struct S3Args {
    /// S3 endpoint; repeat for several gateways (clients are spread over them).
    #[arg(long = "endpoint", default_value = "http://127.0.0.1:7480")]
    endpoints: Vec<String>,
    /// Read the keys from DIR/s3.env (written by `shoal up`) when --access-key and
    /// AWS_ACCESS_KEY_ID are not given.
    #[arg(long, default_value = "shoal-data")]
    data: PathBuf,
    /// Access key (default: $AWS_ACCESS_KEY_ID, then DIR/s3.env).
    #[arg(long)]
    access_key: Option<String>,
    /// Secret key (default: $AWS_SECRET_ACCESS_KEY, then DIR/s3.env).
    #[arg(long)]
    secret_key: Option<String>,
    /// The bucket to use (created if missing; emptied of the benchmark's objects after).
    #[arg(long, default_value = "shoal-bench")]
    bucket: String,
    /// put or get (a get run first writes the objects it reads, untimed).
    #[arg(long, default_value = "put")]
    op: String,
    /// Size of each object.
    #[arg(long, default_value = "4KiB")]
    object_size: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds each workload runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Distinct objects a get run reads (default: 4 per client, at least 64 for small ones).
    #[arg(long)]
    objects: Option<usize>,
    /// Run the five comparison workloads instead of one (--op, --object-size and
    /// --concurrency are ignored).
    #[arg(long)]
    suite: bool,
    /// Leave the benchmark's objects in the bucket.
    #[arg(long)]
    keep: bool,
}

/// One workload: an op on objects of one size by a number of clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
struct Workload {
    op: Op,
    size: u64,
    clients: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Put,
    Get,
}

/// The workloads `--suite` runs, in order (each GET reads objects its own setup wrote).
const SUITE: [Workload; 5] = [
    Workload {
        op: Op::Put,
        size: 4 << 10,
        clients: 32,
    },
    Workload {
        op: Op::Get,
        size: 4 << 10,
        clients: 32,
    },
    Workload {
        op: Op::Get,
        size: 1 << 20,
        clients: 8,
    },
    Workload {
        op: Op::Put,
        size: 64 << 20,
        clients: 4,
    },
    Workload {
        op: Op::Get,
        size: 64 << 20,
        clients: 4,
    },
];

/// `shoal bench s3` figures of one workload.
#[derive(Serialize, Debug)]
struct Report {
    #[serde(flatten)]
    workload: Workload,
    seconds: f64,
    ops: u64,
    errors: u64,
    ops_per_s: f64,
    mb_per_s: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// The first few errors, described.
    error_samples: Vec<String>,
}

/// Runs `shoal bench s3`.
pub fn run(args: &S3Args, format: Format) -> anyhow::Result<()> {
    ensure!(
        args.seconds.is_finite() && args.seconds > 0.0,
        "--seconds {}: must be positive",
        args.seconds
    );
    let workloads = if args.suite {
        SUITE.to_vec()
    } else {
        let op = match args.op.as_str() {
            "put" => Op::Put,
            "get" => Op::Get,
            other => bail!("--op {other}: must be put or get"),
        };
        let size = parse_bytes(&args.object_size)?;
        ensure!(
            (1..=5 << 30).contains(&size),
            "--object-size {}: must be 1 byte to 5 GiB (one PutObject)",
            args.object_size
        );
        ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
        vec![Workload {
            op,
            size,
            clients: args.concurrency,
        }]
    };
    ensure!(
        args.objects != Some(0),
        "--objects must be at least 1 (a GET run reads that many distinct objects)"
    );
    let (access, secret) = keys(args)?;
    let clients: Vec<aws_sdk_s3::Client> = args
        .endpoints
        .iter()
        .map(|e| chaos::s3::sdk_client(e, &access, &secret))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        ensure_bucket(&clients[0], &args.bucket).await?;
        let mut reports = Vec::new();
        for w in workloads {
            let bench = Bench {
                clients: clients.clone(),
                bucket: args.bucket.clone(),
                workload: w,
                duration: Duration::from_secs_f64(args.seconds),
                objects: args
                    .objects
                    .unwrap_or_else(|| (w.clients * 4).max(if w.size <= 1 << 20 { 64 } else { 0 })),
            };
            eprintln!(
                "{} {} x {} clients for {:.0} s ...",
                op_name(w.op),
                human(w.size),
                w.clients,
                args.seconds
            );
            let result = bench.run().await;
            let removed = match (&result, args.keep) {
                (_, true) => Ok(()),
                (Ok((_, written)), false) => bench.remove_all(*written).await,
                (Err(_), false) => bench.remove_all(bench.objects).await,
            };
            let (report, _) = result?;
            removed.context("removing the benchmark objects")?;
            if format != Format::Json {
                print_line(&report);
            }
            reports.push(report);
        }
        if format == Format::Json {
            print_json(&reports)?;
        }
        let errors: u64 = reports.iter().map(|r| r.errors).sum();
        ensure!(errors == 0, "{errors} requests failed (see error_samples)");
        Ok(())
    })
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Put => "PUT",
        Op::Get => "GET",
    }
}

fn print_line(r: &Report) {
    let w = r.workload;
    println!(
        "{} {:>7} x{:<3} {:>9.1} ops/s {:>8.1} MB/s  p50 {:>7.1} ms  p90 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  errors {}",
        op_name(w.op),
        human(w.size),
        w.clients,
        r.ops_per_s,
        r.mb_per_s,
        r.p50_ms,
        r.p90_ms,
        r.p99_ms,
        r.max_ms,
        r.errors
    );
    for e in &r.error_samples {
        println!("  error: {e}");
    }
}

/// The keys: flags, then the environment, then `DIR/s3.env`.
fn keys(args: &S3Args) -> anyhow::Result<(String, String)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        args.access_key.clone().or_else(|| env("AWS_ACCESS_KEY_ID")),
        args.secret_key
            .clone()
            .or_else(|| env("AWS_SECRET_ACCESS_KEY")),
    ) {
        (Some(a), Some(s)) => Ok((a, s)),
        _ => chaos::s3::keys(&args.data).context(
            "no S3 keys: give --access-key and --secret-key, set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or --data DIR of a `shoal up` cluster",
        ),
    }
}

async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    if s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .with_context(|| format!("creating bucket {bucket}"))?;
    Ok(())
}

/// Errors described in a report.
const SAMPLES: usize = 5;

/// Latencies kept per workload (enough for p99 of any run this tool makes).
const MAX_SAMPLES: usize = 1 << 20;

/// One workload's run.
struct Bench {
    clients: Vec<aws_sdk_s3::Client>,
    bucket: String,
    workload: Workload,
    duration: Duration,
    /// Distinct objects a GET run reads.
    objects: usize,
}

/// What the clients share while they run.
struct Tally {
    ops: AtomicU64,
    errors: AtomicU64,
    samples: std::sync::Mutex<(Vec<Duration>, Vec<String>)>,
    /// PUT objects started so far (they take their index from it).
    written: AtomicUsize,
}

/// The name of object `i` of workload `w`.
fn key(w: Workload, i: usize) -> String {
    format!("bench-{}-{}/{i}", op_name(w.op).to_lowercase(), w.size)
}

impl Bench {
    fn key(&self, i: usize) -> String {
        key(self.workload, i)
    }

    /// The figures, and how many objects the run left (`0..n` by [`key`]).
    async fn run(&self) -> anyhow::Result<(Report, usize)> {
        let body = Bytes::from(pattern(self.workload.size as usize, 0x5eed));
        let crc = crc32c::crc32c(&body);
        if self.workload.op == Op::Get {
            self.setup(&body).await?;
        }
        let tally = Arc::new(Tally {
            ops: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            samples: std::sync::Mutex::new((Vec::new(), Vec::new())),
            written: AtomicUsize::new(0),
        });
        let start = Instant::now();
        let deadline = start + self.duration;
        let mut tasks = JoinSet::new();
        for c in 0..self.workload.clients {
            let s3 = self.clients[c % self.clients.len()].clone();
            let (tally, body) = (tally.clone(), body.clone());
            let me = Client {
                bucket: self.bucket.clone(),
                workload: self.workload,
                objects: self.objects,
                index: c,
            };
            tasks.spawn(async move { me.drive(&s3, &tally, &body, crc, deadline).await });
        }
        let mut tick =
            tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(j) => j?,
                    None => break,
                },
                _ = tick.tick() => eprintln!(
                    "  {:.0} s: {} ops, {} errors",
                    start.elapsed().as_secs_f64(),
                    tally.ops.load(Ordering::Relaxed),
                    tally.errors.load(Ordering::Relaxed)
                ),
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let left = match self.workload.op {
            Op::Put => tally.written.load(Ordering::Relaxed),
            Op::Get => self.objects,
        };
        let (mut latencies, samples) =
            std::mem::take(&mut *tally.samples.lock().unwrap_or_else(|p| p.into_inner()));
        latencies.sort_unstable();
        let ops = tally.ops.load(Ordering::Relaxed);
        let ms = |p: f64| percentile(&latencies, p).as_secs_f64() * 1e3;
        let report = Report {
            workload: self.workload,
            seconds,
            ops,
            errors: tally.errors.load(Ordering::Relaxed),
            ops_per_s: ops as f64 / seconds,
            mb_per_s: ops as f64 * self.workload.size as f64 / seconds / 1e6,
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: ms(1.0),
            error_samples: samples,
        };
        Ok((report, left))
    }

    /// Writes the objects a GET run reads.
    async fn setup(&self, body: &Bytes) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        for i in 0..self.objects {
            if tasks.len() >= self.workload.clients {
                tasks.join_next().await.expect("in flight")??;
            }
            let s3 = self.clients[i % self.clients.len()].clone();
            let (bucket, key, body) = (self.bucket.clone(), self.key(i), body.clone());
            tasks.spawn(async move {
                put(&s3, &bucket, &key, body)
                    .await
                    .with_context(|| format!("writing {key} for the GET run"))
            });
        }
        while let Some(j) = tasks.join_next().await {
            j??;
        }
        Ok(())
    }

    /// Deletes objects `0..n` of this workload (deleting a missing key is no error).
    async fn remove_all(&self, n: usize) -> anyhow::Result<()> {
        let keys: Vec<String> = (0..n).map(|i| self.key(i)).collect();
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()?;
            self.clients[0]
                .delete_objects()
                .bucket(&self.bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(objects))
                        .quiet(true)
                        .build()?,
                )
                .send()
                .await?;
        }
        Ok(())
    }
}

/// One simulated client: its requests one after another until the deadline.
struct Client {
    bucket: String,
    workload: Workload,
    objects: usize,
    index: usize,
}

impl Client {
    async fn drive(
        &self,
        s3: &aws_sdk_s3::Client,
        tally: &Tally,
        body: &Bytes,
        crc: u32,
        deadline: Instant,
    ) {
        let w = self.workload;
        let mut n = self.index;
        while Instant::now() < deadline {
            let started = Instant::now();
            let outcome = match w.op {
                Op::Put => {
                    let i = tally.written.fetch_add(1, Ordering::Relaxed);
                    put(s3, &self.bucket, &key(w, i), body.clone()).await
                }
                Op::Get => {
                    let name = key(w, n % self.objects);
                    n += w.clients;
                    get(s3, &self.bucket, &name, w.size, crc).await
                }
            };
            let took = started.elapsed();
            let mut samples = tally.samples.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Ok(()) => {
                    tally.ops.fetch_add(1, Ordering::Relaxed);
                    if samples.0.len() < MAX_SAMPLES {
                        samples.0.push(took);
                    }
                }
                Err(e) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    if samples.1.len() < SAMPLES {
                        samples.1.push(format!("{e:#}"));
                    }
                }
            }
        }
    }
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Bytes) -> anyhow::Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("PUT {key}: {}", chaos::s3::describe(&e)))?;
    Ok(())
}

/// GETs `key` and checks its length and crc32c as the body streams in.
async fn get(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    size: u64,
    crc: u32,
) -> anyhow::Result<()> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GET {key}: {}", chaos::s3::describe(&e)))?;
    let mut body = out.body;
    let (mut got, mut sum) = (0u64, 0u32);
    while let Some(chunk) = body
        .try_next()
        .await
        .with_context(|| format!("GET {key}: body"))?
    {
        got += chunk.len() as u64;
        sum = crc32c::crc32c_append(sum, &chunk);
    }
    ensure!(got == size, "GET {key}: {got} bytes, {size} written");
    ensure!(
        sum == crc,
        "GET {key}: the bytes differ from those written (crc32c)"
    );
    Ok(())
}

/// The `p`-quantile (0..=1) of sorted `v` (nearest rank); zero when empty.
fn percentile(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 0.9), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
