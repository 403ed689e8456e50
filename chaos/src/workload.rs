//! The verifying workload: writers and readers over the rados client, every write and read
//! told to the [`Ledger`]. One writer per object name at a time (writer `w` owns the names
//! `k` with `k % writers == w`), so an object's writes are sent in sequence order.
//!
//! Shell module: tasks, the clock and the cluster; the judgement is the ledger's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rados::IoCtx;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::ledger::Ledger;
use crate::rng::Rng;

/// How hard and where the workload works.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Operations per second, reads and writes together.
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
}

/// Locks the ledger (a panicked task must not hide the others' records).
pub fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|p| p.into_inner())
}

impl Workload {
    /// Starts the writers and readers.
    pub fn start(io: IoCtx, ledger: Arc<Mutex<Ledger>>, shape: Shape) -> Workload {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let tasks_n = (shape.writers + shape.readers).max(1);
        let period = Duration::from_secs_f64(tasks_n as f64 / shape.rate.max(0.01));
        for w in 0..shape.writers {
            let names: Vec<String> = (0..shape.objects)
                .filter(|k| k % shape.writers == w)
                .map(object_name)
                .collect();
            let rng = Rng::new(shape.seed ^ (w as u64 + 1));
            tasks.spawn(writer(
                io.clone(),
                ledger.clone(),
                names,
                rng,
                period,
                stopped.clone(),
            ));
        }
        for r in 0..shape.readers {
            let rng = Rng::new(shape.seed ^ ((r as u64 + 1) << 32));
            tasks.spawn(reader(
                io.clone(),
                ledger.clone(),
                shape.objects,
                rng,
                period,
                stopped.clone(),
            ));
        }
        Workload { stop, tasks }
    }

    /// Stops sending new ops and waits for those in flight (bounded by the op timeout).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "a workload task failed");
            }
        }
    }
}

async fn tick(interval: &mut tokio::time::Interval, stopped: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = interval.tick() => !*stopped.borrow(),
        _ = stopped.changed() => false,
    }
}

fn interval(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

async fn writer(
    io: IoCtx,
    ledger: Arc<Mutex<Ledger>>,
    names: Vec<String>,
    mut rng: Rng,
    period: Duration,
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
        match io.write_full(name, data).await {
            Ok(_) => lock(&ledger).acked(name, seq),
            Err(e) => {
                tracing::info!(%name, seq, error = %e, "write failed (outcome unknown)");
                lock(&ledger).failed(name, seq);
            }
        }
    }
}

async fn reader(
    io: IoCtx,
    ledger: Arc<Mutex<Ledger>>,
    objects: usize,
    mut rng: Rng,
    period: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut every = interval(period);
    while tick(&mut every, &mut stopped).await {
        let name = object_name(rng.below(objects.max(1)));
        let floor = lock(&ledger).floor(&name);
        if floor.is_none() {
            continue;
        }
        let j = match io.read(&name, 0, None).await {
            Ok(data) => lock(&ledger).judge_read(&name, floor, Some(&data)),
            Err(e) if e.is_not_found() => lock(&ledger).judge_read(&name, floor, None),
            Err(e) => {
                tracing::info!(%name, error = %e, "read failed");
                lock(&ledger).read_failed();
                continue;
            }
        };
        if j.is_error() {
            eprintln!("chaos: BAD READ {name}: {j:?}");
        }
    }
}

/// The final check: reads every object ever written (retrying failures a few times) and
/// judges it against the newest acknowledged write.
pub async fn verify_all(io: &IoCtx, ledger: &Mutex<Ledger>, objects: usize) {
    for k in 0..objects {
        let name = object_name(k);
        let mut last_err = None;
        let mut judged = None;
        for _ in 0..3 {
            match io.read(&name, 0, None).await {
                Ok(data) => {
                    judged = Some(lock(ledger).judge_final(&name, Some(&data)));
                    break;
                }
                Err(e) if e.is_not_found() => {
                    judged = Some(lock(ledger).judge_final(&name, None));
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
