//! A client of the monitor quorum: tries each monitor until one answers.

use std::net::SocketAddr;
use std::sync::Arc;

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
}

impl MonClient {
    /// A client of `mons` over `messenger`.
    pub fn new(messenger: Arc<Messenger>, mons: Vec<SocketAddr>) -> MonClient {
        MonClient { messenger, mons }
    }

    /// Sends `req` to the first monitor that answers. Requests are safe to resend: the
    /// monitors forward writes to their leader and commit each at most once per answer.
    pub async fn call<R, T>(&self, req: &R) -> Result<T, MonClientError>
    where
        R: Rpc<Reply = Result<T, MonError>>,
    {
        let mut last = None;
        for addr in &self.mons {
            match self.messenger.call(*addr, req).await {
                Ok(reply) => return reply.map_err(MonClientError::Mon),
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
