//! The gateway's errors, and how each becomes the S3 error a client expects.

use rados::ClientError;
use s3s::{S3Error, S3ErrorCode};

/// What can go wrong below the S3 layer.
#[derive(Debug, thiserror::Error)]
pub enum GwError {
    /// The cluster refused or failed an operation.
    #[error("cluster: {0}")]
    Rados(#[from] ClientError),
    /// A record in the cluster does not decode (corruption or a newer format).
    #[error("bad record {object}: {reason}")]
    BadRecord {
        /// The object holding it.
        object: String,
        /// The decode error.
        reason: String,
    },
    /// An S3-level failure with its code, raised below the S3 layer.
    #[error("{code:?}: {message}")]
    S3 {
        /// The S3 error code.
        code: S3ErrorCode,
        /// Its message.
        message: String,
    },
}

impl GwError {
    /// An S3 error with this code.
    pub fn s3(code: S3ErrorCode, message: impl Into<String>) -> GwError {
        GwError::S3 {
            code,
            message: message.into(),
        }
    }

    /// Whether a guarded write lost its race (someone else changed the object first).
    pub fn is_guard_failed(&self) -> bool {
        matches!(self, GwError::Rados(ClientError::GuardFailed { .. }))
    }

    /// Whether this is the S3 error `code`.
    pub fn is_s3(&self, code: &S3ErrorCode) -> bool {
        matches!(self, GwError::S3 { code: c, .. } if c == code)
    }

    /// Whether the object (or pool) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GwError::Rados(e) if e.is_not_found())
    }
}

/// What object lock refuses is AccessDenied, as S3 answers it.
impl From<crate::lock::Locked> for GwError {
    fn from(locked: crate::lock::Locked) -> GwError {
        GwError::s3(
            S3ErrorCode::AccessDenied,
            format!("forbidden by object lock: {locked}"),
        )
    }
}

impl GwError {
    /// Whether the cluster could not serve the request now but may soon (a PG peering, a
    /// map changing, a peer going away, the op deadline passing while it retried): the
    /// client should retry, as S3 clients do on 503 SlowDown.
    pub fn is_transient(&self) -> bool {
        match self {
            GwError::Rados(e) => {
                matches!(
                    e,
                    ClientError::Timeout { .. } | ClientError::Mon(_) | ClientError::Messenger(_)
                ) || matches!(e, ClientError::Osd(o) if o.is_retryable())
                    || matches!(
                        e,
                        ClientError::Call(
                            rados::CallError::Timeout { .. }
                                | rados::CallError::Unreachable { .. }
                                | rados::CallError::ConnectionLost { .. }
                        )
                    )
            }
            GwError::BadRecord { .. } | GwError::S3 { .. } => false,
        }
    }
}

/// What a client is told of a failure that is ours, not theirs (S3's own wording); the
/// details go to the log with the request id, never to the client.
const INTERNAL: &str = "We encountered an internal error. Please try again.";

impl From<GwError> for S3Error {
    fn from(e: GwError) -> S3Error {
        match e {
            GwError::S3 { code, message } => S3Error::with_message(code, message),
            e if e.is_transient() => {
                tracing::warn!(%e, "the cluster is not serving this request now; 503 SlowDown");
                S3Error::with_message(
                    S3ErrorCode::SlowDown,
                    "The storage cluster is busy or recovering; please retry.",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                S3Error::with_message(S3ErrorCode::InternalError, INTERNAL)
            }
        }
    }
}

/// Results of gateway operations.
pub type GwResult<T> = Result<T, GwError>;

#[cfg(test)]
mod tests {
    use super::*;
    use rados::proto::osd::OsdError;

    fn code(e: GwError) -> (S3ErrorCode, String) {
        let s3: S3Error = e.into();
        (
            s3.code().clone(),
            s3.message().unwrap_or_default().to_owned(),
        )
    }

    #[test]
    fn cluster_trouble_is_slow_down_and_bugs_say_nothing_inside() {
        let timeout = GwError::Rados(ClientError::Timeout {
            after: std::time::Duration::from_secs(30),
            last: Box::new(rados::client::RetryCause::NoSuchPool),
        });
        assert_eq!(code(timeout).0, S3ErrorCode::SlowDown);
        let peering = GwError::Rados(ClientError::Osd(OsdError::Unavailable {
            pg: "1.2".into(),
            state: "peering".into(),
        }));
        assert_eq!(code(peering).0, S3ErrorCode::SlowDown);
        let lost = GwError::Rados(ClientError::Call(rados::CallError::ConnectionLost {
            peer: "127.0.0.1:1".parse().unwrap(),
            reason: "reset".into(),
        }));
        assert_eq!(code(lost).0, S3ErrorCode::SlowDown);
        let bug = GwError::Rados(ClientError::Osd(OsdError::Io(
            "disk on fire at /dev/x".into(),
        )));
        let (c, message) = code(bug);
        assert_eq!(c, S3ErrorCode::InternalError);
        assert!(!message.contains("/dev/x"), "{message}");
        let record = GwError::BadRecord {
            object: "o".into(),
            reason: "truncated".into(),
        };
        assert_eq!(code(record), (S3ErrorCode::InternalError, INTERNAL.into()));
    }
}
