//! What the gateway's seeded simulations share: tasks polled in an order proptest picks,
//! some dropped mid-operation (their gateway died), over pools in memory that never wait.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One gateway's work, polled one cluster op at a time.
pub type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Polls `tasks` in the order `schedule` picks (then round robin) until all are done; at each
/// turn in `deaths`, the task `schedule` picks next is dropped instead (its gateway died).
/// `turned(n)` is called after each turn with the number of turns taken.
pub fn run(
    mut tasks: Vec<Option<Task<'_>>>,
    schedule: &[u8],
    deaths: &[u16],
    mut turned: impl FnMut(usize),
) {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut turn = 0usize;
    loop {
        let alive: Vec<usize> = (0..tasks.len()).filter(|i| tasks[*i].is_some()).collect();
        if alive.is_empty() {
            return;
        }
        let pick = schedule.get(turn).map_or(turn, |b| usize::from(*b));
        let victim = alive[pick % alive.len()];
        if deaths.iter().any(|d| usize::from(*d) == turn) {
            tasks[victim] = None;
        } else if let Some(task) = tasks[victim].as_mut()
            && task.as_mut().poll(&mut cx) == Poll::Ready(())
        {
            tasks[victim] = None;
        }
        turn += 1;
        turned(turn);
        assert!(turn < 100_000, "the simulation does not end");
    }
}

/// Runs `fut` to completion with a no-op waker (memory pools never wait for real).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("an operation does not end (a million cluster ops)");
}

/// Cases per run: 300, or `SHOAL_SIM_CASES` for a longer search.
pub fn cases() -> u32 {
    std::env::var("SHOAL_SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}
