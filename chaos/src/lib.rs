//! `shoal-chaos SCENARIO [OPTIONS]`: starts (or attaches to) a `shoal up` cluster, drives a
//! verifying workload (on a RADOS pool, or with `--s3` through several S3 gateways with the
//! AWS SDK), injects the scenario's seeded faults, waits for HEALTH_OK and checks every
//! acknowledged write. Ends with one verdict line,
//! `chaos: acked=N lost=0 corrupted=0 stale_reads=0 recovered_in=Xs ...`, and exits non-zero
//! on any lost, corrupted or stale data, any 5xx other than 503 from a gateway, or if the
//! cluster does not recover in time.
//!
//! The scripts in `chaos/*.sh` are thin wrappers around this binary. The binary is the root
//! package's `src/bin/shoal-chaos.rs` (so `cargo test` builds it for the tests that run the
//! scripts); this crate is all of it.

mod cluster;
mod driver;
mod ledger;
mod mapwatch;
mod pool;
mod rng;
pub mod s3;
mod schedule;
mod stalls;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::schedule::Scenario;

/// Chaos scenarios against a local Shoal cluster.
#[derive(Parser, Debug)]
#[command(name = "shoal-chaos", version, about)]
pub struct Args {
    /// The scenario.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Seed of the fault schedule and the workload (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds of faults and workload (every fault ends by then), before recovery.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// OSDs of a new cluster (default 4, or K+M with `--pool-ec`). Each PG's members sit on
    /// distinct hosts, so a value below the pool's width (3, or K+M) is raised to it, with a
    /// note; an attached cluster with fewer OSDs is refused.
    #[arg(long)]
    osds: Option<u32>,
    /// Monitors of a new cluster (1, 3 or 5).
    #[arg(long, default_value_t = 3)]
    mons: u32,
    /// Workload operations per second (reads and writes together; 0: as fast as the cluster
    /// answers). Default 20, or 0 with `--s3`.
    #[arg(long)]
    workload_rate: Option<f64>,
    /// Drive the workload through S3 gateways (AWS SDK, round-robin, a failed op retried on
    /// the next gateway) instead of the RADOS client: every GET's body checked against the
    /// key and write it claims, no answer older than one acknowledged before the GET, no 5xx
    /// but 503.
    #[arg(long, overrides_with = "s3")]
    s3: bool,
    /// S3 gateways with `--s3` (the one `shoal up` runs and more on free ports).
    #[arg(long, default_value_t = 2)]
    gateways: u32,
    /// Concurrent writers (default 4, or 8 with `--s3`).
    #[arg(long)]
    writers: Option<usize>,
    /// Concurrent readers (default 2, or 8 with `--s3`).
    #[arg(long)]
    readers: Option<usize>,
    /// Fixed fault timing: start a fault every SECS (instead of random gaps) ...
    #[arg(long, requires = "fault_for")]
    fault_every: Option<u64>,
    /// ... each lasting SECS (instead of a random time).
    #[arg(long, requires = "fault_every")]
    fault_for: Option<u64>,
    /// Most daemons out of service at once. The default is the pool's members that may be
    /// down while writes proceed, size - min_size (3 - 2 = 1; (K+M) - min_size with
    /// `--pool-ec`, 1 for 4+2; at least 1), and 1 for kill-mons and partition (keeps a
    /// 3-monitor quorum). More may stall I/O (writes wait; nothing acknowledged may be lost).
    #[arg(long)]
    max_down: Option<u32>,
    /// Cluster directory: attach to the running `shoal up` cluster there, or start a new one
    /// there (default: a new temporary directory, removed after a clean run).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep the temporary cluster directory (logs) even after a clean run.
    #[arg(long)]
    keep: bool,
    /// Seconds to wait for HEALTH_OK (every PG active+clean) after the last fault.
    #[arg(long, default_value_t = 180)]
    recover_timeout: u64,
    /// Distinct object names the workload writes.
    #[arg(long, default_value_t = 64)]
    objects: usize,
    /// Largest object the workload writes, in bytes (default 64 KiB, or 256 KiB with
    /// `--s3`).
    #[arg(long)]
    max_object_size: Option<usize>,
    /// Smallest object the workload writes, in bytes (default 16, or 1 KiB with `--s3`).
    #[arg(long)]
    min_object_size: Option<usize>,
    /// Make the chaos pool erasure-coded with K data and M parity shards (e.g. `4+2`;
    /// min_size K+1, failure domain host) instead of replicated (size 3, min_size 2). The
    /// workload only writes whole objects, reads and stats, which EC pools serve.
    #[arg(long, value_name = "K+M", value_parser = pool::parse_ec)]
    pool_ec: Option<placement::PoolKind>,
    /// PGs of the chaos pool.
    #[arg(long, default_value_t = 32)]
    pg_num: u32,
    /// The `shoal` binary (default: next to this one, else `shoal` on PATH).
    #[arg(long, env = "SHOAL_BIN")]
    shoal: Option<PathBuf>,
}

/// Runs `shoal-chaos` with the process's arguments.
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
        ))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match driver::main(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chaos: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
