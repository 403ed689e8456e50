//! The verifying workload: writers and readers over the rados client or the S3 gateways,
//! every write and read told to the [`Ledger`]. One writer per object name at a time
//! (writer `w` owns the names `k` with `k % writers == w`), so an object's writes are sent in
//! sequence order. The longest time without one successful write (and read) is measured:
//! how long a fault stalls the cluster for its users.
//!
//! Shell module: tasks, the clock and the cluster; the judgement is the ledger's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rados::IoCtx;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::ledger::Ledger;
use crate::rng::Rng;
use crate::s3::{Gateways, S3Failure};

/// Where the workload's objects live.
#[derive(Clone)]
pub enum Backend {
    /// A RADOS pool.
    Rados(IoCtx),
    /// A bucket behind the S3 gateways.
    S3(Gateways),
}

/// Why a workload op failed (its outcome unknown, if it was a write).
#[derive(Debug, thiserror::Error)]
pub enum OpFailed {
    /// The RADOS client gave up.
    #[error(transparent)]
    Rados(#[from] rados::ClientError),
    /// No gateway served it.
    #[error(transparent)]
    S3(#[from] S3Failure),
}

impl Backend {
    async fn write(&self, name: &str, data: Vec<u8>) -> Result<(), OpFailed> {
        match self {
            Backend::Rados(io) => io.write_full(name, data).await.map(|_| ())?,
            Backend::S3(gw) => gw.put(name, data).await?,
        }
        Ok(())
    }

    /// The object's data, `None` if it does not exist.
    async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, OpFailed> {
        match self {
            Backend::Rados(io) => match io.read(name, 0, None).await {
                Ok(data) => Ok(Some(data.to_vec())),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e.into()),
            },
            Backend::S3(gw) => Ok(gw.get(name).await?),
        }
    }
}

/// The longest gaps between successful ops so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stalls {
    /// Longest time without a successful write.
    pub write: Duration,
    /// Longest time without a successful read.
    pub read: Duration,
}

/// What the workload saw: its stalls and every success, for the per-fault breakdown.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The longest stalls.
    pub stalls: Stalls,
    /// When writes succeeded (since the workload started), in order.
    pub writes: Vec<Duration>,
    /// When reads succeeded.
    pub reads: Vec<Duration>,
}

/// Successes remembered per kind (a few hours of a fast run; later ones still count in
/// the stalls).
const KEEP_TIMES: usize = 4_000_000;

#[derive(Debug)]
struct Progress {
    started: Instant,
    last_write: Option<Instant>,
    last_read: Option<Instant>,
    stalls: Stalls,
    writes: Vec<Duration>,
    reads: Vec<Duration>,
}

impl Progress {
    fn new(started: Instant) -> Progress {
        Progress {
            started,
            last_write: None,
            last_read: None,
            stalls: Stalls::default(),
            writes: Vec::new(),
            reads: Vec::new(),
        }
    }

    fn note(&mut self, write: bool) {
        let now = Instant::now();
        let started = self.started;
        let (last, longest, times) = if write {
            (
                &mut self.last_write,
                &mut self.stalls.write,
                &mut self.writes,
            )
        } else {
            (&mut self.last_read, &mut self.stalls.read, &mut self.reads)
        };
        let since = last.unwrap_or(started);
        *longest = (*longest).max(now.saturating_duration_since(since));
        *last = Some(now);
        if times.len() < KEEP_TIMES {
            times.push(now.saturating_duration_since(started));
        }
    }

    /// The stalls, counting the time since the last success up to now.
    fn until_now(&self) -> Stalls {
        let now = Instant::now();
        let gap =
            |last: Option<Instant>| now.saturating_duration_since(last.unwrap_or(self.started));
        Stalls {
            write: self.stalls.write.max(gap(self.last_write)),
            read: self.stalls.read.max(gap(self.last_read)),
        }
    }
}

fn lock_progress(p: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// How hard and where the workload works.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Operations per second, reads and writes together (0: as fast as the cluster
    /// answers).
    pub rate: f64,
    /// Distinct object names.
    pub objects: usize,
    /// Concurrent writers.
    pub writers: usize,
    /// Concurrent readers.
    pub readers: usize,
    /// Seed of the name picks.
    pub seed: u64,
}

/// The name of object `k`.
pub fn object_name(k: usize) -> String {
    format!("chaos-{k:04}")
}

/// A running workload.
pub struct Workload {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    backend: Backend,
    ledger: Arc<Mutex<Ledger>>,
    progress: Arc<Mutex<Progress>>,
    probes: u64,
}

/// Locks the ledger (a panicked task must not hide the others' records).
pub fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|p| p.into_inner())
}

impl Workload {
    /// Starts the writers and readers; times are measured from `started`.
    pub fn start(
        backend: Backend,
        ledger: Arc<Mutex<Ledger>>,
        shape: Shape,
        started: Instant,
    ) -> Workload {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let progress = Arc::new(Mutex::new(Progress::new(started)));
        let tasks_n = (shape.writers + shape.readers).max(1);
        let period = (shape.rate > 0.0)
            .then(|| Duration::from_secs_f64(tasks_n as f64 / shape.rate.max(0.01)));
        for w in 0..shape.writers {
            let names: Vec<String> = (0..shape.objects)
                .filter(|k| k % shape.writers == w)
                .map(object_name)
                .collect();
            let rng = Rng::new(shape.seed ^ (w as u64 + 1));
            tasks.spawn(writer(
                backend.clone(),
                ledger.clone(),
                progress.clone(),
                names,
                rng,
                period,
                stopped.clone(),
            ));
        }
        for r in 0..shape.readers {
            let rng = Rng::new(shape.seed ^ ((r as u64 + 1) << 32));
            tasks.spawn(reader(
                backend.clone(),
                ledger.clone(),
                progress.clone(),
                shape.objects,
                rng,
                period,
                stopped.clone(),
            ));
        }
        Workload {
            stop,
            tasks,
            backend,
            ledger,
            progress,
            probes: 0,
        }
    }

    /// Reads `n` objects with acknowledged writes at once (say, just after a paused
    /// daemon resumed), each judged like any other read.
    pub fn probe(&mut self, n: usize) {
        let names = lock(&self.ledger).acked_names();
        if names.is_empty() {
            return;
        }
        self.probes += 1;
        let mut rng = Rng::new(self.probes.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for _ in 0..n {
            let name = names[rng.below(names.len())].clone();
            let (backend, ledger, progress) = (
                self.backend.clone(),
                self.ledger.clone(),
                self.progress.clone(),
            );
            self.tasks
                .spawn(async move { read_once(&backend, &ledger, &progress, &name).await });
        }
    }

    /// The longest stalls so far.
    pub fn stalls(&self) -> Stalls {
        lock_progress(&self.progress).until_now()
    }

    /// Stops sending new ops and waits for those in flight (bounded by the op timeout);
    /// returns what it saw while it ran.
    pub async fn stop(mut self) -> Timeline {
        let stalls = self.stalls();
        let _ = self.stop.send(true);
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "a workload task failed");
            }
        }
        let p = lock_progress(&self.progress);
        Timeline {
            stalls,
            writes: p.writes.clone(),
            reads: p.reads.clone(),
        }
    }
}

/// Waits for the next op's turn (at once when unthrottled); false once stopped.
async fn tick(
    interval: &mut Option<tokio::time::Interval>,
    stopped: &mut watch::Receiver<bool>,
) -> bool {
    match interval {
        None => !*stopped.borrow(),
        Some(interval) => tokio::select! {
            _ = interval.tick() => !*stopped.borrow(),
            _ = stopped.changed() => false,
        },
    }
}

fn interval(period: Option<Duration>) -> Option<tokio::time::Interval> {
    period.map(|p| {
        let mut i = tokio::time::interval(p);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    })
}

async fn writer(
    backend: Backend,
    ledger: Arc<Mutex<Ledger>>,
    progress: Arc<Mutex<Progress>>,
    names: Vec<String>,
    mut rng: Rng,
    period: Option<Duration>,
    mut stopped: watch::Receiver<bool>,
) {
    if names.is_empty() {
        return;
    }
    let mut every = interval(period);
    while tick(&mut every, &mut stopped).await {
        let name = &names[rng.below(names.len())];
        let (seq, data) = {
            let mut l = lock(&ledger);
            if l.is_frozen(name) {
                continue;
            }
            l.begin_write(name)
        };
        match backend.write(name, data).await {
            Ok(()) => {
                lock(&ledger).acked(name, seq);
                lock_progress(&progress).note(true);
            }
            Err(e) => {
                tracing::info!(%name, seq, error = %e, "write failed (outcome unknown)");
                lock(&ledger).failed(name, seq);
            }
        }
    }
}

async fn reader(
    backend: Backend,
    ledger: Arc<Mutex<Ledger>>,
    progress: Arc<Mutex<Progress>>,
    objects: usize,
    mut rng: Rng,
    period: Option<Duration>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut every = interval(period);
    while tick(&mut every, &mut stopped).await {
        let name = object_name(rng.below(objects.max(1)));
        if lock(&ledger).floor(&name).is_none() {
            // Nothing acknowledged to check yet; do not spin while writers start.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        read_once(&backend, &ledger, &progress, &name).await;
    }
}

/// One read of `name`, judged against what was acknowledged before it was sent.
async fn read_once(
    backend: &Backend,
    ledger: &Mutex<Ledger>,
    progress: &Mutex<Progress>,
    name: &str,
) {
    let floor = lock(ledger).floor(name);
    let j = match backend.read(name).await {
        Ok(data) => {
            lock_progress(progress).note(false);
            lock(ledger).judge_read(name, floor, data.as_deref())
        }
        Err(e) => {
            tracing::info!(%name, error = %e, "read failed");
            lock(ledger).read_failed();
            return;
        }
    };
    if j.is_error() {
        eprintln!("chaos: BAD READ {name}: {j:?}");
    }
}

/// The final check: reads every object ever written (retrying failures a few times) and
/// judges it against the newest acknowledged write.
pub async fn verify_all(backend: &Backend, ledger: &Mutex<Ledger>, objects: usize) {
    for k in 0..objects {
        let name = object_name(k);
        let mut last_err = None;
        let mut judged = None;
        for _ in 0..3 {
            match backend.read(&name).await {
                Ok(data) => {
                    judged = Some(lock(ledger).judge_final(&name, data.as_deref()));
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        match judged {
            Some(j) if j.is_error() => eprintln!("chaos: FINAL CHECK {name}: {j:?}"),
            Some(_) => {}
            None => {
                let e = last_err.map(|e| e.to_string()).unwrap_or_default();
                eprintln!("chaos: FINAL CHECK {name}: unreadable after recovery: {e}");
                lock(ledger).unreadable(&name, &e);
            }
        }
    }
}
