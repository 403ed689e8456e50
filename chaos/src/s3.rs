//! The workload's S3 side: one AWS SDK client per gateway, used round-robin; an op that
//! fails in a way a retry may fix (503, a dropped connection, a killed gateway, a timeout)
//! goes to the next gateway until its deadline, as a load-balanced S3 client would. A 5xx
//! other than 503 is counted and described: the gateway must answer cluster trouble with a
//! retryable 503, never with an internal error.
//!
//! Shell module: sockets and the clock.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use tokio::time::Instant;

/// The bucket the workload writes.
pub const BUCKET: &str = "chaos";

/// How long one op keeps retrying across gateways before it counts as failed.
const OP_DEADLINE: Duration = Duration::from_secs(60);

/// Error descriptions kept for the report.
const KEEP: usize = 10;

/// Why an S3 op failed for good (its outcome unknown if it was a write).
#[derive(Debug, thiserror::Error)]
pub enum S3Failure {
    /// Every try failed in a retryable way until the deadline; the last one said this.
    #[error("no gateway served it within {deadline:?} (last: {last})")]
    Exhausted {
        /// The op's deadline.
        deadline: Duration,
        /// The last failure.
        last: String,
    },
    /// A 4xx the workload never expects (a bug in the gateway or the workload).
    #[error("refused: {0}")]
    Refused(String),
}

/// One failure of one try.
enum Try {
    /// Another gateway, or a later try, may succeed.
    Retry(String),
    /// Final.
    Fail(S3Failure),
}

/// The gateways and the counters of what they answered.
#[derive(Clone)]
pub struct Gateways {
    clients: Arc<Vec<(SocketAddr, aws_sdk_s3::Client)>>,
    next: Arc<AtomicUsize>,
    /// 5xx answers other than 503 (and their descriptions).
    bad_5xx: Arc<AtomicU64>,
    described: Arc<Mutex<Vec<String>>>,
}

/// The default user's keys from `DIR/s3.env` (written by `shoal up`).
pub fn keys(dir: &Path) -> anyhow::Result<(String, String)> {
    let env = dir.join("s3.env");
    let text =
        std::fs::read_to_string(&env).with_context(|| format!("cannot read {}", env.display()))?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(str::to_owned)
            .with_context(|| format!("{name} missing from {}", env.display()))
    };
    Ok((value("AWS_ACCESS_KEY_ID")?, value("AWS_SECRET_ACCESS_KEY")?))
}

/// An SDK client of the gateway at `endpoint` (an `http://` URL, path-style, us-east-1)
/// that signs with the given keys and never retries on its own: the workload and
/// `shoal bench s3` count every outcome themselves.
pub fn sdk_client(endpoint: &str, access: &str, secret: &str) -> aws_sdk_s3::Client {
    let tls_context = TlsContext::builder()
        .with_trust_store(TrustStore::empty())
        .build()
        .expect("an empty trust store builds");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context)
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(access, secret, None, None, "chaos"))
        .http_client(http)
        // Retries are ours: across gateways, with the ledger told of every outcome.
        .retry_config(RetryConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(45))
                .build(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An SDK failure in one line: HTTP status, S3 code and message, and the SDK's own words.
pub fn describe<E: ProvideErrorMetadata>(e: &SdkError<E>) -> String {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or("");
    let message = e.message().unwrap_or("");
    format!("{status:?} {code} {message} ({e})")
}

impl Gateways {
    /// Clients of the gateways at `addrs`, signing with the given keys.
    pub fn new(addrs: &[SocketAddr], access: &str, secret: &str) -> Gateways {
        Gateways {
            clients: Arc::new(
                addrs
                    .iter()
                    .map(|a| (*a, sdk_client(&format!("http://{a}"), access, secret)))
                    .collect(),
            ),
            next: Arc::new(AtomicUsize::new(0)),
            bad_5xx: Arc::new(AtomicU64::new(0)),
            described: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// 5xx answers other than 503 so far, and the first few described.
    pub fn bad_5xx(&self) -> (u64, Vec<String>) {
        let described = self.described.lock().unwrap_or_else(|p| p.into_inner());
        (self.bad_5xx.load(Ordering::Relaxed), described.clone())
    }

    /// Sorts an SDK failure; counts 5xx answers other than 503.
    fn classify<E: ProvideErrorMetadata>(&self, gw: SocketAddr, e: SdkError<E>) -> Try {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let what = format!("{gw}: {}", describe(&e));
        match status {
            Some(503) => Try::Retry(what),
            Some(s) if s >= 500 => {
                self.bad_5xx.fetch_add(1, Ordering::Relaxed);
                let mut d = self.described.lock().unwrap_or_else(|p| p.into_inner());
                if d.len() < KEEP {
                    d.push(what.clone());
                }
                Try::Retry(what)
            }
            Some(_) => Try::Fail(S3Failure::Refused(what)),
            // No answer: the gateway died, the connection broke, or it timed out.
            None => Try::Retry(what),
        }
    }

    /// Runs `op` on one gateway after another until it succeeds, fails for good, or the
    /// deadline passes.
    async fn with_retry<T, F, Fut>(&self, mut op: F) -> Result<T, S3Failure>
    where
        F: FnMut(SocketAddr, aws_sdk_s3::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, Try>>,
    {
        let deadline = Instant::now() + OP_DEADLINE;
        let mut wait = Duration::from_millis(20);
        let mut last = String::from("never tried");
        while Instant::now() < deadline {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
            let (addr, client) = self.clients[i].clone();
            match tokio::time::timeout_at(deadline, op(addr, client)).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(Try::Fail(e))) => return Err(e),
                Ok(Err(Try::Retry(why))) => last = why,
                Err(_) => last = format!("{addr}: no answer before the deadline"),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
        Err(S3Failure::Exhausted {
            deadline: OP_DEADLINE,
            last,
        })
    }

    /// Creates the bucket if it does not exist yet.
    pub async fn create_bucket(&self) -> Result<(), S3Failure> {
        self.with_retry(|gw, c| async move {
            match c.create_bucket().bucket(BUCKET).send().await {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
                Err(e) => Err(self.classify(gw, e)),
            }
        })
        .await
    }

    /// PUTs `data` as `key`.
    pub async fn put(&self, key: &str, data: Vec<u8>) -> Result<(), S3Failure> {
        let data = bytes::Bytes::from(data);
        self.with_retry(|gw, c| {
            let data = data.clone();
            async move {
                c.put_object()
                    .bucket(BUCKET)
                    .key(key)
                    .body(ByteStream::from(data))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.classify(gw, e))
            }
        })
        .await
    }

    /// GETs `key` whole (`None`: no such key). A body cut short is a failed try.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, S3Failure> {
        self.with_retry(|gw, c| async move {
            let out = match c.get_object().bucket(BUCKET).key(key).send().await {
                Ok(out) => out,
                Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
                Err(e) => return Err(self.classify(gw, e)),
            };
            let declared = out.content_length();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| Try::Retry(format!("{gw}: body cut short: {e}")))?
                .into_bytes();
            // A length the response declared and then did not deliver is a failed try, not
            // data: the client would see the error too.
            if declared.is_some_and(|n| n != body.len() as i64) {
                return Err(Try::Retry(format!(
                    "{gw}: {} bytes of a declared {declared:?}",
                    body.len()
                )));
            }
            Ok(Some(body.to_vec()))
        })
        .await
    }
}
