//! Streams a request body into stripes: the first stripe is kept for the head (when the
//! caller wants one), every further [`STRIPE`] bytes become one tail object, written while
//! the body keeps arriving (at most [`TAILS_IN_FLIGHT`] at once). Memory per upload is
//! bounded by the stripe being filled, the head stripe and the tails in flight.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use rados::IoCtx;
use s3s::S3ErrorCode;
use s3s::checksum::ChecksumHasher;
use tokio::time::Instant;

use crate::error::{GwError, GwResult};
use crate::layout::{STRIPE, tail_oid};
use crate::records::Segment;

/// Tail writes of one upload in flight at once.
pub const TAILS_IN_FLIGHT: usize = 2;

/// What a body turned into.
#[derive(Debug)]
pub struct Written {
    /// The first stripe (empty unless the head keeps it).
    pub head: Bytes,
    /// The tail objects, if any.
    pub segment: Option<Segment>,
    /// Bytes in all.
    pub size: u64,
    /// MD5 of the body, hex.
    pub md5_hex: String,
    /// The checksums the hasher was asked for (base64).
    pub checksums: s3s::dto::Checksum,
}

/// Where a body's bytes start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The first stripe is kept for the head, tails are numbered from 1 (0 is where a
    /// versioned head's stripe is preserved, [`crate::versions::preserved`]).
    Head,
    /// Every byte goes to tails, numbered from this one (multipart parts, objects of other
    /// storage classes, data moved between classes).
    Tail(u64),
}

/// Something to do every so often while a long body streams (keeping a pending index
/// entry young so the janitor leaves it alone).
pub trait Keepalive: Send {
    /// Called between stripes; does the work when it is due.
    fn tick(&mut self) -> impl Future<Output = GwResult<()>> + Send;
}

/// No keepalive.
pub struct NoKeepalive;

impl Keepalive for NoKeepalive {
    async fn tick(&mut self) -> GwResult<()> {
        Ok(())
    }
}

/// A keepalive running `action` at most every `every`.
pub struct Every<F> {
    every: Duration,
    last: Instant,
    action: F,
}

impl<F, Fut> Every<F>
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = GwResult<()>> + Send,
{
    /// Runs `action` at most every `every`.
    pub fn new(every: Duration, action: F) -> Every<F> {
        Every {
            every,
            last: Instant::now(),
            action,
        }
    }
}

impl<F, Fut> Keepalive for Every<F>
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = GwResult<()>> + Send,
{
    async fn tick(&mut self) -> GwResult<()> {
        if self.last.elapsed() >= self.every {
            (self.action)().await?;
            self.last = Instant::now();
        }
        Ok(())
    }
}

/// An error a body stream can end with, as the gateway reports it.
pub trait BodyError {
    /// The gateway error.
    fn into_gw(self) -> GwError;
}

/// A client's request body (s3s's stream): the client's fault.
impl BodyError for s3s::StdError {
    fn into_gw(self) -> GwError {
        body_error(&self)
    }
}

/// Another object read from the cluster (copies): our fault, reported as such.
impl BodyError for GwError {
    fn into_gw(self) -> GwError {
        self
    }
}

/// Maps a body stream error to the S3 error a client should see. s3s's body verifiers
/// (aws-chunked signatures, x-amz-content-sha256) are private types, so their Display text
/// is all there is to tell them apart.
pub fn body_error(e: &dyn std::fmt::Display) -> GwError {
    let text = e.to_string();
    let code = if text.contains("SignatureMismatch") {
        S3ErrorCode::SignatureDoesNotMatch
    } else if text.contains("Sha256Mismatch") {
        S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into())
    } else {
        S3ErrorCode::IncompleteBody
    };
    GwError::s3(code, format!("request body: {text}"))
}

/// Tail writes in flight.
type InFlight<'d> = FuturesUnordered<BoxFuture<'d, Result<(), rados::ClientError>>>;

/// How long an upload may receive nothing before it is dropped (S3's RequestTimeout), so
/// stalled clients cannot hold the upload slots for ever.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How often an upload waiting for the client checks whether its keepalive is due.
const KEEPALIVE_POLL: Duration = Duration::from_secs(1);

/// Body size past which the stripe buffer grows a whole stripe at a time.
const GROW_BY_STRIPES: u64 = 64 << 10;

/// Writes `body` as tails under `prefix` from where `start` says (the first stripe kept in
/// memory for the head with [`Start::Head`]), hashing MD5 and what `hasher` was set up for.
/// Returns only once no tail write is in flight, also on error, so cleanup after it sees
/// every tail.
pub async fn write_stream<S, E>(
    data: &IoCtx,
    prefix: &str,
    start: Start,
    body: S,
    hasher: ChecksumHasher,
    keepalive: &mut impl Keepalive,
) -> GwResult<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: BodyError,
{
    let mut in_flight = InFlight::new();
    let result = fill(data, prefix, start, body, hasher, keepalive, &mut in_flight).await;
    let mut failed = None;
    while let Some(tail) = in_flight.next().await {
        if let Err(e) = tail {
            failed.get_or_insert(e);
        }
    }
    match (result, failed) {
        (Ok(_), Some(e)) => Err(e.into()),
        (result, _) => result,
    }
}

async fn fill<'d, S, E>(
    data: &'d IoCtx,
    prefix: &str,
    start: Start,
    body: S,
    mut hasher: ChecksumHasher,
    keepalive: &mut impl Keepalive,
    in_flight: &mut InFlight<'d>,
) -> GwResult<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: BodyError,
{
    let mut body = std::pin::pin!(body);
    let mut md5 = Md5::new();
    let mut head = Bytes::new();
    let mut buf = BytesMut::new();
    let mut size = 0u64;
    let (first_tail, mut filling_head) = match start {
        Start::Head => (1, true),
        Start::Tail(first) => (first, false),
    };
    let mut next_tail = first_tail;

    // The part of a chunk past the end of the stripe it completed: the stripe buffer never
    // holds more than a stripe, so it is never grown (and copied) with a stripe inside.
    let mut carry: Option<Bytes> = None;
    loop {
        let chunk = match carry.take() {
            Some(rest) => Some(rest), // hashed and counted when it arrived
            None => {
                let next = next_chunk(&mut body, keepalive, in_flight).await?;
                if let Some(chunk) = &next {
                    md5.update(chunk);
                    hasher.update(chunk);
                    size += chunk.len() as u64;
                }
                next
            }
        };
        let done = chunk.is_none();
        if let Some(mut chunk) = chunk {
            let room = STRIPE as usize - buf.len();
            if chunk.len() > room {
                carry = Some(chunk.split_off(room));
            }
            if size > GROW_BY_STRIPES && buf.capacity() - buf.len() < chunk.len() {
                // Room up to the stripe's end at once: growing by doubling copied each
                // stripe several times over. Small bodies grow as they come: a small PUT
                // needs no stripe-sized allocation.
                buf.reserve(room);
            }
            buf.extend_from_slice(&chunk);
        }
        while buf.len() as u64 >= STRIPE || (done && !buf.is_empty()) {
            let take = (buf.len() as u64).min(STRIPE) as usize;
            let stripe = buf.split_to(take).freeze();
            if filling_head {
                head = stripe;
                filling_head = false;
                continue;
            }
            while in_flight.len() >= TAILS_IN_FLIGHT {
                in_flight.next().await.expect("non-empty")?;
            }
            let oid = tail_oid(prefix, next_tail);
            next_tail += 1;
            in_flight.push(Box::pin(async move {
                data.write_full(&oid, stripe).await.map(drop)
            }));
            keepalive.tick().await?;
        }
        if done {
            break;
        }
    }
    while let Some(result) = in_flight.next().await {
        result?;
    }
    let tails = next_tail - first_tail;
    let segment = (tails > 0).then(|| Segment {
        prefix: prefix.to_owned(),
        first: first_tail,
        len: size - head.len() as u64,
        part: None,
    });
    Ok(Written {
        head,
        segment,
        size,
        md5_hex: hex::encode(md5.finalize()),
        checksums: hasher.finalize(),
    })
}

/// The body's next chunk (`None` at its end). Tail writes progress while the body
/// arrives; a client that pauses still keeps its pending entry young; one silent for
/// BODY_IDLE_TIMEOUT loses its slot.
async fn next_chunk<S, E>(
    body: &mut std::pin::Pin<&mut S>,
    keepalive: &mut impl Keepalive,
    in_flight: &mut InFlight<'_>,
) -> GwResult<Option<Bytes>>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: BodyError,
{
    let mut idle = Duration::ZERO;
    let next = loop {
        tokio::select! {
            next = body.next() => break next,
            Some(done) = in_flight.next(), if !in_flight.is_empty() => done?,
            () = tokio::time::sleep(KEEPALIVE_POLL) => {
                keepalive.tick().await?;
                idle += KEEPALIVE_POLL;
                if idle >= BODY_IDLE_TIMEOUT {
                    return Err(GwError::s3(
                        S3ErrorCode::RequestTimeout,
                        "no request body data arrived for too long",
                    ));
                }
            }
        }
    };
    match next {
        Some(Ok(chunk)) => Ok(Some(chunk)),
        Some(Err(e)) => Err(e.into_gw()),
        None => Ok(None),
    }
}
