//! A client of the monitor quorum: tries each monitor until one answers, starting with the
//! one that answered last, so a dead monitor costs one timeout, not one per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::CallError;
use crate::messenger::Messenger;
use crate::proto::mon::MonError;
use crate::rpc::Rpc;

/// Why a monitor request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MonClientError {
    /// The monitors answered with an error.
    #[error(transparent)]
    Mon(#[from] MonError),
    /// No monitor answered; the last failure is kept.
    #[error("no monitor answered (last: {0})")]
    Unreachable(CallError),
    /// No monitors configured.
    #[error("no monitor addresses given")]
    NoMonitors,
}

/// Talks to whichever monitor answers.
#[derive(Clone)]
pub struct MonClient {
    messenger: Arc<Messenger>,
    mons: Vec<SocketAddr>,
    /// The monitor that answered last (shared by clones): tried first.
    preferred: Arc<AtomicUsize>,
}

impl MonClient {
    /// A client of `mons` over `messenger`.
    pub fn new(messenger: Arc<Messenger>, mons: Vec<SocketAddr>) -> MonClient {
        MonClient {
            messenger,
            mons,
            preferred: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Sends `req` to the first monitor that answers, the last one that did first.
    /// Requests are safe to resend: the monitors forward writes to their leader and commit
    /// each at most once per answer.
    pub async fn call<R, T>(&self, req: &R) -> Result<T, MonClientError>
    where
        R: Rpc<Reply = Result<T, MonError>>,
    {
        let first = self.preferred.load(Ordering::Relaxed);
        self.call_in_turn(req, first, 0..self.mons.len(), None)
            .await
    }

    /// Tries the monitors at `offsets` from `first` (wrapping) one after another until one
    /// answers; `last` is the transport error to report if none does.
    async fn call_in_turn<R, T>(
        &self,
        req: &R,
        first: usize,
        offsets: std::ops::Range<usize>,
        mut last: Option<CallError>,
    ) -> Result<T, MonClientError>
    where
        R: Rpc<Reply = Result<T, MonError>>,
    {
        for i in offsets {
            let at = (first + i) % self.mons.len();
            match self.messenger.call(self.mons[at], req).await {
                Ok(reply) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    return reply.map_err(MonClientError::Mon);
                }
                // A stranger's key is final: every monitor will refuse it.
                Err(e @ CallError::Refused { .. }) => return Err(MonClientError::Unreachable(e)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or(MonClientError::NoMonitors, MonClientError::Unreachable))
    }

    /// Sends `req` to the `n` monitors [`call`](Self::call) would try first, all at once,
    /// and takes the first that answers; if none does, tries the rest in turn. For long
    /// polls (`Subscribe`) and urgent, idempotent reports (`OsdFailure`): a monitor that died
    /// without closing its connections (kill -9, SIGSTOP, a partition) would otherwise hold
    /// them for a whole request timeout.
    pub async fn call_racing<R, T>(&self, req: &R, n: usize) -> Result<T, MonClientError>
    where
        R: Rpc<Reply = Result<T, MonError>> + Clone,
        T: Send + 'static,
    {
        let len = self.mons.len();
        if len == 0 {
            return Err(MonClientError::NoMonitors);
        }
        let n = n.clamp(1, len);
        let first = self.preferred.load(Ordering::Relaxed);
        let mut racing = tokio::task::JoinSet::new();
        for i in 0..n {
            let at = (first + i) % len;
            let (messenger, addr, req) = (self.messenger.clone(), self.mons[at], req.clone());
            racing.spawn(async move { (at, messenger.call(addr, &req).await) });
        }
        let mut last = None;
        let mut answered = None;
        while let Some(joined) = racing.join_next().await {
            let Ok((at, result)) = joined else { continue };
            match result {
                Ok(Ok(reply)) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    return Ok(reply);
                }
                // An answer, but an error: another monitor may still do better.
                Ok(Err(e)) => answered = Some(e),
                Err(e @ CallError::Refused { .. }) => return Err(MonClientError::Unreachable(e)),
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = answered {
            return Err(MonClientError::Mon(e));
        }
        self.call_in_turn(req, first, n..len, last).await
    }

    /// Sends `req` to every monitor at once and waits for them all (a dead one up to the
    /// request timeout); succeeds if any accepted it. For reports the leader must hear even
    /// while it changes: each live monitor hands its copy on.
    pub async fn call_all<R, T>(&self, req: &R) -> Result<T, MonClientError>
    where
        R: Rpc<Reply = Result<T, MonError>> + Clone,
        T: Send + 'static,
    {
        let mut all = tokio::task::JoinSet::new();
        for (at, addr) in self.mons.iter().copied().enumerate() {
            let (messenger, req) = (self.messenger.clone(), req.clone());
            all.spawn(async move { (at, messenger.call(addr, &req).await) });
        }
        let (mut accepted, mut answered, mut last) = (None, None, None);
        while let Some(joined) = all.join_next().await {
            let Ok((at, result)) = joined else { continue };
            match result {
                Ok(Ok(reply)) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    accepted.get_or_insert(reply);
                }
                Ok(Err(e)) => answered = Some(e),
                Err(e) => last = Some(e),
            }
        }
        match (accepted, answered, last) {
            (Some(reply), _, _) => Ok(reply),
            (None, Some(e), _) => Err(MonClientError::Mon(e)),
            (None, None, last) => {
                Err(last.map_or(MonClientError::NoMonitors, MonClientError::Unreachable))
            }
        }
    }

    /// Sends `req` to one specific monitor.
    pub async fn call_one<R, T>(&self, mon: SocketAddr, req: &R) -> Result<T, MonClientError>
    where
        R: Rpc<Reply = Result<T, MonError>>,
    {
        match self.messenger.call(mon, req).await {
            Ok(reply) => reply.map_err(MonClientError::Mon),
            Err(e) => Err(MonClientError::Unreachable(e)),
        }
    }
}
