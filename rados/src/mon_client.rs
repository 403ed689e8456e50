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
        let mut last = None;
        let first = self.preferred.load(Ordering::Relaxed);
        for i in 0..self.mons.len() {
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
