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

    /// Whether the object (or pool) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GwError::Rados(e) if e.is_not_found())
    }
}

impl From<GwError> for S3Error {
    fn from(e: GwError) -> S3Error {
        match e {
            GwError::S3 { code, message } => S3Error::with_message(code, message),
            GwError::Rados(ClientError::Timeout { .. }) => {
                tracing::warn!(%e, "cluster operation timed out");
                S3Error::with_message(
                    S3ErrorCode::ServiceUnavailable,
                    "the storage cluster did not answer in time; retry",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                S3Error::with_message(S3ErrorCode::InternalError, other.to_string())
            }
        }
    }
}

/// Results of gateway operations.
pub type GwResult<T> = Result<T, GwError>;
